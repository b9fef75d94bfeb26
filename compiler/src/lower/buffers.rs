//! Buffer sizing: the SRAM requests of one attention segment, and the search for the largest
//! query-row block that fits.
//!
//! Element sizes follow the layer's activation type (`Layer::dt`) and its score type
//! ([`score_dt`]). A block keeps one running partial `rows × (d+2)` f32 whatever its `Tc`
//! (`SUFA.T acc`). The search halves the rows until something fits, trying ring depth 2 then
//! 1. The `staged` schedule sizes its own buffers (`buffers/staged.rs`).

mod staged;

use std::collections::BTreeMap;

use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{DType, SramSpace};

use super::sram::{Buf, Request, SramLayout};
use super::sync::Chan;
use super::{Layer, LowerError, MaskRef, ResourceError};
use sofa_ir::dialect::attn::Schedule;

pub use staged::StagedPlan;

const TOKEN_FIRST: &[SramSpace] = &[SramSpace::Token, SramSpace::Weight, SramSpace::Temp];
const WEIGHT_FIRST: &[SramSpace] = &[SramSpace::Weight, SramSpace::Token, SramSpace::Temp];
const TEMP_FIRST: &[SramSpace] = &[SramSpace::Temp, SramSpace::Token, SramSpace::Weight];

/// Bytes of an f32 / u32 element (partials, masks, index lists).
pub const F32: u64 = 4;
pub const U32: u64 = 4;

/// Bytes per element of `dt` (whole bytes; activations are never `lz4`).
pub fn elem(dt: DType) -> u64 {
    dt.bits().div_ceil(8)
}

/// Type of the predicted scores Â (DLZS.S output, SADS input, the causal table): f32 when the
/// activations are f32 or an f32 mask is added to them, f16 otherwise (the 16-bit chip).
pub fn score_dt(l: &Layer) -> DType {
    if l.shape.dt == DType::F32 || l.dram.mask.is_some() {
        DType::F32
    } else {
        DType::F16
    }
}

/// Whether the layer selects every visible key (keep ratio 1: exact attention).
pub fn exact(l: &Layer) -> bool {
    l.plan.keep >= 1.0
}

/// Rows RASS lists (and GATHER loads) for a tile of `width` keys, `rows` queries selecting
/// `sel` each: the distinct keys (at most the tile), or every entry, duplicates kept, under the
/// rass ablation (in-order issue).
pub fn gathered(l: &Layer, width: u64, rows: u64, sel: u64) -> u64 {
    let entries = rows.saturating_mul(sel);
    if l.plan.ablate.rass {
        entries
    } else {
        width.min(entries)
    }
}

/// The most keys one `cct` tile lists for `rows_cap`-row blocks (RASS order, GATHER, KVGEN).
pub fn listed_cap(l: &Layer, rows_cap: u64) -> u64 {
    gathered(l, l.bc(), rows_cap, max_sel(l))
}

/// Query heads whose rows one block stacks, one head's rows after the other: a KV head's
/// whole group under `cct` and `dense`, so that each K̂ tile, K/V tile and gathered K/V row
/// is read once per KV head and block rather than once per query head (RASS lists the keys
/// the group selects once). `staged` keeps one head per block.
pub fn group_stack(l: &Layer) -> u64 {
    match l.plan.schedule {
        Schedule::Staged => 1,
        Schedule::Cct | Schedule::Dense => (l.shape.heads / l.shape.kv_heads.max(1)).max(1),
    }
}

/// Upper bound of the per-tile selection of a layer (SADS `sel`).
pub fn max_sel(l: &Layer) -> u64 {
    match l.plan.schedule {
        Schedule::Dense => l.bc(),
        Schedule::Cct if exact(l) => l.bc(),
        Schedule::Cct => l.budget(l.bc()).saturating_add(1).min(l.bc()),
        Schedule::Staged => l.budget(l.shape.seq_k),
    }
}

