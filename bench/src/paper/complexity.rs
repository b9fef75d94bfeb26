//! The complexity ablation of the paper's Fig. 17: DLZS, +SADS, +SU-FA against 4-bit
//! prediction + whole-row sort + FA-2.
//!
//! **Complexity** here is the arithmetic of the three attention stages a variant changes,
//! weighted by the bit-level cost of each primitive (Brent & Zimmermann, *Modern Computer
//! Arithmetic* §1: addition and comparison linear in the width, schoolbook multiplication
//! quadratic), in units of one 16-bit addition ([`Weights`]):
//! - prediction: K̂ = X·W_k (once per head when the plan spills K̂, per query block when it
//!   recomputes it) and Â = Q·K̂ᵀ per query block and key tile: one shift-add (DLZS) or one
//!   4-bit multiply-accumulate (ablated) per product term;
//! - top-k: the 16→4 sort cores' compare-exchanges, `ceil(sel/out)·ceil(n/(in−out))` rounds per
//!   row (the SADS cycle formula without its 128-core parallelism) of a full `in`-input bitonic
//!   network each; per tile (SADS) or once over the whole visible row (ablated);
//! - formal attention: per selected key the exact score and the output update (2·d 16-bit
//!   MACs), one exp and one accumulation; FA-2 adds a max compare per key and a rescale
//!   (exp, multiply, d multiplies) per tile; the tile merge (SUFA.SYNC) and the divide.
//!
//! K/V generation (KVGEN) and the RASS ordering are left out of the scope: they are the same in
//! all four variants (RASS stays on), so they only dilute the ratios; their share is reported
//! beside ([`Complexity::kvgen`]). The walk follows the cost model's plan of each variant
//! (`cct-tile` under that `--ablate`: its `Tc`, query block and K̂ placement) and issues the
//! same instructions the cost model counted ([`Complexity::instrs`]).

use std::collections::BTreeMap;

use sofa_compiler::schedule::{Ablation, KhatPlacement, LayerPlan, LayerShape, Schedule};
use sofa_ir::dialect::attn::QueryBlock;
use sofa_ir::hw::HwConfig;

use super::workload::Workload;
use super::PaperError;

/// Cost of each primitive in 16-bit additions.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Weights {
    /// One DLZS term: the shifted operand added into the accumulator.
    pub shift_add: f64,
    /// One 4-bit × 4-bit multiply (16 bit products) plus the 16-bit accumulation.
    pub mac4: f64,
    /// One 16-bit compare-exchange of the sort cores, or a max compare.
    pub compare: f64,
    /// 16-bit addition.
    pub add: f64,
    /// 16-bit multiplication (256 bit products).
    pub mul: f64,
    /// exp: range reduction plus a degree-3 polynomial (3 multiplies and 3 additions).
    pub exp: f64,
    /// Division: two Newton steps (2 multiplies).
    pub div: f64,
}

/// The weights of the module documentation.
pub const WEIGHTS: Weights = Weights {
    shift_add: 1.0,
    mac4: 2.0,
    compare: 1.0,
    add: 1.0,
    mul: 16.0,
    exp: 51.0,
    div: 32.0,
};

/// Weighted work of one variant, summed over the layers of a workload.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Complexity {
    pub prediction: f64,
    pub topk: f64,
    pub formal: f64,
    /// K/V generation of the selected keys (outside the scope; for the notes).
    pub kvgen: f64,
    /// Instructions the walk issued per layer, by mnemonic (checked against the cost model).
    pub instrs: BTreeMap<&'static str, u64>,
}

impl Complexity {
    /// Prediction + top-k + formal attention.
    pub fn total(&self) -> f64 {
        self.prediction + self.topk + self.formal
    }
}

/// The four variants of Fig. 17, in order: baseline, +DLZS, +SADS, +SU-FA.
pub const VARIANTS: [(&str, Ablation); 4] = [
    (
        "4-bit + whole-row sort + FA-2",
        Ablation {
            dlzs: true,
            sads: true,
            sufa: true,
            rass: false,
        },
    ),
    (
        "DLZS",
        Ablation {
            dlzs: false,
            sads: true,
            sufa: true,
            rass: false,
        },
    ),
    (
        "DLZS + SADS",
        Ablation {
            dlzs: false,
            sads: false,
            sufa: true,
            rass: false,
        },
    ),
    (
        "DLZS + SADS + SU-FA",
        Ablation {
            dlzs: false,
            sads: false,
            sufa: false,
            rass: false,
        },
    ),
];

