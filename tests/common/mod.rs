//! Shared by the root integration tests: where the fixtures are and which ones there are.
#![allow(dead_code)] // each test binary uses its own subset

pub mod cli;
pub mod ops;

use std::path::PathBuf;

/// The developer fixtures in float (see `tests/fixtures/models/README.md`); the int8 one,
/// `bert_int8dyn_ts_op17`, has its own tests (`tests/int8_fixture.rs`: its recorded outputs
/// come from a non-exact onnxruntime kernel).
pub const FIXTURES: [&str; 8] = [
    "bert_sdpa_ts_op17",
    "bert_eager_ts_op17",
    "gpt2_sdpa_ts_op17",
    "gpt2_eager_ts_op17",
    "vit_sdpa_ts_op17",
    "vit_eager_ts_op17",
    "qwen2_gqa_rope_sdpa_dynamo_op18",
    "mistral_swa_eager_ts_op17",
];

/// `$SOFA_MODELS_DIR`, else the repository's copy of the fixtures, `tests/fixtures/models`
/// (`scripts/sync-fixtures` refreshes it from `../shared/models`).
pub fn models_dir() -> PathBuf {
    std::env::var_os("SOFA_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/models"
            ))
        })
}

/// `<models>/<name>.<suffix>`, e.g. `fixture("bert_sdpa_ts_op17", "input2.npz")`.
pub fn fixture(name: &str, suffix: &str) -> PathBuf {
    models_dir().join(format!("{name}.{suffix}"))
}

/// The acceptance pipeline: shapes, folding, then attention recognition.
pub const FUSE_PIPELINE: &str = sofa_compiler::driver::FRONT;

/// Largest absolute error accepted against onnxruntime's outputs.
pub const TOLERANCE: f64 = 1e-4;

/// Each fixture's two recorded cases: (inputs, expected outputs) file stems.
pub const CASES: [(&str, &str); 2] = [("input", "expected"), ("input2", "expected2")];

/// Import fixture `name` with default options.
pub fn import(name: &str) -> sofa_ir::Module {
    use sofa_compiler::onnx::{import_file, ImportOptions};
    import_file(&fixture(name, "onnx"), &ImportOptions::default())
        .unwrap_or_else(|e| panic!("{name}: import failed: {e}"))
}

/// Run `pipeline` through the pass manager (verifying after each pass).
pub fn run_pipeline(name: &str, m: &mut sofa_ir::Module, pipeline: &str) {
    let dialects = sofa_ir::dialect::DialectRegistry::with_core_dialects();
    let mut pm = sofa_ir::pass::PassManager::from_pipeline(
        dialects,
        &sofa_compiler::passes::registry(),
        pipeline,
    )
    .unwrap_or_else(|e| panic!("{name}: pipeline '{pipeline}': {e}"));
    pm.run(m, &mut sofa_ir::pass::NoInstrumentation)
        .unwrap_or_else(|e| panic!("{name}: '{pipeline}': {e}"));
}

/// Import fixture `name` and run `pipeline` over it.
pub fn fused(name: &str, pipeline: &str) -> sofa_ir::Module {
    let mut m = import(name);
    run_pipeline(name, &mut m, pipeline);
    m
}

/// Interpret `m` on one recorded case and compare every output with onnxruntime's at
/// [`TOLERANCE`].
pub fn check_case(name: &str, m: &sofa_ir::Module, input: &str, expected: &str) {
    let inputs = sofa::npz::read_npz(&fixture(name, &format!("{input}.npz"))).unwrap();
    let want = sofa::npz::read_npz(&fixture(name, &format!("{expected}.npz"))).unwrap();
    let got = sofa_runtime::interp::run_function(m, &inputs)
        .unwrap_or_else(|e| panic!("{name}.{input}: interpreter failed: {e}"));
    let tolerance = sofa_runtime::interp::Tolerance::absolute(TOLERANCE);
    let diffs = sofa_runtime::interp::compare(&got, &want, tolerance);
    assert_eq!(diffs.len(), want.len(), "{name}.{input}: {:?}", got.keys());
    for d in &diffs {
        assert!(d.passes(), "{name}.{input}: {d}");
    }
}

/// The assembly with each tensor's `.data` lines replaced by one line with their FNV-1a hash.
pub fn asm_with_hashed_data(p: &sofa_ir::isa::Program) -> String {
    let mut out = String::new();
    let mut data = Vec::new();
    for line in sofa_ir::isa::print_asm(p).lines() {
        if let Some(hex) = line.strip_prefix(".data ") {
            data.extend_from_slice(hex.as_bytes());
            continue;
        }
        if !data.is_empty() {
            out.push_str(&format!(
                "; .data {} hex chars, fnv1a64 {:016x}\n",
                data.len(),
                sofa_ir::hw::fnv1a64(&data)
            ));
            data.clear();
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Deterministic pseudo-random values in [-1, 1): a linear congruential sequence, `seed`
/// picking where it starts.
pub fn random_values(n: usize, seed: u64) -> Vec<f32> {
    const A: u64 = 6364136223846793005;
    const C: u64 = 1442695040888963407;
    let mut s = seed.wrapping_mul(A).wrapping_add(C);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(A).wrapping_add(C);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}
