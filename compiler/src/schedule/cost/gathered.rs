//! The `gathered` K/V placement: K and V are tensors in DRAM (attention-only IR carries them,
//! and the model lowering reads them from DRAM too), priced as the lowering emits them.
//!
//! Rather than restating the lowering's dataflow, the cost of a plan is read off the segment
//! [`crate::lower::emit_segment`] emits for one (batch, head) of the layer with the plan's
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
//! that program by construction, up to one approximation: the heads of a layer are identical
//! and run one after the other (each query block waits for the previous block's output ST),
//! so the layer's figures are `batch · heads` times one head's — which counts the segment's
//! opening and closing handshakes once per head.
//!
//! Traffic classes: `q`, `k_x` (K rows: tiles and gathers), `v`, `o`, `tables` (causal and
//! slot tables), `spills` (SU-FA partials spilled by long rows), `ahat` and `a` (staged).
//!
//! Where the staged lowering does not fit the chip (long rows), [`staged_estimate`] prices
//! the same instruction sequence analytically (its stages run back to back).

use std::collections::BTreeMap;
use std::sync::Mutex;

use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{TensorDecl, TensorKind};

use super::timeline::{self, Timed};
use sofa_ir::hw::timing::expected_distinct;
use super::{blocks, budget, finish_with, LayerCost, Tally};
use crate::lower::buffers::{default_tiles, fit};
use crate::lower::dram::DramLayout;
use crate::lower::{emit_segment, Layer, WORKLOAD_DT};
use crate::schedule::choose::LayerShape;
use crate::schedule::{Ablation, Schedule, ScheduleError, TensorClass, Traffic};

/// The lowering's layer for one head of `s` under the plan (DRAM addresses unset).
fn one_head(s: &LayerShape, sched: Schedule, abl: Ablation, tc: u64, q_block: u64) -> Layer {
    let tc = tc.clamp(1, s.seq_k.max(1));
    Layer {
        name: "layer".into(),
        schedule: sched,
        batch: 1,
        heads: 1,
        kv_heads: 1,
        seq_q: s.seq_q,
        seq_k: s.seq_k,
        d: s.head_dim,
        causal: s.causal,
        keep: s.keep,
        tc,
        tc_fixed: true,
        bc: s.seq_k.div_ceil(tc),
        q_block,
        radius: f32::INFINITY,
        dt: WORKLOAD_DT,
        scale: 1.0,
        mask: None,
        ablate: abl,
        q: 0,
        k: 0,
        v: 0,
        o: 0,
        spill_ahat: 0,
        spill_a: 0,
        kv_gen: None,
    }
}

/// Whether the lowering can lay out `sched` with `tc` key tiles for `s` (its buffer search
/// finds a row block that fits the SRAMs).
pub fn lowers(hw: &HwConfig, s: &LayerShape, sched: Schedule, tc: u64, q_block: u64) -> bool {
    let tc = if sched == Schedule::Staged { 1 } else { tc };
    fit(hw, &one_head(s, sched, Ablation::default(), tc, q_block)).is_ok()
}

/// The `Tc` the lowering picks when the op carries none (`sofa run --workload`).
pub fn lowering_default_tc(hw: &HwConfig, s: &LayerShape, q_block: u64) -> u64 {
    let rows = u64::from(hw.block.query_rows).max(1);
    let mut l = one_head(
        s,
        Schedule::Cct,
        Ablation::default(),
        s.seq_k.div_ceil(rows),
        q_block,
    );
    l.tc_fixed = false;
    default_tiles(hw, &mut l, false);
    l.tc
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
        _ if n.ends_with(".spill.ahat") => TensorClass::Ahat.name(),
        _ if n.ends_with(".spill.a") => TensorClass::A.name(),
        _ => TensorClass::Spills.name(),
    }
}

