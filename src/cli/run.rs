//! `sofa run`: execute a model, a compiled program or a workload and report what happened.
//!
//! Executors:
//! - the SOFA simulator (default): an ONNX model is compiled exactly as `sofa compile` does
//!   (named dims bound from the input arrays), a `.sofabin` runs as is; outputs are compared
//!   with `--expected`, sparse runs also with the dense result of the host interpreter, and the
//!   simulator's report (cycles, traffic, energy, recall, and for compiled inputs the roofline
//!   of each attention layer and of the program) is printed, `--report` / `--trace` write it
//!   as JSON;
//! - `--timing-only`: no data, data-dependent costs from the simulator's statistical model
//!   (`--workload W.toml` specs have no weights, so they always run this way);
//! - `--reference`: the host reference interpreter over the IR (ONNX semantics in f32/i64/bool),
//!   straight after import or after `--pass-pipeline`, to check import and rewrites exactly.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Args;
use sofa_compiler::workload::{load_spec, WorkloadSpec};
use sofa_ir::eval::Tensor;
use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{Program, ProgramError};
use sofa_runtime::host::{check_expected, program_inputs, program_outputs};
use sofa_runtime::interp::{
    compare, error_text, run_function, DiffKind, OutputDiff, Tolerance, Worst,
};
use sofa_runtime::sim::{
    extrapolate_layers, extrapolate_roofline, simulate_counted, Mode, Report, RooflineRequest,
    SimOptions, SimOutcome,
};

use super::compile::compile_workload_module;
use super::diag::CliError;
use super::import::{import_options, parse_shape_bindings, ShapeBindings};
use super::io::write_all_or_none;
use super::model::{bindings_from_inputs, compile_model, lower_mapped, TargetArgs};
use super::pipeline::{import_model, run_pipeline, PipelineArgs};
use crate::progress::Progress;
use sofa_compiler::driver::{self, Lowered, Target};

#[derive(Debug, Args)]
#[command(
    long_about = "Run an ONNX model or a .sofabin program on the SOFA simulator (or a workload \
                  spec in --timing-only mode), compare the outputs with expected values and \
                  report cycles, DRAM/SRAM traffic, energy per engine and, for sparse runs, \
                  top-k recall and max-assurance events. Compiled here (an ONNX model or a \
                  workload spec), the report also has the roofline: per attention layer and \
                  for the program, each engine's bound (the work needed over its peak rate), \
                  the DRAM lower bound, the binding bound, the achieved cycles and the \
                  efficiency (docs/roofline.md).\n\n\
                  An ONNX model is compiled as `sofa compile` does; its named dims are bound from \
                  the --inputs arrays. With --reference the host reference interpreter runs the \
                  IR instead (ONNX semantics, optionally after --pass-pipeline).\n\n\
                  Prints one line per output (the worst absolute and the worst relative error, \
                  each with its flat index and both values, and how many elements are outside \
                  the tolerance; cosine similarity to the dense result for sparse runs) and the \
                  simulator's report table. An element passes when |got − want| ≤ atol + \
                  rtol·|want| (numpy.allclose's rule; two NaNs agree, a NaN or an infinity \
                  against a number never does); the defaults, --atol 1e-4 --rtol 0, are the \
                  absolute tolerance of the old --tolerance flag, which is still accepted as \
                  --atol. Exit code 1 when an output is missing, has the wrong shape or type, \
                  or has an element outside the tolerance.\n\n\
                  Inputs are checked before anything runs: --inputs and --expected must be \
                  readable, and every --expected array must name an output of the program with \
                  its shape and element type. Files are written only by a run that succeeds: \
                  -o, --report and --trace are all written (atomically) after every output is \
                  within the tolerance, and a failed run (any error, a tolerance failure \
                  included) writes none of them; files already at those paths are left as \
                  they were.",
    after_help = "Examples:\n  \
                  sofa run model.onnx --inputs in.npz --expected out.npz --report r.json --trace t.json\n  \
                  sofa run model.onnx --inputs in.npz --keep-ratio 0.25 --schedule cct\n  \
                  sofa run model.onnx --inputs in.npz --layers layers.toml   # from sofa calibrate\n  \
                  sofa run prog.sofabin --inputs in.npz -o out.npz\n  \
                  sofa run --workload workloads/llama-7b.toml --timing-only --keep-ratio 0.25\n  \
                  sofa run model.onnx --reference --inputs in.npz --expected out.npz \\\n    \
                  --pass-pipeline 'shape-infer,canonicalize,fuse-attention'"
)]
pub struct RunArgs {
    /// The ONNX model or .sofabin program to run (or use --workload).
    #[arg(value_name = "MODEL.onnx|PROG.sofabin", conflicts_with = "workload")]
    pub program: Option<PathBuf>,

