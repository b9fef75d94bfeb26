//! Materialising a plan: the operand terms become IR values (existing ones where the term is a
//! leaf, new `onnx.*` ops — e.g. the Transpose that brings K to `[B, Hkv, Sk, D]` — otherwise),
//! an `attn.mha` replaces the root MatMul's result, and the chain that fed only the root dies
//! (a DCE seeded with the root and the chain, so unrelated dead code is left to `dce`).

use std::collections::BTreeSet;

use egg::{Id, RecExpr};
use sofa_ir::attr::{Attribute, DenseAttr};
use sofa_ir::dialect::attn::{MhaAttrs, MHA};
use sofa_ir::dialect::onnx::infer::elem_from_onnx;
use sofa_ir::dialect::{DialectRegistry, Trait};
use sofa_ir::{ElemType, Location, Module, Op, OpSpec, TensorType, Type, Value};

use super::analysis::{
    broadcast_result, shaped_result, transpose_result, unsqueeze_result, AttnAnalysis,
};
use super::build::Candidate;
use super::extract::{Plan, Refusal};
use super::lang::{AttnLang, LeafRef, Perm};

/// Everything needed to rewrite one candidate.
pub struct Fusion<'a> {
    pub cand: &'a Candidate,
    pub plan: &'a Plan,
    pub analysis: &'a AttnAnalysis,
    pub chain: &'a BTreeSet<Op>,
    pub causal: bool,
    /// Causal band width (Mistral's sliding window), when the mask has one.
    pub window: Option<u64>,
    /// Leave the mask out (it is exactly the causal masking).
    pub drop_mask: bool,
    pub opset: i64,
}

/// Rewrite the candidate; returns the new `attn.mha` and the number of ops erased.
pub fn apply(
    m: &mut Module,
    dialects: &DialectRegistry,
    f: &Fusion<'_>,
) -> Result<(Op, u64), Refusal> {
    let root = f.cand.root;
    let loc = Location::fused([m.op(f.cand.anchor).loc.clone(), m.op(root).loc.clone()]);
    let mut mat = Materializer {
        m,
        before: root,
        loc: loc.clone(),
        analysis: f.analysis,
        opset: f.opset,
        created: Vec::new(),
    };
    let operands = match mat.operands(f) {
        Ok(ops) => ops,
        Err(e) => {
            mat.rollback();
            return Err(Refusal::new("unfused-operand", e.to_string()));
        }
    };
    let root_res = m.result(root, 0);
    let attrs = MhaAttrs {
        heads: f.plan.heads as i64,
        kv_heads: f.plan.kv_heads as i64,
        head_dim: f.plan.head_dim as i64,
        scale: f.plan.scale,
        causal: f.causal,
        window: f.window.and_then(|w| i64::try_from(w).ok()),
    };
    let mut spec = OpSpec::new(MHA)
        .operands(operands)
        .results([m.value_type(root_res).clone()])
        .loc(loc);
    for (name, a) in attrs.to_attrs() {
        spec = spec.attr(name, a);
    }
    let mha = m.create_op(spec);
    m.insert_before(root, mha);
    let out = m.result(mha, 0);
    m.replace_all_uses(root_res, out);
    let mut seeds = vec![root];
    seeds.extend(f.chain.iter().copied());
    let erased = erase_dead(m, dialects, seeds);
    Ok((mha, erased))
}

/// Erase the seeds and their producers while they are Pure and unused.
fn erase_dead(m: &mut Module, dialects: &DialectRegistry, seeds: Vec<Op>) -> u64 {
    let uses = m.uses();
    let mut counts = std::collections::BTreeMap::new();
    let mut work = seeds;
    let mut erased = 0;
    while let Some(op) = work.pop() {
        let data = m.op(op);
        if data.erased || data.parent.is_none() || !dialects.has_trait(&data.name, Trait::Pure) {
            continue;
        }
        let live = |v: &Value, counts: &std::collections::BTreeMap<Value, usize>| {
            counts.get(v).copied().unwrap_or(uses[*v].len()) > 0
        };
        if data.results.iter().any(|r| live(r, &counts)) {
            continue;
        }
        for &x in &data.operands.clone() {
            let c = counts.entry(x).or_insert(uses[x].len());
            *c = c.saturating_sub(1);
            if let Some(def) = m.defining_op(x) {
                work.push(def);
            }
        }
        m.erase_op(op);
        erased += 1;
    }
    erased
}

struct Materializer<'a> {
    m: &'a mut Module,
    before: Op,
    loc: Location,
    analysis: &'a AttnAnalysis,
    opset: i64,
    created: Vec<Op>,
}

type Typed = (Value, TensorType);