/// Compare-exchanges of one sort-core pass over `n` candidates keeping `sel`, per row.
fn sort_compares(hw: &HwConfig, n: u64, sel: u64) -> f64 {
    // Any configuration prices: at least 2 inputs and 1..inputs outputs.
    let inputs = u64::from(hw.sads.sorter_inputs).max(2);
    let outputs = u64::from(hw.sads.sorter_outputs).clamp(1, inputs - 1);
    let rounds = sel.div_ceil(outputs) * n.div_ceil(inputs - outputs);
    // A full bitonic network on `inputs` wires: (in/2)·log2(in)·(log2(in)+1)/2 comparators.
    let lg = u64::from(inputs.next_power_of_two().trailing_zeros());
    let network = inputs / 2 * lg * (lg + 1) / 2;
    (rounds * network) as f64
}

/// Walks one layer's plan, adding weighted work per head.
struct Walk<'a> {
    hw: &'a HwConfig,
    s: &'a LayerShape,
    w: Weights,
    abl: Ablation,
    c: Complexity,
}

impl Walk<'_> {
    fn count(&mut self, mnemonic: &'static str, times: u64) {
        *self.c.instrs.entry(mnemonic).or_default() += times;
    }

    /// A prediction product of `terms` multiply-adds.
    fn predict(&mut self, k_phase: bool, terms: u64) {
        let (name, weight) = match (self.abl.dlzs, k_phase) {
            (true, _) => ("GEMM", self.w.mac4),
            (false, true) => ("DLZS.K", self.w.shift_add),
            (false, false) => ("DLZS.S", self.w.shift_add),
        };
        self.count(name, 1);
        self.c.prediction += terms as f64 * weight;
    }

    fn select(&mut self, rows: u64, n: u64, sel: u64) {
        self.count("SADS", 1);
        self.count("RASS", 1);
        self.c.topk += rows as f64 * sort_compares(self.hw, n, sel) * self.w.compare;
    }

    /// One SUFA.T over `rows × sel` keys of width `d`.
    fn attend(&mut self, rows: u64, sel: u64) {
        let (w, d) = (self.w, self.s.head_dim as f64);
        self.count("SUFA.T", 1);
        let per_key = 2.0 * d * (w.mul + w.add) + w.exp + w.add;
        let per_row = if self.abl.sufa {
            // max scan per key, one rescale of (l, o) per tile
            sel as f64 * w.compare + w.exp + (d + 1.0) * w.mul
        } else {
            // max assurance on the two first keys
            w.compare
        };
        self.c.formal += rows as f64 * (sel as f64 * per_key + per_row);
    }

    fn sync(&mut self, rows: u64, tiles: u64) {
        let (w, d) = (self.w, self.s.head_dim as f64);
        self.count("SUFA.SYNC", 1);
        let per_tile = w.compare + w.exp + (d + 1.0) * (w.mul + w.add);
        self.c.formal += rows as f64 * (tiles as f64 * per_tile + d * w.div);
    }

    fn kvgen(&mut self, rows: u64) {
        self.count("KVGEN", 2);
        let terms = 2 * rows * self.s.hidden * self.s.head_dim;
        self.c.kvgen += terms as f64 * (self.w.mul + self.w.add);
    }

    /// Keys generated for a tile: the distinct keys of the block when RASS is on (every one,
    /// as the cost model assumes), each query's own otherwise.
    fn generated(&self, rows: u64, width: u64, sel: u64) -> u64 {
        if self.abl.rass {
            rows * sel
        } else {
            width.min(rows * sel)
        }
    }

    fn block(&mut self, plan: &LayerPlan, b: &QueryBlock) {
        let (s, d) = (self.s, self.s.head_dim);
        let tiles = b.tiles(plan.bc);
        let per_tile = s.budget(b.keys()).div_ceil(tiles.max(1));
        for (_, width) in b.tile_spans(plan.bc) {
            if plan.khat == KhatPlacement::Recompute {
                self.predict(true, width * s.hidden * d);
            }
            self.predict(false, b.rows * d * width);
            let sel = per_tile.min(width);
            if !self.abl.sads {
                self.select(b.rows, width, sel);
            }
            let gen = self.generated(b.rows, width, sel);
            self.kvgen(gen);
            self.attend(b.rows, sel);
        }
        if self.abl.sads {
            self.select(b.rows, b.keys(), s.budget(b.keys()));
        }
        self.sync(b.rows, tiles.max(1));
    }
}

