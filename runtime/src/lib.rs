//! `sofa-runtime`: the host reference interpreter and the SOFA simulator.

pub mod host;
pub mod interp;
pub mod sim;
pub mod weights;

pub use interp::{
    compare, resume, run_capturing, run_function, Checkpoint, DiffKind, InterpError, OutputDiff,
    Tolerance,
};
