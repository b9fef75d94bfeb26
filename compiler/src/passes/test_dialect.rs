//! Test-only dialects for the pass unit tests: small ops with exactly the traits and fold hooks the
//! generic passes care about, so the passes are tested independently of the `onnx` op table.
//!
//! - `test.constant` (`ConstantLike`, `Pure`), `test.add` (`Pure`, `Commutative`, folds f32),
//!   `test.sub` and `test.neg` (`Pure`, fold f32), `test.bad_fold` (fold returns two values for
//!   one result), `test.effect` (one result, side effects), `test.sink` (consumes values),
//!   `test.scope` (a region, side effects), `test.pure_scope` (a region, `Pure`), `test.yield`.
//! - `other.twice` folds but its dialect has no constant op, so it can never be materialised.

use sofa_ir::attr::{Attribute, DenseAttr};
use sofa_ir::dialect::{Arity, AttrDef, AttrKind, Dialect, DialectRegistry, FoldFn, OpDef, Trait};
use sofa_ir::types::ElemType;
use sofa_ir::{Module, Op};

/// Core dialects plus `test` and `other`.
pub fn registry() -> DialectRegistry {
    let mut r = DialectRegistry::with_core_dialects();
    r.register(&TEST);
    r.register(&OTHER);
    r
}

const TAG: &[AttrDef] = &[AttrDef::optional("tag", AttrKind::Any)];

const fn op(
    name: &'static str,
    operands: Arity,
    results: Arity,
    traits: &'static [Trait],
    fold: Option<FoldFn>,
) -> OpDef {
    OpDef {
        name,
        summary: "test op",
        operands,
        results,
        regions: 0,
        attrs: TAG,
        props: &[],
        traits,
        verify: None,
        fold,
        infer: None,
    }
}

const fn with_region(mut def: OpDef) -> OpDef {
    def.regions = 1;
    def
}

static TEST: Dialect = Dialect {
    name: "test",
    summary: "Ops for pass unit tests.",
    ops: &[
        OpDef {
            attrs: &[AttrDef::required("value", AttrKind::Tensor)],
            ..op(
                "test.constant",
                Arity::Exact(0),
                Arity::Exact(1),
                &[Trait::ConstantLike, Trait::Pure],
                None,
            )
        },
        op(
            "test.add",
            Arity::Exact(2),
            Arity::Exact(1),
            &[Trait::Pure, Trait::Commutative],
            Some(|_, _, xs| binary(xs, |a, b| a + b)),
        ),
        op(
            "test.sub",
            Arity::Exact(2),
            Arity::Exact(1),
            &[Trait::Pure],
            Some(|_, _, xs| binary(xs, |a, b| a - b)),
        ),
        op(
            "test.neg",
            Arity::Exact(1),
            Arity::Exact(1),
            &[Trait::Pure],
            Some(|_, _, xs| unary(xs, |a| -a)),
        ),
        op(
            "test.bad_fold",
            Arity::Exact(1),
            Arity::Exact(1),
            &[Trait::Pure],
            Some(bad_fold),
        ),
        op("test.effect", Arity::Exact(0), Arity::Exact(1), &[], None),
        op("test.sink", Arity::AtLeast(0), Arity::Exact(0), &[], None),
        with_region(op(
            "test.scope",
            Arity::AtLeast(0),
            Arity::Exact(0),
            &[],
            None,
        )),
        with_region(op(
            "test.pure_scope",
            Arity::AtLeast(0),
            Arity::Exact(1),
            &[Trait::Pure],
            None,
        )),
        op(
            "test.yield",
            Arity::AtLeast(0),
            Arity::Exact(0),
            &[Trait::Terminator],
            None,
        ),
    ],
};

static OTHER: Dialect = Dialect {
    name: "other",
    summary: "A dialect without a constant op.",
    ops: &[op(
        "other.twice",
        Arity::Exact(1),
        Arity::Exact(1),
        &[Trait::Pure],
        Some(|_, _, xs| unary(xs, |a| 2.0 * a)),
    )],
};

fn f32_dense(a: &Option<Attribute>) -> Option<&DenseAttr> {
    match a {
        Some(Attribute::Dense(d)) if d.ty().elem == ElemType::F32 => Some(d),
        _ => None,
    }
}

fn map_f32(like: &DenseAttr, f: impl Fn(usize) -> f32) -> Option<Vec<Attribute>> {
    let bytes: Vec<u8> = (0..like.len()).flat_map(|i| f(i).to_le_bytes()).collect();
    Some(vec![Attribute::Dense(DenseAttr::new(
        like.ty().clone(),
        bytes,
    )?)])
}

fn unary(xs: &[Option<Attribute>], f: fn(f32) -> f32) -> Option<Vec<Attribute>> {
    let a = f32_dense(xs.first()?)?;
    map_f32(a, |i| f(a.get_f64(i) as f32))
}

fn binary(xs: &[Option<Attribute>], f: fn(f32, f32) -> f32) -> Option<Vec<Attribute>> {
    let (a, b) = (f32_dense(xs.first()?)?, f32_dense(xs.get(1)?)?);
    if a.ty() != b.ty() {
        return None;
    }
    map_f32(a, |i| f(a.get_f64(i) as f32, b.get_f64(i) as f32))
}

fn bad_fold(_: &Module, _: Op, xs: &[Option<Attribute>]) -> Option<Vec<Attribute>> {
    let a = xs.first()?.clone()?;
    Some(vec![a.clone(), a])
}
