//! The `gathered` K/V placement: K and V are tensors in DRAM (attention-only IR carries them,
//! and the model lowering reads them from DRAM too), priced as the lowering emits them.
//!
//! Rather than restating the lowering's dataflow, the cost of a plan is read off the segment
//! the lowering emits for one (batch, KV head) of the layer — the KV head's group of query
//! heads, whose rows `cct` and `dense` blocks stack — ([`HeadLowering`]) with the plan's
//! schedule, `Tc`, query block and ablations, at the workload type (f16): per query block LD Q
//! and VEC.AFFINE (the scale), then per key tile — `cct`: LD the K tile (K̂ is K), DLZS.S, the
//! causal table LD and VEC.ADD on diagonal tiles, SADS, RASS, GATHER of the selected K rows
//! and V rows, SUFA.T; `dense`: LD K, V and the slot table, SUFA.T fa2; `staged`: the whole
//! visible row with Â and the partials through DRAM — then SUFA.SYNC and ST, or, when a
//! block's partials do not fit on chip, their per-tile ST and per-chunk reload (the row block
//! and merge mode come from the lowering's own buffer search). Keep 1 selects every visible
//! key under every schedule, as the lowering does. The segment is then timed by
//! [`super::timeline`]: the simulator's in-order engines and semaphores, with the timing-only
//! model's distinct-key counts for RASS and GATHER. So the figures are the simulator's for
//! that program by construction, up to one approximation: the KV heads of a layer are
//! identical and run one after the other, so the layer's traffic, busy cycles and
//! instructions are `batch · kv_heads` times one KV head's, and its latency is one KV head's
//! plus `batch · kv_heads − 1` times what a second adds (a head starts while the previous one
//! finishes: the next block's loads, prediction and gathers overlap SU-FA's last tiles).
//! Where the lowering packs the rows of several heads into one block, the unit is up to 16
//! heads emitted together instead of one (exact for a layer of at most 16).
//!
//! Traffic classes: `q`, `k_x` (K rows: tiles and gathers), `v`, `o`, `tables` (causal and
//! slot tables), `spills` (SU-FA partials spilled by long rows), `ahat` and `a` (staged),
//! `mask` (a score bias: the head's `[Sq, Sk]` f32 tiles, which `SUFA.BIAS` also reads; masks
//! of exclusions only are left out, as the plan's choice does not depend on them).
//!
//! Where the staged lowering does not fit the chip (long rows), [`staged_estimate`] prices
//! the same instruction sequence analytically (its stages run back to back).

use std::collections::BTreeMap;

use sofa_ir::hw::timing::expected_distinct;
use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{Instr, TensorDecl, TensorKind};

use super::tally::{finish_with, Tally};
use super::timeline::{self, Timed};
use super::LayerCost;
use crate::schedule::shape::LayerShape;
use crate::schedule::{Ablation, Schedule, ScheduleError, TensorClass, Traffic};

/// One (batch, KV head) of a layer under a plan — the KV head's whole group of query heads —
/// what the lowering is asked to emit.
#[derive(Clone, Copy, Debug)]
pub struct HeadPlan<'a> {
    pub shape: &'a LayerShape,
    pub schedule: Schedule,
    pub ablate: Ablation,
    pub tc: u64,
    pub q_block: u64,
}

/// One head as the lowering emitted it: its instructions and the DRAM tensors they address
/// (q, k, v and o named so, spills and tables as the lowering names them).
pub struct EmittedHead {
    pub instrs: Vec<Instr>,
    pub tensors: Vec<TensorDecl>,
}

