//! End to end: every fixture, imported and run through
//! `shape-infer,canonicalize,fuse-attention`, still matches onnxruntime's outputs at 1e-4 on
//! both recorded cases when interpreted — with its attention blocks as `attn.mha`.

use std::path::PathBuf;

use sofa::npz::read_npz;
use sofa_compiler::onnx::{import_file, ImportOptions};
use sofa_compiler::passes::registry;
use sofa_ir::dialect::DialectRegistry;
use sofa_ir::pass::PassContext;
use sofa_ir::Module;

const FIXTURES: [&str; 6] = [
    "bert_sdpa_ts_op17",
    "bert_eager_ts_op17",
    "gpt2_sdpa_ts_op17",
    "gpt2_eager_ts_op17",
    "vit_sdpa_ts_op17",
    "vit_eager_ts_op17",
];

fn models_dir() -> PathBuf {
    match std::env::var_os("SOFA_MODELS_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/models"),
    }
}

/// The acceptance pipeline (without shape-infer while no pass of that name is registered).
fn fused(name: &str) -> Module {
    let mut m = import_file(
        &models_dir().join(format!("{name}.onnx")),
        &ImportOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    let pipeline = if registry().lookup("shape-infer").is_some() {
        "shape-infer,canonicalize,fuse-attention"
    } else {
        "canonicalize,fuse-attention"
    };
    let dialects = DialectRegistry::with_core_dialects();
    for mut pass in registry().build(pipeline).expect("pipeline builds") {
        let mut cx = PassContext::new(&dialects);
        pass.run(&mut m, &mut cx).expect("pass runs");
    }
    m
}

#[test]
fn fused_fixtures_match_onnxruntime() {
    for name in FIXTURES {
        let m = fused(name);
        let mhas = m
            .all_ops()
            .into_iter()
            .filter(|&o| m.op(o).name == "attn.mha")
            .count();
        assert_eq!(mhas, 2, "{name}: attention blocks fused");
        for (input, expected) in [("input", "expected"), ("input2", "expected2")] {
            let dir = models_dir();
            let inputs = read_npz(&dir.join(format!("{name}.{input}.npz"))).expect("inputs");
            let want = read_npz(&dir.join(format!("{name}.{expected}.npz"))).expect("expected");
            let got = sofa_runtime::run_function(&m, &inputs)
                .unwrap_or_else(|e| panic!("{name} ({input}): {e}"));
            for diff in sofa_runtime::compare(&got, &want) {
                assert!(diff.passes(1e-4), "{name} ({input}): {diff}");
            }
        }
    }
}
