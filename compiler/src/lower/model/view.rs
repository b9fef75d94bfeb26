//! Strided DRAM views: how every tensor value of a model sits in DRAM.
//!
//! A [`View`] is a base address, an element type, a shape and per-dim element strides
//! (0 = broadcast). Layout ops (Reshape, Transpose, Split, Slice, Expand, constant-index
//! Gather) become new views of the same bytes instead of copies; the consumers' loads
//! (`dma.rs`) turn any view into the `LD` rows the hardware moves. Strides are unsigned, so a
//! view only walks forwards (negative-step slices are copied instead).

use sofa_ir::isa::DType;

/// A tensor laid out in DRAM: element `idx` at `base + Σ idx[k]·strides[k]·elem_bytes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    pub base: u64,
    pub dt: DType,
    pub shape: Vec<u64>,
    /// Element strides, one per dim; 0 repeats the same elements (broadcast).
    pub strides: Vec<u64>,
}

/// Row-major element strides of `shape`.
pub fn row_major(shape: &[u64]) -> Vec<u64> {
    let mut strides = vec![1; shape.len()];
    for k in (0..shape.len().saturating_sub(1)).rev() {
        strides[k] = strides[k + 1] * shape[k + 1];
    }
    strides
}

/// Drop size-1 dims and merge neighbours that walk memory as one dim: the fewest
/// `(size, stride)` pairs describing the same element order.
pub fn canonical(dims: impl IntoIterator<Item = (u64, u64)>) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (size, stride) in dims.into_iter().filter(|&(s, _)| s != 1) {
        match out.last_mut() {
            Some(last) if last.1 == size * stride => {
                last.0 *= size;
                last.1 = stride;
            }
            _ => out.push((size, stride)),
        }
    }
    out
}

impl View {
    /// A dense row-major tensor at `base`.
    pub fn contiguous(base: u64, dt: DType, shape: Vec<u64>) -> View {
        let strides = row_major(&shape);
        View {
            base,
            dt,
            shape,
            strides,
        }
    }

