//! Indexing: `Gather`, `GatherElements`, `GatherND`, `ScatterND`, `Slice`, `Trilu`.
//!
//! Negative indices count from the end of their axis; an index still out of range after that
//! is an error (ONNX leaves it undefined). Slice bounds are clamped as the spec says, with
//! `i128` arithmetic so `INT64_MAX`/`INT64_MIN` ends never overflow.

use crate::eval::args::{int_scalar, int_values, norm_axes, norm_axis, same_elem, OpArgs};
use crate::eval::broadcast::{contiguous_strides, for_each_offset, strided_gather};
use crate::eval::error::{EvalErrorKind, KResult};
use crate::eval::tensor::{num_elements, Tensor, TensorData};

/// Resolve a possibly negative index against `dim`.
fn resolve(i: i64, dim: usize, axis: usize) -> KResult<usize> {
    let d = dim as i64;
    let j = if i < 0 { i + d } else { i };
    if (0..d).contains(&j) {
        Ok(j as usize)
    } else {
        Err(EvalErrorKind::index(format!(
            "index {i} is out of range for axis {axis} of size {dim}"
        )))
    }
}

pub fn gather(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(2, 2)?;
    let (x, idx) = (args.input(0)?, args.input(1)?);
    if x.rank() == 0 {
        return Err(EvalErrorKind::input(0, "cannot gather from a scalar"));
    }
    let axis = norm_axis(args.int("axis", 0)?, x.rank())?;
    let dim = x.shape()[axis];
    let picks = int_values(idx, 1)?
        .into_iter()
        .map(|i| resolve(i, dim, axis))
        .collect::<KResult<Vec<usize>>>()?;
    let mut shape = x.shape()[..axis].to_vec();
    shape.extend_from_slice(idx.shape());
    shape.extend_from_slice(&x.shape()[axis + 1..]);
    num_elements(&shape)?;
    let outer: usize = x.shape()[..axis].iter().product();
    let inner: usize = x.shape()[axis + 1..].iter().product();
    let data = map_data!(x.data(), v => {
        let mut out = Vec::with_capacity(outer * picks.len() * inner);
        for o in 0..outer {
            for &k in &picks {
                let start = (o * dim + k) * inner;
                out.extend_from_slice(&v[start..start + inner]);
            }
        }
        out
    });
    Ok(vec![Tensor::new(x.elem(), shape, data)?])
}

pub fn gather_elements(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(2, 2)?;
    let (x, idx) = (args.input(0)?, args.input(1)?);
    let indices = int_values(idx, 1)?;
    if x.rank() == 0 || idx.rank() != x.rank() {
        return Err(EvalErrorKind::shape(format!(
            "indices shape {:?} must have the rank of data shape {:?} (at least 1)",
            idx.shape(),
            x.shape()
        )));
    }
    let axis = norm_axis(args.int("axis", 0)?, x.rank())?;
    if (0..x.rank()).any(|d| d != axis && idx.shape()[d] > x.shape()[d]) {
        return Err(EvalErrorKind::shape(format!(
            "indices shape {:?} exceeds data shape {:?} outside axis {axis}",
            idx.shape(),
            x.shape()
        )));
    }
    let strides = contiguous_strides(x.shape());
    let mut base_strides: Vec<isize> = strides.iter().map(|&s| s as isize).collect();
    base_strides[axis] = 0;
    let idx_strides: Vec<isize> = contiguous_strides(idx.shape())
        .iter()
        .map(|&s| s as isize)
        .collect();
    let dim = x.shape()[axis];
    let mut offsets = Vec::with_capacity(indices.len());
    let mut failure = None;
    for_each_offset(
        idx.shape(),
        [&base_strides, &idx_strides],
        [0, 0],
        |[base, j]| match resolve(indices[j], dim, axis) {
            Ok(k) => offsets.push(base + k * strides[axis]),
            Err(e) => failure = failure.take().or(Some(e)),
        },
    );
    if let Some(e) = failure {
        return Err(e);
    }
    let data = map_data!(x.data(), v => offsets.iter().map(|&o| v[o]).collect());
    Ok(vec![Tensor::new(x.elem(), idx.shape().to_vec(), data)?])
}

