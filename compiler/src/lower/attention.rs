//! One attention op as a self-contained instruction segment ([`emit_segment`]).
//!
//! Per (batch, head, query block), by schedule:
//! - `cct` (`predict.rs`): per key tile j: LD K̂ tile → DLZS.S → (VEC.ADD the causal table on
//!   diagonal tiles, the op's mask on every tile) → SADS top-(k/Tc) with radius → RASS →
//!   GATHER K and V rows → SUFA.T sorted, merged into the block's running partials; then
//!   SUFA.SYNC (divide) and ST.
//! - `staged` (`staged.rs`): per K̂ tile: LD → DLZS.S → (masks) → ST into the Â spill; then
//!   per chunk of query rows: LD Â back → whole-row SADS → per list of selected keys (the whole
//!   selection, or sub-lists of a long row): RASS → GATHER → SUFA.T fa2; A (the partials) to
//!   DRAM and back → SUFA.SYNC over the lists → ST.
//! - `dense` (`dense.rs`): per key tile: LD K, V and the slot table (or, with a mask, the mask
//!   tile, whose SADS over all columns lists exactly the unmasked keys) → SUFA.T fa2 into the
//!   running partials; SUFA.SYNC; ST.
//!
//! A mask that is a score bias (`Layer::biased`: T5's position bias, ALiBi, any finite mask)
//! is added to Â like any mask, so selection ranks biased scores, and every SUFA.T is preceded
//! by a `SUFA.BIAS` that adds it to the selected keys' exact scores: `cct` and `dense` read the
//! tile's mask (SU-FA then returns the mask's and, `cct`, SADS's index credits), `staged`
//! reloads the mask's rows per row chunk. Masks of exclusions only (0 / −inf) need nothing
//! more: SADS never selects an excluded key.
//!
//! A block is one head's query positions, or, where every query sees every key
//! ([`super::buffers::packs`]), the rows of consecutive heads packed one after the other
//! (`Emitter::packed_blocks`): each head's run is predicted against its own K̂ tile (its own
//! `KHat` ring entry, so DMA refills it as soon as DLZS is done with that run) and its
//! selections index its own K/V rows, and the runs share RASS, the gathers and SU-FA. Â is
//! handed from DLZS to SADS run by run (`AHat` carries one credit per run).
//!
//! Every block first loads Q and multiplies it by the op's scale (VEC.AFFINE). Causal
//! attention is top-left aligned (key j is visible to query i when j ≤ i): blocks skip the key
//! tiles entirely in their future; the last tile of a row may be partial. At keep ratio 1
//! every visible key is selected, so all schedules compute exact attention. A block's tiles
//! merge into one running partial per row (`SUFA.T acc=true` after the first tile), so its
//! on-chip state does not grow with `Tc` (`merge.rs`).
//!
//! Ablations (`Layer::ablate`, predicting schedules) swap one mechanism for its baseline on
//! the same hardware model: `dlzs` — `GEMM` (trans_b) of the scaled Q by the K̂ tile on the
//! KVPE array instead of `DLZS.S` (multiplies at the activation precision stand in for the
//! paper's 4-bit multiplier; the cycles are the KVPE array's); `sads` — `cct` with one tile
//! per row block (`Tc` = 1): the whole visible row predicted into one Â row buffer and one
//! SADS with the row budget (an error when one row's Â does not fit the Temp SRAM); `sufa` —
//! `SUFA.T mode=fa2`; `rass` — `RASS reuse=false`, whose order list keeps every entry
//! (`rows·sel`, duplicates included), so the K/V gathers and SU-FA slots grow to that.
//!
//! The segment follows the protocol of [`super::sync`]: `go` handshakes, primed credits,
//! drained credits, `done` handshakes, and the output's final `ST` as DMA's last instruction.

mod blocks;
mod check;
mod dense;
mod merge;
mod ondemand;
mod predict;
mod staged;

use std::collections::BTreeMap;

use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{DType, DramAddr, Engine, Instr, SramRef};

use super::buffers::{elem, fit, score_dt, StagedPlan, F32};
use super::dram::DramLayout;
use super::sram::{Buf, SramLayout};
use super::sync::{segment_begin, segment_end, Chan, Sems, RESERVED};
use super::{Layer, LowerError};
use sofa_ir::dialect::attn::Schedule;

use blocks::{at_rows, block_rows, BlockGeo};

