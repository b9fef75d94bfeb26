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
//! head_dim = D : i64, scale = s : f32, causal = true|false, window = W : i64 (optional)}`
//!
//! - q: `[B, H, Sq, D]`, k: `[B, Hkv, Sk, D]`, v: `[B, Hkv, Sk, Dv]` → result `[B, H, Sq, Dv]`
//!   with q's element type.
//! - scores = s · q·kᵀ (+ mask, an additive float tensor broadcastable to `[B, H, Sq, Sk]`; a
//!   bool mask, true = keep, is also accepted and means 0 / −inf). Mask values ≤ −1e30
//!   ([`EXCLUDED_AT_MOST`], e.g. `finfo(float32).min`) exclude their key like −inf.
//! - causal: key j is masked for query i when j > i (top-left aligned, as PyTorch SDPA's
//!   `is_causal`).
//! - window (sliding-window attention, requires `causal`): key j is also masked for query i when
//!   j ≤ i − W, so each query sees itself and the W − 1 keys before it (Mistral's band).
//! - probs = softmax over keys; a row whose keys are all excluded yields probs 0 (FlashAttention
//!   semantics; this is what makes the exporters' IsNaN/Where(nan → 0) guard a no-op). ONNX
//!   would average V over such a row's keys when its mask is finite; those rows are fully
//!   padded queries, whose outputs models discard.
//! - GQA: query head h reads kv head ⌊h / (H / Hkv)⌋; H must be a multiple of Hkv.
//!
//! The projections stay outside the op. Reference semantics: `crate::eval::mha`.
//!
//! ## `attn.sparse_mha`
//!
//! `%o = "attn.sparse_mha"(%q, %k, %v[, %mask]) {<attn.mha's attributes>, keep_ratio = r : f32,
//! tiles = Tc : i64, radius = R : f32 (optional), rounding = "floor"|"nearest",
//! pred_bits = P : i64}`
//!
//! SOFA's dynamic sparse attention (DLZS prediction → SADS per-tile top-k → exact attention on
//! the selected keys). Operands, shapes, result and GQA as `attn.mha`. Per (batch, query head,
//! query row `i`):
//!
//! 1. **Valid keys**: key `t` is excluded when the mask gives it `-inf` (a bool mask's `false`)
//!    or, with `causal`, when `t > i` (or `t ≤ i − W` with a `window`). Excluded keys are removed *before* selection and are never
//!    selected. `n` = number of valid keys; the budget is `k = ⌈r·n⌉` (≥ 1 when `n ≥ 1`).
//! 2. **Dense case**: `keep_ratio = 1` selects every valid key; no prediction is made, so
//!    `sparse_mha(keep 1) ≡ mha` bit for bit.
//! 3. **DLZS prediction** (paper §2, `crate::eval::dlzs`). The paper predicts `K̂ = X·LZ(W_k)`
//!    (8-bit tokens, 4-bit LZ weights), then `Â = LZ(Q)·K̂ᵀ` (16-bit Q reduced to a 5-bit LZ).
//!    This op has no X or W_k, so the prediction acts on q and k directly — the simplification:
//!    - `K̂ = LZ(k)`: k (per batch and kv head) is quantised symmetrically to sign + a
//!      `2^(P−1)`-bit integer magnitude, then each magnitude is snapped to a power of two and
//!      stored as sign + a `(P−1)`-bit exponent. `pred_bits = P` is that code width; P = 4 gives
//!      the paper's 4-bit LZ weights over 8-bit magnitudes. This stands in for phase 1.1's
//!      error (there each product `x·w` is snapped; here each `k` element is).
//!    - `LZ(q)`: q (per batch and head) is quantised to 16-bit signed integers and snapped to
//!      its leading one (a 5-bit LZ code, exponent 0..15).
//!    - `Â[i,t] = Σ_c sgn(q_ic)·sgn(k_tc)·(|K̂_tc| << e(q_ic))`, an exact integer sum, mapped
//!      back to logit units by `scale · s_q · s_k` (the two quantisation steps) and the additive
//!      mask added.
//!    - `rounding` picks how magnitudes snap: `floor` (the paper's Fig. 7 example, default) or
//!      `nearest` (round up when the bit below the leading one is set); snapped exponents
//!      saturate at the code's largest exponent.
//! 4. **SADS** (paper §3.2, `crate::eval::sads`): keys are split into `Tc` tiles of width
//!    `Bc = ⌈Sk/Tc⌉` (tile `j` = keys `[j·Bc, min((j+1)·Bc, Sk))`; trailing tiles may be
//!    empty). Tiles holding no valid key are skipped; with `T` the remaining tiles, each picks
//!    its top-`⌈k/T⌉` valid keys by `Â` (ties: lower key index first). With a `radius R`, a key
//!    whose `Â` is below its tile's largest `Â` minus `R` is clipped first (the sphere search;
//!    the tile max is the benchmark, order-free; absent = no clipping). A tile with fewer
//!    candidates than its quota gives all of them, so a row selects at most `T·⌈k/T⌉` keys.
//! 5. **Exact attention** over the selected keys only: softmax(scale·q·kᵀ + mask) restricted to
//!    them, times v; a row with no valid key gives zeros (as `attn.mha`).
//!
//! Reference semantics: `crate::eval::sparse_mha` (with `selection_stats` for top-k recall).
//!
//! Both ops accept the optional plan attributes ([`plan`]: `sofa.schedule`, `sofa.tc`,
//! `sofa.q_block`, `sofa.ablate` from `cct-tile`, the K/V source `sofa.kv*` from
//! `lower-to-sofa`); they do not change semantics. [`shape`] reads an op's sizes and splits it
//! into query blocks; [`mask`] tells key-exclusion masks from additive score biases.

