//! The analytical cost of one layer under one candidate plan, for the paper's K/V placements
//! (on demand, preloaded), which the lowering does not emit yet (it has no KVGEN from X).
//!
//! Per (batch, query head) and per query block the instructions of the schedule are listed with
//! their operand sizes and priced by [`sofa_ir::isa::Instr::cycles`] (the simulator's formulas); counts are
//! then multiplied by `batch · heads`. Causal layers skip every key tile that starts after the
//! block's last query, and only the block's visible keys count (`n`); the selection budget is
//! `⌈keep·n⌉`, split as `⌈budget/T⌉` per active tile (capped at the tile width).
//!
//! Dataflow per key tile (`cct`): K̂ (recompute: LD X tile + DLZS.K; spill: LD K̂ tile) →
//! DLZS.S → SADS → RASS → GATHER of the selected X rows → KVGEN K and V → SUFA.T; per block LD Q,
//! SUFA.SYNC and ST O. `dense` is LD X tile → KVGEN K, V → SUFA.T (FA-2) per tile. `staged`
//! computes K̂ for all keys (stored and reloaded), writes Â rows to DRAM and reads them back
//! for one whole-row SADS, generates the selected K/V, and round-trips A (16-bit) through DRAM.
//! Weights (W_k in LZ form, W_k and W_v in 8 bits) are loaded once per head when they fit the
//! weight SRAM, else once per query block (streamed beside X).
//!
//! K/V placement ([`KvSource`]): the flows above generate K and V *on demand* (GATHER X,
//! KVGEN). *Preloaded*, K and V are projected once per head for every key (per key tile: LD X,
//! KVGEN, ST K, ST V), and each query block then reads the K and V rows of its visible keys
//! back in order, whole tiles (`staged`: all visible keys), instead of gathering X and running
//! KVGEN; selection (SADS, RASS) is unchanged.
//!
//! Latency: `cct` and `dense` overlap their engines (the fine-grained tile pipeline), so the
//! layer takes the busiest engine's cycles; `staged` runs its stages back to back (the sum).
//! Energy: busy cycles × engine power plus DRAM device and interface energy per byte.

use sofa_ir::dialect::attn::QueryBlock;
use sofa_ir::hw::HwConfig;

use super::tally::{finish_with, Tally};
use super::{weight_bytes, Candidate, LayerCost};
use crate::schedule::shape::LayerShape;
use crate::schedule::{Ablation, KhatPlacement, KvSource, Schedule, ScheduleError, TensorClass};

/// The cost of `shape` under `sched` with candidate `c` and an analytical K/V placement
/// (on demand or preloaded; see the module doc).
pub fn analytical_cost(
    hw: &HwConfig,
    shape: &LayerShape,
    sched: Schedule,
    abl: Ablation,
    c: Candidate,
    kv: KvSource,
) -> Result<LayerCost, ScheduleError> {
    let mut t = Tally::new(hw);
    let heads = shape.batch * shape.heads;
    let (d, hidden) = (shape.head_dim, shape.hidden);
    let tc = if sched == Schedule::Staged { 1 } else { c.tc };
    let bc = shape.seq_k.div_ceil(tc).max(1);
    let blocks: Vec<QueryBlock> = shape.blocks(c.q_block).collect();
    let w = weight_bytes(shape);
    let weight_loads = if w <= hw.sram.weight_bytes {
        1
    } else {
        blocks.len() as u64
    };
    t.dma(TensorClass::Weights, 1, w, heads * weight_loads, false)?;
    let spill = sched == Schedule::Staged || c.khat == KhatPlacement::Spill;
    if spill {
        // K̂ once per head for every key, stored for the query blocks.
        t.dma(TensorClass::KX, shape.seq_k, hidden, heads, false)?;
        t.predict(true, shape.seq_k, hidden, d, abl, heads)?;
        t.dma(TensorClass::Khat, shape.seq_k, d, heads, true)?;
    }
    let preload = kv == KvSource::Preload;
    if preload {
        project_kv(&mut t, shape, bc, heads)?;
    }
    for b in &blocks {
        let tiles = b.tiles(bc);
        t.cost.causal_tiles_skipped += (tc - tiles.min(tc)) * heads;
        t.dma(TensorClass::Q, b.rows, 2 * d, heads, false)?;
        match sched {
            Schedule::Dense => dense_block(&mut t, shape, b, bc, heads, preload)?,
            Schedule::Cct => cct_block(&mut t, shape, b, bc, heads, abl, spill, preload)?,
            Schedule::Staged => staged_block(&mut t, shape, b, heads, abl, preload)?,
        }
        // One running partial per row: SYNC only divides.
        t.sync(b.rows, 1, d, heads)?;
        t.dma(TensorClass::O, b.rows, 2 * d, heads, true)?;
    }
    finish(t, sched)
}

/// Widths of the visible part of each active tile.
fn tile_widths(b: &QueryBlock, bc: u64) -> impl Iterator<Item = u64> + '_ {
    b.tile_spans(bc).map(|(_, w)| w)
}