    /// A workload spec (attention shapes, no weights): needs --timing-only.
    #[arg(long, value_name = "W.toml")]
    pub workload: Option<PathBuf>,

    /// Execute on the host reference interpreter instead of the simulator (there, per-layer
    /// sparsity is `sparsify{layers=FILE}` in --pass-pipeline, not --layers).
    #[arg(long, conflicts_with_all = ["timing_only", "report", "report_html", "trace", "explain_energy", "layers"])]
    pub reference: bool,

    /// Simulate time, traffic and energy only (no data; statistical model for data-dependent
    /// costs, see the simulator docs).
    #[arg(long)]
    pub timing_only: bool,

    /// Input tensors, keyed by graph-input (or program tensor) name.
    #[arg(long, value_name = "IN.npz")]
    pub inputs: Option<PathBuf>,

    /// Expected outputs, keyed by graph-output name (e.g. onnxruntime's).
    #[arg(long, value_name = "EXP.npz")]
    pub expected: Option<PathBuf>,

    /// Absolute tolerance: an element passes when |got − want| ≤ atol + rtol·|want|
    /// (numpy.allclose's rule). `--tolerance T` is the same flag (its old name).
    #[arg(
        long,
        visible_alias = "tolerance",
        value_name = "A",
        default_value_t = 1e-4
    )]
    pub atol: f64,

    /// Relative tolerance, scaled by |want| (numpy.allclose's rule; numpy's default is 1e-5,
    /// sofa's 0, so that an absolute --atol alone means what --tolerance always meant).
    #[arg(long, value_name = "R", default_value_t = 0.0)]
    pub rtol: f64,

    /// Write the produced outputs to OUT.npz (atomically, only when the run succeeds).
    #[arg(short = 'o', long = "output", value_name = "OUT.npz")]
    pub output: Option<PathBuf>,

    /// Bind named input dims, e.g. `batch=2,seq=8` (default: from the --inputs arrays).
    #[arg(long, value_name = "NAME=SIZE,...", value_parser = parse_shape_bindings)]
    pub shape: Option<ShapeBindings>,

    #[command(flatten)]
    pub target: TargetArgs,

    /// Write the simulator's report (JSON, format "sofa-report") to R.json (only when the run
    /// succeeds: a tolerance failure writes no file).
    #[arg(long, value_name = "R.json")]
    pub report: Option<PathBuf>,

    /// Write the report as one self-contained HTML page to R.html: its tables and charts
    /// (utilisation per engine, DRAM traffic by tensor class, each attention layer against its
    /// roofline), no script and no external file (only when the run succeeds).
    #[arg(long, value_name = "R.html")]
    pub report_html: Option<PathBuf>,

    /// Write a Chrome trace-event JSON (one track per engine; open in Perfetto) to T.json
    /// (only when the run succeeds).
    #[arg(long, value_name = "T.json")]
    pub trace: Option<PathBuf>,

    /// Print every energy term with the configuration entry it comes from.
    #[arg(long)]
    pub explain_energy: bool,

    /// Workload specs: simulate every layer instead of simulating two identical layers and
    /// extrapolating the rest (the figures are the same; this is slower).
    #[arg(long)]
    pub no_extrapolate: bool,

    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

/// Run `sofa run`.
pub fn run(args: &RunArgs) -> Result<(), CliError> {
    for (flag, v) in [("--atol", args.atol), ("--rtol", args.rtol)] {
        if v.is_nan() || v < 0.0 {
            return Err(CliError::usage(format!(
                "{flag} must be a non-negative number"
            )));
        }
    }
    if args.reference {
        return run_reference(args);
    }
    if !args.pipeline.pass_pipeline.is_empty() {
        return Err(CliError::usage(
            "--pass-pipeline applies to --reference runs; the simulator runs the compile pipeline \
             (see sofa compile --help)",
        ));
    }
    if args.timing_only && (args.expected.is_some() || args.output.is_some()) {
        return Err(CliError::usage(
            "--expected and -o need outputs: a --timing-only run computes none",
        ));
    }
    let target = args.target.resolve()?;
    // Read before compiling or simulating: an unreadable file fails the run at once.
    let expected = args.expected.as_deref().map(read_npz).transpose()?;
    let expected = expected.as_ref();
    match (&args.program, &args.workload) {
        (None, Some(w)) => run_workload(args, w, &target),
        (Some(p), None) if is_sofabin(p)? => run_sofabin(args, p, &target, expected),
        (Some(p), None) => run_onnx(args, p, &target, expected),
        _ => Err(CliError::usage(
            "give an ONNX model, a .sofabin program or --workload W.toml (see sofa run --help)",
        )),
    }
}

