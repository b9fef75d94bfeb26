//! Why an op's result types cannot be inferred (the error of an [`super::InferFn`] hook).
//!
//! Variants name what is wrong (the operand, attribute, axis or dim) and carry the values;
//! dim arithmetic failures come from [`ShapeError`], wrapped with context where the bare
//! error would be ambiguous (which operand, which pair of dims).

use super::onnx::shape::ShapeError;

/// A failed result-type inference of one op (the caller names the op).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InferError {
    #[error(transparent)]
    Shape(#[from] ShapeError),
    #[error("missing '{0}' attribute")]
    MissingAttr(&'static str),
    /// An operand (`q`, `v`, ...) that must be a ranked tensor.
    #[error("{0} must be a ranked tensor")]
    NotRanked(&'static str),
    #[error("unsupported Cast target type {0}")]
    CastTarget(i64),
    #[error("unsupported stash_type {0}")]
    StashType(i64),
    #[error("'value' must be a dense tensor")]
    ValueNotDense,

    // Shape operands (Reshape, Expand, Tile, ConstantOfShape).
    #[error("shape operand has {0} entries")]
    ShapeOperandTooLong(u64),
    #[error("operand #{0} (a shape) has a dynamic length, so the result rank is unknown")]
    ShapeOperandDynamic(usize),
    #[error("operand #{0} (a shape) must be 1-D")]
    ShapeOperandRank(usize),

    // Axes (Squeeze, Unsqueeze, Transpose, reductions).
    #[error("the axes operand is not a constant")]
    AxesNotConstant,
    #[error("cannot squeeze dim {axis} of size [{size}]")]
    Squeeze { axis: usize, size: u64 },
    #[error("Unsqueeze needs axes")]
    UnsqueezeAxes,
    #[error("rank overflow")]
    RankOverflow,
    #[error("axes do not fit the rank")]
    AxesDoNotFit,
    #[error("perm has {len} entries for rank {rank}")]
    PermLength { len: usize, rank: usize },

    // Gather, GatherElements, GatherND.
    #[error("indices must be i32 or i64")]
    IndicesNotInt,
    #[error("data rank {data} differs from indices rank {indices}")]
    GatherRank { data: usize, indices: usize },
    #[error("batch_dims must be non-negative")]
    NegativeBatchDims,
    #[error("indices must have rank >= 1")]
    ScalarIndices,
    #[error("the last dim of indices must be static")]
    DynamicIndexDepth,
    #[error("batch_dims {batch_dims} + index depth {depth} exceed data rank {rank}")]
    IndexDepth {
        batch_dims: usize,
        depth: u64,
        rank: usize,
    },
    #[error("batch_dims {batch_dims} must be below the indices rank {rank}")]
    BatchDimsRank { batch_dims: usize, rank: usize },

    // Concat, Slice, Split, Range.
    #[error("operand #{operand} has rank {rank}, operand #0 has rank {first}")]
    ConcatRank {
        operand: usize,
        rank: usize,
        first: usize,
    },
    #[error("operand #{operand} dim {dim}: {error}")]
    ConcatDim {
        operand: usize,
        dim: usize,
        #[source]
        error: ShapeError,
    },
    #[error("dim too large")]
    DimTooLarge,
    #[error("{sizes} split sizes for {results} results")]
    SplitCount { sizes: usize, results: usize },
    #[error("split size {0} is negative")]
    NegativeSplit(i64),
    #[error("split sizes sum to {sum}, dim {axis} is {dim}")]
    SplitSum { sum: u64, axis: usize, dim: u64 },
    #[error("Range delta is 0")]
    ZeroDelta,
    #[error("Range is too long")]
    RangeTooLong,

    // MatMul, Gemm, Conv.
    #[error("MatMul operands must have rank >= 1")]
    MatMulScalar,
    #[error("inner dims differ: {0}")]
    InnerDims(#[source] ShapeError),
    #[error("Gemm needs 2-D operands, got ranks {a} and {b}")]
    GemmRank { a: usize, b: usize },
    #[error("C of rank {0} does not broadcast to [M, N]")]
    GemmBias(usize),
    #[error("Conv needs X and W of equal rank >= 3, got {x} and {w}")]
    ConvRank { x: usize, w: usize },
    #[error("kernel dims must be static")]
    DynamicKernel,
    #[error("'{attr}' has {len} entries, expected {expected}")]
    AttrLength {
        attr: &'static str,
        len: usize,
        expected: usize,
    },
    #[error("'{attr}' entry {value} is negative")]
    NegativeAttr { attr: &'static str, value: i64 },
    #[error("stride 0")]
    ZeroStride,
    #[error("conv size overflows")]
    ConvOverflow,
    #[error("kernel extent {span} exceeds padded input {padded}")]
    KernelExtent { span: u64, padded: u64 },

    // Attention (onnx.Attention, attn.mha).
    #[error("Q, K, V must all be 3-D or all 4-D, got ranks {q}, {k}, {v}")]
    QkvRank { q: usize, k: usize, v: usize },
    #[error("3-D inputs need the '{0}' attribute")]
    MissingHeads(&'static str),
    #[error("'{0}' must be positive")]
    NonPositiveHeads(&'static str),
    #[error("hidden size {hidden} is not a multiple of {attr} = {heads}")]
    HiddenSize {
        hidden: u64,
        attr: &'static str,
        heads: u64,
    },
    #[error("batch dims differ: {0}")]
    BatchDims(#[source] ShapeError),
    #[error("Q and K head sizes differ: {0}")]
    HeadSizes(#[source] ShapeError),
    #[error("q and v must be 4-D, got ranks {q} and {v}")]
    MhaRank { q: usize, v: usize },

    // Quantization.
    #[error("unsupported quantized type {0} (ui8 or i8)")]
    QuantType(crate::types::ElemType),
    #[error("unsupported output_dtype {0}")]
    OutputDtype(i64),
}