/// Preload: K and V of every key projected once per head, tile by tile, and stored.
fn project_kv(t: &mut Tally<'_>, s: &LayerShape, bc: u64, heads: u64) -> Result<(), ScheduleError> {
    let all = QueryBlock {
        index: 0,
        q0: 0,
        rows: 0,
        visible: s.seq_k,
        first: 0,
    };
    for width in tile_widths(&all, bc) {
        t.dma(TensorClass::KX, width, s.hidden, heads, false)?;
        t.kvgen(width, s.hidden, s.head_dim, heads)?;
        t.dma(TensorClass::KX, width, 2 * s.head_dim, heads, true)?;
        t.dma(TensorClass::V, width, 2 * s.head_dim, heads, true)?;
    }
    Ok(())
}

/// Preload: the K and V rows of `rows` keys read back in order (16 bit).
fn load_kv(t: &mut Tally<'_>, s: &LayerShape, rows: u64, heads: u64) -> Result<(), ScheduleError> {
    t.dma(TensorClass::KX, rows, 2 * s.head_dim, heads, false)?;
    t.dma(TensorClass::V, rows, 2 * s.head_dim, heads, false)
}

fn dense_block(
    t: &mut Tally<'_>,
    s: &LayerShape,
    b: &QueryBlock,
    bc: u64,
    heads: u64,
    preload: bool,
) -> Result<(), ScheduleError> {
    for (j, width) in tile_widths(b, bc).enumerate() {
        if preload {
            load_kv(t, s, width, heads)?;
        } else {
            t.dma(TensorClass::KX, width, s.hidden, heads, false)?;
            t.kvgen(width, s.hidden, s.head_dim, heads)?;
        }
        t.sufa_tile(b.rows, width, s.head_dim, (true, j > 0), heads)?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)] // one flag per plan dimension; a struct would only rename them
fn cct_block(
    t: &mut Tally<'_>,
    s: &LayerShape,
    b: &QueryBlock,
    bc: u64,
    heads: u64,
    abl: Ablation,
    spill: bool,
    preload: bool,
) -> Result<(), ScheduleError> {
    let d = s.head_dim;
    let per_tile = s.budget(b.keys()).div_ceil(b.tiles(bc).max(1));
    for (j, width) in tile_widths(b, bc).enumerate() {
        if spill {
            t.dma(TensorClass::Khat, width, d, heads, false)?;
        } else {
            t.dma(TensorClass::KX, width, s.hidden, heads, false)?;
            t.predict(true, width, s.hidden, d, abl, heads)?;
        }
        t.predict(false, b.rows, d, width, abl, heads)?;
        let sel = per_tile.min(width);
        let gen = if abl.sads {
            // Whole-row sort: selection waits for every tile; costed once per block below.
            if abl.rass {
                b.rows * sel
            } else {
                width.min(b.rows * sel)
            }
        } else {
            t.select(b.rows, width, sel, abl, heads)?
        };
        if preload {
            load_kv(t, s, width, heads)?;
        } else {
            t.gather(TensorClass::KX, gen, s.hidden, heads)?;
            t.kvgen(gen, s.hidden, d, heads)?;
        }
        t.sufa_tile(b.rows, sel, d, (abl.sufa, j > 0), heads)?;
    }
    if abl.sads {
        let k = s.budget(b.keys());
        if b.rows * b.keys() > t.hw.sram.temp_bytes {
            // The whole predicted row does not fit the temp SRAM: it goes through DRAM.
            t.dma(TensorClass::Ahat, b.rows, b.keys(), heads, true)?;
            t.dma(TensorClass::Ahat, b.rows, b.keys(), heads, false)?;
        }
        t.select(b.rows, b.keys(), k, abl, heads)?;
    }
    Ok(())
}

fn staged_block(
    t: &mut Tally<'_>,
    s: &LayerShape,
    b: &QueryBlock,
    heads: u64,
    abl: Ablation,
    preload: bool,
) -> Result<(), ScheduleError> {
    let d = s.head_dim;
    let n = b.keys();
    let k = s.budget(n);
    t.dma(TensorClass::Khat, n, d, heads, false)?;
    t.predict(false, b.rows, d, n, abl, heads)?;
    t.dma(TensorClass::Ahat, b.rows, n, heads, true)?;
    t.dma(TensorClass::Ahat, b.rows, n, heads, false)?;
    let gen = t.select(b.rows, n, k, abl, heads)?;
    if preload {
        load_kv(t, s, n, heads)?;
    } else {
        t.gather(TensorClass::KX, gen, s.hidden, heads)?;
        t.kvgen(gen, s.hidden, d, heads)?;
    }
    t.sufa_tile(b.rows, k, d, (true, false), heads)?;
    // A (16-bit scores of the selected keys) is stored, then read back for softmax and A·V.
    t.dma(TensorClass::A, b.rows, 2 * k, heads, true)?;
    t.dma(TensorClass::A, b.rows, 2 * k, heads, false)
}

fn finish(mut t: Tally<'_>, sched: Schedule) -> Result<LayerCost, ScheduleError> {
    let cycles = &t.cost.cycles;
    t.cost.latency = match sched {
        Schedule::Staged => cycles.values().sum(),
        _ => cycles.values().copied().max().unwrap_or(0),
    };
    finish_with(t.hw, t.cost)
}