/// Emit and time one head of `s` under the plan.
fn time_one_head(
    hw: &HwConfig,
    s: &LayerShape,
    sched: Schedule,
    abl: Ablation,
    tc: u64,
    q_block: u64,
) -> Result<Timed, ScheduleError> {
    let mut l = one_head(s, sched, abl, tc, q_block);
    let mut dram = DramLayout::default();
    let overflow = || ScheduleError::BadOption("DRAM addresses overflow".into());
    let mut add = |name: &str, kind, rows| {
        dram.add(
            name.into(),
            kind,
            WORKLOAD_DT,
            vec![1, 1, rows, s.head_dim],
            vec![],
        )
        .ok_or_else(overflow)
    };
    l.q = add("q", TensorKind::Input, s.seq_q)?;
    l.k = add("k", TensorKind::Input, s.seq_k)?;
    l.v = add("v", TensorKind::Input, s.seq_k)?;
    l.o = add("o", TensorKind::Output, s.seq_q)?;
    let mut out = Vec::new();
    emit_segment(hw, &l, &mut dram, &mut out)
        .map_err(|e| ScheduleError::BadOption(e.to_string()))?;
    let mut spans: Vec<(u64, u64, &'static str)> = dram
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
    timeline::time(hw, &out, &class_of)
}

/// A plan's identity for the memo: hardware hash, shape, schedule, ablations, `Tc`, block.
type MemoKey = (u64, String, Schedule, Ablation, u64, u64);

/// Costs already computed in this process. Emitting and timing a head is the expensive part
/// of planning, and the same plans are costed again and again (every layer of a shape, every
/// extraction of a pin, `sofa bench paper`); the figures are a pure function of the key.
/// Bounded: cleared when full.
static MEMO: Mutex<BTreeMap<MemoKey, Result<LayerCost, ScheduleError>>> =
    Mutex::new(BTreeMap::new());
const MEMO_CAP: usize = 4096;

/// The cost of `s` under `sched` with K/V gathered from DRAM (see the module doc).
pub fn layer_cost(
    hw: &HwConfig,
    s: &LayerShape,
    sched: Schedule,
    abl: Ablation,
    tc: u64,
    q_block: u64,
) -> Result<LayerCost, ScheduleError> {
    let tc = if sched == Schedule::Staged { 1 } else { tc };
    let key = (hw.hash(), format!("{s:?}"), sched, abl, tc, q_block);
    if let Some(hit) = MEMO.lock().ok().and_then(|m| m.get(&key).cloned()) {
        return hit;
    }
    let cost = compute(hw, s, sched, abl, tc, q_block);
    if let Ok(mut m) = MEMO.lock() {
        if m.len() >= MEMO_CAP {
            m.clear();
        }
        m.insert(key, cost.clone());
    }
    cost
}

fn compute(
    hw: &HwConfig,
    s: &LayerShape,
    sched: Schedule,
    abl: Ablation,
    tc: u64,
    q_block: u64,
) -> Result<LayerCost, ScheduleError> {
    let heads = s.batch.saturating_mul(s.heads);
    let one = match time_one_head(hw, s, sched, abl, tc, q_block) {
        Ok(t) => t,
        Err(_) if sched == Schedule::Staged && !lowers(hw, s, sched, tc, q_block) => {
            return staged_estimate(hw, s, abl, q_block);
        }
        Err(e) => return Err(e),
    };
    let scale = |m: &mut BTreeMap<&'static str, u64>| {
        m.values_mut().for_each(|v| *v = v.saturating_mul(heads));
    };
    let mut cost = LayerCost {
        cycles: one.busy,
        latency: one.latency.saturating_mul(heads),
        instrs: one.instrs,
        dram: one
            .dram
            .into_iter()
            .map(|(k, t)| {
                let t = Traffic {
                    read: t.read.saturating_mul(heads),
                    written: t.written.saturating_mul(heads),
                };
                (k, t)
            })
            .collect(),
        ..LayerCost::default()
    };
    scale(&mut cost.cycles);
    scale(&mut cost.instrs);
    if sched != Schedule::Staged {
        let bc = s.seq_k.div_ceil(tc).max(1);
        let skipped: u64 = blocks(s, q_block.max(1), bc)
            .iter()
            .map(|b| tc - b.tiles.min(tc))
            .sum();
        cost.causal_tiles_skipped = skipped.saturating_mul(heads);
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
    let mut t = Tally {
        hw,
        cost: LayerCost::default(),
    };
    let heads = s.batch.saturating_mul(s.heads);
    let (d, act) = (s.head_dim, 2);
    let part_row = (d + 2) * 4;
    for b in &blocks(s, q_block.max(1), s.seq_k.max(1)) {
        let k = if s.keep >= 1.0 {
            b.n
        } else {
            budget(s.keep, b.n)
        };
        t.dma(TensorClass::Q, b.rows, d * act, heads, false)?;
        t.vec_affine(b.rows, d, heads)?;
        t.dma(TensorClass::KX, b.n, d * act, heads, false)?;
        t.predict(false, b.rows, d, b.n, abl, heads)?;
        t.dma(TensorClass::Ahat, b.rows, b.n * act, heads, true)?;
        t.dma(TensorClass::Ahat, b.rows, b.n * act, heads, false)?;
        let listed = t.select(b.rows, b.n, k, abl, heads)?;
        let rows = if abl.rass {
            listed
        } else {
            expected_distinct(b.n, k, b.rows)
        };
        t.gather(TensorClass::KX, rows, d * act, heads)?;
        t.gather(TensorClass::V, rows, d * act, heads)?;
        t.sufa_tile(b.rows, k, d, true, heads)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(seq: u64, causal: bool, keep: f64) -> LayerShape {
        LayerShape {
            batch: 1,
            heads: 2,
            seq_q: seq,
            seq_k: seq,
            head_dim: 64,
            hidden: 128,
            causal,
            keep,
        }
    }

    #[test]
    fn one_tile_of_a_short_row_moves_q_k_gathers_and_o() {
        let hw = HwConfig::default();
        // 128 keys, one tile, 128 queries keeping 32 each: E = 128·(1 − 0.75^128) → all 128.
        let s = shape(128, false, 0.25);
        let c = layer_cost(&hw, &s, Schedule::Cct, Ablation::default(), 1, 128).unwrap();
        let row = 128; // 64 f16
        assert_eq!(c.dram["q"].read, 2 * 128 * row);
        assert_eq!(c.dram["k_x"].read, 2 * (128 + 128) * row);
        assert_eq!(c.dram["v"].read, 2 * 128 * row);
        assert_eq!(c.dram["o"].written, 2 * 128 * row);
        assert_eq!(c.instrs["GATHER"], 4);
        assert_eq!(c.instrs["SUFA.T"], 2);
        // The latency is at least the busiest engine and the serial chain of one tile.
        let busiest = c.cycles.values().copied().max().unwrap();
        assert!(c.latency >= busiest, "{c:?}");
    }

    #[test]
    fn causal_blocks_skip_future_tiles_and_load_diagonal_tables() {
        let hw = HwConfig::default();
        let s = shape(256, true, 0.25);
        let c = layer_cost(&hw, &s, Schedule::Cct, Ablation::default(), 2, 128).unwrap();
        // Blocks see 1 and 2 tiles of 128 keys: 1 of 4 tile slots skipped per head.
        assert_eq!(c.causal_tiles_skipped, 2);
        assert_eq!(c.instrs["SUFA.T"], 2 * 3);
        // One 128×128 f16 causal table per diagonal tile (one per block).
        assert_eq!(c.dram["tables"].read, 2 * 2 * 128 * 128 * 2);
    }

    #[test]
    fn the_lowering_default_tc_is_one_query_block_of_keys_when_it_fits() {
        let hw = HwConfig::default();
        assert_eq!(lowering_default_tc(&hw, &shape(512, false, 0.25), 128), 4);
        assert!(lowers(
            &hw,
            &shape(512, false, 0.25),
            Schedule::Staged,
            1,
            128
        ));
    }
}
