//! The `attn` dialect: recognised attention, one op per attention block.
//!
//! `fuse-attention` rewrites every spelling an exporter gives attention (eager MatMul/Softmax
//! chains, TorchScript's split-scale SDPA, GQA through Unsqueeze/Expand/Reshape, opset-23
//! `Attention`) into a single `attn.mha`, so later passes (sparsify, tiling, lowering) see one
//! op with explicit heads, scale and masking instead of a subgraph.
//!
//! ## `attn.mha`
//!
//! `%o = "attn.mha"(%q, %k, %v[, %mask]) {heads = H : i64, kv_heads = Hkv : i64,
//! head_dim = D : i64, scale = s : f32, causal = true|false}`
//!
//! - q: `[B, H, Sq, D]`, k: `[B, Hkv, Sk, D]`, v: `[B, Hkv, Sk, Dv]` → result `[B, H, Sq, Dv]`
//!   with q's element type.
//! - scores = s · q·kᵀ (+ mask, an additive float tensor broadcastable to `[B, H, Sq, Sk]`; a
//!   bool mask, true = keep, is also accepted and means 0 / −inf).
//! - causal: key j is masked for query i when j > i (top-left aligned, as PyTorch SDPA's
//!   `is_causal`).
//! - probs = softmax over keys; a row whose scores are all −inf yields probs 0 (FlashAttention
//!   semantics; this is what makes the exporters' IsNaN/Where(nan → 0) guard a no-op).
//! - GQA: query head h reads kv head ⌊h / (H / Hkv)⌋; H must be a multiple of Hkv.
//!
//! The projections stay outside the op. Reference semantics: `crate::eval::mha`.

use super::{Arity, AttrDef, AttrKind, Dialect, OpDef, Trait};
use crate::attr::Attribute;
use crate::module::{Module, Op};
use crate::types::{Dim, TensorType, Type};

/// The `attn.mha` op name.
pub const MHA: &str = "attn.mha";

pub static ATTN: Dialect = Dialect {
    name: "attn",
    summary: "Recognised attention blocks (fused from the exporters' op chains).",
    ops: &[OpDef {
        name: MHA,
        summary: "Multi-head attention softmax(scale·q·kᵀ + mask [causal]) · v; q [B,H,Sq,D], \
                  k [B,Hkv,Sk,D], v [B,Hkv,Sk,Dv] → [B,H,Sq,Dv]; query head h reads kv head \
                  h / (H/Hkv); an optional additive (float) or keep (bool) mask broadcasts to \
                  [B,H,Sq,Sk]; causal masks key j > query i (top-left); fully masked rows give 0.",
        operands: Arity::Between(3, 4),
        results: Arity::Exact(1),
        regions: 0,
        attrs: &[
            AttrDef::required("heads", AttrKind::Int),
            AttrDef::required("kv_heads", AttrKind::Int),
            AttrDef::required("head_dim", AttrKind::Int),
            AttrDef::required("scale", AttrKind::Float),
            AttrDef::required("causal", AttrKind::Bool),
        ],
        props: &[],
        traits: &[Trait::Pure],
        verify: Some(verify_mha),
        fold: None,
        infer: Some(infer_mha),
    }],
};

/// The attributes of an `attn.mha`, read back from an op.
#[derive(Clone, Debug, PartialEq)]
pub struct MhaAttrs {
    pub heads: i64,
    pub kv_heads: i64,
    pub head_dim: i64,
    pub scale: f64,
    pub causal: bool,
}

impl MhaAttrs {
    /// Read the attributes of `op`; `None` when one is missing or has the wrong kind.
    pub fn of(module: &Module, op: Op) -> Option<MhaAttrs> {
        let a = &module.op(op).attrs;
        Some(MhaAttrs {
            heads: a.get("heads")?.as_int()?,
            kv_heads: a.get("kv_heads")?.as_int()?,
            head_dim: a.get("head_dim")?.as_int()?,
            scale: a.get("scale")?.as_float()?,
            causal: a.get("causal")?.as_bool()?,
        })
    }

