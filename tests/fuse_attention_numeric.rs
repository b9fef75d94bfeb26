//! End to end: every fixture, imported and run through
//! `shape-infer,canonicalize,fuse-attention`, still matches onnxruntime's outputs at 1e-4 on
//! both recorded cases when interpreted — with its attention blocks as `attn.mha`.

mod common;
use common::*;

use sofa::npz::read_npz;

#[test]
fn fused_fixtures_match_onnxruntime() {
    for name in FIXTURES {
        let m = fused(name, FUSE_PIPELINE);
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
