//! Numpy-style (multidirectional) broadcasting and strided iteration.
//!
//! Every layout-changing kernel (broadcast elementwise ops, Expand, Transpose, Slice, reductions)
//! is "walk the output in row-major order and read each input at base + sum(index * stride)",
//! with stride 0 on broadcast dims and negative strides for reversed slices. [`for_each_offset`]
//! is that walk, with the innermost dim as a tight loop.

use crate::eval::error::{EvalErrorKind, KResult};
use crate::eval::tensor::num_elements;

/// The broadcast of two shapes (dims aligned from the right; 1 stretches).
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> KResult<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for (i, o) in out.iter_mut().enumerate() {
        let da = dim_from_right(a, rank - 1 - i);
        let db = dim_from_right(b, rank - 1 - i);
        *o = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => {
                return Err(EvalErrorKind::shape(format!(
                    "shapes {a:?} and {b:?} are not broadcast-compatible"
                )))
            }
        };
    }
    num_elements(&out)?;
    Ok(out)
}

/// The broadcast of several shapes.
pub fn broadcast_all<'a>(shapes: impl IntoIterator<Item = &'a [usize]>) -> KResult<Vec<usize>> {
    shapes
        .into_iter()
        .try_fold(Vec::new(), |acc, s| broadcast_shapes(&acc, s))
}

/// Dim `k` counted from the right (0 = last), 1 when the shape is shorter.
fn dim_from_right(shape: &[usize], k: usize) -> usize {
    if k < shape.len() {
        shape[shape.len() - 1 - k]
    } else {
        1
    }
}

/// Row-major strides of a contiguous shape.
pub fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![0; shape.len()];
    let mut acc = 1usize;
    for (s, &d) in strides.iter_mut().zip(shape).rev() {
        *s = acc;
        acc = acc.saturating_mul(d);
    }
    strides
}

/// Strides for reading a contiguous `in_shape` tensor while walking `out_shape` (which it
/// broadcasts to): aligned to `out_shape`'s rank, 0 on stretched or missing dims.
pub fn broadcast_strides(in_shape: &[usize], out_shape: &[usize]) -> Vec<isize> {
    let contiguous = contiguous_strides(in_shape);
    let offset = out_shape.len() - in_shape.len().min(out_shape.len());
    (0..out_shape.len())
        .map(|i| {
            if i < offset {
                return 0;
            }
            let j = i - offset;
            if in_shape[j] == 1 && out_shape[i] != 1 {
                0
            } else {
                contiguous[j] as isize
            }
        })
        .collect()
}

/// Walk `shape` in row-major order, calling `f` with the offset of the current position in each
/// of `N` strided layouts (`base[k] + sum(index[d] * strides[k][d])`).
///
/// Callers guarantee the offsets stay within their buffers; each stride slice has `shape`'s rank.
/// Arithmetic wraps, so a stride that is never stepped (on a dim of size 1) cannot overflow.
pub fn for_each_offset<const N: usize>(
    shape: &[usize],
    strides: [&[isize]; N],
    base: [isize; N],
    mut f: impl FnMut([usize; N]),
) {
    if shape.contains(&0) {
        return;
    }
    let rank = shape.len();
    if rank == 0 {
        f(base.map(|b| b as usize));
        return;
    }
    let inner = shape[rank - 1];
    let inner_strides: [isize; N] = std::array::from_fn(|k| strides[k][rank - 1]);
    let mut index = vec![0usize; rank - 1];
    let mut cur = base;
    loop {
        for i in 0..inner {
            let i = i as isize;
            f(std::array::from_fn(|k| {
                cur[k].wrapping_add(i.wrapping_mul(inner_strides[k])) as usize
            }));
        }
        // Advance the odometer over the outer dims.
        let mut d = rank - 1;
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            index[d] += 1;
            for k in 0..N {
                cur[k] = cur[k].wrapping_add(strides[k][d]);
            }
            if index[d] < shape[d] {
                break;
            }
            for k in 0..N {
                cur[k] = cur[k].wrapping_sub(strides[k][d].wrapping_mul(shape[d] as isize));
            }
            index[d] = 0;
        }
    }
}

/// Gather `src` through a strided view: output element at index `i` reads
/// `src[base + sum(i[d] * strides[d])]`.
pub fn strided_gather<T: Copy>(
    src: &[T],
    out_shape: &[usize],
    strides: &[isize],
    base: isize,
) -> Vec<T> {
    let mut out = Vec::with_capacity(out_shape.iter().product());
    for_each_offset(out_shape, [strides], [base], |[o]| out.push(src[o]));
    out
}