/// Ring depths of a layout: `depth` entries per ring, except (`lean`) the score-sized rings of
/// the prediction — the K̂ / X tile, Â and the mask tiles — and the block's output, which keep
/// one entry, so that the small rings between selection and SU-FA (indices, issue order, slots,
/// gathered K/V) can stay double-buffered when the score tiles do not fit twice. Those decouple SU-FA from the next
/// tile's RASS and gathers, which is where a single-buffered chain stalls it. `q` entries of
/// the scaled Q let the next block's Q load, prediction and first gathers run while SU-FA
/// finishes this block. `out_in_q` (`cct`, `dense`, two Q entries): SUFA.SYNC writes the
/// block's output rows over its scaled Q, which SU-FA no longer reads, instead of into an
/// output buffer, so that the second Q entry fits where the output buffer would not leave room
/// for it (heads of 128); the entry is then free once DMA has stored the rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rings {
    pub depth: u32,
    pub lean: bool,
    pub q: u32,
    pub out_in_q: bool,
}

impl Rings {
    const fn of(depth: u32, lean: bool, q: u32, out_in_q: bool) -> Rings {
        Rings {
            depth,
            lean,
            q,
            out_in_q,
        }
    }

    /// The candidates, most overlap first.
    const SEARCH: [Rings; 7] = [
        Rings::of(2, false, 2, false),
        Rings::of(2, true, 2, false),
        Rings::of(2, false, 2, true),
        Rings::of(2, true, 2, true),
        Rings::of(2, false, 1, false),
        Rings::of(2, true, 1, false),
        Rings::of(1, false, 1, false),
    ];

    /// Single entries everywhere (the staged flow's outer buffers, tests).
    pub const SINGLE: Rings = Rings::of(1, false, 1, false);

    fn buf(self, b: Buf) -> u32 {
        let score = matches!(
            b,
            Buf::AHat | Buf::Mask | Buf::UMask | Buf::KTile | Buf::XTile | Buf::Out
        );
        if self.lean && score {
            1
        } else {
            self.depth
        }
    }

    /// The channels whose ring entries index those buffers.
    fn chan(self, c: Chan) -> u32 {
        let score = matches!(
            c,
            Chan::KHat
                | Chan::AHat
                | Chan::AMask
                | Chan::AMasked
                | Chan::Mask
                | Chan::DenseSel
                | Chan::Out
        );
        if self.lean && score {
            1
        } else {
            self.depth
        }
    }
}

/// The chosen layout: row cap, ring depths, placement, channels (→ ring depth, 0 = event
/// only).
pub struct Fit {
    /// Rows of a full block: `stack` heads × the block's query positions.
    pub rows_cap: u64,
    /// Query heads a block stacks ([`group_stack`], or 1 when a stacked block does not fit).
    pub stack: u64,
    /// The most heads whose rows one block packs one after the other ([`packed_runs`]; 1
    /// when blocks hold one head's positions).
    pub runs: u64,
    /// The deepest ring.
    pub depth: u32,
    /// The block's output rows overwrite its scaled Q ([`Rings::out_in_q`]).
    pub out_in_q: bool,
    pub sram: SramLayout,
    pub chans: BTreeMap<Chan, u32>,
    /// The `staged` schedule's geometry (`None` for the others).
    pub staged: Option<StagedPlan>,
}

/// Whether the layer needs a mask on some score tile.
fn masked(l: &Layer) -> bool {
    l.shape.causal || l.dram.mask.is_some()
}

