//! Reference semantics of `onnx.*` ops on host tensors.
//!
//! One kernel per ONNX operator, written for clarity and exact ONNX semantics (broadcasting,
//! negative axes, opset-dependent inputs vs attributes, integer division rules), shared by the
//! host reference interpreter (`sofa-runtime`) and constant folding ([`fold_onnx`]).
//!
//! - [`tensor`]: the host [`Tensor`] and its conversion from/to IR constants.
//! - [`broadcast`]: numpy broadcasting and strided iteration, the basis of every layout kernel.
//! - [`elementwise`], [`reduce`], [`shape_ops`], [`index`], [`matmul`], [`conv`], [`nn`],
//!   [`attention`], [`quant`] (linear quantization): kernels by family; [`mha`] and [`sparse_mha`] (with [`dlzs`], [`sads`]):
//!   the fused `attn.*` ops.
//! - [`eval_op`] / [`eval_op_n`]: the dispatcher; [`fold_onnx`]: the `FoldFn` for onnx ops.
//!
//! Float kernels compute in `f32` (sums and normalisation statistics in `f64`); `f16`/`bf16`
//! tensors hold `f32` values rounded to their precision, re-rounded after every op. Errors are
//! values, never panics: bad shapes, out-of-range indices and oversized results (> 2^31
//! elements) return [`EvalError`] naming the op.

/// Apply one expression to whichever storage a `TensorData` has, keeping the variant.
macro_rules! map_data {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            $crate::eval::tensor::TensorData::F32($v) => {
                $crate::eval::tensor::TensorData::F32($body)
            }
            $crate::eval::tensor::TensorData::I64($v) => {
                $crate::eval::tensor::TensorData::I64($body)
            }
            $crate::eval::tensor::TensorData::Bool($v) => {
                $crate::eval::tensor::TensorData::Bool($body)
            }
        }
    };
}

pub mod args;
pub mod attention;
pub mod broadcast;
pub mod conv;
pub mod dlzs;
pub mod elementwise;
pub mod error;
mod fold;
pub mod index;
pub mod matmul;
pub mod mha;
pub mod nn;
pub mod precision;
pub mod quant;
pub mod reduce;
pub mod sads;
pub mod shape_ops;
pub mod sparse_mha;
pub mod tensor;

#[cfg(test)]
mod tests;

pub use error::{EvalError, EvalErrorKind};
pub use fold::{
    fold_onnx, module_opset, DEFAULT_OPSET, FOLD_MAX_DERIVED_ELEMENTS, FOLD_MAX_ELEMENTS,
};
pub use tensor::{Storage, Tensor, TensorData};

use crate::attr::{AttrDict, Attribute};
use args::OpArgs;
use elementwise::{Arith, Cmp};
use error::KResult;
use reduce::Reduce;

type Kernel = fn(&OpArgs) -> KResult<Vec<Tensor>>;

