//! `sofa bench roofline`: each paper workload and ONNX model against its roofline — the
//! binding bound (the work it needs over the busiest engine's peak rate, `HwConfig` only:
//! `sofa_ir::hw::roofline`, `docs/roofline.md`), the cycles achieved, the efficiency, the
//! SU-FA utilisation (SU-FA bound / achieved) and the DRAM bytes against the DRAM lower bound.
//!
//! Achieved cycles are those of a timing-only simulation of the program `sofa run` runs: a
//! workload spec through the driver's workload pipeline, one and two layers simulated and the
//! rest extrapolated (exact for identical layers, as `sofa run --workload` does), an ONNX
//! model compiled and lowered whole. A workload whose two-layer program would exceed
//! [`RooflineOptions::max_sim_instrs`] is priced by the cost model instead (`schedule-json`'s
//! latency); each row says which.

mod table;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sofa_compiler::driver::{self, DriverError, Lowered, Target};
use sofa_compiler::workload::{load_spec, WorkloadSpec};
use sofa_ir::dialect::attn::Schedule;
use sofa_ir::hw::roofline::efficiency;
use sofa_ir::hw::HwConfig;
use sofa_runtime::sim::{
    extrapolate_layers, extrapolate_roofline, simulate, Mode, Report, RooflineRequest, SimOptions,
};

pub use table::RooflineTable;

/// The paper's evaluated models with a workload spec, in the order of `workloads/`' docs.
pub const ROOFLINE_WORKLOADS: [&str; 8] = [
    "bert-base",
    "bert-large",
    "gpt2",
    "bloom-1.7b",
    "llama-7b",
    "llama-13b",
    "vit-b16",
    "pvt",
];

/// Two-layer programs simulated at most (about 1.5 s in a release build); larger ones are
/// priced by the cost model. Llama-13B's is 3.2·10⁶.
pub const MAX_SIM_INSTRS: u64 = 8_000_000;

/// Why the benchmark could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RooflineError {
    #[error("{name}: {message}")]
    Row { name: String, message: String },
}

fn row_error(name: &str) -> impl Fn(&dyn std::fmt::Display) -> RooflineError + '_ {
    move |e| RooflineError::Row {
        name: name.into(),
        message: e.to_string(),
    }
}

/// An ONNX model and the bindings of its named input dims (its recorded input's shapes).
#[derive(Clone, Debug, PartialEq)]
pub struct ModelCase {
    pub name: String,
    pub path: PathBuf,
    pub bindings: BTreeMap<String, u64>,
}

/// What to run.
#[derive(Clone, Debug)]
pub struct RooflineOptions {
    pub hw: HwConfig,
    pub keep: f64,
    pub schedule: Schedule,
    /// Workload spec files, one row each, in row order.
    pub workloads: Vec<PathBuf>,
    /// ONNX models, one row each, after the workloads.
    pub models: Vec<ModelCase>,
    /// Layers of every workload spec (`None`: the spec's own).
    pub layers: Option<u64>,
    /// See [`MAX_SIM_INSTRS`].
    pub max_sim_instrs: u64,
}

impl RooflineOptions {
    /// The paper's chip at keep 0.25 under `cct`, no rows yet.
    pub fn paper() -> RooflineOptions {
        RooflineOptions {
            hw: HwConfig::default(),
            keep: 0.25,
            schedule: Schedule::Cct,
            workloads: Vec::new(),
            models: Vec::new(),
            layers: None,
            max_sim_instrs: MAX_SIM_INSTRS,
        }
    }

    /// The target every row compiles for.
    pub fn target(&self) -> Target {
        Target {
            hw: self.hw.clone(),
            keep: Some(self.keep),
            schedule: self.schedule,
            ..Target::default()
        }
    }
}

