//! End to end through the host reference interpreter: every ONNX fixture, both cases, imported
//! by the ONNX frontend, run on the `.npz` inputs and compared with onnxruntime's outputs.
//! (Lives in the root package because the compiler and the runtime never depend on each other.)

mod common;
use common::*;

use sofa::npz::read_npz;
use sofa_compiler::onnx::{import_file, ImportOptions};
use sofa_runtime::interp::{compare, run_function};

const TOLERANCE: f64 = 1e-4;

/// Import `name.onnx` once and check both cases against the expected outputs.
fn check_fixture(name: &str) {
    let dir = models_dir();
    let module = import_file(&dir.join(format!("{name}.onnx")), &ImportOptions::default())
        .unwrap_or_else(|e| panic!("{name}: import failed: {e}"));
    for (input, expected) in [("input", "expected"), ("input2", "expected2")] {
        let inputs = read_npz(&dir.join(format!("{name}.{input}.npz"))).unwrap();
        let want = read_npz(&dir.join(format!("{name}.{expected}.npz"))).unwrap();
        let got = run_function(&module, &inputs)
            .unwrap_or_else(|e| panic!("{name}.{input}: interpreter failed: {e}"));
        let diffs = compare(&got, &want);
        assert_eq!(
            diffs.len(),
            want.len(),
            "{name}.{input}: outputs {:?}",
            got.keys()
        );
        for d in &diffs {
            assert!(d.passes(TOLERANCE), "{name}.{input}: {d}");
        }
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
