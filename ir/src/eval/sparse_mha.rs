//! Reference semantics of `attn.sparse_mha` (defined in `crate::dialect::attn`), plus the
//! selection statistics reports use to show how well SOFA's prediction and distributed top-k
//! recover the exact top-k.
//!
//! Per (batch, head): q and k are quantised and LZ-encoded ([`crate::eval::dlzs`]), the
//! predicted scores of every query row go through SADS ([`crate::eval::sads`]), and the exact
//! attention runs over the selected keys only — by handing [`attention_core`] an additive mask
//! that is the op's own mask on selected keys and `-inf` elsewhere, so the softmax, GQA, causal
//! and fully-masked-row conventions are exactly `attn.mha`'s. `keep_ratio = 1` short-cuts to the
//! `attn.mha` kernel itself, which makes the dense case bit-identical.

use crate::attr::AttrDict;
use crate::dialect::attn::{SparseMhaAttrs, EXCLUDED_AT_MOST, SPARSE_MHA};
use crate::eval::args::OpArgs;
use crate::eval::attention::{
    additive_mask, attention_core, fused_operands, AttentionOptions, AttnDims, MaskView,
};
use crate::eval::broadcast::{broadcast_strides, strided_gather};
use crate::eval::dlzs::{encode_block, predict_scores, LzBlock, LzFormat};
use crate::eval::error::{EvalError, KResult};
use crate::eval::mha::mha_tensors;
use crate::eval::sads::{keep_count, sads_select, top_k};
use crate::eval::tensor::{Tensor, TensorData};
use crate::types::ElemType;

/// Read and range-check `attn.sparse_mha`'s attributes from a dictionary.
pub fn sparse_mha_attrs(attrs: &AttrDict) -> KResult<SparseMhaAttrs> {
    Ok(SparseMhaAttrs::from_dict(attrs)?)
}

/// The `attn.sparse_mha` kernel (dispatched by [`crate::eval::eval_op`]).
pub fn sparse_mha(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(3, 4)?;
    let a = sparse_mha_attrs(args.attrs)?;
    let (q, k, v) = (args.input(0)?, args.input(1)?, args.input(2)?);
    Ok(vec![sparse_kernel(q, k, v, args.opt_input(3), &a)?])
}

/// Evaluate `attn.sparse_mha(q, k, v[, mask])`; the result is `[B, H, Sq, Dv]`.
pub fn sparse_mha_tensors(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    attrs: &SparseMhaAttrs,
) -> Result<Tensor, EvalError> {
    sparse_kernel(q, k, v, mask, attrs).map_err(|e| e.in_op(SPARSE_MHA))
}

/// The keys each query row attends to.
#[derive(Clone, Debug, PartialEq)]
pub struct Selection {
    pub dims: AttnDims,
    /// Selected key indices, ascending, for row `(b·H + h)·Sq + i`.
    pub rows: Vec<Vec<u32>>,
}

impl Selection {
    /// The keys of query row `i` of head `h` in batch `b`.
    pub fn row(&self, b: usize, h: usize, i: usize) -> &[u32] {
        let d = &self.dims;
        &self.rows[(b * d.q_heads + h) * d.q_len + i]
    }

    /// Total number of selected (query, key) pairs.
    pub fn pairs(&self) -> usize {
        self.rows.iter().map(Vec::len).sum()
    }
}

/// The selection `attn.sparse_mha` makes on these operands (same operands as the op).
pub fn select_keys(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    attrs: &SparseMhaAttrs,
) -> Result<Selection, EvalError> {
    let p = Problem::new(q, k, v, mask, attrs).map_err(|e| e.in_op(SPARSE_MHA))?;
    Ok(p.select(attrs))
}

/// One query row: what SADS selected and the exact top-k it approximates.
#[derive(Clone, Debug, PartialEq)]
pub struct RowSelection {
    /// Selected keys, ascending.
    pub selected: Vec<u32>,
    /// The `k = ⌈keep_ratio · valid⌉` keys with the highest exact scores, ascending.
    pub exact_top_k: Vec<u32>,
}

/// Selection quality of one (batch, head).
#[derive(Clone, Debug, PartialEq)]
pub struct HeadStats {
    pub batch: usize,
    pub head: usize,
    /// One entry per query row.
    pub rows: Vec<RowSelection>,
    /// Σ over rows of the valid (unmasked, non-future) keys.
    pub valid_keys: usize,
    /// Σ over rows of the budget `k`.
    pub budget: usize,
    /// Σ over rows of the selected keys (can exceed `budget`: each tile rounds its quota up).
    pub selected: usize,
    /// Σ over rows of the exact top-k keys that were selected.
    pub hits: usize,
}