/// Channels the layer's schedule uses, with their ring depth (0 = events without credits).
///
/// The scaled Q ring (`QRaw`, `rings.q` entries) gets its credits back from SU-FA when it is
/// done with the block: DLZS, the only other reader, finished with it before SU-FA's last
/// tile could start, and the scaling is in place. Its scaled views (`QDlzs`, `QSufa`) are
/// events. Credits are left out where DMA's program order already keeps a buffer from being
/// refilled before its last reader is done:
/// - the `staged` flow, which passes every stage through DMA in program order — except the
///   sub-lists of one row chunk (RASS → GATHER → SUFA.T per list), whose order, slots and
///   gathered rows are rings with credits.
///
/// `KHat` has `runs` times the ring's entries: one K̂ tile per run of a packed block. `AHat`
/// has `runs` times the ring's credits, so that a packed block hands Â to SADS run by run
/// (`Emitter::ahat_credits`).
pub fn channels(l: &Layer, rings: Rings, runs: u64) -> BTreeMap<Chan, u32> {
    let mut list = vec![Chan::Out];
    match l.plan.schedule {
        Schedule::Dense => {
            list.push(Chan::DenseKv);
            if l.dram.mask.is_some() {
                list.extend([Chan::Mask, Chan::DenseSel, Chan::DenseIdx]);
            }
        }
        Schedule::Cct | Schedule::Staged => {
            list.extend([Chan::KHat, Chan::Idx, Chan::Order, Chan::Slot, Chan::Kv]);
            if masked(l) {
                list.extend([Chan::AMask, Chan::Mask]);
            }
        }
    }
    match l.plan.schedule {
        Schedule::Cct => {
            list.push(Chan::AHat);
            if masked(l) {
                list.push(Chan::AMasked);
            }
        }
        Schedule::Staged => {
            list.extend([Chan::SpillA, Chan::Reload, Chan::SpillP, Chan::ReloadP]);
            if masked(l) {
                list.push(Chan::SpillAMasked);
            }
        }
        Schedule::Dense => {}
    }
    if l.plan.kv_gen.is_some() {
        // The Kv ring (GX, GK, GV) is filled by DMA and KVGEN, freed by SU-FA.
        list.extend([Chan::KvX, Chan::KvDone]);
    }
    let runs = ring_runs(runs);
    let ring = |c: Chan| {
        if matches!(c, Chan::KvX | Chan::KvDone) {
            0
        } else if matches!(c, Chan::KHat | Chan::AHat) && l.plan.schedule == Schedule::Cct {
            rings.chan(c).saturating_mul(runs)
        } else if l.plan.schedule != Schedule::Staged
            || matches!(c, Chan::Order | Chan::Slot | Chan::Kv)
        {
            rings.chan(c)
        } else {
            0
        }
    };
    let mut chans: BTreeMap<Chan, u32> = list.into_iter().map(|c| (c, ring(c))).collect();
    chans.insert(Chan::QRaw, rings.q);
    let mut events = vec![Chan::QSufa];
    if l.plan.schedule != Schedule::Dense {
        events.push(Chan::QDlzs);
    }
    chans.extend(events.into_iter().map(|c| (c, 0)));
    chans
}

/// `runs` as a ring-depth multiplier; too many saturate, and no layout fits such a ring.
fn ring_runs(runs: u64) -> u32 {
    u32::try_from(runs).unwrap_or(u32::MAX)
}

