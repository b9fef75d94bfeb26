//! The roofline: what a workload *needs* of each engine and of DRAM, divided by the engine's
//! peak rate from [`HwConfig`] alone — independent of the schedule and of the program.
//!
//! A layer's needs are counted row by row ([`AttnWork::work`]) into a [`Work`], which adds up
//! over layers (a program's work is the sum of its layers' plus its GEMMs, weights and
//! outputs); [`Work::bounds`] turns work into cycles. The binding bound is the largest; a
//! program can take no fewer cycles than it (`docs/roofline.md` gives every definition, why
//! each is a lower bound of the timing model, and the DRAM derivation):
//!
//! - **SU-FA**: `ceil(Σ selected pairs · key / sufa.rows) + ceil(rows · d / sufa.div_units)`,
//!   `key = max(ceil(d/(sufa.cols/2)), ceil(sufa.rows/sufa.exp_units))`; a row selects
//!   `keep_count(keep, n)` of its `n` visible keys (all of them at keep 1).
//! - **DLZS** (keep < 1): every visible score predicted, `ceil(Σ n · d / (dlzs.rows · dlzs.cols))`.
//! - **SADS** (keep < 1): per row every visible score enters a sorter and every selected key
//!   leaves one, `ceil(Σ max(ceil(n/(in − out)), ceil(k/out)) / sads.sorters)` with
//!   `in = sads.sorter_inputs`, `out = sads.sorter_outputs`.
//! - **K/V PE array**: the model's GEMM MACs over `kvpe.rows · kvpe.cols`.
//! - **DRAM**: compulsory bytes, and the re-reads the on-chip memory forces (Hong–Kung),
//!   `ceil(bytes · clock.freq_mhz / dram.bandwidth_mb_s)`.
//!
//! All arithmetic is checked: overflow or a zero rate is a [`CostError`], never a panic.

use crate::dialect::attn::{AttnShape, Band};
use crate::eval::sads::keep_count;

use super::cost::{add, ceil_div, mul, sufa_key_cycles, CostError, Cycles};
use super::HwConfig;

/// The bound names, in the order reports list them (ties go to the first).
pub const BOUND_NAMES: [&str; 5] = ["sufa", "dlzs", "sads", "kvpe", "dram"];

/// Each bound's formula, naming the `HwConfig` keys it reads (same order as [`BOUND_NAMES`]).
pub const BOUND_FORMULAS: [&str; 5] = [
    "ceil(selected_pairs * max(ceil(d/(sufa.cols/2)), ceil(sufa.rows/sufa.exp_units)) / sufa.rows) + ceil(rows * d / sufa.div_units)",
    "ceil(visible_pairs * d / (dlzs.rows * dlzs.cols)), keep < 1",
    "ceil(sum over rows of max(ceil(n/(sads.sorter_inputs - sads.sorter_outputs)), ceil(k/sads.sorter_outputs)) / sads.sorters), keep < 1",
    "ceil(gemm_macs / (kvpe.rows * kvpe.cols))",
    "ceil(dram_lower_bound_bytes * clock.freq_mhz / dram.bandwidth_mb_s)",
];

/// What one attention layer is asked to compute: its sizes, band, keep ratio and where its
/// operands live.
#[derive(Clone, Debug, PartialEq)]
pub struct AttnWork {
    pub batch: u64,
    pub heads: u64,
    pub kv_heads: u64,
    pub seq_q: u64,
    pub seq_k: u64,
    pub head_dim: u64,
    pub band: Band,
    /// Bytes of one q, k, v or output row (`head_dim` elements of the layer's type).
    pub row_bytes: u64,
    /// Fraction of each row's visible keys kept (1 = dense).
    pub keep: f64,
    /// q, k and v are read from DRAM and the output written there (attention-only programs,
    /// whose operands are program inputs); `false`: activations of a model, which may stay on
    /// chip, so only the re-reads are compulsory.
    pub in_dram: bool,
}

/// Additive needs: a layer's, or a program's (the sum of its layers' and its own).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Work {
    /// Query rows (batch · heads · seq_q).
    pub rows: u64,
    /// (row, key) pairs the band leaves visible.
    pub visible_pairs: u64,
    /// (row, key) pairs the selection keeps (`keep_count` per row).
    pub selected_pairs: u64,
    /// Σ selected pairs × SU-FA cycles per key: lane-cycles over `sufa.rows` lanes.
    pub sufa_lane_cycles: u64,
    /// rows × d: the divides of the final normalisation.
    pub sufa_divides: u64,
    /// Shift-add MACs of the score prediction (keep < 1).
    pub dlzs_macs: u64,
    /// Sorter rounds of the selection (keep < 1), summed over rows.
    pub sads_rounds: u64,
    /// GEMM multiply-accumulates on the K/V PE array.
    pub kvpe_macs: u64,
    /// Bytes that must be read from / written to DRAM at least once.
    pub dram_read: u64,
    pub dram_written: u64,
    /// Σ over exact-attention pairs of q-row bytes × (k + v)-row bytes: the Hong–Kung weight
    /// whose quotient by the on-chip memory bounds the re-reads.
    pub reuse_weight: u128,
}

