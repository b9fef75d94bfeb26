//! `sofa opt`: parse IR, verify it, run a pass pipeline, print the result — the `mlir-opt` of sofa.
//!
//! The final IR goes to stdout (or `-o FILE`, written atomically); every diagnostic, IR dump and
//! report goes to stderr. With an empty pipeline, `sofa opt` is a parse → verify → print round
//! trip, which is why `sofa opt X | sofa opt -` prints exactly what `sofa opt X` prints.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use sofa_ir::dialect::DialectRegistry;
use sofa_ir::pass::{PassManager, PassRegistry};
use sofa_ir::text::{parse_module, print_module};
use sofa_ir::verify::verify;
use sofa_ir::Module;

use super::diag::{pipeline_error, verifier_errors, CliError};
use super::instrument::{statistics_report, CliInstrumentation, InstrumentConfig, Timings};
use super::io::{read_input, write_atomic};

#[derive(Debug, Args)]
#[command(
    long_about = "Parse IR, verify it, run a pass pipeline over it and print the result \
                  (like mlir-opt).\n\n\
                  The final IR goes to stdout (or -o FILE); IR dumps, timing and statistics go \
                  to stderr. Exit codes: 0 success, 1 bad input or failing pass, 2 usage error.",
    after_help = "Examples:\n  \
                  sofa opt model.mlir --pass-pipeline 'canonicalize,cse{aggressive=true}'\n  \
                  sofa opt model.mlir --pass-pipeline canonicalize --print-ir-after-all\n  \
                  sofa opt --list-passes"
)]
pub struct OptArgs {
    /// Input IR file in MLIR generic syntax; `-` reads standard input.
    #[arg(value_name = "FILE", required_unless_present = "list_passes")]
    pub input: Option<PathBuf>,

    /// Comma-separated passes with options in braces, e.g. 'canonicalize,cse{aggressive=true}'.
    #[arg(
        long,
        value_name = "PIPELINE",
        default_value = "",
        hide_default_value = true
    )]
    pub pass_pipeline: String,

    /// Write the final IR to OUT (atomically) instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub output: Option<PathBuf>,

    /// List every pass with its description and options, then exit.
    #[arg(long)]
    pub list_passes: bool,

    /// Do not run the verifier on the input nor after each pass (to look at invalid IR).
    #[arg(long)]
    pub no_verify_each: bool,

    #[command(flatten)]
    pub instrument: InstrumentArgs,

    /// Also have real MLIR parse and verify the printed result, and check it prints back the same.
    #[cfg(feature = "mlir")]
    #[arg(long)]
    pub verify_with_mlir: bool,
}

/// Instrumentation flags, named as in mlir-opt.
#[derive(Debug, Args)]
pub struct InstrumentArgs {
    /// Print the IR to stderr before each named pass (repeatable or comma-separated).
    #[arg(long, value_name = "PASS", value_delimiter = ',')]
    pub print_ir_before: Vec<String>,

    /// Print the IR to stderr before every pass.
    #[arg(long)]
    pub print_ir_before_all: bool,

    /// Print the IR to stderr after each named pass (repeatable or comma-separated).
    #[arg(long, value_name = "PASS", value_delimiter = ',')]
    pub print_ir_after: Vec<String>,

    /// Print the IR to stderr after every pass.
    #[arg(long)]
    pub print_ir_after_all: bool,

    /// Print the IR after a pass only if the pass changed it; alone, applies to every pass.
    #[arg(long)]
    pub print_ir_after_change: bool,

    /// Print the IR to stderr after a pass that failed or produced IR that does not verify.
    #[arg(long)]
    pub print_ir_after_failure: bool,

    /// Write the IR after each pass to DIR/NN-<pass>.after.mlir (NN-<pass>.failed.mlir on failure).
    #[arg(long, value_name = "DIR")]
    pub ir_dump_dir: Option<PathBuf>,

    /// Print an execution time report (parse, each pass, verifier, output) to stderr.
    #[arg(long)]
    pub pass_timing: bool,

    /// Print each pass's statistics (ops folded, erased, merged, ...) to stderr.
    #[arg(long)]
    pub pass_statistics: bool,
}

