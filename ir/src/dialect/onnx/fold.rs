//! Folding hooks of the `onnx` dialect that read operand *types*, not operand values.
//!
//! Ordinary ops fold through the reference kernels ([`crate::eval::fold_onnx`]): only when every
//! operand is a constant. Shape arithmetic needs more: exporters compute Reshape targets with
//! `Shape → Gather → Unsqueeze → Concat` from a tensor that is never constant, yet its shape is
//! known once its dims are static. So:
//! - `onnx.Shape` folds to the (sliced) static shape of its operand's type;
//! - `onnx.Size` folds to the element count of a static operand type;
//! - `onnx.Gather` of an `onnx.Shape` result folds when the gathered dims are static, even if
//!   others are not (`Shape(x)[2]` of `x: [batch, seq, 128]` is 128 for every input).
//!
//! Every hook falls back to [`fold_onnx`] first, and every result has exactly the op's declared
//! result type, so folding never changes a type.

use super::infer::shape_range;
use super::shape::int_attr;
use crate::attr::{Attribute, DenseAttr};
use crate::eval::{fold_onnx, FOLD_MAX_ELEMENTS};
use crate::module::{Module, Op};
use crate::types::{ElemType, TensorType, Type};

/// `onnx.Shape`: the operand's static dims in `[start, end)`.
pub fn fold_shape(
    module: &Module,
    op: Op,
    operands: &[Option<Attribute>],
) -> Option<Vec<Attribute>> {
    if let Some(folded) = fold_onnx(module, op, operands) {
        return Some(folded);
    }
    let dims = static_shape_slice(module, op)?;
    let values: Vec<i64> = dims
        .iter()
        .map(|&d| i64::try_from(d).ok())
        .collect::<Option<_>>()?;
    single_result(module, op, &[values.len() as u64], &values)
}

/// `onnx.Size`: the element count of a static operand type.
pub fn fold_size(
    module: &Module,
    op: Op,
    operands: &[Option<Attribute>],
) -> Option<Vec<Attribute>> {
    if let Some(folded) = fold_onnx(module, op, operands) {
        return Some(folded);
    }
    let input = operand_type(module, op, 0)?;
    let n = i64::try_from(input.num_elements()?).ok()?;
    single_result(module, op, &[], &[n])
}

/// `onnx.Gather(Shape(x), indices)` with constant indices selecting static dims of `x`.
pub fn fold_gather(
    module: &Module,
    op: Op,
    operands: &[Option<Attribute>],
) -> Option<Vec<Attribute>> {
    if let Some(folded) = fold_onnx(module, op, operands) {
        return Some(folded);
    }
    let data = *module.ops[op].operands.first()?;
    let shape_op = module.defining_op(data)?;
    // A shape is 1-D: axis 0 and -1 are the same axis.
    let axis = int_attr(module, op, "axis").unwrap_or(0);
    if module.ops[shape_op].name != "onnx.Shape" || !matches!(axis, 0 | -1) {
        return None;
    }
    let indices = match operands.get(1)? {
        Some(Attribute::Dense(d)) if d.ty().elem.is_int() && d.ty().elem != ElemType::I1 => d,
        _ => return None,
    };
    if indices.len() > FOLD_MAX_ELEMENTS {
        return None;
    }
    let dims = shape_dims(module, shape_op)?;
    let len = i64::try_from(dims.len()).ok()?;
    let values = (0..indices.len())
        .map(|i| {
            let k = indices.get_i64(i);
            let k = if k < 0 { k + len } else { k };
            let d = usize::try_from(k)
                .ok()
                .and_then(|k| dims.get(k))?
                .as_static()?;
            i64::try_from(d).ok()
        })
        .collect::<Option<Vec<i64>>>()?;
    let shape = indices.ty().static_dims()?;
    single_result(module, op, &shape, &values)
}

/// The dims a Shape op reports: its operand's dims in `[start, end)` (any kind of dim).
fn shape_dims(module: &Module, shape_op: Op) -> Option<Vec<crate::types::Dim>> {
    let input = operand_type(module, shape_op, 0)?;
    let (start, end) = shape_range(
        input.rank(),
        int_attr(module, shape_op, "start"),
        int_attr(module, shape_op, "end"),
    );
    Some(input.dims.get(start..end).unwrap_or_default().to_vec())
}

/// The static dims a Shape op reports, `None` if one of them is not static.
fn static_shape_slice(module: &Module, shape_op: Op) -> Option<Vec<u64>> {
    shape_dims(module, shape_op)?
        .iter()
        .map(crate::types::Dim::as_static)
        .collect()
}

