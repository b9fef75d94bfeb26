//! Opset-23 `Attention` and `RotaryEmbedding`, following the ONNX reference implementation.
//!
//! Attention: Q `[B, Hq, Sq, D]`, K `[B, Hkv, Skv, D]`, V `[B, Hkv, Skv, Dv]` (or 3-D
//! `[B, S, H*D]` with `q_num_heads`/`kv_num_heads`); GQA repeats each KV head for `Hq / Hkv`
//! consecutive query heads; `past_key`/`past_value` are prepended on the sequence axis;
//! `scores = softcap(scale * Q K^T) + mask`, where a bool mask turns `false` into `-inf`, a float
//! mask is added, and `is_causal` masks key `j > i + past_len`; fully masked rows give NaN.
//! [`attention_core`] is the 4-D kernel, reusable by fused attention ops.

use crate::dialect::attn::{MhaAttrs, EXCLUDED_AT_MOST};
use crate::eval::args::{int_values, OpArgs};
use crate::eval::broadcast::{broadcast_shapes, broadcast_strides, for_each_offset};
use crate::eval::elementwise::not_float;
use crate::eval::error::{EvalErrorKind, KResult};
use crate::eval::matmul::{sgemm, Layout};
use crate::eval::nn::softmax_strided;
use crate::eval::shape_ops::permute;
use crate::eval::tensor::{num_elements, Tensor, TensorData};
use crate::types::ElemType;

/// Options of [`attention_core`].
#[derive(Clone, Debug, PartialEq)]
pub struct AttentionOptions {
    pub scale: f32,
    pub causal: bool,
    /// With `causal`: a query sees itself and the `window − 1` keys before it.
    pub window: Option<usize>,
    /// Keys before the current block (causal offset).
    pub past_len: usize,
    /// `softcap * tanh(s / softcap)` when positive.
    pub softcap: f32,
    /// `attn.*` semantics: mask values ≤ [`EXCLUDED_AT_MOST`] exclude their key, and rows whose
    /// scores are all `-inf` get probabilities 0 (FlashAttention) instead of NaN (ONNX
    /// `Attention`, which adds the mask as it is).
    pub zero_masked_rows: bool,
}

/// An additive mask broadcast to `[B, Hq, Sq, Skv]`.
pub struct MaskView<'a> {
    pub values: &'a [f32],
    pub shape: &'a [usize],
}

/// Dims of a 4-D attention problem.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct AttnDims {
    pub batch: usize,
    pub q_heads: usize,
    pub kv_heads: usize,
    pub q_len: usize,
    pub kv_len: usize,
    pub head_dim: usize,
    pub v_dim: usize,
}

impl AttnDims {
    /// Dims of 4-D Q `[B, Hq, Sq, D]`, K `[B, Hkv, Skv, D]`, V `[B, Hkv, Skv, Dv]` shapes, or
    /// `None` when a shape is not 4-D or batch, KV heads, key length or head size disagree.
    pub fn from_shapes(qs: &[usize], ks: &[usize], vs: &[usize]) -> Option<AttnDims> {
        let (&[batch, q_heads, q_len, head_dim], &[kb, kv_heads, kv_len, kd], &[vb, vh, vl, v_dim]) =
            (qs, ks, vs)
        else {
            return None;
        };
        let consistent =
            kb == batch && vb == batch && kd == head_dim && vh == kv_heads && vl == kv_len;
        consistent.then_some(AttnDims {
            batch,
            q_heads,
            kv_heads,
            q_len,
            kv_len,
            head_dim,
            v_dim,
        })
    }
}

