//! The `onnx` op table: one [`OpDef`] per supported ONNX operator (opsets 13–23).
//!
//! Attribute schemas follow the ONNX operator specs; every attribute is optional unless ONNX
//! requires it, because absent attributes take the opset's default (see the IR contract).
//! Attributes that older opsets used in place of inputs (`axes`, `split`) are accepted too, so
//! models slightly below opset 13 still import with a warning.
//!
//! Every op folds: through the reference kernels when all operands are constant
//! ([`fold_onnx`]), and `Shape`, `Size` and `Gather`-of-`Shape` also from static operand types
//! ([`super::fold`]). No op of the table has side effects or randomness (Dropout is the
//! inference identity), so folding any of them is sound.

use super::{fold, infer, nn, verify};
use crate::dialect::{Arity, AttrDef, AttrKind, FoldFn, InferFn, OpDef, Trait, VerifyFn};
use crate::eval::fold_onnx;

use AttrKind::{Float, Int, IntArray, String as Str, Tensor};

const PURE: &[Trait] = &[Trait::Pure];
const COMMUTATIVE: &[Trait] = &[Trait::Pure, Trait::Commutative];
const CONSTANT: &[Trait] = &[Trait::Pure, Trait::ConstantLike];

const fn opt(name: &'static str, kind: AttrKind) -> AttrDef {
    AttrDef::optional(name, kind)
}

const fn req(name: &'static str, kind: AttrKind) -> AttrDef {
    AttrDef::required(name, kind)
}

