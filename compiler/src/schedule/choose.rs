//! `cct-tile`'s plans: the cheapest feasible alternative per layer, extracted from the layer
//! shape's e-graph ([`super::egraph`]).
//!
//! Candidates: `Tc` in 2..=32 step 2 while `Tc ≤ Sk` (a single tile when `Sk < 2`), the query
//! block `min(block.query_rows, Sq)`, K̂ recomputed or spilled, K/V on demand or preloaded. A
//! candidate is feasible when its tile buffers fit the SRAMs of the [`HwConfig`]:
//! - temp SRAM: the predicted tile Â (`rows × Bc` bytes) plus the selected indices (`rows × sel`
//!   16-bit tile-relative entries); not needed by `dense` or `staged` (no on-chip Â tile);
//! - token SRAM: the Q block (`rows × D`, 16 bit), one tile of K and V (`2 × Bc × D`, 16 bit,
//!   generated or preloaded; `staged` streams them in chunks of the query block) and the
//!   partial outputs (`rows × D`, 32 bit).
//!
//! The objective is the layer latency, then DRAM bytes, then energy, then the smaller `Tc`,
//! then recompute before spill (then on demand before preload): a total order, so the choice
//! is deterministic. Layers of equal shape share one e-graph, and its two extractions (the
//! plan and the `staged` comparison).

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;

use sofa_ir::dialect::attn::{MhaAttrs, SparseMhaAttrs, SPARSE_MHA};
use sofa_ir::hw::HwConfig;
use sofa_ir::{Module, Op};

use super::cost::{Candidate, LayerCost};
use super::egraph::{self, Choice, Extraction, Pin, ScheduleGraph};
use super::{Ablation, LayerPlan, Schedule, ScheduleError};
use sofa_ir::dialect::sofa::attention_kind;

/// The sizes of one attention layer that the cost depends on.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerShape {
    pub batch: u64,
    pub heads: u64,
    pub seq_q: u64,
    pub seq_k: u64,
    pub head_dim: u64,
    /// Width of the token rows X that K/V are generated from (`heads · head_dim`).
    pub hidden: u64,
    pub causal: bool,
    /// Fraction of each row's visible keys kept (1 = dense).
    pub keep: f64,
}

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

/// The key tile counts searched: `2..=32` step 2 up to `Sk`, else one tile.
pub fn tc_candidates(seq_k: u64) -> Vec<u64> {
    let even: Vec<u64> = (2..=32).step_by(2).filter(|&t| t <= seq_k).collect();
    if even.is_empty() {
        vec![1]
    } else {
        even
    }
}

/// Query rows per block: `block.query_rows`, or `Sq` when smaller.
pub fn q_block(hw: &HwConfig, s: &LayerShape) -> u64 {
    u64::from(hw.block.query_rows).min(s.seq_q).max(1)
}

/// Whether candidate `c` of `sched` fits the SRAMs (see the module doc).
pub fn fits(hw: &HwConfig, s: &LayerShape, sched: Schedule, c: &Candidate) -> bool {
    let bc = s.seq_k.div_ceil(c.tc);
    let rows = c.q_block;
    // Staged has no key tiles: its generated K/V stream through in query-block-sized chunks.
    let kv_rows = if sched == Schedule::Staged {
        bc.min(rows)
    } else {
        bc
    };
    let token = rows * s.head_dim * 2 + 2 * kv_rows * s.head_dim * 2 + rows * s.head_dim * 4;
    let sel = ((s.keep * s.seq_k as f64).ceil() as u64)
        .div_ceil(c.tc)
        .min(bc);
    let temp = rows * bc + rows * sel * 2;
    token <= hw.sram.token_bytes && (sched != Schedule::Cct || temp <= hw.sram.temp_bytes)
}

/// The schedule a layer actually runs: keep 1 has nothing to predict, so it is dense.
pub fn effective(sched: Schedule, s: &LayerShape) -> Schedule {
    if s.keep >= 1.0 {
        Schedule::Dense
    } else {
        sched
    }
}

