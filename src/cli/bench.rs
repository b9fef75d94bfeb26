//! `sofa bench`: benchmarks that print figures. `sofa bench paper` runs the paper's ablations
//! on the paper's configuration and prints them beside the paper's figures (`sofa_bench::paper`,
//! `docs/paper-comparison.md`); `sofa bench roofline` puts every paper workload and ONNX
//! fixture against its roofline (`sofa_bench::roofline`, `docs/roofline.md`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, Subcommand};

use super::diag::CliError;
use super::io::write_output;
use sofa_bench::paper::{run as run_paper, PaperOptions};
use sofa_bench::roofline::{
    run as run_roofline, ModelCase, RooflineOptions, MAX_SIM_INSTRS, ROOFLINE_WORKLOADS,
};
use sofa_ir::dialect::attn::{check_keep_ratio, Schedule};

use super::model::bindings_from_inputs;

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchWhat,
}

#[derive(Debug, Subcommand)]
pub enum BenchWhat {
    #[command(
        about = "Reproduce the paper's ablations (DRAM, complexity, SU-FA, SADS, RASS, PE utilisation)"
    )]
    Paper(PaperArgs),
    #[command(about = "Every paper workload and ONNX fixture against its roofline")]
    Roofline(RooflineArgs),
}

#[derive(Debug, Args)]
#[command(
    long_about = "Put every paper workload (workloads/*.toml: BERT-base/large, GPT-2, \
                  Bloom-1.7B, Llama-7B/13B, ViT-B/16, PVT) and every ONNX fixture (at its \
                  recorded input shapes, from <name>.input.npz) against its roofline: the \
                  binding bound (the work the program needs over the busiest engine's peak \
                  rate, from the hardware configuration only), the cycles achieved (a \
                  timing-only simulation of the program `sofa run` runs; workload specs \
                  simulate one and two layers and extrapolate, `sim 1+2`; a spec too large to \
                  simulate is priced by the cost model, `model`), the efficiency (bound / \
                  achieved), the SU-FA utilisation (SU-FA bound / achieved) and the DRAM bytes \
                  against the DRAM lower bound. docs/roofline.md defines every bound. \
                  Deterministic; a few seconds in release builds.",
    after_help = "Examples:\n  sofa bench roofline\n  sofa bench roofline --keep-ratio 1 --schedule dense\n  \
                  sofa bench roofline --only bert-base,gpt2_sdpa_ts_op17 --layers 1\n  \
                  sofa bench roofline --json -o roofline.json"
)]
pub struct RooflineArgs {
    /// Directory of the workload specs (default: ./workloads, else the source tree's).
    #[arg(long, value_name = "DIR")]
    pub workloads: Option<PathBuf>,

    /// Directory of the ONNX fixtures, each with its NAME.input.npz (default:
    /// ./tests/fixtures/models, else the source tree's).
    #[arg(long, value_name = "DIR")]
    pub models: Option<PathBuf>,

    /// Hardware configuration TOML (default: the paper's chip).
    #[arg(long, value_name = "HW.toml")]
    pub config: Option<PathBuf>,

    /// Fraction of each query's visible keys kept, in (0, 1].
    #[arg(long, value_name = "R", default_value_t = 0.25)]
    pub keep_ratio: f64,

    /// Attention dataflow of every row.
    #[arg(long, value_enum, default_value = "cct")]
    pub schedule: ScheduleArg,

    /// Layers of every workload spec (default: the spec's own).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub layers: Option<u64>,

    /// Only these rows (workload or fixture names, comma-separated).
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    pub only: Vec<String>,

    /// Print JSON (format "sofa-bench-roofline", version 1) instead of the table.
    #[arg(long)]
    pub json: bool,

    /// Write to OUT (atomically) instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub output: Option<PathBuf>,
}

/// `--schedule` of `sofa bench roofline`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ScheduleArg {
    Cct,
    Staged,
    Dense,
}

impl From<ScheduleArg> for Schedule {
    fn from(s: ScheduleArg) -> Schedule {
        match s {
            ScheduleArg::Cct => Schedule::Cct,
            ScheduleArg::Staged => Schedule::Staged,
            ScheduleArg::Dense => Schedule::Dense,
        }
    }
}

#[derive(Debug, Args)]
#[command(
    long_about = "Measure the SOFA paper's ablations with sofa's cost model, simulator and \
                  selection code, and print them beside the paper's figures (paper-notes §7): \
                  DRAM traffic of cct vs staged (with and without RASS), the complexity of DLZS / \
                  +SADS / +SU-FA, SU-FA update orders, SADS vs exact top-k, the RASS toy example \
                  and the average PE utilisation. Rows where sofa differs say so; \
                  docs/paper-comparison.md explains each. Deterministic; a few seconds in \
                  release builds.",
    after_help = "Examples:\n  sofa bench paper\n  sofa bench paper --json -o paper.json"
)]
pub struct PaperArgs {
    /// Directory of the workload specs (default: ./workloads, else the source tree's).
    #[arg(long, value_name = "DIR")]
    pub workloads: Option<PathBuf>,

