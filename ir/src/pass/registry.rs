//! The pass registry: every pass known to a tool, by name, with its description, option schema and
//! constructor. `sofa opt --list-passes` prints it; [`PassRegistry::build`] turns a pipeline
//! string into pass objects, reporting unknown passes and bad options with their column.

use std::collections::BTreeMap;

use super::options::{OptionLookupError, OptionValue, PassOption, PassOptions};
use super::pipeline::{parse_pipeline, PipelineError};
use super::Pass;

/// Build a pass from its parsed options (defaults filled in). An `Err` is about the option
/// values (e.g. a value out of range).
pub type PassBuilder = fn(&PassOptions) -> Result<Box<dyn Pass>, PassBuildError>;

/// Why a pass could not be built from its options.
#[derive(Debug, thiserror::Error)]
pub enum PassBuildError {
    #[error(transparent)]
    Lookup(#[from] OptionLookupError),
    /// A value the pass does not accept; `expected` says what it accepts.
    #[error("{option} must be {expected}, got {value}")]
    Invalid {
        option: &'static str,
        expected: &'static str,
        value: OptionValue,
    },
    /// The pass's own error (reading a file the options name, parsing a value, ...).
    #[error(transparent)]
    Pass(Box<dyn std::error::Error + Send + Sync>),
}

impl PassBuildError {
    /// Wrap a pass's own error.
    pub fn pass(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> PassBuildError {
        PassBuildError::Pass(e.into())
    }
}

/// Everything the registry knows about one pass.
#[derive(Copy, Clone, Debug)]
pub struct PassInfo {
    pub name: &'static str,
    pub description: &'static str,
    pub options: &'static [PassOption],
    pub build: PassBuilder,
}

/// Passes by name; iteration is sorted by name.
#[derive(Clone, Debug, Default)]
pub struct PassRegistry {
    passes: BTreeMap<&'static str, &'static PassInfo>,
}

impl PassRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a pass; a later registration under the same name replaces the earlier one.
    pub fn register(&mut self, info: &'static PassInfo) {
        self.passes.insert(info.name, info);
    }

    pub fn lookup(&self, name: &str) -> Option<&'static PassInfo> {
        self.passes.get(name).copied()
    }

    /// Every pass, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &'static PassInfo> + '_ {
        self.passes.values().copied()
    }

    /// Parse `pipeline` and construct its passes, in order.
    pub fn build(&self, pipeline: &str) -> Result<Vec<Box<dyn Pass>>, PipelineError> {
        parse_pipeline(pipeline)?
            .iter()
            .map(|el| {
                let info = self.lookup(&el.name).ok_or_else(|| {
                    PipelineError::new(el.col, el.name.len(), self.unknown_pass_message(&el.name))
                })?;
                let opts = PassOptions::from_raw(info.name, info.options, &el.options)
                    .map_err(|e| PipelineError::new(e.col, e.len, e.message))?;
                (info.build)(&opts).map_err(|e| {
                    PipelineError::new(el.col, el.name.len(), format!("pass '{}': {e}", el.name))
                })
            })
            .collect()
    }

    fn unknown_pass_message(&self, name: &str) -> String {
        let known: Vec<&str> = self.passes.keys().copied().collect();
        if known.is_empty() {
            return format!("unknown pass '{name}' (no passes are registered)");
        }
        format!("unknown pass '{name}'; known passes: {}", known.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::module::Module;
    use crate::pass::{OptionKind, PassContext, PassError, PassOutcome};

    struct Nop {
        times: u64,
    }

    static NOP: PassInfo = PassInfo {
        name: "nop",
        description: "Does nothing, `times` times.",
        options: &[PassOption {
            name: "times",
            kind: OptionKind::UInt,
            default: "1",
            help: "how often",
        }],
        build: |o| {
            let times = o.uint("times")?;
            if times > 100 {
                return Err(PassBuildError::Invalid {
                    option: "times",
                    expected: "at most 100",
                    value: OptionValue::UInt(times),
                });
            }
            Ok(Box::new(Nop { times }))
        },
    };

    impl Pass for Nop {
        fn info(&self) -> &'static PassInfo {
            &NOP
        }
        fn run(
            &mut self,
            _: &mut Module,
            cx: &mut PassContext<'_>,
        ) -> Result<PassOutcome, PassError> {
            cx.stat("times", self.times);
            Ok(PassOutcome::Unchanged)
        }
    }

    fn registry() -> PassRegistry {
        let mut r = PassRegistry::new();
        r.register(&NOP);
        r
    }

    #[test]
    fn builds_passes_in_order_with_options() {
        let passes = registry().build("nop,nop{times=3}").unwrap();
        assert_eq!(passes.len(), 2);
        let mut m = Module::new();
        let dialects = crate::dialect::DialectRegistry::new();
        let mut cx = PassContext::new(&dialects);
        for mut p in passes {
            p.run(&mut m, &mut cx).unwrap();
        }
        assert_eq!(cx.stats.get("times"), 4);
    }

    #[test]
    fn unknown_pass_and_builder_errors_point_at_the_name() {
        let e = registry().build("nop,frobnicate").err().unwrap();
        assert_eq!((e.col, e.len), (5, 10));
        assert_eq!(e.message, "unknown pass 'frobnicate'; known passes: nop");
        let e = registry().build("nop{times=500}").err().unwrap();
        assert_eq!(e.col, 1);
        assert!(e.message.contains("at most 100, got 500"), "{}", e.message);
        let e = registry().build("nop{time=5}").err().unwrap();
        assert_eq!(e.col, 5);
        assert!(e.message.contains("unknown option 'time'"));
    }
}
