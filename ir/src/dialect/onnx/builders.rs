//! Constructors for the `onnx` op table ([`super::ops`]): one per family of op shape
//! (unary, broadcasting binary, comparison, reduction, ...), so each table row states only
//! what is particular to its op.

use super::{infer, verify};
use crate::dialect::{Arity, AttrDef, AttrKind, FoldFn, InferFn, OpDef, Trait, VerifyFn};
use crate::eval::fold_onnx;

use AttrKind::{Float, Int, IntArray};

pub(super) const PURE: &[Trait] = &[Trait::Pure];
pub(super) const COMMUTATIVE: &[Trait] = &[Trait::Pure, Trait::Commutative];
pub(super) const CONSTANT: &[Trait] = &[Trait::Pure, Trait::ConstantLike];

pub(super) const fn opt(name: &'static str, kind: AttrKind) -> AttrDef {
    AttrDef::optional(name, kind)
}

pub(super) const fn req(name: &'static str, kind: AttrKind) -> AttrDef {
    AttrDef::required(name, kind)
}

/// The general constructor: every field an ONNX op needs.
#[allow(clippy::too_many_arguments)]
pub(super) const fn op(
    name: &'static str,
    summary: &'static str,
    operands: Arity,
    results: Arity,
    attrs: &'static [AttrDef],
    traits: &'static [Trait],
    verify: Option<VerifyFn>,
    infer: InferFn,
) -> OpDef {
    OpDef {
        name,
        summary,
        operands,
        results,
        regions: 0,
        attrs,
        props: &[],
        traits,
        verify,
        fold: Some(fold_onnx),
        infer: Some(infer),
    }
}

/// `def` with a fold hook other than [`fold_onnx`].
pub(super) const fn folding(mut def: OpDef, fold: FoldFn) -> OpDef {
    def.fold = Some(fold);
    def
}

/// An elementwise op with one operand whose result has the operand's type.
pub(super) const fn unary(name: &'static str, summary: &'static str) -> OpDef {
    op(
        name,
        summary,
        Arity::Exact(1),
        Arity::Exact(1),
        &[],
        PURE,
        None,
        infer::same_as_first,
    )
}

/// A broadcasting binary op whose result has the first operand's element type.
pub(super) const fn binary(
    name: &'static str,
    summary: &'static str,
    traits: &'static [Trait],
) -> OpDef {
    op(
        name,
        summary,
        Arity::Exact(2),
        Arity::Exact(1),
        &[],
        traits,
        None,
        infer::broadcast,
    )
}

/// A broadcasting comparison: result element type `i1`.
pub(super) const fn compare(
    name: &'static str,
    summary: &'static str,
    traits: &'static [Trait],
) -> OpDef {
    op(
        name,
        summary,
        Arity::Exact(2),
        Arity::Exact(1),
        &[],
        traits,
        None,
        infer::compare,
    )
}

/// A reduction: data plus optional `axes` input (or the pre-18 `axes` attribute).
pub(super) const fn reduce(name: &'static str, summary: &'static str) -> OpDef {
    op(
        name,
        summary,
        Arity::Between(1, 2),
        Arity::Exact(1),
        REDUCE_ATTRS,
        PURE,
        Some(verify::reduce),
        infer::reduce,
    )
}

/// ArgMax / ArgMin: one axis, `i64` indices.
pub(super) const fn arg_reduce(name: &'static str, summary: &'static str) -> OpDef {
    op(
        name,
        summary,
        Arity::Exact(1),
        Arity::Exact(1),
        ARG_ATTRS,
        PURE,
        Some(verify::axis_in_rank),
        infer::arg_reduce,
    )
}

pub(super) const REDUCE_ATTRS: &[AttrDef] = &[
    opt("axes", IntArray),
    opt("keepdims", Int),
    opt("noop_with_empty_axes", Int),
];
pub(super) const ARG_ATTRS: &[AttrDef] = &[
    opt("axis", Int),
    opt("keepdims", Int),
    opt("select_last_index", Int),
];
pub(super) const NORM_ATTRS: &[AttrDef] = &[
    opt("axis", Int),
    opt("epsilon", Float),
    opt("stash_type", Int),
];
/// `QuantizeLinear` / `DequantizeLinear` (opsets 13–25).
pub(super) const QUANT_ATTRS: &[AttrDef] = &[
    opt("axis", Int),
    opt("block_size", Int),
    opt("output_dtype", Int),
    opt("precision", Int),
    opt("saturate", Int),
];