/// Emits one self-contained attention segment for `layer` (q, k, v, o and the mask already in
/// `dram`): allocates its SRAM, spill and constant tensors, leaves every semaphore at 0 and ends
/// with the output's `ST` as its last DMA instruction. Appends to `out` (no `HALT`).
pub fn emit_segment(
    hw: &HwConfig,
    layer: &Layer,
    dram: &mut DramLayout,
    out: &mut Vec<Instr>,
) -> Result<(), LowerError> {
    let whole = whole_row(layer);
    let layer = whole.as_ref().unwrap_or(layer);
    check::layer(layer)?;
    check::ablations(hw, layer)?;
    let f = fit(hw, layer)?;
    let limit = hw.control.semaphores;
    let mut sems = limit
        .checked_sub(RESERVED)
        .and_then(|free| Sems::assign(&f.chans, free))
        .ok_or_else(|| {
            op_err(
                layer,
                format!(
                    "the dataflow needs more than control.semaphores = {limit} semaphores \
                     ({RESERVED} are reserved for segment boundaries)"
                ),
            )
        })?;
    if layer.plan.ablate.dlzs && layer.plan.schedule != Schedule::Dense {
        sems.predict_on(Engine::Kvpe);
    }
    // SU-FA is the scaled Q's last reader (see `buffers::channels`), or, when the output rows
    // overwrite it, DMA's ST of them.
    let q_freed_by = if f.out_in_q {
        Engine::Dma
    } else {
        Engine::Sufa
    };
    sems.credits_from(Chan::QRaw, q_freed_by);
    hold_for_bias(layer, &mut sems);
    let spills = Spills::allocate(layer, &f, dram)?;
    let engines = sems.engines();
    let mut e = Emitter {
        l: layer,
        sram: f.sram,
        sems,
        staged: f.staged,
        dram,
        out,
        seq: BTreeMap::new(),
        spills,
        final_st: Vec::new(),
        pending_st: Vec::new(),
        kv_head: None,
        bias_rows: super::buffers::listed_cap(layer, f.rows_cap),
        prefetched: None,
        out_in_q: f.out_in_q,
        runs_cap: f.runs,
        ahat_users: BTreeMap::new(),
    };
    segment_begin(limit, &engines, e.out);
    e.sems.prime(e.out);
    let blocks = if f.runs > 1 {
        e.packed_blocks(f.rows_cap)
    } else {
        let stacked = e.blocks(f.rows_cap, f.stack).into_iter();
        stacked.map(|g| vec![g]).collect()
    };
    for (i, runs) in blocks.iter().enumerate() {
        e.block(runs, blocks.get(i + 1).map(Vec::as_slice))?;
    }
    e.flush_st();
    // The final ST is DMA's last instruction: its output item, and with the output over Q
    // that Q entry, are never released, so one credit fewer of each comes back.
    let held: &[Chan] = if f.out_in_q {
        &[Chan::Out, Chan::QRaw]
    } else {
        &[Chan::Out]
    };
    e.sems.drain(held, e.out);
    segment_end(limit, &engines, e.out);
    e.sems.take(Chan::Out, e.out);
    if e.final_st.is_empty() {
        return Err(op_err(layer, "the segment has no query block".into()));
    }
    e.out.append(&mut e.final_st);
    Ok(())
}

/// With a score bias, SU-FA's `SUFA.BIAS` reads the tile's mask (`cct`, `dense`) and SADS's
/// indices (`cct`) after their consumers are done, so it returns their credits. The staged
/// flow reloads the bias per row chunk instead, in DMA's program order.
fn hold_for_bias(l: &Layer, sems: &mut Sems) {
    if !l.biased() {
        return;
    }
    match l.plan.schedule {
        Schedule::Cct => {
            sems.credits_from(Chan::Mask, Engine::Sufa);
            sems.credits_from(Chan::Idx, Engine::Sufa);
        }
        Schedule::Dense => sems.credits_from(Chan::Mask, Engine::Sufa),
        Schedule::Staged => {}
    }
}

/// The `cct` layer under the sads ablation as one key tile of the whole row (`Tc` = 1), when
/// it has more: [`super::plan_layer`] plans it so, layers built by hand may not.
fn whole_row(l: &Layer) -> Option<Layer> {
    (l.plan.ablate.whole_row(l.plan.schedule) && l.plan.schedule == Schedule::Cct && l.plan.tc != 1)
        .then(|| {
            let mut whole = l.clone();
            whole.set_tc(1);
            whole.plan.tc_fixed = true;
            whole
        })
}

fn op_err(l: &Layer, message: String) -> LowerError {
    LowerError::Op {
        op: "attention".into(),
        loc: l.name.clone(),
        message,
    }
}