/// Where a row's achieved figures come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Every layer simulated.
    Simulated,
    /// One and two layers simulated, the rest extrapolated.
    Extrapolated,
    /// The cost model's predicted latency and DRAM bytes.
    CostModel,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Simulated => "sim",
            Source::Extrapolated => "sim 1+2",
            Source::CostModel => "model",
        }
    }
}

/// One workload or model against its roofline.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchRow {
    pub name: String,
    /// `workload` or `model`.
    pub kind: &'static str,
    /// Attention layers.
    pub layers: u64,
    pub source: Source,
    pub binding: String,
    pub bound_cycles: u64,
    pub achieved_cycles: u64,
    pub efficiency: f64,
    pub sufa_bound: u64,
    /// `sufa_bound / achieved_cycles`.
    pub sufa_utilisation: f64,
    pub dram_bytes: u64,
    pub dram_lower_bound: u64,
}

/// The report `sofa run --workload W --timing-only` prints for `spec` (roofline included).
pub fn workload_report(spec: &WorkloadSpec, target: &Target) -> Result<Report, RooflineError> {
    let err = row_error(&spec.name);
    let lowered_of = |layers: u64| -> Result<Lowered, DriverError> {
        let mut short = spec.clone();
        short.layers = layers;
        let m = driver::compile_workload(&short, target)?;
        driver::lower_workload_mapped(&m, target)
    };
    if spec.layers <= 2 {
        let l = lowered_of(spec.layers).map_err(|e| err(&e))?;
        return simulate_lowered(&l, &target.hw).map_err(|e| err(&e));
    }
    let mut reports = Vec::with_capacity(2);
    for layers in [1, 2] {
        let l = lowered_of(layers).map_err(|e| err(&e))?;
        reports.push(simulate_lowered(&l, &target.hw).map_err(|e| err(&e))?);
    }
    let mut full =
        extrapolate_layers(&reports[0], &reports[1], spec.layers).map_err(|e| err(&e))?;
    let work = driver::compile_workload(spec, target)
        .and_then(|m| driver::workload_roofline(&m, target))
        .map_err(|e| err(&e))?;
    let roofline = extrapolate_roofline(&target.hw, &work, &reports[0], &reports[1], &full)
        .map_err(|e| err(&e))?;
    full.roofline = Some(roofline);
    Ok(full)
}

/// The report `sofa run MODEL --timing-only` prints for `case` (roofline included).
pub fn model_report(case: &ModelCase, target: &Target) -> Result<Report, RooflineError> {
    let err = row_error(&case.name);
    let m = driver::compile_onnx(&case.path, &case.bindings, target).map_err(|e| err(&e))?;
    let l = driver::lower_model_mapped(&m, target).map_err(|e| err(&e))?;
    simulate_lowered(&l, &target.hw).map_err(|e| err(&e))
}

/// A timing-only run of a checked program with its roofline.
fn simulate_lowered(l: &Lowered, hw: &HwConfig) -> Result<Report, String> {
    l.program.check(hw).map_err(|e| {
        format!(
            "the program does not fit the hardware: {}",
            e.first().map(|x| x.to_string()).unwrap_or_default()
        )
    })?;
    let opts = SimOptions {
        mode: Mode::TimingOnly,
        roofline: Some(RooflineRequest {
            work: l.roofline.clone(),
            layer_instrs: l.layer_instrs.clone(),
        }),
        ..SimOptions::default()
    };
    simulate(&l.program, hw, &BTreeMap::new(), &opts)
        .map(|o| o.report)
        .map_err(|e| e.to_string())
}