fn requests(
    l: &Layer,
    (rows, runs): (u64, u64),
    rings: Rings,
    plan: Option<StagedPlan>,
) -> Vec<Request> {
    let mut size: BTreeMap<Buf, u64> = BTreeMap::new();
    let mut need = |b: Buf, bytes: u64| {
        size.insert(b, bytes);
    };
    let r = rows;
    let (d, bc, act, sc) = (
        l.shape.head_dim,
        l.bc(),
        elem(l.shape.dt),
        elem(score_dt(l)),
    );
    need(Buf::QScaled, r * d * act);
    if l.plan.schedule != Schedule::Staged {
        // The block's running partials (staged sizes its lists' partials itself).
        need(Buf::Part, r * (d + 2) * F32);
    }
    if !rings.out_in_q {
        need(Buf::Out, r * d * act);
    }
    match l.plan.schedule {
        Schedule::Dense => {
            need(Buf::DenseK, runs * bc * d * act);
            need(Buf::VTile, runs * bc * d * act);
            if l.dram.mask.is_some() {
                need(Buf::UMask, r * bc * F32);
                need(Buf::AHat, r * bc * F32);
                if l.shape.causal {
                    need(Buf::Mask, r * bc * F32);
                }
                need(Buf::Idx, r * bc * U32);
                need(Buf::Top, r * 2 * F32);
            } else {
                need(Buf::DenseSlot, r * bc * U32);
            }
        }
        Schedule::Staged => {
            if let Some(p) = plan {
                size.extend(p.sizes(l));
            }
        }
        Schedule::Cct => {
            let width = bc;
            let sel = max_sel(l);
            // A packed block's heads each have their own gathered rows, and their own key
            // tile: one K̂ ring entry per run (the depths below).
            let listed = gathered(l, runs * width, r, sel);
            need(Buf::KTile, width * d * act);
            need(Buf::AHat, r * width * sc);
            if l.shape.causal {
                need(Buf::Mask, r * width * sc);
            }
            if l.dram.mask.is_some() {
                need(Buf::UMask, r * width * F32);
            }
            need(Buf::Idx, r * sel * U32);
            need(Buf::Top, r * 2 * sc);
            need(Buf::Order, (1 + listed) * U32);
            need(Buf::Slot, r * sel * U32);
            need(Buf::GK, listed * d * act);
            need(Buf::GV, listed * d * act);
            if let Some(g) = &l.plan.kv_gen {
                let x_row = g.hidden * act;
                need(Buf::XTile, width * x_row);
                need(Buf::GX, listed * x_row);
                need(Buf::GList, (1 + listed) * U32);
                need(Buf::Wk, g.hidden * d * act);
                need(Buf::Wv, g.hidden * d * act);
                if g.bias_k {
                    need(Buf::Bk, listed * d * act);
                }
                if g.bias_v {
                    need(Buf::Bv, listed * d * act);
                }
            }
        }
    }
    let staged = l.plan.schedule == Schedule::Staged;
    size.into_iter()
        .map(|(buf, bytes)| {
            // Staged rings only the per-list buffers (see `channels`).
            let ring = if staged && !matches!(buf, Buf::Order | Buf::Slot | Buf::GK | Buf::GV) {
                1
            } else {
                rings.buf(buf)
            };
            let (depth, spaces) = match buf {
                Buf::QScaled => (rings.q, TOKEN_FIRST),
                Buf::Part if !staged => (1, TOKEN_FIRST),
                Buf::Out | Buf::Part => (ring, TOKEN_FIRST),
                Buf::Top | Buf::Bk | Buf::Bv => (1, TEMP_FIRST),
                // Loaded once per KV head, after the previous block's output ST.
                Buf::Wk | Buf::Wv => (1, WEIGHT_FIRST),
                Buf::XTile | Buf::GX => (ring, TOKEN_FIRST),
                Buf::GList => (ring, TEMP_FIRST),
                // One entry per run: a run's next K̂ tile loads as soon as DLZS is done with
                // its previous one, not when every run of the block is.
                Buf::KTile => (ring.saturating_mul(ring_runs(runs)), WEIGHT_FIRST),
                Buf::DenseK | Buf::VTile | Buf::GK | Buf::GV => (ring, WEIGHT_FIRST),
                _ => (ring, TEMP_FIRST),
            };
            Request {
                buf,
                bytes,
                depth,
                spaces,
            }
        })
        .collect()
}

/// Place the requests of `rows`-row blocks stacking `stack` heads (or packing up to `runs`
/// heads), largest first.
fn place(
    hw: &HwConfig,
    l: &Layer,
    (rows, stack, runs): (u64, u64, u64),
    rings: Rings,
) -> Result<Fit, ResourceError> {
    let mut f = place_with(hw, l, (rows, runs), rings, None)?;
    f.stack = stack;
    Ok(f)
}

