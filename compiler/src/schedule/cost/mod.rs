//! The analytical cost of one layer under one candidate plan.
//!
//! Per (batch, query head) and per query block the instructions of the schedule are listed with
//! their operand sizes and priced by [`Instr::cycles`] (the simulator's formulas); counts are
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
//!
//! The above (on demand, preload) is the paper's dataflow, which the lowering does not emit
//! yet (it has no KVGEN from X). *Gathered* K/V ([`gathered`], the default placement) price
//! the program the lowering does emit — K and V read from DRAM, the selected rows gathered —
//! by emitting it for one head and timing it as the simulator does ([`timeline`]): latency
//! there is the critical path through the engines' semaphores (busy cycles plus dependency
//! stalls, e.g. the serial LD → DLZS.S → SADS → RASS → GATHER chain of each tile behind the
//! single-buffered rings), not the busiest engine.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use sofa_ir::dialect::attn::QueryBlock;
use sofa_ir::hw::{energy, HwConfig};
use sofa_ir::isa::{DType, DramAddr, Engine, Instr, SramRef, SufaMode};

use super::{
    Ablation, KhatPlacement, KvSource, PerEngine, Schedule, ScheduleError, TensorClass, Traffic,
};
pub use crate::schedule::shape::Candidate;
use crate::schedule::shape::{LayerShape, ShapeKey};
pub use gathered::{EmittedHead, HeadLowering, HeadPlan};

pub mod gathered;
pub mod timeline;

/// Predicted figures of one layer.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct LayerCost {
    /// Busy cycles per engine.
    pub cycles: PerEngine,
    /// Layer latency (see the module docs).
    pub latency: u64,
    /// Instructions issued, by mnemonic.
    pub instrs: BTreeMap<&'static str, u64>,
    /// DRAM traffic by tensor class name.
    pub dram: BTreeMap<&'static str, Traffic>,
    /// Energy in fJ per engine, plus `dram_device` and `dram_interface`.
    pub energy: PerEngine,
    /// Key tiles skipped entirely because they are in a causal block's future.
    pub causal_tiles_skipped: u64,
}

impl LayerCost {
    pub fn dram_bytes(&self) -> u64 {
        self.dram.values().map(|t| t.total()).sum()
    }

    pub fn energy_total(&self) -> u64 {
        self.energy.values().sum()
    }
}

/// Accumulates instruction cycles and traffic.
struct Tally<'a> {
    hw: &'a HwConfig,
    cost: LayerCost,
}

const S0: SramRef = SramRef {
    space: sofa_ir::isa::SramSpace::Temp,
    offset: 0,
};

fn narrow<T: TryFrom<u64>>(v: u64, what: &'static str) -> Result<T, ScheduleError> {
    T::try_from(v).map_err(|_| ScheduleError::Field { what, value: v })
}