/// A `.sofabin` by extension or by its magic bytes.
fn is_sofabin(path: &Path) -> Result<bool, CliError> {
    if path.extension().is_some_and(|e| e == "sofabin") {
        return Ok(true);
    }
    let mut magic = [0u8; 4];
    let n = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut magic))
        .map_err(|e| CliError::io("read", path, &e))?;
    Ok(n == 4 && magic == sofa_ir::isa::MAGIC)
}

fn run_workload(args: &RunArgs, path: &Path, target: &Target) -> Result<(), CliError> {
    if !args.timing_only {
        return Err(CliError::usage(
            "a workload spec has shapes but no weights or data: run it with --timing-only",
        ));
    }
    if args.inputs.is_some() || args.expected.is_some() || args.output.is_some() {
        return Err(CliError::usage(
            "--inputs/--expected/-o do not apply to --timing-only runs",
        ));
    }
    let spec = load_spec(path).map_err(CliError::input)?;
    // Every layer's tensors must fit, also when only one or two are simulated.
    spec.check_dram(&target.hw)
        .map_err(|e| CliError::input(format!("{}: {e}", path.display())))?;
    let instrument = &args.pipeline.instrument;
    let program_of = |spec: &WorkloadSpec| -> Result<Lowered, CliError> {
        let module = compile_workload_module(spec, target, instrument)?;
        driver::lower_workload_mapped(&module, target).map_err(CliError::input)
    };
    if spec.layers <= 2 || args.trace.is_some() || args.no_extrapolate {
        let lowered = program_of(&spec).map_err(|e| e.in_file(path))?;
        let outcome = simulate_lowered(args, &lowered, &target.hw, &BTreeMap::new(), path)?;
        print_report(args, &outcome.report);
        return write_files(args, None, &outcome.report, outcome.trace.as_deref());
    }
    // The layers of a spec are identical: simulate one and two, extrapolate the rest.
    let mut reports = Vec::with_capacity(2);
    for layers in [1, 2] {
        let mut short = spec.clone();
        short.layers = layers;
        let lowered = program_of(&short).map_err(|e| e.in_file(path))?;
        let outcome = simulate_lowered(args, &lowered, &target.hw, &BTreeMap::new(), path)?;
        reports.push(outcome.report);
    }
    let in_file = |e: &dyn std::fmt::Display| CliError::input(format!("{}: {e}", path.display()));
    let mut full =
        extrapolate_layers(&reports[0], &reports[1], spec.layers).map_err(|e| in_file(&e))?;
    // Every layer's work, from the whole spec (compiled silently: its plan is the short ones').
    let work = driver::compile_workload(&spec, target)
        .and_then(|m| driver::workload_roofline(&m, target))
        .map_err(|e| in_file(&e))?;
    let roofline = extrapolate_roofline(&target.hw, &work, &reports[0], &reports[1], &full)
        .map_err(|e| in_file(&e))?;
    full.roofline = Some(roofline);
    eprintln!(
        "note: {} identical layers: simulated 1 and 2, layers 3..{} extrapolated (exact for \
         identical segments; --no-extrapolate simulates every layer)",
        spec.layers, spec.layers
    );
    print_report(args, &full);
    write_files(args, None, &full, None)
}

type Arrays = BTreeMap<String, Tensor>;

fn run_sofabin(
    args: &RunArgs,
    path: &Path,
    target: &Target,
    expected: Option<&Arrays>,
) -> Result<(), CliError> {
    let bytes = std::fs::read(path).map_err(|e| CliError::io("read", path, &e))?;
    if !target.layers.is_empty() {
        return Err(CliError::usage(
            "--layers applies when compiling: a .sofabin program is compiled already",
        ));
    }
    let mut program =
        Program::decode(&bytes).map_err(|e| CliError::input(format!("{}: {e}", path.display())))?;
    check_program(&program, &target.hw, path)?;
    load_weights(&mut program, path, !args.timing_only)?;
    // A .sofabin carries no layers: no roofline.
    execute(args, (&program, None), target, path, (None, expected))
}

