//! Instrumentation: how the pass manager reports what happens, without printing anything itself.
//!
//! The manager calls [`Instrumentation::before_pass`] before each pass, then either
//! [`Instrumentation::after_pass`] (the pass succeeded and, when verification is on, the IR
//! verified) or [`Instrumentation::after_failure`] (the pass failed, or broke the IR). The CLI
//! implements this trait to print IR (`--print-ir-after-all` ...), write dump files
//! (`--ir-dump-dir`) and collect the timing table (`--pass-timing`).

use super::manager::{PassManagerError, PassRecord};
use crate::module::Module;

/// Which pass an event is about: its position in the pipeline (0-based) and its name.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct PassId {
    pub index: usize,
    pub name: &'static str,
}

impl PassId {
    /// The name MLIR-style dump headers use (`Canonicalize` for `canonicalize`).
    pub fn display_name(&self) -> String {
        display_name(self.name)
    }
}

/// Receives pass manager events. Every method defaults to doing nothing.
pub trait Instrumentation {
    /// Called right before a pass runs, with the IR it will see.
    fn before_pass(&mut self, _pass: PassId, _module: &Module) {}
    /// Called after a pass succeeded (and its output verified, when verification is on).
    fn after_pass(&mut self, _record: &PassRecord, _module: &Module) {}
    /// Called when a pass failed or its output did not verify, with the IR as the pass left it.
    fn after_failure(&mut self, _pass: PassId, _module: &Module, _error: &PassManagerError) {}
}

/// Instrumentation that ignores every event.
#[derive(Copy, Clone, Debug, Default)]
pub struct NoInstrumentation;

impl Instrumentation for NoInstrumentation {}

/// `fuse-attention` → `FuseAttention`: the CamelCase name used in MLIR-style dump headers.
pub fn display_name(pass_name: &str) -> String {
    pass_name
        .split(['-', '_', '.'])
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(c) => c.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_camel_case() {
        assert_eq!(display_name("canonicalize"), "Canonicalize");
        assert_eq!(display_name("fuse-attention"), "FuseAttention");
        assert_eq!(display_name("lower-to-isa"), "LowerToIsa");
    }
}
