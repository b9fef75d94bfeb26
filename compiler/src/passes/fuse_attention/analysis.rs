//! The e-class analysis: the tensor type and scalar constant value of every e-class.
//!
//! Rules are guarded by this data (glenside style): a scale may move through a MatMul only when
//! it is a one-element constant whose broadcast cannot change the other operand's shape, a Cast
//! is dropped only when it converts to the type the value already has, the GQA rewrite checks
//! every dim of the Unsqueeze/Expand/Reshape chain. Types of values that exist in the IR come
//! from the IR (their class holds a `Leaf`); nodes created by rules get their type computed
//! here from their children. Scalar constants fold through `mul`, `div`, `add`, `recip` and
//! `sqrt`, and a class with a known scalar gets a `Num` node (egg's constant-folding idiom).

use egg::{Analysis, DidMerge, EGraph, Id};
use sofa_ir::dialect::onnx::infer::elem_from_onnx;
use sofa_ir::dialect::onnx::shape::{broadcast_shapes, unify_dim};
use sofa_ir::{Dim, ElemType, TensorType, Value};

use super::lang::{AttnLang, LeafRef, Perm, Scalar};

/// What the term knows about an outside IR value.
#[derive(Clone, Debug, PartialEq)]
pub struct LeafInfo {
    pub value: Value,
    pub ty: Option<TensorType>,
    /// The value when it is a one-element constant.
    pub scalar: Option<f64>,
}

/// Per-class data.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ClassData {
    /// Shape and element type of the class's value; `None` for attribute leaves and unknowns.
    pub ty: Option<TensorType>,
    /// The value when the class is a one-element constant.
    pub scalar: Option<f64>,
}

/// The result type of one IR Reshape/Expand: its shape operand (a leaf) applied to an input of
/// these dims gives `out`. Reshapes and Expands that rules create (e.g. with a scale factor
/// moved out of their input) look their type up here, since the shape operand is a runtime
/// value the analysis cannot read.
#[derive(Clone, Debug, PartialEq)]
pub struct ShapedOut {
    pub shape: LeafRef,
    pub input: Vec<Dim>,
    pub out: TensorType,
    /// The Reshape's `allowzero`: a 0 in the shape is a zero-sized dim, not a copied one.
    /// Copies of the op keep it, so that they mean what the original meant.
    pub allowzero: bool,
}

/// The analysis; it owns the candidate's leaf table.
#[derive(Clone, Debug, Default)]
pub struct AttnAnalysis {
    pub leaves: Vec<LeafInfo>,
    pub shaped: Vec<ShapedOut>,
}

/// The e-graph type of this pass.
pub type AttnGraph = EGraph<AttnLang, AttnAnalysis>;

/// Two dims that are equal at run time whatever the inputs: equal static sizes or one name.
pub fn same_dim(a: &Dim, b: &Dim) -> bool {
    match (a, b) {
        (Dim::Static(x), Dim::Static(y)) => x == y,
        (Dim::Named(x), Dim::Named(y)) => x == y,
        _ => false,
    }
}

/// The type of class `id`.
pub fn ty_of(eg: &AttnGraph, id: Id) -> Option<&TensorType> {
    eg[id].data.ty.as_ref()
}

/// The scalar value of class `id`.
pub fn scalar_of(eg: &AttnGraph, id: Id) -> Option<f64> {
    eg[id].data.scalar
}

/// The integer leaf in class `id`, if any.
pub fn int_of(eg: &AttnGraph, id: Id) -> Option<i64> {
    eg[id].nodes.iter().find_map(|n| match n {
        AttnLang::Int(i) => Some(*i),
        _ => None,
    })
}

/// The permutation leaf in class `id`, if any.
pub fn perm_of(eg: &AttnGraph, id: Id) -> Option<Perm> {
    eg[id].nodes.iter().find_map(|n| match n {
        AttnLang::Perm(p) => Some(p.clone()),
        _ => None,
    })
}

/// `s` is a one-element constant whose broadcast against `x` leaves `x`'s shape unchanged
/// (its rank is not larger), so `x * s` may be reassociated freely.
pub fn is_scalar_factor(eg: &AttnGraph, x: Id, s: Id) -> bool {
    let (Some(_), Some(ts)) = (scalar_of(eg, s), ty_of(eg, s)) else {
        return false;
    };
    let all_ones = ts.dims.iter().all(|d| d.as_static() == Some(1));
    all_ones && ty_of(eg, x).is_some_and(|tx| ts.rank() <= tx.rank())
}

/// Numpy broadcasting of two types; the element type is the first one's.
pub fn broadcast_result(a: &TensorType, b: &TensorType) -> Option<TensorType> {
    let dims = broadcast_shapes(&a.dims, &b.dims).ok()?;
    Some(TensorType::new(dims, a.elem))
}

