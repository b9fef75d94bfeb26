//! Shared by the root integration tests: where the fixtures are and which ones there are.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::PathBuf;

/// The six developer fixtures (see `../shared/models/README.md`).
pub const FIXTURES: [&str; 6] = [
    "bert_sdpa_ts_op17",
    "bert_eager_ts_op17",
    "gpt2_sdpa_ts_op17",
    "gpt2_eager_ts_op17",
    "vit_sdpa_ts_op17",
    "vit_eager_ts_op17",
];

/// `../shared/models` beside the workspace, or `$SOFA_MODELS_DIR`.
pub fn models_dir() -> PathBuf {
    std::env::var_os("SOFA_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/models")))
}

/// `<models>/<name>.<suffix>`, e.g. `fixture("bert_sdpa_ts_op17", "input2.npz")`.
pub fn fixture(name: &str, suffix: &str) -> PathBuf {
    models_dir().join(format!("{name}.{suffix}"))
}

/// The acceptance pipeline: shapes, folding, then attention recognition.
pub const FUSE_PIPELINE: &str = "shape-infer,canonicalize,fuse-attention";

/// Import fixture `name` and run `pipeline` through the pass manager (verifying after each pass).
pub fn fused(name: &str, pipeline: &str) -> sofa_ir::Module {
    use sofa_compiler::onnx::{import_file, ImportOptions};
    let mut m = import_file(&fixture(name, "onnx"), &ImportOptions::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let dialects = sofa_ir::dialect::DialectRegistry::with_core_dialects();
    let mut pm = sofa_ir::pass::PassManager::from_pipeline(
        dialects,
        &sofa_compiler::passes::registry(),
        pipeline,
    )
    .expect("pipeline builds");
    pm.run(&mut m, &mut sofa_ir::pass::NoInstrumentation)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    m
}
