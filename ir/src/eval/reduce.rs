//! Reductions: `ReduceSum`, `ReduceMean`, `ReduceMax`, `ReduceMin`, `ReduceProd`.
//!
//! `axes` is an attribute before opset 13 (ReduceSum) / 18 (the others) and an input after; we
//! read whichever is present. Empty or absent axes reduce everything unless
//! `noop_with_empty_axes = 1`, which makes the op an identity. Float sums accumulate in `f64`.
//! Reducing an empty set gives the identity of the reduction (0, 1, -inf, +inf; NaN for mean).

use crate::eval::args::{norm_axes, OpArgs};
use crate::eval::broadcast::{contiguous_strides, for_each_offset};
use crate::eval::error::{EvalErrorKind, KResult};
use crate::eval::tensor::{num_elements, Tensor, TensorData};
use crate::types::ElemType;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Reduce {
    Sum,
    Mean,
    Max,
    Min,
    Prod,
}

/// The reduction geometry: which dims are reduced and the output shape.
struct Plan {
    /// Output shape with reduced dims kept as 1.
    kept: Vec<usize>,
    /// Output strides aligned to the input's dims, 0 on reduced dims.
    out_strides: Vec<isize>,
    /// Number of input elements folded into each output element.
    count: usize,
}

fn plan(shape: &[usize], axes: &[usize]) -> Plan {
    let kept: Vec<usize> = shape
        .iter()
        .enumerate()
        .map(|(d, &n)| if axes.contains(&d) { 1 } else { n })
        .collect();
    let contiguous = contiguous_strides(&kept);
    let out_strides = (0..shape.len())
        .map(|d| {
            if axes.contains(&d) {
                0
            } else {
                contiguous[d] as isize
            }
        })
        .collect();
    let count = axes.iter().map(|&a| shape[a]).product();
    Plan {
        kept,
        out_strides,
        count,
    }
}

pub fn reduce(args: &OpArgs, kind: Reduce) -> KResult<Vec<Tensor>> {
    args.arity(1, 2)?;
    let x = args.input(0)?;
    let keepdims = args.int("keepdims", 1)? != 0;
    let noop = args.int("noop_with_empty_axes", 0)? != 0;
    let axes = args.ints_attr_or_input("axes", 1)?.unwrap_or_default();
    if axes.is_empty() && noop {
        return Ok(vec![x.clone()]);
    }
    let axes = if axes.is_empty() {
        (0..x.rank()).collect()
    } else {
        norm_axes(&axes, x.rank())?
    };
    let p = plan(x.shape(), &axes);
    let n_out = num_elements(&p.kept)?;
    let in_strides: Vec<isize> = contiguous_strides(x.shape())
        .into_iter()
        .map(|s| s as isize)
        .collect();
    let data = match x.data() {
        TensorData::F32(v) => {
            TensorData::F32(reduce_f32(v, x.shape(), &in_strides, &p, n_out, kind))
        }
        TensorData::I64(v) => TensorData::I64(reduce_i64(
            v,
            x.shape(),
            &in_strides,
            &p,
            n_out,
            kind,
            x.elem(),
        )?),
        TensorData::Bool(_) => {
            return Err(EvalErrorKind::input(
                0,
                "reductions are not defined on bool",
            ))
        }
    };
    let shape = if keepdims {
        p.kept
    } else {
        x.shape()
            .iter()
            .enumerate()
            .filter(|(d, _)| !axes.contains(d))
            .map(|(_, &n)| n)
            .collect()
    };
    Ok(vec![Tensor::new(x.elem(), shape, data)?])
}

fn reduce_f32(
    v: &[f32],
    shape: &[usize],
    in_strides: &[isize],
    p: &Plan,
    n_out: usize,
    kind: Reduce,
) -> Vec<f32> {
    let init = match kind {
        Reduce::Sum | Reduce::Mean => 0.0,
        Reduce::Prod => 1.0,
        Reduce::Max => f64::NEG_INFINITY,
        Reduce::Min => f64::INFINITY,
    };
    let mut acc = vec![init; n_out];
    let step: fn(f64, f64) -> f64 = match kind {
        Reduce::Sum | Reduce::Mean => |a, x| a + x,
        Reduce::Prod => |a, x| a * x,
        Reduce::Max => |a: f64, x: f64| {
            if a.is_nan() || x.is_nan() {
                f64::NAN
            } else {
                a.max(x)
            }
        },
        Reduce::Min => |a: f64, x: f64| {
            if a.is_nan() || x.is_nan() {
                f64::NAN
            } else {
                a.min(x)
            }
        },
    };
    for_each_offset(shape, [in_strides, &p.out_strides], [0, 0], |[i, o]| {
        acc[o] = step(acc[o], f64::from(v[i]));
    });
    let count = p.count as f64;
    acc.into_iter()
        .map(|a| if kind == Reduce::Mean { a / count } else { a } as f32)
        .collect()
}

fn reduce_i64(
    v: &[i64],
    shape: &[usize],
    in_strides: &[isize],
    p: &Plan,
    n_out: usize,
    kind: Reduce,
    elem: ElemType,
) -> KResult<Vec<i64>> {
    let (lowest, highest) = match elem {
        ElemType::I32 => (i64::from(i32::MIN), i64::from(i32::MAX)),
        ElemType::I8 => (i64::from(i8::MIN), i64::from(i8::MAX)),
        ElemType::U8 => (0, i64::from(u8::MAX)),
        _ => (i64::MIN, i64::MAX),
    };
    let init = match kind {
        Reduce::Sum | Reduce::Mean => 0,
        Reduce::Prod => 1,
        Reduce::Max => lowest,
        Reduce::Min => highest,
    };
    let step: fn(i64, i64) -> i64 = match kind {
        Reduce::Sum | Reduce::Mean => i64::wrapping_add,
        Reduce::Prod => i64::wrapping_mul,
        Reduce::Max => std::cmp::max,
        Reduce::Min => std::cmp::min,
    };
    let mut acc = vec![init; n_out];
    for_each_offset(shape, [in_strides, &p.out_strides], [0, 0], |[i, o]| {
        acc[o] = step(acc[o], v[i]);
    });
    if kind == Reduce::Mean {
        if p.count == 0 {
            return Err(EvalErrorKind::invalid("integer mean of an empty set"));
        }
        let count = p.count as i64;
        acc.iter_mut().for_each(|a| *a /= count);
    }
    Ok(acc)
}
