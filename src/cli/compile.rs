//! `sofa compile`: an ONNX model or a workload spec through sparsify and cct-tile to a SOFA-ISA
//! program (`--emit bin|asm`), the compiled IR (`--emit mlir`) or the per-layer schedule
//! report (`--emit schedule-json`).

use std::path::PathBuf;

use clap::Args;
use sofa_compiler::driver::{self, Target};
use sofa_compiler::workload::{load_spec, WorkloadSpec};
use sofa_ir::isa::{print_asm, Program};
use sofa_ir::text::print_module;
use sofa_ir::Module;

use super::diag::CliError;
use super::import::{parse_shape_bindings, ShapeBindings};
use super::io::{write_output, write_output_with};
use super::model::{compile_model, lower, lower_streamed, Streamed, TargetArgs};
use super::opt::InstrumentArgs;
use super::pipeline::run_manager;

#[derive(Debug, Args)]
#[command(
    long_about = "Compile an ONNX model (or a workload spec of attention shapes, see \
                  workloads/*.toml) for the SOFA chip: recognise attention (fuse-attention), \
                  sparsify it at the keep ratio, choose each layer's tiling (Tc, query block, K̂ \
                  placement) with the analytical cost model (cct-tile), and lower the whole model \
                  to one SOFA-ISA program.\n\n\
                  --emit bin writes a .sofabin (run it with `sofa run PROG.sofabin`), asm its \
                  assembly text, mlir the IR after the pipeline, schedule-json the per-layer plan \
                  with predicted cycles, DRAM bytes and energy per engine.\n\n\
                  ONNX models need static shapes: bind named dims with --shape.",
    after_help = "Examples:\n  \
                  sofa compile examples/bert/bert_sdpa_ts_op17.onnx --shape batch=1,seq=16 -o bert.sofabin\n  \
                  sofa compile model.onnx --shape batch=1,seq=16 --keep-ratio 0.25 --emit asm\n  \
                  sofa compile model.onnx --shape batch=1,seq=16 --layers layers.toml -o m.sofabin\n  \
                  sofa compile --workload workloads/llama-7b.toml --keep-ratio 0.25 --emit schedule-json\n  \
                  sofa compile --workload workloads/bert-base.toml --schedule staged -o s.json"
)]
pub struct CompileArgs {
    /// The ONNX model to compile (or use --workload).
    #[arg(value_name = "MODEL.onnx", conflicts_with = "workload")]
    pub model: Option<PathBuf>,

    /// A workload spec (TOML): attention-only shapes without weights.
    #[arg(long, value_name = "W.toml")]
    pub workload: Option<PathBuf>,

    /// Bind named input dims of the model, e.g. `batch=1,seq=128`.
    #[arg(long, value_name = "NAME=SIZE,...", value_parser = parse_shape_bindings)]
    pub shape: Option<ShapeBindings>,

    #[command(flatten)]
    pub target: TargetArgs,

    /// What to emit: bin (a .sofabin program), asm (its assembly text), mlir (the IR after
    /// the pipeline) or schedule-json (per-layer plan and predicted costs). Default: models
    /// bin with -o, asm on stdout; workload specs schedule-json.
    #[arg(long, value_parser = ["bin", "asm", "mlir", "schedule-json"])]
    pub emit: Option<String>,

    /// Write to OUT (atomically) instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub instrument: InstrumentArgs,
}

pub fn run(args: &CompileArgs) -> Result<(), CliError> {
    let target = Target {
        // The program is written: it references the model's external data.
        weights_by_reference: true,
        ..args.target.resolve()?
    };
    let emitted = match (&args.model, &args.workload) {
        (Some(model), None) => compile_onnx(args, model, &target)?,
        (None, Some(path)) => compile_workload(args, path, &target)?,
        _ => {
            return Err(CliError::usage(
                "give an ONNX model or --workload W.toml (see sofa compile --help)",
            ))
        }
    };
    match emitted {
        Emitted::Text(bytes) => write_output(args.output.as_deref(), &bytes),
        // Streamed: a program of tens of millions of instructions is not encoded in memory.
        Emitted::Binary(program) => {
            write_output_with(args.output.as_deref(), |w| program.encode_to(w))
        }
        Emitted::Streamed(mut s) => write_output_with(args.output.as_deref(), |w| {
            s.lowered.head.encode_head_to(s.lowered.count, w)?;
            std::io::copy(&mut s.instrs, w).map(drop)
        }),
    }
}