/// Validated operands of a fused attention op (`attn.mha`, `attn.sparse_mha`): 4-D `q`, `k`,
/// `v` of one float element type whose shapes agree with each other and with `a`. With
/// `whole_groups`, query heads that are not a multiple of KV heads are reported as the same
/// attribute mismatch (otherwise [`attention_core`] reports them).
pub(crate) fn fused_operands<'t>(
    q: &'t Tensor,
    k: &'t Tensor,
    v: &'t Tensor,
    a: &MhaAttrs,
    whole_groups: bool,
) -> KResult<(AttnDims, [&'t [f32]; 3])> {
    let mut data: [&[f32]; 3] = [&[]; 3];
    for (i, t) in [q, k, v].into_iter().enumerate() {
        if t.rank() != 4 {
            return Err(EvalErrorKind::input(
                i,
                format!("expected 4-D, got {:?}", t.shape()),
            ));
        }
        if t.elem() != q.elem() {
            return Err(EvalErrorKind::input(
                i,
                format!("element type {} differs from q's {}", t.elem(), q.elem()),
            ));
        }
        data[i] = t.as_f32().ok_or_else(|| not_float(i, t))?;
    }
    let (qs, ks, vs) = (q.shape(), k.shape(), v.shape());
    let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    let matches = |d: &AttnDims| {
        as_i64(d.q_heads) == a.heads
            && as_i64(d.kv_heads) == a.kv_heads
            && as_i64(d.head_dim) == a.head_dim
            && (!whole_groups || d.q_heads.checked_rem(d.kv_heads) == Some(0))
    };
    match AttnDims::from_shapes(qs, ks, vs) {
        Some(dims) if matches(&dims) => Ok((dims, data)),
        _ => Err(EvalErrorKind::shape(format!(
            "q {qs:?}, k {ks:?}, v {vs:?} do not match heads = {}, kv_heads = {}, head_dim = {}",
            a.heads, a.kv_heads, a.head_dim
        ))),
    }
}

/// Softmax attention on 4-D contiguous tensors. Returns `Y [B, Hq, Sq, Dv]` and the scores after
/// softcap and mask (`[B, Hq, Sq, Skv]`, before softmax).
pub fn attention_core(
    d: AttnDims,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    mask: Option<MaskView>,
    opts: &AttentionOptions,
) -> KResult<(Vec<f32>, Vec<f32>)> {
    if d.q_heads.checked_rem(d.kv_heads) != Some(0) {
        return Err(EvalErrorKind::shape(format!(
            "{} query heads are not a multiple of {} key/value heads",
            d.q_heads, d.kv_heads
        )));
    }
    let group = d.q_heads / d.kv_heads;
    let score_shape = [d.batch, d.q_heads, d.q_len, d.kv_len];
    let n_scores = num_elements(&score_shape)?;
    let mut scores = vec![0f32; n_scores];
    let mut y = vec![0f32; num_elements(&[d.batch, d.q_heads, d.q_len, d.v_dim])?];
    let plane = d.q_len * d.kv_len;
    for b in 0..d.batch {
        for h in 0..d.q_heads {
            let kvh = b * d.kv_heads + h / group;
            let s = &mut scores[(b * d.q_heads + h) * plane..][..plane];
            sgemm(
                (d.q_len, d.head_dim, d.kv_len),
                opts.scale,
                (
                    &q[(b * d.q_heads + h) * d.q_len * d.head_dim..],
                    Layout::row_major(d.head_dim),
                ),
                (
                    &k[kvh * d.kv_len * d.head_dim..],
                    Layout::transposed(d.head_dim),
                ),
                0.0,
                (s, Layout::row_major(d.kv_len)),
            )?;
        }
    }
    if opts.softcap > 0.0 {
        let c = opts.softcap;
        scores.iter_mut().for_each(|s| *s = c * (*s / c).tanh());
    }
    if let Some(m) = mask {
        let strides = broadcast_strides(m.shape, &score_shape);
        // attn.* ops read the exporters' finite "−inf" as exclusion; ONNX Attention adds it.
        let excluded = |x: f32| opts.zero_masked_rows && x <= EXCLUDED_AT_MOST;
        let mut i = 0;
        for_each_offset(&score_shape, [&strides], [0], |[o]| {
            let x = m.values[o];
            scores[i] = if excluded(x) {
                f32::NEG_INFINITY
            } else {
                scores[i] + x
            };
            i += 1;
        });
    }
    if opts.causal {
        for (row, chunk) in scores.chunks_mut(d.kv_len.max(1)).enumerate() {
            let i = row % d.q_len.max(1) + opts.past_len;
            chunk
                .iter_mut()
                .skip(i + 1)
                .for_each(|s| *s = f32::NEG_INFINITY);
            if let Some(w) = opts.window {
                // Keys j ≤ i − w are out of the window.
                let before = (i + 1).saturating_sub(w);
                chunk
                    .iter_mut()
                    .take(before)
                    .for_each(|s| *s = f32::NEG_INFINITY);
            }
        }
    }
    let mut probs = scores.clone();
    for row in probs.chunks_mut(d.kv_len.max(1)) {
        if opts.zero_masked_rows && row.iter().all(|&s| s == f32::NEG_INFINITY) {
            row.fill(0.0);
        } else {
            softmax_strided(row, 0, row.len(), 1, false);
        }
    }
    for b in 0..d.batch {
        for h in 0..d.q_heads {
            let kvh = b * d.kv_heads + h / group;
            let bh = b * d.q_heads + h;
            sgemm(
                (d.q_len, d.kv_len, d.v_dim),
                1.0,
                (&probs[bh * plane..], Layout::row_major(d.kv_len)),
                (&v[kvh * d.kv_len * d.v_dim..], Layout::row_major(d.v_dim)),
                0.0,
                (
                    &mut y[bh * d.q_len * d.v_dim..][..d.q_len * d.v_dim],
                    Layout::row_major(d.v_dim),
                ),
            )?;
        }
    }
    Ok((y, scores))
}

/// 3-D `[B, S, H*D]` to 4-D `[B, H, S, D]`.
fn split_heads(t: &Tensor, heads: usize, index: usize) -> KResult<Tensor> {
    let (b, s, hidden) = (t.shape()[0], t.shape()[1], t.shape()[2]);
    if hidden.checked_rem(heads) != Some(0) {
        return Err(EvalErrorKind::input(
            index,
            format!("hidden size {hidden} is not divisible by {heads} heads"),
        ));
    }
    let t = t.clone().reshaped(vec![b, s, heads, hidden / heads])?;
    permute(&t, &[0, 2, 1, 3])
}

fn heads_attr(args: &OpArgs, name: &str) -> KResult<usize> {
    usize::try_from(args.int(name, 0)?)
        .ok()
        .filter(|&h| h > 0)
        .ok_or_else(|| EvalErrorKind::attr(name, "required and positive for 3-D inputs"))
}

/// `Attention` (opset 23): outputs Y, present_key, present_value, qk_matmul_output.
pub fn attention(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(3, 6)?;
    let (q0, k0, v0) = (args.input(0)?, args.input(1)?, args.input(2)?);
    for (i, t) in [q0, k0, v0].into_iter().enumerate() {
        if t.as_f32().is_none() || t.elem() != q0.elem() {
            return Err(not_float(i, t));
        }
        if t.rank() != q0.rank() || !(3..=4).contains(&t.rank()) {
            return Err(EvalErrorKind::input(
                i,
                format!("expected Q, K, V all 3-D or all 4-D, got {:?}", t.shape()),
            ));
        }
    }
    let three_d = q0.rank() == 3;
    let (q, k, v) = if three_d {
        let (hq, hkv) = (
            heads_attr(args, "q_num_heads")?,
            heads_attr(args, "kv_num_heads")?,
        );
        (
            split_heads(q0, hq, 0)?,
            split_heads(k0, hkv, 1)?,
            split_heads(v0, hkv, 2)?,
        )
    } else {
        (q0.clone(), k0.clone(), v0.clone())
    };
    let k = with_past(args.opt_input(4), k, 4)?;
    let v = with_past(args.opt_input(5), v, 5)?;
    let past_len = args
        .opt_input(4)
        .map_or(0, |p| p.shape().get(2).copied().unwrap_or(0));
    let (qs, ks, vs) = (q.shape(), k.shape(), v.shape());
    let dims = AttnDims::from_shapes(qs, ks, vs).ok_or_else(|| {
        EvalErrorKind::shape(format!(
            "incompatible Q {qs:?}, K {ks:?}, V {vs:?} (as [batch, heads, seq, head_size])"
        ))
    })?;
    let scale = args
        .opt_float("scale")?
        .unwrap_or(1.0 / (dims.head_dim as f32).sqrt());
    let opts = AttentionOptions {
        window: None,
        scale,
        causal: args.int("is_causal", 0)? != 0,
        past_len,
        softcap: args.float("softcap", 0.0)?,
        zero_masked_rows: false,
    };
    let mask = args.opt_input(3);
    let mask_values = mask
        .map(|m| additive_mask(m, q.elem(), &dims, 3))
        .transpose()?;
    let mask = mask
        .zip(mask_values.as_deref())
        .map(|(m, values)| MaskView {
            values,
            shape: m.shape(),
        });
    let f = |t: &Tensor| t.as_f32().map(<[f32]>::to_vec).unwrap_or_default();
    let (y, scores) = attention_core(dims, &f(&q), &f(&k), &f(&v), mask, &opts)?;
    let score_shape = [dims.batch, dims.q_heads, dims.q_len, dims.kv_len];
    let y4 = Tensor::new(
        q.elem(),
        vec![dims.batch, dims.q_heads, dims.q_len, dims.v_dim],
        TensorData::F32(y),
    )?;
    let y = if three_d {
        permute(&y4, &[0, 2, 1, 3])?.reshaped(vec![
            dims.batch,
            dims.q_len,
            dims.q_heads * dims.v_dim,
        ])?
    } else {
        y4
    };
    let scores = Tensor::new(q.elem(), score_shape.to_vec(), TensorData::F32(scores))?;
    Ok(vec![y, k, v, scores])
}

/// `past` (4-D) followed by `cur` on the sequence axis.
fn with_past(past: Option<&Tensor>, cur: Tensor, index: usize) -> KResult<Tensor> {
    let Some(p) = past else { return Ok(cur) };
    let (ps, cs) = (p.shape(), cur.shape());
    if p.rank() != 4 || ps[0] != cs[0] || ps[1] != cs[1] || ps[3] != cs[3] || p.elem() != cur.elem()
    {
        return Err(EvalErrorKind::input(
            index,
            format!("past shape {ps:?} does not match {cs:?}"),
        ));
    }
    let (pv, cv) = (
        p.as_f32().ok_or_else(|| not_float(index, p))?,
        cur.as_f32().unwrap_or_default(),
    );
    let (rows, pl, cl) = (ps[0] * ps[1], ps[2] * ps[3], cs[2] * cs[3]);
    let mut out = Vec::with_capacity(pv.len() + cv.len());
    for r in 0..rows {
        out.extend_from_slice(&pv[r * pl..(r + 1) * pl]);
        out.extend_from_slice(&cv[r * cl..(r + 1) * cl]);
    }
    Tensor::new(
        cur.elem(),
        vec![ps[0], ps[1], ps[2] + cs[2], ps[3]],
        TensorData::F32(out),
    )
}

/// A bool mask (true = attend) as 0 / -inf, or a float mask as is; it must broadcast to the
/// scores `[B, Hq, Sq, Skv]`.
pub fn additive_mask(
    m: &Tensor,
    q_elem: ElemType,
    d: &AttnDims,
    index: usize,
) -> KResult<Vec<f32>> {
    let score_shape = [d.batch, d.q_heads, d.q_len, d.kv_len];
    if broadcast_shapes(m.shape(), &score_shape)? != score_shape {
        return Err(EvalErrorKind::input(
            index,
            format!("mask {:?} does not broadcast to {score_shape:?}", m.shape()),
        ));
    }
    match m.data() {
        TensorData::Bool(b) => Ok(b
            .iter()
            .map(|&keep| if keep { 0.0 } else { f32::NEG_INFINITY })
            .collect()),
        TensorData::F32(v) if m.elem() == q_elem => Ok(v.clone()),
        _ => Err(EvalErrorKind::input(
            index,
            format!("mask must be bool or {q_elem}, got {}", m.elem()),
        )),
    }
}

/// `RotaryEmbedding` (opset 23): X `[B, H, S, D]` or `[B, S, H*D]`, caches `[max_pos, R/2]`
/// indexed by `position_ids [B, S]`, or `[B, S, R/2]` without them.
pub fn rotary_embedding(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(3, 4)?;
    let (x, cos_t, sin_t) = (args.input(0)?, args.input(1)?, args.input(2)?);
    let xv = x.as_f32().ok_or_else(|| not_float(0, x))?;
    let cos = cos_t.as_f32().ok_or_else(|| not_float(1, cos_t))?;
    let sin = sin_t.as_f32().ok_or_else(|| not_float(2, sin_t))?;
    let (batch, heads, seq, dim, four_d) = match *x.shape() {
        [b, h, s, d] => (b, h, s, d, true),
        [b, s, hidden] => {
            let h = heads_attr(args, "num_heads")?;
            if hidden.checked_rem(h) != Some(0) {
                return Err(EvalErrorKind::input(
                    0,
                    format!("hidden size {hidden} is not divisible by {h} heads"),
                ));
            }
            (b, h, s, hidden / h, false)
        }
        _ => {
            return Err(EvalErrorKind::input(
                0,
                format!("expected 3-D or 4-D, got {:?}", x.shape()),
            ))
        }
    };
    let rot = match args.int("rotary_embedding_dim", 0)? {
        0 => dim,
        r => usize::try_from(r)
            .ok()
            .filter(|&r| r <= dim && r.checked_rem(2) == Some(0))
            .ok_or_else(|| {
                EvalErrorKind::attr(
                    "rotary_embedding_dim",
                    format!("must be even and <= head size {dim}"),
                )
            })?,
    };
    let half = rot / 2;
    let interleaved = args.int("interleaved", 0)? != 0;
    let rows = cache_rows(args, cos_t, sin_t, batch, seq, half)?;
    let mut out = xv.to_vec();
    for b in 0..batch {
        for s in 0..seq {
            let c = &cos[rows[b * seq + s] * half..][..half];
            let sn = &sin[rows[b * seq + s] * half..][..half];
            for h in 0..heads {
                let base = if four_d {
                    ((b * heads + h) * seq + s) * dim
                } else {
                    ((b * seq + s) * heads + h) * dim
                };
                rotate(
                    &mut out[base..base + rot],
                    &xv[base..base + rot],
                    c,
                    sn,
                    interleaved,
                );
            }
        }
    }
    Ok(vec![Tensor::new(
        x.elem(),
        x.shape().to_vec(),
        TensorData::F32(out),
    )?])
}

/// Rotate one head's first `2 * c.len()` values: pairs are (i, i + half) or (2i, 2i + 1).
fn rotate(out: &mut [f32], x: &[f32], c: &[f32], s: &[f32], interleaved: bool) {
    let half = c.len();
    for i in 0..half {
        let (a, b) = if interleaved {
            (2 * i, 2 * i + 1)
        } else {
            (i, i + half)
        };
        out[a] = c[i] * x[a] - s[i] * x[b];
        out[b] = s[i] * x[a] + c[i] * x[b];
    }
}

/// For each (batch, position), the cache row to use; validates cache shapes.
fn cache_rows(
    args: &OpArgs,
    cos: &Tensor,
    sin: &Tensor,
    batch: usize,
    seq: usize,
    half: usize,
) -> KResult<Vec<usize>> {
    if cos.shape() != sin.shape() || cos.shape().last() != Some(&half) {
        return Err(EvalErrorKind::input(
            1,
            format!(
                "cos/sin caches {:?}/{:?} must match and end in rotary_dim / 2 = {half}",
                cos.shape(),
                sin.shape()
            ),
        ));
    }
    match args.opt_input(3) {
        Some(p) => {
            let ids = int_values(p, 3)?;
            if p.shape() != [batch, seq] || cos.rank() != 2 {
                return Err(EvalErrorKind::input(
                    3,
                    format!(
                    "position_ids {:?} must be [{batch}, {seq}] with a 2-D cache, cache is {:?}",
                    p.shape(),
                    cos.shape()
                ),
                ));
            }
            let max_pos = cos.shape()[0];
            ids.iter()
                .map(|&i| {
                    usize::try_from(i)
                        .ok()
                        .filter(|&i| i < max_pos)
                        .ok_or_else(|| {
                            EvalErrorKind::index(format!(
                                "position id {i} is outside the cache of {max_pos} rows"
                            ))
                        })
                })
                .collect()
        }
        None => {
            if cos.shape() != [batch, seq, half] {
                return Err(EvalErrorKind::input(
                    1,
                    format!(
                        "without position_ids the cache must be [{batch}, {seq}, {half}], got {:?}",
                        cos.shape()
                    ),
                ));
            }
            Ok((0..batch * seq).collect())
        }
    }
}
