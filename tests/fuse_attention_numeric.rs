//! End to end: every fixture, imported and run through
//! `shape-infer,canonicalize,fuse-attention`, still matches onnxruntime's outputs at 1e-4 on
//! both recorded cases when interpreted — with its attention blocks as `attn.mha`.

mod common;
use common::*;

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
        for (input, expected) in CASES {
            check_case(name, &m, input, expected);
        }
    }
}
