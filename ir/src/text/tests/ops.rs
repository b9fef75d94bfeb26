use super::parse_ok;
use crate::attr::Attribute;
use crate::location::Location;
use crate::module::{Module, OpSpec, ValueDef};
use crate::text::{parse_module, print_module, print_op};
use crate::types::{ElemType, TensorType, Type};

fn t2() -> Type {
    Type::Tensor(TensorType::static_shape(&[2], ElemType::F32))
}

const FUNC: &str = r#""builtin.module"() ({
  "func.func"() <{function_type = (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>, sym_name = "main"}> ({
  ^bb0(%arg0: tensor<2xf32> loc("x"), %arg1: tensor<2xf32> loc("y")):
    %0 = "onnx.Add"(%arg0, %arg1) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32> loc("add")
    "func.return"(%0) : (tensor<2xf32>) -> () loc(unknown)
  }) : () -> () loc(unknown)
}) : () -> () loc(unknown)
"#;

#[test]
fn function_round_trips_exactly() {
    let (m, text) = parse_ok(FUNC);
    assert_eq!(text, FUNC);
    let f = m.funcs()[0];
    let entry = m.entry_block(f).unwrap();
    assert_eq!(m.blocks[entry].arg_locs[1], Location::name("y"));
    let add = m.blocks[entry].ops[0];
    assert_eq!(m.ops[add].operands, m.blocks[entry].args);
    assert_eq!(m.ops[add].loc, Location::name("add"));
}

#[test]
fn built_module_prints_like_the_parser_expects() {
    let mut m = Module::new();
    let (_f, entry) = m.add_func("main", vec![t2(), t2()], vec![t2()]);
    let [x, y] = [m.blocks[entry].args[0], m.blocks[entry].args[1]];
    m.blocks[entry].arg_locs = vec![Location::name("x"), Location::name("y")];
    let add = m.build_at_end(
        entry,
        OpSpec::new("onnx.Add")
            .operands([x, y])
            .results([t2()])
            .loc(Location::name("add")),
    );
    let r = m.result(add, 0);
    m.build_at_end(entry, OpSpec::new("func.return").operands([r]));
    assert_eq!(print_module(&m), FUNC);
}

#[test]
fn empty_module_keeps_its_body_block() {
    let text = print_module(&Module::new());
    assert_eq!(
        text,
        "\"builtin.module\"() ({\n^bb0:\n}) : () -> () loc(unknown)\n"
    );
    let (m, _) = parse_ok(&text);
    assert!(m.body().is_some());
    // An empty file is an empty module too.
    let (m, again) = parse_ok("// nothing here\n");
    assert!(m.body().is_some());
    assert_eq!(again, text);
}

#[test]
fn multi_result_ops_and_groups() {
    let src = r#"%0:2 = "t.split"() : () -> (i32, i64)
%a, %b:2 = "t.three"(%0#1, %0#0) : (i64, i32) -> (f32, i1, i1)
"t.use"(%b#1, %a) : (i1, f32) -> ()
"#;
    let (m, text) = parse_ok(src);
    assert!(
        text.contains("  %0:2 = \"t.split\"() : () -> (i32, i64) loc(unknown)\n"),
        "{text}"
    );
    assert!(
        text.contains("  %1:3 = \"t.three\"(%0#1, %0#0) : (i64, i32) -> (f32, i1, i1)"),
        "{text}"
    );
    assert!(
        text.contains("  \"t.use\"(%1#2, %1#0) : (i1, f32) -> ()"),
        "{text}"
    );
    let body = m.body().unwrap();
    let use_op = m.blocks[body].ops[2];
    let b1 = m.ops[use_op].operands[0];
    assert_eq!(
        m.values[b1].def,
        ValueDef::Result {
            op: m.blocks[body].ops[1],
            index: 2
        }
    );
}

#[test]
fn nested_regions_continue_numbering_and_functions_restart() {
    let src = r#""func.func"() <{function_type = (tensor<2xf32>) -> (), sym_name = "f"}> ({
^bb0(%x: tensor<2xf32>):
  %r = "test.loop"(%x) ({
  ^bb0(%i: tensor<2xf32>):
    %y = "onnx.Neg"(%i) : (tensor<2xf32>) -> tensor<2xf32>
    "test.yield"(%y, %x) : (tensor<2xf32>, tensor<2xf32>) -> ()
  }, {
    "test.yield"() : () -> ()
  }) : (tensor<2xf32>) -> tensor<2xf32>
  "func.return"() : () -> ()
}) : () -> ()
"func.func"() <{function_type = () -> (), sym_name = "g"}> ({
  %c = "onnx.Constant"() {value = dense<1.0> : tensor<2xf32>} : () -> tensor<2xf32>
  "func.return"() : () -> ()
}) : () -> ()
"#;
    let (_, text) = parse_ok(src);
    let expected = r#""builtin.module"() ({
  "func.func"() <{function_type = (tensor<2xf32>) -> (), sym_name = "f"}> ({
  ^bb0(%arg0: tensor<2xf32> loc(unknown)):
    %0 = "test.loop"(%arg0) ({
    ^bb0(%arg1: tensor<2xf32> loc(unknown)):
      %1 = "onnx.Neg"(%arg1) : (tensor<2xf32>) -> tensor<2xf32> loc(unknown)
      "test.yield"(%1, %arg0) : (tensor<2xf32>, tensor<2xf32>) -> () loc(unknown)
    }, {
      "test.yield"() : () -> () loc(unknown)
    }) : (tensor<2xf32>) -> tensor<2xf32> loc(unknown)
    "func.return"() : () -> () loc(unknown)
  }) : () -> () loc(unknown)
  "func.func"() <{function_type = () -> (), sym_name = "g"}> ({
    %0 = "onnx.Constant"() {value = dense<1.0> : tensor<2xf32>} : () -> tensor<2xf32> loc(unknown)
    "func.return"() : () -> () loc(unknown)
  }) : () -> () loc(unknown)
}) : () -> () loc(unknown)
"#;
    assert_eq!(text, expected);
}

