//! Passes over the IR, and the registry listing them for pipelines and `sofa opt --list-passes`.
//!
//! - [`dce`]: erase unused side-effect-free ops.
//! - [`cse`]: merge identical side-effect-free ops.
//! - [`canonicalize`]: constant folding through each op's `fold` hook, then DCE and CSE.
//! - [`equiv`]: attribute/op equivalence and constant lookup shared by the above.
//! - [`fuse_attention`]: recognise attention blocks (egg) and replace each by `attn.mha`.
//! - [`shape_infer`]: bind named dims (`bind=batch:1,seq:128`) and refine value types.
//! - [`cct_tile`]: choose each attention layer's plan (schedule, Tc, query block, ablations).
//! - [`lower_to_sofa`]: replace each planned attention op by a `sofa.kernel` (buffers, loops).
//! - [`lowered_heads`]: the lowering plugged into the cost model (what `cct-tile` prices with).
//! - [`sparsify`]: turn `attn.mha` into `attn.sparse_mha` (keep ratio, tiles, radius; per layer).
//!
//! Adding a pass: write its module with a `pub static INFO: PassInfo` and a type implementing
//! [`sofa_ir::pass::Pass`], then add `&module::INFO` to [`registry`].

pub mod canonicalize;
pub mod cct_tile;
pub mod cse;
pub mod dce;
pub mod equiv;
pub mod fuse_attention;
pub mod lower_to_sofa;
pub mod lowered_heads;
pub mod shape_infer;
pub mod sparsify;

#[cfg(test)]
mod test_dialect;
#[cfg(test)]
mod tests;

use sofa_ir::pass::{PassInfo, PassRegistry};

/// Every pass of the compiler, in registration order (listing is sorted by name anyway).
pub static PASSES: &[&PassInfo] = &[
    &canonicalize::INFO,
    &cct_tile::INFO,
    &cse::INFO,
    &dce::INFO,
    &fuse_attention::INFO,
    &lower_to_sofa::INFO,
    &shape_infer::INFO,
    &sparsify::INFO,
];

/// A registry holding every compiler pass.
pub fn registry() -> PassRegistry {
    let mut r = PassRegistry::new();
    for info in PASSES {
        r.register(info);
    }
    r
}
