//! Causal-mask recognition from the mask's construction.
//!
//! The mask operand is decomposed through the ops that combine masks — `Add` of additive masks,
//! `Where(keep, 0, −big)` / `Where(masked, −big, 0)` turning booleans into additive masks,
//! `And` of keep-masks, `Or` of masked-masks, `Not`, and the broadcasting wrappers `Expand`,
//! `Unsqueeze`, `Cast`, `Identity`. Every part that is a pure function of positions (see
//! [`super::probe`]) is evaluated at each probe and compared with the top-left causal pattern
//! (key j visible to query i iff j ≤ i) over the `[Sq, Sk]` the scores have at that probe.
//!
//! `causal = true` when one part equals the pattern: the mask then implies causal masking, so
//! adding it to `attn.mha` changes nothing. When the whole mask is such a part, it carries no
//! other information and is dropped; otherwise it stays the mask operand (GPT-2's causal AND
//! padding mask), which keeps the rewrite exact.

use sofa_ir::eval::{Tensor, TensorData};
use sofa_ir::{Dim, Module, Value};

use super::probe::Probes;

/// Additive masks at or below this are "−inf": `exp` of them underflows to exactly 0 in f32.
const MASKED_AT_MOST: f64 = -1e30;

/// What the mask says about causality.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Causal {
    /// The mask includes top-left causal masking.
    pub causal: bool,
    /// The mask is nothing but that causal masking (it can be dropped).
    pub mask_is_causal: bool,
}

/// How a mask part is read.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Kind {
    /// Float, added to the scores.
    Additive,
    /// Bool, true = the key is visible.
    Keep,
    /// Bool, true = the key is hidden.
    Masked,
}

/// Everything the decomposition needs.
pub struct MaskContext<'a> {
    pub m: &'a Module,
    pub opset: i64,
    pub probes: &'a Probes,
    /// Query and key lengths of the scores.
    pub sq: &'a Dim,
    pub sk: &'a Dim,
    /// One-element constant lookup (for the Where branches).
    pub scalar: &'a dyn Fn(Value) -> Option<f64>,
}

/// Analyse the additive mask `mask`.
pub fn analyse(cx: &MaskContext<'_>, mask: Value) -> Causal {
    if part_is_causal(cx, mask, Kind::Additive) == Some(true) {
        return Causal {
            causal: true,
            mask_is_causal: true,
        };
    }
    let mut parts = Vec::new();
    decompose(cx, mask, Kind::Additive, &mut parts, 0);
    let causal = parts
        .into_iter()
        .any(|(v, kind)| part_is_causal(cx, v, kind) == Some(true));
    Causal {
        causal,
        mask_is_causal: false,
    }
}

/// Collect the parts of `v` (read as `kind`) whose combination makes the mask.
fn decompose(
    cx: &MaskContext<'_>,
    v: Value,
    kind: Kind,
    out: &mut Vec<(Value, Kind)>,
    depth: usize,
) {
    if depth > 12 {
        return;
    }
    let Some(op) = cx.m.defining_op(v) else {
        return;
    };
    let data = cx.m.op(op);
    let xs = &data.operands;
    let Some(&first) = xs.first() else {
        return;
    };
    let mut go = |x: Value, k: Kind| {
        out.push((x, k));
        decompose(cx, x, k, out, depth + 1);
    };
    match (data.name.as_str(), kind) {
        ("onnx.Add", Kind::Additive) | ("onnx.And", Kind::Keep) | ("onnx.Or", Kind::Masked) => {
            for &x in xs {
                go(x, kind);
            }
        }
        ("onnx.Not", Kind::Keep) => go(first, Kind::Masked),
        ("onnx.Not", Kind::Masked) => go(first, Kind::Keep),
        ("onnx.Where", Kind::Additive) if xs.len() == 3 => {
            let (a, b) = ((cx.scalar)(xs[1]), (cx.scalar)(xs[2]));
            let hidden = |s: Option<f64>| s.is_some_and(|s| s <= MASKED_AT_MOST);
            if a == Some(0.0) && hidden(b) {
                go(first, Kind::Keep);
            } else if hidden(a) && b == Some(0.0) {
                go(first, Kind::Masked);
            }
        }
        ("onnx.Expand" | "onnx.Unsqueeze" | "onnx.Identity", _) => go(first, kind),
        ("onnx.Cast", _) => {
            let same_family = |x: Value| {
                let (a, b) = (cx.m.value_type(x).elem(), cx.m.value_type(v).elem());
                a.zip(b)
                    .is_some_and(|(a, b)| a.is_float() == b.is_float() && a.is_int() == b.is_int())
            };
            if same_family(first) {
                go(first, kind);
            }
        }
        _ => {}
    }
}