#[test]
fn multiple_blocks_are_labelled() {
    let src = "\"t.r\"() ({\n  \"t.a\"() : () -> ()\n^other(%v: i1):\n  \"t.b\"(%v) : (i1) -> ()\n^x:\n}) : () -> ()\n";
    let (m, text) = parse_ok(src);
    assert!(text.contains("({\n  ^bb0:\n    \"t.a\"() : () -> () loc(unknown)\n  ^bb1(%arg0: i1 loc(unknown)):\n    \"t.b\"(%arg0) : (i1) -> () loc(unknown)\n  ^bb2:\n  })"), "{text}");
    let r = m.blocks[m.body().unwrap()].ops[0];
    assert_eq!(m.regions[m.ops[r].regions[0]].blocks.len(), 3);
}

#[test]
fn forward_references_resolve() {
    // Within a region, and from a nested region to a value defined later around it.
    let src = r#""t.graph"() ({
  "t.use"(%later) : (i32) -> ()
  "t.wrap"() ({
    "t.use"(%later, %x) : (i32, i1) -> ()
  }) : () -> ()
  %later = "t.def"() : () -> i32
  %x = "t.def2"() : () -> i1
}) : () -> ()
"#;
    let (m, text) = parse_ok(src);
    assert!(
        text.contains("    \"t.use\"(%0, %1) : (i32) -> ()")
            || text.contains("\"t.use\"(%0) : (i32) -> ()"),
        "{text}"
    );
    assert!(
        text.contains("\"t.use\"(%0, %1) : (i32, i1) -> ()"),
        "{text}"
    );
    let later = m
        .all_ops()
        .into_iter()
        .find(|&o| m.ops[o].name == "t.def")
        .unwrap();
    let first_use = m
        .all_ops()
        .into_iter()
        .find(|&o| m.ops[o].name == "t.use")
        .unwrap();
    assert_eq!(m.ops[first_use].operands[0], m.result(later, 0));
}

#[test]
fn properties_and_attributes_print_sorted() {
    let src = "\"t.op\"() <{z = 1 : i64, a = \"p\"}> {y = unit, \"weird key\" = 2 : i32, b = false} : () -> ()";
    let (m, text) = parse_ok(src);
    assert!(text.contains("\"t.op\"() <{a = \"p\", z = 1 : i64}> {b = false, \"weird key\" = 2 : i32, y} : () -> () loc(unknown)"), "{text}");
    let op = m.blocks[m.body().unwrap()].ops[0];
    assert_eq!(m.ops[op].props["z"], Attribute::i64(1));
    assert_eq!(m.ops[op].attrs["y"], Attribute::Unit);
}

#[test]
fn top_level_ops_are_wrapped_in_a_module() {
    let (m, text) = parse_ok("\"t.a\"() : () -> ()\n\"t.b\"() : () -> ()\n");
    assert_eq!(m.ops[m.top].name, "builtin.module");
    assert_eq!(m.blocks[m.body().unwrap()].ops.len(), 2);
    assert!(text.starts_with("\"builtin.module\"() ({\n  \"t.a\"()"));
    // Two modules at the top level: both nested in an implicit one.
    let two = "\"builtin.module\"() ({\n^bb0:\n}) : () -> ()\n\"builtin.module\"() ({\n^bb0:\n}) : () -> ()\n";
    let (m, _) = parse_ok(two);
    assert_eq!(m.blocks[m.body().unwrap()].ops.len(), 2);
}

#[test]
fn print_op_uses_module_names() {
    let (m, text) = parse_ok(FUNC);
    let f = m.funcs()[0];
    let add = m.blocks[m.entry_block(f).unwrap()].ops[0];
    let line = print_op(&m, add);
    assert_eq!(line, "%0 = \"onnx.Add\"(%arg0, %arg1) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32> loc(\"add\")");
    assert!(text.contains(&format!("    {line}\n")));
    assert!(print_op(&m, f).starts_with("\"func.func\"() <{"));
}

#[test]
fn large_modules_round_trip() {
    let mut m = Module::new();
    let (_f, entry) = m.add_func("big", vec![t2()], vec![t2()]);
    let mut v = m.blocks[entry].args[0];
    for i in 0..100_000 {
        let op = m.build_at_end(
            entry,
            OpSpec::new("onnx.Relu")
                .operands([v])
                .results([t2()])
                .loc(Location::name(format!("n{i}"))),
        );
        v = m.result(op, 0);
    }
    m.build_at_end(entry, OpSpec::new("func.return").operands([v]));
    let text = print_module(&m);
    let back = parse_module(&text).unwrap();
    assert_eq!(back.num_ops(), m.num_ops());
    assert_eq!(print_module(&back), text);
}