    /// Bytes per element (`i1` takes a byte).
    pub fn elem_bytes(&self) -> u64 {
        elem_bytes(self.dt)
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    pub fn numel(&self) -> u64 {
        self.shape.iter().product()
    }

    /// The `(size, stride)` pairs of dims `from..`, canonicalised.
    pub fn canonical_from(&self, from: usize) -> Vec<(u64, u64)> {
        canonical(
            self.shape[from..]
                .iter()
                .copied()
                .zip(self.strides[from..].iter().copied()),
        )
    }

    /// Whether the elements are dense and in row-major order.
    pub fn is_contiguous(&self) -> bool {
        matches!(self.canonical_from(0).as_slice(), [] | [(_, 1)])
    }

    /// Whether every element index maps to the same address (a splat of one element).
    pub fn is_scalar_like(&self) -> bool {
        self.canonical_from(0).iter().all(|&(_, s)| s == 0)
    }

    /// Byte address of element `idx` (one index per dim).
    pub fn addr_of(&self, idx: &[u64]) -> u64 {
        let elems: u64 = idx.iter().zip(&self.strides).map(|(i, s)| i * s).sum();
        self.base + elems * self.elem_bytes()
    }

    /// Dims reordered: result dim `k` is this view's dim `perm[k]`.
    pub fn permute(&self, perm: &[usize]) -> Option<View> {
        if perm.len() != self.rank() {
            return None;
        }
        let mut seen = vec![false; perm.len()];
        for &p in perm {
            if *seen.get(p)? {
                return None;
            }
            seen[p] = true;
        }
        Some(View {
            base: self.base,
            dt: self.dt,
            shape: perm.iter().map(|&p| self.shape[p]).collect(),
            strides: perm.iter().map(|&p| self.strides[p]).collect(),
        })
    }

    /// Numpy broadcasting to `shape` (right-aligned; size-1 dims get stride 0).
    pub fn broadcast_to(&self, shape: &[u64]) -> Option<View> {
        if shape.len() < self.rank() {
            return None;
        }
        let lead = shape.len() - self.rank();
        let mut strides = vec![0; shape.len()];
        for (k, &want) in shape.iter().enumerate().skip(lead) {
            let (have, stride) = (self.shape[k - lead], self.strides[k - lead]);
            strides[k] = match (have, want) {
                (h, w) if h == w => stride,
                (1, _) => 0,
                _ => return None,
            };
        }
        Some(View {
            base: self.base,
            dt: self.dt,
            shape: shape.to_vec(),
            strides,
        })
    }

    /// The same elements in row-major order under a new shape, without moving data (numpy's
    /// no-copy reshape); `None` when the current strides cannot express it.
    pub fn reshape(&self, shape: &[u64]) -> Option<View> {
        if shape.iter().product::<u64>() != self.numel() {
            return None;
        }
        if self.is_contiguous() {
            return Some(View::contiguous(self.base, self.dt, shape.to_vec()));
        }
        let old: Vec<(u64, u64)> = self
            .shape
            .iter()
            .copied()
            .zip(self.strides.iter().copied())
            .filter(|&(s, _)| s != 1)
            .collect();
        let mut strides = vec![1u64; shape.len()];
        let (mut oi, mut ni) = (0usize, 0usize);
        while ni < shape.len() && oi < old.len() {
            let (mut oj, mut nj) = (oi + 1, ni + 1);
            let (mut np, mut op) = (shape[ni], old[oi].0);
            while np != op {
                if np < op {
                    np *= *shape.get(nj)?;
                    nj += 1;
                } else {
                    op *= old.get(oj)?.0;
                    oj += 1;
                }
            }
            for k in oi..oj - 1 {
                if old[k].1 != old[k + 1].0 * old[k + 1].1 {
                    return None;
                }
            }
            strides[nj - 1] = old[oj - 1].1;
            for k in (ni + 1..nj).rev() {
                strides[k - 1] = strides[k] * shape[k];
            }
            ni = nj;
            oi = oj;
        }
        Some(View {
            base: self.base,
            dt: self.dt,
            shape: shape.to_vec(),
            strides,
        })
    }

    /// `len` elements of dim `axis` from `start`, every `step`-th.
    pub fn slice(&self, axis: usize, start: u64, step: u64, len: u64) -> View {
        let mut v = self.clone();
        v.base += start * self.strides[axis] * self.elem_bytes();
        v.shape[axis] = len;
        v.strides[axis] *= step;
        v
    }

    /// Index `index` of dim `axis`, the dim removed.
    pub fn select(&self, axis: usize, index: u64) -> View {
        let mut v = self.slice(axis, index, 1, 1);
        v.shape.remove(axis);
        v.strides.remove(axis);
        v
    }
}

/// Bytes of one element of `dt` in DRAM and SRAM (`i1` takes a byte).
pub fn elem_bytes(dt: DType) -> u64 {
    dt.bits().div_ceil(8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(shape: &[u64]) -> View {
        View::contiguous(0, DType::F32, shape.to_vec())
    }

    #[test]
    fn canonical_merges_walkable_dims() {
        assert_eq!(canonical([(2, 12), (3, 4), (4, 1)]), vec![(24, 1)]);
        assert_eq!(canonical([(2, 8), (1, 5), (8, 1)]), vec![(16, 1)]);
        // A transpose does not merge.
        assert_eq!(canonical([(4, 1), (3, 4)]), vec![(4, 1), (3, 4)]);
        assert!(v(&[2, 3]).is_contiguous());
        assert!(!v(&[2, 3]).permute(&[1, 0]).unwrap().is_contiguous());
    }

    #[test]
    fn broadcast_sets_zero_strides() {
        let b = v(&[8, 1]).broadcast_to(&[2, 8, 8]).unwrap();
        assert_eq!(b.strides, vec![0, 1, 0]);
        assert!(v(&[3]).broadcast_to(&[4]).is_none());
        assert!(View::contiguous(0, DType::F32, vec![1])
            .broadcast_to(&[5, 5])
            .unwrap()
            .is_scalar_like());
    }

    #[test]
    fn reshape_splits_a_strided_row_without_copying() {
        // A Split piece [2, 8, 128] of a [2, 8, 384] tensor, reshaped to heads.
        let piece = v(&[2, 8, 384]).slice(2, 128, 1, 128);
        let r = piece.reshape(&[2, 8, 4, 32]).unwrap();
        assert_eq!(r.strides, vec![3072, 384, 32, 1]);
        assert_eq!(r.base, 512);
        // Merging heads back after a transpose needs a copy.
        let t = v(&[2, 4, 8, 32]).permute(&[0, 2, 1, 3]).unwrap();
        assert!(t.reshape(&[2, 8, 128]).is_none());
        // Size-1 dims come and go freely.
        let s = t.reshape(&[2, 8, 4, 1, 32]).unwrap();
        assert_eq!(s.strides[4], 1);
        assert_eq!(s.addr_of(&[1, 2, 3, 0, 4]), t.addr_of(&[1, 2, 3, 4]));
    }

    #[test]
    fn select_and_slice_move_the_base() {
        let x = v(&[2, 17, 128]);
        let cls = x.select(1, 0);
        assert_eq!(
            (cls.shape.clone(), cls.strides.clone()),
            (vec![2, 128], vec![17 * 128, 1])
        );
        let odd = x.slice(1, 1, 2, 8);
        assert_eq!(odd.addr_of(&[0, 1, 0]), 3 * 128 * 4);
    }
}
