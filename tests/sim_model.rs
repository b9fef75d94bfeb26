//! End to end on the simulator: each ONNX fixture, bound to a recorded case's shapes, fused,
//! lowered to ONE SOFA program by `lower_model` and executed functionally; every output must
//! match onnxruntime's to 1e-4.

mod common;
use common::*;

use std::collections::BTreeMap;

use sofa::npz::read_npz;
use sofa_compiler::lower::model::lower_model;
use sofa_compiler::lower::LowerDefaults;
use sofa_compiler::schedule::Schedule;
use sofa_ir::eval::Tensor;
use sofa_ir::hw::HwConfig;
use sofa_ir::{Dim, Location, Module, Type};
use sofa_runtime::sim::{simulate, SimOptions};

/// `name:size` for every named dim of `@main`'s arguments, from the case's inputs.
fn bindings_for(m: &Module, inputs: &BTreeMap<String, Tensor>) -> String {
    let func = m.funcs()[0];
    let entry = m.entry_block(func).expect("entry block");
    let block = &m.blocks[entry];
    let mut bindings = BTreeMap::new();
    for (&arg, loc) in block.args.iter().zip(&block.arg_locs) {
        let (Location::Name(input), Type::Tensor(t)) = (loc, m.value_type(arg)) else {
            panic!("unnamed or non-tensor argument {loc:?}");
        };
        let x = &inputs[input];
        for (d, &size) in t.dims.iter().zip(x.shape()) {
            if let Dim::Named(n) = d {
                bindings.insert(n.clone(), size);
            }
        }
    }
    let parts: Vec<String> = bindings.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    parts.join(",")
}

/// Largest |got − want| of every output of fixture `name` on case `input` (NaN counts as
/// infinite); `tail` extends the pass pipeline (e.g. with `sparsify`).
fn run_case(
    name: &str,
    input: &str,
    expected: &str,
    schedule: Schedule,
    tail: &str,
) -> BTreeMap<String, f64> {
    let inputs = read_npz(&fixture(name, &format!("{input}.npz"))).unwrap();
    let want = read_npz(&fixture(name, &format!("{expected}.npz"))).unwrap();
    let mut m = import(name);
    let bind = bindings_for(&m, &inputs);
    run_pipeline(
        name,
        &mut m,
        &format!("shape-infer{{bind={bind}}},canonicalize,fuse-attention{tail}"),
    );
    let hw = HwConfig::default();
    let opts = LowerDefaults {
        schedule,
        ..LowerDefaults::default()
    };
    let p = lower_model(&m, &hw, &opts).unwrap_or_else(|e| panic!("{name}.{input}: {e}"));
    if let Err(errs) = p.check(&hw) {
        panic!("{name}.{input}: {}", errs[0]);
    }
    let raw: BTreeMap<String, Vec<u8>> = inputs
        .iter()
        .map(|(k, t)| (k.clone(), t.to_bytes()))
        .collect();
    let out = simulate(&p, &hw, &raw, &SimOptions::default())
        .unwrap_or_else(|e| panic!("{name}.{input} {schedule:?}: simulation failed: {e}"));
    let mut errors = BTreeMap::new();
    for (k, w) in &want {
        let bytes = out
            .outputs
            .get(k)
            .unwrap_or_else(|| panic!("{name}.{input}: no output '{k}'"));
        let got: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let w = w.as_f32().expect("float output");
        assert_eq!(got.len(), w.len(), "{name}.{input}: '{k}' size");
        let worst = got
            .iter()
            .zip(w)
            .map(|(g, w)| f64::from((g - w).abs()))
            .fold(
                0.0,
                |a: f64, d| if d.is_nan() { f64::INFINITY } else { a.max(d) },
            );
        errors.insert(k.clone(), worst);
    }
    errors
}

/// Every schedule computes exact attention at keep ratio 1.
const SCHEDULES: [Schedule; 3] = [Schedule::Dense, Schedule::Cct, Schedule::Staged];

fn check_fixture(name: &str) {
    for (input, expected) in CASES {
        for s in SCHEDULES {
            let errors = run_case(name, input, expected, s, "");
            assert!(!errors.is_empty(), "{name}.{input}: no expected outputs");
            for (k, e) in &errors {
                eprintln!("{name}.{input} {s:?} '{k}': max error {e:e}");
                assert!(
                    *e <= TOLERANCE,
                    "{name}.{input} {s:?}: '{k}' max error {e:e}"
                );
            }
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

/// GQA 4/2, RoPE, RMSNorm, SwiGLU, dynamo's GatherND mask lookup.
#[test]
fn qwen2_gqa_rope_sdpa_dynamo() {
    check_fixture("qwen2_gqa_rope_sdpa_dynamo_op18");
}

/// Multi-query 4/1, RoPE, RMSNorm (identity Casts, `Div(1, ·)`), SwiGLU, a sliding window.
#[test]
fn mistral_swa_eager() {
    check_fixture("mistral_swa_eager_ts_op17");
}

/// SOFA's sparse attention (keep 1/4 of the keys, predicted by DLZS, selected by SADS) runs
/// every fixture with reduced but bounded accuracy.
#[test]
fn keep_a_quarter_of_the_keys() {
    for name in FIXTURES {
        for s in [Schedule::Cct, Schedule::Staged] {
            let errors = run_case(name, "input", "expected", s, ",sparsify{keep=0.25}");
            for (k, e) in &errors {
                eprintln!("{name} keep 0.25 {s:?} '{k}': max error {e:e}");
                assert!(
                    e.is_finite() && *e < 10.0,
                    "{name} {s:?}: '{k}' max error {e:e}"
                );
            }
        }
    }
}