/// `Some(true)` when `v` is a position function equal to the causal pattern at every probe,
/// `Some(false)` when it is a position function that differs, `None` when it is not one.
fn part_is_causal(cx: &MaskContext<'_>, v: Value, kind: Kind) -> Option<bool> {
    let tensors = cx.probes.eval_all(cx.m, cx.opset, v)?;
    let all = tensors.iter().enumerate().all(|(p, t)| {
        let (Some(sq), Some(sk)) = (cx.probes.size(p, cx.sq), cx.probes.size(p, cx.sk)) else {
            return false;
        };
        matches_pattern(t, kind, sq as usize, sk as usize)
    });
    Some(all)
}

/// `t` broadcast over `[.., Sq, Sk]` is the top-left causal pattern (read as `kind`).
fn matches_pattern(t: &Tensor, kind: Kind, sq: usize, sk: usize) -> bool {
    let shape = t.shape();
    if shape.len() < 2 || sq < 2 || sk < 2 {
        return false;
    }
    let (rows, cols) = (shape[shape.len() - 2], shape[shape.len() - 1]);
    if !(rows == sq || rows == 1) || !(cols == sk || cols == 1) {
        return false;
    }
    let plane = rows * cols;
    let visible = |x: usize| -> Option<bool> {
        match (t.data(), kind) {
            (TensorData::Bool(b), Kind::Keep) => Some(b[x]),
            (TensorData::Bool(b), Kind::Masked) => Some(!b[x]),
            (TensorData::F32(f), Kind::Additive) => {
                let f = f64::from(f[x]);
                if f == 0.0 {
                    Some(true)
                } else if f <= MASKED_AT_MOST {
                    Some(false)
                } else {
                    None
                }
            }
            _ => None,
        }
    };
    (0..t.len() / plane.max(1)).all(|outer| {
        (0..sq).all(|i| {
            (0..sk).all(|j| {
                let r = if rows == 1 { 0 } else { i };
                let c = if cols == 1 { 0 } else { j };
                visible(outer * plane + r * cols + c) == Some(j <= i)
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_check_reads_each_mask_kind() {
        let keep = Tensor::from_bool(
            vec![1, 3, 3],
            vec![true, false, false, true, true, false, true, true, true],
        )
        .unwrap();
        assert!(matches_pattern(&keep, Kind::Keep, 3, 3));
        assert!(!matches_pattern(&keep, Kind::Masked, 3, 3));
        // Bottom-right alignment for Sq = 2, Sk = 3 is not top-left causal.
        let inf = f32::NEG_INFINITY;
        let br = Tensor::from_f32(vec![2, 3], vec![0.0, 0.0, inf, 0.0, 0.0, 0.0]).unwrap();
        assert!(!matches_pattern(&br, Kind::Additive, 2, 3));
        let tl = Tensor::from_f32(vec![2, 3], vec![0.0, inf, inf, 0.0, 0.0, f32::MIN]).unwrap();
        assert!(matches_pattern(&tl, Kind::Additive, 2, 3));
        let all_visible = Tensor::from_bool(vec![1, 1], vec![true]).unwrap();
        assert!(!matches_pattern(&all_visible, Kind::Keep, 3, 3));
    }
}
