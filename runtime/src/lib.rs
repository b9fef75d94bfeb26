//! `sofa-runtime`: the host reference interpreter and the SOFA simulator.

pub mod host;
pub mod interp;
pub mod sim;

pub use interp::{compare, run_function, DiffKind, InterpError, OutputDiff, Tolerance};
