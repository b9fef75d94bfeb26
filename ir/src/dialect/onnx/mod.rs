//! The `onnx` dialect: one op per ONNX operator, 1:1 with imported nodes (opsets 13–23).
//!
//! The op table lives in [`ops`]; [`infer`] holds the result-type inference rules (real ONNX
//! semantics: numpy broadcasting over named and dynamic dims, constant shape operands, checked
//! dim arithmetic) and [`verify`] the cheap structural checks. [`shape`] has the dim arithmetic
//! both share, public so that the importer can refine types with symbolic shape values.
//! Folding goes through the evaluator's kernels ([`crate::eval::fold_onnx`]); [`fold`] adds the
//! folds that read operand types (`Shape`, `Size`, `Gather` of a `Shape`).

mod axes;
mod builders;
pub mod fold;
pub mod infer;
pub mod nn;
pub mod ops;
pub mod quant;
pub mod shape;
pub mod verify;

use super::Dialect;

/// The `onnx` dialect table.
pub static ONNX: Dialect = Dialect {
    name: "onnx",
    summary: "ONNX operators (ai.onnx, opsets 13-23), one op per node, attributes kept.",
    ops: ops::OPS,
};

#[cfg(test)]
mod tests;