impl HeadStats {
    /// Top-k recall: the fraction of exact top-k keys selected (1 when nothing is to select).
    pub fn recall(&self) -> f64 {
        if self.budget == 0 {
            1.0
        } else {
            self.hits as f64 / self.budget as f64
        }
    }
}

/// Per (batch, head), in that order: the selection against the exact top-k on the true scores
/// `scale·q·kᵀ + mask`.
pub fn selection_stats(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    attrs: &SparseMhaAttrs,
) -> Result<Vec<HeadStats>, EvalError> {
    let p = Problem::new(q, k, v, mask, attrs).map_err(|e| e.in_op(SPARSE_MHA))?;
    let selection = p.select(attrs);
    let (_, exact) = p.attend(None).map_err(|e| e.in_op(SPARSE_MHA))?;
    let d = p.dims;
    let mut out = Vec::with_capacity(d.batch * d.q_heads);
    for b in 0..d.batch {
        for h in 0..d.q_heads {
            out.push(p.head_stats(b, h, &selection, &exact, attrs.keep_ratio));
        }
    }
    Ok(out)
}

fn sparse_kernel(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    a: &SparseMhaAttrs,
) -> KResult<Tensor> {
    if a.is_dense() {
        // Exactly attn.mha: same kernel, same bits.
        return mha_tensors(q, k, v, mask, &a.mha).map_err(|e| e.kind);
    }
    let p = Problem::new(q, k, v, mask, a)?;
    let selection = p.select(a);
    let restricted = p.restricted_mask(&selection);
    let (y, _) = p.attend(Some(&restricted))?;
    let d = p.dims;
    Tensor::new(
        p.elem,
        vec![d.batch, d.q_heads, d.q_len, d.v_dim],
        TensorData::F32(y),
    )
}

/// Validated operands of one evaluation.
struct Problem<'a> {
    dims: AttnDims,
    elem: ElemType,
    q: &'a [f32],
    k: &'a [f32],
    v: &'a [f32],
    /// The op's additive mask broadcast to `[B, H, Sq, Sk]`.
    mask: Option<Vec<f32>>,
    scale: f32,
    causal: bool,
    window: Option<usize>,
}

