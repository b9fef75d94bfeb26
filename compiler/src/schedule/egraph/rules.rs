//! The rewrites that grow one layer's root class into every equivalent dataflow.
//!
//! Rules are built per layer shape and hardware, so feasibility is a guard on the rule: a
//! dataflow whose tile buffers do not fit the SRAMs ([`crate::schedule::shape::fits`]) is
//! never introduced. A plan is a key tile count `T` and a query block `B`
//! ([`crate::schedule::shape::q_block_candidates`]); `staged` has no key tiles and keeps the
//! largest block.
//! - `fa2-dense`: `(attn q k v)` → `(fa2-dense tc=T qb=B kv=on-demand q k v)` per feasible plan;
//! - `staged` (sparse layers, when its buffers fit): → `(staged qb=B kv=on-demand abl=none q k
//!   v)`;
//! - `cct-tiles` (sparse layers): → `(cct tc=T qb=B khat=recompute kv=on-demand abl=none q k v)`
//!   per feasible plan;
//! - `khat-spill`: K̂ recomputed per query block ⇔ computed once and spilled;
//! - `kv-preload-*`: K/V generated on demand ⇔ projected once and preloaded;
//! - `gathered-*`: K/V gathered from DRAM as the lowering emits them (K̂ is the K tile read per
//!   query block, so `khat=spill`): `(fa2-dense tc=T qb=B kv=gathered …)` and `(cct tc=T qb=B
//!   khat=spill kv=gathered …)` per plan the lowering can lay out ([`gathered_plans`]), and
//!   `(staged qb=B kv=gathered …)`; also at keep 1, where the lowering runs every schedule
//!   selecting every key;
//! - `ablate-<m>-*`: a SOFA mechanism `m` ⇔ its baseline, for the mechanisms the dataflow has
//!   (`staged` already sorts whole rows and runs FA-2, so only `dlzs` and `rass` apply).
//!
//! Keep 1 has nothing to predict: only the dense forms and the gathered ones are introduced
//! (as `effective` in [`crate::schedule::shape`] says for the analytical placements). The rules only add
//! finitely many nodes, so every run saturates.

use egg::{Applier, Id, Pattern, PatternAst, Rewrite, Subst, Symbol, Var};
use sofa_ir::hw::HwConfig;

use super::lang::{Abl, Khat, Kv, Rows, SchedLang, Tiles};
use crate::schedule::cost::{HeadPlan, Pricer};
use crate::schedule::shape::{
    fits, q_block, q_block_candidates, tc_candidates, Candidate, LayerShape,
};
use crate::schedule::{Ablation, KhatPlacement, KvSource, Schedule};

pub type SchedGraph = egg::EGraph<SchedLang, ()>;
pub type SchedRewrite = Rewrite<SchedLang, ()>;

/// The mechanisms a dataflow has, i.e. the ablations that change it.
pub fn applicable(sched: Schedule) -> Abl {
    let bit = |m: &str| Abl::mechanism(m).unwrap_or(Abl::NONE);
    match sched {
        Schedule::Dense => Abl::NONE,
        Schedule::Staged => bit("dlzs").union(bit("rass")),
        Schedule::Cct => ["dlzs", "sads", "sufa", "rass"]
            .iter()
            .fold(Abl::NONE, |a, m| a.union(bit(m))),
    }
}

/// A key tile count and a query block.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Tiling {
    pub tc: u64,
    pub q_block: u64,
}

/// The query blocks `sched` is planned with: `staged` keeps the largest.
fn q_blocks(hw: &HwConfig, s: &LayerShape, sched: Schedule) -> Vec<u64> {
    if sched == Schedule::Staged {
        vec![q_block(hw, s)]
    } else {
        q_block_candidates(hw, s)
    }
}