pub fn gather_nd(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(2, 2)?;
    let (x, idx) = (args.input(0)?, args.input(1)?);
    let indices = int_values(idx, 1)?;
    let (r, q) = (x.rank(), idx.rank());
    let b = usize::try_from(args.int("batch_dims", 0)?)
        .map_err(|_| EvalErrorKind::attr("batch_dims", "must be non-negative"))?;
    let m = idx.shape().last().copied().unwrap_or(0);
    if q == 0 || b >= q.min(r) || m == 0 || m > r - b || x.shape()[..b] != idx.shape()[..b] {
        return Err(EvalErrorKind::shape(format!(
            "GatherND with batch_dims {b} cannot index data {:?} with indices {:?}",
            x.shape(),
            idx.shape()
        )));
    }
    let mut shape = idx.shape()[..q - 1].to_vec();
    shape.extend_from_slice(&x.shape()[b + m..]);
    num_elements(&shape)?;
    let slice: usize = x.shape()[b + m..].iter().product();
    let batches: usize = x.shape()[..b].iter().product();
    let per_batch: usize = x.shape()[b..].iter().product();
    let tuples: usize = idx.shape()[b..q - 1].iter().product();
    let tuple_strides = contiguous_strides(&x.shape()[b..b + m]);
    let mut starts = Vec::with_capacity(batches * tuples);
    for bi in 0..batches {
        for t in 0..tuples {
            let tuple = &indices[(bi * tuples + t) * m..(bi * tuples + t + 1) * m];
            let mut off = bi * per_batch;
            for (j, &i) in tuple.iter().enumerate() {
                off += resolve(i, x.shape()[b + j], b + j)? * tuple_strides[j] * slice;
            }
            starts.push(off);
        }
    }
    let data = map_data!(x.data(), v => starts.iter().flat_map(|&s| v[s..s + slice].iter().copied()).collect());
    Ok(vec![Tensor::new(x.elem(), shape, data)?])
}

/// `ScatterND`: a copy of `data` whose slices addressed by the k-tuples of `indices` are
/// replaced by (`reduction = none`) or combined with (`add`, `mul`, `max`, `min`) the slices of
/// `updates`, in index order. Negative indices count from the end of their axis.
pub fn scatter_nd(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(3, 3)?;
    let (x, idx, upd) = (args.input(0)?, args.input(1)?, args.input(2)?);
    same_elem(x, upd, 2)?;
    let indices = int_values(idx, 1)?;
    let (r, q) = (x.rank(), idx.rank());
    let k = idx.shape().last().copied().unwrap_or(0);
    if q == 0 || k == 0 || k > r {
        return Err(EvalErrorKind::shape(format!(
            "ScatterND cannot index data {:?} with indices {:?}",
            x.shape(),
            idx.shape()
        )));
    }
    let mut want = idx.shape()[..q - 1].to_vec();
    want.extend_from_slice(&x.shape()[k..]);
    if upd.shape() != want.as_slice() {
        return Err(EvalErrorKind::input(
            2,
            format!("updates {:?} should be {want:?}", upd.shape()),
        ));
    }
    let slice: usize = x.shape()[k..].iter().product();
    let strides = contiguous_strides(&x.shape()[..k]);
    let mut starts = Vec::with_capacity(indices.len() / k);
    for tuple in indices.chunks_exact(k) {
        let mut off = 0;
        for (j, &i) in tuple.iter().enumerate() {
            off += resolve(i, x.shape()[j], j)? * strides[j] * slice;
        }
        starts.push(off);
    }
    let reduction = args.string("reduction", "none")?;
    if !matches!(reduction, "none" | "add" | "mul" | "max" | "min") {
        return Err(EvalErrorKind::attr(
            "reduction",
            format!("unknown reduction '{reduction}'"),
        ));
    }
    let data = match (x.data(), upd.data()) {
        (TensorData::F32(v), TensorData::F32(u)) => {
            let f: fn(f32, f32) -> f32 = match reduction {
                "add" => |a, b| a + b,
                "mul" => |a, b| a * b,
                "max" => |a, b| {
                    if a.is_nan() || b.is_nan() {
                        f32::NAN
                    } else {
                        a.max(b)
                    }
                },
                "min" => |a, b| {
                    if a.is_nan() || b.is_nan() {
                        f32::NAN
                    } else {
                        a.min(b)
                    }
                },
                _ => |_, b| b,
            };
            TensorData::F32(scatter(v, u, &starts, slice, f))
        }
        (TensorData::I64(v), TensorData::I64(u)) => {
            let f: fn(i64, i64) -> i64 = match reduction {
                "add" => i64::wrapping_add,
                "mul" => i64::wrapping_mul,
                "max" => std::cmp::max,
                "min" => std::cmp::min,
                _ => |_, b| b,
            };
            TensorData::I64(scatter(v, u, &starts, slice, f))
        }
        (TensorData::Bool(v), TensorData::Bool(u)) if reduction == "none" => {
            TensorData::Bool(scatter(v, u, &starts, slice, |_, b| b))
        }
        _ => {
            return Err(EvalErrorKind::attr(
                "reduction",
                format!("'{reduction}' is not defined on bool"),
            ))
        }
    };
    Ok(vec![Tensor::new(x.elem(), x.shape().to_vec(), data)?])
}

