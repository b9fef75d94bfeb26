//! `sofa bench`: benchmarks that print figures. `sofa bench paper` runs the paper's ablations
//! on the paper's configuration and prints them beside the paper's figures (`sofa_bench::paper`,
//! `docs/paper-comparison.md`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, Subcommand};

use super::diag::CliError;
use super::io::write_output;
use sofa_bench::paper::{run as run_paper, PaperOptions};

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchWhat,
}

#[derive(Debug, Subcommand)]
pub enum BenchWhat {
    /// Reproduce the paper's ablations (DRAM, complexity, SU-FA, SADS, RASS, PE utilisation).
    Paper(PaperArgs),
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