fn operand_type(module: &Module, op: Op, i: usize) -> Option<&TensorType> {
    let v = *module.ops[op].operands.get(i)?;
    module.values.get(v)?.ty.as_tensor()
}

/// One `i64` dense result of `shape`, if the op's single declared result has exactly that type.
fn single_result(module: &Module, op: Op, shape: &[u64], values: &[i64]) -> Option<Vec<Attribute>> {
    let [result] = module.ops[op].results.as_slice() else {
        return None;
    };
    let dense = DenseAttr::from_i64(shape, values)?;
    let declared = &module.values.get(*result)?.ty;
    (*declared == Type::Tensor(dense.ty().clone())).then(|| vec![Attribute::Dense(dense)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::module::OpSpec;
    use crate::types::Dim;

    fn i64t(shape: &[u64]) -> Type {
        Type::Tensor(TensorType::static_shape(shape, ElemType::I64))
    }

    fn dense(shape: &[u64], v: &[i64]) -> Attribute {
        Attribute::Dense(DenseAttr::from_i64(shape, v).unwrap())
    }

    /// `%s = onnx.Shape(%x) {attrs}` with `x: [batch, 4, 8]`; returns (module, shape op).
    fn shape_of_arg(attrs: &[(&str, i64)], result: Type) -> (Module, Op) {
        let x = Type::tensor(
            vec![Dim::Named("batch".into()), Dim::Static(4), Dim::Static(8)],
            ElemType::F32,
        );
        let mut m = Module::new();
        let (_f, entry) = m.add_func("main", vec![x], vec![]);
        let arg = m.blocks[entry].args[0];
        let mut spec = OpSpec::new("onnx.Shape").operands([arg]).results([result]);
        for (k, v) in attrs {
            spec = spec.attr(*k, Attribute::i64(*v));
        }
        let op = m.build_at_end(entry, spec);
        (m, op)
    }

    #[test]
    fn shape_folds_the_static_part_selected_by_start_and_end() {
        let (m, op) = shape_of_arg(&[("start", 1)], i64t(&[2]));
        assert_eq!(
            fold_shape(&m, op, &[None]),
            Some(vec![dense(&[2], &[4, 8])])
        );
        let (m, op) = shape_of_arg(&[("start", -2), ("end", -1)], i64t(&[1]));
        assert_eq!(fold_shape(&m, op, &[None]), Some(vec![dense(&[1], &[4])]));
        // `batch` is not static: the full shape does not fold.
        let (m, op) = shape_of_arg(&[], i64t(&[3]));
        assert_eq!(fold_shape(&m, op, &[None]), None);
    }

    #[test]
    fn shape_never_changes_the_declared_type() {
        let (m, op) = shape_of_arg(
            &[("start", 1)],
            Type::tensor(vec![Dim::Dynamic], ElemType::I64),
        );
        assert_eq!(fold_shape(&m, op, &[None]), None);
    }

    #[test]
    fn gather_of_shape_folds_static_dims_only() {
        let (mut m, shape) = shape_of_arg(&[], i64t(&[3]));
        let s = m.result(shape, 0);
        let entry = m.ops[shape].parent.unwrap();
        let idx = m.build_at_end(
            entry,
            OpSpec::new("onnx.Constant")
                .attr("value", dense(&[2], &[-1, 1]))
                .results([i64t(&[2])]),
        );
        let idx = m.result(idx, 0);
        let gather = m.build_at_end(
            entry,
            OpSpec::new("onnx.Gather")
                .operands([s, idx])
                .results([i64t(&[2])]),
        );
        let consts = [None, Some(dense(&[2], &[-1, 1]))];
        assert_eq!(
            fold_gather(&m, gather, &consts),
            Some(vec![dense(&[2], &[8, 4])])
        );
        // Index 0 is `batch`.
        let consts = [None, Some(dense(&[2], &[0, 1]))];
        assert_eq!(fold_gather(&m, gather, &consts), None);
        // Out of range.
        let consts = [None, Some(dense(&[2], &[3, 1]))];
        assert_eq!(fold_gather(&m, gather, &consts), None);
    }

    #[test]
    fn size_folds_static_element_counts() {
        let mut m = Module::new();
        let x = Type::Tensor(TensorType::static_shape(&[2, 3, 4], ElemType::F32));
        let (_f, entry) = m.add_func("main", vec![x], vec![]);
        let arg = m.blocks[entry].args[0];
        let op = m.build_at_end(
            entry,
            OpSpec::new("onnx.Size")
                .operands([arg])
                .results([i64t(&[])]),
        );
        assert_eq!(fold_size(&m, op, &[None]), Some(vec![dense(&[], &[24])]));
    }
}
