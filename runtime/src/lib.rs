//! `sofa-runtime`: the host reference interpreter (and, later, the SOFA simulator).

pub mod interp;

pub use interp::{compare, run_function, DiffKind, InterpError, OutputDiff};
