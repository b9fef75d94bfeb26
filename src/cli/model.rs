//! The ONNX → SOFA path shared by `sofa compile MODEL.onnx` and `sofa run MODEL.onnx`: import
//! with dim bindings, the compile pipeline of `sofa_compiler::driver` (run with the CLI's
//! instrumentation), and the lowering of the whole model to one SOFA-ISA program.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Args;
use sofa_compiler::driver::{self, DriverError, Lowered, Target};
use sofa_compiler::lower::{LowerError, UnloweredOp};
use sofa_compiler::onnx::load_model;
use sofa_compiler::passes::sparsify::load_layers;
use sofa_ir::dialect::attn::{check_keep_ratio, Ablation, KvSource, Schedule};
use sofa_ir::hw::HwConfig;
use sofa_ir::isa::Program;
use sofa_ir::{Dim, Location, Module};

use super::diag::CliError;
use super::import::ShapeBindings;
use super::opt::InstrumentArgs;
use super::pipeline::{import_model, run_manager};

/// The hardware and sparsity choices shared by `compile` and `run`.
#[derive(Debug, Args, Clone)]
pub struct TargetArgs {
    /// Hardware configuration TOML (default: the paper's chip, configs/sofa-28nm.toml).
    #[arg(long, value_name = "HW.toml")]
    pub config: Option<PathBuf>,

    /// Fraction of each query's visible keys kept, in (0, 1]; 1 = dense attention. With
    /// --layers, it applies to the layers the file does not set a keep for.
    #[arg(long, value_name = "R")]
    pub keep_ratio: Option<f64>,

    /// Per-layer sparsity (TOML: `[[layer]] index = 0, keep = 0.5, tiles = 8, radius = 9.0`,
    /// the file `sparsify{layers=FILE}` reads and `sofa calibrate` writes). Its entries win
    /// over --keep-ratio for the layers they name; --keep-ratio sets the rest (default: 1 for
    /// a model, the spec's keep_ratio for a workload).
    #[arg(long, value_name = "LAYERS.toml")]
    pub layers: Option<PathBuf>,

    /// Attention dataflow: cct (SOFA's cross-stage tiling), staged (Â and A through DRAM,
    /// whole-row top-k) or dense (FlashAttention-2 on the SU-FA engine, no prediction).
    #[arg(long, default_value = "cct", value_parser = ["cct", "staged", "dense"])]
    pub schedule: String,

    /// Comma list of mechanisms to swap for their baselines, in the lowering (the ISA
    /// program) and the cost model: dlzs, sads, sufa, rass.
    #[arg(long, default_value = "", value_name = "M,...")]
    pub ablate: String,

    /// The planner's objective: of the plans at most PCT percent slower than the fastest,
    /// the one with the fewest DRAM bytes. The default, 3, is the cost model's accuracy
    /// against the simulator; 0 plans for latency alone.
    #[arg(long, default_value_t = 3, value_name = "PCT")]
    pub latency_slack: u64,

    /// Where attention ops of ONNX models take K and V from: auto (generate the selected
    /// rows on demand with KVGEN where K and V are projections X·W + b of the layer input and
    /// the layer runs cct, otherwise compute them as tensors), gathered (always compute K and
    /// V, gather the selected rows from DRAM) or on-demand (an error naming the op where it
    /// cannot be). Workload specs have no projections: their K and V are always gathered.
    #[arg(long, default_value = "auto", value_parser = ["auto", "gathered", "on-demand"])]
    pub kv: String,

    /// Fail instead of running ops that have no chip lowering on the host. By default such
    /// ops (the long tail: shape arithmetic, rare ops) become host segments (HOST, evaluated
    /// with the reference kernels; the report shows them apart); with this flag the error
    /// lists every one of them (ONNX node index, name, op type).
    #[arg(long)]
    pub no_host_fallback: bool,
}

impl TargetArgs {
    pub fn resolve(&self) -> Result<Target, CliError> {
        let schedule = Schedule::parse(&self.schedule).map_err(CliError::usage)?;
        let ablate = Ablation::parse(&self.ablate).map_err(CliError::usage)?;
        let kv = match self.kv.as_str() {
            "auto" => None,
            k => Some(KvSource::parse(k).map_err(CliError::usage)?),
        };
        if let Some(k) = self.keep_ratio {
            check_keep_ratio(k).map_err(|e| CliError::usage(format!("--keep-ratio {e}")))?;
        }
        let hw = match &self.config {
            None => HwConfig::default(),
            Some(p) => HwConfig::load(p).map_err(CliError::input)?,
        };
        // LayersFileError names the file.
        let layers = match &self.layers {
            None => BTreeMap::new(),
            Some(p) => load_layers(p).map_err(CliError::input)?,
        };
        Ok(Target {
            hw,
            keep: self.keep_ratio,
            layers,
            schedule,
            ablate,
            tiles: None,
            latency_slack_pct: self.latency_slack,
            kv,
            host_fallback: !self.no_host_fallback,
            weights_by_reference: false,
            prices: Default::default(),
        })
    }
}

