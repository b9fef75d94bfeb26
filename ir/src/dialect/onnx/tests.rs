//! Unit tests of the `onnx` table, inference rules and verifiers on small hand-built modules.

use super::ops::OPS;
use super::shape::{broadcast_shapes, reshape_dims, ShapeEntry, ShapeError};
use crate::attr::{Attribute, DenseAttr};
use crate::dialect::{DialectRegistry, InferError, Trait};
use crate::module::{Module, Op, OpSpec};
use crate::types::{Dim, ElemType, Type};

fn named(s: &str) -> Dim {
    Dim::Named(s.into())
}

fn st(n: u64) -> Dim {
    Dim::Static(n)
}

fn f32t(dims: Vec<Dim>) -> Type {
    Type::tensor(dims, ElemType::F32)
}

/// A module with one function taking `args`, and `name` applied to them with `attrs`.
fn build(
    name: &str,
    args: Vec<Type>,
    attrs: Vec<(&str, Attribute)>,
    n_results: usize,
) -> (Module, Op) {
    let mut m = Module::new();
    let (_, entry) = m.add_func("main", args, vec![]);
    let operands = m.blocks[entry].args.clone();
    let mut spec = OpSpec::new(name)
        .operands(operands)
        .results(vec![Type::None; n_results]);
    for (k, v) in attrs {
        spec = spec.attr(k, v);
    }
    let op = m.build_at_end(entry, spec);
    (m, op)
}

fn infer(m: &Module, op: Op, consts: &[Option<Attribute>]) -> Result<Vec<Type>, InferError> {
    let def = DialectRegistry::with_core_dialects()
        .lookup(&m.ops[op].name)
        .expect("registered");
    (def.infer.expect("infer hook"))(m, op, consts)
}

fn verify(m: &Module, op: Op) -> Vec<String> {
    let def = DialectRegistry::with_core_dialects()
        .lookup(&m.ops[op].name)
        .expect("registered");
    let mut errors = Vec::new();
    if let Some(v) = def.verify {
        v(m, op, &mut errors);
    }
    errors
}

fn i64s(values: &[i64]) -> Option<Attribute> {
    Some(Attribute::Dense(
        DenseAttr::from_i64(&[values.len() as u64], values).unwrap(),
    ))
}

#[test]
fn table_is_sorted_complete_and_registered() {
    let names: Vec<&str> = OPS.iter().map(|d| d.name).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted);
    let reg = DialectRegistry::with_core_dialects();
    for op in [
        "Attention",
        "RotaryEmbedding",
        "RMSNormalization",
        "Where",
        "NoValue",
        "Trilu",
    ] {
        assert!(reg.lookup(&format!("onnx.{op}")).is_some(), "{op}");
    }
    assert!(reg.has_trait("onnx.Constant", Trait::ConstantLike));
    assert!(reg.has_trait("onnx.Mul", Trait::Commutative));
    assert!(!reg.has_trait("onnx.Sub", Trait::Commutative));
    assert!(OPS
        .iter()
        .all(|d| d.infer.is_some() && d.fold.is_some() && d.has_trait(Trait::Pure)));
}

#[test]
fn broadcasting_keeps_names_and_rejects_mismatch() {
    let a = vec![named("batch"), st(1), named("seq"), st(4)];
    let b = vec![st(3), named("seq"), st(1)];
    assert_eq!(
        broadcast_shapes(&a, &b).unwrap(),
        vec![named("batch"), st(3), named("seq"), st(4)]
    );
    assert!(broadcast_shapes(&[st(2)], &[st(3)]).is_err());
    assert_eq!(
        broadcast_shapes(&[named("a")], &[named("b")]).unwrap(),
        vec![Dim::Dynamic]
    );
}