/// The weighted complexity of one layer's `plan` (a `cct` plan), times `batch · heads`.
pub fn layer_complexity(
    hw: &HwConfig,
    s: &LayerShape,
    plan: &LayerPlan,
    abl: Ablation,
    w: Weights,
) -> Complexity {
    let mut walk = Walk {
        hw,
        s,
        w,
        abl,
        c: Complexity::default(),
    };
    if plan.khat == KhatPlacement::Spill {
        walk.predict(true, s.seq_k * s.hidden * s.head_dim);
    }
    for b in s.blocks(plan.q_block) {
        walk.block(plan, &b);
    }
    let heads = (s.batch * s.heads) as f64;
    let mut c = walk.c;
    for v in [&mut c.prediction, &mut c.topk, &mut c.formal, &mut c.kvgen] {
        *v *= heads;
    }
    c
}

/// One workload under the four variants, each with its own cost-model plan.
#[derive(Clone, Debug, PartialEq)]
pub struct VariantFigures {
    pub workload: String,
    /// Per variant of [`VARIANTS`]: (Tc of the plan, complexity summed over layers).
    pub variants: Vec<(u64, Complexity)>,
}

impl VariantFigures {
    /// `100 · (variant − baseline) / baseline` of variant `i`.
    pub fn change_pct(&self, i: usize) -> f64 {
        let base = self.variants[0].1.total();
        let v = self.variants.get(i).map_or(base, |(_, c)| c.total());
        if base == 0.0 {
            0.0
        } else {
            100.0 * (v - base) / base
        }
    }

    /// The same change with K/V generation counted too.
    pub fn change_with_kvgen_pct(&self, i: usize) -> f64 {
        let all = |c: &Complexity| c.total() + c.kvgen;
        let base = all(&self.variants[0].1);
        let v = self.variants.get(i).map_or(base, |(_, c)| all(c));
        if base == 0.0 {
            0.0
        } else {
            100.0 * (v - base) / base
        }
    }
}

/// Plan and walk the four variants of `w`.
pub fn measure(hw: &HwConfig, w: &Workload) -> Result<VariantFigures, PaperError> {
    let layers = w.spec.layers as f64;
    let mut variants = Vec::with_capacity(VARIANTS.len());
    for (_, abl) in VARIANTS {
        let plan = w.plan(hw, Schedule::Cct, abl)?;
        let mut c = layer_complexity(hw, &w.shape, &plan, abl, WEIGHTS);
        for v in [&mut c.prediction, &mut c.topk, &mut c.formal, &mut c.kvgen] {
            *v *= layers;
        }
        variants.push((plan.tc, c));
    }
    Ok(VariantFigures {
        workload: w.spec.name.clone(),
        variants,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_core_rounds_follow_the_sads_formula() {
        let hw = HwConfig::default(); // 16-input, 4-output cores: 80 compare-exchanges a round
        assert_eq!(sort_compares(&hw, 12, 4), 80.0);
        assert_eq!(sort_compares(&hw, 16, 4), 160.0); // 16 candidates need two rounds
        assert_eq!(sort_compares(&hw, 128, 32), (8 * 11 * 80) as f64);
        // Whole-row selection over Tc times the keys costs about Tc² times one tile's work.
        let tile = sort_compares(&hw, 128, 32);
        assert!(sort_compares(&hw, 512, 128) > 12.0 * tile);
        let mut odd = hw.clone();
        odd.sads.sorter_inputs = 0; // a degenerate config still prices
        assert!(sort_compares(&odd, 8, 2) > 0.0);
    }
}