/// Map the weights a program references (next to it); check their checksums when the run
/// will use the values (a timing-only run reads none of them).
fn load_weights(program: &mut Program, path: &Path, values: bool) -> Result<(), CliError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let in_file = |e: sofa_runtime::weights::WeightsError| {
        CliError::input(format!("{}: {e}", path.display()))
    };
    sofa_runtime::weights::load(program, dir).map_err(in_file)?;
    if values {
        sofa_runtime::weights::verify(program).map_err(in_file)?;
    }
    Ok(())
}

fn run_onnx(
    args: &RunArgs,
    path: &Path,
    target: &Target,
    expected: Option<&Arrays>,
) -> Result<(), CliError> {
    let arrays = match &args.inputs {
        Some(p) => Some(read_npz(p)?),
        None => None,
    };
    let shapes: BTreeMap<String, Vec<usize>> = arrays
        .iter()
        .flatten()
        .map(|(k, t)| (k.clone(), t.shape().to_vec()))
        .collect();
    let bindings = bindings_from_inputs(path, &args.shape, &shapes)?;
    let module = compile_model(path, &bindings, target, &args.pipeline.instrument)?;
    if args.timing_only && args.trace.is_none() {
        // Nothing needs the whole program in memory: lower and replay it in pieces.
        return super::run_pieces::run(args, path, target, &module);
    }
    let lowered = lower_mapped(&module, target, path)?;
    check_program(&lowered.program, &target.hw, path)?;
    let dense = match &arrays {
        Some(a) if target.is_sparse() => Some(dense_reference(path, &bindings, a)?),
        _ => None,
    };
    let roofline = roofline_request(&lowered);
    let run = (&lowered.program, Some(roofline));
    execute(args, run, target, path, (dense.as_ref(), expected))
}

/// The simulator's roofline inputs of a lowered program.
fn roofline_request(lowered: &Lowered) -> RooflineRequest {
    RooflineRequest {
        work: lowered.roofline.clone(),
        layer_instrs: lowered.layer_instrs.clone(),
    }
}

/// The program must fit the hardware it runs on (the simulator relies on it).
fn check_program(program: &Program, hw: &HwConfig, path: &Path) -> Result<(), CliError> {
    program
        .check(hw)
        .map_err(|errs| program_problems(&errs, hw, path))
}

/// The error of a program that does not fit `hw`: the first 20 problems.
pub(super) fn program_problems(errs: &[ProgramError], hw: &HwConfig, path: &Path) -> CliError {
    let lines: Vec<String> = errs.iter().take(20).map(|e| format!("  {e}")).collect();
    CliError::input(format!(
        "{}: the program does not fit hardware '{}' ({} problem(s)):\n{}",
        path.display(),
        hw.name,
        errs.len(),
        lines.join("\n")
    ))
}

/// Simulate (functionally unless --timing-only), compare and report; write the files only
/// when everything passed. `refs` are the dense result of a sparse run and the expected
/// outputs, both checked against the program before the simulation starts.
fn execute(
    args: &RunArgs,
    (program, roofline): (&Program, Option<RooflineRequest>),
    target: &Target,
    path: &Path,
    (dense, expected): (Option<&Arrays>, Option<&Arrays>),
) -> Result<(), CliError> {
    if args.timing_only {
        let outcome = simulate_program(
            args,
            (program, roofline),
            &target.hw,
            &BTreeMap::new(),
            path,
        )?;
        print_report(args, &outcome.report);
        return write_files(args, None, &outcome.report, outcome.trace.as_deref());
    }
    let inputs_path = args
        .inputs
        .as_ref()
        .ok_or_else(|| CliError::usage("--inputs IN.npz is required (or use --timing-only)"))?;
    let arrays = read_npz(inputs_path)?;
    let bytes = program_inputs(program, &arrays)
        .map_err(|e| CliError::input(format!("{}: {e}", inputs_path.display())))?;
    if let (Some(e), Some(p)) = (expected, &args.expected) {
        check_expected(program, e)
            .map_err(|err| CliError::input(format!("{}: {err}", p.display())))?;
    }
    let outcome = simulate_program(args, (program, roofline), &target.hw, &bytes, path)?;
    let outputs = program_outputs(program, &outcome.outputs).map_err(CliError::input)?;
    if let Some(dense) = dense {
        print_similarity(&outputs, dense);
    }
    print_report(args, &outcome.report);
    if let Some(e) = expected {
        check(&compare(&outputs, e, tolerance(args)), &tolerance(args))?;
    }
    write_files(
        args,
        Some(&outputs),
        &outcome.report,
        outcome.trace.as_deref(),
    )
}