#[test]
fn reshape_copies_zero_and_infers_minus_one() {
    let input = vec![named("batch"), named("seq"), st(128)];
    let t = [
        ShapeEntry::Lit(0),
        ShapeEntry::Lit(0),
        ShapeEntry::Lit(4),
        ShapeEntry::Lit(-1),
    ];
    assert_eq!(
        reshape_dims(&input, &t, false).unwrap(),
        vec![named("batch"), named("seq"), st(4), st(32)]
    );
    let t = [ShapeEntry::Lit(-1), ShapeEntry::Lit(128)];
    assert_eq!(
        reshape_dims(&input, &t, false).unwrap(),
        vec![Dim::Dynamic, st(128)]
    );
    let t = [
        ShapeEntry::Sym(named("batch")),
        ShapeEntry::Lit(-1),
        ShapeEntry::Lit(32),
    ];
    assert_eq!(
        reshape_dims(&[named("batch"), st(8), st(16)], &t, false).unwrap(),
        vec![named("batch"), st(4), st(32)]
    );
    assert!(reshape_dims(&[st(6)], &[ShapeEntry::Lit(4)], false).is_err());
    assert!(reshape_dims(
        &[st(6)],
        &[ShapeEntry::Lit(1 << 62), ShapeEntry::Lit(1 << 62)],
        false
    )
    .is_err());
}

#[test]
fn matmul_broadcasts_batches_and_checks_inner_dims() {
    let a = f32t(vec![named("b"), st(4), named("s"), st(32)]);
    let b = f32t(vec![st(32), st(7)]);
    let (m, op) = build("onnx.MatMul", vec![a, b], vec![], 1);
    assert_eq!(
        infer(&m, op, &[None, None]).unwrap(),
        vec![f32t(vec![named("b"), st(4), named("s"), st(7)])]
    );
    let (m, op) = build(
        "onnx.MatMul",
        vec![f32t(vec![st(2), st(3)]), f32t(vec![st(4), st(5)])],
        vec![],
        1,
    );
    assert_eq!(
        infer(&m, op, &[None, None]),
        Err(InferError::InnerDims(ShapeError::Differ(3, 4)))
    );
    assert_eq!(verify(&m, op).len(), 1);
    let (m, op) = build(
        "onnx.MatMul",
        vec![f32t(vec![st(3)]), f32t(vec![st(2), st(3), st(5)])],
        vec![],
        1,
    );
    assert_eq!(
        infer(&m, op, &[None, None]).unwrap(),
        vec![f32t(vec![st(2), st(5)])]
    );
}

#[test]
fn transpose_verifier_rejects_non_permutations() {
    let x = f32t(vec![st(1), st(2), st(3)]);
    let (m, op) = build(
        "onnx.Transpose",
        vec![x.clone()],
        vec![("perm", Attribute::i64_array(&[2, 0, 1]))],
        1,
    );
    assert!(verify(&m, op).is_empty());
    assert_eq!(
        infer(&m, op, &[None]).unwrap(),
        vec![f32t(vec![st(3), st(1), st(2)])]
    );
    let (m, op) = build(
        "onnx.Transpose",
        vec![x],
        vec![("perm", Attribute::i64_array(&[0, 0, 1]))],
        1,
    );
    assert_eq!(verify(&m, op).len(), 1);
}

#[test]
fn unsqueeze_squeeze_and_reduce_use_constant_axes() {
    let x = f32t(vec![named("b"), st(1), st(8)]);
    let axes = Type::tensor(vec![st(1)], ElemType::I64);
    let (m, op) = build("onnx.Squeeze", vec![x.clone(), axes.clone()], vec![], 1);
    assert_eq!(
        infer(&m, op, &[None, i64s(&[1])]).unwrap(),
        vec![f32t(vec![named("b"), st(8)])]
    );
    assert_eq!(
        infer(&m, op, &[None, i64s(&[2])]),
        Err(InferError::Squeeze { axis: 2, size: 8 })
    );
    let (m, op) = build(
        "onnx.Unsqueeze",
        vec![x.clone(), Type::tensor(vec![st(2)], ElemType::I64)],
        vec![],
        1,
    );
    assert_eq!(
        infer(&m, op, &[None, i64s(&[0, -1])]).unwrap(),
        vec![f32t(vec![st(1), named("b"), st(1), st(8), st(1)])]
    );
    let (m, op) = build(
        "onnx.ReduceMean",
        vec![x],
        vec![("keepdims", Attribute::i64(0))],
        1,
    );
    assert_eq!(infer(&m, op, &[None]).unwrap(), vec![f32t(vec![])]);
}

