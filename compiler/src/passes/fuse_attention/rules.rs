//! The canonicalising rewrites. Together they bring every exporter's spelling of attention to
//!
//! `(matmul (softmax (add (mul (matmul Q (transpose K perm=0,1,3,2)) s) M) -1) V)`
//!
//! which the single pattern in [`super::extract`] matches. Every rule is sound for all inputs
//! its guard admits (the guards read [`super::analysis`]); none is merely "usually" true:
//! - scale motion: a one-element constant factor moves out of either MatMul operand and out of
//!   a Transpose, split factors merge, Div by a constant becomes Mul by its reciprocal;
//! - unit scale / no mask: `x ≡ x·1` on MatMul results and `x ≡ x + nomask`, so that unscaled
//!   (T5) and unmasked (ViT) scores have the canonical shape too;
//! - Add is commutative and associative (masks and biases may be added in any order);
//! - transposes compose, identity transposes vanish, and any transpose splits into one that
//!   ends with a swap of the last two axes (so `Kᵀ` is visible however the head split was
//!   permuted);
//! - a Cast to the type the value already has is dropped;
//! - the NaN guard `Where(IsNaN(P), 0, P)` is `P` when P is a softmax (softmax here has
//!   FlashAttention semantics, see [`super::lang`]);
//! - `Reshape(Expand(Unsqueeze(K, 2)))` that repeats each of Hkv heads n times is
//!   `(repeat_kv K n)`, and so is `Expand` of a single-head K to n heads (a Tile that only
//!   broadcasts size-1 axes enters the term as that Expand; `Concat([K; n], 1)` of a single
//!   head enters it as the repeat);
//! - `Reshape(Transpose(Reshape(K, [-1, S, D]), [0, 2, 1]), [B, H, D, S])` (torchlib's SDPA
//!   spelling of Kᵀ for any rank) is `Transpose(K, [0, 1, 3, 2])`.

use egg::{rewrite, Applier, Id, PatternAst, Rewrite, Subst, Symbol, Var};

use super::analysis::{
    int_of, is_scalar_factor, perm_of, same_dim, scalar_of, ty_of, AttnAnalysis, AttnGraph,
};
use super::lang::{AttnLang, Perm, Scalar};
use sofa_ir::dialect::onnx::infer::elem_from_onnx;
use sofa_ir::Dim;

/// A rewrite of this pass.
pub type AttnRewrite = Rewrite<AttnLang, AttnAnalysis>;

fn var(name: &str) -> Var {
    name.parse().expect("valid pattern variable")
}

fn get(subst: &Subst, name: &str) -> Id {
    subst[var(name)]
}

/// An applier computing its right-hand side in code; `None` means "nothing to add".
struct Computed {
    build: fn(&mut AttnGraph, Id, &Subst) -> Option<Id>,
}

impl Applier<AttnLang, AttnAnalysis> for Computed {
    fn apply_one(
        &self,
        eg: &mut AttnGraph,
        eclass: Id,
        subst: &Subst,
        _ast: Option<&PatternAst<AttnLang>>,
        _rule: Symbol,
    ) -> Vec<Id> {
        match (self.build)(eg, eclass, subst) {
            Some(new) if eg.union(eclass, new) => vec![eclass],
            _ => Vec::new(),
        }
    }
}

fn computed(build: fn(&mut AttnGraph, Id, &Subst) -> Option<Id>) -> Computed {
    Computed { build }
}

/// Guard: `?s` is a scalar factor of `?x`.
fn scalar_factor(x: &'static str, s: &'static str) -> impl Fn(&mut AttnGraph, Id, &Subst) -> bool {
    move |eg, _, subst| is_scalar_factor(eg, get(subst, x), get(subst, s))
}

/// Every rule, in a fixed order (the runner is deterministic).
pub fn rules() -> Vec<AttnRewrite> {
    let mut r = scale_rules();
    r.extend(structure_rules());
    r
}