    /// Hardware configuration TOML (default: the paper's chip).
    #[arg(long, value_name = "HW.toml")]
    pub config: Option<PathBuf>,

    /// Print JSON (format "sofa-bench-paper", version 1) instead of the table.
    #[arg(long)]
    pub json: bool,

    /// Write to OUT (atomically) instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub output: Option<PathBuf>,
}

pub fn run(args: &BenchArgs) -> Result<(), CliError> {
    match &args.what {
        BenchWhat::Paper(a) => paper(a),
        BenchWhat::Roofline(a) => roofline(a),
    }
}

/// `./workloads` when present, else the source tree's (a development tool run from anywhere).
fn default_workloads() -> PathBuf {
    let here = Path::new("workloads");
    if here.is_dir() {
        here.to_path_buf()
    } else {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/workloads"))
    }
}

/// `./tests/fixtures/models` when present, else the source tree's.
fn default_models() -> PathBuf {
    let here = Path::new("tests/fixtures/models");
    if here.is_dir() {
        here.to_path_buf()
    } else {
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/models"
        ))
    }
}

/// Every `*.onnx` of `dir` (sorted) with the dims its `NAME.input.npz` binds.
fn fixture_cases(dir: &Path) -> Result<Vec<ModelCase>, CliError> {
    let entries = std::fs::read_dir(dir).map_err(|e| CliError::io("read", dir, &e))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "onnx"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let input = dir.join(format!("{name}.input.npz"));
            let arrays = crate::npz::read_npz(&input).map_err(CliError::input)?;
            let shapes = arrays
                .iter()
                .map(|(k, t)| (k.clone(), t.shape().to_vec()))
                .collect();
            let bindings = bindings_from_inputs(&path, &None, &shapes)?;
            Ok(ModelCase {
                name,
                path,
                bindings,
            })
        })
        .collect()
}

fn roofline(args: &RooflineArgs) -> Result<(), CliError> {
    check_keep_ratio(args.keep_ratio).map_err(|e| CliError::usage(format!("--keep-ratio: {e}")))?;
    let mut opts = RooflineOptions::paper();
    if let Some(p) = &args.config {
        opts.hw = sofa_ir::hw::HwConfig::load(p).map_err(CliError::input)?;
    }
    opts.keep = args.keep_ratio;
    opts.schedule = args.schedule.into();
    opts.layers = args.layers;
    opts.max_sim_instrs = MAX_SIM_INSTRS;
    let wanted = |name: &str| args.only.is_empty() || args.only.iter().any(|o| o == name);
    let dir = args.workloads.clone().unwrap_or_else(default_workloads);
    opts.workloads = ROOFLINE_WORKLOADS
        .iter()
        .filter(|n| wanted(n))
        .map(|n| dir.join(format!("{n}.toml")))
        .collect();
    let models = args.models.clone().unwrap_or_else(default_models);
    opts.models = fixture_cases(&models)?
        .into_iter()
        .filter(|c| wanted(&c.name))
        .collect();
    if let Some(unknown) = args.only.iter().find(|o| {
        !ROOFLINE_WORKLOADS.contains(&o.as_str()) && !opts.models.iter().any(|c| &c.name == *o)
    }) {
        return Err(CliError::usage(format!(
            "--only: no workload or fixture named '{unknown}'"
        )));
    }
    let start = Instant::now();
    let table = run_roofline(&opts).map_err(CliError::input)?;
    let text = if args.json {
        table.render_json()
    } else {
        table.render_text()
    };
    write_output(args.output.as_deref(), text.as_bytes())?;
    eprintln!(
        "sofa bench roofline: {} rows in {:.2} s",
        table.rows.len(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn paper(args: &PaperArgs) -> Result<(), CliError> {
    let mut opts = PaperOptions::paper(args.workloads.clone().unwrap_or_else(default_workloads));
    if let Some(p) = &args.config {
        opts.hw = sofa_ir::hw::HwConfig::load(p).map_err(CliError::input)?;
    }
    let start = Instant::now();
    let table = run_paper(&opts).map_err(CliError::input)?;
    let text = if args.json {
        table.render_json()
    } else {
        table.render_text()
    };
    write_output(args.output.as_deref(), text.as_bytes())?;
    eprintln!(
        "sofa bench paper: {} rows in {:.2} s",
        table.rows.len(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