impl Tally<'_> {
    fn issue(&mut self, i: &Instr, times: u64) -> Result<(), ScheduleError> {
        if times == 0 {
            return Ok(());
        }
        let c = i.cycles(self.hw)?.saturating_mul(times);
        *self.cost.cycles.entry(i.engine().name()).or_default() += c;
        *self.cost.instrs.entry(i.opcode().mnemonic()).or_default() += times;
        Ok(())
    }

    fn traffic(&mut self, class: TensorClass, bytes: u64, write: bool) {
        let t = self.cost.dram.entry(class.name()).or_default();
        if write {
            t.written += bytes;
        } else {
            t.read += bytes;
        }
    }

    /// LD (or ST when `write`) of `rows × row_bytes`, `times` times.
    fn dma(
        &mut self,
        class: TensorClass,
        rows: u64,
        row_bytes: u64,
        times: u64,
        write: bool,
    ) -> Result<(), ScheduleError> {
        if rows == 0 || times == 0 {
            return Ok(());
        }
        let (rows32, rb) = (narrow(rows, "rows")?, narrow(row_bytes, "row bytes")?);
        let i = if write {
            Instr::St {
                dst: DramAddr(0),
                src: S0,
                rows: rows32,
                row_bytes: rb,
                stride: rb,
            }
        } else {
            Instr::Ld {
                dst: S0,
                src: DramAddr(0),
                rows: rows32,
                row_bytes: rb,
                stride: rb,
            }
        };
        self.issue(&i, times)?;
        self.traffic(class, rows * row_bytes * times, write);
        Ok(())
    }

    fn gather(
        &mut self,
        class: TensorClass,
        rows: u64,
        row_bytes: u64,
        times: u64,
    ) -> Result<(), ScheduleError> {
        let i = Instr::Gather {
            dst: S0,
            src: DramAddr(0),
            idx: S0,
            max_rows: narrow(rows, "gathered rows")?,
            row_bytes: narrow(row_bytes, "row bytes")?,
            stride: narrow(row_bytes, "row bytes")?,
        };
        self.issue(&i, times)?;
        self.traffic(class, rows * row_bytes * times, false);
        Ok(())
    }

    /// A prediction product `m × n` with depth `k`: DLZS, or a GEMM when DLZS is ablated.
    fn predict(
        &mut self,
        phase_k: bool,
        m: u64,
        k: u64,
        n: u64,
        abl: Ablation,
        times: u64,
    ) -> Result<(), ScheduleError> {
        let (rows, kk, nn) = (narrow(m, "rows")?, narrow(k, "depth")?, narrow(n, "cols")?);
        let i = match (abl.dlzs, phase_k) {
            (true, _) => Instr::Gemm {
                dst: S0,
                a: S0,
                b: S0,
                bias: None,
                m: rows,
                n: nn,
                k: kk,
                trans_b: !phase_k,
                acc: false,
                dt: DType::I8,
            },
            (false, true) => Instr::DlzsK {
                dst: S0,
                x: S0,
                w: S0,
                rows,
                k: kk,
                n: nn,
                xt: DType::I8,
                wt: DType::Lz4,
                ot: DType::I16,
            },
            (false, false) => Instr::DlzsS {
                dst: S0,
                q: S0,
                khat: S0,
                rows,
                k: kk,
                n: nn,
                qt: DType::I16,
                kt: DType::I16,
                ot: DType::I8,
            },
        };
        self.issue(&i, times)
    }

    /// KVGEN of K and of V for `rows` generated rows.
    fn kvgen(&mut self, rows: u64, hidden: u64, d: u64, times: u64) -> Result<(), ScheduleError> {
        let i = Instr::Kvgen {
            dst: S0,
            x: S0,
            w: S0,
            list: S0,
            max_rows: narrow(rows, "rows")?,
            k: narrow(hidden, "hidden")?,
            n: narrow(d, "head_dim")?,
            acc: false,
            dt: DType::I8,
        };
        self.issue(&i, 2 * times)
    }

    /// SUFA.T of one tile; `acc`: merged into the block's running partials (every tile
    /// after a block's first).
    fn sufa_tile(
        &mut self,
        rows: u64,
        sel: u64,
        d: u64,
        (fa2, acc): (bool, bool),
        times: u64,
    ) -> Result<(), ScheduleError> {
        let mode = if fa2 { SufaMode::Fa2 } else { SufaMode::Sorted };
        let i = Instr::SufaT {
            dst: S0,
            q: S0,
            k: S0,
            v: S0,
            slot: S0,
            rows: narrow(rows, "rows")?,
            sel: narrow(sel, "sel")?,
            d: narrow(d, "d")?,
            slots: narrow(sel, "sel")?,
            mode,
            acc,
            dt: DType::F16,
        };
        self.issue(&i, times)
    }

    /// SUFA.SYNC of a `rows`-row block over `tiles` tiles' partials.
    fn sync(&mut self, rows: u64, tiles: u64, d: u64, times: u64) -> Result<(), ScheduleError> {
        let i = Instr::SufaSync {
            dst: S0,
            part: S0,
            rows: narrow(rows, "rows")?,
            tiles: narrow(tiles.max(1), "tiles")?,
            d: narrow(d, "d")?,
            dt: DType::F16,
        };
        self.issue(&i, times)
    }

    /// VEC.AFFINE (the score scale) of a `rows × d` Q block.
    fn vec_affine(&mut self, rows: u64, d: u64, times: u64) -> Result<(), ScheduleError> {
        let i = Instr::VecAffine {
            dst: S0,
            a: S0,
            rows: narrow(rows, "rows")?,
            cols: narrow(d, "d")?,
            mul: 1.0,
            add: 0.0,
            dt: DType::F16,
        };
        self.issue(&i, times)
    }

    fn select(
        &mut self,
        rows: u64,
        n: u64,
        sel: u64,
        abl: Ablation,
        times: u64,
    ) -> Result<u64, ScheduleError> {
        let (r16, s16, n32) = (narrow(rows, "rows")?, narrow(sel, "sel")?, narrow(n, "n")?);
        self.issue(
            &Instr::Sads {
                idx: S0,
                top: S0,
                src: S0,
                rows: r16,
                n: n32,
                sel: s16,
                base: 0,
                radius: 0.0,
                dt: DType::I8,
            },
            times,
        )?;
        self.issue(
            &Instr::Rass {
                order: S0,
                slot: S0,
                idx: S0,
                rows: r16,
                sel: s16,
                n: n32,
                reuse: !abl.rass,
            },
            times,
        )?;
        // Rows whose K/V must be generated: RASS shares a key among the block's queries.
        Ok(if abl.rass {
            rows * sel
        } else {
            n.min(rows * sel)
        })
    }
}