fn scale_rules() -> Vec<AttnRewrite> {
    vec![
        rewrite!("div-to-mul-recip"; "(div ?x ?c)" => "(mul ?x (recip ?c))"
            if scalar_factor("?x", "?c")
            if |eg: &mut AttnGraph, _, s: &Subst| scalar_of(eg, get(s, "?c")) != Some(0.0)),
        rewrite!("mul-constant-right"; "(mul ?c ?x)" => "(mul ?x ?c)"
            if scalar_factor("?x", "?c")),
        rewrite!("scale-out-of-matmul-lhs"; "(matmul (mul ?a ?s) ?b)" => "(mul (matmul ?a ?b) ?s)"
            if scalar_factor("?a", "?s")),
        rewrite!("scale-out-of-matmul-rhs"; "(matmul ?a (mul ?b ?s))" => "(mul (matmul ?a ?b) ?s)"
            if scalar_factor("?b", "?s")),
        rewrite!("scale-out-of-reshape"; "(reshape (mul ?x ?s) ?shape)" => "(mul (reshape ?x ?shape) ?s)"
            if scalar_factor("?x", "?s")
            if |eg: &mut AttnGraph, id: Id, s: &Subst| is_scalar_factor(eg, id, get(s, "?s"))),
        rewrite!("scale-out-of-transpose"; "(transpose (mul ?x ?s) ?p)" => "(mul (transpose ?x ?p) ?s)"
            if scalar_factor("?x", "?s")),
        rewrite!("merge-scales"; "(mul (mul ?x ?s1) ?s2)" => { computed(merge_scales) }
            if scalar_factor("?x", "?s1")
            if scalar_factor("?x", "?s2")),
        rewrite!("mul-one"; "(mul ?x ?one)" => "?x"
            if scalar_factor("?x", "?one")
            if |eg: &mut AttnGraph, _, s: &Subst| scalar_of(eg, get(s, "?one")) == Some(1.0)),
        rewrite!("unit-scale"; "(matmul ?a ?b)" => "(mul (matmul ?a ?b) 1f)"
            if |eg: &mut AttnGraph, id: Id, _: &Subst| ty_of(eg, id).is_some_and(|t| t.rank() >= 2)),
    ]
}

fn structure_rules() -> Vec<AttnRewrite> {
    vec![
        rewrite!("no-mask"; "(softmax ?x ?axis)" => "(softmax (add ?x nomask) ?axis)"),
        rewrite!("add-nomask"; "(add ?x nomask)" => "?x"),
        rewrite!("add-commute"; "(add ?a ?b)" => "(add ?b ?a)"),
        rewrite!("add-associate"; "(add (add ?x ?a) ?b)" => "(add ?x (add ?a ?b))"),
        rewrite!("cast-noop"; "(cast ?x ?to)" => "?x" if cast_is_noop),
        rewrite!("nan-guard"; "(where (isnan ?p) ?zero ?p)" => "?p" if nan_guard_is_noop),
        rewrite!("transpose-identity"; "(transpose ?x ?p)" => "?x"
            if |eg: &mut AttnGraph, _, s: &Subst| perm_of(eg, get(s, "?p")).is_some_and(|p| p.is_identity())),
        rewrite!("transpose-compose"; "(transpose (transpose ?x ?p1) ?p2)" => { computed(compose_transposes) }),
        rewrite!("transpose-split-last-swap"; "(transpose ?x ?p)" => { computed(split_last_swap) }),
        rewrite!("repeat-kv"; "(reshape ?e ?shape)" => { computed(repeat_kv) }),
        rewrite!("repeat-single-kv"; "(expand ?x ?shape)" => { computed(repeat_single_kv) }),
        rewrite!("flattened-swap"; "(reshape ?t ?shape)" => { computed(flattened_swap) }),
    ]
}

/// `x·s1·s2` → `x·(s1·s2)` with the product folded into one constant.
fn merge_scales(eg: &mut AttnGraph, _: Id, s: &Subst) -> Option<Id> {
    let product = scalar_of(eg, get(s, "?s1"))? * scalar_of(eg, get(s, "?s2"))?;
    if !product.is_finite() {
        return None;
    }
    let c = eg.add(AttnLang::Num(Scalar::new(product)));
    Some(eg.add(AttnLang::Mul([get(s, "?x"), c])))
}

fn cast_is_noop(eg: &mut AttnGraph, _: Id, s: &Subst) -> bool {
    let to = int_of(eg, get(s, "?to")).and_then(elem_from_onnx);
    ty_of(eg, get(s, "?x")).is_some_and(|t| Some(t.elem) == to)
}

/// `Where(IsNaN(P), 0, P)` with P a softmax: the guard only replaces NaN rows (all −inf
/// scores) by 0, which is what softmax means here; the Where must not broadcast P.
fn nan_guard_is_noop(eg: &mut AttnGraph, id: Id, s: &Subst) -> bool {
    let (p, zero) = (get(s, "?p"), get(s, "?zero"));
    let is_softmax = eg[p]
        .nodes
        .iter()
        .any(|n| matches!(n, AttnLang::Softmax(_)));
    let same_shape = match (ty_of(eg, id), ty_of(eg, p)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    };
    is_softmax && same_shape && scalar_of(eg, zero) == Some(0.0) && is_scalar_factor(eg, p, zero)
}

