//! Sparsity fusion as e-graph rewrites: every equivalent dataflow of an attention layer as an
//! alternative of one e-class, and extraction by the analytical cost model.
//!
//! Per layer shape, the term `(attn q k v)` seeds an egg e-graph ([`lang`]); rewrites
//! ([`rules`]) add to its class each way the chip can run it — dense FlashAttention-2, staged
//! sparse, CCT sparse for every `Tc` whose buffers fit the SRAMs; K̂ recomputed or spilled;
//! K/V generated on demand or preloaded; and each SOFA mechanism or its ablation baseline —
//! until saturation. [`mod@extract`] then picks the cheapest alternative a [`Pin`] admits
//! (`--schedule`, K/V placement, `--ablate`) with an `egg::CostFunction` whose cost is
//! [`crate::schedule::Pricer::cost`], and ranks the runner-up for the pass statistics.
//!
//! Why an e-graph when a loop would do: the alternatives are *rewrites of one term*, so new
//! dataflows are new rules, feasibility is a rule guard, pins are extraction filters, and the
//! same e-graph answers every pin (the layer's plan and its `staged` comparison) without being
//! rebuilt. Layers of equal shape share one e-graph ([`crate::schedule::plan_module`]).

pub mod extract;
pub mod lang;
pub mod rules;

use std::time::Duration;

use egg::{Id, RecExpr, Runner, SimpleScheduler, StopReason};

pub use extract::{extract, Extraction, Pin, Ranked};
use lang::SchedLang;
use rules::SchedGraph;

use super::cost::Pricer;
use super::shape::LayerShape;
use super::{Ablation, KhatPlacement, KvSource, Schedule};

/// One way of running a layer: a dataflow node of the root class, decoded. The field order is
/// the tie-break after latency, DRAM bytes and energy.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Alternative {
    /// Key tiles (`staged`: 1).
    pub tc: u64,
    /// Query rows per block.
    pub q_block: u64,
    pub khat: KhatPlacement,
    pub kv: KvSource,
    pub schedule: Schedule,
    /// Mechanisms replaced by their baseline (only those the dataflow has).
    pub ablate: Ablation,
}

impl Alternative {
    /// `cct Tc 32 Bq 128 khat spill kv on-demand`, plus ` ablate sads,rass` when any.
    pub fn describe(&self) -> String {
        let (tc, bq, kv) = (self.tc, self.q_block, self.kv.name());
        let mut text = match self.schedule {
            Schedule::Staged => format!("staged Bq {bq} kv {kv}"),
            Schedule::Dense => format!("dense Tc {tc} Bq {bq} kv {kv}"),
            Schedule::Cct => format!("cct Tc {tc} Bq {bq} khat {} kv {kv}", self.khat.name()),
        };
        let abl = self.ablate.to_list();
        if !abl.is_empty() {
            text.push_str(&format!(" ablate {abl}"));
        }
        text
    }
}

/// Size of a saturated e-graph and why the run stopped.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct GraphSize {
    pub classes: usize,
    pub nodes: usize,
    pub iterations: usize,
    /// `saturated`, `iteration-limit`, `node-limit` or `other`.
    pub stop: &'static str,
}

/// Bounds of a run: far above what the finite rule set needs, so runs saturate. Iterations
/// and nodes only, never wall-clock time, so a run stops at the same place on any machine.
const ITER_LIMIT: usize = 64;
const NODE_LIMIT: usize = 200_000;

/// The saturated e-graph of one layer shape on one chip, and the pricer it is extracted with.
pub struct ScheduleGraph<'p> {
    pub egraph: SchedGraph,
    /// The class of `(attn q k v)`.
    pub root: Id,
    pub size: GraphSize,
    pub pricer: &'p Pricer<'p>,
    pub shape: LayerShape,
}

fn stop_name(reason: Option<&StopReason>) -> &'static str {
    match reason {
        Some(StopReason::Saturated) => "saturated",
        Some(StopReason::IterationLimit(_)) => "iteration-limit",
        Some(StopReason::NodeLimit(_)) => "node-limit",
        _ => "other",
    }
}

/// Seed `(attn q k v)` and run the layer's rules to saturation.
pub fn build<'p>(pricer: &'p Pricer<'p>, shape: &LayerShape) -> ScheduleGraph<'p> {
    let mut seed = RecExpr::default();
    let q = seed.add(SchedLang::Q);
    let k = seed.add(SchedLang::K);
    let v = seed.add(SchedLang::V);
    seed.add(SchedLang::Attn([q, k, v]));
    let runner = Runner::default()
        .with_scheduler(SimpleScheduler)
        .with_iter_limit(ITER_LIMIT)
        .with_node_limit(NODE_LIMIT)
        // egg bounds runs by time by default (5 s): lift it, the limits above bound the run.
        .with_time_limit(Duration::MAX)
        .with_expr(&seed)
        .run(&rules::rules(pricer, shape));
    let stop = stop_name(runner.stop_reason.as_ref());
    let iterations = runner.iterations.len();
    let root = runner.egraph.find(runner.roots[0]);
    let egraph = runner.egraph;
    ScheduleGraph {
        size: GraphSize {
            classes: egraph.number_of_classes(),
            nodes: egraph.total_number_of_nodes(),
            iterations,
            stop,
        },
        egraph,
        root,
        pricer,
        shape: shape.clone(),
    }
}

impl ScheduleGraph<'_> {
    /// Every alternative of the root class, in plan order.
    pub fn alternatives(&self) -> Vec<Alternative> {
        let mut alts: Vec<Alternative> = self.egraph[self.root]
            .nodes
            .iter()
            .filter_map(|n| extract::decode(&self.egraph, n))
            .collect();
        alts.sort();
        alts
    }

    /// The cheapest alternative `pin` admits; errors name `layer`.
    pub fn extract(&self, pin: &Pin, layer: usize) -> Result<Extraction, super::ScheduleError> {
        extract::extract(self, pin, layer)
    }
}

/// What the pass statistics say about one layer's extraction.
#[derive(Clone, Debug, PartialEq)]
pub struct Choice {
    pub winner: Alternative,
    pub runner_up: Option<Ranked>,
    pub eligible: usize,
    pub alternatives: usize,
    pub size: GraphSize,
    /// The earlier layer whose e-graph this layer reuses (same shape), if any.
    pub shared_with: Option<usize>,
}

/// `100·(other − ours)/ours`, rounded to 2 decimals (0 when `ours` is 0).
pub fn margin_pct(ours: u64, other: u64) -> f64 {
    if ours == 0 {
        return 0.0;
    }
    let pct = 100.0 * (other as f64 - ours as f64) / ours as f64;
    (pct * 100.0).round() / 100.0
}
