//! The opset-23 `onnx.Attention` op, mapped directly to `attn.mha` (no e-graph needed: the op
//! already says what it computes).
//!
//! Mapped when only its first result (Y) is used and it has no KV cache (`past_key`,
//! `past_value`), no `nonpad_kv_seqlen` and no softcap. 4-D Q/K/V are the operands as they are;
//! 3-D `[B, S, H·D]` inputs are split with `Reshape [0, 0, H, D]` + `Transpose [0, 2, 1, 3]`, and
//! the result is merged back with the inverse pair. ONNX's GQA (query head h reads kv head
//! h / (Hq/Hkv)), its bool mask (true = attend) and float mask, its top-left `is_causal` and its
//! default scale 1/√D are those of `attn.mha`. A mask that carries the causal pattern or a
//! sliding-window band (checked at the probe shapes, as for the e-graph path) sets `causal`
//! and `window` too, and is dropped when it is nothing else.

use sofa_ir::attr::{Attribute, DenseAttr};
use sofa_ir::dialect::attn::{MhaAttrs, MHA};
use sofa_ir::dialect::{DialectRegistry, Trait};
use sofa_ir::{Dim, ElemType, Module, Op, OpSpec, SecondaryMap, TensorType, Type, Value};

use super::build::scalar_constant;
use super::causal::{self, Causal, MaskContext};
use super::extract::Refusal;
use super::module_opset;
use super::probe::Probes;

fn refuse(detail: impl Into<String>) -> Refusal {
    Refusal::new("unfused-attention-op", detail)
}

/// Heads and sizes of one Attention op.
struct Layout {
    three_d: bool,
    heads: u64,
    kv_heads: u64,
    head_dim: u64,
    v_dim: u64,
}

fn tensor(m: &Module, v: Value) -> Option<&TensorType> {
    m.value_type(v).as_tensor()
}

fn int_attr(m: &Module, op: Op, name: &str) -> Option<i64> {
    m.op(op).attrs.get(name).and_then(Attribute::as_int)
}

fn layout(m: &Module, op: Op) -> Result<Layout, Refusal> {
    let xs = &m.op(op).operands;
    if xs.len() < 3 {
        return Err(refuse("Q, K and V are required"));
    }
    let (Some(q), Some(k), Some(v)) = (tensor(m, xs[0]), tensor(m, xs[1]), tensor(m, xs[2])) else {
        return Err(refuse("Q, K and V must be ranked tensors"));
    };
    let rank = q.rank();
    if !(rank == 3 || rank == 4) || k.rank() != rank || v.rank() != rank {
        return Err(refuse("Q, K and V must all be 3-D or all 4-D"));
    }
    if !q.elem.is_float() || k.elem != q.elem || v.elem != q.elem {
        return Err(refuse("Q, K and V must share one float type"));
    }
    let stat = |t: &TensorType, i: usize| {
        t.dims[i]
            .as_static()
            .ok_or_else(|| refuse("head sizes must be static"))
    };
    if rank == 4 {
        let l = Layout {
            three_d: false,
            heads: stat(q, 1)?,
            kv_heads: stat(k, 1)?,
            head_dim: stat(q, 3)?,
            v_dim: stat(v, 3)?,
        };
        if stat(k, 3)? != l.head_dim || stat(v, 1)? != l.kv_heads {
            return Err(refuse("head sizes of Q, K, V disagree"));
        }
        return Ok(l);
    }
    let heads_of = |name: &str| {
        int_attr(m, op, name)
            .and_then(|h| u64::try_from(h).ok())
            .filter(|&h| h > 0)
            .ok_or_else(|| refuse(format!("3-D inputs need a positive '{name}'")))
    };
    let (hq, hkv) = (heads_of("q_num_heads")?, heads_of("kv_num_heads")?);
    let per_head = |t: &TensorType, h: u64| {
        let hidden = stat(t, 2)?;
        (hidden % h == 0)
            .then_some(hidden / h)
            .ok_or_else(|| refuse("hidden size not divisible by heads"))
    };
    let l = Layout {
        three_d: true,
        heads: hq,
        kv_heads: hkv,
        head_dim: per_head(q, hq)?,
        v_dim: per_head(v, hkv)?,
    };
    if per_head(k, hkv)? != l.head_dim {
        return Err(refuse("head sizes of Q and K disagree"));
    }
    Ok(l)
}

