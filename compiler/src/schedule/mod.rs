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

use std::collections::BTreeMap;

use sofa_ir::hw::CostError;

pub use choose::{choose_plan, plan_module, plan_module_pinned, LayerShape, PlannedLayer};
pub use cost::{layer_cost, layer_cost_kv, Candidate, LayerCost};
pub use egraph::{Alternative, Choice, Pin};

/// The attention dataflow to cost and emit.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Schedule {
    /// FlashAttention-2 on the SU-FA engine over every valid key; no prediction.
    Dense,
    /// The classic three-stage flow: Â and A go to DRAM, whole-row top-k, FA-2 update.
    Staged,
    /// SOFA's cross-stage coordinated tiling (default).
    #[default]
    Cct,
}

impl Schedule {
    pub fn name(self) -> &'static str {
        match self {
            Schedule::Dense => "dense",
            Schedule::Staged => "staged",
            Schedule::Cct => "cct",
        }
    }

    pub fn parse(text: &str) -> Result<Schedule, ScheduleError> {
        match text {
            "dense" => Ok(Schedule::Dense),
            "staged" => Ok(Schedule::Staged),
            "cct" => Ok(Schedule::Cct),
            other => Err(ScheduleError::BadOption(format!(
                "unknown schedule '{other}' (expected dense, staged or cct)"
            ))),
        }
    }
}

/// Mechanisms replaced by their baseline (paper Fig. 17/20 ablations).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Ablation {
    /// Predict with 4-bit multiplies on the PE array (GEMM) instead of DLZS shift-adds.
    pub dlzs: bool,
    /// Sort each whole row once instead of SADS per tile.
    pub sads: bool,
    /// FA-2 update (max scan + rescale per tile) instead of sorted SU-FA.
    pub sufa: bool,
    /// Issue every query's keys separately instead of RASS's shared order.
    pub rass: bool,
}

impl Ablation {
    /// Parse a comma list of `dlzs`, `sads`, `sufa`, `rass` (empty = none).
    pub fn parse(text: &str) -> Result<Ablation, ScheduleError> {
        let mut a = Ablation::default();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item {
                "dlzs" => a.dlzs = true,
                "sads" => a.sads = true,
                "sufa" => a.sufa = true,
                "rass" => a.rass = true,
                other => {
                    return Err(ScheduleError::BadOption(format!(
                        "unknown ablation '{other}' (expected dlzs, sads, sufa or rass)"
                    )))
                }
            }
        }
        Ok(a)
    }

    /// The canonical comma list (`""` when nothing is ablated).
    pub fn to_list(self) -> String {
        let names = [
            (self.dlzs, "dlzs"),
            (self.sads, "sads"),
            (self.sufa, "sufa"),
            (self.rass, "rass"),
        ];
        let on: Vec<&str> = names.iter().filter(|(b, _)| *b).map(|(_, n)| *n).collect();
        on.join(",")
    }
}

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

/// How K and V reach the SU-FA engine.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum KvPlacement {
    /// KVGEN from the token rows X of the keys RASS issues, per key tile and query block
    /// (the paper's on-demand K/V, §III-A).
    OnDemand,
    /// K and V projected once per head for every key (KVGEN over X), stored to DRAM, and read
    /// back in order, whole tiles, by every query block.
    Preload,
    /// K and V are tensors in DRAM and the selected rows are gathered from them: what the
    /// lowering emits today (attention-only IR carries K/V; models compute them before the
    /// attention op), priced from the lowered program ([`cost::gathered`]). The default.
    #[default]
    Gathered,
}

impl KvPlacement {
    pub fn name(self) -> &'static str {
        match self {
            KvPlacement::OnDemand => "on-demand",
            KvPlacement::Preload => "preload",
            KvPlacement::Gathered => "gathered",
        }
    }

    /// `on-demand`, `preload` or `gathered`.
    pub fn parse(text: &str) -> Result<KvPlacement, ScheduleError> {
        match text {
            "on-demand" => Ok(KvPlacement::OnDemand),
            "preload" => Ok(KvPlacement::Preload),
            "gathered" => Ok(KvPlacement::Gathered),
            other => Err(ScheduleError::BadOption(format!(
                "unknown K/V placement '{other}' (expected on-demand, preload or gathered)"
            ))),
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
}

impl TensorClass {
    pub const ALL: [TensorClass; 9] = [
        TensorClass::Q,
        TensorClass::KX,
        TensorClass::V,
        TensorClass::Weights,
        TensorClass::Khat,
        TensorClass::Ahat,
        TensorClass::A,
        TensorClass::O,
        TensorClass::Spills,
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
    pub kv: KvPlacement,
    pub cost: LayerCost,
}

/// Why a plan could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScheduleError {
    #[error("{0}")]
    BadOption(String),
    #[error("layer {layer}: {message}")]
    Shape { layer: usize, message: String },
    #[error("layer {layer}: no tiling fits the SRAM capacities ({detail})")]
    NoFit { layer: usize, detail: String },
    #[error("cost model: {0}")]
    Cost(#[from] CostError),
    #[error("timing replay: {0}")]
    Replay(sofa_ir::hw::timing::ReplayError),
}

/// Per-engine figures, keyed by engine name (`dma`, `dlzs`, ...), ordered.
pub type PerEngine = BTreeMap<&'static str, u64>;

#[cfg(test)]
mod tests;
