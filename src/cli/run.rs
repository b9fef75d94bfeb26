//! `sofa run`: execute a model on given inputs and compare with expected outputs.
//!
//! Today the executor is the host reference interpreter (`--reference`): it runs the IR with ONNX
//! semantics in f32/i64/bool, straight after import or after any pass pipeline, which is how we
//! check that import and every rewrite are exact. The SOFA simulator will be a second executor.

use std::path::PathBuf;

use clap::Args;
use sofa_runtime::interp::{compare, run_function, OutputDiff};

use super::diag::CliError;
use super::import::{import_options, parse_shape_bindings, ShapeBindings};
use super::pipeline::{import_model, run_pipeline, PipelineArgs};

#[derive(Debug, Args)]
#[command(
    long_about = "Import an ONNX model, optionally run a pass pipeline over it, execute it on the \
                  inputs of an .npz file and compare every output with an expected .npz.\n\n\
                  The executor is the host reference interpreter (--reference, required): ONNX \
                  semantics in f32/i64/bool.\n\n\
                  Prints one line per output with its max absolute error. Exit code 1 when an \
                  output is missing, has the wrong shape or type, or exceeds the tolerance.",
    after_help = "Example:\n  \
                  sofa run model.onnx --reference --inputs in.npz --expected out.npz \\\n    \
                  --pass-pipeline 'shape-infer,canonicalize,fuse-attention'"
)]
pub struct RunArgs {
    /// The ONNX model to run.
    #[arg(value_name = "MODEL.onnx")]
    pub model: PathBuf,

    /// Execute on the host reference interpreter (the only executor so far).
    #[arg(long, required = true)]
    pub reference: bool,

    /// Input tensors, keyed by ONNX graph-input name.
    #[arg(long, value_name = "IN.npz")]
    pub inputs: PathBuf,

    /// Expected outputs, keyed by ONNX graph-output name (e.g. onnxruntime's).
    #[arg(long, value_name = "EXP.npz")]
    pub expected: Option<PathBuf>,

    /// Largest acceptable absolute error per element.
    #[arg(long, value_name = "T", default_value_t = 1e-4)]
    pub tolerance: f64,

    /// Write the produced outputs to OUT.npz (atomically).
    #[arg(short = 'o', long = "output", value_name = "OUT.npz")]
    pub output: Option<PathBuf>,

    /// Bind named input dims at import, e.g. `batch=2,seq=8`.
    #[arg(long, value_name = "NAME=SIZE,...", value_parser = parse_shape_bindings)]
    pub shape: Option<ShapeBindings>,

    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

/// Run `sofa run`.
pub fn run(args: &RunArgs) -> Result<(), CliError> {
    if args.tolerance.is_nan() || args.tolerance < 0.0 {
        return Err(CliError::usage("--tolerance must be a non-negative number"));
    }
    let imported = import_model(&args.model, &import_options(&args.shape))?;
    for w in &imported.warnings {
        eprintln!("warning: {}: {w}", args.model.display());
    }
    let mut module = imported.module;
    run_pipeline(&mut module, &args.pipeline)?;

    let inputs = read_npz(&args.inputs)?;
    let outputs = run_function(&module, &inputs)
        .map_err(|e| CliError::input(format!("{}: {e}", args.model.display())))?;
    if let Some(out) = &args.output {
        crate::npz::write_npz(out, &outputs)
            .map_err(|e| CliError::input(format!("{}: {e}", out.display())))?;
    }
    match &args.expected {
        Some(path) => check(&compare(&outputs, &read_npz(path)?), args.tolerance),
        None => {
            for (name, t) in &outputs {
                println!("{name}: {:?} {}", t.shape(), t.elem());
            }
            Ok(())
        }
    }
}

fn read_npz(
    path: &std::path::Path,
) -> Result<std::collections::BTreeMap<String, sofa_ir::eval::Tensor>, CliError> {
    crate::npz::read_npz(path).map_err(|e| CliError::input(format!("{}: {e}", path.display())))
}

/// Print one line per output; fail when any output does not pass.
fn check(diffs: &[OutputDiff], tolerance: f64) -> Result<(), CliError> {
    let mut failed = 0;
    for d in diffs {
        let ok = d.passes(tolerance);
        failed += usize::from(!ok);
        println!("{} {d}", if ok { "ok  " } else { "FAIL" });
    }
    if failed == 0 {
        println!(
            "all {} output(s) within tolerance {tolerance:e}",
            diffs.len()
        );
        Ok(())
    } else {
        Err(CliError::input(format!(
            "{failed} of {} output(s) differ from the expected values by more than {tolerance:e}",
            diffs.len()
        )))
    }
}
