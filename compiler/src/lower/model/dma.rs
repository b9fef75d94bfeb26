//! `LD` / `ST` generation: moving a 2-D window of any [`View`] between DRAM and a dense SRAM
//! buffer.
//!
//! A view is read as a matrix: its leading dims are rows, its last `inner` dims are columns.
//! A window ([`Tile`]) of it is a sequence of equal-length byte runs in row-major order (a whole
//! row when the columns are dense, one element each when they are strided or broadcast).
//! Consecutive runs whose DRAM addresses step by a constant become one `LD`/`ST` (`rows`,
//! `row_bytes`, `stride`), so a dense tile is one instruction, a head-sliced tile one per head,
//! and a broadcast row (`stride = 0`) one for all rows.

use sofa_ir::isa::{DramAddr, Instr, SramRef};

use super::view::View;
use crate::lower::ResourceError;

/// Rows `r0..r1` and columns `c0..c1` of a view read as a matrix.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Tile {
    pub r0: u64,
    pub r1: u64,
    pub c0: u64,
    pub c1: u64,
}

impl Tile {
    pub fn rows(&self) -> u64 {
        self.r1 - self.r0
    }
    pub fn cols(&self) -> u64 {
        self.c1 - self.c0
    }
}

/// Rows and columns of `view` when its last `inner` dims are the columns.
pub fn matrix_dims(view: &View, inner: usize) -> (u64, u64) {
    let split = view.rank() - inner.min(view.rank());
    (
        view.shape[..split].iter().product(),
        view.shape[split..].iter().product(),
    )
}

#[derive(Copy, Clone, PartialEq, Eq)]
enum Dir {
    Load,
    Store,
}

/// `LD`s copying `tile` of `view` (columns = its last `inner` dims) densely to `dst`; returns
/// the bytes written.
pub fn load(
    view: &View,
    inner: usize,
    tile: Tile,
    dst: SramRef,
    out: &mut Vec<Instr>,
) -> Result<u64, ResourceError> {
    transfer(view, inner, tile, dst, Dir::Load, out)
}

/// `ST`s writing the dense SRAM buffer `src` to `tile` of `view`; returns the bytes read.
pub fn store(
    view: &View,
    inner: usize,
    tile: Tile,
    src: SramRef,
    out: &mut Vec<Instr>,
) -> Result<u64, ResourceError> {
    transfer(view, inner, tile, src, Dir::Store, out)
}

/// Run offsets (elements, relative to a row's first element) and run length of the columns.
fn column_runs(
    view: &View,
    inner: usize,
    c0: u64,
    c1: u64,
) -> Result<(Vec<u64>, u64), ResourceError> {
    let split = view.rank() - inner.min(view.rank());
    let dims = view.canonical_from(split);
    let cols: u64 = view.shape[split..].iter().product();
    if (c0, c1) != (0, cols) {
        return match dims.as_slice() {
            [] => Ok((vec![0], 1)),
            [(_, 1)] => Ok((vec![c0], c1 - c0)),
            [(_, s)] => Ok(((c0..c1).map(|c| c * s).collect(), 1)),
            _ => Err(ResourceError::ColumnWindow),
        };
    }
    let (outer, run) = match dims.split_last() {
        None => (&[][..], 1),
        Some((&(n, 1), rest)) => (rest, n),
        Some(_) => (dims.as_slice(), 1),
    };
    Ok((row_major_offsets(outer), run))
}

/// Element offsets of every index of `dims` (outer first), in row-major order.
fn row_major_offsets(dims: &[(u64, u64)]) -> Vec<u64> {
    let mut offsets = vec![0u64];
    for &(size, stride) in dims {
        offsets = offsets
            .iter()
            .flat_map(|&o| (0..size).map(move |i| o + i * stride))
            .collect();
    }
    offsets
}