#[test]
fn slice_split_shape_and_gather() {
    let x = f32t(vec![named("b"), st(10), st(384)]);
    let i1 = Type::tensor(vec![st(1)], ElemType::I64);
    let (m, op) = build(
        "onnx.Slice",
        vec![x.clone(), i1.clone(), i1.clone(), i1.clone(), i1.clone()],
        vec![],
        1,
    );
    let r = infer(
        &m,
        op,
        &[None, i64s(&[-1]), i64s(&[-100]), i64s(&[1]), i64s(&[-3])],
    )
    .unwrap();
    assert_eq!(r, vec![f32t(vec![named("b"), st(4), st(384)])]);
    let (m, op) = build(
        "onnx.Split",
        vec![x.clone()],
        vec![("axis", Attribute::i64(2))],
        3,
    );
    let r = infer(&m, op, &[None]).unwrap();
    assert_eq!(r[2], f32t(vec![named("b"), st(10), st(128)]));
    let (m, op) = build(
        "onnx.Shape",
        vec![x.clone()],
        vec![("start", Attribute::i64(-2))],
        1,
    );
    assert_eq!(
        infer(&m, op, &[None]).unwrap(),
        vec![Type::tensor(vec![st(2)], ElemType::I64)]
    );
    let idx = Type::tensor(vec![named("b"), named("s")], ElemType::I64);
    let (m, op) = build(
        "onnx.Gather",
        vec![f32t(vec![st(1000), st(128)]), idx],
        vec![],
        1,
    );
    assert_eq!(
        infer(&m, op, &[None, None]).unwrap(),
        vec![f32t(vec![named("b"), named("s"), st(128)])]
    );
}

#[test]
fn attention_3d_and_4d_outputs() {
    let q = f32t(vec![named("b"), named("s"), st(128)]);
    let attrs = vec![
        ("q_num_heads", Attribute::i64(4)),
        ("kv_num_heads", Attribute::i64(2)),
    ];
    let kv = f32t(vec![named("b"), named("s"), st(64)]);
    let (m, op) = build("onnx.Attention", vec![q, kv.clone(), kv], attrs, 1);
    assert!(verify(&m, op).is_empty());
    assert_eq!(
        infer(&m, op, &[]).unwrap(),
        vec![f32t(vec![named("b"), named("s"), st(128)])]
    );
    let q4 = f32t(vec![st(1), st(8), named("s"), st(16)]);
    let k4 = f32t(vec![st(1), st(2), named("s"), st(16)]);
    let (m, op) = build("onnx.Attention", vec![q4, k4.clone(), k4], vec![], 4);
    let r = infer(&m, op, &[]).unwrap();
    assert_eq!(r[0], f32t(vec![st(1), st(8), named("s"), st(16)]));
    assert_eq!(r[3], f32t(vec![st(1), st(8), named("s"), named("s")]));
}

#[test]
fn range_constant_of_shape_cast_and_overflow() {
    let s = Type::tensor(vec![], ElemType::I64);
    let (m, op) = build("onnx.Range", vec![s.clone(), s.clone(), s], vec![], 1);
    let sc = |v: i64| Some(Attribute::Dense(DenseAttr::from_i64(&[], &[v]).unwrap()));
    assert_eq!(
        infer(&m, op, &[sc(10), sc(0), sc(-3)]).unwrap(),
        vec![Type::tensor(vec![st(4)], ElemType::I64)]
    );
    let (m, op) = build(
        "onnx.ConstantOfShape",
        vec![Type::tensor(vec![st(2)], ElemType::I64)],
        vec![],
        1,
    );
    assert_eq!(
        infer(&m, op, &[i64s(&[2, 3])]).unwrap(),
        vec![f32t(vec![st(2), st(3)])]
    );
    assert!(infer(&m, op, &[i64s(&[1 << 62, 1 << 62])]).is_err());
    assert!(infer(&m, op, &[i64s(&[1 << 62, 4])]).is_err());
    let (m, op) = build(
        "onnx.Cast",
        vec![f32t(vec![st(2)])],
        vec![("to", Attribute::i64(9))],
        1,
    );
    assert_eq!(
        infer(&m, op, &[None]).unwrap(),
        vec![Type::tensor(vec![st(2)], ElemType::I1)]
    );
    let (m, op) = build(
        "onnx.Cast",
        vec![f32t(vec![st(2)])],
        vec![("to", Attribute::i64(11))],
        1,
    );
    let e = infer(&m, op, &[None]).unwrap_err();
    assert_eq!(e, InferError::CastTarget(11));
    assert_eq!(e.to_string(), "unsupported Cast target type 11");
}