/// Check the conditions under which the op is exactly an `attn.mha`.
fn check_mappable(
    m: &Module,
    uses: &SecondaryMap<Value, Vec<Op>>,
    op: Op,
) -> Result<Option<Value>, Refusal> {
    let data = m.op(op);
    let present = |i: usize| {
        data.operands
            .get(i)
            .is_some_and(|&v| *m.value_type(v) != Type::None)
    };
    if (4..7).any(present) {
        return Err(refuse("a KV cache or nonpad_kv_seqlen is not mapped"));
    }
    if data.results.iter().skip(1).any(|&r| !uses[r].is_empty()) {
        return Err(refuse("present_key/value or qk_matmul_output are used"));
    }
    if data
        .attrs
        .get("softcap")
        .and_then(Attribute::as_float)
        .is_some_and(|c| c != 0.0)
    {
        return Err(refuse("softcap is not mapped"));
    }
    let mask = present(3).then(|| data.operands[3]);
    if let Some(mv) = mask {
        let q_elem = data
            .operands
            .first()
            .and_then(|&q| tensor(m, q))
            .map(|t| t.elem);
        match tensor(m, mv) {
            Some(t) if t.rank() <= 4 && (t.elem == ElemType::I1 || Some(t.elem) == q_elem) => {}
            _ => {
                return Err(refuse(
                    "the mask is not bool or Q's float type with rank <= 4",
                ))
            }
        }
    }
    Ok(mask)
}

/// The mask's causal structure (see [`super::causal`]): `attn_mask` may carry the causal
/// pattern or band instead of `is_causal`.
fn mask_band(
    m: &Module,
    dialects: &DialectRegistry,
    probes: &Probes,
    op: Op,
    mask: Option<Value>,
) -> Causal {
    let Some(mask) = mask else {
        return Causal::default();
    };
    let xs = &m.op(op).operands;
    let (Some(q), Some(k)) = (tensor(m, xs[0]), tensor(m, xs[1])) else {
        return Causal::default();
    };
    // The sequence axis: 2 of [B, H, S, D], 1 of [B, S, H·D].
    let axis = q.rank() - 2;
    let scalar = |v| scalar_constant(m, dialects, v);
    let cx = MaskContext {
        m,
        opset: module_opset(m),
        probes,
        sq: &q.dims[axis],
        sk: &k.dims[axis],
        scalar: &scalar,
    };
    causal::analyse(&cx, mask)
}

/// Replace `op` by an `attn.mha`; returns it and the number of ops erased.
pub fn map_attention(
    m: &mut Module,
    dialects: &DialectRegistry,
    probes: &Probes,
    op: Op,
) -> Result<(Op, u64), Refusal> {
    let uses = m.uses();
    let mask = check_mappable(m, &uses, op)?;
    let l = layout(m, op)?;
    let band = mask_band(m, dialects, probes, op, mask);
    let mask = mask.filter(|_| !band.mask_is_causal);
    if l.kv_heads == 0 || l.heads % l.kv_heads != 0 {
        return Err(refuse("kv heads do not divide query heads"));
    }
    let scale = match m.op(op).attrs.get("scale").and_then(Attribute::as_float) {
        Some(s) => s,
        None => 1.0 / (l.head_dim as f64).sqrt(),
    };
    let attrs = MhaAttrs {
        heads: l.heads as i64,
        kv_heads: l.kv_heads as i64,
        head_dim: l.head_dim as i64,
        scale,
        causal: int_attr(m, op, "is_causal").unwrap_or(0) != 0 || band.causal,
        window: band.window.and_then(|w| i64::try_from(w).ok()),
    };
    let xs = m.op(op).operands.clone();
    let y_ty = tensor(m, m.result(op, 0))
        .cloned()
        .ok_or_else(|| refuse("Y must be a ranked tensor"))?;
    let mut b = Builder { m, before: op };
    let (q, k, v) = if l.three_d {
        (
            b.split_heads(xs[0], l.heads, l.head_dim),
            b.split_heads(xs[1], l.kv_heads, l.head_dim),
            b.split_heads(xs[2], l.kv_heads, l.v_dim),
        )
    } else {
        (xs[0], xs[1], xs[2])
    };
    let (qt, elem) = {
        let t = tensor(b.m, q).expect("q is a tensor");
        (t.dims.clone(), t.elem)
    };
    let out_ty = if l.three_d {
        TensorType::new(
            vec![
                qt[0].clone(),
                Dim::Static(l.heads),
                qt[2].clone(),
                Dim::Static(l.v_dim),
            ],
            elem,
        )
    } else {
        y_ty.clone()
    };
    let mut operands = vec![q, k, v];
    operands.extend(mask);
    let mut spec = OpSpec::new(MHA)
        .operands(operands)
        .results([Type::Tensor(out_ty)]);
    for (name, a) in attrs.to_attrs() {
        spec = spec.attr(name, a);
    }
    let mha = b.add(spec);
    let mut y = b.m.result(mha, 0);
    if l.three_d {
        y = b.merge_heads(y, l.heads * l.v_dim, y_ty);
    }
    let old = b.m.result(op, 0);
    b.m.replace_all_uses(old, y);
    let erased = erase_if_dead(b.m, dialects, op);
    Ok((mha, erased))
}

