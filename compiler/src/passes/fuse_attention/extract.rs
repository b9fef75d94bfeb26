//! Running the bounded e-graph and reading the fused op off it.
//!
//! After saturation (or a limit), one pattern is searched in the root's class:
//!
//! `(matmul (softmax (add (mul (matmul ?q (transpose ?k perm=0,1,3,2)) ?s) ?m) -1) ?v)`
//!
//! Each match is checked (scale is a one-element constant, q/k/v are 4-D with static heads and
//! head sizes that agree, batch and key lengths provably equal, the mask broadcasts to the
//! scores, the GQA repetition factor divides the heads) and the operands are extracted as the
//! cheapest terms — an existing IR value where there is one. Matches whose q/k/v still carry a
//! scale factor rank after those with the scale folded into `?s`. A candidate without an
//! acceptable match gets a reason.

use std::time::Duration;

use egg::{
    CostFunction, Extractor, Id, Language, Pattern, RecExpr, Runner, Searcher, SimpleScheduler,
    StopReason,
};
use sofa_ir::{Dim, TensorType};

use super::analysis::{int_of, is_scalar_factor, same_dim, scalar_of, ty_of, AttnGraph};
use super::build::Term;
use super::lang::AttnLang;
use super::rules::AttnRewrite;

/// The one pattern every spelling is canonicalised to.
pub const MHA_PATTERN: &str =
    "(matmul (softmax (add (mul (matmul ?q (transpose ?k perm=0,1,3,2)) ?s) ?m) -1) ?v)";

/// Bounds of one run: iterations and e-nodes only, never wall-clock time, so the same input
/// stops at the same place (and fuses the same way) on any machine.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Limits {
    pub iterations: usize,
    pub nodes: usize,
}

/// Why a run stopped.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    Saturated,
    IterationLimit,
    NodeLimit,
    Other,
}

impl Stop {
    /// The statistics counter for this stop reason.
    pub fn counter(self) -> &'static str {
        match self {
            Stop::Saturated => "stop-saturated",
            Stop::IterationLimit => "stop-iteration-limit",
            Stop::NodeLimit => "stop-node-limit",
            Stop::Other => "stop-other",
        }
    }
}

/// The e-graph after a run, with its size.
pub struct Saturated {
    pub egraph: AttnGraph,
    pub root: Id,
    pub iterations: usize,
    pub nodes: usize,
    pub classes: usize,
    pub stop: Stop,
}

/// Run `rules` on `term` within `limits`.
pub fn saturate(term: Term, rules: &[AttnRewrite], limits: &Limits) -> Saturated {
    let runner = Runner::default()
        .with_scheduler(SimpleScheduler)
        .with_iter_limit(limits.iterations)
        .with_node_limit(limits.nodes)
        // egg bounds runs by time by default (5 s): lift it, the limits above bound the run.
        .with_time_limit(Duration::MAX)
        .with_egraph(term.egraph)
        .run(rules);
    let stop = match runner.stop_reason {
        Some(StopReason::Saturated) => Stop::Saturated,
        Some(StopReason::IterationLimit(_)) => Stop::IterationLimit,
        Some(StopReason::NodeLimit(_)) => Stop::NodeLimit,
        _ => Stop::Other,
    };
    let egraph = runner.egraph;
    Saturated {
        root: egraph.find(term.root),
        iterations: runner.iterations.len(),
        nodes: egraph.total_number_of_nodes(),
        classes: egraph.number_of_classes(),
        stop,
        egraph,
    }
}

/// Why a candidate is left alone: a category (a statistics counter) and the details.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub kind: &'static str,
    pub detail: String,
}

impl Refusal {
    pub fn new(kind: &'static str, detail: impl Into<String>) -> Refusal {
        Refusal {
            kind,
            detail: detail.into(),
        }
    }
}

/// What the fused op needs, with operands as terms to materialise.
#[derive(Clone, Debug)]
pub struct Plan {
    pub q: RecExpr<AttnLang>,
    pub k: RecExpr<AttnLang>,
    pub v: RecExpr<AttnLang>,
    pub mask: Option<RecExpr<AttnLang>>,
    pub heads: u64,
    pub kv_heads: u64,
    pub head_dim: u64,
    pub scale: f64,
    /// q's type, for checking a detected causal mask against Sq / Sk.
    pub q_ty: TensorType,
    pub k_ty: TensorType,
}

/// The classes one match binds.
#[derive(Copy, Clone, Debug)]
struct Bound {
    q: Id,
    k: Id,
    v: Id,
    m: Id,
    s: Id,
}

/// Extraction costs: existing values are cheapest, new cheap ops next; ops we do not want to
/// recompute outside the fused op are prohibitive.
struct MaterialCost;