    /// Write the attributes into an op spec's attribute dictionary form.
    pub fn to_attrs(&self) -> Vec<(&'static str, Attribute)> {
        vec![
            ("heads", Attribute::i64(self.heads)),
            ("kv_heads", Attribute::i64(self.kv_heads)),
            ("head_dim", Attribute::i64(self.head_dim)),
            ("scale", Attribute::f32(self.scale as f32)),
            ("causal", Attribute::Bool(self.causal)),
        ]
    }
}

fn operand(module: &Module, op: Op, i: usize) -> Option<&TensorType> {
    let v = *module.op(op).operands.get(i)?;
    module.value_type(v).as_tensor()
}

/// Push an error when a static dim differs from the expected value.
fn check_dim(errors: &mut Vec<String>, what: &str, dim: &Dim, want: i64) {
    if let Some(d) = dim.as_static() {
        if i64::try_from(d).ok() != Some(want) {
            errors.push(format!("{what} is {d} but the attribute says {want}"));
        }
    }
}

/// Push an error when two dims are both static and differ.
fn check_same(errors: &mut Vec<String>, what: &str, a: &Dim, b: &Dim) {
    if let (Some(x), Some(y)) = (a.as_static(), b.as_static()) {
        if x != y {
            errors.push(format!("{what} differ: {x} vs {y}"));
        }
    }
}

fn verify_mha(module: &Module, op: Op, errors: &mut Vec<String>) {
    let Some(attrs) = MhaAttrs::of(module, op) else {
        return; // the schema check reports missing or mistyped attributes
    };
    if attrs.heads <= 0 || attrs.kv_heads <= 0 || attrs.head_dim <= 0 {
        errors.push("heads, kv_heads and head_dim must be positive".into());
        return;
    }
    if attrs.heads % attrs.kv_heads != 0 {
        errors.push(format!(
            "heads ({}) must be a multiple of kv_heads ({})",
            attrs.heads, attrs.kv_heads
        ));
    }
    if !attrs.scale.is_finite() {
        errors.push("scale must be finite".into());
    }
    let (Some(q), Some(k), Some(v)) = (
        operand(module, op, 0),
        operand(module, op, 1),
        operand(module, op, 2),
    ) else {
        errors.push("q, k and v must be ranked tensors".into());
        return;
    };
    if q.rank() != 4 || k.rank() != 4 || v.rank() != 4 {
        errors.push(format!(
            "q, k, v must be 4-D, got ranks {}, {}, {}",
            q.rank(),
            k.rank(),
            v.rank()
        ));
        return;
    }
    if !q.elem.is_float() || k.elem != q.elem || v.elem != q.elem {
        errors.push("q, k, v must have the same float element type".into());
    }
    check_dim(errors, "q's head count", &q.dims[1], attrs.heads);
    check_dim(errors, "k's head count", &k.dims[1], attrs.kv_heads);
    check_dim(errors, "v's head count", &v.dims[1], attrs.kv_heads);
    check_dim(errors, "q's head size", &q.dims[3], attrs.head_dim);
    check_dim(errors, "k's head size", &k.dims[3], attrs.head_dim);
    check_same(errors, "batch dims of q and k", &q.dims[0], &k.dims[0]);
    check_same(errors, "batch dims of q and v", &q.dims[0], &v.dims[0]);
    check_same(errors, "key lengths of k and v", &k.dims[2], &v.dims[2]);
    if let Some(mask) = operand(module, op, 3) {
        verify_mask(errors, mask, q, k);
    } else if module.op(op).operands.len() == 4 {
        errors.push("mask must be a ranked tensor".into());
    }
    verify_result(module, op, q, v, errors);
}