/// [`place`] with the staged plan, if any.
fn place_with(
    hw: &HwConfig,
    l: &Layer,
    (rows, runs): (u64, u64),
    rings: Rings,
    plan: Option<StagedPlan>,
) -> Result<Fit, ResourceError> {
    // Staged keeps its output buffers (it stores per row chunk).
    let rings = Rings {
        out_in_q: rings.out_in_q && l.plan.schedule != Schedule::Staged,
        ..rings
    };
    let mut reqs = requests(l, (rows, runs), rings, plan);
    reqs.sort_by_key(|r| std::cmp::Reverse(r.bytes * u64::from(r.depth)));
    let sram = SramLayout::allocate(hw, &reqs)?;
    Ok(Fit {
        rows_cap: rows,
        stack: 1,
        runs,
        depth: rings.depth,
        out_in_q: rings.out_in_q,
        sram,
        chans: channels(l, rings, runs),
        staged: plan,
    })
}

/// The layout of blocks of `rows` rows stacking `stack` heads (packing up to `runs`) with the
/// deepest rings that fit ([`Rings::SEARCH`]).
fn fit_rows(
    hw: &HwConfig,
    l: &Layer,
    rows: u64,
    (stack, runs): (u64, u64),
) -> Result<Fit, ResourceError> {
    let mut last = None;
    for rings in Rings::SEARCH {
        match place(hw, l, (rows, stack, runs), rings) {
            Ok(f) => return Ok(f),
            Err(e) => last = Some(e),
        }
    }
    Err(last.expect("the search has candidates"))
}

/// Instructions of one head under `f` (the emitter's per-block and per-tile sequences with
/// their semaphores; masks left out; staged: [`StagedPlan::estimate`]).
pub fn estimate(l: &Layer, f: &Fit) -> u64 {
    if let Some(p) = &f.staged {
        return p.estimate(l);
    }
    const BLOCK: u64 = 12;
    const MERGE: u64 = 9;
    let tile = match l.plan.schedule {
        Schedule::Dense => 8,
        Schedule::Cct | Schedule::Staged => 31,
    };
    let stack = f.stack.max(1);
    let positions = (f.rows_cap / stack).max(1);
    let stacked: u64 = l
        .shape
        .query_blocks(positions)
        .map(|b| BLOCK + stack + b.tiles(l.bc()) * tile + MERGE + stack)
        .sum();
    stacked.div_ceil(stack)
}

/// The largest block (query positions halving from the layer's query block) whose buffers
/// fit, with the deepest rings that fit it: blocks stacking the KV head's group
/// ([`group_stack`]) when one position of each head fits, else one head per block. `staged`
/// searches its own plans (`staged::fit`).
pub fn fit(hw: &HwConfig, l: &Layer) -> Result<Fit, LowerError> {
    if l.plan.schedule == Schedule::Staged {
        return staged::fit(hw, l);
    }
    let stack = group_stack(l);
    let stacked = match stack {
        s if s == 1 || s > u64::from(hw.block.query_rows) => None,
        s => fit_positions(hw, l, s).ok(),
    };
    let stacked = match stacked {
        Some(f) if f.rows_cap / stack == full_positions(hw, l, stack) => return Ok(f),
        other => other,
    };
    let single = fit_positions(hw, l, 1).map_err(|e| LowerError::Op {
        op: "attention".into(),
        loc: l.name.clone(),
        message: format!("the attention buffers do not fit on chip even with 1-row blocks: {e}"),
    })?;
    // Fewer, larger blocks read K̂ and K/V fewer times.
    Ok(match stacked {
        Some(f) if f.rows_cap >= single.rows_cap => f,
        _ => packed(hw, l, single),
    })
}

/// Heads a block of `rows` rows packs at most, when [`packs`]: its rows run on from one
/// head's last query position to the next head's first, so that a sequence which is not a
/// multiple of the block (ViT's 197 tokens) leaves no SU-FA lanes idle in its last block.
/// 1 when every block is full anyway.
pub fn packed_runs(l: &Layer, rows: u64) -> u64 {
    let s = &l.shape;
    let units = s.batch.saturating_mul(s.heads);
    if !packs(l) || rows == 0 || s.seq_q.is_multiple_of(rows) || units < 2 {
        return 1;
    }
    // A block starts inside one head and may cover whole heads after it.
    (rows.div_ceil(s.seq_q) + 1).min(units)
}