/// The lowering as the cost model needs it. The cost model does not import the lowering:
/// `passes::lowered_heads::LoweredHeads` implements this over `lower::emit_segment`, and whoever
/// plans (the `cct-tile` pass, the driver) hands it in.
pub trait HeadLowering {
    /// Emit `kv_heads` KV heads of `h`, each with its group of query heads (one segment, one
    /// after the other), at the workload type (f16), K and V gathered from DRAM.
    fn emit(
        &self,
        hw: &HwConfig,
        h: &HeadPlan<'_>,
        kv_heads: u64,
    ) -> Result<EmittedHead, ScheduleError>;
    /// The query positions of the lowering's blocks for `h` (fewer than `h.q_block` where the
    /// SRAMs or stacked heads demand); `None` when it cannot lay `h` out (its buffer search
    /// finds no row block that fits).
    fn block_positions(&self, hw: &HwConfig, h: &HeadPlan<'_>) -> Option<u64>;
    /// Whether the lowering's blocks pack the rows of several heads (so that heads are not
    /// priced one at a time).
    fn packs(&self, hw: &HwConfig, h: &HeadPlan<'_>) -> bool;
    /// The `Tc` the lowering picks for `s` when the op carries none.
    fn default_tc(&self, hw: &HwConfig, s: &LayerShape, q_block: u64) -> u64;
}

/// The traffic class of a tensor of the one-head segment.
fn class_of_tensor(t: &TensorDecl) -> &'static str {
    let n = t.name.as_str();
    match t.kind {
        TensorKind::Const => "tables",
        TensorKind::Output => TensorClass::O.name(),
        _ if n == "q" => TensorClass::Q.name(),
        _ if n == "k" => TensorClass::KX.name(),
        _ if n == "v" => TensorClass::V.name(),
        _ if n == "mask" => TensorClass::Mask.name(),
        _ if n.ends_with(".spill.ahat") => TensorClass::Ahat.name(),
        _ if n.ends_with(".spill.a") => TensorClass::A.name(),
        _ => TensorClass::Spills.name(),
    }
}

/// Time an emitted head, its traffic sorted into the cost model's classes.
fn time_head(hw: &HwConfig, head: &EmittedHead) -> Result<Timed, ScheduleError> {
    let mut spans: Vec<(u64, u64, &'static str)> = head
        .tensors
        .iter()
        .map(|t| {
            let len = t.dtype.bytes_for(t.shape.iter().product()).unwrap_or(0);
            (t.dram, t.dram.saturating_add(len), class_of_tensor(t))
        })
        .collect();
    spans.sort();
    let class_of = |addr: u64| {
        let i = spans.partition_point(|&(start, _, _)| start <= addr);
        match i.checked_sub(1).map(|i| spans[i]) {
            Some((_, end, c)) if addr < end => c,
            _ => TensorClass::Spills.name(),
        }
    };
    timeline::time(hw, &head.instrs, &class_of)
}

/// Heads priced together when the lowering packs them (a layer with more is extrapolated
/// from `PACKED` and `2 · PACKED` of them).
const PACKED: u64 = 16;

/// The cost of `h` with K/V gathered from DRAM (see the module doc): one KV head (with its
/// group of query heads) emitted by `lowering` and timed, scaled to the layer's
/// `batch · kv_heads`.
pub fn layer_cost(
    hw: &HwConfig,
    lowering: &dyn HeadLowering,
    h: &HeadPlan<'_>,
) -> Result<LayerCost, ScheduleError> {
    let s = h.shape;
    let units = s.batch.saturating_mul(s.kv_heads);
    // Packed blocks run on from one head into the next: price up to PACKED heads together.
    let per = if lowering.packs(hw, h) {
        units.clamp(1, PACKED)
    } else {
        1
    };
    let timed = |n: u64| lowering.emit(hw, h, n).and_then(|e| time_head(hw, &e));
    let one = match timed(per) {
        Ok(t) => t,
        Err(_) if h.schedule == Schedule::Staged && lowering.block_positions(hw, h).is_none() => {
            return staged_estimate(hw, s, h.ablate, h.q_block);
        }
        Err(e) => return Err(e),
    };
    // `v · units / per`: the figures of `per` heads for all of them.
    let times = |v: u64| {
        let scaled = u128::from(v) * u128::from(units) / u128::from(per);
        u64::try_from(scaled).unwrap_or(u64::MAX)
    };
    let latency = if units > per {
        let next = timed(2 * per)?.latency.saturating_sub(one.latency);
        one.latency.saturating_add(times(next).saturating_sub(next))
    } else {
        one.latency
    };
    let scale = |m: &mut BTreeMap<&'static str, u64>| {
        m.values_mut().for_each(|v| *v = times(*v));
    };
    let mut cost = LayerCost {
        cycles: one.busy,
        latency,
        instrs: one.instrs,
        dram: one
            .dram
            .into_iter()
            .map(|(k, t)| {
                let t = Traffic {
                    read: times(t.read),
                    written: times(t.written),
                };
                (k, t)
            })
            .collect(),
        ..LayerCost::default()
    };
    scale(&mut cost.cycles);
    scale(&mut cost.instrs);
    if h.schedule != Schedule::Staged {
        let bc = s.seq_k.div_ceil(h.tc).max(1);
        let skipped: u64 = s
            .blocks(h.q_block)
            .map(|b| h.tc - b.tiles(bc).min(h.tc))
            .sum();
        cost.causal_tiles_skipped = skipped.saturating_mul(s.batch.saturating_mul(s.heads));
    }
    finish_with(hw, cost)
}

/// The staged flow of the lowering, priced instruction by instruction where its buffers do not
/// fit the chip: per block LD Q, VEC.AFFINE, LD of the visible K row, DLZS.S, Â stored and
/// reloaded, one SADS and RASS over the row, GATHER of the distinct selected K and V rows,
/// SUFA.T fa2, the partials stored and reloaded, SUFA.SYNC, ST. Stages run back to back, so
/// the latency is the sum of the busy cycles.
pub fn staged_estimate(
    hw: &HwConfig,
    s: &LayerShape,
    abl: Ablation,
    q_block: u64,
) -> Result<LayerCost, ScheduleError> {
    let mut t = Tally::new(hw);
    let heads = s.batch.saturating_mul(s.heads);
    let (d, act) = (s.head_dim, 2);
    let part_row = (d + 2) * 4;
    for b in s.blocks(q_block) {
        let n = b.keys();
        let k = if s.keep >= 1.0 { n } else { s.budget(n) };
        t.dma(TensorClass::Q, b.rows, d * act, heads, false)?;
        t.vec_affine(b.rows, d, heads)?;
        t.dma(TensorClass::KX, n, d * act, heads, false)?;
        t.predict(false, b.rows, d, n, abl, heads)?;
        t.dma(TensorClass::Ahat, b.rows, n * act, heads, true)?;
        t.dma(TensorClass::Ahat, b.rows, n * act, heads, false)?;
        let listed = t.select(b.rows, n, k, abl, heads)?;
        let rows = if abl.rass {
            listed
        } else {
            expected_distinct(n, k, b.rows)
        };
        t.gather(TensorClass::KX, rows, d * act, heads)?;
        t.gather(TensorClass::V, rows, d * act, heads)?;
        t.sufa_tile(b.rows, k, d, (true, false), heads)?;
        t.dma(TensorClass::A, b.rows, part_row, heads, true)?;
        t.dma(TensorClass::A, b.rows, part_row, heads, false)?;
        t.sync(b.rows, 1, d, heads)?;
        t.dma(TensorClass::O, b.rows, d * act, heads, true)?;
    }
    let latency = t.cost.cycles.values().sum();
    let mut cost = t.cost;
    cost.latency = latency;
    finish_with(hw, cost)
}