/// Numpy matmul for operands of rank ≥ 2 (batch dims broadcast).
pub fn matmul_result(a: &TensorType, b: &TensorType) -> Option<TensorType> {
    if a.rank() < 2 || b.rank() < 2 {
        return None;
    }
    let (ab, am) = a.dims.split_at(a.rank() - 2);
    let (bb, bm) = b.dims.split_at(b.rank() - 2);
    unify_dim(&am[1], &bm[0]).ok()?;
    let mut dims = broadcast_shapes(ab, bb).ok()?;
    dims.push(am[0].clone());
    dims.push(bm[1].clone());
    Some(TensorType::new(dims, a.elem))
}

pub fn transpose_result(t: &TensorType, p: &Perm) -> Option<TensorType> {
    (p.0.len() == t.rank() && p.is_valid())
        .then(|| TensorType::new(p.0.iter().map(|&i| t.dims[i].clone()).collect(), t.elem))
}

pub fn unsqueeze_result(t: &TensorType, axis: i64) -> Option<TensorType> {
    let axis = usize::try_from(axis).ok()?;
    (axis <= t.rank()).then(|| {
        let mut dims = t.dims.clone();
        dims.insert(axis, Dim::Static(1));
        TensorType::new(dims, t.elem)
    })
}

/// The recorded result type of a Reshape/Expand by shape operand `shape` of an input `t`.
pub fn shaped_result<'t>(
    table: &'t [ShapedOut],
    shape: LeafRef,
    t: &TensorType,
) -> Option<&'t ShapedOut> {
    table
        .iter()
        .find(|s| s.shape == shape && s.input == t.dims && s.out.elem == t.elem)
}

fn binary_ty(eg: &AttnGraph, a: Id, b: Id) -> Option<TensorType> {
    broadcast_result(ty_of(eg, a)?, ty_of(eg, b)?)
}

fn binary_scalar(eg: &AttnGraph, a: Id, b: Id, f: fn(f64, f64) -> f64) -> Option<f64> {
    Some(f(scalar_of(eg, a)?, scalar_of(eg, b)?))
}

fn repeat_kv_ty(eg: &AttnGraph, x: Id, n: Id) -> Option<TensorType> {
    let t = ty_of(eg, x)?;
    let n = u64::try_from(int_of(eg, n)?).ok()?;
    let heads = t.dims.get(1)?.as_static()?.checked_mul(n)?;
    let mut dims = t.dims.clone();
    dims[1] = Dim::Static(heads);
    Some(TensorType::new(dims, t.elem))
}

/// The recorded type of a Reshape/Expand by shape operand `shape` of an input like `x`.
fn shaped_ty(eg: &AttnGraph, x: Id, shape: Id) -> Option<TensorType> {
    let leaf = eg[shape].nodes.iter().find_map(|n| match n {
        AttnLang::Leaf(r) => Some(*r),
        _ => None,
    })?;
    shaped_result(&eg.analysis.shaped, leaf, ty_of(eg, x)?).map(|s| s.out.clone())
}

fn ty2(
    eg: &AttnGraph,
    a: Id,
    b: Id,
    f: fn(&TensorType, &TensorType) -> Option<TensorType>,
) -> Option<TensorType> {
    f(ty_of(eg, a)?, ty_of(eg, b)?)
}