fn transfer(
    view: &View,
    inner: usize,
    tile: Tile,
    sram: SramRef,
    dir: Dir,
    out: &mut Vec<Instr>,
) -> Result<u64, ResourceError> {
    let split = view.rank() - inner.min(view.rank());
    let (offsets, run) = column_runs(view, inner, tile.c0, tile.c1)?;
    let es = view.elem_bytes();
    let mut g = Grouper {
        dir,
        run_bytes: run * es,
        sram,
        written: 0,
        start: 0,
        count: 0,
        delta: 0,
        out,
    };
    let outer_shape = &view.shape[..split];
    let outer_strides = &view.strides[..split];
    if let ([o], Some(&rows_step)) = (offsets.as_slice(), outer_strides.last()) {
        // One run per row: the rows along the last outer dim are a progression.
        let last = outer_shape.len() - 1;
        let mut idx = unravel(tile.r0, outer_shape);
        let mut r = tile.r0;
        while r < tile.r1 {
            let row: u64 = idx.iter().zip(outer_strides).map(|(i, s)| i * s).sum();
            let n = (outer_shape[last] - idx[last]).min(tile.r1 - r);
            g.push_progression(view.base + (row + o) * es, n, rows_step * es)?;
            idx[last] += n - 1;
            increment(&mut idx, outer_shape);
            r += n;
        }
        g.flush()?;
        return Ok(g.written);
    }
    let mut idx = unravel(tile.r0, outer_shape);
    for _ in tile.r0..tile.r1 {
        let row: u64 = idx.iter().zip(outer_strides).map(|(i, s)| i * s).sum();
        for &o in &offsets {
            g.push(view.base + (row + o) * es)?;
        }
        increment(&mut idx, outer_shape);
    }
    g.flush()?;
    Ok(g.written)
}

/// Mixed-radix digits of `n` over `shape`.
fn unravel(mut n: u64, shape: &[u64]) -> Vec<u64> {
    let mut idx = vec![0; shape.len()];
    for k in (0..shape.len()).rev() {
        idx[k] = n % shape[k].max(1);
        n /= shape[k].max(1);
    }
    idx
}

fn increment(idx: &mut [u64], shape: &[u64]) {
    for k in (0..idx.len()).rev() {
        idx[k] += 1;
        if idx[k] < shape[k] {
            return;
        }
        idx[k] = 0;
    }
}

/// Collects equal-length runs into strided `LD`/`ST` instructions.
struct Grouper<'o> {
    dir: Dir,
    run_bytes: u64,
    sram: SramRef,
    written: u64,
    start: u64,
    count: u64,
    delta: u64,
    out: &'o mut Vec<Instr>,
}