/// The general constructor: every field an ONNX op needs.
#[allow(clippy::too_many_arguments)]
const fn op(
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
const fn folding(mut def: OpDef, fold: FoldFn) -> OpDef {
    def.fold = Some(fold);
    def
}

/// An elementwise op with one operand whose result has the operand's type.
const fn unary(name: &'static str, summary: &'static str) -> OpDef {
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
const fn binary(name: &'static str, summary: &'static str, traits: &'static [Trait]) -> OpDef {
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
const fn compare(name: &'static str, summary: &'static str, traits: &'static [Trait]) -> OpDef {
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
const fn reduce(name: &'static str, summary: &'static str) -> OpDef {
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
const fn arg_reduce(name: &'static str, summary: &'static str) -> OpDef {
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

const REDUCE_ATTRS: &[AttrDef] = &[
    opt("axes", IntArray),
    opt("keepdims", Int),
    opt("noop_with_empty_axes", Int),
];
const ARG_ATTRS: &[AttrDef] = &[
    opt("axis", Int),
    opt("keepdims", Int),
    opt("select_last_index", Int),
];
const NORM_ATTRS: &[AttrDef] = &[
    opt("axis", Int),
    opt("epsilon", Float),
    opt("stash_type", Int),
];

/// Every op of the dialect, sorted by name.
pub static OPS: &[OpDef] = &[
    unary("onnx.Abs", "Elementwise absolute value."),
    binary("onnx.Add", "Elementwise sum with numpy broadcasting.", COMMUTATIVE),
    binary("onnx.And", "Elementwise logical and of booleans, broadcasting.", COMMUTATIVE),
    arg_reduce("onnx.ArgMax", "Index of the largest element along an axis."),
    arg_reduce("onnx.ArgMin", "Index of the smallest element along an axis."),
    op(
        "onnx.Attention",
        "Scaled dot-product attention over Q, K, V (opset 23), with optional mask, KV cache and causal masking.",
        Arity::Between(3, 7),
        Arity::Between(1, 4),
        &[
            opt("is_causal", Int),
            opt("kv_num_heads", Int),
            opt("q_num_heads", Int),
            opt("qk_matmul_output_mode", Int),
            opt("scale", Float),
            opt("softcap", Float),
            opt("softmax_precision", Int),
        ],
        PURE,
        Some(verify::attention),
        nn::attention,
    ),
    op(
        "onnx.Cast",
        "Convert elements to the type given by `to` (an ONNX TensorProto data type).",
        Arity::Exact(1),
        Arity::Exact(1),
        &[req("to", Int), opt("saturate", Int), opt("round_mode", Str)],
        PURE,
        None,
        infer::cast,
    ),
    unary("onnx.Ceil", "Elementwise ceiling."),
    op(
        "onnx.Clip",
        "Clamp elements to [min, max] (optional scalar operands).",
        Arity::Between(1, 3),
        Arity::Exact(1),
        &[],
        PURE,
        None,
        infer::same_as_first,
    ),
    op(
        "onnx.Concat",
        "Concatenate tensors of equal rank along `axis`.",
        Arity::AtLeast(1),
        Arity::Exact(1),
        &[req("axis", Int)],
        PURE,
        Some(verify::concat),
        infer::concat,
    ),
    op(
        "onnx.Constant",
        "A constant tensor, given by its `value` attribute.",
        Arity::Exact(0),
        Arity::Exact(1),
        &[req("value", Tensor)],
        CONSTANT,
        None,
        infer::constant,
    ),
    op(
        "onnx.ConstantOfShape",
        "A tensor of the shape given by a 1-D i64 operand, filled with `value` (default 0.0 f32).",
        Arity::Exact(1),
        Arity::Exact(1),
        &[opt("value", Tensor)],
        PURE,
        None,
        infer::constant_of_shape,
    ),
    op(
        "onnx.Conv",
        "N-D convolution of X [N, C, ...] with W [M, C/group, k...] plus optional bias B [M].",
        Arity::Between(2, 3),
        Arity::Exact(1),
        &[
            opt("auto_pad", Str),
            opt("dilations", IntArray),
            opt("group", Int),
            opt("kernel_shape", IntArray),
            opt("pads", IntArray),
            opt("strides", IntArray),
        ],
        PURE,
        Some(verify::conv),
        nn::conv,
    ),
    unary("onnx.Cos", "Elementwise cosine."),
    op(
        "onnx.CumSum",
        "Cumulative sum along the axis given by a scalar operand.",
        Arity::Exact(2),
        Arity::Exact(1),
        &[opt("exclusive", Int), opt("reverse", Int)],
        PURE,
        None,
        infer::same_as_first,
    ),
    binary("onnx.Div", "Elementwise quotient with numpy broadcasting.", PURE),
    op(
        "onnx.Dropout",
        "Identity at inference; the optional second result is an all-true mask.",
        Arity::Between(1, 3),
        Arity::Between(1, 2),
        &[opt("seed", Int)],
        PURE,
        None,
        nn::dropout,
    ),
    compare("onnx.Equal", "Elementwise equality, broadcasting; i1 result.", COMMUTATIVE),
    unary("onnx.Erf", "Elementwise Gauss error function."),
    unary("onnx.Exp", "Elementwise natural exponential."),
    op(
        "onnx.Expand",
        "Broadcast a tensor to a shape given by a 1-D i64 operand (numpy rules).",
        Arity::Exact(2),
        Arity::Exact(1),
        &[],
        PURE,
        None,
        infer::expand,
    ),
    op(
        "onnx.Flatten",
        "Reshape to 2-D: dims before `axis` (default 1) form rows, the rest columns.",
        Arity::Exact(1),
        Arity::Exact(1),
        &[opt("axis", Int)],
        PURE,
        Some(verify::flatten),
        infer::flatten,
    ),
    unary("onnx.Floor", "Elementwise floor."),
    folding(
        op(
            "onnx.Gather",
            "Take slices of data along `axis` (default 0) at the given indices.",
            Arity::Exact(2),
            Arity::Exact(1),
            &[opt("axis", Int)],
            PURE,
            Some(verify::axis_in_rank),
            infer::gather,
        ),
        fold::fold_gather,
    ),
    op(
        "onnx.GatherElements",
        "Take elements of data along `axis` at per-element indices; result has the indices' shape.",
        Arity::Exact(2),
        Arity::Exact(1),
        &[opt("axis", Int)],
        PURE,
        Some(verify::gather_elements),
        infer::gather_elements,
    ),
    op(
        "onnx.GatherND",
        "Gather slices of data addressed by the last dim of indices, after `batch_dims` batch dims.",
        Arity::Exact(2),
        Arity::Exact(1),
        &[opt("batch_dims", Int)],
        PURE,
        None,
        infer::gather_nd,
    ),
    op(
        "onnx.Gelu",
        "Gaussian error linear unit; `approximate` = \"none\" (erf) or \"tanh\".",
        Arity::Exact(1),
        Arity::Exact(1),
        &[opt("approximate", Str)],
        PURE,
        None,
        infer::same_as_first,
    ),
    op(
        "onnx.Gemm",
        "alpha * A' * B' + beta * C with A' / B' optionally transposed (2-D), C broadcast.",
        Arity::Between(2, 3),
        Arity::Exact(1),
        &[opt("alpha", Float), opt("beta", Float), opt("transA", Int), opt("transB", Int)],
        PURE,
        Some(verify::gemm),
        nn::gemm,
    ),
    compare("onnx.Greater", "Elementwise a > b, broadcasting; i1 result.", PURE),
    compare("onnx.GreaterOrEqual", "Elementwise a >= b, broadcasting; i1 result.", PURE),
    unary("onnx.Identity", "The operand, unchanged."),
    op(
        "onnx.IsNaN",
        "Elementwise test for NaN; i1 result.",
        Arity::Exact(1),
        Arity::Exact(1),
        &[],
        PURE,
        None,
        infer::is_nan,
    ),
    op(
        "onnx.LayerNormalization",
        "Normalise over dims from `axis` (default -1) on, then scale and optional bias; optional mean / inv-std-dev results.",
        Arity::Between(2, 3),
        Arity::Between(1, 3),
        NORM_ATTRS,
        PURE,
        Some(verify::normalization),
        nn::layer_norm,
    ),
    op(
        "onnx.LeakyRelu",
        "x if x >= 0 else alpha * x (alpha default 0.01).",
        Arity::Exact(1),
        Arity::Exact(1),
        &[opt("alpha", Float)],
        PURE,
        None,
        infer::same_as_first,
    ),
    compare("onnx.Less", "Elementwise a < b, broadcasting; i1 result.", PURE),
    compare("onnx.LessOrEqual", "Elementwise a <= b, broadcasting; i1 result.", PURE),
    unary("onnx.Log", "Elementwise natural logarithm."),
    op(
        "onnx.MatMul",
        "Matrix product with numpy semantics: 1-D promotion and batch-dim broadcasting.",
        Arity::Exact(2),
        Arity::Exact(1),
        &[],
        PURE,
        Some(verify::matmul),
        nn::matmul,
    ),
    op(
        "onnx.Max",
        "Elementwise maximum of one or more tensors, broadcasting.",
        Arity::AtLeast(1),
        Arity::Exact(1),
        &[],
        COMMUTATIVE,
        None,
        infer::broadcast,
    ),
    op(
        "onnx.Min",
        "Elementwise minimum of one or more tensors, broadcasting.",
        Arity::AtLeast(1),
        Arity::Exact(1),
        &[],
        COMMUTATIVE,
        None,
        infer::broadcast,
    ),
    op(
        "onnx.Mod",
        "Elementwise remainder (`fmod` = 1: sign of the dividend), broadcasting.",
        Arity::Exact(2),
        Arity::Exact(1),
        &[opt("fmod", Int)],
        PURE,
        None,
        infer::broadcast,
    ),
    binary("onnx.Mul", "Elementwise product with numpy broadcasting.", COMMUTATIVE),
    unary("onnx.Neg", "Elementwise negation."),
    op(
        "onnx.NoValue",
        "Stands for an absent optional operand; its result has type `none`.",
        Arity::Exact(0),
        Arity::Exact(1),
        &[],
        PURE,
        None,
        infer::no_value,
    ),
    op(
        "onnx.Not",
        "Elementwise logical negation of booleans.",
        Arity::Exact(1),
        Arity::Exact(1),
        &[],
        PURE,
        None,
        infer::same_as_first,
    ),
    binary("onnx.Or", "Elementwise logical or of booleans, broadcasting.", COMMUTATIVE),
    binary("onnx.Pow", "Elementwise base ^ exponent, broadcasting; result has the base's type.", PURE),
    op(
        "onnx.RMSNormalization",
        "Root-mean-square normalisation over dims from `axis` (default -1) on, then scale (opset 23).",
        Arity::Exact(2),
        Arity::Exact(1),
        NORM_ATTRS,
        PURE,
        Some(verify::normalization),
        infer::same_as_first,
    ),
    op(
        "onnx.Range",
        "The 1-D sequence start, start + delta, ... below limit (scalar operands).",
        Arity::Exact(3),
        Arity::Exact(1),
        &[],
        PURE,
        None,
        infer::range,
    ),
    unary("onnx.Reciprocal", "Elementwise 1 / x."),
    reduce("onnx.ReduceMax", "Maximum over the given axes (all when none), keepdims default 1."),
    reduce("onnx.ReduceMean", "Mean over the given axes (all when none), keepdims default 1."),
    reduce("onnx.ReduceMin", "Minimum over the given axes (all when none), keepdims default 1."),
    reduce("onnx.ReduceProd", "Product over the given axes (all when none), keepdims default 1."),
    reduce("onnx.ReduceSum", "Sum over the given axes (all when none), keepdims default 1."),
    unary("onnx.Relu", "Elementwise max(x, 0)."),
    op(
        "onnx.Reshape",
        "Reshape to a 1-D i64 shape operand: 0 copies the input dim (unless `allowzero`), -1 is inferred.",
        Arity::Exact(2),
        Arity::Exact(1),
        &[opt("allowzero", Int)],
        PURE,
        None,
        infer::reshape,
    ),
    op(
        "onnx.RotaryEmbedding",
        "Rotary position embedding of X with cos/sin caches, optionally indexed by position ids (opset 23).",
        Arity::Between(3, 4),
        Arity::Exact(1),
        &[opt("interleaved", Int), opt("num_heads", Int), opt("rotary_embedding_dim", Int)],
        PURE,
        Some(verify::rotary),
        infer::same_as_first,
    ),
    unary("onnx.Round", "Elementwise round half to even."),
    op(
        "onnx.ScatterND",
        "Copy of data with slices addressed by indices replaced by (or reduced with) updates.",
        Arity::Exact(3),
        Arity::Exact(1),
        &[opt("reduction", Str)],
        PURE,
        None,
        infer::same_as_first,
    ),
    folding(
        op(
            "onnx.Shape",
            "The input's shape as a 1-D i64 tensor, optionally the dims [start, end).",
            Arity::Exact(1),
            Arity::Exact(1),
            &[opt("end", Int), opt("start", Int)],
            PURE,
            None,
            infer::shape,
        ),
        fold::fold_shape,
    ),
    unary("onnx.Sigmoid", "Elementwise logistic function."),
    unary("onnx.Sign", "Elementwise sign (-1, 0, 1)."),
    unary("onnx.Sin", "Elementwise sine."),
    folding(
        op(
            "onnx.Size",
            "The input's element count as an i64 scalar.",
            Arity::Exact(1),
            Arity::Exact(1),
            &[],
            PURE,
            None,
            infer::size,
        ),
        fold::fold_size,
    ),
    op(
        "onnx.Slice",
        "Strided slice given by starts, ends and optional axes and steps operands (1-D i64).",
        Arity::Between(3, 5),
        Arity::Exact(1),
        &[],
        PURE,
        None,
        infer::slice,
    ),
    op(
        "onnx.Softmax",
        "Softmax along `axis` (default -1).",
        Arity::Exact(1),
        Arity::Exact(1),
        &[opt("axis", Int)],
        PURE,
        Some(verify::axis_in_rank),
        infer::same_as_first,
    ),
    op(
        "onnx.Split",
        "Split along `axis` into parts sized by the `split` operand, or into equal parts (`num_outputs`).",
        Arity::Between(1, 2),
        Arity::AtLeast(1),
        &[opt("axis", Int), opt("num_outputs", Int), opt("split", IntArray)],
        PURE,
        Some(verify::split),
        infer::split,
    ),
    unary("onnx.Sqrt", "Elementwise square root."),
    op(
        "onnx.Squeeze",
        "Remove size-1 dims listed by the optional `axes` operand (all size-1 dims when absent).",
        Arity::Between(1, 2),
        Arity::Exact(1),
        &[opt("axes", IntArray)],
        PURE,
        None,
        infer::squeeze,
    ),
    binary("onnx.Sub", "Elementwise difference with numpy broadcasting.", PURE),
    unary("onnx.Tanh", "Elementwise hyperbolic tangent."),
    op(
        "onnx.Tile",
        "Repeat the input along each dim by the counts of a 1-D i64 operand.",
        Arity::Exact(2),
        Arity::Exact(1),
        &[],
        PURE,
        None,
        infer::tile,
    ),
    op(
        "onnx.Transpose",
        "Permute dims by `perm` (default: reverse them).",
        Arity::Exact(1),
        Arity::Exact(1),
        &[opt("perm", IntArray)],
        PURE,
        Some(verify::transpose),
        infer::transpose,
    ),
    op(
        "onnx.Trilu",
        "Keep the upper (`upper` = 1, default) or lower triangle of the last two dims, offset by k.",
        Arity::Between(1, 2),
        Arity::Exact(1),
        &[opt("upper", Int)],
        PURE,
        Some(verify::trilu),
        infer::same_as_first,
    ),
    op(
        "onnx.Unsqueeze",
        "Insert size-1 dims at the positions of the `axes` operand (in the output's numbering).",
        Arity::Between(1, 2),
        Arity::Exact(1),
        &[opt("axes", IntArray)],
        PURE,
        None,
        infer::unsqueeze,
    ),
    op(
        "onnx.Where",
        "Elementwise select: condition ? x : y, broadcasting all three.",
        Arity::Exact(3),
        Arity::Exact(1),
        &[],
        PURE,
        None,
        infer::where_,
    ),
    binary("onnx.Xor", "Elementwise logical exclusive or of booleans, broadcasting.", COMMUTATIVE),
];