/// What `sofa compile` writes: text, a program encoded as it is written, or a model's program
/// whose instructions were encoded as they were lowered.
enum Emitted {
    Text(Vec<u8>),
    Binary(Program),
    Streamed(Box<Streamed>),
}

/// A model's default emission: a binary when writing to a file, assembly text on stdout.
fn emit_kind(args: &CompileArgs) -> &str {
    match (&args.emit, &args.output) {
        (Some(e), _) => e,
        (None, Some(_)) => "bin",
        (None, None) => "asm",
    }
}

fn compile_onnx(
    args: &CompileArgs,
    model: &std::path::Path,
    target: &Target,
) -> Result<Emitted, CliError> {
    let bindings = args.shape.as_ref().map(|s| s.0.clone()).unwrap_or_default();
    let module = compile_model(model, &bindings, target, &args.instrument)?;
    Ok(match emit_kind(args) {
        "mlir" => Emitted::Text(print_module(&module).into_bytes()),
        "schedule-json" => {
            let name = model
                .file_stem()
                .map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned());
            Emitted::Text(
                driver::schedule_json(&module, target, &name)
                    .map_err(CliError::input)?
                    .into_bytes(),
            )
        }
        "asm" => emit_program(lower(&module, target, model)?, "asm"),
        _ => {
            let dir = args.output.as_deref().and_then(output_dir);
            let mut streamed = lower_streamed(&module, target, model)?;
            // A written program finds the model's weights from its own directory.
            if let Some(dir) = dir {
                sofa_compiler::weights::relative_to(&mut streamed.lowered.head, &dir);
            }
            Emitted::Streamed(Box::new(streamed))
        }
    })
}

/// The directory an output file is written to (`None` for stdout, `-`).
fn output_dir(out: &std::path::Path) -> Option<std::path::PathBuf> {
    if out == std::path::Path::new("-") {
        return None;
    }
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty());
    Some(parent.map_or_else(|| ".".into(), |p| p.to_path_buf()))
}

fn compile_workload(
    args: &CompileArgs,
    path: &std::path::Path,
    target: &Target,
) -> Result<Emitted, CliError> {
    if args.shape.is_some() {
        return Err(CliError::usage(
            "--shape applies to ONNX models, not workload specs",
        ));
    }
    let spec = load_spec(path).map_err(CliError::input)?;
    let in_file = |e: CliError| e.in_file(path);
    let module = compile_workload_module(&spec, target, &args.instrument).map_err(in_file)?;
    Ok(match args.emit.as_deref().unwrap_or("schedule-json") {
        "schedule-json" => Emitted::Text(
            driver::schedule_json(&module, target, &spec.name)
                .map_err(|e| in_file(CliError::input(e)))?
                .into_bytes(),
        ),
        "mlir" => Emitted::Text(print_module(&module).into_bytes()),
        kind => emit_program(lower_workload(&module, target).map_err(in_file)?, kind),
    })
}

fn emit_program(program: Program, kind: &str) -> Emitted {
    if kind == "asm" {
        Emitted::Text(print_asm(&program).into_bytes())
    } else {
        Emitted::Binary(program)
    }
}

/// The workload's attention IR through the driver's workload pipeline (sparsify at the keep
/// ratio, `cct-tile`'s plan, `lower-to-sofa`'s kernels), with the CLI's instrumentation.
pub fn compile_workload_module(
    spec: &WorkloadSpec,
    target: &Target,
    instrument: &InstrumentArgs,
) -> Result<Module, CliError> {
    let mut module = driver::workload_module(spec, target).map_err(CliError::input)?;
    run_manager(
        &mut module,
        driver::workload_pipeline(target, spec),
        instrument,
        true,
    )?;
    Ok(module)
}

/// A compiled workload ([`compile_workload_module`]) as a SOFA-ISA program.
pub fn lower_workload(module: &Module, target: &Target) -> Result<Program, CliError> {
    driver::lower_workload(module, target).map_err(CliError::input)
}