pub mod mask;
pub mod plan;
pub mod shape;

pub use plan::{Ablation, KvGenPlan, KvPlan, KvSource, Plan, PlanError, Schedule};
pub use shape::{query_blocks, AttnShape, AttnShapeError, Band, QueryBlock};

use super::{Arity, AttrDef, AttrKind, Dialect, InferError, OpDef, Trait};
use crate::attr::{AttrDict, Attribute};
use crate::module::{Module, Op};
use crate::types::{Dim, TensorType, Type};
use plan::{concat_attrs, PLAN_ATTRS};

/// The `attn.mha` op name.
pub const MHA: &str = "attn.mha";

/// Mask values at or below this exclude their key as `-inf` does. Exporters write
/// `finfo(float32).min` (≈ −3.4e38) for masked keys; reading it as exclusion is what the chip
/// does, and it is what makes a fully masked row (a padded query) give 0 rather than ONNX's
/// average over every key.
pub const EXCLUDED_AT_MOST: f32 = -1e30;
/// The `attn.sparse_mha` op name.
pub const SPARSE_MHA: &str = "attn.sparse_mha";

/// Smallest and largest `pred_bits` (LZ code width of the predicted k: sign + exponent bits).
pub const PRED_BITS_RANGE: (i64, i64) = (2, 5);

/// The attributes of `attn.mha` (its semantics).
pub const MHA_ATTRS: [AttrDef; 6] = [
    AttrDef::required("heads", AttrKind::Int),
    AttrDef::required("kv_heads", AttrKind::Int),
    AttrDef::required("head_dim", AttrKind::Int),
    AttrDef::required("scale", AttrKind::Float),
    AttrDef::required("causal", AttrKind::Bool),
    AttrDef::optional("window", AttrKind::Int),
];

/// What `attn.sparse_mha` adds to [`MHA_ATTRS`].
pub const SPARSE_ATTRS: [AttrDef; 5] = [
    AttrDef::required("keep_ratio", AttrKind::Float),
    AttrDef::required("tiles", AttrKind::Int),
    AttrDef::optional("radius", AttrKind::Float),
    AttrDef::required("rounding", AttrKind::String),
    AttrDef::required("pred_bits", AttrKind::Int),
];