/// `f` applied elementwise to `a` and `b` broadcast to `out_shape`.
pub fn map2<A: Copy, B: Copy, R>(
    (a, a_shape): (&[A], &[usize]),
    (b, b_shape): (&[B], &[usize]),
    out_shape: &[usize],
    f: impl Fn(A, B) -> R,
) -> Vec<R> {
    if a_shape == out_shape && b_shape == out_shape {
        return a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect();
    }
    if b.len() == 1 && a_shape == out_shape {
        let y = b[0];
        return a.iter().map(|&x| f(x, y)).collect();
    }
    if a.len() == 1 && b_shape == out_shape {
        let x = a[0];
        return b.iter().map(|&y| f(x, y)).collect();
    }
    let sa = broadcast_strides(a_shape, out_shape);
    let sb = broadcast_strides(b_shape, out_shape);
    let mut out = Vec::with_capacity(out_shape.iter().product());
    for_each_offset(out_shape, [&sa, &sb], [0, 0], |[i, j]| {
        out.push(f(a[i], b[j]))
    });
    out
}

/// `f` applied elementwise to three broadcast operands (Where).
pub fn map3<A: Copy, B: Copy, C: Copy, R>(
    (a, a_shape): (&[A], &[usize]),
    (b, b_shape): (&[B], &[usize]),
    (c, c_shape): (&[C], &[usize]),
    out_shape: &[usize],
    f: impl Fn(A, B, C) -> R,
) -> Vec<R> {
    let sa = broadcast_strides(a_shape, out_shape);
    let sb = broadcast_strides(b_shape, out_shape);
    let sc = broadcast_strides(c_shape, out_shape);
    let mut out = Vec::with_capacity(out_shape.iter().product());
    for_each_offset(out_shape, [&sa, &sb, &sc], [0, 0, 0], |[i, j, k]| {
        out.push(f(a[i], b[j], c[k]))
    });
    out
}

/// `src` (of `in_shape`) materialised at `out_shape`, which it must broadcast to.
pub fn expand<T: Copy>(src: &[T], in_shape: &[usize], out_shape: &[usize]) -> Vec<T> {
    strided_gather(src, out_shape, &broadcast_strides(in_shape, out_shape), 0)
}

/// True when `from` broadcasts to exactly `to` (unidirectional broadcasting).
pub fn broadcasts_to(from: &[usize], to: &[usize]) -> bool {
    from.len() <= to.len()
        && from
            .iter()
            .rev()
            .zip(to.iter().rev())
            .all(|(&f, &t)| f == t || f == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_shapes() {
        assert_eq!(
            broadcast_shapes(&[2, 1, 3], &[4, 1]).unwrap(),
            vec![2, 4, 3]
        );
        assert_eq!(broadcast_shapes(&[], &[5]).unwrap(), vec![5]);
        assert_eq!(broadcast_shapes(&[0, 1], &[1, 3]).unwrap(), vec![0, 3]);
        let err = broadcast_shapes(&[2, 3], &[4]).unwrap_err();
        assert!(err.to_string().contains("[2, 3]"), "{err}");
    }

    #[test]
    fn map2_broadcasts_rows_and_columns() {
        // [2,1] + [3] -> [2,3]
        let out = map2(
            (&[10.0f32, 20.0][..], &[2, 1][..]),
            (&[1.0f32, 2.0, 3.0][..], &[3][..]),
            &[2, 3],
            |a, b| a + b,
        );
        assert_eq!(out, vec![11.0, 12.0, 13.0, 21.0, 22.0, 23.0]);
    }

    #[test]
    fn strided_gather_reverses_and_transposes() {
        let src = [0, 1, 2, 3, 4, 5]; // [2,3]
        let t = strided_gather(&src, &[3, 2], &[1, 3], 0);
        assert_eq!(t, vec![0, 3, 1, 4, 2, 5]);
        let rev = strided_gather(&src, &[2, 3], &[3, -1], 2);
        assert_eq!(rev, vec![2, 1, 0, 5, 4, 3]);
        let scalar = strided_gather(&[7], &[], &[], 0);
        assert_eq!(scalar, vec![7]);
    }

    #[test]
    fn unidirectional_check() {
        assert!(broadcasts_to(&[3], &[2, 3]));
        assert!(broadcasts_to(&[1, 3], &[2, 3]));
        assert!(!broadcasts_to(&[2, 3], &[3]));
        assert!(!broadcasts_to(&[2], &[2, 3]));
    }
}
