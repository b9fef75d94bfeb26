//! The `sofa` command-line tool: argument parsing, file IO and diagnostics rendering; and
//! `calibrate`, the work of `sofa calibrate`, which needs both the compiler and the runtime.

pub mod calibrate;
pub mod cli;
pub mod npz;
pub mod plot;
pub mod progress;
pub mod report_html;