/// Every supported ONNX op type and its kernel, sorted by name.
static KERNELS: &[(&str, Kernel)] = &[
    ("Abs", |a| {
        elementwise::unary_numeric(a, f32::abs, i64::wrapping_abs)
    }),
    ("Add", |a| elementwise::binary(a, Arith::Add)),
    ("And", |a| elementwise::logical(a, |x, y| x && y)),
    ("Attention", attention::attention),
    ("Cast", elementwise::cast),
    ("CastLike", elementwise::cast_like),
    ("Ceil", |a| elementwise::unary_float(a, f32::ceil)),
    ("Concat", shape_ops::concat),
    ("Constant", constant),
    ("ConstantOfShape", shape_ops::constant_of_shape),
    ("Conv", conv::conv),
    ("Cos", |a| elementwise::unary_float(a, f32::cos)),
    ("DequantizeLinear", quant::dequantize_linear),
    ("Div", |a| elementwise::binary(a, Arith::Div)),
    ("DynamicQuantizeLinear", quant::dynamic_quantize_linear),
    ("Equal", |a| elementwise::compare(a, Cmp::Eq)),
    ("Erf", |a| elementwise::unary_float(a, elementwise::erf_f32)),
    ("Exp", |a| elementwise::unary_float(a, f32::exp)),
    ("Expand", shape_ops::expand_op),
    ("Flatten", shape_ops::flatten),
    ("Floor", |a| elementwise::unary_float(a, f32::floor)),
    ("Gather", index::gather),
    ("GatherElements", index::gather_elements),
    ("GatherND", index::gather_nd),
    ("Gelu", nn::gelu),
    ("Gemm", matmul::gemm),
    ("Greater", |a| elementwise::compare(a, Cmp::Gt)),
    ("GreaterOrEqual", |a| elementwise::compare(a, Cmp::Ge)),
    ("Identity", elementwise::identity),
    ("IsNaN", elementwise::is_nan),
    ("LayerNormalization", nn::layer_norm),
    ("Less", |a| elementwise::compare(a, Cmp::Lt)),
    ("LessOrEqual", |a| elementwise::compare(a, Cmp::Le)),
    ("Log", |a| elementwise::unary_float(a, f32::ln)),
    ("LogSoftmax", |a| nn::softmax(a, true)),
    ("MatMul", matmul::matmul),
    ("MatMulInteger", quant::matmul_integer),
    ("Max", |a| elementwise::variadic(a, Arith::Max)),
    ("Mean", elementwise::mean),
    ("Min", |a| elementwise::variadic(a, Arith::Min)),
    ("Mod", elementwise::modulo),
    ("Mul", |a| elementwise::binary(a, Arith::Mul)),
    ("Neg", |a| {
        elementwise::unary_numeric(a, |x| -x, i64::wrapping_neg)
    }),
    ("NoValue", |_| Ok(Vec::new())),
    ("Not", elementwise::not),
    ("Or", |a| elementwise::logical(a, |x, y| x || y)),
    ("Pow", elementwise::pow),
    ("QuantizeLinear", quant::quantize_linear),
    ("RMSNormalization", nn::rms_norm),
    ("Range", shape_ops::range),
    ("Reciprocal", |a| elementwise::unary_float(a, |x| 1.0 / x)),
    ("ReduceMax", |a| reduce::reduce(a, Reduce::Max)),
    ("ReduceMean", |a| reduce::reduce(a, Reduce::Mean)),
    ("ReduceMin", |a| reduce::reduce(a, Reduce::Min)),
    ("ReduceProd", |a| reduce::reduce(a, Reduce::Prod)),
    ("ReduceSum", |a| reduce::reduce(a, Reduce::Sum)),
    ("Relu", |a| {
        elementwise::unary_numeric(a, elementwise::relu, |x| x.max(0))
    }),
    ("Reshape", shape_ops::reshape),
    ("RotaryEmbedding", attention::rotary_embedding),
    ("ScatterND", index::scatter_nd),
    ("Shape", shape_ops::shape),
    ("Sigmoid", |a| {
        elementwise::unary_float(a, elementwise::sigmoid)
    }),
    ("Sin", |a| elementwise::unary_float(a, f32::sin)),
    ("Size", shape_ops::size),
    ("Slice", index::slice),
    ("Softmax", |a| nn::softmax(a, false)),
    ("Split", shape_ops::split),
    ("Sqrt", |a| elementwise::unary_float(a, f32::sqrt)),
    ("Squeeze", shape_ops::squeeze),
    ("Sub", |a| elementwise::binary(a, Arith::Sub)),
    ("Sum", |a| elementwise::variadic(a, Arith::Add)),
    ("Tanh", |a| elementwise::unary_float(a, f32::tanh)),
    ("Tile", shape_ops::tile),
    ("Transpose", shape_ops::transpose),
    ("Trilu", index::trilu),
    ("Unsqueeze", shape_ops::unsqueeze),
    ("Where", elementwise::where_),
    ("Xor", |a| elementwise::logical(a, |x, y| x != y)),
    // Lowercase sorts after every ONNX name: the `attn.*` ops (fused attention) come last.
    ("attn.mha", mha::mha),
    ("attn.sparse_mha", sparse_mha::sparse_mha),
];