/// Bytes of the three weight matrices of one head: W_k in LZ form (4 bit), W_k and W_v (8 bit).
pub fn weight_bytes(shape: &LayerShape) -> u64 {
    let wd = shape.hidden * shape.head_dim;
    wd / 2 + 2 * wd
}

/// A plan's identity in the memo: shape, schedule, ablations, `Tc`, query block.
type MemoKey = (ShapeKey, Schedule, Ablation, u64, u64);

/// Prices layer plans on one chip: the analytical K/V placements formula by formula, gathered
/// K/V by timing the head the lowering emits ([`gathered`]). Emitting and timing a head is the
/// expensive part of planning and the same plans are priced again and again (every layer of a
/// shape, every extraction of a pin), so each distinct gathered plan is priced once per
/// [`PriceCache`]; the figures are a pure function of the key and the chip.
pub struct Pricer<'a> {
    pub hw: &'a HwConfig,
    lowering: &'a dyn HeadLowering,
    memo: PriceCache,
}

/// Gathered plans already priced on one chip. Cloning shares it: the driver's `Target` owns
/// one, so that the compiles of one command (`sofa run --workload` plans the spec at one, two
/// and all layers, and sizes the program from the plans once more) price each plan once.
/// Handed to a pricer for another chip, it starts over.
#[derive(Clone, Default)]
pub struct PriceCache(Arc<Mutex<Prices>>);

#[derive(Default)]
struct Prices {
    hw: Option<HwConfig>,
    costs: BTreeMap<MemoKey, Result<LayerCost, ScheduleError>>,
}

impl PriceCache {
    /// The prices, emptied first if they were made for another chip than `hw`.
    fn for_chip(&self, hw: &HwConfig) -> MutexGuard<'_, Prices> {
        // A panic while holding the lock leaves only whole entries behind.
        let mut p = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if p.hw.as_ref() != Some(hw) {
            p.hw = Some(hw.clone());
            p.costs.clear();
        }
        p
    }
}

impl std::fmt::Debug for PriceCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PriceCache")
    }
}

/// Caches hold what a pure function returned: two are interchangeable.
impl PartialEq for PriceCache {
    fn eq(&self, _: &PriceCache) -> bool {
        true
    }
}

impl<'a> Pricer<'a> {
    pub fn new(hw: &'a HwConfig, lowering: &'a dyn HeadLowering) -> Pricer<'a> {
        Pricer::with_cache(hw, lowering, PriceCache::default())
    }

    /// A pricer that reads and fills `memo`.
    pub fn with_cache(
        hw: &'a HwConfig,
        lowering: &'a dyn HeadLowering,
        memo: PriceCache,
    ) -> Pricer<'a> {
        Pricer { hw, lowering, memo }
    }

    pub fn lowering(&self) -> &'a dyn HeadLowering {
        self.lowering
    }

    /// The cost of `shape` under `sched` with candidate `c` and K/V placement `kv`.
    pub fn cost(
        &self,
        shape: &LayerShape,
        sched: Schedule,
        abl: Ablation,
        c: Candidate,
        kv: KvSource,
    ) -> Result<LayerCost, ScheduleError> {
        if kv != KvSource::Gathered {
            return analytical_cost(self.hw, shape, sched, abl, c, kv);
        }
        let tc = if sched == Schedule::Staged { 1 } else { c.tc };
        let tc = tc.clamp(1, shape.seq_k.max(1));
        let key = (shape.key(), sched, abl, tc, c.q_block);
        if let Some(hit) = self.memo.for_chip(self.hw).costs.get(&key) {
            return hit.clone();
        }
        let head = HeadPlan {
            shape,
            schedule: sched,
            ablate: abl,
            tc,
            q_block: c.q_block,
        };
        let cost = gathered::layer_cost(self.hw, self.lowering, &head);
        self.memo.for_chip(self.hw).costs.insert(key, cost.clone());
        cost
    }
}

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
    let mut t = Tally {
        hw,
        cost: LayerCost::default(),
    };
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

/// Fill in the energy of `cost` (busy cycles × engine power, DRAM energy per byte).
fn finish_with(hw: &HwConfig, mut cost: LayerCost) -> Result<LayerCost, ScheduleError> {
    let mut e = PerEngine::new();
    for (&name, &c) in &cost.cycles {
        let engine = Engine::from_name(name).unwrap_or(Engine::Ctrl);
        e.insert(name, energy::busy_energy(hw, engine, c)?);
    }
    let dram = energy::dram_energy(hw, cost.dram_bytes())?;
    e.insert("dram_device", dram.device);
    e.insert("dram_interface", dram.interface);
    cost.energy = e;
    Ok(cost)
}