impl<'a> Problem<'a> {
    fn new(
        q: &'a Tensor,
        k: &'a Tensor,
        v: &'a Tensor,
        mask: Option<&Tensor>,
        a: &SparseMhaAttrs,
    ) -> KResult<Problem<'a>> {
        let m = &a.mha;
        let (dims, [qd, kd, vd]) = fused_operands(q, k, v, m, true)?;
        let mask = mask
            .map(|t| -> KResult<Vec<f32>> {
                let values = additive_mask(t, q.elem(), &dims, 3)?;
                let full = score_shape(&dims);
                Ok(strided_gather(
                    &values,
                    &full,
                    &broadcast_strides(t.shape(), &full),
                    0,
                ))
            })
            .transpose()?;
        Ok(Problem {
            dims,
            elem: q.elem(),
            q: qd,
            k: kd,
            v: vd,
            mask,
            scale: m.scale as f32,
            causal: m.causal,
            window: m.window.map(|w| w as usize),
        })
    }

    /// The mask value of (row, key) where `row = (b·H + h)·Sq + i`, or `None` when the key is
    /// excluded (≤ [`EXCLUDED_AT_MOST`], or outside query `i`'s causal band).
    fn mask_at(&self, row: usize, i: usize, t: usize) -> Option<f32> {
        if self.causal && (t > i || self.window.is_some_and(|w| t + w <= i)) {
            return None;
        }
        let m = self
            .mask
            .as_ref()
            .map_or(0.0, |m| m[row * self.dims.kv_len + t]);
        (m > EXCLUDED_AT_MOST).then_some(m)
    }

    /// K̂ of every (batch, kv head), in that order.
    fn key_codes(&self, a: &SparseMhaAttrs) -> Vec<LzBlock> {
        let d = self.dims;
        let format = LzFormat::weights(u32::try_from(a.pred_bits).unwrap_or(4));
        self.k
            .chunks_exact((d.kv_len * d.head_dim).max(1))
            .take(d.batch * d.kv_heads)
            .map(|block| encode_block(block, format, a.rounding))
            .collect()
    }

    fn select(&self, a: &SparseMhaAttrs) -> Selection {
        let d = self.dims;
        let mut rows = Vec::with_capacity(d.batch * d.q_heads * d.q_len);
        let keys = (!a.is_dense()).then(|| self.key_codes(a));
        let group = d.q_heads / d.kv_heads;
        for b in 0..d.batch {
            for h in 0..d.q_heads {
                let head = b * d.q_heads + h;
                let predicted = keys
                    .as_ref()
                    .map(|keys| self.predict(head, &keys[b * d.kv_heads + h / group], a));
                for i in 0..d.q_len {
                    let row = head * d.q_len + i;
                    let scores: Vec<Option<f64>> = (0..d.kv_len)
                        .map(|t| {
                            let m = self.mask_at(row, i, t)?;
                            let p = predicted.as_ref().map_or(0.0, |p| p[i * d.kv_len + t]);
                            Some(p + f64::from(m))
                        })
                        .collect();
                    rows.push(select_row(&scores, a));
                }
            }
        }
        Selection { dims: d, rows }
    }

    /// Predicted scores `[Sq, Sk]` of one head in logit units (without the mask).
    fn predict(&self, head: usize, keys: &LzBlock, a: &SparseMhaAttrs) -> Vec<f64> {
        let d = self.dims;
        let n = d.q_len * d.head_dim;
        let q = encode_block(&self.q[head * n..][..n], LzFormat::QUERY, a.rounding);
        let unit = f64::from(self.scale) * q.scale * keys.scale;
        predict_scores(&q.codes, &keys.codes, (d.q_len, d.kv_len, d.head_dim))
            .into_iter()
            .map(|s| s as f64 * unit)
            .collect()
    }

    /// The op's mask on selected keys, `-inf` on the others, `[B, H, Sq, Sk]`.
    fn restricted_mask(&self, selection: &Selection) -> Vec<f32> {
        let sk = self.dims.kv_len;
        let mut out = vec![f32::NEG_INFINITY; selection.rows.len() * sk];
        for (row, keys) in selection.rows.iter().enumerate() {
            for &t in keys {
                let at = row * sk + t as usize;
                out[at] = self.mask.as_ref().map_or(0.0, |m| m[at]);
            }
        }
        out
    }

    /// Exact attention with `mask` (default: the op's own): (output, masked scores).
    fn attend(&self, mask: Option<&[f32]>) -> KResult<(Vec<f32>, Vec<f32>)> {
        let shape = score_shape(&self.dims);
        let values = mask.or(self.mask.as_deref());
        let view = values.map(|values| MaskView {
            values,
            shape: &shape,
        });
        let opts = AttentionOptions {
            scale: self.scale,
            causal: self.causal,
            window: self.window,
            past_len: 0,
            softcap: 0.0,
            zero_masked_rows: true,
        };
        attention_core(self.dims, self.q, self.k, self.v, view, &opts)
    }

    fn head_stats(
        &self,
        b: usize,
        h: usize,
        selection: &Selection,
        exact: &[f32],
        keep_ratio: f64,
    ) -> HeadStats {
        let d = self.dims;
        let mut stats = HeadStats {
            batch: b,
            head: h,
            rows: Vec::with_capacity(d.q_len),
            valid_keys: 0,
            budget: 0,
            selected: 0,
            hits: 0,
        };
        for i in 0..d.q_len {
            let row = (b * d.q_heads + h) * d.q_len + i;
            let scores: Vec<Option<f64>> = (0..d.kv_len)
                .map(|t| {
                    self.mask_at(row, i, t)?;
                    Some(f64::from(exact[row * d.kv_len + t]))
                })
                .collect();
            let valid = scores.iter().flatten().count();
            let budget = keep_count(keep_ratio, valid as u64) as usize;
            let exact_top_k = to_u32(top_k(&scores, budget));
            let selected = selection.rows[row].clone();
            stats.valid_keys += valid;
            stats.budget += budget;
            stats.selected += selected.len();
            stats.hits += intersection_size(&selected, &exact_top_k);
            stats.rows.push(RowSelection {
                selected,
                exact_top_k,
            });
        }
        stats
    }
}

/// The keys one row keeps: all valid ones when dense, else SADS on the predicted scores.
fn select_row(scores: &[Option<f64>], a: &SparseMhaAttrs) -> Vec<u32> {
    let valid = scores.iter().flatten().count();
    if a.is_dense() {
        return (0..scores.len())
            .filter(|&t| scores[t].is_some())
            .map(|t| t as u32)
            .collect();
    }
    let tiles = usize::try_from(a.tiles).unwrap_or(1);
    let k = keep_count(a.keep_ratio, valid as u64) as usize;
    to_u32(sads_select(scores, tiles, k, a.radius))
}

fn score_shape(d: &AttnDims) -> [usize; 4] {
    [d.batch, d.q_heads, d.q_len, d.kv_len]
}

fn to_u32(keys: Vec<usize>) -> Vec<u32> {
    keys.into_iter()
        .map(|t| u32::try_from(t).unwrap_or(u32::MAX))
        .collect()
}

/// Size of the intersection of two ascending lists.
fn intersection_size(a: &[u32], b: &[u32]) -> usize {
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                n += 1;
                i += 1;
                j += 1;
            }
        }
    }
    n
}

#[cfg(test)]
#[path = "tests/sparse_mha.rs"]
mod tests;
