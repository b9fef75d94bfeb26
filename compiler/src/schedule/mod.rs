//! Per-layer attention schedules and their analytical cost (`cct-tile`, `schedule-json`).
//!
//! A [`LayerPlan`] fixes how one `attn.mha` / `attn.sparse_mha` runs on the SOFA chip: the key
//! tile count `Tc` (tile width `Bc = ⌈Sk/Tc⌉`, so `Sk` need not divide), the query block (128
//! rows, or `Sq` if smaller; the last block may be partial), and where the predicted keys K̂
//! live ([`KhatPlacement`]). Its figures come from [`cost`], which enumerates the instructions
//! the backend will emit (LD/GATHER/ST, DLZS.K/DLZS.S, SADS, RASS, KVGEN, SUFA.T, SUFA.SYNC)
//! per query block and sums [`sofa_ir::isa::Instr::cycles`] over them, so the simulator's
//! static timing of the lowered program agrees by construction. [`egraph`] holds every
//! equivalent dataflow of a layer (dense FA-2, staged, CCT per feasible `Tc`; K̂ recomputed or
//! spilled; K/V generated on demand or preloaded; the ablation baselines) as alternatives of one
//! e-class and extracts the cheapest under a [`Pin`]; [`choose`] plans a module with it (one
//! e-graph per distinct layer shape); [`json`] renders the `schedule-json` report.
//!
//! Three schedules ([`Schedule`]) allow the paper's comparisons, and four [`Ablation`]
//! switches replace one SOFA mechanism each by its baseline.

pub mod choose;
pub mod cost;
pub mod egraph;
pub mod json;
pub mod price;
pub mod shape;

use std::collections::BTreeMap;

use std::sync::Arc;

use sofa_ir::dialect::attn::{AttnShapeError, PlanError, SparseAttrError};
use sofa_ir::hw::timing::ReplayError;
use sofa_ir::hw::CostError;

pub use choose::{plan_module, plan_module_tiled, PlannedLayer};
pub use cost::{analytical_cost, HeadLowering, LayerCost, PriceCache, Pricer};
pub use egraph::{Alternative, Choice, Pin};
pub use shape::{Candidate, LayerShape};

pub use sofa_ir::dialect::attn::{Ablation, KvSource, Schedule};

/// Where the predicted keys K̂ of a layer live between query blocks.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KhatPlacement {
    /// Recomputed from the token rows X for every query block (no K̂ traffic).
    Recompute,
    /// Computed once per head, stored to DRAM, and loaded per query block.
    Spill,
    /// The schedule makes no prediction (dense).
    None,
}

impl KhatPlacement {
    pub fn name(self) -> &'static str {
        match self {
            KhatPlacement::Recompute => "recompute",
            KhatPlacement::Spill => "spill",
            KhatPlacement::None => "none",
        }
    }
}

/// DRAM tensor classes the traffic is reported by. On demand, K and V are generated on chip
/// from X (`KX`) and `V` stays empty; preloaded, the projected K rows count as `KX` (beside
/// the X rows they are projected from) and the V rows as `V`. The K̂ spill is reported as
/// `Khat`; `Spills` is reserved for register-pressure spills of the lowering.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TensorClass {
    Q,
    /// Token rows X (K and V are generated on chip from them), and preloaded K rows.
    KX,
    V,
    Weights,
    Khat,
    Ahat,
    A,
    O,
    Spills,
    /// A score bias loaded per tile (and, staged, per row chunk).
    Mask,
}

impl TensorClass {
    pub const ALL: [TensorClass; 10] = [
        TensorClass::Q,
        TensorClass::KX,
        TensorClass::V,
        TensorClass::Weights,
        TensorClass::Khat,
        TensorClass::Ahat,
        TensorClass::A,
        TensorClass::O,
        TensorClass::Spills,
        TensorClass::Mask,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TensorClass::Q => "q",
            TensorClass::KX => "k_x",
            TensorClass::V => "v",
            TensorClass::Weights => "weights",
            TensorClass::Khat => "khat",
            TensorClass::Ahat => "ahat",
            TensorClass::A => "a",
            TensorClass::O => "o",
            TensorClass::Spills => "spills",
            TensorClass::Mask => "mask",
        }
    }
}

/// Bytes read from and written to DRAM.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub struct Traffic {
    pub read: u64,
    pub written: u64,
}

impl Traffic {
    pub fn total(self) -> u64 {
        self.read.saturating_add(self.written)
    }
}

/// The chosen plan of one attention layer, with its predicted figures.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerPlan {
    /// The schedule actually costed (a keep ratio of 1 always runs dense).
    pub schedule: Schedule,
    pub tc: u64,
    pub bc: u64,
    pub q_block: u64,
    pub query_blocks: u64,
    pub khat: KhatPlacement,
    pub kv: KvSource,
    pub cost: LayerCost,
}

/// Why a plan could not be made (or priced).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ScheduleError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("layer {layer}: {source}")]
    Shape {
        layer: usize,
        source: AttnShapeError,
    },
    #[error("layer {layer}: {source}")]
    Attrs {
        layer: usize,
        source: SparseAttrError,
    },
    #[error("layer {layer}: no tiling fits the SRAM capacities ({detail})")]
    NoFit { layer: usize, detail: String },
    #[error(
        "layer {layer}: no plan has {tiles} key tiles (Sk {seq_k}; the tile counts that fit \
         this chip and schedule: {feasible})"
    )]
    NoSuchTiles {
        layer: usize,
        tiles: u64,
        seq_k: u64,
        feasible: String,
    },
    #[error("cost model: {0}")]
    Cost(#[from] CostError),
    #[error("timing replay: {0}")]
    Replay(ReplayError),
    #[error("{what} = {value} exceeds the instruction field")]
    Field { what: &'static str, value: u64 },
    #[error("DRAM addresses overflow")]
    DramOverflow,
    /// The lowering could not emit the head being priced.
    #[error("lowering the priced head: {0}")]
    Lowering(Arc<dyn std::error::Error + Send + Sync>),
}

/// Per-engine figures, keyed by engine name (`dma`, `dlzs`, ...), ordered.
pub type PerEngine = BTreeMap<&'static str, u64>;

#[cfg(test)]
mod tests;
