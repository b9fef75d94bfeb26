//! Unit tests of `shape-infer` on small `onnx.*` modules written in the text format.

use sofa_ir::dialect::DialectRegistry;
use sofa_ir::pass::{Pass, PassContext, PassError, PassOutcome, Statistics};
use sofa_ir::text::{parse_module, print_module, print_type};
use sofa_ir::verify::verify;
use sofa_ir::{Dim, ElemType, Module, Type};

use super::{merge_types, parse_bindings, BindingError, Bindings, ConflictPart, ShapeInfer};
use crate::passes::registry;

/// Parse and verify `src`, run `shape-infer` with `bind`, verify the result.
fn run(src: &str, bind: &str) -> Result<(Module, PassOutcome, Statistics), PassError> {
    let dialects = DialectRegistry::with_core_dialects();
    let mut m = parse_module(src).expect("test input parses");
    verify(&m, &dialects).expect("test input verifies");
    let mut pass = ShapeInfer {
        bindings: parse_bindings(bind).expect("valid bindings"),
    };
    let mut cx = PassContext::new(&dialects);
    let outcome = pass.run(&mut m, &mut cx)?;
    verify(&m, &dialects).unwrap_or_else(|e| panic!("output does not verify:\n{e}"));
    Ok((m, outcome, cx.stats))
}

/// The printed type of the `i`-th result of the first op named `name`.
fn result_type(m: &Module, name: &str) -> String {
    let op = m
        .all_ops()
        .into_iter()
        .find(|&o| m.op(o).name == name)
        .unwrap_or_else(|| panic!("no {name}"));
    print_type(m.value_type(m.result(op, 0)))
}

fn function_type(m: &Module) -> String {
    let func = m.funcs()[0];
    match &m.op(func).props["function_type"] {
        sofa_ir::Attribute::Type(t) => print_type(t),
        other => panic!("{other:?}"),
    }
}

/// `x: [batch, seq, 4]` reshaped to `Concat(Unsqueeze(Gather(Shape(x), 0)), [-1, 2, 2])`, with
/// every intermediate declared as imprecisely as the verifier allows.
const SHAPE_CHAIN: &str = r#"
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<?x?x4xf32, ["batch", "seq"]>) -> tensor<?x?x?x?xf32>, sym_name = "main"}> ({
  ^bb0(%x: tensor<?x?x4xf32, ["batch", "seq"]>):
    %s = "onnx.Shape"(%x) : (tensor<?x?x4xf32, ["batch", "seq"]>) -> tensor<3xi64> loc("shape")
    %i = "onnx.Constant"() {value = dense<0> : tensor<i64>} : () -> tensor<i64> loc("zero")
    %b = "onnx.Gather"(%s, %i) {axis = 0 : i64} : (tensor<3xi64>, tensor<i64>) -> tensor<i64> loc("gather")
    %a = "onnx.Constant"() {value = dense<0> : tensor<1xi64>} : () -> tensor<1xi64> loc("axes")
    %u = "onnx.Unsqueeze"(%b, %a) : (tensor<i64>, tensor<1xi64>) -> tensor<1xi64> loc("unsqueeze")
    %r = "onnx.Constant"() {value = dense<[-1, 2, 2]> : tensor<3xi64>} : () -> tensor<3xi64> loc("rest")
    %c = "onnx.Concat"(%u, %r) {axis = 0 : i64} : (tensor<1xi64>, tensor<3xi64>) -> tensor<4xi64> loc("concat")
    %y = "onnx.Reshape"(%x, %c) : (tensor<?x?x4xf32, ["batch", "seq"]>, tensor<4xi64>) -> tensor<?x?x?x?xf32> loc("reshape")
    "func.return"(%y) : (tensor<?x?x?x?xf32>) -> ()
  }) : () -> ()
}) : () -> ()
"#;

#[test]
fn bindings_parse_in_both_spellings_and_reject_junk() {
    let b = parse_bindings("batch:1, seq=128").unwrap();
    assert_eq!(
        b,
        Bindings::from([("batch".into(), 1), ("seq".into(), 128)])
    );
    assert!(parse_bindings("").unwrap().is_empty());
    let err = |text| parse_bindings(text).unwrap_err();
    assert!(err("batch").to_string().contains("name:size"));
    assert_eq!(
        err("batch:-1"),
        BindingError::BadSize {
            item: "batch:-1".into(),
            size: "-1".into()
        }
    );
    assert!(err(":3").to_string().contains("empty dim name"));
    assert_eq!(err("b:1,b:2").to_string(), "dim 'b' is bound twice");
}

#[test]
fn pipeline_option_builds_and_reports_bad_bindings() {
    let r = registry();
    assert_eq!(r.build("shape-infer{bind=batch:2,seq:8}").unwrap().len(), 1);
    let e = r
        .build("shape-infer{bind=batch:x}")
        .err()
        .expect("bad size");
    assert!(e.message.contains("size 'x'"), "{}", e.message);
}

#[test]
fn binding_and_folded_shape_chain_make_the_reshape_static() {
    let (m, outcome, stats) = run(SHAPE_CHAIN, "batch:2,seq:3").unwrap();
    assert_eq!(outcome, PassOutcome::Changed);
    // Shape(x) = [2, 3, 4] is known in memory, so the Reshape target [2, -1, 2, 2] is constant.
    assert_eq!(result_type(&m, "onnx.Reshape"), "tensor<2x3x2x2xf32>");
    assert_eq!(
        function_type(&m),
        "(tensor<2x3x4xf32>) -> tensor<2x3x2x2xf32>"
    );
    // One value (the argument) holds both named dims.
    assert_eq!(stats.get("dims-bound"), 2);
    assert_eq!(stats.get("values-refined"), 1);
    assert_eq!(stats.get("signatures-updated"), 1);
}