fn make_data(eg: &AttnGraph, node: &AttnLang) -> ClassData {
    use AttnLang as L;
    let same = |id: Id| ty_of(eg, id).cloned();
    let (ty, scalar) = match node {
        L::Leaf(r) => match eg.analysis.leaves.get(r.index()) {
            Some(info) => (info.ty.clone(), info.scalar),
            None => (None, None),
        },
        L::Num(s) => (
            Some(TensorType::new(Vec::new(), ElemType::F32)),
            Some(s.value()),
        ),
        L::Int(_) | L::Perm(_) => (None, None),
        L::NoMask => (None, None),
        L::MatMul([a, b]) => (ty2(eg, *a, *b, matmul_result), None),
        L::Mul([a, b]) => (
            binary_ty(eg, *a, *b),
            binary_scalar(eg, *a, *b, |x, y| x * y),
        ),
        L::Div([a, b]) => (
            binary_ty(eg, *a, *b),
            binary_scalar(eg, *a, *b, |x, y| x / y),
        ),
        L::Add([a, b]) if matches!(eg[*b].nodes.as_slice(), [L::NoMask]) => {
            (same(*a), scalar_of(eg, *a))
        }
        L::Add([a, b]) => (
            binary_ty(eg, *a, *b),
            binary_scalar(eg, *a, *b, |x, y| x + y),
        ),
        L::Recip(a) => (same(*a), scalar_of(eg, *a).map(|x| 1.0 / x)),
        L::Sqrt(a) => (same(*a), scalar_of(eg, *a).map(f64::sqrt)),
        L::IsNan(a) => (
            same(*a).map(|t| TensorType::new(t.dims, ElemType::I1)),
            None,
        ),
        L::Where([c, x, y]) => {
            let ty = (|| {
                let xy = binary_ty(eg, *x, *y)?;
                let dims = broadcast_shapes(&ty_of(eg, *c)?.dims, &xy.dims).ok()?;
                Some(TensorType::new(dims, xy.elem))
            })();
            (ty, None)
        }
        L::Cast([x, to]) => {
            let elem = int_of(eg, *to).and_then(elem_from_onnx);
            (
                same(*x).zip(elem).map(|(t, e)| TensorType::new(t.dims, e)),
                None,
            )
        }
        L::Softmax([x, _]) => (same(*x), None),
        L::Transpose([x, p]) => (
            ty_of(eg, *x)
                .zip(perm_of(eg, *p))
                .and_then(|(t, p)| transpose_result(t, &p)),
            None,
        ),
        L::Unsqueeze([x, axis]) => (
            ty_of(eg, *x)
                .zip(int_of(eg, *axis))
                .and_then(|(t, a)| unsqueeze_result(t, a)),
            None,
        ),
        L::RepeatKv([x, n]) => (repeat_kv_ty(eg, *x, *n), None),
        L::Reshape([x, shape]) | L::Expand([x, shape]) => (shaped_ty(eg, *x, *shape), None),
    };
    ClassData { ty, scalar }
}

/// Number of static dims: the more static type is the more informative one.
fn static_count(t: &TensorType) -> usize {
    t.dims.iter().filter(|d| !matches!(d, Dim::Dynamic)).count()
}

impl Analysis<AttnLang> for AttnAnalysis {
    type Data = ClassData;

    fn make(eg: &mut AttnGraph, enode: &AttnLang, _id: Id) -> ClassData {
        make_data(eg, enode)
    }

    fn merge(&mut self, a: &mut ClassData, b: ClassData) -> DidMerge {
        let mut changed_a = false;
        let mut b_differs = false;
        match (&a.ty, b.ty) {
            (None, Some(t)) => {
                a.ty = Some(t);
                changed_a = true;
            }
            (Some(ta), Some(tb)) if *ta != tb => {
                // Prefer higher rank (a `[1]` constant over the rank-0 `Num` of the same
                // value), then the more static type.
                let better = (tb.rank(), static_count(&tb)) > (ta.rank(), static_count(ta));
                if better {
                    a.ty = Some(tb);
                    changed_a = true;
                } else {
                    b_differs = true;
                }
            }
            (Some(_), None) => b_differs = true,
            _ => {}
        }
        match (a.scalar, b.scalar) {
            (None, Some(s)) => {
                a.scalar = Some(s);
                changed_a = true;
            }
            (Some(_), None) => b_differs = true,
            _ => {}
        }
        DidMerge(changed_a, b_differs)
    }

    fn modify(eg: &mut AttnGraph, id: Id) {
        let Some(v) = eg[id].data.scalar else {
            return;
        };
        let has_num = eg[id].nodes.iter().any(|n| matches!(n, AttnLang::Num(_)));
        if !has_num && v.is_finite() {
            let num = eg.add(AttnLang::Num(Scalar::new(v)));
            eg.union(id, num);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sofa_ir::EntityRef;

    fn leaf(dims: &[u64], scalar: Option<f64>) -> LeafInfo {
        LeafInfo {
            value: Value::new(0),
            ty: Some(TensorType::static_shape(dims, ElemType::F32)),
            scalar,
        }
    }

    #[test]
    fn scalar_constants_fold_and_get_a_num_node() {
        let mut eg = AttnGraph::new(AttnAnalysis {
            leaves: vec![leaf(&[2, 4, 8, 16], None), leaf(&[1], Some(4.0))],
            shaped: Vec::new(),
        });
        let x = eg.add(AttnLang::Leaf(super::super::lang::LeafRef(0)));
        let c = eg.add(AttnLang::Leaf(super::super::lang::LeafRef(1)));
        let r = eg.add(AttnLang::Recip(c));
        eg.rebuild();
        assert_eq!(scalar_of(&eg, r), Some(0.25));
        assert!(eg[r].nodes.contains(&AttnLang::Num(Scalar::new(0.25))));
        assert!(is_scalar_factor(&eg, x, c));
        assert!(!is_scalar_factor(&eg, c, x));
        let p = eg.add(AttnLang::Perm(Perm(vec![0, 2, 3, 1])));
        let t = eg.add(AttnLang::Transpose([x, p]));
        assert_eq!(
            ty_of(&eg, t).unwrap().static_dims(),
            Some(vec![2, 8, 16, 4])
        );
    }
}
