//! Compile-time evaluation of ops whose operands are all known at compile time, where the chip
//! cannot compute them: ops without a chip lowering (`Range`, `ConstantOfShape`, `Mod`, … over
//! constants that `canonicalize` left alone because their results exceed its folding limit) and
//! any op with an integer result (the vector unit has no integer arithmetic; position
//! arithmetic such as `positions − window` is integer). The op's results are computed by the
//! reference kernels (the interpreter's own, so the two cannot disagree) and become `const`
//! tensors; they stay known, so a chain of such ops evaluates as a whole and later ops read
//! them like any constant (splats, slice bounds, indices).

use sofa_ir::eval::{eval_op_n, module_opset, Tensor};

use super::{Ctx, OpRef};
use crate::lower::LowerError;

/// Largest result evaluated at compile time (64 MiB of `f32`): beyond it the program's constant
/// payload would dwarf the model.
const STATIC_MAX_ELEMENTS: usize = 1 << 24;

/// The compile-time values of every tensor operand (`None` for an absent optional one), or
/// `None` when one of them is only known at run time.
fn known_operands(ctx: &Ctx<'_>, o: &OpRef) -> Option<Vec<Option<Tensor>>> {
    ctx.m
        .op(o.op)
        .operands
        .iter()
        .map(|&v| match ctx.m.value_type(v).as_tensor() {
            None => Some(None),
            Some(_) => ctx.const_value(v).map(Some),
        })
        .collect()
}

/// Evaluate the op if all its operands are known; `Ok(false)` (nothing done) otherwise.
pub fn try_evaluate(ctx: &mut Ctx<'_>, o: &OpRef) -> Result<bool, LowerError> {
    let Some(inputs) = known_operands(ctx, o) else {
        return Ok(false);
    };
    let d = ctx.m.op(o.op);
    let refs: Vec<Option<&Tensor>> = inputs.iter().map(Option::as_ref).collect();
    let results = eval_op_n(
        &d.name,
        &d.attrs,
        &refs,
        module_opset(ctx.m),
        Some(d.results.len()),
    )
    .map_err(|e| o.err(format!("compile-time evaluation failed: {e}")))?;
    for (i, t) in results.into_iter().enumerate() {
        let v = ctx.result(o, i)?;
        if !t.matches_type(ctx.m.value_type(v)) {
            return Err(o.err(format!(
                "compile-time evaluation of result {i} gives {:?} of {}, not the result type",
                t.shape(),
                t.elem()
            )));
        }
        if t.len() > STATIC_MAX_ELEMENTS {
            return Err(o.err(format!(
                "result {i} has {} elements, more than the {STATIC_MAX_ELEMENTS} evaluated at compile time",
                t.len()
            )));
        }
        let (dt, shape) = ctx.shape_of(o, v)?;
        let suffix = if i == 0 {
            String::new()
        } else {
            format!("#{i}")
        };
        let name = ctx.unique_name(&format!("const.{}{suffix}", o.loc));
        let view = ctx
            .add_const(name, dt, shape, t.to_bytes())
            .map_err(|e| o.err(e))?;
        ctx.bind(v, view);
        ctx.know(v, t);
    }
    Ok(true)
}

/// Whether every result of the op is an integer tensor (not float, not bool).
pub fn integer_results(ctx: &Ctx<'_>, o: &OpRef) -> bool {
    let results = &ctx.m.op(o.op).results;
    !results.is_empty()
        && results.iter().all(|&v| {
            ctx.m
                .value_type(v)
                .as_tensor()
                .is_some_and(|t| t.elem.is_int() && t.elem != sofa_ir::ElemType::I1)
        })
}