#[test]
fn conv_and_gemm_shapes() {
    let x = f32t(vec![named("b"), st(3), st(32), st(32)]);
    let w = f32t(vec![st(128), st(3), st(8), st(8)]);
    let (m, op) = build(
        "onnx.Conv",
        vec![x, w],
        vec![("strides", Attribute::i64_array(&[8, 8]))],
        1,
    );
    assert_eq!(
        infer(&m, op, &[None, None]).unwrap(),
        vec![f32t(vec![named("b"), st(128), st(4), st(4)])]
    );
    let a = f32t(vec![Dim::Dynamic, st(128)]);
    let b = f32t(vec![st(384), st(128)]);
    let (m, op) = build(
        "onnx.Gemm",
        vec![a, b, f32t(vec![st(384)])],
        vec![("transB", Attribute::i64(1))],
        1,
    );
    assert_eq!(
        infer(&m, op, &[None, None, None]).unwrap(),
        vec![f32t(vec![Dim::Dynamic, st(384)])]
    );
}

#[test]
fn where_and_compare_types() {
    let c = Type::tensor(
        vec![named("b"), st(1), named("s"), named("s")],
        ElemType::I1,
    );
    let (m, op) = build(
        "onnx.Where",
        vec![c, f32t(vec![]), f32t(vec![st(1)])],
        vec![],
        1,
    );
    assert_eq!(
        infer(&m, op, &[None, None, None]).unwrap(),
        vec![f32t(vec![named("b"), st(1), named("s"), named("s")])]
    );
    let (m, op) = build(
        "onnx.Less",
        vec![f32t(vec![st(3)]), f32t(vec![])],
        vec![],
        1,
    );
    assert_eq!(
        infer(&m, op, &[None, None]).unwrap(),
        vec![Type::tensor(vec![st(3)], ElemType::I1)]
    );
}

#[test]
fn concat_sums_axis_and_unifies_others() {
    let a = Type::tensor(vec![st(1)], ElemType::I64);
    let (m, op) = build(
        "onnx.Concat",
        vec![a.clone(), a.clone(), a],
        vec![("axis", Attribute::i64(0))],
        1,
    );
    assert_eq!(
        infer(&m, op, &[]).unwrap(),
        vec![Type::tensor(vec![st(3)], ElemType::I64)]
    );
    let (m, op) = build(
        "onnx.Concat",
        vec![f32t(vec![st(1)]), f32t(vec![st(1), st(2)])],
        vec![("axis", Attribute::i64(0))],
        1,
    );
    assert_eq!(verify(&m, op).len(), 1);
}

#[test]
fn slice_counts_follow_onnx_clamping() {
    use super::infer::slice_count;
    assert_eq!(slice_count(5, 0, i64::MAX, 1), Ok(5));
    assert_eq!(slice_count(5, -1, i64::MIN, -1), Ok(5));
    assert_eq!(slice_count(5, 1, 4, 2), Ok(2));
    assert_eq!(slice_count(0, -1, i64::MIN, -1), Ok(0));
    assert_eq!(slice_count(10, 0, 10, i64::MAX), Ok(1));
    assert_eq!(slice_count(10, 9, 0, i64::MIN), Ok(1));
    assert!(slice_count(3, 0, 3, 0).is_err());
}
