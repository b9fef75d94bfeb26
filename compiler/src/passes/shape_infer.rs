//! `shape-infer`: bind named dims to sizes, then refine every value type from the ops' inference
//! hooks, so later passes see static shapes wherever the inputs pin them down.
//!
//! The importer already infers types once, with symbolic shape tracking. This pass re-runs the
//! inference after the user fixes some dims (`--shape batch=1,seq=128`) or after other rewrites,
//! and is what makes exporters' shape arithmetic foldable: once `x` has a static type,
//! `onnx.Shape(x)` folds (see `sofa_ir::dialect::onnx::fold`) and `canonicalize` collapses the
//! `Shape → Gather → Unsqueeze → Concat` chains into constant Reshape targets.
//!
//! Steps:
//! 1. **Bind** ([`bind_dims`]): every named dim listed in the `bind` option becomes static, in
//!    every value type, block argument and type attribute (`function_type`).
//! 2. **Refine** ([`refine_types`]): walk the ops in pre-order; for each registered op with an
//!    `infer` hook, call it with the constant value of each operand — produced by a
//!    `ConstantLike` op, or by an earlier op whose `fold` hook folds (kept in memory; this pass
//!    materialises nothing) — and merge the inferred result types into the current ones, dim by
//!    dim: static beats named beats `?`. A folded result's constant type refines it too. Two
//!    different static dims, a rank or element-type mismatch, or a failing inference hook is an
//!    error naming the op and its location.
//! 3. **Signatures**: each `func.func`'s `function_type` is set from its entry block's argument
//!    types and its `func.return` operand types.
//!
//! Option `bind` is a comma-separated list of `name:size` (or `name=size`) pairs, e.g.
//! `shape-infer{bind=batch:1,seq:128}`; names not present in the module are ignored (so the pass
//! stays idempotent). Statistics: `dims-bound` (named dims replaced in value types),
//! `values-refined` (value types made more precise), `signatures-updated`.

mod bind;
mod refine;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use sofa_ir::pass::{
    OptionKind, Pass, PassBuildError, PassContext, PassError, PassInfo, PassOption, PassOutcome,
};
use sofa_ir::Module;

pub use bind::{bind_dims, parse_bindings, BindingError};
pub use refine::{merge_types, refine_types, update_signatures, ConflictPart, TypeConflict};

/// Sizes for named dims, by name.
pub type Bindings = BTreeMap<String, u64>;

pub static INFO: PassInfo = PassInfo {
    name: "shape-infer",
    description:
        "Bind named dims to sizes and refine every value type from the ops' inference hooks",
    options: &[PassOption {
        name: "bind",
        kind: OptionKind::String,
        default: "",
        help: "named dims to make static: comma-separated name:size pairs, e.g. batch:1,seq:128",
    }],
    build: |opts| {
        let bindings = parse_bindings(opts.string("bind")?).map_err(PassBuildError::pass)?;
        Ok(Box::new(ShapeInfer { bindings }))
    },
};

/// The `shape-infer` pass.
#[derive(Debug, Default)]
pub struct ShapeInfer {
    /// Named dims to make static before refining.
    pub bindings: Bindings,
}

impl Pass for ShapeInfer {
    fn info(&self) -> &'static PassInfo {
        &INFO
    }

    fn run(&mut self, m: &mut Module, cx: &mut PassContext<'_>) -> Result<PassOutcome, PassError> {
        let bound = bind_dims(m, &self.bindings);
        let refined = refine_types(m, cx.dialects)?;
        let signatures = update_signatures(m)?;
        cx.stat("dims-bound", bound);
        cx.stat("values-refined", refined);
        cx.stat("signatures-updated", signatures);
        Ok(PassOutcome::from_changed(bound + refined + signatures > 0))
    }
}