/// The DRAM lower bound, in bytes and cycles.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DramBound {
    /// Bytes read and written at least once.
    pub compulsory_read: u64,
    pub compulsory_written: u64,
    /// Reads forced by the on-chip memory: `floor(reuse_weight / M) − M` (0 if negative).
    pub reuse_read: u64,
    /// `max(compulsory_read, reuse_read) + compulsory_written`.
    pub bytes: u64,
    pub cycles: Cycles,
}

/// Every engine's bound and the DRAM bound of some work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bounds {
    pub sufa: Cycles,
    pub dlzs: Cycles,
    pub sads: Cycles,
    pub kvpe: Cycles,
    pub dram: DramBound,
}

impl Bounds {
    /// `(name, cycles)` of each bound, in [`BOUND_NAMES`] order.
    pub fn cycles(&self) -> [(&'static str, Cycles); 5] {
        let c = [self.sufa, self.dlzs, self.sads, self.kvpe, self.dram.cycles];
        std::array::from_fn(|i| (BOUND_NAMES[i], c[i]))
    }

    /// The binding bound: the largest (ties: the first in [`BOUND_NAMES`] order).
    pub fn binding(&self) -> (&'static str, Cycles) {
        self.cycles()
            .into_iter()
            .fold(("sufa", 0), |best, b| if b.1 > best.1 { b } else { best })
    }
}

/// The on-chip memory `M` of the DRAM bound: every SRAM (`sram.token_bytes +
/// sram.weight_bytes + sram.temp_bytes`).
pub fn on_chip_bytes(hw: &HwConfig) -> Result<u64, CostError> {
    let s = &hw.sram;
    add(
        add(s.token_bytes, s.weight_bytes, "on-chip bytes")?,
        s.temp_bytes,
        "on-chip bytes",
    )
}

/// Cycles to move `bytes` at the DRAM's peak bandwidth (no latency).
pub fn dram_bound_cycles(hw: &HwConfig, bytes: u64) -> Result<Cycles, CostError> {
    ceil_div(
        mul(bytes, hw.clock.freq_mhz, "DRAM bound")?,
        hw.dram.bandwidth_mb_s,
        "dram.bandwidth_mb_s",
    )
}

/// Keys of `seq_k` visible to query row `i` under `band`.
pub fn visible_keys(band: Band, seq_k: u64, i: u64) -> u64 {
    let upto = i.saturating_add(1).min(seq_k);
    match band {
        Band::None => seq_k,
        Band::Causal => upto,
        Band::Window(w) => upto.saturating_sub(i.saturating_add(1).saturating_sub(w)),
    }
}

/// Per-head sums over the query rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct RowSums {
    visible: u64,
    selected: u64,
    rounds: u64,
    /// The largest single row's selection.
    max_selected: u64,
}

impl AttnWork {
    /// The work of an attention op of `shape` keeping `keep` of each row's keys.
    pub fn of(shape: &AttnShape, keep: f64, in_dram: bool) -> Result<AttnWork, CostError> {
        let row_bytes = shape
            .dt
            .bytes_for(shape.head_dim)
            .ok_or(CostError::Overflow("row bytes"))?;
        Ok(AttnWork {
            batch: shape.batch,
            heads: shape.heads,
            kv_heads: shape.kv_heads,
            seq_q: shape.seq_q,
            seq_k: shape.seq_k,
            head_dim: shape.head_dim,
            band: shape.band(),
            row_bytes,
            keep,
            in_dram,
        })
    }

    /// Whether the layer selects (predicts and sorts): keep < 1.
    pub fn sparse(&self) -> bool {
        self.keep < 1.0
    }

    /// Keys visible to at least one query (of one batch and KV head).
    pub fn keys_seen(&self) -> u64 {
        match self.band {
            Band::None => self.seq_k,
            Band::Window(0) => 0,
            Band::Causal | Band::Window(_) => self.seq_q.min(self.seq_k),
        }
    }

    /// The row's selection of `n` visible keys (all of them when dense).
    fn selected(&self, n: u64) -> u64 {
        if self.sparse() {
            keep_count(self.keep, n)
        } else {
            n
        }
    }

