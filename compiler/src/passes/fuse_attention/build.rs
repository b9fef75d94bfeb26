//! From IR to e-graph: finding candidates and turning the chain around each one into a term.
//!
//! A candidate is anchored at an `onnx.Softmax`; its root is the MatMul that consumes the
//! softmax (possibly through the NaN guard, Casts, Identity or inference Dropout) as its left
//! operand. The term is built backwards from the root through the ops of [`super::lang`], up to
//! [`MAX_DEPTH`] ops deep and [`MAX_VALUES`] values; everything else — projections (MatMuls
//! with a constant operand), shape computations, RoPE's Slice/Concat, mask construction — is a
//! leaf. Every IR value in the term also gets a `Leaf` node in its class, so extraction can
//! reuse the existing value instead of recomputing it.

use std::collections::{BTreeMap, BTreeSet};

use egg::Id;
use sofa_ir::attr::Attribute;
use sofa_ir::dialect::onnx::shape::normalize_axis;
use sofa_ir::dialect::DialectRegistry;
use sofa_ir::{Module, Op, SecondaryMap, TensorType, Value};

use super::analysis::{AttnAnalysis, AttnGraph, LeafInfo, ShapedOut};
use super::lang::{AttnLang, LeafRef, Perm};
use super::probe::Probes;
use crate::passes::equiv::{constant_value, resolve_dense};

/// How many ops deep the term reaches from the root.
pub const MAX_DEPTH: usize = 16;
/// How many IR values one term may hold.
pub const MAX_VALUES: usize = 160;

/// Ops a chain may pass through between the softmax and the MatMul with V.
const PASS_THROUGH: &[&str] = &[
    "onnx.IsNaN",
    "onnx.Where",
    "onnx.Cast",
    "onnx.Identity",
    "onnx.Dropout",
];

/// One attention candidate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The `onnx.Softmax`.
    pub anchor: Op,
    /// The `onnx.MatMul(P, V)` whose result the fused op replaces.
    pub root: Op,
}

/// The term of one candidate, ready for the runner.
pub struct Term {
    pub egraph: AttnGraph,
    pub root: Id,
    /// The IR ops the term covers (the chain), which may die once the root is replaced.
    pub ops: BTreeSet<Op>,
}

/// Why a Softmax has no single root MatMul.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RootError {
    #[error("the softmax has no result")]
    NoResult,
    #[error("the softmax result does not reach the left operand of a MatMul")]
    NoMatMul,
    #[error("the softmax result feeds {0} MatMuls")]
    ManyMatMuls(usize),
}

/// The root MatMul reached from `anchor`, or why there is none.
pub fn find_root(
    m: &Module,
    uses: &SecondaryMap<Value, Vec<Op>>,
    anchor: Op,
) -> Result<Op, RootError> {
    let Some(&probs) = m.op(anchor).results.first() else {
        return Err(RootError::NoResult);
    };
    let mut frontier = vec![probs];
    let mut roots = BTreeSet::new();
    for _ in 0..4 {
        let mut next = Vec::new();
        for v in frontier {
            for &user in &uses[v] {
                let data = m.op(user);
                if data.name == "onnx.MatMul" && data.operands.first() == Some(&v) {
                    roots.insert(user);
                } else if PASS_THROUGH.contains(&data.name.as_str()) {
                    next.extend(data.results.first().copied());
                }
            }
        }
        frontier = next;
    }
    match (roots.first(), roots.len()) {
        (Some(&root), 1) => Ok(root),
        (None, _) => Err(RootError::NoMatMul),
        (_, n) => Err(RootError::ManyMatMuls(n)),
    }
}

/// The one-element constant value of `v`, if it is one.
pub fn scalar_constant(m: &Module, dialects: &DialectRegistry, v: Value) -> Option<f64> {
    let attr = constant_value(m, dialects, v)?;
    let dense = resolve_dense(m, &attr)?;
    (dense.len() == 1 && dense.ty().elem.is_float()).then(|| dense.get_f64(0))
}

/// Integer constant elements of `v`.
fn int_constant(m: &Module, dialects: &DialectRegistry, v: Value) -> Option<Vec<i64>> {
    let attr = constant_value(m, dialects, v)?;
    let dense = resolve_dense(m, &attr)?;
    dense
        .ty()
        .elem
        .is_int()
        .then(|| (0..dense.len()).map(|i| dense.get_i64(i)).collect())
}

struct Builder<'m> {
    m: &'m Module,
    dialects: &'m DialectRegistry,
    opset: i64,
    probes: &'m Probes,
    eg: AttnGraph,
    memo: BTreeMap<Value, Id>,
    ops: BTreeSet<Op>,
}

/// Build the term of `cand`.
pub fn build_term(
    m: &Module,
    dialects: &DialectRegistry,
    opset: i64,
    probes: &Probes,
    cand: &Candidate,
) -> Term {
    let mut b = Builder {
        m,
        dialects,
        opset,
        probes,
        eg: AttnGraph::new(AttnAnalysis::default()),
        memo: BTreeMap::new(),
        ops: BTreeSet::new(),
    };
    let root = b.value(m.result(cand.root, 0), 0);
    b.eg.rebuild();
    Term {
        egraph: b.eg,
        root,
        ops: b.ops,
    }
}