/// The plan of an extraction's winner.
pub fn plan_of(hw: &HwConfig, s: &LayerShape, x: &Extraction) -> LayerPlan {
    let a = &x.winner.alt;
    let q_block = q_block(hw, s);
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

/// The cheapest feasible plan of one layer under `--schedule sched --ablate abl`, K/V on
/// demand (the layer's e-graph, built and extracted once).
pub fn choose_plan(
    hw: &HwConfig,
    s: &LayerShape,
    sched: Schedule,
    abl: Ablation,
    layer: usize,
) -> Result<LayerPlan, ScheduleError> {
    let g = egraph::build(hw, s);
    let x = g.extract(&Pin::new(sched, abl), layer)?;
    Ok(plan_of(hw, s, &x))
}

fn static_dims(m: &Module, op: Op, operand: usize) -> Option<Vec<u64>> {
    let v = *m.op(op).operands.get(operand)?;
    let t = m.value_type(v).as_tensor()?;
    t.dims.iter().map(|d| d.as_static()).collect()
}

/// The shape of an attention op; errors name the layer.
pub fn layer_shape(m: &Module, op: Op, layer: usize) -> Result<LayerShape, ScheduleError> {
    let bad = |message: &str| ScheduleError::Shape {
        layer,
        message: message.to_string(),
    };
    let (mha, keep) = if attention_kind(m, op) == Some(SPARSE_MHA) {
        let a =
            SparseMhaAttrs::of(m, op).ok_or_else(|| bad("attn.sparse_mha lacks its attributes"))?;
        (a.mha, a.keep_ratio)
    } else {
        (
            MhaAttrs::of(m, op).ok_or_else(|| bad("attn.mha lacks its attributes"))?,
            1.0,
        )
    };
    let q = static_dims(m, op, 0).ok_or_else(|| bad("q needs a static 4-d shape"))?;
    let k = static_dims(m, op, 1).ok_or_else(|| bad("k needs a static 4-d shape"))?;
    if q.len() != 4 || k.len() != 4 || q.contains(&0) || k[2] == 0 {
        return Err(bad("q and k must be non-empty [B, H, S, D] tensors"));
    }
    let heads = u64::try_from(mha.heads).map_err(|_| bad("negative heads"))?;
    Ok(LayerShape {
        batch: q[0],
        heads,
        seq_q: q[2],
        seq_k: k[2],
        head_dim: q[3],
        hidden: heads.saturating_mul(q[3]),
        causal: mha.causal,
        keep,
    })
}

/// Plan every attention layer of `m`, in order of appearance, under `--schedule sched
/// --ablate abl` with K/V on demand.
pub fn plan_module(
    m: &Module,
    hw: &HwConfig,
    sched: Schedule,
    abl: Ablation,
) -> Result<Vec<PlannedLayer>, ScheduleError> {
    plan_module_pinned(m, hw, &Pin::new(sched, abl))
}

/// One shape's e-graph results, shared by every layer of that shape.
struct Shared {
    first: usize,
    plan: LayerPlan,
    staged: LayerCost,
    choice: Choice,
}

fn plan_shape(
    hw: &HwConfig,
    shape: &LayerShape,
    pin: &Pin,
    index: usize,
) -> Result<Shared, ScheduleError> {
    let g: ScheduleGraph = egraph::build(hw, shape);
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
        plan: plan_of(hw, shape, &x),
        staged,
        choice,
    })
}

/// Plan every attention layer of `m` under `pin`, one e-graph per distinct layer shape.
pub fn plan_module_pinned(
    m: &Module,
    hw: &HwConfig,
    pin: &Pin,
) -> Result<Vec<PlannedLayer>, ScheduleError> {
    let mut cache: BTreeMap<String, Shared> = BTreeMap::new();
    let mut out = Vec::new();
    let layers = m
        .all_ops()
        .into_iter()
        .filter(|&o| attention_kind(m, o).is_some());
    for (index, op) in layers.enumerate() {
        let shape = layer_shape(m, op, index)?;
        let hit = match cache.entry(format!("{shape:?}")) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(plan_shape(hw, &shape, pin, index)?),
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
