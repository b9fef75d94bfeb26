//! Copies spelled as a `Concat`: `Concat([x; n], axis)` where `x` has size 1 on `axis` is
//! `Expand(x, [1, …, n, …, 1])` (Expand broadcasts the unit axis to n, the other axes keep
//! their sizes). Exporters write K/V repetition this way — a grouped K unsqueezed at axis 2
//! and concatenated n times there, or one single-head K concatenated on the head axis — and
//! the Expand form is the one the rules recognise (`repeat_kv`, `repeat_single_kv`).
//! Rewritten before the candidates are found; the value of every tensor is unchanged.

use sofa_ir::attr::{Attribute, DenseAttr};
use sofa_ir::dialect::onnx::shape::normalize_axis;
use sofa_ir::{Module, Op, OpSpec, Type, Value};

/// Rewrite every such Concat of `m`; returns how many.
pub fn expand_concat_copies(m: &mut Module) -> u64 {
    let mut rewritten = 0;
    for op in m.all_ops() {
        if let Some((x, repeats)) = copies(m, op) {
            replace_by_expand(m, op, x, &repeats);
            rewritten += 1;
        }
    }
    rewritten
}

/// The copied operand and the Expand shape, when `op` is a Concat of ≥ 2 copies of one value
/// along an axis where that value's static size is 1.
fn copies(m: &Module, op: Op) -> Option<(Value, Vec<i64>)> {
    let data = m.op(op);
    if data.name != "onnx.Concat" || data.erased || data.results.len() != 1 {
        return None;
    }
    let (&x, rest) = data.operands.split_first()?;
    if rest.is_empty() || rest.iter().any(|&o| o != x) {
        return None;
    }
    let t = m.value_type(x).as_tensor()?;
    let axis = normalize_axis(data.attrs.get("axis")?.as_int()?, t.rank()).ok()?;
    if t.dims[axis].as_static() != Some(1) || m.value_type(data.results[0]).as_tensor().is_none() {
        return None;
    }
    let mut repeats = vec![1i64; t.rank()];
    repeats[axis] = i64::try_from(data.operands.len()).ok()?;
    Some((x, repeats))
}

fn replace_by_expand(m: &mut Module, concat: Op, x: Value, repeats: &[i64]) {
    let loc = m.op(concat).loc.clone();
    let result = m.op(concat).results[0];
    let result_ty = m.value_type(result).clone();
    let shape = DenseAttr::from_i64(&[repeats.len() as u64], repeats).expect("a valid shape");
    let shape_ty = Type::Tensor(shape.ty().clone());
    let constant = m.create_op(
        OpSpec::new("onnx.Constant")
            .attr("value", Attribute::Dense(shape))
            .results([shape_ty])
            .loc(loc.clone()),
    );
    m.insert_before(concat, constant);
    let shape = m.result(constant, 0);
    let expand = m.create_op(
        OpSpec::new("onnx.Expand")
            .operands([x, shape])
            .results([result_ty])
            .loc(loc),
    );
    m.insert_before(concat, expand);
    let expanded = m.result(expand, 0);
    m.replace_all_uses(result, expanded);
    m.erase_op(concat);
}
