//! Constant folding through `fold_onnx`.

use super::*;
use crate::module::{Module, OpSpec};
use crate::types::{Dim, TensorType, Type};

fn ty(shape: &[u64], elem: ElemType) -> Type {
    Type::Tensor(TensorType::static_shape(shape, elem))
}

/// A module with `%c = onnx.Constant`, `%s = onnx.Shape(%x)` and returns; hands back the op.
fn build(
    op: &str,
    operand_types: &[Type],
    result: Type,
    attrs: &[(&str, Attribute)],
) -> (Module, crate::module::Op) {
    let mut m = Module::new();
    m.ops[m.top]
        .attrs
        .insert("onnx.opset".into(), Attribute::i64(17));
    let (_f, entry) = m.add_func("main", operand_types.to_vec(), vec![result.clone()]);
    let args = m.blocks[entry].args.clone();
    let mut spec = OpSpec::new(op).operands(args).results([result]);
    for (k, v) in attrs {
        spec = spec.attr(*k, v.clone());
    }
    let op = m.build_at_end(entry, spec);
    (m, op)
}

fn dense_i64(shape: &[u64], v: &[i64]) -> Attribute {
    Attribute::Dense(DenseAttr::from_i64(shape, v).unwrap())
}

#[test]
fn folds_small_arithmetic_to_dense() {
    let (m, op) = build(
        "onnx.Add",
        &[ty(&[2], ElemType::I64), ty(&[], ElemType::I64)],
        ty(&[2], ElemType::I64),
        &[],
    );
    let folded = fold_onnx(
        &m,
        op,
        &[Some(dense_i64(&[2], &[1, 2])), Some(dense_i64(&[], &[10]))],
    )
    .unwrap();
    assert_eq!(folded, vec![dense_i64(&[2], &[11, 12])]);
    assert_eq!(module_opset(&m), 17);
}

#[test]
fn does_not_fold_non_constant_large_or_mistyped() {
    let (m, op) = build(
        "onnx.Add",
        &[ty(&[2], ElemType::I64), ty(&[], ElemType::I64)],
        ty(&[2], ElemType::I64),
        &[],
    );
    assert!(fold_onnx(&m, op, &[Some(dense_i64(&[2], &[1, 2])), None]).is_none());
    // Declared result type disagrees with the computed one (f32 vs i64).
    let (m, op) = build(
        "onnx.Add",
        &[ty(&[2], ElemType::I64), ty(&[], ElemType::I64)],
        ty(&[2], ElemType::F32),
        &[],
    );
    assert!(fold_onnx(
        &m,
        op,
        &[Some(dense_i64(&[2], &[1, 2])), Some(dense_i64(&[], &[10]))]
    )
    .is_none());
    // A result beyond FOLD_MAX_DERIVED_ELEMENTS is too big to fold even from inline constants.
    let n = FOLD_MAX_DERIVED_ELEMENTS as i64 + 1;
    let (m, op) = build(
        "onnx.ConstantOfShape",
        &[ty(&[1], ElemType::I64)],
        ty(&[n as u64], ElemType::F32),
        &[],
    );
    assert!(fold_onnx(&m, op, &[Some(dense_i64(&[1], &[n]))]).is_none());
    // A failing kernel does not fold (and does not panic).
    let (m, op) = build(
        "onnx.Div",
        &[ty(&[1], ElemType::I64), ty(&[1], ElemType::I64)],
        ty(&[1], ElemType::I64),
        &[],
    );
    assert!(fold_onnx(
        &m,
        op,
        &[Some(dense_i64(&[1], &[1])), Some(dense_i64(&[1], &[0]))]
    )
    .is_none());
}