impl CostFunction<AttnLang> for MaterialCost {
    type Cost = u64;
    fn cost<C: FnMut(Id) -> u64>(&mut self, enode: &AttnLang, mut costs: C) -> u64 {
        use AttnLang as L;
        let own: u64 = match enode {
            L::Int(_) | L::Perm(_) | L::NoMask => 0,
            L::Leaf(_) => 1,
            L::Num(_) => 2,
            L::Transpose(_) => 10,
            L::Mul(_) | L::Add(_) | L::Div(_) | L::Recip(_) | L::Sqrt(_) | L::Cast(_) => 20,
            L::Unsqueeze(_) | L::Reshape(_) | L::Expand(_) => 30,
            L::MatMul(_) | L::Softmax(_) | L::Where(_) | L::IsNan(_) | L::RepeatKv(_) => 100_000,
        };
        enode.fold(own, |sum, id| sum.saturating_add(costs(id)))
    }
}

/// Ops [`super::rewrite`] can create.
fn materialisable(expr: &RecExpr<AttnLang>) -> bool {
    use AttnLang as L;
    expr.as_ref().iter().all(|n| {
        !matches!(
            n,
            L::MatMul(_) | L::Softmax(_) | L::Where(_) | L::IsNan(_) | L::RepeatKv(_) | L::NoMask
        )
    })
}

/// 1 when the class still carries a (non-unit) scale factor that could have gone into `?s`.
fn carries_scale(eg: &AttnGraph, id: Id) -> u32 {
    let scaled = eg[id].nodes.iter().any(|n| match n {
        AttnLang::Mul([x, c]) => is_scalar_factor(eg, *x, *c) && scalar_of(eg, *c) != Some(1.0),
        _ => false,
    });
    u32::from(scaled)
}

/// Find the best acceptable match in the root class.
pub fn plan(sat: &Saturated) -> Result<Plan, Refusal> {
    let eg = &sat.egraph;
    let pattern: Pattern<AttnLang> = MHA_PATTERN.parse().expect("valid pattern");
    let Some(found) = pattern.search_eclass(eg, sat.root) else {
        return Err(diagnose(eg, sat.root));
    };
    let var = |n: &str| n.parse().expect("valid variable");
    let (vq, vk, vv, vm, vs) = (var("?q"), var("?k"), var("?v"), var("?m"), var("?s"));
    let extractor = Extractor::new(eg, MaterialCost);
    let mut best: Option<((u32, u64), Plan)> = None;
    let mut first_refusal = None;
    for subst in &found.substs {
        let b = Bound {
            q: subst[vq],
            k: subst[vk],
            v: subst[vv],
            m: subst[vm],
            s: subst[vs],
        };
        match check(eg, &extractor, b) {
            Ok((cost, plan)) => {
                let rank = (
                    carries_scale(eg, b.q) + carries_scale(eg, b.k) + carries_scale(eg, b.v),
                    cost,
                );
                if best.as_ref().is_none_or(|(r, _)| rank < *r) {
                    best = Some((rank, plan));
                }
            }
            Err(r) => {
                first_refusal.get_or_insert(r);
            }
        }
    }
    match best {
        Some((_, plan)) => Ok(plan),
        None => Err(first_refusal.unwrap_or_else(|| diagnose(eg, sat.root))),
    }
}

/// Why the pattern does not match: the longest prefix of it that does.
fn diagnose(eg: &AttnGraph, root: Id) -> Refusal {
    let has = |p: &str| {
        let p: Pattern<AttnLang> = p.parse().expect("valid pattern");
        p.search_eclass(eg, root).is_some()
    };
    if !has("(matmul (softmax ?x ?axis) ?v)") {
        Refusal::new(
            "unfused-softmax-consumer",
            "the softmax reaches the MatMul through ops not provably no-ops",
        )
    } else if !has("(matmul (softmax ?x -1) ?v)") {
        Refusal::new(
            "unfused-softmax-axis",
            "the softmax is not over the last axis",
        )
    } else if !has("(matmul (softmax (add (mul (matmul ?q ?kt) ?s) ?m) -1) ?v)") {
        Refusal::new(
            "unfused-scores",
            "the scores are not a scaled MatMul plus an optional mask",
        )
    } else {
        Refusal::new(
            "unfused-scores",
            "the scores are not Q·Kᵀ of 4-D Q, K with Kᵀ swapping K's last two axes",
        )
    }
}

/// The `x` and factor `n` when class `id` holds a `(repeat_kv x n)`.
fn repeated(eg: &AttnGraph, id: Id) -> Option<(Id, i64)> {
    eg[id].nodes.iter().find_map(|n| match n {
        AttnLang::RepeatKv([x, n]) => Some((*x, int_of(eg, *n)?)),
        _ => None,
    })
}

fn ty4<'a>(eg: &'a AttnGraph, id: Id, what: &str) -> Result<&'a TensorType, Refusal> {
    match ty_of(eg, id) {
        Some(t) if t.rank() == 4 && t.elem.is_float() => Ok(t),
        _ => Err(Refusal::new(
            "unfused-shapes",
            format!("{what} is not a 4-D float tensor of known type"),
        )),
    }
}

fn static_dim(t: &TensorType, i: usize, what: &str) -> Result<u64, Refusal> {
    t.dims[i]
        .as_static()
        .ok_or_else(|| Refusal::new("unfused-shapes", format!("{what} (dim #{i}) is not static")))
}

fn shapes_err(detail: String) -> Refusal {
    Refusal::new("unfused-shapes", detail)
}

