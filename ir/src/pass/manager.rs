//! The pass manager: runs a sequence of passes over a module, verifying after each one.
//!
//! For every pass it reports `before_pass`, runs the pass with a fresh [`PassContext`] (so the
//! statistics are per pass), verifies the result when `verify_each` is on, then reports either
//! `after_pass` with a [`PassRecord`] (timings, statistics, outcome) or `after_failure`. The first
//! failure stops the run. The input is assumed valid: callers verify it before running, otherwise
//! a verifier failure would blame the first pass for a problem it did not create.

use std::time::{Duration, Instant};

use super::instrument::{Instrumentation, PassId};
use super::registry::PassRegistry;
use super::stats::Statistics;
use super::{Pass, PassContext, PassError, PassOutcome, PipelineError};
use crate::dialect::DialectRegistry;
use crate::module::Module;
use crate::verify::{verify, VerifierErrors};

/// What one successful pass run produced, as data for instrumentation and reports.
#[derive(Clone, Debug)]
pub struct PassRecord {
    pub pass: PassId,
    /// What the pass itself reported.
    pub outcome: PassOutcome,
    pub stats: Statistics,
    /// Wall time of the pass itself.
    pub run_time: Duration,
    /// Wall time of the verifier after the pass (`None` when verification is off).
    pub verify_time: Option<Duration>,
}

/// Why a pipeline run stopped.
#[derive(Debug, thiserror::Error)]
pub enum PassManagerError {
    #[error("pass '{}' (#{} in the pipeline) failed: {error}", .pass.name, .pass.index + 1)]
    PassFailed { pass: PassId, error: PassError },
    #[error(
        "the IR does not verify after pass '{}' (#{} in the pipeline):\n{errors}",
        .pass.name,
        .pass.index + 1
    )]
    VerifyFailed {
        pass: PassId,
        errors: VerifierErrors,
    },
}

impl PassManagerError {
    /// The pass that failed or broke the IR.
    pub fn pass(&self) -> PassId {
        match self {
            PassManagerError::PassFailed { pass, .. }
            | PassManagerError::VerifyFailed { pass, .. } => *pass,
        }
    }
}

/// An ordered list of passes plus the dialects they run against.
pub struct PassManager {
    dialects: DialectRegistry,
    passes: Vec<Box<dyn Pass>>,
    verify_each: bool,
}

impl PassManager {
    /// An empty pipeline; verification after each pass is on.
    pub fn new(dialects: DialectRegistry) -> PassManager {
        PassManager {
            dialects,
            passes: Vec::new(),
            verify_each: true,
        }
    }

    /// The passes of `pipeline`, looked up in `registry`.
    pub fn from_pipeline(
        dialects: DialectRegistry,
        registry: &PassRegistry,
        pipeline: &str,
    ) -> Result<PassManager, PipelineError> {
        let mut pm = PassManager::new(dialects);
        pm.passes = registry.build(pipeline)?;
        Ok(pm)
    }

    pub fn add(&mut self, pass: Box<dyn Pass>) {
        self.passes.push(pass);
    }

    /// Run the verifier after every pass (default on).
    pub fn set_verify_each(&mut self, on: bool) {
        self.verify_each = on;
    }

    pub fn pass_names(&self) -> Vec<&'static str> {
        self.passes.iter().map(|p| p.name()).collect()
    }

    pub fn len(&self) -> usize {
        self.passes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.passes.is_empty()
    }

    /// Run every pass in order. Returns one record per pass, or the first failure.
    pub fn run(
        &mut self,
        module: &mut Module,
        instr: &mut dyn Instrumentation,
    ) -> Result<Vec<PassRecord>, PassManagerError> {
        let mut records = Vec::with_capacity(self.passes.len());
        for (index, pass) in self.passes.iter_mut().enumerate() {
            let id = PassId {
                index,
                name: pass.name(),
            };
            let record = run_one(
                pass.as_mut(),
                id,
                module,
                &self.dialects,
                self.verify_each,
                instr,
            )?;
            records.push(record);
        }
        Ok(records)
    }
}

fn run_one(
    pass: &mut dyn Pass,
    id: PassId,
    module: &mut Module,
    dialects: &DialectRegistry,
    verify_each: bool,
    instr: &mut dyn Instrumentation,
) -> Result<PassRecord, PassManagerError> {
    instr.before_pass(id, module);
    let mut cx = PassContext::new(dialects);
    let start = Instant::now();
    let result = pass.run(module, &mut cx);
    let run_time = start.elapsed();
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(error) => {
            return Err(fail(
                instr,
                module,
                PassManagerError::PassFailed { pass: id, error },
            ))
        }
    };
    let verify_time = if verify_each {
        let start = Instant::now();
        if let Err(errors) = verify(module, dialects) {
            return Err(fail(
                instr,
                module,
                PassManagerError::VerifyFailed { pass: id, errors },
            ));
        }
        Some(start.elapsed())
    } else {
        None
    };
    let record = PassRecord {
        pass: id,
        outcome,
        stats: cx.stats,
        run_time,
        verify_time,
    };
    instr.after_pass(&record, module);
    Ok(record)
}