fn compose_transposes(eg: &mut AttnGraph, _: Id, s: &Subst) -> Option<Id> {
    let p1 = perm_of(eg, get(s, "?p1"))?;
    let p2 = perm_of(eg, get(s, "?p2"))?;
    if p1.0.len() != p2.0.len() {
        return None;
    }
    let x = get(s, "?x");
    let p = p1.then(&p2);
    if p.is_identity() {
        return Some(x);
    }
    let p = eg.add(AttnLang::Perm(p));
    Some(eg.add(AttnLang::Transpose([x, p])))
}

/// `transpose(x, p)` = `transpose(transpose(x, p·swap), swap)` with swap = last two axes.
fn split_last_swap(eg: &mut AttnGraph, _: Id, s: &Subst) -> Option<Id> {
    let p = perm_of(eg, get(s, "?p"))?;
    let rank = p.0.len();
    let swap = Perm::swap_last_two(rank);
    if rank < 2 || p == swap || !p.is_valid() {
        return None;
    }
    let x = get(s, "?x");
    let inner_perm = p.then(&swap);
    let inner = if inner_perm.is_identity() {
        x
    } else {
        let ip = eg.add(AttnLang::Perm(inner_perm));
        eg.add(AttnLang::Transpose([x, ip]))
    };
    let sp = eg.add(AttnLang::Perm(swap));
    Some(eg.add(AttnLang::Transpose([inner, sp])))
}

/// `Reshape(Expand(Unsqueeze(x, 2), [B, Hkv, n, S, D]), [B, Hkv·n, S, D])` with
/// x = `[B, Hkv, S, D]`: each kv head repeated n times, head h reading ⌊h/n⌋. Every dim but
/// the repeated one must provably stay what it was in x.
fn repeat_kv(eg: &mut AttnGraph, eclass: Id, s: &Subst) -> Option<Id> {
    let out = ty_of(eg, eclass)?.clone();
    let e = get(s, "?e");
    let five = ty_of(eg, e)?.clone();
    let x = unsqueezed_at_2(eg, e)?;
    let xt = ty_of(eg, x)?.clone();
    if xt.rank() != 4 || five.rank() != 5 || out.rank() != 4 {
        return None;
    }
    let hkv = xt.dims[1].as_static()?;
    let n = five.dims[2].as_static()?;
    let keeps = |a: &[usize], b: &[usize], t: &[Dim]| {
        a.iter().zip(b).all(|(&i, &j)| same_dim(&t[i], &xt.dims[j]))
    };
    let ok = n >= 1
        && keeps(&[0, 1, 3, 4], &[0, 1, 2, 3], &five.dims)
        && keeps(&[0, 2, 3], &[0, 2, 3], &out.dims)
        && out.dims[1].as_static() == hkv.checked_mul(n);
    if !ok {
        return None;
    }
    let n = eg.add(AttnLang::Int(i64::try_from(n).ok()?));
    Some(eg.add(AttnLang::RepeatKv([x, n])))
}

/// `Expand(x, shape)` of a single-head x = `[B, 1, S, D]` to `[B, n, S, D]`: every query head
/// reads head 0, which is `(repeat_kv x n)` (multi-query attention).
fn repeat_single_kv(eg: &mut AttnGraph, eclass: Id, s: &Subst) -> Option<Id> {
    let out = ty_of(eg, eclass)?.clone();
    let x = get(s, "?x");
    let xt = ty_of(eg, x)?.clone();
    if xt.rank() != 4 || out.rank() != 4 || xt.dims[1].as_static() != Some(1) {
        return None;
    }
    let n = out.dims[1].as_static()?;
    let keeps = [0, 2, 3]
        .iter()
        .all(|&i| same_dim(&out.dims[i], &xt.dims[i]));
    if !keeps || n < 2 {
        return None;
    }
    let n = eg.add(AttnLang::Int(i64::try_from(n).ok()?));
    Some(eg.add(AttnLang::RepeatKv([x, n])))
}

