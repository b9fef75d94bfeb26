//! The CLI's pass instrumentation: IR printing around passes (to stderr), numbered dump files
//! (`--ir-dump-dir`), and the data for the timing and statistics reports.
//!
//! Dump headers follow MLIR (`// -----// IR Dump After CSE (cse) //----- //`) so tools and eyes
//! used to mlir-opt output read ours. Dump files are written right after their pass (before the
//! next one starts), each through a temporary file and a rename, so they survive a later crash.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use sofa_ir::pass::{Instrumentation, PassId, PassManagerError, PassRecord};
use sofa_ir::text::print_module;
use sofa_ir::Module;

use super::io::write_atomic;

/// What to print and where to dump; built from the command-line flags.
#[derive(Debug, Default, Clone)]
pub struct InstrumentConfig {
    /// Print before these passes (names).
    pub before: BTreeSet<String>,
    pub before_all: bool,
    /// Print after these passes (names).
    pub after: BTreeSet<String>,
    pub after_all: bool,
    /// Only print "after" dumps when the pass changed the IR.
    pub after_change: bool,
    pub after_failure: bool,
    pub dump_dir: Option<PathBuf>,
    /// Number of passes in the pipeline (for the width of dump file numbers).
    pub num_passes: usize,
}

impl InstrumentConfig {
    fn prints_before(&self, name: &str) -> bool {
        self.before_all || self.before.contains(name)
    }

    /// `--print-ir-after-change` alone means "after every pass that changed something".
    fn prints_after(&self, name: &str) -> bool {
        let selected = self.after_all || self.after.contains(name);
        selected || (self.after_change && self.after.is_empty())
    }
}

/// Instrumentation writing dumps to `out` (stderr in the CLI) and to the dump directory.
pub struct CliInstrumentation<W: Write> {
    config: InstrumentConfig,
    out: W,
    /// The IR printed before the running pass, kept only for `--print-ir-after-change`.
    before_text: Option<String>,
    /// One record per successful pass, for the timing and statistics reports.
    pub records: Vec<PassRecord>,
    /// The first dump-file write error (reported after the run).
    pub dump_error: Option<String>,
}

impl<W: Write> CliInstrumentation<W> {
    pub fn new(config: InstrumentConfig, out: W) -> Self {
        CliInstrumentation {
            config,
            out,
            before_text: None,
            records: Vec::new(),
            dump_error: None,
        }
    }

    fn print(&mut self, header: &str, ir: &str) {
        // A closed stderr is no reason to abort the compilation.
        let _ = write!(self.out, "// -----// {header} //----- //\n{ir}\n");
    }

    fn dump(&mut self, pass: PassId, suffix: &str, header: &str, ir: &str) {
        let Some(dir) = &self.config.dump_dir else {
            return;
        };
        let width = self.config.num_passes.to_string().len().max(2);
        let file = dir.join(format!(
            "{:0width$}-{}.{suffix}.mlir",
            pass.index + 1,
            pass.name
        ));
        let text = format!("// -----// {header} //----- //\n{ir}");
        if let Err(e) = write_atomic(&file, text.as_bytes()) {
            self.dump_error
                .get_or_insert_with(|| format!("cannot write '{}': {e}", file.display()));
        }
    }
}

fn header(when: &str, pass: PassId) -> String {
    format!("IR Dump {when} {} ({})", pass.display_name(), pass.name)
}

impl<W: Write> Instrumentation for CliInstrumentation<W> {
    fn before_pass(&mut self, pass: PassId, module: &Module) {
        let needs_before_text = self.config.after_change && self.config.prints_after(pass.name);
        if !self.config.prints_before(pass.name) && !needs_before_text {
            self.before_text = None;
            return;
        }
        let ir = print_module(module);
        if self.config.prints_before(pass.name) {
            self.print(&header("Before", pass), &ir);
        }
        self.before_text = needs_before_text.then_some(ir);
    }

    fn after_pass(&mut self, record: &PassRecord, module: &Module) {
        self.records.push(record.clone());
        let pass = record.pass;
        let wants_print = self.config.prints_after(pass.name);
        if !wants_print && self.config.dump_dir.is_none() {
            return;
        }
        let ir = print_module(module);
        let changed = match self.before_text.take() {
            Some(before) => before != ir,
            None => true,
        };
        let header = header("After", pass);
        if wants_print && (!self.config.after_change || changed) {
            self.print(&header, &ir);
        }
        self.dump(pass, "after", &header, &ir);
    }

    fn after_failure(&mut self, pass: PassId, module: &Module, _error: &PassManagerError) {
        if !self.config.after_failure && self.config.dump_dir.is_none() {
            return;
        }
        let ir = print_module(module);
        let header = format!(
            "IR Dump After {} Failed ({})",
            pass.display_name(),
            pass.name
        );
        if self.config.after_failure {
            self.print(&header, &ir);
        }
        self.dump(pass, "failed", &header, &ir);
    }
}

