//! Running a pass pipeline from subcommands other than `opt` (`run`, `inspect`): the same
//! `--pass-pipeline` grammar, the same instrumentation flags, the same reports.

use std::path::Path;
use std::time::Instant;

use clap::Args;
use sofa_ir::dialect::DialectRegistry;
use sofa_ir::pass::{NoInstrumentation, PassManager, PassRecord};
use sofa_ir::verify::verify;
use sofa_ir::Module;

use super::diag::{pipeline_error, CliError};
use super::instrument::{statistics_report, CliInstrumentation, Timings};
use super::opt::{instrument_config, InstrumentArgs};

/// `--pass-pipeline` plus the instrumentation flags, for commands that import a model first.
#[derive(Debug, Args)]
pub struct PipelineArgs {
    /// Passes to run on the imported IR, e.g. 'shape-infer,canonicalize,fuse-attention'
    /// (`sofa opt --list-passes` lists them). Empty: run the IR exactly as imported.
    #[arg(
        long,
        value_name = "PIPELINE",
        default_value = "",
        hide_default_value = true
    )]
    pub pass_pipeline: String,

    /// Do not verify the IR after each pass.
    #[arg(long)]
    pub no_verify_each: bool,

    #[command(flatten)]
    pub instrument: InstrumentArgs,
}

/// Verify the freshly imported `module`, then run the pipeline with the CLI's instrumentation
/// (dumps and reports on stderr). Returns the per-pass records.
pub fn run_pipeline(module: &mut Module, args: &PipelineArgs) -> Result<Vec<PassRecord>, CliError> {
    let passes = sofa_compiler::passes::registry();
    let dialects = DialectRegistry::with_core_dialects();
    let pm = PassManager::from_pipeline(dialects, &passes, &args.pass_pipeline)
        .map_err(|e| pipeline_error("--pass-pipeline", &args.pass_pipeline, &e))?;
    run_manager(module, pm, &args.instrument, !args.no_verify_each)
}

/// Run a prepared pass manager with the CLI's instrumentation (dumps and reports on stderr),
/// verifying the input first and after each pass when `verify_each`.
pub fn run_manager(
    module: &mut Module,
    mut pm: PassManager,
    instrument: &InstrumentArgs,
    verify_each: bool,
) -> Result<Vec<PassRecord>, CliError> {
    let passes = sofa_compiler::passes::registry();
    let dialects = DialectRegistry::with_core_dialects();
    pm.set_verify_each(verify_each);
    let config = instrument_config(instrument, &passes, pm.len())?;
    if verify_each {
        verify(module, &dialects)
            .map_err(|e| CliError::input(format!("the imported IR does not verify:\n{e}")))?;
    }
    let start = Instant::now();
    let mut sink = CliInstrumentation::new(config, std::io::stderr().lock());
    let result = pm.run(module, &mut sink);
    let records = std::mem::take(&mut sink.records);
    let dump_error = sink.dump_error.take();
    drop(sink);
    if instrument.pass_statistics {
        eprint!("{}", statistics_report(&records));
    }
    if instrument.pass_timing {
        let mut timings = Timings::default();
        for r in &records {
            timings.add(r.pass.display_name(), r.run_time);
        }
        eprint!("{}", timings.report(start.elapsed()));
    }
    result.map_err(CliError::input)?;
    if let Some(e) = dump_error {
        return Err(CliError::input(e));
    }
    Ok(records)
}

/// Run a prepared pipeline silently (no flags, no dumps), verifying after each pass; the
/// per-pass records.
pub fn run_quiet(module: &mut Module, mut pm: PassManager) -> Result<Vec<PassRecord>, CliError> {
    pm.run(module, &mut NoInstrumentation)
        .map_err(CliError::input)
}

/// Import an ONNX model, turning the frontend's error into a CLI input error.
pub fn import_model(
    path: &Path,
    opts: &sofa_compiler::onnx::ImportOptions,
) -> Result<sofa_compiler::onnx::Imported, CliError> {
    let loaded = sofa_compiler::onnx::load_model(path)
        .map_err(|e| CliError::input(format!("{}: {e}", path.display())))?;
    sofa_compiler::onnx::import_model(&loaded, opts)
        .map_err(|e| CliError::input(format!("{}: {e}", path.display())))
}
