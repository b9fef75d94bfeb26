//! The int8 fixture `bert_int8dyn_ts_op17` (onnxruntime's dynamic quantization:
//! DynamicQuantizeLinear, MatMulInteger, DequantizeLinear) end to end: the reference
//! interpreter and the simulator (dense, cct and staged schedules) on both recorded cases,
//! against onnxruntime's outputs with exact integer arithmetic (`tests/fixtures/int8`, see its
//! README for why the recorded `expected*.npz` are not those), and the simulator against the
//! interpreter at a shape other than the recorded ones; the compiled program (cct, keep 0.25)
//! is an insta snapshot.

mod common;
use common::*;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use sofa::npz::read_npz;
use sofa_compiler::lower::model::lower_model;
use sofa_compiler::lower::LowerDefaults;
use sofa_compiler::schedule::Schedule;
use sofa_ir::eval::Tensor;
use sofa_ir::hw::HwConfig;
use sofa_ir::isa::Program;
use sofa_ir::Module;
use sofa_runtime::sim::{simulate, SimOptions};

const NAME: &str = "bert_int8dyn_ts_op17";

/// The exact expected outputs of case `input` (`input` or `input2`).
fn exact_expected(input: &str) -> BTreeMap<String, Tensor> {
    let suffix = input.strip_prefix("input").unwrap_or_default();
    let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/int8"))
        .join(format!("{NAME}.exact.expected{suffix}.npz"));
    read_npz(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn case_inputs(input: &str) -> BTreeMap<String, Tensor> {
    read_npz(&fixture(NAME, &format!("{input}.npz"))).unwrap()
}

/// Largest |got − want| per output (NaN counts as infinite).
fn max_errors(
    got: &BTreeMap<String, Tensor>,
    want: &BTreeMap<String, Tensor>,
) -> BTreeMap<String, f64> {
    want.iter()
        .map(|(k, w)| {
            let g = got.get(k).unwrap_or_else(|| panic!("no output '{k}'"));
            let worst = g
                .to_f64_vec()
                .iter()
                .zip(w.to_f64_vec())
                .map(|(a, b)| (a - b).abs())
                .fold(
                    0.0,
                    |m: f64, d| if d.is_nan() { f64::INFINITY } else { m.max(d) },
                );
            (k.clone(), worst)
        })
        .collect()
}

/// The fused module bound to `batch` × `seq`, optionally sparsified.
fn compiled(batch: usize, seq: usize, tail: &str) -> Module {
    let mut m = import(NAME);
    let pipeline =
        format!("shape-infer{{bind=batch:{batch},seq:{seq}}},canonicalize,fuse-attention{tail}");
    run_pipeline(NAME, &mut m, &pipeline);
    m
}

/// Lower `m` with `schedule` and simulate it on `inputs`.
fn simulated(
    m: &Module,
    schedule: Schedule,
    inputs: &BTreeMap<String, Tensor>,
    want: &BTreeMap<String, Tensor>,
) -> BTreeMap<String, Tensor> {
    let hw = HwConfig::default();
    let opts = LowerDefaults {
        schedule,
        ..LowerDefaults::default()
    };
    let p = lower_model(m, &hw, &opts).unwrap_or_else(|e| panic!("{schedule:?}: {e}"));
    if let Err(errs) = p.check(&hw) {
        panic!("{schedule:?}: {}", errs[0]);
    }
    assert!(p.instrs.iter().any(|i| i.opcode().mnemonic() == "GEMM.Q"));
    let raw = inputs
        .iter()
        .map(|(k, t)| (k.clone(), t.to_bytes()))
        .collect();
    let out = simulate(&p, &hw, &raw, &SimOptions::default())
        .unwrap_or_else(|e| panic!("{schedule:?}: simulation failed: {e}"));
    want.iter()
        .map(|(k, w)| {
            let t = Tensor::from_bytes(&w.tensor_type(), &out.outputs[k]).unwrap();
            (k.clone(), t)
        })
        .collect()
}

#[test]
fn reference_interpreter_matches_onnxruntime_exact_integer_outputs() {
    let m = import(NAME);
    for (input, _) in CASES {
        let got = sofa_runtime::interp::run_function(&m, &case_inputs(input)).unwrap();
        for (k, e) in max_errors(&got, &exact_expected(input)) {
            eprintln!("{NAME}.{input} reference '{k}': max error {e:e}");
            assert!(e <= TOLERANCE, "{NAME}.{input}: '{k}' max error {e:e}");
        }
    }
}

#[test]
fn simulator_matches_onnxruntime_exact_integer_outputs_on_every_schedule() {
    for (input, _) in CASES {
        let inputs = case_inputs(input);
        let want = exact_expected(input);
        let ids = inputs["input_ids"].shape();
        let m = compiled(ids[0], ids[1], "");
        for s in [Schedule::Dense, Schedule::Cct, Schedule::Staged] {
            let got = simulated(&m, s, &inputs, &want);
            for (k, e) in max_errors(&got, &want) {
                eprintln!("{NAME}.{input} {s:?} '{k}': max error {e:e}");
                assert!(
                    e <= TOLERANCE,
                    "{NAME}.{input} {s:?}: '{k}' max error {e:e}"
                );
            }
        }
    }
}

#[test]
fn simulator_matches_the_reference_at_batch_2_by_64_tokens_and_keeps_a_quarter() {
    let (batch, seq) = (2, 64);
    let ids: Vec<i64> = (0..batch * seq)
        .map(|i| (i as i64 * 37 + 11) % 1000)
        .collect();
    let mask: Vec<i64> = (0..batch * seq)
        .map(|i| i64::from(i / seq == 0 || i % seq < 40))
        .collect();
    let inputs: BTreeMap<String, Tensor> = [("input_ids", ids), ("attention_mask", mask)]
        .into_iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                Tensor::from_i64(vec![batch, seq], v).unwrap(),
            )
        })
        .collect();
    let m = compiled(batch, seq, "");
    let want = sofa_runtime::interp::run_function(&m, &inputs).unwrap();
    for s in [Schedule::Cct, Schedule::Staged] {
        let got = simulated(&m, s, &inputs, &want);
        for (k, e) in max_errors(&got, &want) {
            eprintln!("{NAME} {batch}x{seq} {s:?} '{k}': max error {e:e}");
            assert!(e <= TOLERANCE, "{batch}x{seq} {s:?}: '{k}' max error {e:e}");
        }
    }
    // SOFA's sparse attention on the quantized model: bounded error, no NaN.
    let sparse = compiled(batch, seq, ",sparsify{keep=0.25}");
    let got = simulated(&sparse, Schedule::Cct, &inputs, &want);
    for (k, e) in max_errors(&got, &want) {
        eprintln!("{NAME} {batch}x{seq} keep 0.25 '{k}': max error {e:e}");
        assert!(
            e.is_finite() && e < 10.0,
            "keep 0.25: '{k}' max error {e:e}"
        );
    }
}

#[test]
fn program_snapshot_cct_keep_quarter() {
    let out = std::env::temp_dir().join(format!("sofa-int8-{}.sofabin", std::process::id()));
    let run = Command::new(env!("CARGO_BIN_EXE_sofa"))
        .arg("compile")
        .arg(fixture(NAME, "onnx"))
        .args(["--shape", "batch=1,seq=16", "--keep-ratio", "0.25", "-o"])
        .arg(&out)
        .output()
        .expect("sofa runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let bytes = std::fs::read(&out).expect("the program was written");
    let _ = std::fs::remove_file(&out);
    let p = Program::decode(&bytes).expect("decodes");
    if let Err(errs) = p.check(&HwConfig::default()) {
        panic!("{}", errs[0]);
    }
    insta::assert_snapshot!(format!("asm_{NAME}"), asm_with_hashed_data(&p));
}
