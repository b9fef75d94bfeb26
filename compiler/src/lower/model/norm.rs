//! Row-wise normalisations on the vector unit: `LayerNormalization` (`VEC.LAYERNORM`),
//! `RMSNormalization` (opset 23, `VEC.RMSNORM`) and `Softmax` (`VEC.SOFTMAX`).
//!
//! Both reduce over trailing dims, which become the columns of whole-row tiles (a row is
//! never split); the scale and bias of a layer norm are loaded once per op as `1 × cols`
//! rows.

use sofa_ir::eval::module_opset;
use sofa_ir::isa::Instr;

use super::vector::{map_tiles, Input, Mode, Shape};
use super::{Ctx, OpRef};
use crate::lower::LowerError;

/// `axis` (negative counts from the end) as an index in `0..=rank`.
fn axis_attr(ctx: &Ctx<'_>, o: &OpRef, default: i64, rank: usize) -> Result<usize, LowerError> {
    let a = ctx
        .m
        .op(o.op)
        .attrs
        .get("axis")
        .and_then(|a| a.as_int())
        .unwrap_or(default);
    let r = rank as i64;
    let k = if a < 0 { a + r } else { a };
    if !(0..r.max(1)).contains(&k) {
        return Err(o.err(format!("axis {a} is out of range for rank {rank}")));
    }
    Ok(k as usize)
}

/// `LayerNormalization` over the dims from `axis` on.
pub fn layer_norm(ctx: &mut Ctx<'_>, o: &OpRef) -> Result<(), LowerError> {
    normalization(ctx, o, true)
}

/// `RMSNormalization` (opset 23) over the dims from `axis` on.
pub fn rms_norm(ctx: &mut Ctx<'_>, o: &OpRef) -> Result<(), LowerError> {
    normalization(ctx, o, false)
}

/// A layer (`centered`) or RMS normalisation with its scale (and a layer norm's bias).
fn normalization(ctx: &mut Ctx<'_>, o: &OpRef, centered: bool) -> Result<(), LowerError> {
    let (dt, shape) = ctx.shape_of(o, ctx.result(o, 0)?)?;
    if !dt.is_float() {
        return Err(o.err("normalisation needs a float type"));
    }
    let axis = axis_attr(ctx, o, -1, shape.len())?;
    let eps = ctx
        .m
        .op(o.op)
        .attrs
        .get("epsilon")
        .and_then(|a| a.as_float())
        .unwrap_or(1e-5) as f32;
    let x = ctx.view(o, ctx.operand(o, 0)?)?;
    let row = |ctx: &mut Ctx<'_>, i: usize| -> Result<Option<Input>, LowerError> {
        let Some(&v) = ctx.m.op(o.op).operands.get(i) else {
            return Ok(None);
        };
        if ctx.m.value_type(v).as_tensor().is_none() {
            return Ok(None);
        }
        let view = ctx.view(o, v)?;
        let b = view
            .broadcast_to(&shape)
            .filter(|b| b.strides[..axis].iter().all(|&s| s == 0))
            .ok_or_else(|| {
                o.err(format!(
                    "operand {i} must broadcast over the normalised dims"
                ))
            })?;
        Ok(Some(Input {
            view: b,
            mode: Mode::Row,
        }))
    };
    let gamma = row(ctx, 1)?.ok_or_else(|| o.err("the scale operand is missing"))?;
    let beta = if centered { row(ctx, 2)? } else { None };
    let has_beta = beta.is_some();
    let mut inputs = vec![Input::full(x), gamma];
    inputs.extend(beta);
    let out = ctx.new_result(o, 0, dt, shape.clone())?;
    let cfg = Shape {
        inner: shape.len() - axis,
        extra: 0,
        in_place: false,
    };
    map_tiles(ctx, o, &inputs, &out, cfg, &mut |s| {
        vec![if centered {
            Instr::VecLayerNorm {
                dst: s.dst,
                x: s.ins[0],
                gamma: s.ins[1],
                beta: has_beta.then(|| s.ins[2]),
                rows: s.rows,
                cols: s.cols,
                eps,
                dt,
            }
        } else {
            Instr::VecRmsNorm {
                dst: s.dst,
                x: s.ins[0],
                gamma: s.ins[1],
                rows: s.rows,
                cols: s.cols,
                eps,
                dt,
            }
        }]
    })
}

/// `Softmax` over the last axis (opset ≥ 13), or over the dims from `axis` on (older opsets
/// flatten them).
pub fn softmax(ctx: &mut Ctx<'_>, o: &OpRef) -> Result<(), LowerError> {
    let (dt, shape) = ctx.shape_of(o, ctx.result(o, 0)?)?;
    if !dt.is_float() {
        return Err(o.err("softmax needs a float type"));
    }
    let modern = module_opset(ctx.m) >= 13;
    let axis = axis_attr(ctx, o, if modern { -1 } else { 1 }, shape.len())?;
    if modern && axis + 1 != shape.len() && shape[axis + 1..].iter().any(|&d| d != 1) {
        return Err(o.err("softmax over a non-last axis is not supported"));
    }
    let x = ctx.view(o, ctx.operand(o, 0)?)?;
    let out = ctx.new_result(o, 0, dt, shape.clone())?;
    let cfg = Shape {
        inner: shape.len() - axis,
        extra: 0,
        in_place: false,
    };
    map_tiles(ctx, o, &[Input::full(x)], &out, cfg, &mut |s| {
        vec![Instr::VecSoftmax {
            dst: s.dst,
            a: s.ins[0],
            rows: s.rows,
            cols: s.cols,
            dt,
        }]
    })
}