/// `attn.sparse_mha`'s semantic attributes.
pub const SPARSE_MHA_ATTRS: [AttrDef; 11] = concat_attrs(MHA_ATTRS, SPARSE_ATTRS);
static MHA_OP_ATTRS: [AttrDef; 14] = concat_attrs(MHA_ATTRS, PLAN_ATTRS);
static SPARSE_OP_ATTRS: [AttrDef; 19] = concat_attrs(SPARSE_MHA_ATTRS, PLAN_ATTRS);

/// Smallest keep ratio: `attn.sparse_mha` carries it as an `f32` attribute, where anything
/// smaller loses precision or rounds to 0 (any ratio keeps at least one key per row anyway).
pub const MIN_KEEP_RATIO: f32 = f32::MIN_POSITIVE;

/// A keep ratio outside [[`MIN_KEEP_RATIO`], 1] (the value as given, before any rounding).
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("{0:?} is out of range: must be in [{MIN_KEEP_RATIO:e}, 1] (stored as f32)")]
pub struct KeepRatioOutOfRange(pub f64);

/// The one range check of a keep ratio, for every place that accepts one (spec files, pass
/// options, the CLI, the attribute itself).
pub fn check_keep_ratio(keep: f64) -> Result<f64, KeepRatioOutOfRange> {
    if (f64::from(MIN_KEEP_RATIO)..=1.0).contains(&keep) {
        Ok(keep)
    } else {
        Err(KeepRatioOutOfRange(keep))
    }
}

pub static ATTN: Dialect = Dialect {
    name: "attn",
    summary: "Recognised attention blocks (fused from the exporters' op chains).",
    ops: &[
        OpDef {
            name: MHA,
            summary: "Multi-head attention softmax(scale·q·kᵀ + mask [causal]) · v; q [B,H,Sq,D], \
                      k [B,Hkv,Sk,D], v [B,Hkv,Sk,Dv] → [B,H,Sq,Dv]; query head h reads kv head \
                      h / (H/Hkv); an optional additive (float) or keep (bool) mask broadcasts to \
                      [B,H,Sq,Sk]; causal masks key j > query i (top-left); fully masked rows give 0.",
            operands: Arity::Between(3, 4),
            results: Arity::Exact(1),
            regions: 0,
            attrs: &MHA_OP_ATTRS,
            props: &[],
            traits: &[Trait::Pure],
            verify: Some(verify_mha),
            fold: None,
            infer: Some(infer_mha),
        },
        OpDef {
            name: SPARSE_MHA,
            summary: "attn.mha restricted, per query row, to the keys SOFA selects: DLZS-predicted \
                      scores (LZ(q)·LZ(k)ᵀ), SADS top-⌈k/Tc⌉ per key tile of width ⌈Sk/Tc⌉ \
                      (k = ⌈keep_ratio·valid keys⌉, optional radius clip), then exact softmax \
                      attention over the selected keys; keep_ratio = 1 is exactly attn.mha.",
            operands: Arity::Between(3, 4),
            results: Arity::Exact(1),
            regions: 0,
            attrs: &SPARSE_OP_ATTRS,
            props: &[],
            traits: &[Trait::Pure],
            verify: Some(verify_sparse_mha),
            fold: None,
            infer: Some(infer_mha),
        },
    ],
};

/// The attributes of an `attn.mha`, read back from an op.
#[derive(Clone, Debug, PartialEq)]
pub struct MhaAttrs {
    pub heads: i64,
    pub kv_heads: i64,
    pub head_dim: i64,
    pub scale: f64,
    pub causal: bool,
    /// Sliding window `W` (causal ops only): a query sees itself and the `W − 1` keys before it.
    pub window: Option<i64>,
}

impl MhaAttrs {
    /// Read the attributes of `op`; `None` when one is missing or has the wrong kind.
    pub fn of(module: &Module, op: Op) -> Option<MhaAttrs> {
        MhaAttrs::from_dict(&module.op(op).attrs)
    }

