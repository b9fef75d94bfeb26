//! Shape manipulation: `Reshape`, `Flatten`, `Squeeze`, `Unsqueeze`, `Transpose`, `Expand`,
//! `Tile`, `Concat`, `Split`, and shape producers `Shape`, `Size`, `ConstantOfShape`, `Range`.
//!
//! None of these look at values except through strided copies, so each is written once over
//! [`TensorData`] with the `map_data!` macro.

use crate::attr::Attribute;
use crate::eval::args::{int_scalar, int_values, norm_axes, norm_axis, same_elem, OpArgs};
use crate::eval::broadcast::{broadcast_shapes, contiguous_strides, expand, strided_gather};
use crate::eval::error::{EvalErrorKind, KResult};
use crate::eval::tensor::{num_elements, Tensor, TensorData, MAX_ELEMENTS};

pub fn reshape(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(2, 2)?;
    let x = args.input(0)?;
    let spec = int_values(args.input(1)?, 1)?;
    let shape = reshape_target(x.shape(), &spec, args.int("allowzero", 0)? != 0)?;
    Ok(vec![x.clone().reshaped(shape)?])
}

/// Resolve a Reshape spec: `0` copies the input dim (unless `allowzero`), one `-1` is inferred.
pub fn reshape_target(input: &[usize], spec: &[i64], allowzero: bool) -> KResult<Vec<usize>> {
    let mut out = Vec::with_capacity(spec.len());
    let mut inferred = None;
    for (i, &d) in spec.iter().enumerate() {
        let dim = match d {
            -1 if inferred.is_some() => {
                return Err(EvalErrorKind::input(
                    1,
                    format!("more than one -1 in {spec:?}"),
                ))
            }
            -1 => {
                inferred = Some(i);
                1
            }
            0 if !allowzero => *input.get(i).ok_or_else(|| {
                EvalErrorKind::input(
                    1,
                    format!(
                        "0 at position {i} of {spec:?} has no input dim to copy from {input:?}"
                    ),
                )
            })?,
            d if d < 0 => return Err(EvalErrorKind::input(1, format!("negative dim in {spec:?}"))),
            d => usize::try_from(d).map_err(|_| EvalErrorKind::TooLarge(d as u128))?,
        };
        out.push(dim);
    }
    let total = num_elements(input)?;
    if let Some(i) = inferred {
        let known = num_elements(&out)?;
        if total.checked_rem(known) != Some(0) {
            return Err(EvalErrorKind::shape(format!(
                "cannot infer the -1 of {spec:?} for input shape {input:?}"
            )));
        }
        out[i] = total / known;
    }
    if num_elements(&out)? != total {
        return Err(EvalErrorKind::shape(format!(
            "cannot reshape {input:?} ({total} elements) to {spec:?}"
        )));
    }
    Ok(out)
}

pub fn flatten(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(1, 1)?;
    let x = args.input(0)?;
    let r = x.rank() as i64;
    let axis = args.int("axis", 1)?;
    let axis = if axis < 0 { axis + r } else { axis };
    if !(0..=r).contains(&axis) {
        return Err(EvalErrorKind::attr(
            "axis",
            format!("out of range for rank {r}"),
        ));
    }
    let (head, tail) = x.shape().split_at(axis as usize);
    let shape = vec![head.iter().product(), tail.iter().product()];
    Ok(vec![x.clone().reshaped(shape)?])
}

pub fn squeeze(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(1, 2)?;
    let x = args.input(0)?;
    let shape: Vec<usize> = match args.ints_attr_or_input("axes", 1)? {
        None => x.shape().iter().copied().filter(|&d| d != 1).collect(),
        Some(axes) => {
            let axes = norm_axes(&axes, x.rank())?;
            if let Some(&a) = axes.iter().find(|&&a| x.shape()[a] != 1) {
                return Err(EvalErrorKind::shape(format!(
                    "cannot squeeze axis {a} of shape {:?}: it is not 1",
                    x.shape()
                )));
            }
            let keep = |(d, _): &(usize, &usize)| !axes.contains(d);
            x.shape()
                .iter()
                .enumerate()
                .filter(keep)
                .map(|(_, &n)| n)
                .collect()
        }
    };
    Ok(vec![x.clone().reshaped(shape)?])
}