    /// Sorter rounds one row needs: each visible score enters a sorter (`in − out` new per
    /// round), each selected key leaves one (`out` per pass).
    fn row_rounds(&self, hw: &HwConfig, n: u64, k: u64) -> Result<u64, CostError> {
        if !self.sparse() || n == 0 {
            return Ok(0);
        }
        let s = &hw.sads;
        let fresh = u64::from(s.sorter_inputs.saturating_sub(s.sorter_outputs));
        let enter = ceil_div(n, fresh, "sads.sorter_inputs - sads.sorter_outputs")?;
        let leave = ceil_div(k, s.sorter_outputs.into(), "sads.sorter_outputs")?;
        Ok(enter.max(leave))
    }

    /// Row-by-row sums of one (batch, head); rows past the band's ramp repeat, so they are
    /// counted once and multiplied.
    fn row_sums(&self, hw: &HwConfig) -> Result<RowSums, CostError> {
        // Causal rows see the same keys from row seq_k on, window rows (none) from seq_k + w.
        let ramp = match self.band {
            Band::None => 0,
            Band::Causal => self.seq_k.min(self.seq_q),
            Band::Window(w) => self.seq_k.saturating_add(w).min(self.seq_q),
        };
        let mut sums = RowSums::default();
        let mut tally = |n: u64, times: u64| -> Result<(), CostError> {
            let k = self.selected(n);
            let rounds = self.row_rounds(hw, n, k)?;
            sums.visible = add(
                sums.visible,
                mul(n, times, "visible pairs")?,
                "visible pairs",
            )?;
            sums.selected = add(sums.selected, mul(k, times, "pairs")?, "pairs")?;
            sums.rounds = add(sums.rounds, mul(rounds, times, "rounds")?, "rounds")?;
            if times > 0 {
                sums.max_selected = sums.max_selected.max(k);
            }
            Ok(())
        };
        for i in 0..ramp {
            tally(visible_keys(self.band, self.seq_k, i), 1)?;
        }
        // Every row from `ramp` on sees the same keys.
        tally(visible_keys(self.band, self.seq_k, ramp), self.seq_q - ramp)?;
        Ok(sums)
    }

    /// What the layer needs (see the module docs and `docs/roofline.md`).
    pub fn work(&self, hw: &HwConfig) -> Result<Work, CostError> {
        let heads = mul(self.batch, self.heads, "batch x heads")?;
        let kv = mul(self.batch, self.kv_heads, "batch x kv heads")?;
        let d = self.head_dim;
        let s = self.row_sums(hw)?;
        let rows = mul(heads, self.seq_q, "rows")?;
        let visible_pairs = mul(heads, s.visible, "visible pairs")?;
        let selected_pairs = mul(heads, s.selected, "selected pairs")?;
        let sparse = self.sparse();
        let mut w = Work {
            rows,
            visible_pairs,
            selected_pairs,
            sufa_lane_cycles: mul(selected_pairs, sufa_key_cycles(hw, d)?, "SU-FA work")?,
            sufa_divides: mul(rows, d, "SU-FA divides")?,
            dlzs_macs: if sparse {
                mul(visible_pairs, d, "DLZS MACs")?
            } else {
                0
            },
            sads_rounds: mul(heads, s.rounds, "SADS rounds")?,
            reuse_weight: reuse_weight(selected_pairs, self.row_bytes)?,
            ..Work::default()
        };
        if self.in_dram {
            // Q read and O written once; K for every key some query sees (each is predicted,
            // or attended when dense); V for the keys selected — at least the largest row's.
            let v_rows = if sparse {
                s.max_selected
            } else {
                self.keys_seen()
            };
            let q = mul(rows, self.row_bytes, "Q bytes")?;
            let k = mul(
                mul(kv, self.keys_seen(), "K rows")?,
                self.row_bytes,
                "K bytes",
            )?;
            let v = mul(mul(kv, v_rows, "V rows")?, self.row_bytes, "V bytes")?;
            w.dram_read = add(add(q, k, "DRAM bytes")?, v, "DRAM bytes")?;
            w.dram_written = q;
        }
        Ok(w)
    }

    /// Rows of K and of V (per batch and KV head) an on-demand generator must produce: the
    /// keys some query selects, at least the largest row's selection (every seen key when
    /// dense). The K/V projections of a model need no more MACs than these rows.
    pub fn kv_rows_needed(&self, hw: &HwConfig) -> Result<u64, CostError> {
        if self.sparse() {
            Ok(self.row_sums(hw)?.max_selected)
        } else {
            Ok(self.keys_seen())
        }
    }
}