/// The mask is float or bool and broadcasts to `[B, H, Sq, Sk]`.
fn verify_mask(errors: &mut Vec<String>, mask: &TensorType, q: &TensorType, k: &TensorType) {
    if !(mask.elem.is_float() || mask.elem == crate::types::ElemType::I1) {
        errors.push(format!(
            "mask must be float or i1, not {}",
            mask.elem.name()
        ));
    }
    if mask.rank() > 4 {
        errors.push(format!("mask has rank {} > 4", mask.rank()));
        return;
    }
    let target = [
        q.dims[0].clone(),
        q.dims[1].clone(),
        q.dims[2].clone(),
        k.dims[2].clone(),
    ];
    let offset = 4 - mask.rank();
    for (i, d) in mask.dims.iter().enumerate() {
        let t = &target[offset + i];
        if let (Some(m), Some(t)) = (d.as_static(), t.as_static()) {
            if m != 1 && m != t {
                errors.push(format!(
                    "mask dim #{i} is {m}, which does not broadcast to {t}"
                ));
            }
        }
    }
}

fn verify_result(
    module: &Module,
    op: Op,
    q: &TensorType,
    v: &TensorType,
    errors: &mut Vec<String>,
) {
    let Some(&r) = module.op(op).results.first() else {
        return;
    };
    let Some(res) = module.value_type(r).as_tensor() else {
        errors.push("result must be a ranked tensor".into());
        return;
    };
    if res.rank() != 4 || res.elem != q.elem {
        errors.push("result must be a 4-D tensor of q's element type".into());
        return;
    }
    let want = [&q.dims[0], &q.dims[1], &q.dims[2], &v.dims[3]];
    for (i, (got, want)) in res.dims.iter().zip(want).enumerate() {
        check_same(
            errors,
            &format!("result dim #{i} and its source"),
            got,
            want,
        );
    }
}

fn infer_mha(module: &Module, op: Op, _: &[Option<Attribute>]) -> Result<Vec<Type>, String> {
    let q = operand(module, op, 0).ok_or("q must be a ranked tensor")?;
    let v = operand(module, op, 2).ok_or("v must be a ranked tensor")?;
    if q.rank() != 4 || v.rank() != 4 {
        return Err(format!(
            "q and v must be 4-D, got ranks {} and {}",
            q.rank(),
            v.rank()
        ));
    }
    let dims = vec![
        q.dims[0].clone(),
        q.dims[1].clone(),
        q.dims[2].clone(),
        v.dims[3].clone(),
    ];
    Ok(vec![Type::Tensor(TensorType::new(dims, q.elem))])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::module::OpSpec;
    use crate::types::ElemType;

    fn t(dims: &[u64]) -> Type {
        Type::Tensor(TensorType::static_shape(dims, ElemType::F32))
    }

    fn build(heads: i64, kv: i64, k_shape: &[u64]) -> (Module, Op) {
        let mut m = Module::new();
        let inputs = vec![t(&[1, 8, 5, 16]), t(k_shape), t(k_shape)];
        let (_, entry) = m.add_func("main", inputs, vec![]);
        let args = m.blocks[entry].args.clone();
        let attrs = MhaAttrs {
            heads,
            kv_heads: kv,
            head_dim: 16,
            scale: 0.25,
            causal: false,
        };
        let mut spec = OpSpec::new(MHA).operands(args).results([t(&[1, 8, 5, 16])]);
        for (k, a) in attrs.to_attrs() {
            spec = spec.attr(k, a);
        }
        let op = m.build_at_end(entry, spec);
        (m, op)
    }

    fn errors(m: &Module, op: Op) -> Vec<String> {
        let mut e = Vec::new();
        verify_mha(m, op, &mut e);
        e
    }

    #[test]
    fn gqa_shapes_verify_and_infer() {
        let (m, op) = build(8, 2, &[1, 2, 7, 16]);
        assert_eq!(errors(&m, op), Vec::<String>::new());
        assert_eq!(infer_mha(&m, op, &[]).unwrap(), vec![t(&[1, 8, 5, 16])]);
        assert_eq!(MhaAttrs::of(&m, op).unwrap().kv_heads, 2);
    }

    #[test]
    fn inconsistent_heads_are_reported() {
        let (m, op) = build(8, 3, &[1, 2, 7, 16]);
        let e = errors(&m, op);
        assert!(
            e.iter().any(|s| s.contains("multiple of kv_heads")),
            "{e:?}"
        );
        assert!(e.iter().any(|s| s.contains("k's head count is 2")), "{e:?}");
    }
}
