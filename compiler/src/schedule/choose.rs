//! `cct-tile`'s plans: the cheapest feasible alternative per layer, extracted from the layer
//! shape's e-graph ([`super::egraph`]).
//!
//! Candidates: `Tc` in 2..=32 step 2 while `Tc ≤ Sk` (a single tile when `Sk < 2`), the query
//! block `min(block.query_rows, Sq)` or half of it (`staged`: the first only), K̂ recomputed or
//! spilled, K/V on demand or preloaded. A candidate is feasible when its tile buffers fit the
//! SRAMs of the [`sofa_ir::hw::HwConfig`]:
//! - temp SRAM: the predicted tile Â (`rows × Bc` bytes) plus the selected indices (`rows × sel`
//!   16-bit tile-relative entries); not needed by `dense` or `staged` (no on-chip Â tile);
//! - token SRAM: the Q block (`rows × D`, 16 bit), one tile of K and V (`2 × Bc × D`, 16 bit,
//!   generated or preloaded; `staged` streams them in chunks of the query block) and the
//!   partial outputs (`rows × D`, 32 bit).
//!
//! The objective ([`mod@super::egraph::extract`]): the fewest DRAM bytes among the plans at
//! most the pin's latency slack (3% by default) slower than the fastest, then latency, energy,
//! the larger query block, the smaller `Tc`, recompute before spill (then on demand before
//! preload): a total order, so the choice is deterministic. Layers of equal shape share one
//! e-graph, and its two extractions (the plan and the `staged` comparison).

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;

use sofa_ir::dialect::sofa::attention_kind;
use sofa_ir::{Module, Op};

use super::cost::{LayerCost, Pricer};
use super::egraph::{self, Choice, Extraction, Pin, ScheduleGraph};
use super::shape::LayerShape;
use super::{LayerPlan, Schedule, ScheduleError};

/// One layer's plan with its position in the module.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedLayer {
    pub index: usize,
    pub op: Op,
    /// The op's location (e.g. `llama-7b/layer0/attention`).
    pub name: String,
    pub shape: LayerShape,
    pub plan: LayerPlan,
    /// The same layer under `staged` (the comparison of `schedule-json`).
    pub staged: LayerCost,
    /// How the plan won its e-graph extraction.
    pub choice: Choice,
}

/// The plan of an extraction's winner.
pub fn plan_of(s: &LayerShape, x: &Extraction) -> LayerPlan {
    let a = &x.winner.alt;
    let q_block = a.q_block.max(1);
    LayerPlan {
        schedule: a.schedule,
        tc: a.tc,
        bc: s.seq_k.div_ceil(a.tc),
        q_block,
        query_blocks: s.seq_q.div_ceil(q_block),
        khat: a.khat,
        kv: a.kv,
        cost: x.winner.cost.clone(),
    }
}

/// One shape's e-graph results, shared by every layer of that shape.
struct Shared {
    first: usize,
    plan: LayerPlan,
    staged: LayerCost,
    choice: Choice,
}

fn plan_shape(
    pricer: &Pricer<'_>,
    shape: &LayerShape,
    pin: &Pin,
    index: usize,
) -> Result<Shared, ScheduleError> {
    let g: ScheduleGraph = egraph::build(pricer, shape);
    let x = g.extract(pin, index)?;
    let staged_pin = Pin {
        schedule: Some(Schedule::Staged),
        ..*pin
    };
    let staged = g.extract(&staged_pin, index)?.winner.cost;
    let choice = Choice {
        winner: x.winner.alt,
        runner_up: x.runner_up.clone(),
        eligible: x.eligible,
        alternatives: x.alternatives,
        size: g.size,
        shared_with: None,
    };
    Ok(Shared {
        first: index,
        plan: plan_of(shape, &x),
        staged,
        choice,
    })
}

/// Plan every attention layer of `m` under `pin`, one e-graph per distinct layer shape.
pub fn plan_module(
    m: &Module,
    pricer: &Pricer<'_>,
    pin: &Pin,
) -> Result<Vec<PlannedLayer>, ScheduleError> {
    plan_module_tiled(m, pricer, pin, &BTreeMap::new())
}

/// [`plan_module`] with the key tiles of some layers forced: `layer_tc[i]` pins layer `i`'s
/// `Tc` (a per-layer `tiles` override of a `--layers` file, `sofa calibrate`'s tile search),
/// over `pin.tc` for that layer.
pub fn plan_module_tiled(
    m: &Module,
    pricer: &Pricer<'_>,
    pin: &Pin,
    layer_tc: &BTreeMap<usize, u64>,
) -> Result<Vec<PlannedLayer>, ScheduleError> {
    let mut cache = BTreeMap::new();
    let mut out = Vec::new();
    let layers = m
        .all_ops()
        .into_iter()
        .filter(|&o| attention_kind(m, o).is_some());
    for (index, op) in layers.enumerate() {
        let shape = LayerShape::of(m, op, index)?;
        let pin = Pin {
            tc: layer_tc.get(&index).copied().or(pin.tc),
            ..*pin
        };
        let hit = match cache.entry((shape.key(), pin.tc)) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(plan_shape(pricer, &shape, &pin, index)?),
        };
        let mut choice = hit.choice.clone();
        choice.shared_with = (hit.first != index).then_some(hit.first);
        let name = match &m.op(op).loc {
            sofa_ir::Location::Name(n) => n.clone(),
            _ => format!("layer{index}"),
        };
        out.push(PlannedLayer {
            index,
            op,
            name,
            shape,
            plan: hit.plan.clone(),
            staged: hit.staged.clone(),
            choice,
        });
    }
    Ok(out)
}
