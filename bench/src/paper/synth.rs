//! Synthetic attention rows for the selection and SU-FA measurements.
//!
//! `q`, `k`, `v` have i.i.d. standard-normal entries (xorshift64* + Box–Muller, fixed seed);
//! exact scores are `q·kᵀ/√d`. So every key of a row is exchangeable: the scores carry no
//! position structure ("position-free"), which is the regime of the paper's ≈3% SADS figure
//! (design.md §6 explains why real heads, which attend locally, differ).
//!
//! Predicted scores follow DLZS phase 1.2 (paper-notes §2.4, `ir/src/eval/dlzs.rs`): Q
//! quantised to 16-bit integers and snapped to its leading one (floor, the default
//! `HwConfig`), K̂ = K quantised to 16-bit integers (the attention-only programs' K̂ is the K
//! tile too; there is no X·W_k here), `Â[i,t] = Σ_c sgn(q_ic)·(K̂_tc << e(q_ic))`.

use sofa_ir::dialect::attn::Rounding;
use sofa_ir::eval::dlzs::{encode_block, quantize, LzFormat};

use super::rng::XorShift;

/// Query rows against one sequence of keys.
#[derive(Clone, Debug)]
pub struct Synthetic {
    pub rows: usize,
    pub seq: usize,
    pub d: usize,
    /// `[seq × d]` value rows.
    pub v: Vec<f32>,
    /// `[rows × seq]` exact scores `q·kᵀ/√d`.
    pub exact: Vec<f64>,
    /// `[rows × seq]` DLZS-predicted scores (integers, as f64).
    pub predicted: Vec<f64>,
}

impl Synthetic {
    /// Draw `rows` queries and `seq` keys/values of width `d` from `seed`.
    pub fn generate(rows: usize, seq: usize, d: usize, seed: u64) -> Synthetic {
        let mut rng = XorShift::new(seed);
        let q = rng.gaussians(rows * d);
        let k = rng.gaussians(seq * d);
        let v = rng.gaussians(seq * d);
        let exact = exact_scores(&q, &k, d);
        let predicted = dlzs_scores(&q, &k, d);
        Synthetic {
            rows,
            seq,
            d,
            v,
            exact,
            predicted,
        }
    }

    pub fn exact_row(&self, r: usize) -> &[f64] {
        &self.exact[r * self.seq..(r + 1) * self.seq]
    }

    pub fn predicted_row(&self, r: usize) -> &[f64] {
        &self.predicted[r * self.seq..(r + 1) * self.seq]
    }

    pub fn v_row(&self, t: usize) -> &[f32] {
        &self.v[t * self.d..(t + 1) * self.d]
    }
}

fn exact_scores(q: &[f32], k: &[f32], d: usize) -> Vec<f64> {
    let scale = 1.0 / (d as f64).sqrt();
    let mut out = Vec::with_capacity(q.len() / d * (k.len() / d));
    for qr in q.chunks_exact(d) {
        for kr in k.chunks_exact(d) {
            let dot: f64 = qr
                .iter()
                .zip(kr)
                .map(|(&a, &b)| f64::from(a) * f64::from(b))
                .sum();
            out.push(dot * scale);
        }
    }
    out
}

/// DLZS phase 1.2 with K̂ = K: only Q is reduced to its leading one.
fn dlzs_scores(q: &[f32], k: &[f32], d: usize) -> Vec<f64> {
    let codes = encode_block(q, LzFormat::QUERY, Rounding::Floor).codes;
    let khat = quantize(k, LzFormat::QUERY.max_magnitude()).ints;
    let mut out = Vec::with_capacity(q.len() / d * (k.len() / d));
    for qr in codes.chunks_exact(d) {
        for kr in khat.chunks_exact(d) {
            let acc: i64 = qr
                .iter()
                .zip(kr)
                .filter(|(c, _)| c.sign != 0)
                .map(|(c, &kv)| i64::from(c.sign) * (kv << c.exp))
                .sum();
            out.push(acc as f64);
        }
    }
    out
}