/// `pairs` × q-row bytes × (k + v)-row bytes: the Hong–Kung weight of exact-attention pairs.
fn reuse_weight(pairs: u64, row_bytes: u64) -> Result<u128, CostError> {
    u128::from(pairs)
        .checked_mul(u128::from(row_bytes))
        .and_then(|x| x.checked_mul(2 * u128::from(row_bytes)))
        .ok_or(CostError::Overflow("reuse weight"))
}

impl Work {
    /// The sum of two works.
    pub fn plus(&self, o: &Work) -> Result<Work, CostError> {
        let s = |a: u64, b: u64, what| add(a, b, what);
        Ok(Work {
            rows: s(self.rows, o.rows, "rows")?,
            visible_pairs: s(self.visible_pairs, o.visible_pairs, "visible pairs")?,
            selected_pairs: s(self.selected_pairs, o.selected_pairs, "selected pairs")?,
            sufa_lane_cycles: s(self.sufa_lane_cycles, o.sufa_lane_cycles, "SU-FA work")?,
            sufa_divides: s(self.sufa_divides, o.sufa_divides, "SU-FA divides")?,
            dlzs_macs: s(self.dlzs_macs, o.dlzs_macs, "DLZS MACs")?,
            sads_rounds: s(self.sads_rounds, o.sads_rounds, "SADS rounds")?,
            kvpe_macs: s(self.kvpe_macs, o.kvpe_macs, "GEMM MACs")?,
            dram_read: s(self.dram_read, o.dram_read, "DRAM bytes")?,
            dram_written: s(self.dram_written, o.dram_written, "DRAM bytes")?,
            reuse_weight: self
                .reuse_weight
                .checked_add(o.reuse_weight)
                .ok_or(CostError::Overflow("reuse weight"))?,
        })
    }

    /// The sum of many works.
    pub fn sum<'a>(works: impl IntoIterator<Item = &'a Work>) -> Result<Work, CostError> {
        works
            .into_iter()
            .try_fold(Work::default(), |acc, w| acc.plus(w))
    }

    /// The DRAM lower bound of this work (see `docs/roofline.md`).
    pub fn dram_bound(&self, hw: &HwConfig) -> Result<DramBound, CostError> {
        let m = on_chip_bytes(hw)?;
        let phases = self.reuse_weight / u128::from(m.max(1));
        let reuse_read = u64::try_from(phases.saturating_sub(u128::from(m)))
            .map_err(|_| CostError::Overflow("DRAM re-reads"))?;
        let bytes = add(
            self.dram_read.max(reuse_read),
            self.dram_written,
            "DRAM bound",
        )?;
        Ok(DramBound {
            compulsory_read: self.dram_read,
            compulsory_written: self.dram_written,
            reuse_read,
            bytes,
            cycles: dram_bound_cycles(hw, bytes)?,
        })
    }

    /// Every engine's bound and the DRAM bound.
    pub fn bounds(&self, hw: &HwConfig) -> Result<Bounds, CostError> {
        let sufa = add(
            ceil_div(self.sufa_lane_cycles, hw.sufa.rows.into(), "sufa.rows")?,
            ceil_div(
                self.sufa_divides,
                hw.sufa.div_units.into(),
                "sufa.div_units",
            )?,
            "SU-FA bound",
        )?;
        let array = |r: u32, c: u32| u64::from(r) * u64::from(c);
        Ok(Bounds {
            sufa,
            dlzs: ceil_div(
                self.dlzs_macs,
                array(hw.dlzs.rows, hw.dlzs.cols),
                "dlzs.rows * dlzs.cols",
            )?,
            sads: ceil_div(self.sads_rounds, hw.sads.sorters.into(), "sads.sorters")?,
            kvpe: ceil_div(
                self.kvpe_macs,
                array(hw.kvpe.rows, hw.kvpe.cols),
                "kvpe.rows * kvpe.cols",
            )?,
            dram: self.dram_bound(hw)?,
        })
    }
}

/// One layer's name and work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerWork {
    /// The attention op's location (e.g. `llama-7b/layer0/attention`).
    pub name: String,
    pub work: Work,
}

/// A program's roofline inputs: each attention layer's work and the whole program's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RooflineWork {
    /// In program order.
    pub layers: Vec<LayerWork>,
    /// The layers' sum plus the program's own (GEMMs, weights, outputs).
    pub program: Work,
}

/// `bound / achieved`, 0 when nothing was achieved.
pub fn efficiency(bound: u64, achieved: u64) -> f64 {
    if achieved == 0 {
        0.0
    } else {
        bound as f64 / achieved as f64
    }
}

#[cfg(test)]
mod tests;
