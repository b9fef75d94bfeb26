//! Plans in attention IR, for the lowering tests: the lowering reads each op's plan from its
//! attributes only, so a test states the plan it lowers there.

#![allow(dead_code)] // each test binary uses its own subset

use sofa_ir::dialect::attn::Plan;
use sofa_ir::dialect::sofa::attention_kind;
use sofa_ir::dialect::DialectRegistry;
use sofa_ir::pass::{NoInstrumentation, PassManager};
use sofa_ir::{Module, Op};

/// The attention ops of `m`, in order.
pub fn attention_ops(m: &Module) -> Vec<Op> {
    m.all_ops()
        .into_iter()
        .filter(|&op| attention_kind(m, op).is_some())
        .collect()
}

/// Run `pipeline` (verifying after each pass).
pub fn run(m: &mut Module, pipeline: &str) {
    let dialects = DialectRegistry::with_core_dialects();
    let registry = sofa_compiler::passes::registry();
    PassManager::from_pipeline(dialects, &registry, pipeline)
        .unwrap_or_else(|e| panic!("{pipeline}: {e}"))
        .run(m, &mut NoInstrumentation)
        .unwrap_or_else(|e| panic!("{pipeline}: {e}"));
}

/// Every attention op becomes `attn.sparse_mha` keeping `keep` of its keys.
pub fn sparsify(m: &mut Module, keep: f64) {
    run(m, &format!("sparsify{{keep={keep}}}"));
}

/// Write `plan` onto every attention op.
pub fn plan_all(m: &mut Module, plan: &Plan) {
    for op in attention_ops(m) {
        plan.to_attrs(&mut m.op_mut(op).attrs);
    }
}
