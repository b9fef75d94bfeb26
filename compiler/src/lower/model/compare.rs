//! Comparisons on the vector unit: `Equal`, `Less`, `LessOrEqual`, `Greater`, `GreaterOrEqual`
//! and `IsNaN`, each one `VEC.CMP` per tile into an `i1` result.
//!
//! These are the position and padding arithmetic of attention masks that does not constant-fold
//! (the mask of a sequence longer than folding allows, or one computed from run-time data).
//! Operands broadcast as for the arithmetic ops (`bcast=row/col/scalar`, else materialised by
//! stride-0 loads); a broadcast first operand is swapped into second place with the mirrored
//! comparison (`a < b` ⟺ `b > a`). Integers compare exactly; `IsNaN(x)` is `x ≠ x`.

use sofa_ir::isa::{Bcast, CmpOp, DType, Instr};

use super::vector::{map_tiles, mode_of, Input, Mode, Shape};
use super::{Ctx, OpRef};
use crate::lower::LowerError;

const CMP: Shape = Shape {
    inner: 1,
    extra: 0,
    in_place: false,
};

/// The `VEC.CMP` comparison of an ONNX op type.
fn cmp_op(kind: &str) -> Option<CmpOp> {
    Some(match kind {
        "Equal" => CmpOp::Eq,
        "Less" => CmpOp::Lt,
        "LessOrEqual" => CmpOp::Le,
        "Greater" => CmpOp::Gt,
        "GreaterOrEqual" => CmpOp::Ge,
        _ => return None,
    })
}

/// `Equal`, `Less`, `LessOrEqual`, `Greater`, `GreaterOrEqual`.
pub fn compare(ctx: &mut Ctx<'_>, o: &OpRef, kind: &str) -> Result<(), LowerError> {
    let mut op = cmp_op(kind).ok_or_else(|| o.err("not a comparison"))?;
    let (_, shape) = ctx.shape_of(o, ctx.result(o, 0)?)?;
    let mut views = Vec::with_capacity(2);
    for i in 0..2 {
        let v = ctx.view(o, ctx.operand(o, i)?)?;
        let b = v.broadcast_to(&shape).ok_or_else(|| {
            o.err(format!(
                "operand {i} {:?} does not broadcast to {shape:?}",
                v.shape
            ))
        })?;
        views.push(b);
    }
    let (mut x, mut y) = (views[0].clone(), views[1].clone());
    if x.dt != y.dt {
        return Err(o.err(format!("operand types {} and {} differ", x.dt, y.dt)));
    }
    if x.dt == DType::Lz4 {
        return Err(o.err("lz4 values cannot be compared"));
    }
    if mode_of(&x) != Mode::Full && mode_of(&y) == Mode::Full {
        std::mem::swap(&mut x, &mut y);
        op = op.swapped();
    }
    let mode = mode_of(&y);
    let (bcast, dt) = (mode.bcast(), x.dt);
    let out = ctx.new_result(o, 0, DType::I1, shape)?;
    let inputs = [Input::full(x), Input { view: y, mode }];
    map_tiles(ctx, o, &inputs, &out, CMP, &mut |s| {
        vec![Instr::VecCmp {
            dst: s.dst,
            a: s.ins[0],
            b: s.ins[1],
            rows: s.rows,
            cols: s.cols,
            bcast,
            op,
            dt,
        }]
    })
}

/// `IsNaN(x)`: `x ≠ x`.
pub fn is_nan(ctx: &mut Ctx<'_>, o: &OpRef) -> Result<(), LowerError> {
    let (_, shape) = ctx.shape_of(o, ctx.result(o, 0)?)?;
    let x = ctx.view(o, ctx.operand(o, 0)?)?;
    if !x.dt.is_float() {
        return Err(o.err(format!("IsNaN of {} values", x.dt)));
    }
    let dt = x.dt;
    let out = ctx.new_result(o, 0, DType::I1, shape)?;
    map_tiles(ctx, o, &[Input::full(x)], &out, CMP, &mut |s| {
        vec![Instr::VecCmp {
            dst: s.dst,
            a: s.ins[0],
            b: s.ins[0],
            rows: s.rows,
            cols: s.cols,
            bcast: Bcast::None,
            op: CmpOp::Ne,
            dt,
        }]
    })
}
