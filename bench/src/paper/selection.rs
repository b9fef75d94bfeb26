//! SADS against exact top-k, and the SU-FA update orders, on [`Synthetic`] attention rows.
//!
//! Per row, with `k = ⌈keep·S⌉`:
//! - the exact top-k of the exact scores (`sofa_ir::eval::sads::top_k`);
//! - SADS (`sads_select_tiles`, `n` tiles, no radius) on the exact scores: the selection error
//!   alone, the paper's "≈3% of indices differ" setting;
//! - SADS on the DLZS-predicted scores: prediction plus selection, what the chip selects;
//! - the three SU-FA update orders over the keys SADS selected from the predicted scores, in its
//!   order (descending prediction), with the exact scores.
//!
//! "Indices that differ" = `1 − |selected ∩ exact top-k| / k`, averaged over rows.

use sofa_ir::eval::sads::{keep_count, sads_select, sads_select_tiles, top_k};

use super::sufa::{ascending_row, descending_row, fa2_row, Row, Work};
use super::synth::Synthetic;

/// Everything measured on one synthetic batch.
#[derive(Clone, Debug, PartialEq)]
pub struct SelectionFigures {
    pub rows: usize,
    pub seq: usize,
    pub tiles: usize,
    pub keep: f64,
    /// % of selected indices outside the exact top-k: SADS on exact scores.
    pub sads_exact_pct: f64,
    /// The same with SADS on DLZS-predicted scores.
    pub sads_predicted_pct: f64,
    /// Whole-row top-k of the predicted scores (DLZS alone).
    pub dlzs_row_pct: f64,
    pub fa2: Work,
    pub ascending: Work,
    pub descending: Work,
    /// Largest |difference| between the three orders' outputs (all exact up to rounding).
    pub max_output_diff: f64,
}

fn some(row: &[f64]) -> Vec<Option<f64>> {
    row.iter().map(|&x| Some(x)).collect()
}

/// `1 − |a ∩ b| / k` for ascending index lists.
fn differ(selected: &[usize], exact: &[usize], k: usize) -> f64 {
    let inter = selected
        .iter()
        .filter(|t| exact.binary_search(t).is_ok())
        .count();
    1.0 - inter as f64 / k.max(1) as f64
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// Measure selection and update orders over every row of `data`.
pub fn measure(data: &Synthetic, tiles: usize, keep: f64) -> SelectionFigures {
    let k = keep_count(keep, data.seq as u64) as usize;
    let (mut exact_d, mut pred_d, mut row_d) = (0.0, 0.0, 0.0);
    let (mut fa2, mut asc, mut desc) = (Work::default(), Work::default(), Work::default());
    let mut worst: f64 = 0.0;
    let v = |t: usize| data.v_row(t);
    for r in 0..data.rows {
        let exact = some(data.exact_row(r));
        let predicted = some(data.predicted_row(r));
        let truth = top_k(&exact, k);
        exact_d += differ(&sads_select(&exact, tiles, k, None), &truth, k);
        pred_d += differ(&sads_select(&predicted, tiles, k, None), &truth, k);
        row_d += differ(&top_k(&predicted, k), &truth, k);
        let chosen = sads_select_tiles(&predicted, tiles, k, None);
        let row = Row {
            scores: data.exact_row(r),
            v: &v,
            d: data.d,
        };
        let (oa, wa) = fa2_row(&row, &chosen);
        let (ob, wb) = ascending_row(&row, &chosen);
        let (oc, wc) = descending_row(&row, &chosen);
        worst = worst.max(max_diff(&oa, &ob)).max(max_diff(&oa, &oc));
        fa2 = fa2.plus(wa);
        asc = asc.plus(wb);
        desc = desc.plus(wc);
    }
    let pct = |x: f64| 100.0 * x / data.rows.max(1) as f64;
    SelectionFigures {
        rows: data.rows,
        seq: data.seq,
        tiles,
        keep,
        sads_exact_pct: pct(exact_d),
        sads_predicted_pct: pct(pred_d),
        dlzs_row_pct: pct(row_d),
        fa2,
        ascending: asc,
        descending: desc,
        max_output_diff: worst,
    }
}