fn tensor_ty(m: &Module, v: Value) -> Option<&TensorType> {
    m.value_type(v).as_tensor()
}

impl Builder<'_> {
    /// The class of IR value `v`: its leaf, unioned with its op's node when the op is one of
    /// ours and the depth and size limits allow.
    fn value(&mut self, v: Value, depth: usize) -> Id {
        if let Some(&id) = self.memo.get(&v) {
            return id;
        }
        let leaf = self.leaf(v);
        self.memo.insert(v, leaf);
        if depth < MAX_DEPTH && self.memo.len() < MAX_VALUES {
            if let Some(node) = self.op_node(v, depth + 1) {
                self.eg.union(leaf, node);
            }
        }
        leaf
    }

    /// A plain leaf for `v`, never looking through its op.
    fn leaf(&mut self, v: Value) -> Id {
        let index = u32::try_from(self.eg.analysis.leaves.len()).expect("few leaves");
        self.eg.analysis.leaves.push(LeafInfo {
            value: v,
            ty: tensor_ty(self.m, v).cloned(),
            scalar: self.scalar(v),
        });
        self.eg.add(AttnLang::Leaf(LeafRef(index)))
    }

    /// A one-element constant, or a one-element float position function with the same value at
    /// every probe (a scale computed from a static head size: `1/sqrt(Shape(q)[-1])`).
    fn scalar(&self, v: Value) -> Option<f64> {
        if let Some(s) = scalar_constant(self.m, self.dialects, v) {
            return Some(s);
        }
        let t = tensor_ty(self.m, v)?;
        if !t.elem.is_float() || t.num_elements() != Some(1) {
            return None;
        }
        let values = self.probes.eval_all(self.m, self.opset, v)?;
        let first = values.first()?.to_f64_vec();
        (first.len() == 1 && values.iter().all(|t| t.to_f64_vec() == first)).then(|| first[0])
    }

    fn shape_leaf(&mut self, v: Value) -> (Id, LeafRef) {
        let id = match self.memo.get(&v) {
            Some(&id) => id,
            None => {
                let id = self.leaf(v);
                self.memo.insert(v, id);
                id
            }
        };
        let r = self.eg[id]
            .nodes
            .iter()
            .find_map(|n| match n {
                AttnLang::Leaf(r) => Some(*r),
                _ => None,
            })
            .expect("a leaf class holds its leaf");
        (id, r)
    }

    /// The term node of `v`'s defining op, when it is one of ours.
    fn op_node(&mut self, v: Value, depth: usize) -> Option<Id> {
        let op = self.m.defining_op(v)?;
        let data = self.m.op(op);
        let operands = data.operands.clone();
        // Malformed arities (unverified IR) are leaves, never index panics.
        let binary = matches!(
            data.name.as_str(),
            "onnx.MatMul" | "onnx.Mul" | "onnx.Div" | "onnx.Add"
        );
        if operands.is_empty() || (binary && operands.len() != 2) {
            return None;
        }
        let node = match data.name.as_str() {
            "onnx.Identity" => return Some(self.chain(op, operands[0], depth)),
            "onnx.Dropout" if operands.len() < 3 && self.m.result(op, 0) == v => {
                return Some(self.chain(op, operands[0], depth));
            }
            "onnx.MatMul" if !self.is_projection(&operands) => {
                AttnLang::MatMul(self.children2(op, &operands, depth))
            }
            "onnx.Mul" => AttnLang::Mul(self.children2(op, &operands, depth)),
            "onnx.Div" => AttnLang::Div(self.children2(op, &operands, depth)),
            "onnx.Add" => AttnLang::Add(self.children2(op, &operands, depth)),
            "onnx.Reciprocal" => AttnLang::Recip(self.chain(op, operands[0], depth)),
            "onnx.Sqrt" => AttnLang::Sqrt(self.chain(op, operands[0], depth)),
            "onnx.IsNaN" => AttnLang::IsNan(self.chain(op, operands[0], depth)),
            "onnx.Where" if operands.len() == 3 => {
                let c = self.chain(op, operands[0], depth);
                let [x, y] = self.children2(op, &operands[1..], depth);
                AttnLang::Where([c, x, y])
            }
            "onnx.Cast" => {
                let to = self.eg.add(AttnLang::Int(self.int_attr(op, "to")?));
                AttnLang::Cast([self.chain(op, operands[0], depth), to])
            }
            "onnx.Softmax" => {
                let axis = self.eg.add(AttnLang::Int(self.softmax_axis(op)?));
                AttnLang::Softmax([self.chain(op, operands[0], depth), axis])
            }
            "onnx.Transpose" => {
                let perm = self.eg.add(AttnLang::Perm(self.perm(op)?));
                AttnLang::Transpose([self.chain(op, operands[0], depth), perm])
            }
            "onnx.Reshape" | "onnx.Expand" if operands.len() == 2 => {
                return self.shaped(op, v, &operands, depth);
            }
            "onnx.Tile" if operands.len() == 2 && self.tile_is_broadcast(&operands) => {
                return self.shaped(op, v, &operands, depth);
            }
            "onnx.Unsqueeze" => {
                let axis = self.eg.add(AttnLang::Int(self.unsqueeze_axis(op, v)?));
                AttnLang::Unsqueeze([self.chain(op, operands[0], depth), axis])
            }
            _ => return None,
        };
        Some(self.eg.add(node))
    }

    /// Record `op` as part of the chain and build its operand `x`.
    fn chain(&mut self, op: Op, x: Value, depth: usize) -> Id {
        self.ops.insert(op);
        self.value(x, depth)
    }

    fn children2(&mut self, op: Op, operands: &[Value], depth: usize) -> [Id; 2] {
        let a = self.chain(op, operands[0], depth);
        let b = self.chain(op, operands[1], depth);
        [a, b]
    }

    /// Reshape / Expand: the shape operand is a leaf; the result type is recorded so that
    /// rewritten copies of the op know their type too.
    fn shaped(&mut self, op: Op, v: Value, operands: &[Value], depth: usize) -> Option<Id> {
        let input = tensor_ty(self.m, operands[0])?.dims.clone();
        let out = tensor_ty(self.m, v)?.clone();
        let allowzero = self.int_attr(op, "allowzero").unwrap_or(0) != 0;
        let (shape, leaf) = self.shape_leaf(operands[1]);
        // One shape operand on one input type must mean one thing wherever it is copied.
        let known = &self.eg.analysis.shaped;
        if known
            .iter()
            .any(|s| s.shape == leaf && s.input == input && s.allowzero != allowzero)
        {
            return None;
        }
        let x = self.chain(op, operands[0], depth);
        self.eg.analysis.shaped.push(ShapedOut {
            shape: leaf,
            input,
            out,
            allowzero,
        });
        let node = if self.m.op(op).name == "onnx.Reshape" {
            AttnLang::Reshape([x, shape])
        } else {
            AttnLang::Expand([x, shape])
        };
        Some(self.eg.add(node))
    }

    /// A Tile whose repeats are 1 on every axis where its input is not 1 is an Expand by the
    /// repeats (Expand broadcasts both ways): `Tile(Unsqueeze(K, 2), [1, 1, n, 1, 1])` is the
    /// repeat_kv spelling, and so is `Tile(K, [1, n, 1, 1])` for a single kv head.
    fn tile_is_broadcast(&self, operands: &[Value]) -> bool {
        let (Some(t), Some(reps)) = (
            tensor_ty(self.m, operands[0]),
            int_constant(self.m, self.dialects, operands[1]),
        ) else {
            return false;
        };
        reps.len() == t.rank()
            && reps.iter().all(|&r| r >= 1)
            && reps
                .iter()
                .zip(&t.dims)
                .all(|(&r, d)| r == 1 || d.as_static() == Some(1))
    }

    /// A MatMul with a constant operand is a projection: the chain stops there.
    fn is_projection(&self, operands: &[Value]) -> bool {
        operands
            .iter()
            .any(|&x| constant_value(self.m, self.dialects, x).is_some())
    }

    fn int_attr(&self, op: Op, name: &str) -> Option<i64> {
        self.m.op(op).attrs.get(name).and_then(Attribute::as_int)
    }

    /// `-1` when the softmax normalises the last axis, the axis otherwise. Before opset 13
    /// Softmax flattens from `axis` on (default 1): the same only when `axis` is the last.
    fn softmax_axis(&self, op: Op) -> Option<i64> {
        let rank = tensor_ty(self.m, *self.m.op(op).operands.first()?)?.rank();
        let default = if self.opset >= 13 { -1 } else { 1 };
        let axis = normalize_axis(self.int_attr(op, "axis").unwrap_or(default), rank).ok()?;
        Some(if axis + 1 == rank { -1 } else { axis as i64 })
    }

    fn perm(&self, op: Op) -> Option<Perm> {
        let rank = tensor_ty(self.m, *self.m.op(op).operands.first()?)?.rank();
        let perm = match self.m.op(op).attrs.get("perm") {
            Some(a) => a
                .as_int_array()?
                .into_iter()
                .map(|p| usize::try_from(p).ok())
                .collect::<Option<Vec<_>>>()?,
            None => (0..rank).rev().collect(),
        };
        let perm = Perm(perm);
        (perm.0.len() == rank && perm.is_valid()).then_some(perm)
    }

    /// The single axis an Unsqueeze inserts, normalised to the result's rank.
    fn unsqueeze_axis(&self, op: Op, v: Value) -> Option<i64> {
        let data = self.m.op(op);
        let axes = match (data.attrs.get("axes"), data.operands.get(1)) {
            (Some(a), _) => a.as_int_array()?,
            (None, Some(&x)) => int_constant(self.m, self.dialects, x)?,
            (None, None) => return None,
        };
        let out_rank = tensor_ty(self.m, v)?.rank();
        match axes.as_slice() {
            [a] => Some(normalize_axis(*a, out_rank).ok()? as i64),
            _ => None,
        }
    }
}
