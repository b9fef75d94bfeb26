//! `sofa-compiler`: frontends (ONNX, workload specs), passes, and (with the `mlir` feature) the
//! bridge to real MLIR.

pub mod calibrate;
pub mod driver;
pub mod dse;
pub mod lower;
#[cfg(feature = "mlir")]
pub mod mlir_bridge;
pub mod onnx;
pub mod passes;
pub mod roofline;
pub mod schedule;
pub mod weights;
pub mod workload;
