//! Pricing one layer under one candidate plan. [`Pricer`] prices the paper's K/V placements
//! (on demand, preloaded) formula by formula ([`analytical`]), and *gathered* K/V (the default
//! placement) — the program the lowering does emit, K and V read from DRAM and the selected rows
//! gathered — by emitting it for one head and timing it as the simulator does ([`gathered`],
//! [`timeline`]): latency there is the critical path through the engines' semaphores (busy
//! cycles plus dependency stalls, e.g. the serial LD → DLZS.S → SADS → RASS → GATHER chain of
//! each tile behind the single-buffered rings), not the busiest engine. Both build their
//! [`LayerCost`] with one instruction tally (`tally.rs`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use sofa_ir::hw::HwConfig;

use super::{Ablation, KvSource, PerEngine, Schedule, ScheduleError, Traffic};
pub use crate::schedule::shape::Candidate;
use crate::schedule::shape::{LayerShape, ShapeKey};
pub use analytical::analytical_cost;
pub use gathered::{EmittedHead, HeadLowering, HeadPlan};

pub mod analytical;
pub mod gathered;
mod tally;
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
