//! `cse`: common subexpression elimination.
//!
//! Two ops merge when they have the same name, operands, attributes, properties and result types,
//! no regions, and the trait `Pure` (or `ConstantLike`: equal constants merge too). Operands of
//! `Commutative` ops are compared sorted. The earlier op wins: uses of the later op's results are
//! redirected to the earlier op's, and the later op is erased (its location is dropped).
//!
//! Scoping (which earlier ops are candidates):
//! - default: ops earlier in the *same block* only;
//! - `aggressive=true`: also ops earlier in any enclosing block, before the op holding the nested
//!   region (those dominate everything inside it) — e.g. a constant recomputed inside a loop body
//!   merges into the one above the loop. `IsolatedFromAbove` ops (functions, modules) still start
//!   a fresh scope, since their regions cannot see outer values.
//!
//! The walk is in pre-order, and every op's operands are rewritten through the replacement map
//! when it is visited: users always come after their producers, so one walk suffices.

use std::collections::BTreeMap;

use sofa_ir::dialect::{DialectRegistry, Trait};
use sofa_ir::pass::{OptionKind, Pass, PassContext, PassError, PassInfo, PassOption, PassOutcome};
use sofa_ir::{Module, Op, SecondaryMap, Value};

use super::equiv::ops_equivalent;

pub static INFO: PassInfo = PassInfo {
    name: "cse",
    description: "Merge identical side-effect-free ops (and equal constants); the earlier op wins",
    options: &[PassOption {
        name: "aggressive",
        kind: OptionKind::Bool,
        default: "false",
        help: "also merge an op into an identical one in an enclosing block that dominates it \
               (across nested regions, never across functions)",
    }],
    build: |opts| {
        Ok(Box::new(Cse {
            aggressive: opts.bool("aggressive")?,
        }))
    },
};

/// The `cse` pass.
#[derive(Debug, Default)]
pub struct Cse {
    pub aggressive: bool,
}

impl Pass for Cse {
    fn info(&self) -> &'static PassInfo {
        &INFO
    }

    fn run(&mut self, m: &mut Module, cx: &mut PassContext<'_>) -> Result<PassOutcome, PassError> {
        let merged = merge_common_ops(m, cx.dialects, self.aggressive);
        cx.stat("ops-merged", merged);
        Ok(PassOutcome::from_changed(merged > 0))
    }
}

/// Merge equivalent ops across the whole module. Returns the number of ops erased.
pub fn merge_common_ops(m: &mut Module, dialects: &DialectRegistry, aggressive: bool) -> u64 {
    let mut cse = Walker {
        dialects,
        aggressive,
        replaced: SecondaryMap::with_default(None),
        merged: Vec::new(),
    };
    let top = m.top;
    cse.visit_regions(m, top, &mut Vec::new());
    // Uses the walk did not reach before their producer (only possible in invalid IR) must not
    // be left pointing at erased ops.
    for op in m.all_ops() {
        cse.rewrite_operands(m, op);
    }
    for &op in &cse.merged {
        m.erase_op(op);
    }
    cse.merged.len() as u64
}

/// Candidates of one block, bucketed by (name, operand key) and kept in program order.
type Frame = BTreeMap<(String, Vec<Value>), Vec<Op>>;

struct Walker<'a> {
    dialects: &'a DialectRegistry,
    aggressive: bool,
    /// Result of a merged op → result of the op it merged into.
    replaced: SecondaryMap<Value, Option<Value>>,
    /// Ops merged away (erased after the walk).
    merged: Vec<Op>,
}

impl Walker<'_> {
    /// Visit every block of `op`'s regions; `outer` holds the frames of dominating blocks.
    fn visit_regions(&mut self, m: &mut Module, op: Op, outer: &mut Vec<Frame>) {
        let inherit = self.aggressive
            && !self
                .dialects
                .has_trait(&m.op(op).name, Trait::IsolatedFromAbove);
        let regions = m.op(op).regions.clone();
        for region in regions {
            for block in m.regions[region].blocks.clone() {
                let mut fresh = Vec::new();
                let scopes = if inherit { &mut *outer } else { &mut fresh };
                scopes.push(Frame::new());
                self.visit_block(m, block, scopes);
                scopes.pop();
            }
        }
    }

    fn visit_block(&mut self, m: &mut Module, block: sofa_ir::Block, scopes: &mut Vec<Frame>) {
        for op in m.blocks[block].ops.clone() {
            self.rewrite_operands(m, op);
            if self.is_candidate(m, op) {
                let key = self.key(m, op);
                if let Some(earlier) = find_equivalent(m, scopes, &key, op) {
                    self.merge(m, op, earlier);
                    continue;
                }
                if let Some(frame) = scopes.last_mut() {
                    frame.entry(key).or_default().push(op);
                }
            }
            if !m.op(op).regions.is_empty() {
                self.visit_regions(m, op, scopes);
            }
        }
    }

    fn rewrite_operands(&self, m: &mut Module, op: Op) {
        for v in &mut m.op_mut(op).operands {
            if let Some(new) = self.replaced[*v] {
                *v = new;
            }
        }
    }

    fn is_candidate(&self, m: &Module, op: Op) -> bool {
        let data = m.op(op);
        let Some(def) = self.dialects.lookup(&data.name) else {
            return false;
        };
        data.regions.is_empty()
            && !data.results.is_empty()
            && (def.has_trait(Trait::Pure) || def.has_trait(Trait::ConstantLike))
    }

    fn key(&self, m: &Module, op: Op) -> (String, Vec<Value>) {
        let data = m.op(op);
        let mut operands = data.operands.clone();
        if self.dialects.has_trait(&data.name, Trait::Commutative) {
            operands.sort();
        }
        (data.name.clone(), operands)
    }

    fn merge(&mut self, m: &Module, op: Op, into: Op) {
        for (&old, &new) in m.op(op).results.iter().zip(&m.op(into).results) {
            self.replaced[old] = Some(new);
        }
        self.merged.push(op);
    }
}

/// The earliest op equivalent to `op` among the candidates in scope, innermost frame last.
fn find_equivalent(m: &Module, scopes: &[Frame], key: &(String, Vec<Value>), op: Op) -> Option<Op> {
    scopes
        .iter()
        .filter_map(|frame| frame.get(key))
        .flatten()
        .copied()
        .find(|&c| ops_equivalent(m, c, op))
}