/// The ONNX op types the evaluator implements, sorted.
pub fn supported_ops() -> impl Iterator<Item = &'static str> {
    KERNELS.iter().map(|(name, _)| *name)
}

/// True when `name` (`Add` or `onnx.Add`) has a kernel.
pub fn is_supported(name: &str) -> bool {
    kernel(op_type(name)).is_some()
}

fn op_type(name: &str) -> &str {
    name.strip_prefix("onnx.").unwrap_or(name)
}

fn kernel(op_type: &str) -> Option<Kernel> {
    KERNELS
        .binary_search_by(|(n, _)| n.cmp(&op_type))
        .ok()
        .map(|i| KERNELS[i].1)
}

/// Evaluate one ONNX op (`Add` or `onnx.Add`) on host tensors; `None` inputs are absent optional
/// inputs. Returns every output the op defines (trailing optional ones included).
pub fn eval_op(
    name: &str,
    attrs: &AttrDict,
    inputs: &[Option<&Tensor>],
    opset: i64,
) -> Result<Vec<Tensor>, EvalError> {
    eval_op_n(name, attrs, inputs, opset, None)
}

/// [`eval_op`] when the caller knows how many results the op has: `Split` without sizes needs
/// it, and outputs beyond `num_results` (optional ones like LayerNormalization's Mean) are
/// dropped. Fewer outputs than `num_results` is an error.
pub fn eval_op_n(
    name: &str,
    attrs: &AttrDict,
    inputs: &[Option<&Tensor>],
    opset: i64,
    num_results: Option<usize>,
) -> Result<Vec<Tensor>, EvalError> {
    let kernel = kernel(op_type(name)).ok_or_else(|| EvalErrorKind::Unsupported.in_op(name))?;
    let args = OpArgs {
        attrs,
        inputs,
        opset,
        num_results,
    };
    let mut out = kernel(&args).map_err(|e| e.in_op(name))?;
    if let Some(n) = num_results {
        if out.len() < n {
            return Err(EvalErrorKind::invalid(format!(
                "produced {} result(s), but {n} are expected",
                out.len()
            ))
            .in_op(name));
        }
        out.truncate(n);
    }
    Ok(out)
}

/// `Constant` with an inline value (the importer normalises every form to `value`; the
/// interpreter resolves `dense_resource` values itself, with the module at hand).
fn constant(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(0, 0)?;
    let t = match (args.attr("value"), args.attrs.iter().next()) {
        (Some(Attribute::Dense(d)), _) => Tensor::from_dense(d)?,
        (Some(other), _) => {
            return Err(EvalErrorKind::attr(
                "value",
                format!("needs the module to resolve {}", other.kind_name()),
            ))
        }
        (None, Some((name, a))) => scalar_constant(name, a)?,
        (None, None) => return Err(EvalErrorKind::attr("value", "missing")),
    };
    Ok(vec![t])
}

/// `value_float`, `value_int`, `value_floats`, `value_ints`.
fn scalar_constant(name: &str, a: &Attribute) -> KResult<Tensor> {
    let bad = || EvalErrorKind::attr(name, format!("unsupported form {}", a.kind_name()));
    match name {
        "value_float" => Ok(Tensor::scalar_f32(a.as_float().ok_or_else(bad)? as f32)),
        "value_int" => Ok(Tensor::scalar_i64(a.as_int().ok_or_else(bad)?)),
        "value_ints" => {
            let v = a.as_int_array().ok_or_else(bad)?;
            Tensor::from_i64(vec![v.len()], v)
        }
        "value_floats" => {
            let v: Vec<f32> = a
                .as_array()
                .ok_or_else(bad)?
                .iter()
                .map(|x| x.as_float().map(|f| f as f32).ok_or_else(bad))
                .collect::<KResult<_>>()?;
            Tensor::from_f32(vec![v.len()], v)
        }
        _ => Err(bad()),
    }
}