/// A row from a report's roofline.
fn row_of(
    name: &str,
    kind: &'static str,
    source: Source,
    r: &Report,
) -> Result<BenchRow, RooflineError> {
    let roof = r.roofline.as_ref().ok_or_else(|| RooflineError::Row {
        name: name.into(),
        message: "the report has no roofline".into(),
    })?;
    let p = &roof.program;
    let sufa_bound = p.bound("sufa").unwrap_or(0);
    Ok(BenchRow {
        name: name.into(),
        kind,
        layers: roof.layers.len() as u64,
        source,
        binding: p.binding.clone(),
        bound_cycles: p.bound_cycles,
        achieved_cycles: p.achieved_cycles,
        efficiency: p.efficiency,
        sufa_bound,
        sufa_utilisation: efficiency(sufa_bound, p.achieved_cycles),
        dram_bytes: p.dram_bytes,
        dram_lower_bound: p.dram_lower_bound.bytes,
    })
}

/// Instructions of the two-layer program the plan of `spec` implies.
fn two_layer_instrs(spec: &WorkloadSpec, target: &Target) -> Result<u64, DriverError> {
    let mut short = spec.clone();
    short.layers = 2;
    let m = driver::compile_workload(&short, target)?;
    Ok(driver::schedule_layers(&m, target)?
        .iter()
        .flat_map(|l| l.plan.cost.instrs.values())
        .fold(1u64, |s, &n| s.saturating_add(n)))
}

/// A workload row priced by the cost model: summed predicted latency and DRAM bytes.
fn cost_model_row(spec: &WorkloadSpec, target: &Target) -> Result<BenchRow, RooflineError> {
    let err = row_error(&spec.name);
    let m = driver::compile_workload(spec, target).map_err(|e| err(&e))?;
    let priced = driver::schedule_layers(&m, target).map_err(|e| err(&e))?;
    let work = driver::workload_roofline(&m, target).map_err(|e| err(&e))?;
    let b = work.program.bounds(&target.hw).map_err(|e| err(&e))?;
    let achieved = priced
        .iter()
        .fold(0u64, |s, p| s.saturating_add(p.plan.cost.latency));
    let dram = priced
        .iter()
        .fold(0u64, |s, p| s.saturating_add(p.plan.cost.dram_bytes()));
    let (binding, bound) = b.binding();
    Ok(BenchRow {
        name: spec.name.clone(),
        kind: "workload",
        layers: priced.len() as u64,
        source: Source::CostModel,
        binding: binding.into(),
        bound_cycles: bound,
        achieved_cycles: achieved,
        efficiency: efficiency(bound, achieved),
        sufa_bound: b.sufa,
        sufa_utilisation: efficiency(b.sufa, achieved),
        dram_bytes: dram,
        dram_lower_bound: b.dram.bytes,
    })
}

/// The row of one workload spec file.
fn workload_row(path: &Path, opts: &RooflineOptions) -> Result<BenchRow, RooflineError> {
    let mut spec = load_spec(path).map_err(|e| RooflineError::Row {
        name: path.display().to_string(),
        message: e.to_string(),
    })?;
    if let Some(n) = opts.layers {
        spec.layers = n;
    }
    let target = opts.target();
    let instrs = two_layer_instrs(&spec, &target).map_err(|e| row_error(&spec.name)(&e))?;
    if instrs > opts.max_sim_instrs {
        return cost_model_row(&spec, &target);
    }
    let source = if spec.layers > 2 {
        Source::Extrapolated
    } else {
        Source::Simulated
    };
    let r = workload_report(&spec, &target)?;
    row_of(&spec.name, "workload", source, &r)
}

/// Every row: the workloads, then the models.
pub fn run(opts: &RooflineOptions) -> Result<RooflineTable, RooflineError> {
    let mut rows = Vec::with_capacity(opts.workloads.len() + opts.models.len());
    for path in &opts.workloads {
        rows.push(workload_row(path, opts)?);
    }
    let target = opts.target();
    for case in &opts.models {
        let r = model_report(case, &target)?;
        rows.push(row_of(&case.name, "model", Source::Simulated, &r)?);
    }
    Ok(RooflineTable {
        hw_name: opts.hw.name.clone(),
        config_hash: opts.hw.hash(),
        keep: opts.keep,
        schedule: opts.schedule,
        rows,
    })
}