fn narrow<T: TryFrom<u64>>(l: &Layer, v: u64, what: &str) -> Result<T, LowerError> {
    T::try_from(v).map_err(|_| op_err(l, format!("{what} = {v} exceeds its instruction field")))
}

/// DRAM spill buffers of the segment (0 when unused).
#[derive(Clone, Copy, Default)]
struct Spills {
    /// Staged Â: `rows × seq_k` scores.
    ahat: u64,
    /// Staged A: the partials of a row chunk's lists, `(d+2)` f32 per row.
    a: u64,
}

impl Spills {
    fn allocate(
        l: &Layer,
        f: &super::buffers::Fit,
        dram: &mut DramLayout,
    ) -> Result<Self, LowerError> {
        let overflow = || op_err(l, "DRAM addresses overflow".into());
        let rows = l.plan.q_block.min(f.rows_cap);
        let mut s = Spills::default();
        if let Some(p) = f.staged {
            s.ahat = dram
                .scratch(
                    &l.name,
                    ".spill.ahat",
                    score_dt(l),
                    vec![rows, l.shape.seq_k],
                )
                .ok_or_else(overflow)?;
            s.a = dram
                .scratch(
                    &l.name,
                    ".spill.a",
                    DType::F32,
                    vec![p.part_rows(l), l.shape.head_dim + 2],
                )
                .ok_or_else(overflow)?;
        }
        Ok(s)
    }
}

/// `r` moved `bytes` further into its SRAM space.
fn sram_plus(r: SramRef, bytes: u64) -> Option<SramRef> {
    let offset = u32::try_from(u64::from(r.offset).checked_add(bytes)?).ok()?;
    Some(SramRef { offset, ..r })
}

struct Emitter<'a> {
    l: &'a Layer,
    sram: SramLayout,
    sems: Sems,
    /// The staged schedule's geometry.
    staged: Option<StagedPlan>,
    dram: &'a mut DramLayout,
    out: &'a mut Vec<Instr>,
    /// Items produced so far per channel (picks the ring entry).
    seq: BTreeMap<Chan, u64>,
    spills: Spills,
    /// The segment's last `ST`s (one per stacked head), emitted after the closing
    /// handshakes.
    final_st: Vec<Instr>,
    /// `cct`/`dense`: the previous block's output `ST`s, issued once this block's loads and
    /// gathers are queued so that DMA does not wait for the previous block's SUFA.SYNC
    /// before fetching this block's operands.
    pending_st: Vec<Instr>,
    /// On-demand K/V: the KV head whose weights are loaded.
    kv_head: Option<u64>,
    /// On-demand K/V: rows of the bias buffers (the most keys one tile lists).
    bias_rows: u64,
    /// `cct`: the next block's scaled Q and first K̂ tile, loaded during this block's last
    /// tile ([`Emitter::prefetch`]).
    prefetched: Option<Prefetched>,
    /// SUFA.SYNC writes a block's output over its scaled Q ([`super::buffers::Rings`]).
    out_in_q: bool,
    /// The most runs a block packs ([`super::buffers::Fit::runs`]); each Â tile passes that
    /// many `AHat` credits ([`Emitter::ahat_credits`]).
    runs_cap: u64,
    /// Per Â ring entry, the rows of each run of the tile that last used it.
    ahat_users: BTreeMap<SramRef, Vec<u64>>,
}

/// A loaded K̂ tile: one KTile ring entry per run of the block, and the XTile ring entry on
/// demand.
struct KhatTile {
    runs: Vec<SramRef>,
    x: Option<u64>,
}

/// What [`Emitter::prefetch`] loaded for the next block: its scaled Q ring entry and its first
/// K̂ tile.
struct Prefetched {
    qs: u64,
    tile: Option<KhatTile>,
}