#[test]
fn without_bindings_the_chain_stays_symbolic() {
    let (m, _, stats) = run(SHAPE_CHAIN, "").unwrap();
    // The Reshape target is not constant (batch is unknown): its rank is kept, dims stay `?`.
    assert_eq!(result_type(&m, "onnx.Reshape"), "tensor<?x?x?x?xf32>");
    assert_eq!(stats.get("dims-bound"), 0);
    assert_eq!(stats.get("values-refined"), 0);
}

#[test]
fn the_pass_is_idempotent() {
    let (mut m, _, _) = run(SHAPE_CHAIN, "batch:2,seq:3").unwrap();
    let first = print_module(&m);
    let dialects = DialectRegistry::with_core_dialects();
    let mut cx = PassContext::new(&dialects);
    let mut again = ShapeInfer {
        bindings: parse_bindings("batch:2,seq:3").unwrap(),
    };
    assert_eq!(again.run(&mut m, &mut cx).unwrap(), PassOutcome::Unchanged);
    assert_eq!(print_module(&m), first);
    assert_eq!(cx.stats.get("values-refined"), 0);
}

#[test]
fn imprecise_result_types_are_refined_from_operands() {
    let src = r#"
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<?x8xf32, ["batch"]>, tensor<8xf32>) -> tensor<?x?xf32>, sym_name = "main"}> ({
  ^bb0(%x: tensor<?x8xf32, ["batch"]>, %y: tensor<8xf32>):
    %0 = "onnx.Add"(%x, %y) : (tensor<?x8xf32, ["batch"]>, tensor<8xf32>) -> tensor<?x?xf32> loc("add")
    %1 = "onnx.Relu"(%0) : (tensor<?x?xf32>) -> tensor<?x?xf32> loc("relu")
    "func.return"(%1) : (tensor<?x?xf32>) -> ()
  }) : () -> ()
}) : () -> ()
"#;
    let (m, _, stats) = run(src, "").unwrap();
    assert_eq!(result_type(&m, "onnx.Add"), r#"tensor<?x8xf32, ["batch"]>"#);
    assert_eq!(
        result_type(&m, "onnx.Relu"),
        r#"tensor<?x8xf32, ["batch"]>"#
    );
    assert_eq!(
        function_type(&m),
        r#"(tensor<?x8xf32, ["batch"]>, tensor<8xf32>) -> tensor<?x8xf32, ["batch"]>"#
    );
    assert_eq!(stats.get("values-refined"), 2);
}

#[test]
fn contradictions_name_the_op_and_its_location() {
    let src = r#"
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<2x4xf32>) -> tensor<3x4xf32>, sym_name = "main"}> ({
  ^bb0(%x: tensor<2x4xf32>):
    %0 = "onnx.Relu"(%x) : (tensor<2x4xf32>) -> tensor<3x4xf32> loc("bad_relu")
    "func.return"(%0) : (tensor<3x4xf32>) -> ()
  }) : () -> ()
}) : () -> ()
"#;
    let e = run(src, "").expect_err("contradiction");
    assert_eq!(
        e.message,
        "'onnx.Relu' op #2 at loc(\"bad_relu\"): result #0: inferred type tensor<2x4xf32> \
         contradicts the declared tensor<3x4xf32>: dim #0"
    );
    let src = src
        .replace("-> tensor<3x4xf32> loc", "-> tensor<2x4xi64> loc")
        .replace("tensor<3x4xf32>", "tensor<2x4xi64>");
    let e = run(&src, "").expect_err("element type mismatch");
    assert!(e.message.contains("element types differ"), "{}", e.message);
    assert!(e.message.contains("bad_relu"), "{}", e.message);
}

#[test]
fn a_binding_that_breaks_broadcasting_is_an_error() {
    let src = r#"
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<?xf32, ["seq"]>, tensor<4xf32>) -> tensor<4xf32>, sym_name = "main"}> ({
  ^bb0(%x: tensor<?xf32, ["seq"]>, %p: tensor<4xf32>):
    %0 = "onnx.Add"(%x, %p) : (tensor<?xf32, ["seq"]>, tensor<4xf32>) -> tensor<4xf32> loc("pos_add")
    "func.return"(%0) : (tensor<4xf32>) -> ()
  }) : () -> ()
}) : () -> ()
"#;
    assert!(run(src, "seq:4").is_ok());
    let e = run(src, "seq:5").expect_err("5 vs 4");
    assert!(
        e.message.contains("pos_add") && e.message.contains("dims 5 and 4 do not broadcast"),
        "{}",
        e.message
    );
}

#[test]
fn merge_prefers_static_then_named_then_unknown() {
    let t = |dims: Vec<Dim>| Type::tensor(dims, ElemType::F32);
    let named = |s: &str| Dim::Named(s.into());
    let cur = t(vec![Dim::Dynamic, named("seq"), Dim::Static(4), named("a")]);
    let new = t(vec![
        named("batch"),
        Dim::Static(8),
        Dim::Dynamic,
        named("b"),
    ]);
    assert_eq!(
        merge_types(&cur, &new).unwrap(),
        t(vec![
            named("batch"),
            Dim::Static(8),
            Dim::Static(4),
            named("a")
        ])
    );
    let ranks = merge_types(&t(vec![Dim::Dynamic]), &t(vec![])).unwrap_err();
    assert_eq!(ranks.part, ConflictPart::Rank);
    assert!(ranks.to_string().contains("ranks differ"), "{ranks}");
    assert!(merge_types(&Type::None, &t(vec![])).is_err());
}