impl Grouper<'_> {
    fn push(&mut self, addr: u64) -> Result<(), ResourceError> {
        let extends = match self.count {
            0 => false,
            1 => {
                let ok = addr >= self.start
                    && (self.dir == Dir::Load || addr - self.start >= self.run_bytes);
                if ok {
                    self.delta = addr - self.start;
                }
                ok
            }
            n => addr == self.start + n * self.delta,
        };
        if extends {
            self.count += 1;
            return Ok(());
        }
        self.flush()?;
        self.start = addr;
        self.count = 1;
        Ok(())
    }

    /// The same as pushing `start + i·step` for `i` in `0..n`, one at a time: once the open
    /// group is that progression, every further address extends it, so they are counted at once.
    fn push_progression(&mut self, start: u64, n: u64, step: u64) -> Result<(), ResourceError> {
        for i in 0..n {
            let addr = start + i * step;
            if self.count >= 2 && self.delta == step && addr == self.start + self.count * step {
                self.count += n - i;
                return Ok(());
            }
            self.push(addr)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ResourceError> {
        if self.count == 0 {
            return Ok(());
        }
        let stride = if self.count == 1 {
            self.run_bytes
        } else {
            self.delta
        };
        let narrow = |value: u64, what: &'static str| {
            u32::try_from(value).map_err(|_| ResourceError::DmaField { what, value })
        };
        let (rows, row_bytes, stride) = (
            narrow(self.count, "rows")?,
            narrow(self.run_bytes, "row bytes")?,
            narrow(stride, "stride")?,
        );
        let offset = u64::from(self.sram.offset) + self.written;
        let at = SramRef::new(
            self.sram.space,
            u32::try_from(offset).map_err(|_| ResourceError::SramOffset(offset))?,
        );
        self.out.push(match self.dir {
            Dir::Load => Instr::Ld {
                dst: at,
                src: DramAddr(self.start),
                rows,
                row_bytes,
                stride,
            },
            Dir::Store => Instr::St {
                dst: DramAddr(self.start),
                src: at,
                rows,
                row_bytes,
                stride,
            },
        });
        self.written += self.count * self.run_bytes;
        self.count = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sofa_ir::isa::DType;

    fn lds(view: &View, inner: usize, tile: Tile) -> Vec<(u64, u32, u32, u32)> {
        let mut out = Vec::new();
        load(view, inner, tile, SramRef::token(0), &mut out).unwrap();
        out.iter()
            .map(|i| match i {
                Instr::Ld {
                    src,
                    rows,
                    row_bytes,
                    stride,
                    ..
                } => (src.0, *rows, *row_bytes, *stride),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    fn full(view: &View, inner: usize) -> Tile {
        let (r, c) = matrix_dims(view, inner);
        Tile {
            r0: 0,
            r1: r,
            c0: 0,
            c1: c,
        }
    }

    #[test]
    fn dense_tile_is_one_ld_and_heads_one_per_head() {
        let x = View::contiguous(0x100, DType::F32, vec![16, 128]);
        assert_eq!(lds(&x, 1, full(&x, 1)), vec![(0x100, 16, 512, 512)]);
        // [B=2, S=8, H=4, D=32] seen as [B, H, S, D]: one LD per (b, h).
        let q = View::contiguous(0, DType::F32, vec![2, 8, 4, 32])
            .permute(&[0, 2, 1, 3])
            .unwrap();
        let l = lds(&q, 1, full(&q, 1));
        assert_eq!(l.len(), 8);
        assert_eq!(l[1], (128, 8, 128, 512));
    }

    #[test]
    fn broadcast_rows_use_stride_zero_and_columns_single_elements() {
        let bias = View::contiguous(64, DType::F32, vec![128])
            .broadcast_to(&[16, 128])
            .unwrap();
        assert_eq!(lds(&bias, 1, full(&bias, 1)), vec![(64, 16, 512, 0)]);
        // A transposed [16, 128] view of a [128, 16] tensor: element runs down each column.
        let t = View::contiguous(0, DType::F32, vec![128, 16])
            .permute(&[1, 0])
            .unwrap();
        let l = lds(&t, 1, full(&t, 1));
        assert_eq!(l.len(), 16);
        assert_eq!(l[2], (8, 128, 4, 64));
        let window = Tile {
            r0: 1,
            r1: 3,
            c0: 4,
            c1: 6,
        };
        assert_eq!(
            lds(&t, 1, window),
            vec![(4 + 4 * 64, 2, 4, 64), (8 + 4 * 64, 2, 4, 64)]
        );
    }

    #[test]
    fn im2col_rows_take_one_ld_per_channel() {
        // Patches of a [1, 3, 32, 32] image, 8x8 kernels: [1, 4, 4, 3, 8, 8] view.
        let patches = View {
            base: 0,
            dt: DType::F32,
            shape: vec![1, 4, 4, 3, 8, 8],
            strides: vec![3072, 256, 8, 1024, 32, 1],
        };
        let tile = Tile {
            r0: 5,
            r1: 6,
            c0: 0,
            c1: 192,
        };
        let l = lds(&patches, 3, tile);
        assert_eq!(l.len(), 3);
        assert_eq!(l[1], ((256 + 8 + 1024) * 4, 8, 32, 128));
    }

    #[test]
    fn stores_never_overlap_rows() {
        let mut out = Vec::new();
        let x = View::contiguous(0, DType::F32, vec![4, 8]);
        store(&x, 1, full(&x, 1), SramRef::temp(0), &mut out).unwrap();
        assert_eq!(out.len(), 1);
        let b = View::contiguous(0, DType::F32, vec![8])
            .broadcast_to(&[4, 8])
            .unwrap();
        out.clear();
        store(&b, 1, full(&b, 1), SramRef::temp(0), &mut out).unwrap();
        assert_eq!(out.len(), 4);
    }
}