/// Run `sofa opt`.
pub fn run(args: &OptArgs) -> Result<(), CliError> {
    let passes = sofa_compiler::passes::registry();
    if args.list_passes {
        return print_stdout(&list_passes(&passes));
    }
    let start = Instant::now();
    let mut timings = Timings::default();
    let dialects = DialectRegistry::with_core_dialects();
    let mut pm = PassManager::from_pipeline(dialects.clone(), &passes, &args.pass_pipeline)
        .map_err(|e| pipeline_error("--pass-pipeline", &args.pass_pipeline, &e))?;
    pm.set_verify_each(!args.no_verify_each);
    let config = instrument_config(&args.instrument, &passes, pm.len())?;

    let input_path = args.input.clone().unwrap_or_else(|| PathBuf::from("-"));
    let input = read_input(&input_path)?;
    let t = Instant::now();
    let mut module = parse_module(&input.text)
        .map_err(|e| CliError::Input(e.render(&input.name, &input.text)))?;
    timings.add("Parser", t.elapsed());

    let mut verify_time = Duration::ZERO;
    if !args.no_verify_each {
        let t = Instant::now();
        verify(&module, &dialects)
            .map_err(|e| verifier_errors(&input.name, &input.text, &e, module.all_ops().len()))?;
        verify_time += t.elapsed();
    }

    let mut sink = CliInstrumentation::new(config, std::io::stderr().lock());
    let result = pm.run(&mut module, &mut sink);
    for r in &sink.records {
        timings.add(r.pass.display_name(), r.run_time);
        verify_time += r.verify_time.unwrap_or_default();
    }
    if !args.no_verify_each {
        timings.add("Verifier", verify_time);
    }
    let (records, dump_error) = (std::mem::take(&mut sink.records), sink.dump_error.take());
    drop(sink);
    let outcome = result
        .map_err(CliError::input)
        .and_then(|_| dump_error.map_or(Ok(()), |e| Err(CliError::input(e))))
        .and_then(|()| {
            let t = Instant::now();
            let r = emit(args, &module);
            timings.add("Output", t.elapsed());
            r
        });
    if args.instrument.pass_statistics {
        eprint!("{}", statistics_report(&records));
    }
    if args.instrument.pass_timing {
        eprint!("{}", timings.report(start.elapsed()));
    }
    outcome
}

/// Print (and optionally cross-check with MLIR) the final module.
fn emit(args: &OptArgs, module: &Module) -> Result<(), CliError> {
    let text = print_module(module);
    #[cfg(feature = "mlir")]
    if args.verify_with_mlir {
        verify_with_mlir(&text)?;
    }
    match &args.output {
        Some(path) if path.as_os_str() != "-" => {
            write_atomic(path, text.as_bytes()).map_err(|e| CliError::io("write", path, &e))
        }
        _ => print_stdout(&text),
    }
}

/// Real MLIR parses and verifies `text`; its print must parse back to the same module.
#[cfg(feature = "mlir")]
fn verify_with_mlir(text: &str) -> Result<(), CliError> {
    let back = sofa_compiler::mlir_bridge::roundtrip(text)
        .map_err(|e| CliError::input(format!("MLIR rejected the output: {e}")))?;
    let reparsed = parse_module(&back).map_err(|e| {
        CliError::Input(format!(
            "error: cannot parse MLIR's print of the output:\n{}",
            e.render("<mlir>", &back)
        ))
    })?;
    if print_module(&reparsed) != text {
        return Err(CliError::input(
            "MLIR's print of the output differs from sofa's after reparsing",
        ));
    }
    Ok(())
}

fn print_stdout(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| CliError::input(format!("cannot write standard output: {e}")))
}

/// Build the instrumentation config, rejecting pass names the registry does not know.
pub(super) fn instrument_config(
    a: &InstrumentArgs,
    passes: &PassRegistry,
    num_passes: usize,
) -> Result<InstrumentConfig, CliError> {
    let names = |flag: &str, list: &[String]| -> Result<BTreeSet<String>, CliError> {
        for name in list {
            if passes.lookup(name).is_none() {
                let known: Vec<&str> = passes.iter().map(|p| p.name).collect();
                return Err(CliError::usage(format!(
                    "unknown pass '{name}' in {flag}; known passes: {}",
                    known.join(", ")
                )));
            }
        }
        Ok(list.iter().cloned().collect())
    };
    Ok(InstrumentConfig {
        before: names("--print-ir-before", &a.print_ir_before)?,
        before_all: a.print_ir_before_all,
        after: names("--print-ir-after", &a.print_ir_after)?,
        after_all: a.print_ir_after_all,
        after_change: a.print_ir_after_change,
        after_failure: a.print_ir_after_failure,
        dump_dir: a.ir_dump_dir.clone(),
        num_passes,
    })
    .and_then(create_dump_dir)
}

fn create_dump_dir(config: InstrumentConfig) -> Result<InstrumentConfig, CliError> {
    if let Some(dir) = &config.dump_dir {
        std::fs::create_dir_all(dir).map_err(|e| CliError::io("create directory", dir, &e))?;
    }
    Ok(config)
}

/// `--list-passes`: every pass, its description and its options (kind, default, help).
pub fn list_passes(passes: &PassRegistry) -> String {
    let mut s = String::from(
        "Available passes (combine as --pass-pipeline 'a,b{option=value option2=value}'):\n",
    );
    for p in passes.iter() {
        s.push_str(&format!("\n  {}\n      {}\n", p.name, p.description));
        for o in p.options {
            s.push_str(&format!(
                "      {}=<{}>  (default: {})\n          {}\n",
                o.name,
                o.kind.name(),
                o.default,
                o.help
            ));
        }
    }
    s
}
