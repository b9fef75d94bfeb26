//! `sofa-bench`: the measurements `sofa bench` prints. Each one compiles and simulates through
//! the same driver and simulator as `sofa compile` / `sofa run`, so a benchmark figure is the
//! figure a user would get; the CLI only renders them.
//!
//! - [`paper`]: the SOFA paper's ablations (DRAM, complexity, SU-FA, SADS, RASS, PE
//!   utilisation), each beside the paper's figure.
//! - [`roofline`]: each paper workload and ONNX model against its roofline (bound, achieved,
//!   efficiency, SU-FA utilisation, DRAM against its lower bound).

pub mod paper;
pub mod roofline;
