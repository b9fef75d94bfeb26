//! DRAM traffic of the three dataflows the paper compares (Fig. 20a), from the cost model.
//!
//! - *vanilla LP*: `staged` (Â and A through DRAM, whole-row top-k) with RASS ablated, every
//!   query's selected keys fetched on their own;
//! - *+RASS*: `staged` with RASS (the paper's "−23% with RASS alone");
//! - *SOFA*: `cct`, the tiled pipeline with RASS and SU-FA (the paper's "−79%").
//!
//! Bytes are the cost model's per-layer DRAM traffic (read + written) of the plan `cct-tile`
//! picks for each, times the number of layers.

use sofa_compiler::schedule::{Ablation, LayerPlan, Schedule};
use sofa_ir::hw::HwConfig;

use super::workload::Workload;
use super::PaperError;

/// DRAM bytes of one workload under the three dataflows.
#[derive(Clone, Debug, PartialEq)]
pub struct DramFigures {
    pub workload: String,
    /// The no-RASS baseline, or why the cost model could not price it.
    pub vanilla: Result<u64, PaperError>,
    pub rass_only: u64,
    pub cct: u64,
    /// `Tc` the cost model chose for `cct`.
    pub cct_tc: u64,
    /// Share of the baseline's bytes that are token rows X (for the notes).
    pub vanilla_x_share: f64,
}

impl DramFigures {
    /// `100 · (new − base) / base`.
    pub fn change_pct(base: u64, new: u64) -> f64 {
        if base == 0 {
            0.0
        } else {
            100.0 * (new as f64 - base as f64) / base as f64
        }
    }

    /// staged + RASS against the baseline (when it could be priced).
    pub fn rass_change(&self) -> Option<f64> {
        let base = *self.vanilla.as_ref().ok()?;
        Some(Self::change_pct(base, self.rass_only))
    }

    /// cct against the baseline (when it could be priced).
    pub fn cct_change(&self) -> Option<f64> {
        let base = *self.vanilla.as_ref().ok()?;
        Some(Self::change_pct(base, self.cct))
    }

    /// cct against staged *with* RASS: what tiling alone removes.
    pub fn cct_vs_staged(&self) -> f64 {
        Self::change_pct(self.rass_only, self.cct)
    }
}

/// Share of a plan's DRAM bytes in the token-row class (`k_x`).
fn x_share(plan: &LayerPlan) -> f64 {
    let x = plan.cost.dram.get("k_x").map_or(0, |t| t.total());
    x as f64 / plan.cost.dram_bytes().max(1) as f64
}

/// The three plans of `w` and their DRAM bytes. The no-RASS baseline of very long layers can
/// exceed the cost model's 64-bit energy arithmetic; that is recorded, not fatal.
pub fn measure(hw: &HwConfig, w: &Workload) -> Result<DramFigures, PaperError> {
    let no_rass = Ablation {
        rass: true,
        ..Ablation::default()
    };
    let layers = w.spec.layers;
    let bytes = |p: &LayerPlan| p.cost.dram_bytes().saturating_mul(layers);
    let vanilla = w.plan(hw, Schedule::Staged, no_rass);
    let rass = w.plan(hw, Schedule::Staged, Ablation::default())?;
    let cct = w.plan(hw, Schedule::Cct, Ablation::default())?;
    Ok(DramFigures {
        workload: w.spec.name.clone(),
        vanilla_x_share: vanilla.as_ref().map_or(0.0, x_share),
        vanilla: vanilla.map(|p| bytes(&p)),
        rass_only: bytes(&rass),
        cct: bytes(&cct),
        cct_tc: cct.tc,
    })
}
