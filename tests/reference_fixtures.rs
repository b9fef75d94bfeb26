//! End to end through the host reference interpreter: every ONNX fixture, both cases, imported
//! by the ONNX frontend, run on the `.npz` inputs and compared with onnxruntime's outputs.
//! (Lives in the root package because the compiler and the runtime never depend on each other.)

mod common;
use common::*;

/// Import `name.onnx` once and check both cases against the expected outputs.
fn check_fixture(name: &str) {
    let module = import(name);
    for (input, expected) in CASES {
        check_case(name, &module, input, expected);
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