    /// Read the attributes from a dictionary; `None` when one is missing or has the wrong kind.
    pub fn from_dict(a: &AttrDict) -> Option<MhaAttrs> {
        Some(MhaAttrs {
            heads: a.get("heads")?.as_int()?,
            kv_heads: a.get("kv_heads")?.as_int()?,
            head_dim: a.get("head_dim")?.as_int()?,
            scale: a.get("scale")?.as_float()?,
            causal: a.get("causal")?.as_bool()?,
            window: match a.get("window") {
                None => None,
                Some(w) => Some(w.as_int()?),
            },
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
        .into_iter()
        .chain(self.window.map(|w| ("window", Attribute::i64(w))))
        .collect()
    }
}

/// How DLZS snaps a magnitude to a power of two.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Rounding {
    /// Down to the leading one (`6 → 4`): the paper's Fig. 7 example.
    #[default]
    Floor,
    /// To the nearer power by the linear midpoint (`6 → 8`, `5 → 4`): one extra bit tap.
    Nearest,
}

impl Rounding {
    pub fn as_str(self) -> &'static str {
        match self {
            Rounding::Floor => "floor",
            Rounding::Nearest => "nearest",
        }
    }

    /// `"floor"` or `"nearest"`.
    pub fn parse(s: &str) -> Option<Rounding> {
        match s {
            "floor" => Some(Rounding::Floor),
            "nearest" => Some(Rounding::Nearest),
            _ => None,
        }
    }
}

/// The attributes of an `attn.sparse_mha`, read back from an op and range-checked.
#[derive(Clone, Debug, PartialEq)]
pub struct SparseMhaAttrs {
    pub mha: MhaAttrs,
    /// Fraction of the valid keys each query row keeps, in [[`MIN_KEEP_RATIO`], 1]; 1 = dense.
    pub keep_ratio: f64,
    /// Key-tile count `Tc` (≥ 1); the tile width is `⌈Sk / Tc⌉`.
    pub tiles: i64,
    /// SADS sphere radius in logit units (> 0); `None` = no clipping.
    pub radius: Option<f64>,
    pub rounding: Rounding,
    /// LZ code width of the predicted k (sign + `pred_bits − 1` exponent bits), in
    /// [`PRED_BITS_RANGE`].
    pub pred_bits: i64,
}

