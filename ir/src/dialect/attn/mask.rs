//! What an attention op's mask operand holds, as far as the IR shows before any data: key
//! *exclusions* only (every value 0 or −inf) or an additive score *bias* (T5's relative
//! position bias, ALiBi, any finite float mask, possibly mixed with exclusions).
//!
//! Exclusions are what SOFA's selection handles by itself (an excluded key is never
//! selected); a bias must also reach the exact scores of the selected keys (`SUFA.BIAS`).
//! A mask is known to exclude only when it is a bool mask (true = keep), the exporters'
//! `Where(cond, 0, c)` with a constant `c ≤ −1e30` (−inf or float32's lowest), or a float
//! constant of 0 and ≤ −1e30 values. Anything else — other constants, float masks computed or
//! fed at run time — is a bias: its values are unknown until run time.

use crate::eval::Tensor;
use crate::module::Module;
use crate::types::ElemType;
use crate::Value;

/// Scores at or below this are exclusions (`finfo(float32).min` ≈ −3.4e38 qualifies).
pub const EXCLUDE: f64 = super::EXCLUDED_AT_MOST as f64;

/// Whether a mask value only excludes (0 keeps, ≤ [`EXCLUDE`] excludes).
pub fn excludes(x: f64) -> bool {
    x == 0.0 || x <= EXCLUDE
}

/// The value of an `onnx.Constant` defining `v`.
pub fn constant(m: &Module, v: Value) -> Option<Tensor> {
    let def = m.defining_op(v)?;
    let d = m.op(def);
    if d.name != "onnx.Constant" {
        return None;
    }
    Tensor::from_attr(d.attrs.get("value")?, m).ok()
}

/// The single value of a constant whose elements are all equal.
pub fn splat(m: &Module, v: Value) -> Option<f64> {
    let vals = constant(m, v)?.to_f64_vec();
    let first = *vals.first()?;
    vals.iter().all(|&x| x == first).then_some(first)
}

/// `cond` when `v` is `Where(cond, 0, c)` with a constant `c ≤ −1e30`.
pub fn where_exclusion_cond(m: &Module, v: Value) -> Option<Value> {
    let def = m.defining_op(v)?;
    let d = m.op(def);
    if d.name != "onnx.Where" || d.operands.len() != 3 {
        return None;
    }
    let keep = splat(m, d.operands[1])?;
    let drop = splat(m, d.operands[2])?;
    (keep == 0.0 && drop <= EXCLUDE).then_some(d.operands[0])
}

/// Whether the mask `v` only excludes keys (see the module docs); `false` means it may bias
/// scores.
pub fn excludes_only(m: &Module, v: Value) -> bool {
    let elem = m.value_type(v).as_tensor().map(|t| t.elem);
    if elem == Some(ElemType::I1) || where_exclusion_cond(m, v).is_some() {
        return true;
    }
    let float = elem.is_some_and(|e| e.is_float());
    match constant(m, v).filter(|_| float) {
        Some(t) => t.to_f64_vec().into_iter().all(excludes),
        None => false,
    }
}