/// The plans of `sched` whose buffers fit the SRAMs, by query block then `Tc`.
pub fn feasible_plans(hw: &HwConfig, s: &LayerShape, sched: Schedule) -> Vec<Tiling> {
    let tcs = if sched == Schedule::Staged {
        vec![1]
    } else {
        tc_candidates(s.seq_k)
    };
    let mut out = Vec::new();
    for q_block in q_blocks(hw, s, sched) {
        out.extend(tcs.iter().map(|&tc| Tiling { tc, q_block }).filter(|t| {
            let c = Candidate {
                tc: t.tc,
                q_block: t.q_block,
                khat: KhatPlacement::Recompute,
            };
            fits(hw, s, sched, &c)
        }));
    }
    out
}

fn var(name: &str) -> Var {
    name.parse().expect("constant variable name")
}

fn pattern(text: &str) -> Pattern<SchedLang> {
    text.parse().expect("constant pattern")
}

/// The root's operands `?q ?k ?v`.
#[derive(Copy, Clone)]
struct Operands {
    q: Var,
    k: Var,
    v: Var,
}

impl Operands {
    fn new() -> Operands {
        Operands {
            q: var("?q"),
            k: var("?k"),
            v: var("?v"),
        }
    }

    fn ids(&self, subst: &Subst) -> [Id; 3] {
        [subst[self.q], subst[self.k], subst[self.v]]
    }
}

/// Add `node` to `eclass`; the id when that changed the e-graph.
fn add_to(egraph: &mut SchedGraph, eclass: Id, node: SchedLang) -> Option<Id> {
    let id = egraph.add(node);
    egraph.union(eclass, id).then_some(id)
}

/// The plans the lowering can lay out for `sched` with gathered K/V, by query block then `Tc`:
/// the searched counts ([`tc_candidates`]) and the lowering's own default (what it runs when
/// the op carries no `sofa.tc`). The largest block is taken whenever the lowering lays it out
/// (with fewer positions where the SRAMs or stacked heads demand); a smaller one only where it
/// is a block of its own: its positions laid out whole, fewer than the largest block's, and
/// heads not packed (packing fills the lanes whatever the block).
pub fn gathered_plans(pricer: &Pricer<'_>, s: &LayerShape, sched: Schedule) -> Vec<Tiling> {
    let (hw, lowering) = (pricer.hw, pricer.lowering());
    let largest = q_block(hw, s);
    let mut out = Vec::new();
    for q_block in q_blocks(hw, s, sched) {
        let mut tcs = tc_candidates(s.seq_k);
        tcs.push(lowering.default_tc(hw, s, q_block));
        tcs.sort_unstable();
        tcs.dedup();
        tcs.retain(|&tc| {
            let head = |q_block| HeadPlan {
                shape: s,
                schedule: sched,
                ablate: Ablation::default(),
                tc: if sched == Schedule::Staged { 1 } else { tc },
                q_block,
            };
            let positions = |q| lowering.block_positions(hw, &head(q));
            match q_block == largest {
                true => positions(q_block).is_some(),
                false => {
                    positions(q_block) == Some(q_block)
                        && positions(largest).is_some_and(|p| p > q_block)
                        && !lowering.packs(hw, &head(q_block))
                }
            }
        });
        out.extend(tcs.into_iter().map(|tc| Tiling { tc, q_block }));
    }
    out
}

/// `(attn ?q ?k ?v)` → one tiled node per feasible plan.
struct Tiled {
    sched: Schedule,
    plans: Vec<Tiling>,
    ops: Operands,
    kv: KvSource,
}