/// Named wall times of a run, printed as MLIR's execution time report.
#[derive(Debug, Default)]
pub struct Timings {
    pub rows: Vec<(String, Duration)>,
}

impl Timings {
    pub fn add(&mut self, name: impl Into<String>, d: Duration) {
        self.rows.push((name.into(), d));
    }

    /// The report, with percentages of `total`.
    pub fn report(&self, total: Duration) -> String {
        let t = total.as_secs_f64().max(f64::MIN_POSITIVE);
        let mut s = banner("Execution time report");
        s.push_str(&format!(
            "  Total Execution Time: {:.4} seconds\n\n  ----Wall Time----  ----Name----\n",
            total.as_secs_f64()
        ));
        let rows = self.rows.iter().map(|(n, d)| (n.as_str(), *d));
        for (name, d) in rows.chain([("Total", total)]) {
            let secs = d.as_secs_f64();
            s.push_str(&format!(
                "  {secs:8.4} ({:5.1}%)  {name}\n",
                100.0 * secs / t
            ));
        }
        s
    }
}

/// Per-pass statistics, MLIR style: `(S) <value> <name>` under each pass.
pub fn statistics_report(records: &[PassRecord]) -> String {
    let mut s = banner("Pass statistics report");
    for r in records {
        s.push_str(&format!(
            "'{}' ({}, #{} in the pipeline)\n",
            r.pass.name,
            r.pass.display_name(),
            r.pass.index + 1
        ));
        if r.stats.is_empty() {
            s.push_str("  (no statistics)\n");
        }
        for (name, value) in r.stats.iter() {
            s.push_str(&format!("  (S) {value:>6} {name}\n"));
        }
        for note in r.stats.notes() {
            s.push_str(&format!("  note: {note}\n"));
        }
    }
    s
}

fn banner(title: &str) -> String {
    let rule = "===-------------------------------------------------------------------------===";
    let title = format!("{:^79}", format!("... {title} ..."));
    format!("{rule}\n{}\n{rule}\n", title.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sofa_ir::pass::{PassError, PassOutcome, Statistics};

    fn failing(config: InstrumentConfig) -> (String, Option<String>) {
        let mut sink = CliInstrumentation::new(config, Vec::new());
        let pass = PassId {
            index: 2,
            name: "fuse-attention",
        };
        let error = PassManagerError::PassFailed {
            pass,
            error: PassError::new("boom"),
        };
        let m = Module::new();
        sink.before_pass(pass, &m);
        sink.after_failure(pass, &m, &error);
        (String::from_utf8(sink.out).unwrap(), sink.dump_error)
    }

    #[test]
    fn failure_dumps_print_and_write_a_failed_file() {
        let dir = std::env::temp_dir().join(format!("sofa-instr-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let config = InstrumentConfig {
            after_failure: true,
            dump_dir: Some(dir.clone()),
            num_passes: 3,
            ..InstrumentConfig::default()
        };
        let (printed, dump_error) = failing(config);
        let header = "// -----// IR Dump After FuseAttention Failed (fuse-attention) //----- //\n";
        assert!(printed.starts_with(header), "{printed}");
        assert_eq!(dump_error, None);
        let file = std::fs::read_to_string(dir.join("03-fuse-attention.failed.mlir")).unwrap();
        assert!(file.starts_with(header));
        std::fs::remove_dir_all(&dir).unwrap();

        let (printed, _) = failing(InstrumentConfig::default());
        assert!(printed.is_empty(), "no flag, no print: {printed}");
    }

    #[test]
    fn dump_write_errors_are_kept_for_the_caller() {
        let config = InstrumentConfig {
            dump_dir: Some(PathBuf::from("/nonexistent/sofa/dumps")),
            num_passes: 1,
            ..InstrumentConfig::default()
        };
        let mut sink = CliInstrumentation::new(config, Vec::new());
        let record = PassRecord {
            pass: PassId {
                index: 0,
                name: "dce",
            },
            outcome: PassOutcome::Unchanged,
            stats: Statistics::default(),
            run_time: Duration::ZERO,
            verify_time: None,
        };
        sink.after_pass(&record, &Module::new());
        let e = sink.dump_error.expect("write fails");
        assert!(
            e.contains("/nonexistent/sofa/dumps/01-dce.after.mlir"),
            "{e}"
        );
        assert_eq!(sink.records.len(), 1);
    }

    #[test]
    fn timing_report_has_percentages_and_a_total() {
        let mut t = Timings::default();
        t.add("Parser", Duration::from_millis(250));
        t.add("Canonicalize", Duration::from_millis(750));
        let r = t.report(Duration::from_secs(1));
        assert!(r.contains("  Total Execution Time: 1.0000 seconds"), "{r}");
        assert!(r.contains("    0.2500 ( 25.0%)  Parser\n"), "{r}");
        assert!(r.contains("    1.0000 (100.0%)  Total\n"), "{r}");
    }
}
