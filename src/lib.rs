//! The `sofa` command-line tool: argument parsing, file IO and diagnostics rendering.

pub mod cli;
pub mod npz;
