//! insta snapshots of every fixture's IR after `shape-infer,canonicalize,fuse-attention`: the
//! recognised `attn.mha` ops with their attributes, and everything left around them. The weights'
//! resource section is left out of the snapshot (it is megabytes of hex and checked elsewhere).

mod common;
use common::*;

use sofa_ir::text::print_module;

/// The printed module up to (not including) the `{-# dialect_resources ... #-}` section.
fn without_resources(text: &str) -> &str {
    text.find("\n{-#").map_or(text, |i| &text[..i + 1])
}

#[test]
fn fused_ir_of_every_fixture() {
    for name in FIXTURES {
        let m = fused(name, FUSE_PIPELINE);
        let text = print_module(&m);
        insta::assert_snapshot!(format!("fused_{name}"), without_resources(&text));
    }
}