#[test]
fn position_arithmetic_folds_large_but_weights_stay_small() {
    // A 64 x 64 causal mask from two inline position vectors folds.
    let (m, op) = build(
        "onnx.LessOrEqual",
        &[ty(&[1, 64], ElemType::I64), ty(&[64, 1], ElemType::I64)],
        ty(&[64, 64], ElemType::I1),
        &[],
    );
    let pos: Vec<i64> = (0..64).collect();
    let folded = fold_onnx(
        &m,
        op,
        &[
            Some(dense_i64(&[1, 64], &pos)),
            Some(dense_i64(&[64, 1], &pos)),
        ],
    )
    .unwrap();
    let Attribute::Dense(mask) = &folded[0] else {
        panic!("not dense")
    };
    assert_eq!(mask.len(), 4096);
    // The same size computed from an initializer payload (a resource) does not: weights are
    // never rewritten into new constants by folding. The pass hands hooks resolved values, so
    // the payload is recognised by the constant op defining the operand.
    let mut m = Module::new();
    let w_ty = ty(&[64, 64], ElemType::F32);
    let (_f, entry) = m.add_func("main", vec![], vec![w_ty.clone()]);
    let bytes: Vec<u8> = (0..4096).flat_map(|i| (i as f32).to_le_bytes()).collect();
    m.resources.insert(
        "w".into(),
        crate::attr::Resource {
            alignment: 4,
            bytes: bytes.clone().into(),
            origin: None,
        },
    );
    let w = Attribute::DenseResource {
        name: "w".into(),
        ty: TensorType::static_shape(&[64, 64], ElemType::F32),
    };
    let c = m.build_at_end(
        entry,
        OpSpec::new("onnx.Constant")
            .attr("value", w)
            .results([w_ty.clone()]),
    );
    let wv = m.result(c, 0);
    let neg = m.build_at_end(
        entry,
        OpSpec::new("onnx.Neg")
            .operands([wv])
            .results([w_ty.clone()]),
    );
    let resolved = DenseAttr::new(TensorType::static_shape(&[64, 64], ElemType::F32), bytes)
        .map(Attribute::Dense);
    assert!(fold_onnx(&m, neg, &[resolved]).is_none());
}

#[test]
fn shape_arithmetic_folds_regardless_of_size_and_dynamic_dims_match() {
    let (m, op) = build(
        "onnx.Range",
        &[
            ty(&[], ElemType::I64),
            ty(&[], ElemType::I64),
            ty(&[], ElemType::I64),
        ],
        Type::tensor(vec![Dim::Dynamic], ElemType::I64),
        &[],
    );
    let folded = fold_onnx(
        &m,
        op,
        &[
            Some(dense_i64(&[], &[0])),
            Some(dense_i64(&[], &[5000])),
            Some(dense_i64(&[], &[1])),
        ],
    )
    .unwrap();
    let Attribute::Dense(d) = &folded[0] else {
        panic!("not dense")
    };
    assert_eq!(d.len(), 5000);
    assert_eq!(d.get_i64(4999), 4999);
}

#[test]
fn absent_optional_operands_fold_as_absent() {
    let mut m = Module::new();
    let i64_1 = ty(&[1], ElemType::I64);
    let inputs = vec![ty(&[4], ElemType::F32), i64_1.clone(), i64_1.clone(), i64_1];
    let (_f, entry) = m.add_func("main", inputs, vec![]);
    let args = m.blocks[entry].args.clone();
    let none = m.build_at_end(entry, OpSpec::new("onnx.NoValue").results([Type::None]));
    let nv = m.result(none, 0);
    // Slice(x, starts, ends, <absent axes>, steps).
    let operands = [args[0], args[1], args[2], nv, args[3]];
    let slice = m.build_at_end(
        entry,
        OpSpec::new("onnx.Slice")
            .operands(operands)
            .results([ty(&[2], ElemType::F32)]),
    );
    let x = Attribute::Dense(DenseAttr::from_f32(&[4], &[1.0, 2.0, 3.0, 4.0]).unwrap());
    let consts = [
        Some(x),
        Some(dense_i64(&[1], &[3])),
        Some(dense_i64(&[1], &[0])),
        None,
        Some(dense_i64(&[1], &[-2])),
    ];
    let folded = fold_onnx(&m, slice, &consts).unwrap();
    assert_eq!(
        folded,
        vec![Attribute::Dense(
            DenseAttr::from_f32(&[2], &[4.0, 2.0]).unwrap()
        )]
    );
    assert!(fold_onnx(&m, none, &[]).is_none(), "NoValue never folds");
}