/// `Reshape(Transpose(Reshape(k, [N, S, D]), [0, 2, 1]), [B, H, D, S])` with k = `[B, H, S, D]`:
/// the batch and head dims are flattened (N = B·H, forced by the element count once S and D
/// provably stay), the last two swapped, and the dims restored — i.e. `Transpose(k, [0,1,3,2])`.
fn flattened_swap(eg: &mut AttnGraph, eclass: Id, s: &Subst) -> Option<Id> {
    let out = ty_of(eg, eclass)?.clone();
    let t = get(s, "?t");
    let (inner, k) = eg[t].nodes.iter().find_map(|n| match n {
        AttnLang::Transpose([r, p]) if perm_of(eg, *p) == Some(Perm(vec![0, 2, 1])) => {
            let k = eg[*r].nodes.iter().find_map(|m| match m {
                AttnLang::Reshape([k, _]) => Some(*k),
                _ => None,
            })?;
            Some((*r, k))
        }
        _ => None,
    })?;
    let (kt, it) = (ty_of(eg, k)?.clone(), ty_of(eg, inner)?.clone());
    if kt.rank() != 4 || it.rank() != 3 || out.rank() != 4 {
        return None;
    }
    let same = |a: &Dim, b: &Dim| same_dim(a, b);
    let ok = same(&it.dims[1], &kt.dims[2])
        && same(&it.dims[2], &kt.dims[3])
        && same(&out.dims[0], &kt.dims[0])
        && same(&out.dims[1], &kt.dims[1])
        && same(&out.dims[2], &kt.dims[3])
        && same(&out.dims[3], &kt.dims[2]);
    if !ok {
        return None;
    }
    let swap = eg.add(AttnLang::Perm(Perm::swap_last_two(4)));
    Some(eg.add(AttnLang::Transpose([k, swap])))
}

/// The `x` of an `(unsqueeze x 2)` feeding an `(expand _ _)` in class `e`.
fn unsqueezed_at_2(eg: &AttnGraph, e: Id) -> Option<Id> {
    eg[e].nodes.iter().find_map(|n| match n {
        AttnLang::Expand([u, _]) => eg[*u].nodes.iter().find_map(|m| match m {
            AttnLang::Unsqueeze([x, axis]) if int_of(eg, *axis) == Some(2) => Some(*x),
            _ => None,
        }),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passes::fuse_attention::analysis::{LeafInfo, ShapedOut};
    use crate::passes::fuse_attention::lang::LeafRef;
    use egg::Runner;
    use sofa_ir::{ElemType, EntityRef, TensorType, Value};

    fn ty(d: Vec<Dim>) -> TensorType {
        TensorType::new(d, ElemType::F32)
    }

    /// `reshape(expand(unsqueeze(x, 2), s5), s4)` with the given expand/reshape result dims.
    fn repeat_graph(five: Vec<Dim>, four: Vec<Dim>) -> (AttnGraph, Id) {
        let s = |n: u64| Dim::Static(n);
        let seq = || Dim::Named("seq".into());
        let x = ty(vec![s(1), s(2), seq(), s(8)]);
        let leaf = |t: Option<TensorType>| LeafInfo {
            value: Value::new(0),
            ty: t,
            scalar: None,
        };
        let mut unsq = x.dims.clone();
        unsq.insert(2, s(1));
        let analysis = AttnAnalysis {
            leaves: vec![leaf(Some(x.clone())), leaf(None), leaf(None)],
            shaped: vec![
                ShapedOut {
                    shape: LeafRef(1),
                    input: unsq,
                    out: ty(five.clone()),
                    allowzero: false,
                },
                ShapedOut {
                    shape: LeafRef(2),
                    input: five,
                    out: ty(four),
                    allowzero: false,
                },
            ],
        };
        let mut eg = AttnGraph::new(analysis);
        let expr = "(reshape (expand (unsqueeze v0 2) v1) v2)".parse().unwrap();
        let root = eg.add_expr(&expr);
        eg.rebuild();
        (eg, root)
    }

    fn has_repeat(five: Vec<Dim>, four: Vec<Dim>) -> bool {
        let (eg, root) = repeat_graph(five, four);
        let runner = Runner::default().with_egraph(eg).run(&rules());
        let root = runner.egraph.find(root);
        runner.egraph[root]
            .nodes
            .iter()
            .any(|n| matches!(n, AttnLang::RepeatKv(_)))
    }

    #[test]
    fn repeat_kv_only_when_every_other_dim_provably_stays() {
        let s = |n: u64| Dim::Static(n);
        let seq = || Dim::Named("seq".into());
        assert!(has_repeat(
            vec![s(1), s(2), s(4), seq(), s(8)],
            vec![s(1), s(8), seq(), s(8)]
        ));
        // An unknown key length after the Expand could be a broadcast of something else.
        assert!(!has_repeat(
            vec![s(1), s(2), s(4), Dim::Dynamic, s(8)],
            vec![s(1), s(8), seq(), s(8)]
        ));
        // Heads merged the wrong way round (2·4 ≠ 6).
        assert!(!has_repeat(
            vec![s(1), s(2), s(4), seq(), s(8)],
            vec![s(1), s(6), seq(), s(8)]
        ));
    }
}