pub fn unsqueeze(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(1, 2)?;
    let x = args.input(0)?;
    let axes = args
        .ints_attr_or_input("axes", 1)?
        .ok_or_else(|| EvalErrorKind::attr("axes", "required (attribute or input #1)"))?;
    let out_rank = x.rank() + axes.len();
    let axes = norm_axes(&axes, out_rank)?;
    let mut rest = x.shape().iter();
    let shape = (0..out_rank)
        .map(|d| {
            if axes.contains(&d) {
                Some(1)
            } else {
                rest.next().copied()
            }
        })
        .collect::<Option<Vec<usize>>>()
        .ok_or_else(|| EvalErrorKind::invalid("unsqueeze rank bookkeeping failed"))?;
    Ok(vec![x.clone().reshaped(shape)?])
}

pub fn transpose(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(1, 1)?;
    let x = args.input(0)?;
    let r = x.rank();
    let perm = match args.ints("perm")? {
        Some(p) => p,
        None => (0..r as i64).rev().collect(),
    };
    let perm = norm_axes(&perm, r).map_err(|e| EvalErrorKind::attr("perm", e.to_string()))?;
    if perm.len() != r {
        return Err(EvalErrorKind::attr(
            "perm",
            format!("{perm:?} is not a permutation of rank {r}"),
        ));
    }
    Ok(vec![permute(x, &perm)?])
}

/// `x` with its dims reordered: output dim `i` is input dim `perm[i]`.
pub fn permute(x: &Tensor, perm: &[usize]) -> KResult<Tensor> {
    let strides = contiguous_strides(x.shape());
    let out_shape: Vec<usize> = perm.iter().map(|&p| x.shape()[p]).collect();
    let out_strides: Vec<isize> = perm.iter().map(|&p| strides[p] as isize).collect();
    let data = map_data!(x.data(), v => strided_gather(v, &out_shape, &out_strides, 0));
    Tensor::new(x.elem(), out_shape, data)
}

pub fn expand_op(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(2, 2)?;
    let x = args.input(0)?;
    let target = dims_from_input(args.input(1)?, 1)?;
    let shape = broadcast_shapes(x.shape(), &target)?;
    let data = map_data!(x.data(), v => expand(v, x.shape(), &shape));
    Ok(vec![Tensor::new(x.elem(), shape, data)?])
}

pub fn tile(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(2, 2)?;
    let x = args.input(0)?;
    let reps = dims_from_input(args.input(1)?, 1)?;
    if reps.len() != x.rank() {
        return Err(EvalErrorKind::input(
            1,
            format!("{} repeats for rank {}", reps.len(), x.rank()),
        ));
    }
    let out_shape: Vec<usize> = x
        .shape()
        .iter()
        .zip(&reps)
        .map(|(&d, &r)| d.checked_mul(r).ok_or(EvalErrorKind::TooLarge(u128::MAX)))
        .collect::<KResult<_>>()?;
    num_elements(&out_shape)?;
    // Walking (rep0, d0, rep1, d1, ...) in row-major order visits the tiled output in order.
    let strides = contiguous_strides(x.shape());
    let mut virt_shape = Vec::with_capacity(2 * x.rank());
    let mut virt_strides = Vec::with_capacity(2 * x.rank());
    for ((&d, &r), &s) in x.shape().iter().zip(&reps).zip(&strides) {
        virt_shape.extend([r, d]);
        virt_strides.extend([0, s as isize]);
    }
    let data = map_data!(x.data(), v => strided_gather(v, &virt_shape, &virt_strides, 0));
    Ok(vec![Tensor::new(x.elem(), out_shape, data)?])
}

