//! Linear quantization: `DynamicQuantizeLinear`, `QuantizeLinear`, `DequantizeLinear` and
//! `MatMulInteger`, with the arithmetic ONNX specifies and onnxruntime (MLAS) implements:
//!
//! - quantize: `saturate(round_half_even(x / scale) + zero_point)`, a true `f32` division;
//!   NaN saturates low (as MLAS's `max_ps` clamp does);
//! - dynamic parameters: the range `[min(0, min x), max(0, max x)]`,
//!   `scale = (max − min) / (qmax − qmin)` (1 when the range is empty),
//!   `zero_point = round_half_even(clamp(qmin − min / scale, qmin, qmax))`, all in `f32`;
//! - dequantize: `f32(i32(x) − zero_point) · scale`;
//! - `MatMulInteger`: `(A − a_zp) · (B − b_zp)` accumulated in `i32` (wrapping).
//!
//! The scalar helpers are public so the simulator computes the very same values.

use crate::dialect::onnx::infer::elem_from_onnx;
use crate::eval::args::{norm_axis, OpArgs};
use crate::eval::elementwise::{arith, cast_tensor, Arith};
use crate::eval::error::{EvalErrorKind, KResult};
use crate::eval::matmul::matmul_tensors;
use crate::eval::tensor::{Tensor, TensorData};
use crate::types::ElemType;

/// The saturation range of a quantized element type.
pub fn quant_range(elem: ElemType) -> Option<(i64, i64)> {
    match elem {
        ElemType::U8 => Some((0, 255)),
        ElemType::I8 => Some((-128, 127)),
        _ => None,
    }
}

/// `saturate(round_half_even(x / scale) + zp)` into `[qmin, qmax]`.
pub fn quantize_value(x: f32, scale: f32, zp: i64, (qmin, qmax): (i64, i64)) -> i64 {
    let v = x / scale;
    // Clamping before rounding is exact: the bounds are integers.
    let (lo, hi) = ((qmin - zp) as f32, (qmax - zp) as f32);
    let v = if v.is_nan() { lo } else { v.clamp(lo, hi) };
    v.round_ties_even() as i64 + zp
}

/// `f32(i32(q) − zp) · scale`.
pub fn dequantize_value(q: i64, zp: i64, scale: f32) -> f32 {
    (q.wrapping_sub(zp) as i32) as f32 * scale
}

/// The smallest and largest non-NaN value (`(0, 0)` when there is none).
pub fn min_max(values: &[f32]) -> (f32, f32) {
    let (lo, hi) = values
        .iter()
        .filter(|v| !v.is_nan())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    if lo > hi {
        (0.0, 0.0)
    } else {
        (lo, hi)
    }
}

/// `DynamicQuantizeLinear`'s scale and zero point for the data range `[min, max]`.
pub fn dynamic_params(min: f32, max: f32, (qmin, qmax): (i64, i64)) -> (f32, i64) {
    let (min, max) = (min.min(0.0), max.max(0.0));
    let scale = if max == min {
        1.0
    } else {
        (max - min) / (qmax - qmin) as f32
    };
    let initial = qmin as f32 - min / scale;
    // C++ `std::max(qmin, std::min(qmax, z))` keeps qmax for a NaN z.
    let z = if initial.is_nan() {
        qmax as f32
    } else {
        initial.clamp(qmin as f32, qmax as f32)
    };
    (scale, z.round_ties_even() as i64)
}

fn floats(t: &Tensor, index: usize) -> KResult<&[f32]> {
    t.as_f32().ok_or_else(|| {
        EvalErrorKind::input(index, format!("expected a float tensor, got {}", t.elem()))
    })
}

fn check_quantized(t: &Tensor, index: usize) -> KResult<()> {
    match quant_range(t.elem()) {
        Some(_) => Ok(()),
        None => Err(EvalErrorKind::input(
            index,
            format!("expected ui8 or i8, got {}", t.elem()),
        )),
    }
}

/// `DynamicQuantizeLinear(x) -> (y: ui8, y_scale: f32 scalar, y_zero_point: ui8 scalar)`.
pub fn dynamic_quantize_linear(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(1, 1)?;
    let x = args.input(0)?;
    let v = floats(x, 0)?;
    let range = (0, 255);
    let (lo, hi) = min_max(v);
    let (scale, zp) = dynamic_params(lo, hi, range);
    let q = v
        .iter()
        .map(|&a| quantize_value(a, scale, zp, range))
        .collect();
    Ok(vec![
        Tensor::new(ElemType::U8, x.shape().to_vec(), TensorData::I64(q))?,
        Tensor::scalar_f32(scale),
        Tensor::new(ElemType::U8, vec![], TensorData::I64(vec![zp]))?,
    ])
}

/// For every element of `shape`, the index of its quantization parameter: per tensor (one
/// element), per axis (a 1-D parameter along `axis`) or blocked (same rank, `axis` divided
/// into blocks of `block`).
fn param_index(shape: &[usize], param: &[usize], axis: i64, block: i64) -> KResult<Vec<usize>> {
    let n: usize = shape.iter().product();
    let count: usize = param.iter().product();
    if count == 1 && param.len() <= 1 {
        return Ok(vec![0; n]);
    }
    let axis = norm_axis(axis, shape.len())?;
    let dim = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    if param.len() == 1 && block <= 0 {
        if param[0] != dim {
            return Err(EvalErrorKind::shape(format!(
                "per-axis parameters of length {} do not match dim {axis} of {shape:?}",
                param[0]
            )));
        }
        return Ok((0..n).map(|i| (i / inner) % dim).collect());
    }
    let block = usize::try_from(block)
        .ok()
        .filter(|&b| b > 0)
        .ok_or_else(|| {
            EvalErrorKind::shape(format!(
                "parameters of shape {param:?} need a positive block_size"
            ))
        })?;
    let blocked: Vec<usize> = shape
        .iter()
        .enumerate()
        .map(|(k, &d)| if k == axis { d.div_ceil(block) } else { d })
        .collect();
    if blocked != param {
        return Err(EvalErrorKind::shape(format!(
            "blocked parameters must have shape {blocked:?}, got {param:?}"
        )));
    }
    let p_inner: usize = param[axis + 1..].iter().product();
    Ok((0..n)
        .map(|i| {
            let (outer, rest) = (i / (dim * inner), i % (dim * inner));
            let (a, r) = (rest / inner, rest % inner);
            (outer * param[axis] + a / block) * p_inner + r
        })
        .collect())
}

