//! Neural-network ops: `Softmax`/`LogSoftmax`, `LayerNormalization`, `RMSNormalization`, `Gelu`.
//!
//! Softmax follows opset >= 13 (one axis, default -1); before 13 the input is coerced to 2-D at
//! `axis` (default 1). A row that is all `-inf` yields NaN, as in onnxruntime and PyTorch
//! (exporters guard it with `IsNaN`/`Where`). Normalisation statistics accumulate in `f64`.

use crate::eval::args::{norm_axis, OpArgs};
use crate::eval::broadcast::{broadcasts_to, expand};
use crate::eval::elementwise::not_float;
use crate::eval::error::{EvalErrorKind, KResult};
use crate::eval::precision::erf;
use crate::eval::tensor::{Tensor, TensorData};
use crate::types::ElemType;

pub fn softmax(args: &OpArgs, log: bool) -> KResult<Vec<Tensor>> {
    args.arity(1, 1)?;
    let x = args.input(0)?;
    let v = x.as_f32().ok_or_else(|| not_float(0, x))?;
    let r = x.rank();
    let (outer, n, inner) = if args.opset >= 13 {
        let axis = norm_axis(args.int("axis", -1)?, r.max(1))?;
        let shape = if r == 0 { &[1][..] } else { x.shape() };
        (
            shape[..axis].iter().product::<usize>(),
            shape[axis],
            shape[axis + 1..].iter().product::<usize>(),
        )
    } else {
        let axis = args.int("axis", 1)?;
        let axis = if axis < 0 { axis + r as i64 } else { axis };
        if !(0..=r as i64).contains(&axis) {
            return Err(EvalErrorKind::attr(
                "axis",
                format!("out of range for rank {r}"),
            ));
        }
        let (head, tail) = x.shape().split_at(axis as usize);
        (head.iter().product(), tail.iter().product(), 1)
    };
    let mut out = v.to_vec();
    for o in 0..outer {
        for i in 0..inner {
            softmax_strided(&mut out, o * n * inner + i, n, inner, log);
        }
    }
    Ok(vec![Tensor::new(
        x.elem(),
        x.shape().to_vec(),
        TensorData::F32(out),
    )?])
}

/// In-place (log-)softmax of the `n` elements at `start, start + stride, ...`.
pub fn softmax_strided(v: &mut [f32], start: usize, n: usize, stride: usize, log: bool) {
    let idx = |j: usize| start + j * stride;
    let max = (0..n).map(|j| v[idx(j)]).fold(f32::NEG_INFINITY, |m, x| {
        if m.is_nan() || x.is_nan() {
            f32::NAN
        } else {
            m.max(x)
        }
    });
    let mut sum = 0f64;
    for j in 0..n {
        let e = (v[idx(j)] - max).exp();
        sum += f64::from(e);
        if !log {
            v[idx(j)] = e;
        }
    }
    if log {
        let lse = sum.ln() as f32;
        for j in 0..n {
            v[idx(j)] = v[idx(j)] - max - lse;
        }
    } else {
        let inv = (1.0 / sum) as f32;
        for j in 0..n {
            v[idx(j)] *= inv;
        }
    }
}

/// `scale` (and `bias`) broadcast to the normalised shape, as a flat vector.
fn affine_param(
    t: &Tensor,
    index: usize,
    norm_shape: &[usize],
    x_elem: ElemType,
) -> KResult<Vec<f32>> {
    let v = t.as_f32().ok_or_else(|| not_float(index, t))?;
    if t.elem() != x_elem {
        return Err(EvalErrorKind::input(
            index,
            format!("element type {} differs from X's {x_elem}", t.elem()),
        ));
    }
    if !broadcasts_to(t.shape(), norm_shape) {
        return Err(EvalErrorKind::input(
            index,
            format!(
                "shape {:?} does not broadcast to normalised shape {norm_shape:?}",
                t.shape()
            ),
        ));
    }
    Ok(expand(v, t.shape(), norm_shape))
}