/// Whether a layer's blocks may pack several heads: `cct` or `dense` over multi-head attention
/// (one query head per KV head) whose every query sees the same keys (no causal band, window
/// or mask), K and V gathered from DRAM. Each head's K̂ tile is predicted against its own rows
/// and its selections (dense: its slot table) index its own K/V rows, so the heads share only
/// the block's SU-FA lanes.
pub fn packs(l: &Layer) -> bool {
    let s = &l.shape;
    l.plan.schedule != Schedule::Staged
        && s.heads == s.kv_heads
        && !s.causal
        && s.window.is_none()
        && !s.masked
        && l.dram.mask.is_none()
        && l.plan.kv_gen.is_none()
}

/// `single` (one head per block), packing heads ([`packed_runs`]) when that layout fits too:
/// blocks of the SU-FA lanes' rows (`block.query_rows`), once a whole query block fits.
fn packed(hw: &HwConfig, l: &Layer, single: Fit) -> Fit {
    if single.rows_cap < l.plan.q_block.min(l.shape.seq_q) {
        return single;
    }
    let rows = single.rows_cap.max(hw.block.query_rows.into());
    match packed_runs(l, rows) {
        1 => single,
        runs => match fit_rows(hw, l, rows, (1, runs)) {
            // Not at the price of single-entry rings between selection and SU-FA.
            Ok(f) if f.depth >= single.depth => f,
            _ => single,
        },
    }
}

/// Query positions of a full block stacking `stack` heads: the query block, and at most
/// `block.query_rows` rows in all (the lanes one instruction spans) when stacked.
fn full_positions(hw: &HwConfig, l: &Layer, stack: u64) -> u64 {
    let q = l.plan.q_block.max(1);
    match stack {
        1 => q,
        s => q.min(u64::from(hw.block.query_rows) / s).max(1),
    }
}

/// [`fit`] for blocks of `stack` heads: positions halve from [`full_positions`] until one
/// fits.
fn fit_positions(hw: &HwConfig, l: &Layer, stack: u64) -> Result<Fit, ResourceError> {
    let mut positions = full_positions(hw, l, stack);
    loop {
        match fit_rows(hw, l, positions.saturating_mul(stack), (stack, 1)) {
            Ok(f) => return Ok(f),
            Err(e) if positions == 1 => return Err(e),
            Err(_) => positions = positions.div_ceil(2),
        }
    }
}

/// For a layer without a given tile count: keep the default `Tc` when its buffers fit full
/// query blocks, otherwise take the power-of-two `Tc` (up to 64) whose layout has the fewest
/// instructions ([`estimate`]; ties: the smaller `Tc`), which keeps paper-scale programs as
/// short as the ISA allows. A masked op is sized with its mask (the plan is made before the
/// mask has its DRAM address).
pub fn default_tiles(hw: &HwConfig, l: &mut Layer) {
    if l.plan.tc_fixed {
        return;
    }
    let with = |tc: u64| {
        let mut c = l.clone();
        c.set_tc(tc);
        if c.shape.masked && c.dram.mask.is_none() {
            c.dram.mask = Some(MaskRef::default());
        }
        fit(hw, &c).ok().map(|f| (estimate(&c, &f), f))
    };
    let default = with(l.plan.tc);
    if let Some((_, f)) = &default {
        if f.rows_cap / f.stack.max(1) == full_positions(hw, l, f.stack) {
            return;
        }
    }
    let mut best = (default.map_or(u64::MAX, |(c, _)| c), l.plan.tc);
    for tc in (0..7).map(|p| 1u64 << p).filter(|&t| t <= l.shape.seq_k) {
        let cost = with(tc).map_or(u64::MAX, |(c, _)| c);
        if cost < best.0 || (cost == best.0 && tc < best.1) {
            best = (cost, tc);
        }
    }
    l.set_tc(best.1);
}

#[cfg(test)]
mod tests;