/// The zero point input (`index`) as values per parameter, 0 when absent.
fn zero_points(args: &OpArgs, index: usize, scale: &Tensor) -> KResult<Option<Vec<i64>>> {
    let Some(zp) = args.opt_input(index) else {
        return Ok(None);
    };
    if zp.len() != scale.len() {
        return Err(EvalErrorKind::input(
            index,
            format!(
                "zero point of shape {:?} differs from the scale's {:?}",
                zp.shape(),
                scale.shape()
            ),
        ));
    }
    let v = zp.as_i64().ok_or_else(|| {
        EvalErrorKind::input(
            index,
            format!("expected an integer tensor, got {}", zp.elem()),
        )
    })?;
    Ok(Some(v.to_vec()))
}

/// `QuantizeLinear(x, y_scale, y_zero_point?)`: the result type is the zero point's, else
/// `output_dtype`, else `ui8`.
pub fn quantize_linear(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(2, 3)?;
    let (x, scale) = (args.input(0)?, args.input(1)?);
    let (xv, sv) = (floats(x, 0)?, floats(scale, 1)?);
    let out = match args.opt_input(2) {
        Some(zp) => zp.elem(),
        None => match args.int("output_dtype", 0)? {
            0 => ElemType::U8,
            code => elem_from_onnx(code).ok_or_else(|| {
                EvalErrorKind::attr("output_dtype", format!("unsupported type code {code}"))
            })?,
        },
    };
    let range = quant_range(out).ok_or_else(|| {
        EvalErrorKind::invalid(format!("quantizing to {out} is not supported (ui8, i8)"))
    })?;
    let idx = param_index(
        x.shape(),
        scale.shape(),
        args.int("axis", 1)?,
        args.int("block_size", 0)?,
    )?;
    let zps = zero_points(args, 2, scale)?;
    let q = xv
        .iter()
        .zip(&idx)
        .map(|(&a, &p)| quantize_value(a, sv[p], zps.as_ref().map_or(0, |z| z[p]), range))
        .collect();
    Ok(vec![Tensor::new(
        out,
        x.shape().to_vec(),
        TensorData::I64(q),
    )?])
}

/// `DequantizeLinear(x, x_scale, x_zero_point?)`: the result has the scale's type (or
/// `output_dtype`).
pub fn dequantize_linear(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(2, 3)?;
    let (x, scale) = (args.input(0)?, args.input(1)?);
    let xv = x.as_i64().ok_or_else(|| {
        EvalErrorKind::input(0, format!("expected an integer tensor, got {}", x.elem()))
    })?;
    let sv = floats(scale, 1)?;
    let out = match args.int("output_dtype", 0)? {
        0 => scale.elem(),
        code => elem_from_onnx(code).ok_or_else(|| {
            EvalErrorKind::attr("output_dtype", format!("unsupported type code {code}"))
        })?,
    };
    let idx = param_index(
        x.shape(),
        scale.shape(),
        args.int("axis", 1)?,
        args.int("block_size", 0)?,
    )?;
    let zps = zero_points(args, 2, scale)?;
    let y = xv
        .iter()
        .zip(&idx)
        .map(|(&q, &p)| dequantize_value(q, zps.as_ref().map_or(0, |z| z[p]), sv[p]))
        .collect();
    Ok(vec![Tensor::new(
        out,
        x.shape().to_vec(),
        TensorData::F32(y),
    )?])
}

/// `t − zp` in `i64`, the zero point reshaped per `MatMulInteger`'s rules: one element is per
/// tensor; a 1-D vector is per row of A (`[M] → [M, 1]`) or per column of B (`[N]`); N-D
/// broadcasts as given.
fn shifted(args: &OpArgs, data: usize, zp: usize, per_row: bool) -> KResult<Tensor> {
    let t = args.input(data)?;
    check_quantized(t, data)?;
    let wide = cast_tensor(t, ElemType::I64)?;
    let Some(zp) = args.opt_input(zp) else {
        return Ok(wide);
    };
    if zp.elem() != t.elem() {
        return Err(EvalErrorKind::input(
            2 + data,
            format!("zero point type {} differs from {}", zp.elem(), t.elem()),
        ));
    }
    let mut z = cast_tensor(zp, ElemType::I64)?;
    if z.len() == 1 {
        z = z.reshaped(vec![])?;
    } else if per_row && z.rank() == 1 {
        let n = z.len();
        z = z.reshaped(vec![n, 1])?;
    }
    arith(Arith::Sub, &wide, &z)
}

/// `MatMulInteger(A, B, a_zero_point?, b_zero_point?)`: i32 result.
pub fn matmul_integer(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(2, 4)?;
    let a = shifted(args, 0, 2, true)?;
    let b = shifted(args, 1, 3, false)?;
    let y = matmul_tensors(&a, &b)?;
    Ok(vec![y.with_elem(ElemType::I32)?])
}
