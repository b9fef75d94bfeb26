#![cfg(feature = "mlir")]
//! Real MLIR (through melior) as an independent judge of our textual IR.
//!
//! Two kinds of tests: (1) pinned facts about how MLIR 22 reads and prints generic syntax — the
//! printer and parser are written against these (see `notes/mlir-findings.md`), so an MLIR
//! upgrade that changes one fails here first; (2) end to end: every round-trip filetest and every
//! ONNX fixture goes through `verify_module` (our print → MLIR → our parse → our print, unchanged).

mod common;
use common::*;

use std::path::{Path, PathBuf};

use sofa_compiler::mlir_bridge::{roundtrip, verify_module, MlirBridgeError};
use sofa_ir::text::{parse_module, print_module};

/// The example of `notes/mlir-findings.md`: func properties, named dims in the tensor encoding,
/// block-argument locations, a fused location, a multi-result op and a resource blob.
const EXAMPLE: &str = r#""builtin.module"() ({
  "func.func"() <{function_type = (tensor<?x?x128xf32, ["batch", "seq"]>, tensor<2xi64>) -> tensor<?x?x128xf32, ["batch", "seq"]>, sym_name = "main", arg_attrs = [{onnx.name = "x"}, {onnx.name = "y"}], res_attrs = [{onnx.name = "out"}]}> ({
  ^bb0(%arg0: tensor<?x?x128xf32, ["batch", "seq"]> loc("x"), %arg1: tensor<2xi64> loc("y")):
    %0 = "onnx.Constant"() {value = dense_resource<w0> : tensor<2x2xf32>} : () -> tensor<2x2xf32> loc("w0")
    %1 = "onnx.Add"(%arg0, %arg0) : (tensor<?x?x128xf32, ["batch", "seq"]>, tensor<?x?x128xf32, ["batch", "seq"]>) -> tensor<?x?x128xf32, ["batch", "seq"]> loc(fused["a", "b"])
    %2:2 = "onnx.Split"(%1) {axis = 2 : i64} : (tensor<?x?x128xf32, ["batch", "seq"]>) -> (tensor<?x?x64xf32>, tensor<?x?x64xf32>) loc(unknown)
    "func.return"(%1) : (tensor<?x?x128xf32, ["batch", "seq"]>) -> () loc(unknown)
  }) : () -> () loc(unknown)
}) : () -> () loc(unknown)