/// Check one match; the plan and its extraction cost.
fn check(
    eg: &AttnGraph,
    ex: &Extractor<MaterialCost, AttnLang, super::analysis::AttnAnalysis>,
    b: Bound,
) -> Result<(u64, Plan), Refusal> {
    let scale = scalar_of(eg, b.s)
        .filter(|_| is_scalar_factor(eg, b.q, b.s))
        .filter(|s| s.is_finite())
        .ok_or_else(|| Refusal::new("unfused-scale", "the scale is not a one-element constant"))?;
    // GQA: take the un-repeated K and V when both repeat their heads by the same factor.
    let (k, v, peeled) = match (repeated(eg, b.k), repeated(eg, b.v)) {
        (Some((k, n)), Some((v, m))) if n == m => (k, v, true),
        _ => (b.k, b.v, false),
    };
    let (qt, kt, vt) = (ty4(eg, b.q, "Q")?, ty4(eg, k, "K")?, ty4(eg, v, "V")?);
    if kt.elem != qt.elem || vt.elem != qt.elem {
        return Err(shapes_err("Q, K and V element types differ".into()));
    }
    let heads = static_dim(qt, 1, "Q's head count")?;
    let head_dim = static_dim(qt, 3, "Q's head size")?;
    let kv_heads = static_dim(kt, 1, "K's head count")?;
    if static_dim(kt, 3, "K's head size")? != head_dim {
        return Err(shapes_err(format!(
            "head sizes of Q ({head_dim}) and K ({}) differ",
            kt.dims[3].as_static().unwrap_or(0)
        )));
    }
    if static_dim(vt, 1, "V's head count")? != kv_heads {
        return Err(shapes_err("K and V have different head counts".into()));
    }
    if kv_heads == 0 || heads % kv_heads != 0 {
        return Err(shapes_err(format!(
            "{kv_heads} kv heads do not divide {heads} heads"
        )));
    }
    // Without an explicit repetition, K and V reach every query head by MatMul broadcasting,
    // which only works for 1 or H heads; with one, the repeated K must have H heads.
    let repeated_heads = ty_of(eg, b.k).and_then(|t| t.dims.get(1)?.as_static());
    let heads_ok = if peeled {
        repeated_heads == Some(heads)
    } else {
        kv_heads == 1 || kv_heads == heads
    };
    if !heads_ok {
        return Err(shapes_err(format!(
            "K's {kv_heads} heads do not map onto Q's {heads} heads"
        )));
    }
    if !(same_dim(&qt.dims[0], &kt.dims[0]) && same_dim(&qt.dims[0], &vt.dims[0])) {
        return Err(shapes_err(
            "batch dims of Q, K, V are not provably equal".into(),
        ));
    }
    if !same_dim(&kt.dims[2], &vt.dims[2]) {
        return Err(shapes_err(
            "key lengths of K and V are not provably equal".into(),
        ));
    }
    let mask = mask_term(eg, b.m, qt, kt, heads)?;
    let mut cost = 0;
    let mut term = |id: Id, what: &str| -> Result<RecExpr<AttnLang>, Refusal> {
        let (c, e) = ex.find_best(id);
        if !materialisable(&e) {
            return Err(Refusal::new(
                "unfused-operand",
                format!("{what} has no form that can be computed outside the fused op"),
            ));
        }
        cost += c;
        Ok(e)
    };
    let plan = Plan {
        q: term(b.q, "Q")?,
        k: term(k, "K")?,
        v: term(v, "V")?,
        mask: match mask {
            Some(m) => Some(term(m, "the mask")?),
            None => None,
        },
        heads,
        kv_heads,
        head_dim,
        scale,
        q_ty: qt.clone(),
        k_ty: kt.clone(),
    };
    Ok((cost, plan))
}

/// The mask class (`None` for `nomask`), checked to broadcast to `[B, H, Sq, Sk]` without
/// widening the scores.
fn mask_term(
    eg: &AttnGraph,
    m: Id,
    qt: &TensorType,
    kt: &TensorType,
    heads: u64,
) -> Result<Option<Id>, Refusal> {
    if eg[m].nodes.iter().any(|n| matches!(n, AttnLang::NoMask)) {
        return Ok(None);
    }
    let refuse = |d: &str| Refusal::new("unfused-mask", d.to_string());
    let mt = ty_of(eg, m).ok_or_else(|| refuse("the mask's type is unknown"))?;
    if mt.elem != qt.elem || mt.rank() > 4 {
        return Err(refuse(
            "the mask is not a float tensor of Q's type with rank <= 4",
        ));
    }
    let target = [
        qt.dims[0].clone(),
        Dim::Static(heads),
        qt.dims[2].clone(),
        kt.dims[2].clone(),
    ];
    let offset = 4 - mt.rank();
    let fits = mt
        .dims
        .iter()
        .enumerate()
        .all(|(i, d)| d.as_static() == Some(1) || same_dim(d, &target[offset + i]));
    if !fits {
        return Err(refuse(
            "the mask does not provably broadcast to [batch, heads, query, key]",
        ));
    }
    Ok(Some(m))
}