/// `LayerNormalization(X, Scale, B?)` over dims `axis..`; outputs Y, Mean, InvStdDev.
pub fn layer_norm(args: &OpArgs) -> KResult<Vec<Tensor>> {
    normalize(args, true)
}

/// `RMSNormalization(X, scale)` (opset 23) over dims `axis..`: `x / sqrt(mean(x^2) + eps) * scale`.
pub fn rms_norm(args: &OpArgs) -> KResult<Vec<Tensor>> {
    normalize(args, false)
}

fn normalize(args: &OpArgs, centered: bool) -> KResult<Vec<Tensor>> {
    args.arity(2, if centered { 3 } else { 2 })?;
    let x = args.input(0)?;
    let v = x.as_f32().ok_or_else(|| not_float(0, x))?;
    if x.rank() == 0 {
        return Err(EvalErrorKind::input(0, "cannot normalise a scalar"));
    }
    let axis = norm_axis(args.int("axis", -1)?, x.rank())?;
    let eps = f64::from(args.float("epsilon", 1e-5)?);
    let norm_shape = &x.shape()[axis..];
    let n: usize = norm_shape.iter().product();
    let rows: usize = x.shape()[..axis].iter().product();
    let scale = affine_param(args.input(1)?, 1, norm_shape, x.elem())?;
    let bias = args
        .opt_input(2)
        .map(|b| affine_param(b, 2, norm_shape, x.elem()))
        .transpose()?;
    let mut y = vec![0f32; v.len()];
    let mut means = Vec::with_capacity(rows);
    let mut inv_stds = Vec::with_capacity(rows);
    for r in 0..rows {
        let row = &v[r * n..(r + 1) * n];
        let mean = if centered && n > 0 {
            row.iter().map(|&a| f64::from(a)).sum::<f64>() / n as f64
        } else {
            0.0
        };
        let var = row
            .iter()
            .map(|&a| (f64::from(a) - mean).powi(2))
            .sum::<f64>()
            / n.max(1) as f64;
        let inv = 1.0 / (var + eps).sqrt();
        for (j, out) in y[r * n..(r + 1) * n].iter_mut().enumerate() {
            let normed = ((f64::from(row[j]) - mean) * inv) as f32;
            *out = normed * scale[j] + bias.as_ref().map_or(0.0, |b| b[j]);
        }
        means.push(mean as f32);
        inv_stds.push(inv as f32);
    }
    let y = Tensor::new(x.elem(), x.shape().to_vec(), TensorData::F32(y))?;
    if !centered {
        return Ok(vec![y]);
    }
    let mut stat_shape = x.shape()[..axis].to_vec();
    stat_shape.resize(x.rank(), 1);
    Ok(vec![
        y,
        Tensor::from_f32(stat_shape.clone(), means)?,
        Tensor::from_f32(stat_shape, inv_stds)?,
    ])
}

/// `Gelu` (opset 20): exact (`approximate = "none"`) or the tanh approximation.
pub fn gelu(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(1, 1)?;
    let x = args.input(0)?;
    let v = x.as_f32().ok_or_else(|| not_float(0, x))?;
    let f: fn(f32) -> f32 = match args.string("approximate", "none")? {
        "none" => gelu_exact,
        "tanh" => gelu_tanh,
        other => {
            return Err(EvalErrorKind::attr(
                "approximate",
                format!("unknown mode {other:?}"),
            ))
        }
    };
    let out = v.iter().map(|&a| f(a)).collect();
    Ok(vec![Tensor::new(
        x.elem(),
        x.shape().to_vec(),
        TensorData::F32(out),
    )?])
}

pub fn gelu_exact(x: f32) -> f32 {
    let x = f64::from(x);
    (0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2))) as f32
}

pub fn gelu_tanh(x: f32) -> f32 {
    let x = f64::from(x);
    let c = (2.0 / std::f64::consts::PI).sqrt();
    (0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())) as f32
}