/// Import `path` with `bindings` and run the compile pipeline over it.
pub fn compile_model(
    path: &Path,
    bindings: &BTreeMap<String, u64>,
    target: &Target,
    instrument: &InstrumentArgs,
) -> Result<Module, CliError> {
    // Named dims stay named through attention recognition (see `driver::model_pipeline`).
    let imported = import_model(path, &Default::default())?;
    for w in &imported.warnings {
        eprintln!("warning: {}: {w}", path.display());
    }
    let mut module = imported.module;
    for w in unused_bindings(&module, bindings) {
        eprintln!("warning: {}: {w}", path.display());
    }
    require_static_inputs(&module, bindings, path)?;
    let pm = driver::model_pipeline(target, bindings).map_err(CliError::input)?;
    run_manager(&mut module, pm, instrument, true)?;
    Ok(module)
}

/// Lower a compiled model to a SOFA-ISA program; prints where each attention op takes K and V
/// from on stderr.
pub fn lower(module: &Module, target: &Target, path: &Path) -> Result<Program, CliError> {
    let (program, notes) = driver::lower_model(module, target).map_err(|e| lower_error(e, path))?;
    for n in notes {
        eprintln!("note: {n}");
    }
    Ok(program)
}

/// A lowered model whose instructions went to a file as they were lowered ([`lower_streamed`]).
pub struct Streamed {
    /// The program's tables, instruction count, notes and attention layers' ranges.
    pub lowered: driver::StreamedLowered,
    /// The instructions, encoded (32 bytes each), from the file's start.
    pub instrs: std::fs::File,
    /// The instruction count at each op boundary the lowering handed instructions on at, in
    /// order (the last is the count): where the file may be cut into pieces that end where a
    /// segment ends.
    pub cuts: Vec<usize>,
}

/// Encodes instructions into a file as the lowering hands them on, noting where each hand-on
/// ends.
struct Spill {
    file: std::io::BufWriter<std::fs::File>,
    cuts: Vec<usize>,
}

impl sofa_compiler::lower::model::InstrSink for Spill {
    fn take(&mut self, instrs: &[sofa_ir::isa::Instr]) -> std::io::Result<()> {
        let end = self.cuts.last().copied().unwrap_or(0) + instrs.len();
        self.cuts.push(end);
        Program::encode_instrs_to(instrs, &mut self.file)
    }
}

/// [`lower_mapped`], the instructions encoded into an unnamed temporary file (in `TMPDIR`) as
/// they are lowered, so that a program of tens of millions of instructions is never whole in
/// memory.
pub fn lower_streamed(module: &Module, target: &Target, path: &Path) -> Result<Streamed, CliError> {
    let spill = |e: std::io::Error| CliError::input(format!("cannot use a temporary file: {e}"));
    let mut sink = Spill {
        file: std::io::BufWriter::with_capacity(1 << 20, tempfile::tempfile().map_err(spill)?),
        cuts: Vec::new(),
    };
    let lowered = driver::lower_model_streamed(module, target, &mut sink)
        .map_err(|e| lower_error(e, path))?;
    for n in &lowered.notes {
        eprintln!("note: {n}");
    }
    let mut instrs = sink.file.into_inner().map_err(|e| spill(e.into_error()))?;
    std::io::Seek::rewind(&mut instrs).map_err(spill)?;
    Ok(Streamed {
        lowered,
        instrs,
        cuts: sink.cuts,
    })
}

/// [`lower`], with the roofline inputs (each layer's work and instruction range).
pub fn lower_mapped(module: &Module, target: &Target, path: &Path) -> Result<Lowered, CliError> {
    let lowered = driver::lower_model_mapped(module, target).map_err(|e| lower_error(e, path))?;
    for n in &lowered.notes {
        eprintln!("note: {n}");
    }
    Ok(lowered)
}

fn lower_error(e: DriverError, path: &Path) -> CliError {
    match e {
        DriverError::Lower(LowerError::NoChipLowering(ops)) => no_chip_lowering(path, &ops),
        e => CliError::input(format!("{}: {e}", path.display())),
    }
}