pub fn concat(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(1, usize::MAX)?;
    let parts = args.all_inputs()?;
    let first = parts[0];
    let axis_attr = args
        .attr("axis")
        .and_then(Attribute::as_int)
        .ok_or_else(|| EvalErrorKind::attr("axis", "required integer"))?;
    let axis = norm_axis(axis_attr, first.rank())?;
    let mut out_shape = first.shape().to_vec();
    out_shape[axis] = 0;
    for (i, p) in parts.iter().enumerate() {
        same_elem(first, p, i)?;
        let compatible = p.rank() == first.rank()
            && (0..p.rank()).all(|d| d == axis || p.shape()[d] == first.shape()[d]);
        if !compatible {
            return Err(EvalErrorKind::input(
                i,
                format!(
                    "shape {:?} does not match {:?} outside axis {axis}",
                    p.shape(),
                    first.shape()
                ),
            ));
        }
        out_shape[axis] += p.shape()[axis];
    }
    num_elements(&out_shape)?;
    let outer: usize = first.shape()[..axis].iter().product();
    let inner: usize = first.shape()[axis + 1..].iter().product();
    let chunks: Vec<usize> = parts.iter().map(|p| p.shape()[axis] * inner).collect();
    let data = match first.data() {
        TensorData::F32(_) => {
            TensorData::F32(interleave(&slices(&parts, Tensor::as_f32)?, &chunks, outer))
        }
        TensorData::I64(_) => {
            TensorData::I64(interleave(&slices(&parts, Tensor::as_i64)?, &chunks, outer))
        }
        TensorData::Bool(_) => TensorData::Bool(interleave(
            &slices(&parts, Tensor::as_bool)?,
            &chunks,
            outer,
        )),
    };
    Ok(vec![Tensor::new(first.elem(), out_shape, data)?])
}

fn slices<'t, T>(
    parts: &[&'t Tensor],
    get: fn(&'t Tensor) -> Option<&'t [T]>,
) -> KResult<Vec<&'t [T]>> {
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            get(p).ok_or_else(|| EvalErrorKind::input(i, "storage differs from input #0"))
        })
        .collect()
}

/// For each of `outer` rows, append `chunks[k]` elements of part `k`, for every part in turn.
fn interleave<T: Copy>(parts: &[&[T]], chunks: &[usize], outer: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(chunks.iter().sum::<usize>() * outer);
    for o in 0..outer {
        for (p, &c) in parts.iter().zip(chunks) {
            out.extend_from_slice(&p[o * c..(o + 1) * c]);
        }
    }
    out
}

pub fn split(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(1, 2)?;
    let x = args.input(0)?;
    if x.rank() == 0 {
        return Err(EvalErrorKind::input(0, "cannot split a scalar"));
    }
    let axis = norm_axis(args.int("axis", 0)?, x.rank())?;
    let dim = x.shape()[axis];
    let sizes = split_sizes(args, dim)?;
    let outer: usize = x.shape()[..axis].iter().product();
    let inner: usize = x.shape()[axis + 1..].iter().product();
    let mut start = 0;
    let mut out = Vec::with_capacity(sizes.len());
    for &len in &sizes {
        let mut shape = x.shape().to_vec();
        shape[axis] = len;
        let (begin, count, row) = (start * inner, len * inner, dim * inner);
        let data = map_data!(x.data(), v => (0..outer)
            .flat_map(|o| v[o * row + begin..o * row + begin + count].iter().copied())
            .collect());
        out.push(Tensor::new(x.elem(), shape, data)?);
        start += len;
    }
    Ok(out)
}

/// Split sizes from the `split` input/attribute, `num_outputs`, or an even split into the
/// caller's number of results.
fn split_sizes(args: &OpArgs, dim: usize) -> KResult<Vec<usize>> {
    if let Some(split) = args.ints_attr_or_input("split", 1)? {
        let sizes = split
            .iter()
            .map(|&s| {
                usize::try_from(s)
                    .map_err(|_| EvalErrorKind::input(1, format!("negative size in {split:?}")))
            })
            .collect::<KResult<Vec<usize>>>()?;
        if sizes.iter().sum::<usize>() != dim {
            return Err(EvalErrorKind::input(
                1,
                format!("sizes {split:?} do not sum to dim {dim}"),
            ));
        }
        return Ok(sizes);
    }
    let (n, uneven_ok) = match args.attr("num_outputs").and_then(Attribute::as_int) {
        Some(n) => (n, true),
        None => match args.num_results {
            Some(n) => (n as i64, false),
            None => {
                return Err(EvalErrorKind::attr(
                    "split",
                    "no sizes, num_outputs or result count",
                ))
            }
        },
    };
    let n = usize::try_from(n)
        .ok()
        .filter(|&n| n > 0 && n <= dim.max(1))
        .ok_or_else(|| {
            EvalErrorKind::attr(
                "num_outputs",
                format!("must be in 1..={} for dim {dim}", dim.max(1)),
            )
        })?;
    if !uneven_ok && dim.checked_rem(n) != Some(0) {
        return Err(EvalErrorKind::shape(format!(
            "dim {dim} does not split evenly into {n}"
        )));
    }
    // ONNX: chunks of ceil(dim / n), the last one smaller.
    let chunk = dim.div_ceil(n);
    Ok((0..n)
        .map(|i| chunk.min(dim.saturating_sub(i * chunk)))
        .collect())
}

