//! Folding `Add`s into a matrix product's segment.
//!
//! Exporters write a projection as `MatMul` then `Add(bias)`, often then `Add(residual)`.
//! Lowered one by one, each `Add` would be a DRAM round trip of the whole activation; folded,
//! the bias rides in the `GEMM` (`bias=`) and the residual in the epilogue's `VEC.ADD`. An
//! `Add` is folded only when it is the product's (or the previous folded `Add`'s) single use,
//! keeps the shape, its other operand is available before the product, and the intermediate
//! value is not a function output.

use super::vector::{mode_of, Mode};
use super::view::View;
use super::{Ctx, OpRef};
use crate::lower::LowerError;

/// `Add`s folded into a product's epilogue.
pub struct Fused {
    /// The op whose result the product finally produces.
    pub last: OpRef,
    pub bias: Option<View>,
    pub c: Option<(View, Mode)>,
}

/// Follow the product's single-use chain through up to two `Add`s of the same shape whose
/// other operand is already available: a row (bias) goes into the `GEMM`, any other operand
/// (a residual) into the epilogue's `VEC.ADD`. The folded `Add`s are skipped by the walk.
pub fn fold_adds(ctx: &mut Ctx<'_>, o: &OpRef, shape: &[u64]) -> Result<Fused, LowerError> {
    fold_adds_after(ctx, o, o, shape)
}

/// [`fold_adds`] continuing after `from`, an op already folded into `o`'s segment (the other
/// operands must still be available before `o`).
pub fn fold_adds_after(
    ctx: &mut Ctx<'_>,
    o: &OpRef,
    from: &OpRef,
    shape: &[u64],
) -> Result<Fused, LowerError> {
    let mut f = Fused {
        last: from.clone(),
        bias: None,
        c: None,
    };
    let mut cur = ctx.result(from, 0)?;
    while f.c.is_none() {
        let add = match ctx.uses.get(&cur).map(Vec::as_slice) {
            Some(&[add]) if ctx.m.op(add).name == "onnx.Add" => add,
            _ => break,
        };
        if ctx.out_names.contains_key(&cur) {
            break;
        }
        let d = ctx.m.op(add);
        let other = match *d.operands.as_slice() {
            [x, y] if x == cur && y != cur => y,
            [x, y] if y == cur && x != cur => x,
            _ => break,
        };
        let before = |def: Option<sofa_ir::Op>| match def {
            None => true,
            Some(p) => {
                ctx.m.op(p).name == "onnx.Constant" || ctx.order.get(&p) < ctx.order.get(&o.op)
            }
        };
        let same_shape = ctx.value_shape(d.results[0]).ok().map(|s| s.1).as_deref() == Some(shape);
        if !same_shape || !before(ctx.m.defining_op(other)) {
            break;
        }
        let next = OpRef::new(ctx.m, add);
        let view = ctx.view(&next, other)?;
        let Some(view) = view.broadcast_to(shape) else {
            break;
        };
        let mode = mode_of(&view);
        if mode == Mode::Row && f.bias.is_none() {
            f.bias = Some(view);
        } else {
            f.c = Some((view, mode));
        }
        ctx.skip.insert(add);
        cur = ctx.result(&next, 0)?;
        f.last = next;
    }
    Ok(f)
}