impl Applier<SchedLang, ()> for Tiled {
    fn apply_one(
        &self,
        egraph: &mut SchedGraph,
        eclass: Id,
        subst: &Subst,
        _ast: Option<&PatternAst<SchedLang>>,
        _rule: Symbol,
    ) -> Vec<Id> {
        let [q, k, v] = self.ops.ids(subst);
        let kv = egraph.add(SchedLang::Kv(Kv(self.kv)));
        // Gathered K/V: K̂ is the K tile, read from DRAM per query block.
        let khat = if self.kv == KvSource::Gathered {
            KhatPlacement::Spill
        } else {
            KhatPlacement::Recompute
        };
        let mut changed = Vec::new();
        for plan in &self.plans {
            let t = egraph.add(SchedLang::Tiles(Tiles(plan.tc)));
            let r = egraph.add(SchedLang::Rows(Rows(plan.q_block)));
            let node = match self.sched {
                Schedule::Dense => SchedLang::Dense([t, r, kv, q, k, v]),
                Schedule::Staged => {
                    let a = egraph.add(SchedLang::Abl(Abl::NONE));
                    SchedLang::Staged([r, kv, a, q, k, v])
                }
                Schedule::Cct => {
                    let a = egraph.add(SchedLang::Abl(Abl::NONE));
                    let h = egraph.add(SchedLang::Khat(Khat(khat)));
                    SchedLang::Cct([t, r, h, kv, a, q, k, v])
                }
            };
            changed.extend(add_to(egraph, eclass, node));
        }
        changed
    }

    fn vars(&self) -> Vec<Var> {
        vec![self.ops.q, self.ops.k, self.ops.v]
    }
}

/// `(staged ?r ?kv ?a …)` / `(cct ?t ?r ?h ?kv ?a …)` → the same with mechanism `mech`
/// ablated.
struct Ablate {
    mech: Abl,
    /// The matched node's children, in order; `?a` among them.
    children: Vec<Var>,
    abl: Var,
    cct: bool,
}

fn abl_of(egraph: &SchedGraph, id: Id) -> Option<Abl> {
    egraph[id].nodes.iter().find_map(|n| match n {
        SchedLang::Abl(a) => Some(*a),
        _ => None,
    })
}

impl Applier<SchedLang, ()> for Ablate {
    fn apply_one(
        &self,
        egraph: &mut SchedGraph,
        eclass: Id,
        subst: &Subst,
        _ast: Option<&PatternAst<SchedLang>>,
        _rule: Symbol,
    ) -> Vec<Id> {
        let Some(current) = abl_of(egraph, subst[self.abl]) else {
            return Vec::new();
        };
        if current.contains(self.mech) {
            return Vec::new();
        }
        let ablated = egraph.add(SchedLang::Abl(current.union(self.mech)));
        let ids: Vec<Id> = self
            .children
            .iter()
            .map(|&c| if c == self.abl { ablated } else { subst[c] })
            .collect();
        let node = match (self.cct, ids.as_slice()) {
            (true, &[t, r, h, kv, a, q, k, v]) => SchedLang::Cct([t, r, h, kv, a, q, k, v]),
            (false, &[r, kv, a, q, k, v]) => SchedLang::Staged([r, kv, a, q, k, v]),
            _ => return Vec::new(),
        };
        add_to(egraph, eclass, node).into_iter().collect()
    }

    fn vars(&self) -> Vec<Var> {
        self.children.clone()
    }
}

fn rewrite(
    name: &str,
    lhs: &str,
    applier: impl Applier<SchedLang, ()> + Send + Sync + 'static,
) -> SchedRewrite {
    Rewrite::new(name, pattern(lhs), applier).expect("constant rule")
}

fn plain(name: &str, lhs: &str, rhs: &str) -> SchedRewrite {
    rewrite(name, lhs, pattern(rhs))
}

const ATTN: &str = "(attn ?q ?k ?v)";
const CCT: &str = "(cct ?t ?r ?h ?kv ?a ?q ?k ?v)";
const STAGED: &str = "(staged ?r ?kv ?a ?q ?k ?v)";

fn ablation_rules(sched: Schedule, lhs: &str, rules: &mut Vec<SchedRewrite>) {
    let names: &[&str] = if sched == Schedule::Cct {
        &["?t", "?r", "?h", "?kv", "?a", "?q", "?k", "?v"]
    } else {
        &["?r", "?kv", "?a", "?q", "?k", "?v"]
    };
    let children: Vec<Var> = names.iter().map(|n| var(n)).collect();
    for m in ["dlzs", "sads", "sufa", "rass"] {
        let Some(mech) = Abl::mechanism(m).filter(|&b| applicable(sched).contains(b)) else {
            continue;
        };
        let applier = Ablate {
            mech,
            children: children.clone(),
            abl: var("?a"),
            cct: sched == Schedule::Cct,
        };
        rules.push(rewrite(
            &format!("ablate-{m}-{}", sched.name()),
            lhs,
            applier,
        ));
    }
}

