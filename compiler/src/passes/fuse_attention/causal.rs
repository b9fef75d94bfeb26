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
//! adding it to `attn.mha` changes nothing. A part may also be a causal *band* — key j visible
//! to query i iff i − W < j ≤ i, a sliding window of W keys (Mistral) — which gives the op its
//! `window = W`; every probe must agree on W (a probe shorter than W sees plain causal
//! masking, which is consistent with it). When the whole mask is such a part, it carries no
//! other information and is dropped; otherwise it stays the mask operand (GPT-2's causal AND
//! padding mask), which keeps the rewrite exact.

use sofa_ir::dialect::attn::EXCLUDED_AT_MOST;
use sofa_ir::eval::{Tensor, TensorData};
use sofa_ir::{Dim, ElemType, Module, Value};

use super::probe::Probes;

/// Additive masks at or below this are "−inf" (`attn.mha` reads them as exclusion).
const MASKED_AT_MOST: f64 = EXCLUDED_AT_MOST as f64;

/// What the mask says about causality.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Causal {
    /// The mask includes top-left causal masking.
    pub causal: bool,
    /// ... within a sliding window of this many keys.
    pub window: Option<u64>,
    /// The mask is nothing but that causal masking (it can be dropped).
    pub mask_is_causal: bool,
}

/// A causal band seen at one probe: `None` for plain causal masking.
type Window = Option<u64>;

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

/// Analyse the mask `mask`: additive when float, keep-mask (true = attend) when bool.
pub fn analyse(cx: &MaskContext<'_>, mask: Value) -> Causal {
    let kind = match cx.m.value_type(mask).elem() {
        Some(ElemType::I1) => Kind::Keep,
        _ => Kind::Additive,
    };
    if let Some(window) = part_band(cx, mask, kind) {
        return Causal {
            causal: true,
            window,
            mask_is_causal: true,
        };
    }
    let mut parts = Vec::new();
    decompose(cx, mask, kind, &mut parts, 0);
    // The narrowest band of the parts: their conjunction is what the mask keeps.
    let bands: Vec<Window> = parts
        .into_iter()
        .filter_map(|(v, kind)| part_band(cx, v, kind))
        .collect();
    Causal {
        causal: !bands.is_empty(),
        window: bands.into_iter().flatten().min(),
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

/// The band `v` implements when it is a position function equal to a causal band at every
/// probe (the same window wherever a probe can see it), `None` otherwise.
fn part_band(cx: &MaskContext<'_>, v: Value, kind: Kind) -> Option<Window> {
    let tensors = cx.probes.eval_all(cx.m, cx.opset, v)?;
    let mut seen = Vec::with_capacity(tensors.len());
    for (p, t) in tensors.iter().enumerate() {
        let (sq, sk) = (cx.probes.size(p, cx.sq)?, cx.probes.size(p, cx.sk)?);
        seen.push((sq, band_pattern(t, kind, sq as usize, sk as usize)?));
    }
    let window = seen.iter().find_map(|&(_, w)| w);
    // Every probe long enough to show the window shows it; shorter ones see plain causal.
    let agrees = |&(sq, w): &(u64, Window)| match window {
        Some(win) if sq > win => w == Some(win),
        _ => w.is_none(),
    };
    seen.iter().all(agrees).then_some(window)
}

/// The band `t` broadcast over `[.., Sq, Sk]` is (read as `kind`): `Some(None)` for the
/// top-left causal pattern, `Some(Some(w))` for the causal band of `w` keys (visible iff
/// `i − w < j ≤ i`, with `w < Sq` so that it differs from plain causal), `None` otherwise.
fn band_pattern(t: &Tensor, kind: Kind, sq: usize, sk: usize) -> Option<Window> {
    let visible = visibility(t, kind, sq, sk)?;
    // The window: the span of the first row whose earliest visible key is not key 0.
    let mut window: Window = None;
    for (i, row) in visible.iter().enumerate() {
        let lo = row.iter().position(|&v| v)?;
        if lo > i {
            return None; // a key after the query is its first: not causal
        }
        if lo > 0 && window.is_none() {
            window = Some((i - lo + 1) as u64);
        }
    }
    let expect = |i: usize, j: usize| j <= i && window.is_none_or(|w| (j as u64) + w > i as u64);
    (0..sq)
        .all(|i| (0..sk).all(|j| visible[i][j] == expect(i, j)))
        .then_some(window)
}

/// `t` broadcast over `[.., Sq, Sk]` as one `[Sq][Sk]` visibility plane (read as `kind`),
/// when every plane of `t` is the same and every entry is visible or masked.
fn visibility(t: &Tensor, kind: Kind, sq: usize, sk: usize) -> Option<Vec<Vec<bool>>> {
    let shape = t.shape();
    if shape.len() < 2 || sq < 2 || sk < 2 {
        return None;
    }
    let (rows, cols) = (shape[shape.len() - 2], shape[shape.len() - 1]);
    if !(rows == sq || rows == 1) || !(cols == sk || cols == 1) {
        return None;
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
    let at = |outer: usize, i: usize, j: usize| {
        let r = if rows == 1 { 0 } else { i };
        let c = if cols == 1 { 0 } else { j };
        visible(outer * plane + r * cols + c)
    };
    let first: Vec<Vec<bool>> = (0..sq)
        .map(|i| (0..sk).map(|j| at(0, i, j)).collect::<Option<Vec<bool>>>())
        .collect::<Option<_>>()?;
    let same = (1..t.len() / plane.max(1))
        .all(|outer| (0..sq).all(|i| (0..sk).all(|j| at(outer, i, j) == Some(first[i][j]))));
    same.then_some(first)
}

/// `t` is the plain top-left causal pattern.
#[cfg(test)]
fn matches_pattern(t: &Tensor, kind: Kind, sq: usize, sk: usize) -> bool {
    band_pattern(t, kind, sq, sk) == Some(None)
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

    #[test]
    fn bands_give_their_window() {
        let plane = |f: &dyn Fn(usize, usize) -> bool| {
            let keep = (0..16).map(|x| f(x / 4, x % 4)).collect();
            Tensor::from_bool(vec![4, 4], keep).unwrap()
        };
        let band2 = plane(&|i, j| j <= i && i < j + 2);
        assert_eq!(band_pattern(&band2, Kind::Keep, 4, 4), Some(Some(2)));
        let causal = plane(&|i, j| j <= i);
        assert_eq!(band_pattern(&causal, Kind::Keep, 4, 4), Some(None));
        // Widths that change along the rows, and an anti-causal band, are no window.
        let ragged = plane(&|i, j| j <= i && (i < 2 || j >= 2));
        assert_eq!(band_pattern(&ragged, Kind::Keep, 4, 4), None);
        let future = plane(&|i, j| j >= i && j < i + 2);
        assert_eq!(band_pattern(&future, Kind::Keep, 4, 4), None);
    }
}