/// Why an operand term of the fused op cannot be rebuilt as IR ops.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
enum MaterializeError {
    #[error("an operand has no tensor type")]
    Untyped,
    #[error("a transpose without a permutation")]
    NoPerm,
    #[error("a transpose of the wrong rank")]
    TransposeRank,
    #[error("a cast without a target type")]
    NoCastTarget,
    #[error("a cast to an unsupported type")]
    CastTarget,
    #[error("a reshape whose shape is not an IR value")]
    ShapeNotValue,
    #[error("a reshape of unknown type")]
    ReshapeType,
    #[error("an unsqueeze without an axis")]
    NoAxis,
    #[error("an unsqueeze axis out of range")]
    AxisRange,
    #[error("operands that do not broadcast")]
    NoBroadcast,
    #[error("a {0} constant cannot be created here")]
    ConstantElem(ElemType),
    #[error("bad constant")]
    BadConstant,
    /// The term's node, as printed.
    #[error("cannot compute '{0}' outside the fused op")]
    NotComputable(String),
}

impl Materializer<'_> {
    fn operands(&mut self, f: &Fusion<'_>) -> Result<Vec<Value>, MaterializeError> {
        let mut out = vec![
            self.expr(&f.plan.q)?.0,
            self.expr(&f.plan.k)?.0,
            self.expr(&f.plan.v)?.0,
        ];
        if let (Some(mask), false) = (&f.plan.mask, f.drop_mask) {
            out.push(self.expr(mask)?.0);
        }
        Ok(out)
    }

    /// Undo a partial materialisation (the new ops have no users outside themselves).
    fn rollback(&mut self) {
        for &op in self.created.iter().rev() {
            self.m.erase_op(op);
        }
    }

    fn expr(&mut self, e: &RecExpr<AttnLang>) -> Result<Typed, MaterializeError> {
        let root = Id::from(e.as_ref().len() - 1);
        self.node(e, root, None)
    }

    fn node(
        &mut self,
        e: &RecExpr<AttnLang>,
        id: Id,
        hint: Option<ElemType>,
    ) -> Result<Typed, MaterializeError> {
        use AttnLang as L;
        match &e[id] {
            L::Leaf(r) => {
                let info = &self.analysis.leaves[r.index()];
                let ty = info.ty.clone().ok_or(MaterializeError::Untyped)?;
                Ok((info.value, ty))
            }
            L::Num(s) => self.constant(s.value(), hint.unwrap_or(ElemType::F32)),
            L::Transpose([x, p]) => {
                let (xv, xt) = self.node(e, *x, hint)?;
                let perm = match &e[*p] {
                    L::Perm(p) => p.clone(),
                    _ => return Err(MaterializeError::NoPerm),
                };
                let (xv, xt, perm) = self.fold_into_transpose(xv, xt, perm);
                if perm.is_identity() {
                    return Ok((xv, xt));
                }
                let ty = transpose_result(&xt, &perm).ok_or(MaterializeError::TransposeRank)?;
                let perm_attr = perm_attr(&perm);
                self.op(
                    OpSpec::new("onnx.Transpose")
                        .operands([xv])
                        .attr("perm", perm_attr),
                    ty,
                )
            }
            L::Mul([a, b]) => self.binary("onnx.Mul", e, *a, *b),
            L::Add([a, b]) => self.binary("onnx.Add", e, *a, *b),
            L::Div([a, b]) => self.binary("onnx.Div", e, *a, *b),
            L::Recip(x) => self.unary("onnx.Reciprocal", e, *x, hint),
            L::Sqrt(x) => self.unary("onnx.Sqrt", e, *x, hint),
            L::Cast([x, to]) => {
                let code = match &e[*to] {
                    L::Int(c) => *c,
                    _ => return Err(MaterializeError::NoCastTarget),
                };
                let elem = elem_from_onnx(code).ok_or(MaterializeError::CastTarget)?;
                let (xv, xt) = self.node(e, *x, None)?;
                let ty = TensorType::new(xt.dims, elem);
                self.op(
                    OpSpec::new("onnx.Cast")
                        .operands([xv])
                        .attr("to", Attribute::i64(code)),
                    ty,
                )
            }
            L::Reshape([x, s]) | L::Expand([x, s]) => {
                let name = if matches!(e[id], L::Reshape(_)) {
                    "onnx.Reshape"
                } else {
                    "onnx.Expand"
                };
                let (xv, xt) = self.node(e, *x, hint)?;
                let leaf: LeafRef = match &e[*s] {
                    L::Leaf(r) => *r,
                    _ => return Err(MaterializeError::ShapeNotValue),
                };
                let shaped = shaped_result(&self.analysis.shaped, leaf, &xt)
                    .ok_or(MaterializeError::ReshapeType)?;
                let (ty, allowzero) = (shaped.out.clone(), shaped.allowzero);
                let sv = self.analysis.leaves[leaf.index()].value;
                let mut spec = OpSpec::new(name).operands([xv, sv]);
                if allowzero {
                    spec = spec.attr("allowzero", Attribute::i64(1));
                }
                self.op(spec, ty)
            }
            L::Unsqueeze([x, a]) => {
                let axis = match &e[*a] {
                    L::Int(a) => *a,
                    _ => return Err(MaterializeError::NoAxis),
                };
                let (xv, xt) = self.node(e, *x, hint)?;
                let ty = unsqueeze_result(&xt, axis).ok_or(MaterializeError::AxisRange)?;
                let spec = if self.opset >= 13 {
                    let axes = self.i64_constant(axis)?;
                    OpSpec::new("onnx.Unsqueeze").operands([xv, axes])
                } else {
                    OpSpec::new("onnx.Unsqueeze")
                        .operands([xv])
                        .attr("axes", Attribute::i64_array(&[axis]))
                };
                self.op(spec, ty)
            }
            other => Err(MaterializeError::NotComputable(other.to_string())),
        }
    }

    /// `transpose(transpose(y, p0), p)` → `transpose(y, p0·p)` when `x` is an existing
    /// Transpose, so the fused op does not keep the old one alive.
    fn fold_into_transpose(
        &self,
        x: Value,
        xt: TensorType,
        perm: Perm,
    ) -> (Value, TensorType, Perm) {
        let Some(def) = self.m.defining_op(x) else {
            return (x, xt, perm);
        };
        let data = self.m.op(def);
        let p0 = data.attrs.get("perm").and_then(Attribute::as_int_array);
        let y = data.operands.first().copied();
        let yt = y.and_then(|y| self.m.value_type(y).as_tensor().cloned());
        match (data.name.as_str(), p0, y, yt) {
            ("onnx.Transpose", Some(p0), Some(y), Some(yt)) if p0.len() == perm.0.len() => {
                let p0 = Perm(p0.into_iter().map(|i| i as usize).collect());
                if p0.is_valid() {
                    return (y, yt, p0.then(&perm));
                }
                (x, xt, perm)
            }
            _ => (x, xt, perm),
        }
    }

    fn unary(
        &mut self,
        name: &str,
        e: &RecExpr<AttnLang>,
        x: Id,
        hint: Option<ElemType>,
    ) -> Result<Typed, MaterializeError> {
        let (xv, xt) = self.node(e, x, hint)?;
        self.op(OpSpec::new(name).operands([xv]), xt)
    }

    /// A broadcasting binary op; a constant side takes the other side's element type.
    fn binary(
        &mut self,
        name: &str,
        e: &RecExpr<AttnLang>,
        a: Id,
        b: Id,
    ) -> Result<Typed, MaterializeError> {
        let (av, at, bv, bt) = if matches!(e[a], AttnLang::Num(_)) {
            let (bv, bt) = self.node(e, b, None)?;
            let (av, at) = self.node(e, a, Some(bt.elem))?;
            (av, at, bv, bt)
        } else {
            let (av, at) = self.node(e, a, None)?;
            let (bv, bt) = self.node(e, b, Some(at.elem))?;
            (av, at, bv, bt)
        };
        let elem = if matches!(e[a], AttnLang::Num(_)) {
            bt.elem
        } else {
            at.elem
        };
        let ty = broadcast_result(&at, &bt).ok_or(MaterializeError::NoBroadcast)?;
        self.op(
            OpSpec::new(name).operands([av, bv]),
            TensorType::new(ty.dims, elem),
        )
    }

    fn constant(&mut self, v: f64, elem: ElemType) -> Result<Typed, MaterializeError> {
        if elem != ElemType::F32 {
            return Err(MaterializeError::ConstantElem(elem));
        }
        let dense = DenseAttr::from_f32(&[], &[v as f32]).ok_or(MaterializeError::BadConstant)?;
        let ty = dense.ty().clone();
        self.op(
            OpSpec::new("onnx.Constant").attr("value", Attribute::Dense(dense)),
            ty,
        )
    }

    fn i64_constant(&mut self, v: i64) -> Result<Value, MaterializeError> {
        let dense = DenseAttr::from_i64(&[1], &[v]).ok_or(MaterializeError::BadConstant)?;
        let ty = dense.ty().clone();
        Ok(self
            .op(
                OpSpec::new("onnx.Constant").attr("value", Attribute::Dense(dense)),
                ty,
            )?
            .0)
    }

    fn op(&mut self, spec: OpSpec, ty: TensorType) -> Result<Typed, MaterializeError> {
        let spec = spec
            .results([Type::Tensor(ty.clone())])
            .loc(self.loc.clone());
        let op = self.m.create_op(spec);
        self.m.insert_before(self.before, op);
        self.created.push(op);
        Ok((self.m.result(op, 0), ty))
    }
}

fn perm_attr(p: &Perm) -> Attribute {
    let v: Vec<i64> = p.0.iter().map(|&i| i as i64).collect();
    Attribute::i64_array(&v)
}