/// Every rule that applies to a layer of shape `s` on `hw`.
pub fn rules(pricer: &Pricer<'_>, s: &LayerShape) -> Vec<SchedRewrite> {
    let hw = pricer.hw;
    let ops = Operands::new();
    let mut rules = Vec::new();
    gathered_rules(pricer, s, &mut rules);
    let dense = feasible_plans(hw, s, Schedule::Dense);
    if !dense.is_empty() {
        let tiled = Tiled {
            sched: Schedule::Dense,
            plans: dense,
            ops,
            kv: KvSource::OnDemand,
        };
        rules.push(rewrite("fa2-dense", ATTN, tiled));
        rules.push(plain(
            "kv-preload-dense",
            "(fa2-dense ?t ?r kv=on-demand ?q ?k ?v)",
            "(fa2-dense ?t ?r kv=preload ?q ?k ?v)",
        ));
    }
    if s.keep >= 1.0 {
        ablation_rules(Schedule::Staged, STAGED, &mut rules);
        ablation_rules(Schedule::Cct, CCT, &mut rules);
        return rules;
    }
    let staged = feasible_plans(hw, s, Schedule::Staged);
    if !staged.is_empty() {
        let tiled = Tiled {
            sched: Schedule::Staged,
            plans: staged,
            ops,
            kv: KvSource::OnDemand,
        };
        rules.push(rewrite("staged", ATTN, tiled));
        rules.push(plain(
            "kv-preload-staged",
            "(staged ?r kv=on-demand ?a ?q ?k ?v)",
            "(staged ?r kv=preload ?a ?q ?k ?v)",
        ));
    }
    ablation_rules(Schedule::Staged, STAGED, &mut rules);
    let cct = feasible_plans(hw, s, Schedule::Cct);
    if !cct.is_empty() {
        let tiled = Tiled {
            sched: Schedule::Cct,
            plans: cct,
            ops,
            kv: KvSource::OnDemand,
        };
        rules.push(rewrite("cct-tiles", ATTN, tiled));
        rules.push(plain(
            "khat-spill",
            "(cct ?t ?r khat=recompute ?kv ?a ?q ?k ?v)",
            "(cct ?t ?r khat=spill ?kv ?a ?q ?k ?v)",
        ));
        rules.push(plain(
            "kv-preload-cct",
            "(cct ?t ?r ?h kv=on-demand ?a ?q ?k ?v)",
            "(cct ?t ?r ?h kv=preload ?a ?q ?k ?v)",
        ));
    }
    ablation_rules(Schedule::Cct, CCT, &mut rules);
    rules
}

/// The gathered dataflows (see the module doc), at every keep ratio.
fn gathered_rules(pricer: &Pricer<'_>, s: &LayerShape, rules: &mut Vec<SchedRewrite>) {
    for (sched, name) in [
        (Schedule::Dense, "gathered-dense"),
        (Schedule::Cct, "gathered-cct"),
    ] {
        let plans = gathered_plans(pricer, s, sched);
        if !plans.is_empty() {
            let tiled = Tiled {
                sched,
                plans,
                ops: Operands::new(),
                kv: KvSource::Gathered,
            };
            rules.push(rewrite(name, ATTN, tiled));
        }
    }
    // Always present (the `staged` comparison of every layer); priced analytically where the
    // staged lowering does not fit yet.
    let staged = Tiled {
        sched: Schedule::Staged,
        plans: vec![Tiling {
            tc: 1,
            q_block: q_block(pricer.hw, s),
        }],
        ops: Operands::new(),
        kv: KvSource::Gathered,
    };
    rules.push(rewrite("gathered-staged", ATTN, staged));
}