/// Simulate a lowered workload, with its roofline.
fn simulate_lowered(
    args: &RunArgs,
    lowered: &Lowered,
    hw: &HwConfig,
    inputs: &BTreeMap<String, Vec<u8>>,
    path: &Path,
) -> Result<SimOutcome, CliError> {
    let run = (&lowered.program, Some(roofline_request(lowered)));
    simulate_program(args, run, hw, inputs, path)
}

fn simulate_program(
    args: &RunArgs,
    (program, roofline): (&Program, Option<RooflineRequest>),
    hw: &HwConfig,
    inputs: &BTreeMap<String, Vec<u8>>,
    path: &Path,
) -> Result<SimOutcome, CliError> {
    let opts = SimOptions {
        mode: if args.timing_only {
            Mode::TimingOnly
        } else {
            Mode::Functional
        },
        trace: args.trace.is_some(),
        regions: Vec::new(),
        roofline,
    };
    let len = program.instrs.len() as u64;
    // A long run shows its progress on a terminal (crate::progress).
    Progress::watch(len, "sofa run: instructions", false, |started| {
        simulate_counted(program, hw, inputs, &opts, started)
    })
    .map_err(|e| CliError::input(format!("{}: simulation failed: {e}", path.display())))
}

/// Print the report table (and the energy explanation when asked).
pub(super) fn print_report(args: &RunArgs, report: &Report) {
    print!("{}", report.to_table());
    if args.explain_energy {
        print!("{}", report.explain_energy());
    }
}

/// What was run: the model, program or workload as the command line named it.
fn run_name(args: &RunArgs) -> String {
    args.program
        .as_deref()
        .or(args.workload.as_deref())
        .map_or_else(|| "run".into(), |p| p.display().to_string())
}

/// Write -o, --report, --report-html and --trace, all or none (the run has succeeded).
pub(super) fn write_files(
    args: &RunArgs,
    outputs: Option<&Arrays>,
    report: &Report,
    trace: Option<&str>,
) -> Result<(), CliError> {
    let npz = match (&args.output, outputs) {
        (Some(p), Some(o)) => Some(crate::npz::npz_bytes(p, o).map_err(CliError::input)?),
        _ => None,
    };
    let json = match &args.report {
        Some(_) => Some(report.to_json().map_err(CliError::input)?),
        None => None,
    };
    let html = match &args.report_html {
        Some(_) => {
            Some(crate::report_html::render(report, &run_name(args)).map_err(CliError::input)?)
        }
        None => None,
    };
    let mut files: Vec<(&Path, &[u8])> = Vec::new();
    if let (Some(p), Some(b)) = (&args.output, &npz) {
        files.push((p, b));
    }
    if let (Some(p), Some(j)) = (&args.report, &json) {
        files.push((p, j.as_bytes()));
    }
    if let (Some(p), Some(h)) = (&args.report_html, &html) {
        files.push((p, h.as_bytes()));
    }
    if let (Some(p), Some(t)) = (&args.trace, trace) {
        files.push((p, t.as_bytes()));
    }
    write_all_or_none(&files)
}

/// The dense result a sparse run is measured against: the host interpreter on the model.
fn dense_reference(
    path: &Path,
    bindings: &BTreeMap<String, u64>,
    arrays: &BTreeMap<String, Tensor>,
) -> Result<BTreeMap<String, Tensor>, CliError> {
    let opts = sofa_compiler::onnx::ImportOptions {
        shape_bindings: bindings.clone(),
    };
    let module = import_model(path, &opts)?.module;
    run_function(&module, arrays)
        .map_err(|e| CliError::input(format!("{}: dense reference: {e}", path.display())))
}

/// Cosine similarity and max absolute error of each float output against the dense result.
fn print_similarity(outputs: &BTreeMap<String, Tensor>, dense: &BTreeMap<String, Tensor>) {
    for (name, t) in outputs {
        let (Some(a), Some(b)) = (t.as_f32(), dense.get(name).and_then(|d| d.as_f32())) else {
            continue;
        };
        if a.len() != b.len() {
            continue;
        }
        let (cos, max) = similarity(a, b);
        println!("vs dense {name}: cosine similarity {cos:.6}, max abs error {max:.3e}");
    }
}

