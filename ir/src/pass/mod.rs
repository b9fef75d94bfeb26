//! Passes: the [`Pass`] trait, pass options, pipelines, the registry, the manager and its
//! instrumentation.
//!
//! - [`options`]: the option schema a pass declares ([`PassOption`]) and parsed values ([`PassOptions`]).
//! - [`pipeline`]: pipeline strings such as `canonicalize,cse{aggressive=true}`, errors with a column.
//! - [`registry`]: name → description, options and constructor, so `sofa opt --list-passes` can
//!   print every pass and a pipeline string can be turned into pass objects.
//! - [`manager`]: runs passes in order, verifies after each one, times them and collects statistics.
//! - [`instrument`]: the [`Instrumentation`] trait through which the manager reports events; the CLI
//!   implements it (printing IR, dump files, timing tables). This crate never prints.
//! - [`stats`]: per-pass counters (`ops-folded`, `ops-erased`, ...).
//!
//! The manager knows no concrete pass: passes live in `sofa-compiler` and reach the manager through
//! a [`PassRegistry`].

pub mod instrument;
pub mod manager;
pub mod options;
pub mod pipeline;
pub mod registry;
pub mod stats;

pub use instrument::{display_name, Instrumentation, NoInstrumentation, PassId};
pub use manager::{PassManager, PassManagerError, PassRecord};
pub use options::{
    BadDefault, BadValue, OptionKind, OptionLookupError, OptionValue, PassOption, PassOptions,
};
pub use pipeline::{parse_pipeline, PipelineElement, PipelineError, RawOption};
pub use registry::{PassBuildError, PassBuilder, PassInfo, PassRegistry};
pub use stats::Statistics;

use crate::dialect::DialectRegistry;
use crate::module::Module;

/// Whether a pass modified the IR.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PassOutcome {
    Changed,
    Unchanged,
}

impl PassOutcome {
    /// `Changed` when `changed` is true.
    pub fn from_changed(changed: bool) -> PassOutcome {
        if changed {
            PassOutcome::Changed
        } else {
            PassOutcome::Unchanged
        }
    }

    pub fn changed(self) -> bool {
        self == PassOutcome::Changed
    }
}

/// A pass could not do its job. The IR may be partially rewritten.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct PassError {
    pub message: String,
}

impl PassError {
    pub fn new(message: impl Into<String>) -> PassError {
        PassError {
            message: message.into(),
        }
    }
}

/// What a running pass may consult and report into.
#[derive(Debug)]
pub struct PassContext<'a> {
    /// The ops known to this run (traits, fold hooks, verifiers).
    pub dialects: &'a DialectRegistry,
    /// Counters reported by the pass; the manager hands them to instrumentation.
    pub stats: Statistics,
}

impl<'a> PassContext<'a> {
    pub fn new(dialects: &'a DialectRegistry) -> PassContext<'a> {
        PassContext {
            dialects,
            stats: Statistics::default(),
        }
    }

    /// Add `n` to the counter `name` (created at zero).
    pub fn stat(&mut self, name: &'static str, n: u64) {
        self.stats.add(name, n);
    }

    /// Record a free-text finding for the statistics report (e.g. an unfused candidate and why).
    pub fn note(&mut self, text: impl Into<String>) {
        self.stats.note(text);
    }
}

/// A transformation of a module. Each pass type has one static [`PassInfo`] (its name,
/// description, option schema and constructor), registered in a [`PassRegistry`].
pub trait Pass {
    /// The pass's static description, the same one the registry holds.
    fn info(&self) -> &'static PassInfo;
    /// The pipeline name, kebab-case (`canonicalize`, `fuse-attention`).
    fn name(&self) -> &'static str {
        self.info().name
    }
    /// One line: what the pass does.
    fn description(&self) -> &'static str {
        self.info().description
    }
    /// The options this pass accepts in a pipeline string.
    fn options(&self) -> &'static [PassOption] {
        self.info().options
    }
    /// Transform `module`. Returns whether anything changed.
    fn run(
        &mut self,
        module: &mut Module,
        cx: &mut PassContext<'_>,
    ) -> Result<PassOutcome, PassError>;
}