{-# dialect_resources: { builtin: { w0: "0x040000000000803F000000400000404000008040" } } #-}
"#;

const EXAMPLE_FROM_MLIR: &str = r#"#loc1 = loc("x")
#loc2 = loc("y")
"builtin.module"() ({
  "func.func"() <{arg_attrs = [{onnx.name = "x"}, {onnx.name = "y"}], function_type = (tensor<?x?x128xf32, ["batch", "seq"]>, tensor<2xi64>) -> tensor<?x?x128xf32, ["batch", "seq"]>, res_attrs = [{onnx.name = "out"}], sym_name = "main"}> ({
  ^bb0(%arg0: tensor<?x?x128xf32, ["batch", "seq"]> loc("x"), %arg1: tensor<2xi64> loc("y")):
    %0 = "onnx.Constant"() {value = dense_resource<w0> : tensor<2x2xf32>} : () -> tensor<2x2xf32> loc(#loc3)
    %1 = "onnx.Add"(%arg0, %arg0) : (tensor<?x?x128xf32, ["batch", "seq"]>, tensor<?x?x128xf32, ["batch", "seq"]>) -> tensor<?x?x128xf32, ["batch", "seq"]> loc(#loc6)
    %2:2 = "onnx.Split"(%1) {axis = 2 : i64} : (tensor<?x?x128xf32, ["batch", "seq"]>) -> (tensor<?x?x64xf32>, tensor<?x?x64xf32>) loc(#loc)
    "func.return"(%1) : (tensor<?x?x128xf32, ["batch", "seq"]>) -> () loc(#loc)
  }) : () -> () loc(#loc)
}) : () -> () loc(#loc)
#loc = loc(unknown)
#loc3 = loc("w0")
#loc4 = loc("a")
#loc5 = loc("b")
#loc6 = loc(fused[#loc4, #loc5])

{-#
  dialect_resources: {
    builtin: {
      w0: "0x040000000000803F000000400000404000008040"
    }
  }
#-}"#;

/// Wraps ops in a module (ops end with their own `loc`).
fn module_of(ops: &str) -> String {
    format!("\"builtin.module\"() ({{\n{ops}\n}}) : () -> () loc(unknown)\n")
}

/// MLIR's print of one attribute of an unregistered op `"t.a"() {a = ATTR}`.
fn mlir_attr(attr: &str) -> String {
    let out = roundtrip(&module_of(&format!(
        "  \"t.a\"() {{a = {attr}}} : () -> () loc(unknown)"
    )))
    .unwrap_or_else(|e| panic!("MLIR rejected `{attr}`: {e}"));
    let start = out.find("{a = ").expect("attribute dictionary") + 5;
    let end = out[start..].find("} : ()").expect("end of dictionary") + start;
    out[start..end].to_owned()
}

#[test]
fn mlir_prints_the_example_with_sorted_properties_location_aliases_and_resources() {
    let out = roundtrip(EXAMPLE).expect("MLIR accepts our generic syntax");
    assert_eq!(out.trim_end(), EXAMPLE_FROM_MLIR);
}

#[test]
fn our_parser_reads_mlir_output_back_to_the_same_module() {
    let ours = parse_module(EXAMPLE).unwrap_or_else(|e| panic!("{}", e.render("EXAMPLE", EXAMPLE)));
    let theirs = parse_module(EXAMPLE_FROM_MLIR)
        .unwrap_or_else(|e| panic!("{}", e.render("EXAMPLE_FROM_MLIR", EXAMPLE_FROM_MLIR)));
    assert_eq!(print_module(&theirs), print_module(&ours));
    verify_module(&ours).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn syntax_errors_are_parse_errors_with_mlir_source_locations() {
    let text = module_of("  %0 = \"t.a\"(%9) : (f32) -> f32 loc(\"bad\")");
    let Err(MlirBridgeError::Parse(diagnostics)) = roundtrip(&text) else {
        panic!("expected a parse error");
    };
    assert_eq!(diagnostics.0.len(), 1);
    let first = &diagnostics.0[0];
    assert_eq!(first.severity, "error");
    assert_eq!(first.location, r#"loc("-":2:14)"#);
    assert_eq!(first.message, "use of undeclared SSA value name");
}

#[test]
fn verifier_errors_are_verify_errors_at_the_op_location() {
    let text = module_of(
        r#"  "func.func"() <{function_type = (f32) -> f32, sym_name = "main"}> ({
  ^bb0(%arg0: f32 loc("x")):
    "func.return"() : () -> () loc("ret")
  }) : () -> () loc(unknown)"#,
    );
    let Err(MlirBridgeError::Verify(diagnostics)) = roundtrip(&text) else {
        panic!("expected a verifier error");
    };
    let first = &diagnostics.0[0];
    assert_eq!(first.location, r#"loc("ret")"#);
    assert!(
        first
            .message
            .contains("has 0 operands, but enclosing function (@main) returns 1"),
        "{first}"
    );
    let rendered = MlirBridgeError::Verify(diagnostics.clone()).to_string();
    assert!(
        rendered.contains(r#"loc("ret"): error: 'func.return' op"#),
        "{rendered}"
    );
}

#[test]
fn nul_bytes_are_rejected_before_reaching_mlir() {
    let Err(MlirBridgeError::NulByte(offset)) = roundtrip("\"builtin.module\"\0") else {
        panic!("expected NulByte");
    };
    assert_eq!(offset, 16);
}

#[test]
fn a_module_needs_its_entry_block_even_when_empty() {
    let empty_region = "\"builtin.module\"() ({\n}) : () -> () loc(unknown)\n";
    assert!(matches!(
        roundtrip(empty_region),
        Err(MlirBridgeError::Verify(_))
    ));
    let empty_block = "\"builtin.module\"() ({\n^bb0:\n}) : () -> () loc(unknown)\n";
    let out = roundtrip(empty_block).expect("an empty block is a valid body");
    assert_eq!(
        out,
        "\"builtin.module\"() ({\n^bb0:\n}) : () -> () loc(#loc)\n#loc = loc(unknown)\n"
    );
}

#[test]
fn mlir_float_spellings() {
    let cases = [
        ("0.1 : f32", "1.000000e-01 : f32"),
        ("1.0e-12 : f32", "9.99999996E-13 : f32"),
        ("0.1767767 : f32", "0.176776707 : f32"),
        ("0x7FC00000 : f32", "0x7FC00000 : f32"),
        ("-0.0 : f32", "-0.000000e+00 : f32"),
        ("0x7E00 : f16", "0x7E00 : f16"),
        ("1.1 : bf16", "1.101560e+00 : bf16"),
        ("0.17677669529663687 : f64", "0.17677669529663687 : f64"),
    ];
    for (input, printed) in cases {
        assert_eq!(mlir_attr(input), printed, "for {input}");
    }
    // A float literal needs a '.': MLIR rejects the exponent-only form.
    let no_dot = module_of("  \"t.a\"() {a = 1e-12 : f32} : () -> () loc(unknown)");
    assert!(matches!(roundtrip(&no_dot), Err(MlirBridgeError::Parse(_))));
}

#[test]
fn mlir_prints_dense_as_hex_above_100_elements_and_packs_i1_bits() {
    let list = |n: usize| (0..n).map(|i| i.to_string()).collect::<Vec<_>>().join(", ");
    let hundred = mlir_attr(&format!("dense<[{}]> : tensor<100xi64>", list(100)));
    assert!(hundred.starts_with("dense<[0, 1, 2,"), "{hundred}");
    let over = mlir_attr(&format!("dense<[{}]> : tensor<101xi64>", list(101)));
    assert!(
        over.starts_with("dense<\"0x00000000000000000100000000000000"),
        "{over}"
    );

    let bools: Vec<_> = (0..128)
        .map(|i| if i % 3 == 0 { "true" } else { "false" })
        .collect();
    let packed = mlir_attr(&format!("dense<[{}]> : tensor<128xi1>", bools.join(", ")));
    assert_eq!(
        packed,
        "dense<\"0x49922449922449922449922449922449\"> : tensor<128xi1>"
    );
    assert_eq!(
        mlir_attr("dense<\"0x05\"> : tensor<3xi1>"),
        "dense<[true, false, true]> : tensor<3xi1>"
    );

    assert_eq!(
        mlir_attr("dense<[]> : tensor<0xf32>"),
        "dense<> : tensor<0xf32>"
    );
    assert_eq!(
        mlir_attr("dense<\"0x0000803F\"> : tensor<4xf32>"),
        "dense<1.000000e+00> : tensor<4xf32>"
    );
}

#[test]
fn mlir_keeps_used_resources_only_and_requires_the_alignment_prefix() {
    let text = module_of(
        r#"  %0 = "t.c"() {value = dense_resource<w0> : tensor<2xf32>} : () -> tensor<2xf32> loc("w0")"#,
    );
    let with_unused = format!(
        "{text}\n{{-# dialect_resources: {{ builtin: {{ w0: \"0x040000000000803F00000040\", unused: \"0x0400000000000000\" }} }} #-}}\n"
    );
    let out = roundtrip(&with_unused).expect("valid resources");
    assert!(
        out.contains("      w0: \"0x040000000000803F00000040\"\n"),
        "{out}"
    );
    assert!(!out.contains("unused"), "{out}");

    let unaligned = format!(
        "{text}\n{{-# dialect_resources: {{ builtin: {{ w0: \"0x0000803F00000040\" }} }} #-}}\n"
    );
    let Err(MlirBridgeError::Parse(diagnostics)) = roundtrip(&unaligned) else {
        panic!("expected the missing alignment to be rejected");
    };
    assert!(
        diagnostics
            .to_string()
            .contains("to encode alignment in first 4 bytes"),
        "{diagnostics}"
    );
}

/// Ops whose MLIR print differs most from ours: MLIR switches to (bit-packed for `i1`) hex above
/// 100 elements, respells floats, escapes strings as `\XX`, elides `i64` in arrays.
fn spelling_stress_module() -> String {
    let bools: Vec<_> = (0..130)
        .map(|i| if i % 3 == 0 { "true" } else { "false" })
        .collect();
    let floats: Vec<_> = (0..101).map(|i| format!("{}.25", i)).collect();
    let halves: Vec<_> = (0..101).map(|i| format!("{}.5", i)).collect();
    let ints: Vec<_> = (0..101).map(|i| (i * 2 - 100).to_string()).collect();
    let ops = [
        format!("  %0 = \"t.a\"() {{value = dense<[{}]> : tensor<130xi1>}} : () -> tensor<130xi1> loc(\"bools\")", bools.join(", ")),
        format!("  %1 = \"t.a\"() {{value = dense<[{}]> : tensor<101xf32>}} : () -> tensor<101xf32> loc(\"floats\")", floats.join(", ")),
        format!("  %2 = \"t.a\"() {{value = dense<[{}]> : tensor<101xf16>}} : () -> tensor<101xf16> loc(\"halves\")", halves.join(", ")),
        format!("  %3 = \"t.a\"() {{value = dense<[{}]> : tensor<101xi8>}} : () -> tensor<101xi8> loc(\"ints\")", ints.join(", ")),
        "  %4 = \"t.b\"() {a = [1 : i64, 2 : i64], f = 0.1767767 : f32, n = 0x7FC00000 : f32, s = \"q\\\"\\\\\\n\"} : () -> none loc(\"with \\\"quote\\\"\")".to_owned(),
        "  \"t.c\"(%4) : (none) -> () loc(unknown)".to_owned(),
    ];
    module_of(&ops.join("\n"))
}

#[test]
fn mlir_spellings_read_back_to_the_same_module() {
    let text = spelling_stress_module();
    let module = parse_module(&text).unwrap_or_else(|e| panic!("{}", e.render("stress", &text)));
    let mlir = verify_module(&module).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        mlir.contains("dense<\"0x49922449"),
        "MLIR packed the bools as hex: {mlir}"
    );
}

/// Every `// test roundtrip` filetest (recursively under `tests/filetests`).
fn roundtrip_filetests() -> Vec<PathBuf> {
    let mut files = Vec::new();
    collect_mlir_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/filetests"),
        &mut files,
    );
    files.retain(|path| {
        std::fs::read_to_string(path).is_ok_and(|text| text.starts_with("// test roundtrip"))
    });
    files.sort();
    files
}

fn collect_mlir_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for path in entries.flatten().map(|entry| entry.path()) {
        if path.is_dir() {
            collect_mlir_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "mlir") {
            out.push(path);
        }
    }
}

#[test]
fn every_roundtrip_filetest_survives_mlir() {
    let files = roundtrip_filetests();
    assert!(
        !files.is_empty(),
        "no `// test roundtrip` files under tests/filetests"
    );
    let mut failures = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).expect("listed files are readable");
        let result = parse_module(&text)
            .map_err(|e| e.render(&path.display().to_string(), &text))
            .and_then(|module| verify_module(&module).map_err(|e| e.to_string()));
        if let Err(message) = result {
            failures.push(format!("--- {} ---\n{message}", path.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} files failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn every_imported_onnx_fixture_survives_mlir() {
    let mut models: Vec<PathBuf> = std::fs::read_dir(models_dir())
        .expect("models directory (set SOFA_MODELS_DIR)")
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "onnx"))
        .collect();
    models.sort();
    assert!(
        !models.is_empty(),
        "no .onnx fixtures in {}",
        models_dir().display()
    );
    let options = sofa_compiler::onnx::ImportOptions::default();
    for path in &models {
        let module = sofa_compiler::onnx::import_file(path, &options)
            .unwrap_or_else(|e| panic!("{}: import failed: {e}", path.display()));
        verify_module(&module).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}
