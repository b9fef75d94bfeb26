//! `sofa compile`: a workload spec through sparsify and cct-tile to a schedule report
//! (`--emit schedule-json`), or lowered to a SOFA-ISA program (`--emit asm|bin`).
//!
//! ONNX model input is not implemented yet (the rest of the model — GEMMs, norms, activations —
//! does not lower to the ISA yet), and asking for it is an input error saying so.

use std::path::PathBuf;

use clap::Args;
use sofa_compiler::lower::{lower_attention, LowerOptions};
use sofa_compiler::passes::cct_tile::load_config;
use sofa_compiler::schedule::json::workload_schedule_json;
use sofa_compiler::schedule::{Ablation, Schedule};
use sofa_compiler::workload::{build_module, load_spec};
use sofa_ir::hw::HwConfig;
use sofa_ir::isa::print_asm;

use super::diag::CliError;
use super::io::write_output;

#[derive(Debug, Args)]
#[command(
    long_about = "Compile a workload spec (attention shapes, see workloads/*.toml): sparsify at the \
                  keep ratio, choose each layer's tiling (Tc, query block, K̂ placement) by the \
                  analytical cost model, and print the schedule summary (schedule-json), or lower \
                  it to a SOFA-ISA program (--emit asm | bin).\n\n\
                  Paper-scale workloads lower to tens of millions of instructions (the ISA's \
                  SUFA.SYNC keeps every tile partial of a query block on chip); use \
                  schedule-json for them.",
    after_help = "Examples:\n  \
                  sofa compile --workload workloads/llama-7b.toml --keep-ratio 0.25 --emit schedule-json\n  \
                  sofa compile --workload workloads/bert-base.toml --keep-ratio 0.25 --schedule staged -o s.json"
)]
pub struct CompileArgs {
    /// An ONNX model: not supported yet (only attention lowers to the ISA so far).
    #[arg(value_name = "MODEL.onnx")]
    pub model: Option<PathBuf>,

    /// The workload spec (TOML).
    #[arg(long, value_name = "W.toml")]
    pub workload: Option<PathBuf>,

    /// Hardware configuration TOML (default: the paper's chip).
    #[arg(long, value_name = "HW.toml")]
    pub config: Option<PathBuf>,

    /// Keep ratio for every layer, in (0, 1] (default: the spec's keep_ratio).
    #[arg(long, value_name = "R")]
    pub keep_ratio: Option<f64>,

    /// dense, staged or cct.
    #[arg(long, default_value = "cct")]
    pub schedule: String,

    /// Comma list of mechanisms to ablate: dlzs, sads, sufa, rass.
    #[arg(long, default_value = "", value_name = "M,...")]
    pub ablate: String,

    /// What to emit: schedule-json (the per-layer plan and predicted costs), asm (SOFA-ISA
    /// assembly text) or bin (a .sofabin program).
    #[arg(long, default_value = "schedule-json", value_parser = ["schedule-json", "asm", "bin"])]
    pub emit: String,

    /// Write to OUT (atomically) instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub output: Option<PathBuf>,
}

pub fn run(args: &CompileArgs) -> Result<(), CliError> {
    if args.model.is_some() {
        return Err(CliError::input(
            "compiling ONNX models is not implemented yet (only attention lowers to the ISA so far); \
             use --workload W.toml",
        ));
    }
    let path = args
        .workload
        .as_ref()
        .ok_or_else(|| CliError::usage("--workload W.toml is required"))?;
    let schedule = Schedule::parse(&args.schedule).map_err(CliError::usage)?;
    let ablate = Ablation::parse(&args.ablate).map_err(CliError::usage)?;
    if let Some(k) = args.keep_ratio.filter(|k| !(*k > 0.0 && *k <= 1.0)) {
        return Err(CliError::usage(format!(
            "--keep-ratio must be in (0, 1], got {k}"
        )));
    }
    let hw = match &args.config {
        None => HwConfig::default(),
        Some(p) => load_config(&p.to_string_lossy()).map_err(CliError::input)?,
    };
    let spec = load_spec(path).map_err(CliError::input)?;
    let bytes = match args.emit.as_str() {
        "schedule-json" => workload_schedule_json(&spec, &hw, args.keep_ratio, schedule, ablate)
            .map_err(CliError::input)?
            .into_bytes(),
        emit => {
            if !args.ablate.is_empty() {
                return Err(CliError::usage(
                    "--ablate applies to --emit schedule-json only (the lowering has no ablations yet)",
                ));
            }
            let program = lower_workload(&spec, &hw, args.keep_ratio, schedule)?;
            if emit == "asm" {
                print_asm(&program).into_bytes()
            } else {
                program.encode()
            }
        }
    };
    write_output(args.output.as_deref(), &bytes)
}

/// The workload's attention IR, sparsified at the keep ratio, lowered to a SOFA-ISA program.
fn lower_workload(
    spec: &sofa_compiler::workload::WorkloadSpec,
    hw: &HwConfig,
    keep: Option<f64>,
    schedule: Schedule,
) -> Result<sofa_ir::isa::Program, CliError> {
    let module = build_module(spec).map_err(CliError::input)?;
    let opts = LowerOptions {
        schedule,
        keep_ratio: Some(keep.unwrap_or(spec.keep_ratio)),
        q_block: None,
    };
    lower_attention(&module, hw, &opts).map_err(CliError::input)
}