/// An `attn.sparse_mha` attribute that is missing, mistyped or out of range.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SparseAttrError {
    #[error("heads, kv_heads, head_dim (integers), scale (float) and causal (bool) are required")]
    Mha,
    #[error("{0} must be a float")]
    NotFloat(&'static str),
    #[error("{0} must be an integer")]
    NotInt(&'static str),
    #[error("keep_ratio {0}")]
    KeepRatio(KeepRatioOutOfRange),
    #[error("tiles must be at least 1, got {0}")]
    Tiles(i64),
    #[error("radius must be a positive finite float, got {0:?}")]
    Radius(Attribute),
    #[error("rounding must be \"floor\" or \"nearest\"")]
    Rounding,
    #[error("pred_bits must be in {lo}..={hi}, got {0}", lo = PRED_BITS_RANGE.0, hi = PRED_BITS_RANGE.1)]
    PredBits(i64),
}

impl SparseMhaAttrs {
    /// Read the attributes of `op`; `None` when one is missing, mistyped or out of range.
    pub fn of(module: &Module, op: Op) -> Option<SparseMhaAttrs> {
        SparseMhaAttrs::from_dict(&module.op(op).attrs).ok()
    }

    /// Read and range-check the attributes; the error names the offending attribute.
    pub fn from_dict(a: &AttrDict) -> Result<SparseMhaAttrs, SparseAttrError> {
        let mha = MhaAttrs::from_dict(a).ok_or(SparseAttrError::Mha)?;
        let keep_ratio = a
            .get("keep_ratio")
            .and_then(Attribute::as_float)
            .ok_or(SparseAttrError::NotFloat("keep_ratio"))?;
        check_keep_ratio(keep_ratio).map_err(SparseAttrError::KeepRatio)?;
        let tiles = a
            .get("tiles")
            .and_then(Attribute::as_int)
            .ok_or(SparseAttrError::NotInt("tiles"))?;
        if tiles < 1 {
            return Err(SparseAttrError::Tiles(tiles));
        }
        let radius = match a.get("radius") {
            None => None,
            Some(r) => match r.as_float() {
                Some(r) if r.is_finite() && r > 0.0 => Some(r),
                _ => return Err(SparseAttrError::Radius(r.clone())),
            },
        };
        let rounding = a
            .get("rounding")
            .and_then(Attribute::as_str)
            .and_then(Rounding::parse)
            .ok_or(SparseAttrError::Rounding)?;
        let pred_bits = a
            .get("pred_bits")
            .and_then(Attribute::as_int)
            .ok_or(SparseAttrError::NotInt("pred_bits"))?;
        let (lo, hi) = PRED_BITS_RANGE;
        if !(lo..=hi).contains(&pred_bits) {
            return Err(SparseAttrError::PredBits(pred_bits));
        }
        Ok(SparseMhaAttrs {
            mha,
            keep_ratio,
            tiles,
            radius,
            rounding,
            pred_bits,
        })
    }

    /// Every attribute, in op-spec form (`radius` only when set).
    pub fn to_attrs(&self) -> Vec<(&'static str, Attribute)> {
        let mut v = self.mha.to_attrs();
        v.push(("keep_ratio", Attribute::f32(self.keep_ratio as f32)));
        v.push(("tiles", Attribute::i64(self.tiles)));
        if let Some(r) = self.radius {
            v.push(("radius", Attribute::f32(r as f32)));
        }
        v.push(("rounding", Attribute::string(self.rounding.as_str())));
        v.push(("pred_bits", Attribute::i64(self.pred_bits)));
        v
    }

    /// True when every valid key is kept (`keep_ratio = 1`): the op is exactly `attn.mha`.
    pub fn is_dense(&self) -> bool {
        self.keep_ratio >= 1.0
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
    verify_plan(module, op, errors);
    let Some(attrs) = MhaAttrs::of(module, op) else {
        return; // the schema check reports missing or mistyped attributes
    };
    verify_attention(module, op, &attrs, errors);
}

/// The plan attributes, when present, must read as a plan.
pub fn verify_plan(module: &Module, op: Op, errors: &mut Vec<String>) {
    if let Err(e) = Plan::from_attrs(&module.op(op).attrs) {
        errors.push(e.to_string());
    }
}

fn verify_sparse_mha(module: &Module, op: Op, errors: &mut Vec<String>) {
    verify_plan(module, op, errors);
    let Some(attrs) = MhaAttrs::of(module, op) else {
        return; // the schema check reports missing or mistyped attributes
    };
    if let Err(e) = SparseMhaAttrs::from_dict(&module.op(op).attrs) {
        errors.push(e.to_string());
    }
    verify_attention(module, op, &attrs, errors);
}

/// The checks shared by `attn.mha` and `attn.sparse_mha`: attributes vs operand shapes.
fn verify_attention(module: &Module, op: Op, attrs: &MhaAttrs, errors: &mut Vec<String>) {
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
    match attrs.window {
        Some(w) if w < 1 => errors.push(format!("window must be at least 1, got {w}")),
        Some(_) if !attrs.causal => errors.push("window needs causal = true".into()),
        _ => {}
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

fn infer_mha(module: &Module, op: Op, _: &[Option<Attribute>]) -> Result<Vec<Type>, InferError> {
    let q = operand(module, op, 0).ok_or(InferError::NotRanked("q"))?;
    let v = operand(module, op, 2).ok_or(InferError::NotRanked("v"))?;
    if q.rank() != 4 || v.rank() != 4 {
        return Err(InferError::MhaRank {
            q: q.rank(),
            v: v.rank(),
        });
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
mod tests;