/// (cosine similarity, max absolute difference); 1.0 when both are all-zero.
pub fn similarity(a: &[f32], b: &[f32]) -> (f64, f64) {
    let (mut dot, mut na, mut nb, mut max) = (0f64, 0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        dot += x * y;
        na += x * x;
        nb += y * y;
        max = max.max((x - y).abs());
    }
    let cos = if na == 0.0 && nb == 0.0 {
        1.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    };
    (cos, max)
}

/// The original interpreter path (`--reference`).
fn run_reference(args: &RunArgs) -> Result<(), CliError> {
    let model = args
        .program
        .as_ref()
        .ok_or_else(|| CliError::usage("--reference needs an ONNX model"))?;
    let inputs_path = args
        .inputs
        .as_ref()
        .ok_or_else(|| CliError::usage("--inputs IN.npz is required"))?;
    // Read every input file before running anything.
    let inputs = read_npz(inputs_path)?;
    let expected = args.expected.as_deref().map(read_npz).transpose()?;
    let imported = import_model(model, &import_options(&args.shape))?;
    for w in &imported.warnings {
        eprintln!("warning: {}: {w}", model.display());
    }
    let mut module = imported.module;
    run_pipeline(&mut module, &args.pipeline)?;
    let outputs = run_function(&module, &inputs)
        .map_err(|e| CliError::input(format!("{}: {e}", model.display())))?;
    match &expected {
        Some(e) => check(&compare(&outputs, e, tolerance(args)), &tolerance(args))?,
        None => {
            for (name, t) in &outputs {
                println!("{name}: {:?} {}", t.shape(), t.elem());
            }
        }
    }
    // Only a successful run writes its outputs.
    if let Some(out) = &args.output {
        let bytes = crate::npz::npz_bytes(out, &outputs).map_err(CliError::input)?;
        write_all_or_none(&[(out, &bytes)])?;
    }
    Ok(())
}

fn read_npz(path: &Path) -> Result<BTreeMap<String, Tensor>, CliError> {
    // NpzError names the file itself.
    crate::npz::read_npz(path).map_err(CliError::input)
}

/// The tolerance of `--atol`/`--rtol`.
fn tolerance(args: &RunArgs) -> Tolerance {
    Tolerance {
        atol: args.atol,
        rtol: args.rtol,
    }
}

/// `1e-4`, or `1e-4 + 1e-4·|want|` with a relative part.
fn tolerance_text(t: &Tolerance) -> String {
    if t.rtol == 0.0 {
        format!("{:e}", t.atol)
    } else {
        format!("{:e} + {:e}·|want|", t.atol, t.rtol)
    }
}

/// Print one line per output and the worst errors over all of them; fail when any output does
/// not pass.
fn check(diffs: &[OutputDiff], tolerance: &Tolerance) -> Result<(), CliError> {
    let mut failed = 0;
    for d in diffs {
        let ok = d.passes();
        failed += usize::from(!ok);
        println!("{} {d}", if ok { "ok  " } else { "FAIL" });
    }
    print_worst(diffs);
    let tol = tolerance_text(tolerance);
    if failed == 0 {
        println!("all {} output(s) within tolerance {tol}", diffs.len());
        Ok(())
    } else {
        Err(CliError::input(format!(
            "{failed} of {} output(s) differ from the expected values by more than {tol}",
            diffs.len()
        )))
    }
}

/// The worst absolute and the worst relative error over every output, and where.
fn print_worst(diffs: &[OutputDiff]) {
    let worst = |pick: fn(&DiffKind) -> Option<Worst>| {
        diffs
            .iter()
            .filter_map(|d| Some((d.name.as_str(), pick(&d.kind)?)))
            .fold(None, |best: Option<(&str, Worst)>, (n, w)| match best {
                Some((_, b)) if b.error >= w.error => best,
                _ => Some((n, w)),
            })
    };
    let abs = worst(|k| match k {
        DiffKind::Values { worst_abs, .. } => *worst_abs,
        _ => None,
    });
    let rel = worst(|k| match k {
        DiffKind::Values { worst_rel, .. } => *worst_rel,
        _ => None,
    });
    if let (Some((an, a)), Some((rn, r))) = (abs, rel) {
        println!(
            "worst abs error {} ('{an}' flat index {}), worst rel error {} ('{rn}' flat index {})",
            error_text(a.error),
            a.index,
            error_text(r.error),
            r.index
        );
    }
}
