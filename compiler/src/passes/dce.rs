//! `dce`: dead code elimination.
//!
//! An op is dead when its op def has the `Pure` trait and none of its results is used; erasing it
//! erases everything nested in its regions too. Ops are swept in reverse pre-order with live use
//! counts, so a chain of dead ops dies in one sweep (users come after their producers in
//! pre-order); sweeps repeat until one erases nothing. Unregistered ops are never touched: without
//! a def we cannot know they are side-effect free.

use sofa_ir::dialect::{DialectRegistry, Trait};
use sofa_ir::pass::{Pass, PassContext, PassError, PassInfo, PassOutcome};
use sofa_ir::{Module, Op, SecondaryMap, Value};

pub static INFO: PassInfo = PassInfo {
    name: "dce",
    description: "Erase side-effect-free (Pure) ops whose results are all unused, in every region",
    options: &[],
    build: |_| Ok(Box::new(Dce)),
};

/// The `dce` pass.
#[derive(Debug, Default)]
pub struct Dce;

impl Pass for Dce {
    fn info(&self) -> &'static PassInfo {
        &INFO
    }

    fn run(&mut self, m: &mut Module, cx: &mut PassContext<'_>) -> Result<PassOutcome, PassError> {
        let erased = erase_dead_ops(m, cx.dialects);
        cx.stat("ops-erased", erased);
        Ok(PassOutcome::from_changed(erased > 0))
    }
}

/// Erase dead ops to a fixpoint. Returns the number of ops removed, nested ones included.
pub fn erase_dead_ops(m: &mut Module, dialects: &DialectRegistry) -> u64 {
    let mut uses = use_counts(m);
    let mut total = 0;
    loop {
        let erased = sweep(m, dialects, &mut uses);
        if erased == 0 {
            return total;
        }
        total += erased;
    }
}

/// One reverse pre-order sweep; returns the number of ops removed.
fn sweep(m: &mut Module, dialects: &DialectRegistry, uses: &mut SecondaryMap<Value, u32>) -> u64 {
    let mut erased = 0;
    for op in m.all_ops().into_iter().rev() {
        let data = m.op(op);
        if data.erased || data.parent.is_none() || !is_dead(m, dialects, uses, op) {
            continue;
        }
        let mut nested = Vec::new();
        m.walk_op(op, &mut |o| nested.push(o));
        for &o in &nested {
            for &v in &m.op(o).operands {
                uses[v] = uses[v].saturating_sub(1);
            }
        }
        m.erase_op(op);
        erased += nested.len() as u64;
    }
    erased
}

fn is_dead(
    m: &Module,
    dialects: &DialectRegistry,
    uses: &SecondaryMap<Value, u32>,
    op: Op,
) -> bool {
    let data = m.op(op);
    dialects.has_trait(&data.name, Trait::Pure) && data.results.iter().all(|&r| uses[r] == 0)
}

/// Number of uses of every value by attached ops.
fn use_counts(m: &Module) -> SecondaryMap<Value, u32> {
    let mut counts = SecondaryMap::default();
    m.walk_op(m.top, &mut |op| {
        for &v in &m.op(op).operands {
            counts[v] += 1;
        }
    });
    counts
}
