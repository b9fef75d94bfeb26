//! `shape-infer` + `canonicalize` keep every ONNX fixture exact: the host reference interpreter
//! runs the transformed module on both input cases and matches onnxruntime's outputs to 1e-4.
//!
//! Two variants: without bindings (one module serves both cases, whose batch and sequence sizes
//! differ, so only shape arithmetic on dims that are static anyway may fold), and with `batch` /
//! `seq` bound to each case's input shapes (everything shape-related folds; the module then only
//! accepts that case).

mod common;
use common::*;

use std::collections::BTreeMap;

use sofa::npz::read_npz;
use sofa_compiler::onnx::{import_file, ImportOptions};
use sofa_compiler::passes::registry;
use sofa_ir::dialect::DialectRegistry;
use sofa_ir::eval::Tensor;
use sofa_ir::pass::{NoInstrumentation, PassManager};
use sofa_ir::{Dim, Location, Module, Type};
use sofa_runtime::interp::{compare, run_function};

const TOLERANCE: f64 = 1e-4;
const CASES: [(&str, &str); 2] = [("input", "expected"), ("input2", "expected2")];

fn import(name: &str) -> Module {
    let path = models_dir().join(format!("{name}.onnx"));
    import_file(&path, &ImportOptions::default())
        .unwrap_or_else(|e| panic!("{name}: import failed: {e}"))
}

fn run_pipeline(name: &str, m: &mut Module, pipeline: &str) {
    let mut pm =
        PassManager::from_pipeline(DialectRegistry::with_core_dialects(), &registry(), pipeline)
            .unwrap_or_else(|e| panic!("{name}: pipeline '{pipeline}': {e}"));
    pm.run(m, &mut NoInstrumentation)
        .unwrap_or_else(|e| panic!("{name}: '{pipeline}': {e}"));
}

/// Run `m` on one case and compare every output with the expected one.
fn check_case(name: &str, m: &Module, input: &str, expected: &str) {
    let dir = models_dir();
    let inputs = read_npz(&dir.join(format!("{name}.{input}.npz"))).unwrap();
    let want = read_npz(&dir.join(format!("{name}.{expected}.npz"))).unwrap();
    let got = run_function(m, &inputs)
        .unwrap_or_else(|e| panic!("{name}.{input}: interpreter failed: {e}"));
    let diffs = compare(&got, &want);
    assert_eq!(diffs.len(), want.len(), "{name}.{input}: {:?}", got.keys());
    for d in &diffs {
        assert!(d.passes(TOLERANCE), "{name}.{input}: {d}");
    }
}

/// `name:size` for every named dim of `@main`'s arguments, sized from the case's inputs (the
/// entry block's argument locations are the ONNX input names).
fn bindings_for(m: &Module, inputs: &BTreeMap<String, Tensor>) -> String {
    let func = m.funcs()[0];
    let entry = m.entry_block(func).expect("entry block");
    let block = &m.blocks[entry];
    let mut bindings = BTreeMap::new();
    for (&arg, loc) in block.args.iter().zip(&block.arg_locs) {
        let Location::Name(input) = loc else {
            panic!("argument without a name: {loc:?}");
        };
        let (Type::Tensor(t), Some(x)) = (m.value_type(arg), inputs.get(input)) else {
            panic!("input '{input}' missing or not a tensor");
        };
        for (d, &size) in t.dims.iter().zip(x.shape()) {
            if let Dim::Named(n) = d {
                bindings.insert(n.clone(), size);
            }
        }
    }
    let parts: Vec<String> = bindings.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    parts.join(",")
}

fn check_fixture(name: &str) {
    let mut unbound = import(name);
    run_pipeline(name, &mut unbound, "shape-infer,canonicalize");
    for (input, expected) in CASES {
        check_case(name, &unbound, input, expected);
    }
    for (input, expected) in CASES {
        let mut m = import(name);
        let inputs = read_npz(&models_dir().join(format!("{name}.{input}.npz"))).unwrap();
        let bind = bindings_for(&m, &inputs);
        assert!(bind.contains("batch:"), "{name}.{input}: bindings '{bind}'");
        run_pipeline(
            name,
            &mut m,
            &format!("shape-infer{{bind={bind}}},canonicalize"),
        );
        let shapes_left = m
            .all_ops()
            .into_iter()
            .filter(|&o| m.op(o).name == "onnx.Shape")
            .count();
        assert_eq!(shapes_left, 0, "{name}.{input}: shape arithmetic left");
        check_case(name, &m, input, expected);
    }
}

#[test]
fn bert_sdpa() {
    check_fixture("bert_sdpa_ts_op17");
}

#[test]
fn bert_eager() {
    check_fixture("bert_eager_ts_op17");
}

#[test]
fn gpt2_sdpa() {
    check_fixture("gpt2_sdpa_ts_op17");
}

#[test]
fn gpt2_eager() {
    check_fixture("gpt2_eager_ts_op17");
}

#[test]
fn vit_sdpa() {
    check_fixture("vit_sdpa_ts_op17");
}

#[test]
fn vit_eager() {
    check_fixture("vit_eager_ts_op17");
}