fn fail(
    instr: &mut dyn Instrumentation,
    module: &Module,
    error: PassManagerError,
) -> PassManagerError {
    instr.after_failure(error.pass(), module, &error);
    error
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::module::OpSpec;
    use crate::pass::PassInfo;
    use crate::types::{ElemType, TensorType, Type};

    /// Appends a `func.return` of the entry argument to `main`, which has no results: invalid.
    struct Breaker;
    /// Counts ops and reports them.
    struct Counter;

    static BREAKER: PassInfo = PassInfo {
        name: "breaker",
        description: "Breaks the IR.",
        options: &[],
        build: |_| Ok(Box::new(Breaker)),
    };
    static COUNTER: PassInfo = PassInfo {
        name: "counter",
        description: "Counts ops.",
        options: &[],
        build: |_| Ok(Box::new(Counter)),
    };

    impl Pass for Breaker {
        fn info(&self) -> &'static PassInfo {
            &BREAKER
        }
        fn run(
            &mut self,
            m: &mut Module,
            _: &mut PassContext<'_>,
        ) -> Result<PassOutcome, PassError> {
            let func = m.funcs()[0];
            let entry = m.entry_block(func).expect("entry");
            let ret = m.blocks[entry].ops[0];
            let x = m.blocks[entry].args[0];
            m.op_mut(ret).operands.push(x);
            Ok(PassOutcome::Changed)
        }
    }

    impl Pass for Counter {
        fn info(&self) -> &'static PassInfo {
            &COUNTER
        }
        fn run(
            &mut self,
            m: &mut Module,
            cx: &mut PassContext<'_>,
        ) -> Result<PassOutcome, PassError> {
            if m.funcs().is_empty() {
                return Err(PassError::new("no function to count"));
            }
            cx.stat("ops", m.num_ops() as u64);
            Ok(PassOutcome::Unchanged)
        }
    }

    #[derive(Default)]
    struct Log(Vec<String>);

    impl Instrumentation for Log {
        fn before_pass(&mut self, pass: PassId, _: &Module) {
            self.0.push(format!("before {} #{}", pass.name, pass.index));
        }
        fn after_pass(&mut self, r: &PassRecord, _: &Module) {
            let stats: Vec<String> = r.stats.iter().map(|(k, v)| format!("{k}={v}")).collect();
            self.0.push(format!(
                "after {} {:?} verified={} {}",
                r.pass.name,
                r.outcome,
                r.verify_time.is_some(),
                stats.join(",")
            ));
        }
        fn after_failure(&mut self, pass: PassId, _: &Module, e: &PassManagerError) {
            let kind = match e {
                PassManagerError::PassFailed { .. } => "pass",
                PassManagerError::VerifyFailed { .. } => "verify",
            };
            self.0.push(format!("failed {} ({kind})", pass.name));
        }
    }

    fn module() -> Module {
        let mut m = Module::new();
        let t = Type::Tensor(TensorType::static_shape(&[2], ElemType::F32));
        let (_, entry) = m.add_func("main", vec![t], vec![]);
        m.build_at_end(entry, OpSpec::new("func.return"));
        m
    }

    fn registry() -> PassRegistry {
        let mut r = PassRegistry::new();
        r.register(&BREAKER);
        r.register(&COUNTER);
        r
    }

    fn manager(pipeline: &str) -> PassManager {
        PassManager::from_pipeline(DialectRegistry::with_core_dialects(), &registry(), pipeline)
            .expect("pipeline builds")
    }

    #[test]
    fn runs_in_order_reporting_records_and_stats() {
        let mut pm = manager("counter,counter");
        assert_eq!(pm.pass_names(), ["counter", "counter"]);
        let mut log = Log::default();
        let records = pm.run(&mut module(), &mut log).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].pass.index, 1);
        assert_eq!(
            log.0,
            [
                "before counter #0",
                "after counter Unchanged verified=true ops=3",
                "before counter #1",
                "after counter Unchanged verified=true ops=3",
            ]
        );
    }

    #[test]
    fn verify_each_names_the_pass_that_broke_the_ir() {
        let mut pm = manager("counter,breaker,counter");
        let mut log = Log::default();
        let err = pm.run(&mut module(), &mut log).unwrap_err();
        assert_eq!(
            err.pass(),
            PassId {
                index: 1,
                name: "breaker"
            }
        );
        let text = err.to_string();
        assert!(
            text.starts_with("the IR does not verify after pass 'breaker' (#2 in the pipeline):"),
            "{text}"
        );
        assert!(text.contains("func.return"), "{text}");
        assert_eq!(
            log.0.last().map(String::as_str),
            Some("failed breaker (verify)")
        );
        assert_eq!(log.0.len(), 4, "the last counter never ran: {:?}", log.0);
    }

    #[test]
    fn no_verify_each_lets_invalid_ir_through() {
        let mut pm = manager("breaker,counter");
        pm.set_verify_each(false);
        let mut log = Log::default();
        let records = pm.run(&mut module(), &mut log).unwrap();
        assert!(records.iter().all(|r| r.verify_time.is_none()));
        assert_eq!(log.0[1], "after breaker Changed verified=false ");
    }

    #[test]
    fn a_failing_pass_stops_the_run() {
        let mut pm = manager("counter");
        let mut log = Log::default();
        let err = pm.run(&mut Module::new(), &mut log).unwrap_err();
        assert_eq!(
            err.to_string(),
            "pass 'counter' (#1 in the pipeline) failed: no function to count"
        );
        assert_eq!(log.0, ["before counter #0", "failed counter (pass)"]);
    }
}