fn erase_if_dead(m: &mut Module, dialects: &DialectRegistry, op: Op) -> u64 {
    let uses = m.uses();
    let dead = m.op(op).results.iter().all(|&r| uses[r].is_empty());
    if dead && dialects.has_trait(&m.op(op).name, Trait::Pure) {
        m.erase_op(op);
        1
    } else {
        0
    }
}

struct Builder<'a> {
    m: &'a mut Module,
    before: Op,
}

impl Builder<'_> {
    fn add(&mut self, spec: OpSpec) -> Op {
        let loc = self.m.op(self.before).loc.clone();
        let op = self.m.create_op(spec.loc(loc));
        self.m.insert_before(self.before, op);
        op
    }

    fn shape_constant(&mut self, dims: &[i64]) -> Value {
        let dense = DenseAttr::from_i64(&[dims.len() as u64], dims).expect("valid shape constant");
        let ty = Type::Tensor(dense.ty().clone());
        let op = self.add(
            OpSpec::new("onnx.Constant")
                .attr("value", Attribute::Dense(dense))
                .results([ty]),
        );
        self.m.result(op, 0)
    }

    fn single(&mut self, spec: OpSpec, ty: TensorType) -> Value {
        let op = self.add(spec.results([Type::Tensor(ty)]));
        self.m.result(op, 0)
    }

    /// `[B, S, H·D]` → `[B, H, S, D]`.
    fn split_heads(&mut self, x: Value, heads: u64, dim: u64) -> Value {
        let t = tensor(self.m, x).expect("checked 3-D tensor").clone();
        let shape = self.shape_constant(&[0, 0, heads as i64, dim as i64]);
        let split = TensorType::new(
            vec![
                t.dims[0].clone(),
                t.dims[1].clone(),
                Dim::Static(heads),
                Dim::Static(dim),
            ],
            t.elem,
        );
        let r = self.single(OpSpec::new("onnx.Reshape").operands([x, shape]), split);
        let heads_first = TensorType::new(
            vec![
                t.dims[0].clone(),
                Dim::Static(heads),
                t.dims[1].clone(),
                Dim::Static(dim),
            ],
            t.elem,
        );
        self.single(
            OpSpec::new("onnx.Transpose")
                .operands([r])
                .attr("perm", Attribute::i64_array(&[0, 2, 1, 3])),
            heads_first,
        )
    }

    /// `[B, H, S, Dv]` → `[B, S, H·Dv]`.
    fn merge_heads(&mut self, y: Value, hidden: u64, merged: TensorType) -> Value {
        let t = tensor(self.m, y).expect("mha result").clone();
        let seq_first = TensorType::new(
            vec![
                t.dims[0].clone(),
                t.dims[2].clone(),
                t.dims[1].clone(),
                t.dims[3].clone(),
            ],
            t.elem,
        );
        let tr = self.single(
            OpSpec::new("onnx.Transpose")
                .operands([y])
                .attr("perm", Attribute::i64_array(&[0, 2, 1, 3])),
            seq_first,
        );
        let shape = self.shape_constant(&[0, 0, hidden as i64]);
        self.single(OpSpec::new("onnx.Reshape").operands([tr, shape]), merged)
    }
}