/// Every op without a chip lowering, named as the ONNX file has it: `node #i "name" (Type)`
/// when a node of the graph has that name, else by its op in the IR.
fn no_chip_lowering(path: &Path, ops: &[UnloweredOp]) -> CliError {
    let nodes: BTreeMap<String, (usize, String)> = load_model(path)
        .ok()
        .and_then(|l| l.model.graph)
        .map(|g| {
            g.node
                .iter()
                .enumerate()
                .filter_map(|(i, n)| Some((n.name.clone()?, (i, n.op_type.clone()?))))
                .collect()
        })
        .unwrap_or_default();
    let lines: Vec<String> = ops
        .iter()
        .map(|o| match nodes.get(&o.name) {
            Some((i, ty)) => format!("\n  node #{i} \"{}\" ({ty})", o.name),
            None => format!(
                "\n  op #{} \"{}\" ({}) of the compiled IR",
                o.index, o.name, o.op
            ),
        })
        .collect();
    CliError::input(format!(
        "{}: {} op(s) have no chip lowering (--no-host-fallback):{}",
        path.display(),
        ops.len(),
        lines.concat()
    ))
}

/// `--shape` names that match no named input dim.
fn unused_bindings(m: &Module, bindings: &BTreeMap<String, u64>) -> Vec<String> {
    let named: Vec<String> = input_dims(m)
        .into_iter()
        .flat_map(|(_, dims)| dims)
        .filter_map(|d| match d {
            Dim::Named(n) => Some(n),
            _ => None,
        })
        .collect();
    bindings
        .keys()
        .filter(|k| !named.contains(k))
        .map(|k| format!("shape binding '{k}' matches no named dim of the graph inputs"))
        .collect()
}

/// Every graph input must be fully static once `bindings` are applied: name the unbound
/// dims.
fn require_static_inputs(
    m: &Module,
    bindings: &BTreeMap<String, u64>,
    path: &Path,
) -> Result<(), CliError> {
    let mut unbound = Vec::new();
    for (name, dims) in input_dims(m) {
        for d in dims {
            match d {
                Dim::Static(_) => {}
                Dim::Named(n) if bindings.contains_key(&n) => {}
                Dim::Named(n) => unbound.push(format!("'{n}' (input '{name}')")),
                Dim::Dynamic => unbound.push(format!("an unnamed dim of input '{name}'")),
            }
        }
    }
    if unbound.is_empty() {
        return Ok(());
    }
    unbound.dedup();
    Err(CliError::input(format!(
        "{}: the program needs static shapes, but {} {} unbound; bind named dims with --shape NAME=SIZE,... \
         (sofa run binds them from the --inputs arrays)",
        path.display(),
        unbound.join(", "),
        if unbound.len() == 1 { "is" } else { "are" }
    )))
}

/// The entry function's inputs: ONNX name and dims.
pub fn input_dims(m: &Module) -> Vec<(String, Vec<Dim>)> {
    let Some(func) = m.funcs().into_iter().next() else {
        return Vec::new();
    };
    let Some(entry) = m.entry_block(func) else {
        return Vec::new();
    };
    let block = &m.blocks[entry];
    block
        .args
        .iter()
        .enumerate()
        .map(|(i, &a)| {
            let name = match block.arg_locs.get(i) {
                Some(Location::Name(n)) => n.clone(),
                _ => format!("arg{i}"),
            };
            let dims = m
                .value_type(a)
                .as_tensor()
                .map(|t| t.dims.clone())
                .unwrap_or_default();
            (name, dims)
        })
        .collect()
}

/// `--shape` bindings plus those implied by the input arrays: a named dim of input `x` takes
/// the size of the same axis of the array `x`. Conflicts are errors.
pub fn bindings_from_inputs(
    path: &Path,
    shape: &Option<ShapeBindings>,
    arrays: &BTreeMap<String, Vec<usize>>,
) -> Result<BTreeMap<String, u64>, CliError> {
    let mut bindings = shape.as_ref().map(|s| s.0.clone()).unwrap_or_default();
    let opts = sofa_compiler::onnx::ImportOptions::default();
    let module = import_model(path, &opts)?.module;
    for (name, dims) in input_dims(&module) {
        let Some(shape) = arrays.get(&name) else {
            continue;
        };
        if shape.len() != dims.len() {
            continue;
        }
        for (d, &size) in dims.iter().zip(shape) {
            if let Dim::Named(n) = d {
                let size = size as u64;
                match bindings.get(n) {
                    Some(&b) if b != size => {
                        return Err(CliError::input(format!(
                            "dim '{n}' is bound to {b}, but input '{name}' has {size} there"
                        )))
                    }
                    _ => {
                        bindings.insert(n.clone(), size);
                    }
                }
            }
        }
    }
    Ok(bindings)
}
