//! Constant folding of `onnx.*` ops through the reference kernels (the dialect's `FoldFn`).
//!
//! An op folds when every operand is constant (absent optional operands, typed `none`, count as
//! absent), it is not itself a constant, and each result is small (at most
//! [`FOLD_MAX_ELEMENTS`]), or the op is shape arithmetic (integer vectors), or it is position
//! arithmetic: no operand is an initializer payload (the importer keeps every payload of more than
//! a few elements in the module's resources, so `dense_resource` operands are weights) and each
//! result has at most [`FOLD_MAX_DERIVED_ELEMENTS`]. That last rule is what lets the masks and
//! RoPE tables a model computes from `Range` fold at every sequence length a model is run at, not
//! only while they are small, without ever folding a transformed weight (a transposed,
//! dequantized or cast initializer stays an op the lowering sees). Results must agree with the
//! op's declared result types, so folding never changes a type.

use crate::attr::Attribute;
use crate::eval::tensor::Tensor;
use crate::eval::{eval_op_n, is_supported};
use crate::module::{Module, Op};
use crate::types::{ElemType, Type};

/// Opset assumed when the module does not record `onnx.opset`.
pub const DEFAULT_OPSET: i64 = 23;

/// Results larger than this are not folded (they would bloat the IR), unless derived from
/// inline constants only (see [`FOLD_MAX_DERIVED_ELEMENTS`]).
pub const FOLD_MAX_ELEMENTS: usize = 1024;

/// Results computed from inline constants only (positions, frequencies, scalars; no initializer
/// payload) fold up to this many elements: a 1024 × 1024 causal mask, RoPE tables for 4096
/// positions × 128 dims (4 MiB of `f32`). Larger ones stay ops, which the model lowering runs on
/// the chip (`VEC.CMP`, `VEC.COS`, …).
pub const FOLD_MAX_DERIVED_ELEMENTS: usize = 1 << 20;

/// Inputs larger than this are not folded (folding must stay cheap).
const FOLD_MAX_INPUT_ELEMENTS: usize = 1 << 20;

/// The `onnx.opset` recorded on the module op, or [`DEFAULT_OPSET`].
pub fn module_opset(module: &Module) -> i64 {
    module.ops[module.top]
        .attrs
        .get("onnx.opset")
        .and_then(Attribute::as_int)
        .unwrap_or(DEFAULT_OPSET)
}

/// Elements of a constant operand, from its type (1 for a scalar attribute).
fn attr_elements(a: &Attribute) -> usize {
    let ty = match a {
        Attribute::Dense(d) => return d.len(),
        Attribute::DenseResource { ty, .. } => ty,
        _ => return 1,
    };
    ty.num_elements()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(usize::MAX)
}

/// Fold `op` when all its operands are constants; `None` when it does not fold.
pub fn fold_onnx(
    module: &Module,
    op: Op,
    operands: &[Option<Attribute>],
) -> Option<Vec<Attribute>> {
    let data = module.ops.get(op)?;
    let op_type = data.name.strip_prefix("onnx.")?;
    if matches!(op_type, "Constant" | "NoValue") || !is_supported(op_type) {
        return None;
    }
    if operands.len() != data.operands.len() {
        return None;
    }
    // Decide from the attributes' types before converting a payload: a weight matrix beside an
    // operand that is not constant (an embedding's ids) must not be converted only to be dropped.
    let mut input_elems = 0usize;
    for (&v, attr) in data.operands.iter().zip(operands) {
        match attr {
            Some(a) => input_elems = input_elems.saturating_add(attr_elements(a)),
            None if module.values.get(v)?.ty == Type::None => {}
            None => return None,
        }
    }
    if input_elems > FOLD_MAX_INPUT_ELEMENTS {
        return None;
    }
    let mut tensors: Vec<Option<Tensor>> = Vec::with_capacity(operands.len());
    for attr in operands {
        match attr {
            Some(a) => tensors.push(Some(Tensor::from_attr(a, module).ok()?)),
            None => tensors.push(None),
        }
    }
    let inputs: Vec<Option<&Tensor>> = tensors.iter().map(Option::as_ref).collect();
    let results = eval_op_n(
        &data.name,
        &data.attrs,
        &inputs,
        module_opset(module),
        Some(data.results.len()),
    )
    .ok()?;
    let shape_arith = results
        .iter()
        .all(|t| t.elem() == ElemType::I64 && t.rank() <= 1);
    let derived =
        !data.operands.iter().zip(operands).any(|(&v, a)| {
            is_payload(module, v) || matches!(a, Some(Attribute::DenseResource { .. }))
        });
    let limit = if derived {
        FOLD_MAX_DERIVED_ELEMENTS
    } else {
        FOLD_MAX_ELEMENTS
    };
    if !shape_arith && results.iter().any(|t| t.len() > limit) {
        return None;
    }
    results
        .iter()
        .zip(&data.results)
        .map(|(t, &v)| {
            let declared = &module.values.get(v)?.ty;
            t.matches_type(declared).then(|| t.to_attr().ok())?
        })
        .collect()
}

/// Whether `v` is an initializer payload: a constant whose value is a module resource (the
/// folding pass hands resolved values to the hooks, so the attribute is read from the op).
fn is_payload(module: &Module, v: crate::module::Value) -> bool {
    module
        .defining_op(v)
        .and_then(|d| module.ops[d].attrs.get("value"))
        .is_some_and(|a| matches!(a, Attribute::DenseResource { .. }))
}