/// `data` with `f(old, update)` written over the slice of `slice` elements at each start.
fn scatter<T: Copy>(
    data: &[T],
    upd: &[T],
    starts: &[usize],
    slice: usize,
    f: fn(T, T) -> T,
) -> Vec<T> {
    let mut out = data.to_vec();
    for (t, &s) in starts.iter().enumerate() {
        for j in 0..slice {
            out[s + j] = f(out[s + j], upd[t * slice + j]);
        }
    }
    out
}

pub fn slice(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(1, 5)?;
    let x = args.input(0)?;
    let starts = args
        .ints_attr_or_input("starts", 1)?
        .ok_or(EvalErrorKind::MissingInput { index: 1 })?;
    let ends = args
        .ints_attr_or_input("ends", 2)?
        .ok_or(EvalErrorKind::MissingInput { index: 2 })?;
    let n = starts.len();
    let axes = args
        .ints_attr_or_input("axes", 3)?
        .unwrap_or_else(|| (0..n as i64).collect());
    let steps = match args.opt_input(4) {
        Some(t) => int_values(t, 4)?,
        None => vec![1; n],
    };
    if ends.len() != n || axes.len() != n || steps.len() != n {
        return Err(EvalErrorKind::shape(format!(
            "starts {starts:?}, ends {ends:?}, axes {axes:?} and steps {steps:?} differ in length"
        )));
    }
    let axes = norm_axes(&axes, x.rank())?;
    let strides = contiguous_strides(x.shape());
    let mut shape = x.shape().to_vec();
    let mut out_strides: Vec<isize> = strides.iter().map(|&s| s as isize).collect();
    let mut base = 0isize;
    for k in 0..n {
        let (axis, step) = (axes[k], steps[k]);
        if step == 0 {
            return Err(EvalErrorKind::input(4, "steps must not be 0"));
        }
        let (first, len) = slice_bounds(starts[k], ends[k], step, x.shape()[axis]);
        shape[axis] = len;
        if len > 0 {
            base += first as isize * strides[axis] as isize;
        }
        // A dim of length <= 1 never steps; its stride (possibly huge) is irrelevant.
        out_strides[axis] = if len > 1 {
            strides[axis] as isize * step as isize
        } else {
            0
        };
    }
    let data = map_data!(x.data(), v => strided_gather(v, &shape, &out_strides, base));
    Ok(vec![Tensor::new(x.elem(), shape, data)?])
}

/// First index and length of `start:end:step` on a dim of size `dim`, clamped per ONNX.
pub fn slice_bounds(start: i64, end: i64, step: i64, dim: usize) -> (usize, usize) {
    let d = dim as i128;
    let (start, end, step) = (i128::from(start), i128::from(end), i128::from(step));
    let wrap = |v: i128| if v < 0 { v + d } else { v };
    let (s, len) = if step > 0 {
        let s = wrap(start).clamp(0, d);
        let e = wrap(end).clamp(0, d);
        (s, if e > s { (e - s + step - 1) / step } else { 0 })
    } else {
        if d == 0 {
            return (0, 0);
        }
        let s = wrap(start).clamp(0, d - 1);
        let e = wrap(end).clamp(-1, d - 1);
        (s, if s > e { (s - e - step - 1) / -step } else { 0 })
    };
    (s as usize, len as usize)
}

/// `Trilu`: keep the upper (`j - i >= k`) or lower (`j - i <= k`) triangle of the last two dims.
pub fn trilu(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(1, 2)?;
    let x = args.input(0)?;
    if x.rank() < 2 {
        return Err(EvalErrorKind::input(
            0,
            format!("needs rank >= 2, got shape {:?}", x.shape()),
        ));
    }
    let k = args
        .opt_input(1)
        .map(|t| int_scalar(t, 1))
        .transpose()?
        .unwrap_or(0);
    let upper = args.int("upper", 1)? != 0;
    let (rows, cols) = (x.shape()[x.rank() - 2], x.shape()[x.rank() - 1]);
    let keep = |pos: usize| {
        let (i, j) = (
            ((pos / cols.max(1)) % rows.max(1)) as i128,
            (pos % cols.max(1)) as i128,
        );
        let diff = j - i;
        if upper {
            diff >= i128::from(k)
        } else {
            diff <= i128::from(k)
        }
    };
    let data = match x.data() {
        TensorData::F32(v) => TensorData::F32(
            v.iter()
                .enumerate()
                .map(|(p, &a)| if keep(p) { a } else { 0.0 })
                .collect(),
        ),
        TensorData::I64(v) => TensorData::I64(
            v.iter()
                .enumerate()
                .map(|(p, &a)| if keep(p) { a } else { 0 })
                .collect(),
        ),
        TensorData::Bool(v) => {
            TensorData::Bool(v.iter().enumerate().map(|(p, &a)| a && keep(p)).collect())
        }
    };
    Ok(vec![Tensor::new(x.elem(), x.shape().to_vec(), data)?])
}
