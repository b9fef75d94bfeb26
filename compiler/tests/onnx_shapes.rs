//! Symbolic shape values: run-time shape arithmetic (Shape → Gather → Unsqueeze → Concat, the
//! exporters' spelling of `x.view(b, s, h, d)`) keeps named dims in the imported types.

mod onnx_common;

use onnx_common::*;
use sofa_compiler::onnx::proto::GraphProto;
use sofa_compiler::onnx::{import_bytes, ImportOptions};
use sofa_ir::{Dim, ElemType, Module, Type};

const F32: i32 = 1;

fn import(g: GraphProto) -> Module {
    import_bytes(&encode(&model(17, g)), None, &ImportOptions::default()).expect("imports")
}

fn result_type(m: &Module, op_name: &str) -> Type {
    let op = m
        .all_ops()
        .into_iter()
        .find(|&o| m.ops[o].name == op_name)
        .expect("op present");
    m.value_type(m.ops[op].results[0]).clone()
}

fn named(s: &str) -> Dim {
    Dim::Named(s.into())
}

#[test]
fn reshape_target_built_from_shape_keeps_named_dims() {
    let mut g = GraphProto {
        node: vec![
            node("Shape", "shape", &["x"], &["s"]),
            node("Gather", "g0", &["s", "i0"], &["b"]),
            node("Gather", "g1", &["s", "i1"], &["n"]),
            node("Unsqueeze", "u0", &["b", "ax"], &["b1"]),
            node("Unsqueeze", "u1", &["n", "ax"], &["n1"]),
            node(
                "Concat",
                "cat",
                &["b1", "n1", "heads", "minus1"],
                &["target"],
            ),
            node("Reshape", "view", &["x", "target"], &["y"]),
        ],
        input: vec![value_info(
            "x",
            F32,
            &[D::P("batch"), D::P("seq"), D::N(128)],
        )],
        // Declared under other names: only inference can produce `batch` and `seq`.
        output: vec![value_info(
            "y",
            F32,
            &[D::P("d0"), D::P("d1"), D::N(4), D::N(32)],
        )],
        ..GraphProto::default()
    };
    g.node[5].attribute.push(int_attr("axis", 0));
    g.initializer.extend([
        i64_tensor("i0", &[], &[0]),
        i64_tensor("i1", &[], &[1]),
        i64_tensor("ax", &[1], &[0]),
        i64_tensor("heads", &[1], &[4]),
        i64_tensor("minus1", &[1], &[-1]),
    ]);
    let m = import(g);
    assert_eq!(
        result_type(&m, "onnx.Reshape"),
        Type::tensor(
            vec![
                named("batch"),
                named("seq"),
                Dim::Static(4),
                Dim::Static(32)
            ],
            ElemType::F32
        )
    );
}

#[test]
fn expand_with_the_torchscript_minus_one_guard_keeps_named_dims() {
    // target = Where(Equal(shape, -1 * ones), ones, shape), as TorchScript writes expand().
    let g = GraphProto {
        node: vec![
            node("Shape", "shape", &["x"], &["s"]),
            node("Mul", "neg_ones", &["ones", "minus1"], &["m"]),
            node("Equal", "eq", &["s", "m"], &["c"]),
            node("Where", "w", &["c", "ones", "s"], &["target"]),
            node("Expand", "expand", &["mask", "target"], &["y"]),
        ],
        input: vec![
            value_info(
                "x",
                F32,
                &[D::P("batch"), D::N(1), D::P("seq"), D::P("seq")],
            ),
            value_info("mask", F32, &[D::P("batch"), D::N(1), D::N(1), D::P("seq")]),
        ],
        output: vec![value_info(
            "y",
            F32,
            &[D::P("d0"), D::N(1), D::P("d2"), D::P("d3")],
        )],
        initializer: vec![
            i64_tensor("ones", &[4], &[1, 1, 1, 1]),
            i64_tensor("minus1", &[], &[-1]),
        ],
        ..GraphProto::default()
    };
    let m = import(g);
    let want = Type::tensor(
        vec![named("batch"), Dim::Static(1), named("seq"), named("seq")],
        ElemType::F32,
    );
    assert_eq!(result_type(&m, "onnx.Expand"), want);
}

#[test]
fn range_and_slice_bounded_by_a_named_dim() {
    let g = GraphProto {
        node: vec![
            node("Shape", "shape", &["ids"], &["s"]),
            node("Gather", "len", &["s", "i1"], &["n"]),
            node("Range", "pos", &["zero", "n", "one"], &["p"]),
            node("Unsqueeze", "u", &["n", "ax"], &["n1"]),
            node("Slice", "rows", &["table", "ax", "n1", "ax"], &["t"]),
            node("Gather", "emb", &["t", "p"], &["y"]),
        ],
        input: vec![value_info("ids", 7, &[D::P("batch"), D::P("seq")])],
        output: vec![value_info("y", F32, &[D::P("d0"), D::N(8)])],
        initializer: vec![
            i64_tensor("i1", &[], &[1]),
            i64_tensor("zero", &[], &[0]),
            i64_tensor("one", &[], &[1]),
            i64_tensor("ax", &[1], &[0]),
            f32_tensor_raw("table", &[64, 8], &[0.0; 512]),
        ],
        ..GraphProto::default()
    };
    let m = import(g);
    assert_eq!(
        result_type(&m, "onnx.Range"),
        Type::tensor(vec![named("seq")], ElemType::I64)
    );
    assert_eq!(
        result_type(&m, "onnx.Slice"),
        Type::tensor(vec![named("seq"), Dim::Static(8)], ElemType::F32)
    );
}