pub fn shape(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(1, 1)?;
    let x = args.input(0)?;
    let r = x.rank() as i64;
    let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
    let start = clamp(args.int("start", 0)?);
    let end = clamp(args.int("end", r)?);
    let dims: Vec<i64> = x.shape()[start..end.max(start)]
        .iter()
        .map(|&d| d as i64)
        .collect();
    Ok(vec![Tensor::from_i64(vec![dims.len()], dims)?])
}

pub fn size(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(1, 1)?;
    Ok(vec![Tensor::scalar_i64(args.input(0)?.len() as i64)])
}

pub fn constant_of_shape(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(1, 1)?;
    let shape = dims_from_input(args.input(0)?, 0)?;
    let n = num_elements(&shape)?;
    let value = match args.attr("value") {
        None => Tensor::scalar_f32(0.0),
        Some(Attribute::Dense(d)) => Tensor::from_dense(d)?,
        Some(other) => {
            return Err(EvalErrorKind::attr(
                "value",
                format!("expected an inline dense tensor, got {}", other.kind_name()),
            ))
        }
    };
    if value.len() != 1 {
        return Err(EvalErrorKind::attr(
            "value",
            "must hold exactly one element",
        ));
    }
    let data = map_data!(value.data(), v => vec![v[0]; n]);
    Ok(vec![Tensor::new(value.elem(), shape, data)?])
}

pub fn range(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(3, 3)?;
    let (s, l, d) = (args.input(0)?, args.input(1)?, args.input(2)?);
    same_elem(s, l, 1)?;
    same_elem(s, d, 2)?;
    let data = match (s.data(), l.data(), d.data()) {
        (TensorData::I64(_), _, _) => {
            let (start, limit, delta) = (int_scalar(s, 0)?, int_scalar(l, 1)?, int_scalar(d, 2)?);
            if delta == 0 {
                return Err(EvalErrorKind::input(2, "delta must not be 0"));
            }
            let span = i128::from(limit) - i128::from(start);
            let n = range_len(
                (span + i128::from(delta) - i128::from(delta.signum())) / i128::from(delta),
            )?;
            TensorData::I64(
                (0..n as i64)
                    .map(|i| start.wrapping_add(i.wrapping_mul(delta)))
                    .collect(),
            )
        }
        (TensorData::F32(a), TensorData::F32(b), TensorData::F32(c))
            if a.len() == 1 && b.len() == 1 && c.len() == 1 =>
        {
            let (start, limit, delta) = (f64::from(a[0]), f64::from(b[0]), f64::from(c[0]));
            if delta == 0.0 || !delta.is_finite() {
                return Err(EvalErrorKind::input(2, "delta must be finite and non-zero"));
            }
            let steps = ((limit - start) / delta).ceil();
            let n = if steps.is_nan() {
                0
            } else {
                range_len(steps.min(1e18) as i128)?
            };
            TensorData::F32((0..n).map(|i| (start + i as f64 * delta) as f32).collect())
        }
        _ => {
            return Err(EvalErrorKind::input(
                0,
                "start, limit and delta must be numeric scalars",
            ))
        }
    };
    let n = data.len();
    Ok(vec![Tensor::new(s.elem(), vec![n], data)?])
}

fn range_len(n: i128) -> KResult<usize> {
    let n = n.max(0);
    if n > MAX_ELEMENTS as i128 {
        return Err(EvalErrorKind::TooLarge(n as u128));
    }
    Ok(n as usize)
}

/// A shape operand: a 1-D integer tensor of non-negative dims.
pub fn dims_from_input(t: &Tensor, index: usize) -> KResult<Vec<usize>> {
    let values = int_values(t, index)?;
    if t.rank() > 1 {
        return Err(EvalErrorKind::input(
            index,
            format!("expected a 1-D shape, got shape {:?}", t.shape()),
        ));
    }
    values
        .iter()
        .map(|&v| {
            usize::try_from(v)
                .map_err(|_| EvalErrorKind::input(index, format!("negative dim in {values:?}")))
        })
        .collect()
}