impl Emitter<'_> {
    fn next(&mut self, c: Chan) -> u64 {
        let s = self.seq.entry(c).or_default();
        *s += 1;
        *s - 1
    }

    fn n<T: TryFrom<u64>>(&self, v: u64, what: &str) -> Result<T, LowerError> {
        narrow(self.l, v, what)
    }

    /// Bytes of one activation row (`d` elements).
    fn row_bytes(&self) -> u64 {
        self.l.shape.head_dim * elem(self.l.shape.dt)
    }

    /// `r` moved `bytes` further, or the error naming the layer.
    fn at_offset(&self, r: SramRef, bytes: u64) -> Result<SramRef, LowerError> {
        sram_plus(r, bytes).ok_or_else(|| op_err(self.l, "SRAM offset overflows".into()))
    }

    /// DMA: LD of each stacked head's `pos` rows of `row_bytes` (`stride` apart in DRAM, head
    /// `i`'s first at `src(i)`), one head after the other into `dst`. One LD when the heads'
    /// rows continue each other in DRAM (a broadcast row, or a block of whole heads).
    fn load_per_head(
        &mut self,
        g: &BlockGeo,
        dst: SramRef,
        src: impl Fn(u64) -> u64,
        (row_bytes, stride): (u64, u64),
    ) -> Result<(), LowerError> {
        let (rb, st): (u32, u32) = (
            self.n(row_bytes, "row bytes")?,
            self.n(stride, "row stride")?,
        );
        let continues = (1..g.heads).all(|i| src(i) == src(0) + i * g.pos * stride);
        if continues {
            self.out.push(Instr::Ld {
                dst,
                src: DramAddr(src(0)),
                rows: self.n(g.rows, "rows")?,
                row_bytes: rb,
                stride: st,
            });
            return Ok(());
        }
        let rows: u32 = self.n(g.pos, "rows")?;
        for i in 0..g.heads {
            let dst = self.at_offset(dst, i * g.pos * row_bytes)?;
            self.out.push(Instr::Ld {
                dst,
                src: DramAddr(src(i)),
                rows,
                row_bytes: rb,
                stride: st,
            });
        }
        Ok(())
    }

    /// One block: its runs of rows (one unless packed; `staged` does not pack); `next` is the
    /// following block's, `None` for the segment's last.
    fn block(&mut self, runs: &[BlockGeo], next: Option<&[BlockGeo]>) -> Result<(), LowerError> {
        let predicts = self.l.plan.schedule != Schedule::Dense;
        let last = next.is_none();
        let g = &runs[0];
        let (qs, tile) = match self.prefetched.take() {
            Some(p) => (p.qs, p.tile),
            None => {
                self.load_head_weights(g)?;
                (self.load_q(runs, predicts)?, None)
            }
        };
        match self.l.plan.schedule {
            Schedule::Dense => self.dense_tiles(runs, qs)?,
            Schedule::Cct => self.cct_tiles(runs, qs, (tile, next))?,
            // Staged merges and stores per row chunk.
            Schedule::Staged => return self.staged(g, qs, last),
        }
        self.finish(runs, qs, last)
    }

    /// LD Q of every run, scale it; returns the ring entry of the scaled Q.
    fn load_q(&mut self, runs: &[BlockGeo], predicts: bool) -> Result<u64, LowerError> {
        let rows: u32 = self.n(block_rows(runs), "rows")?;
        let cr = self.next(Chan::QRaw);
        let cs = self.next(Chan::QSufa);
        if predicts {
            self.next(Chan::QDlzs);
        }
        // Scaled in place; SU-FA returns the entry once it is done with the block.
        let scaled = self.sram.at(Buf::QScaled, cs);
        let raw = self.sram.at(Buf::QScaled, cr);
        self.sems.acquire(Chan::QRaw, self.out);
        let rb = self.row_bytes();
        for (row, g) in at_rows(runs) {
            let dst = self.at_offset(raw, row * rb)?;
            self.load_per_head(g, dst, |i| g.q + i * g.head_stride, (rb, rb))?;
        }
        self.sems.publish(Chan::QRaw, self.out);
        self.sems.take(Chan::QRaw, self.out);
        self.sems.acquire(Chan::QSufa, self.out);
        if predicts {
            self.sems.acquire(Chan::QDlzs, self.out);
        }
        self.out.push(Instr::VecAffine {
            dst: scaled,
            a: raw,
            rows,
            cols: self.n(self.l.shape.head_dim, "d")?,
            mul: self.l.shape.scale,
            add: 0.0,
            dt: self.l.shape.dt,
        });
        self.sems.publish(Chan::QSufa, self.out);
        if predicts {
            self.sems.publish(Chan::QDlzs, self.out);
        }
        Ok(cs)
    }

    /// Key tiles of the block: (first key, width), tiles in the future or before a window
    /// skipped.
    fn tiles(&self, g: &BlockGeo) -> Vec<(u64, u64)> {
        let bc = self.l.bc();
        (g.first / bc..g.n.div_ceil(bc))
            .map(|j| (j * bc, bc.min(g.n - j * bc)))
            .collect()
    }

    /// For a causal layer, when the tile starting at `k0` of `width` keys reaches into some
    /// row's future (or, windowed, behind some row's window): the offset of its first key
    /// relative to the block's first query, which picks the band table to add. `None` when
    /// every key of the tile is visible to every row.
    fn diagonal(&self, g: &BlockGeo, k0: u64, width: u64) -> Option<i64> {
        let delta = g.q0 as i64 - k0 as i64;
        let future = delta < width as i64 - 1;
        let last_query = g.q0 + g.pos.max(1) - 1;
        let past = self.l.shape.window.is_some_and(|w| k0 + w <= last_query);
        (self.l.shape.causal && (future || past)).then_some(delta)
    }

    /// DMA: LD the mask tiles of the block's rows × keys `[k0, k0+w)` into ring entry `cm` of
    /// the Mask channel: the causal table (type `sdt`) when `diag`, the op's mask when present.
    fn load_masks(
        &mut self,
        g: &BlockGeo,
        k0: u64,
        w: u64,
        diag: Option<i64>,
    ) -> Result<u64, LowerError> {
        let l = self.l;
        let sdt = score_dt(l);
        let cm = self.next(Chan::Mask);
        self.sems.acquire(Chan::Mask, self.out);
        if let Some(delta) = diag {
            // Every stacked head sees the same positions: the table once per head.
            let table = self
                .dram
                .causal_mask(g.pos, w, delta, self.l.shape.window, sdt)
                .ok_or_else(|| op_err(l, "DRAM addresses overflow".into()))?;
            let mrb = w * elem(sdt);
            let dst = self.sram.at(Buf::Mask, cm);
            self.load_per_head(g, dst, |_| table, (mrb, mrb))?;
        }
        if let Some(m) = l.dram.mask {
            // check::layer bounded the whole mask range, so these cannot overflow.
            let src = |i: u64| {
                m.dram
                    + g.b * m.batch_stride
                    + (g.h + i) * m.head_stride
                    + g.q0 * m.row_stride
                    + k0 * F32
            };
            let dst = self.sram.at(Buf::UMask, cm);
            self.load_per_head(g, dst, src, (w * F32, m.row_stride))?;
        }
        self.sems.publish(Chan::Mask, self.out);
        Ok(cm)
    }

    /// VEC: add the loaded mask tiles (ring entry `cm`) onto the `rows × w` scores at `dst`.
    fn add_masks(
        &mut self,
        g: &BlockGeo,
        dst: SramRef,
        cm: u64,
        w: u64,
        diag: bool,
    ) -> Result<(), LowerError> {
        let sdt = score_dt(self.l);
        let (rows, cols): (u32, u32) = (self.n(g.rows, "rows")?, self.n(w, "tile width")?);
        self.sems.take(Chan::Mask, self.out);
        let add = |b: SramRef| Instr::VecAdd {
            dst,
            a: dst,
            b,
            rows,
            cols,
            bcast: sofa_ir::isa::Bcast::None,
            dt: sdt,
        };
        if diag {
            let i = add(self.sram.at(Buf::Mask, cm));
            self.out.push(i);
        }
        if self.l.dram.mask.is_some() {
            let i = add(self.sram.at(Buf::UMask, cm));
            self.out.push(i);
        }
        self.release_unless_held(Chan::Mask);
        Ok(())
    }

    /// Whether SU-FA returns `c`'s credits (its `SUFA.BIAS` reads the buffer last).
    fn held_for_bias(&self, c: Chan) -> bool {
        self.sems.credits_returned_by(c) == Engine::Sufa
    }

    /// The consumer's release of `c`, unless SU-FA returns its credits after `SUFA.BIAS`.
    fn release_unless_held(&mut self, c: Chan) {
        if !self.held_for_bias(c) {
            self.sems.release(c, self.out);
        }
    }

    /// SU-FA: `SUFA.BIAS` of the `rows × sel` selection at `idx` (absolute key indices) from
    /// the bias rows at `bias` (`n` keys from `base` per row), for the SUFA.T that follows;
    /// then the credits of `held` (buffers it was the last to read) go back.
    fn bias_prefix(
        &mut self,
        (bias, idx): (SramRef, SramRef),
        (rows, sel): (u16, u16),
        (n, base): (u64, u64),
        held: &[Chan],
    ) -> Result<(), LowerError> {
        self.out.push(Instr::SufaBias {
            bias,
            idx,
            rows,
            sel,
            n: self.n(n, "bias width")?,
            base: self.n(base, "bias base key")?,
            dt: DType::F32,
        });
        for &c in held {
            self.sems.release(c, self.out);
        }
        Ok(())
    }
}
