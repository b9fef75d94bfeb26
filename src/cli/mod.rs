//! The `sofa` command line: argument parsing (clap derive), subcommand dispatch, exit codes.
//!
//! Each subcommand is one module with an `Args` struct and a `run` function; adding one means a
//! new file plus one variant in [`Command`]. Exit codes are the same for every subcommand:
//! 0 success, 1 bad input (unreadable file, parse or verifier error, failing pass), 2 usage error
//! (unknown flag, malformed pipeline, unknown pass). Diagnostics go to stderr; results go to
//! stdout or to the `-o` file.

mod asm;
mod bench;
mod calibrate;
mod compile;
pub mod diag;
mod disasm;
mod dse;
mod import;
mod inspect;
mod instrument;
mod io;
mod model;
mod opt;
mod pipeline;
mod run;
mod run_pieces;

use clap::{Parser, Subcommand};

pub use diag::CliError;

/// Compiler and simulator toolchain for the SOFA sparse-attention accelerator.
#[derive(Debug, Parser)]
#[command(
    name = "sofa",
    version,
    about,
    long_about = "Compiler and simulator toolchain for the SOFA dynamic-sparse-attention \
                  accelerator (MICRO 2024).\n\n\
                  Exit codes: 0 on success, 1 on an input error (message on stderr), \
                  2 on a usage error."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    #[command(
        about = "Parse IR, run a pass pipeline over it and print the result (like mlir-opt)"
    )]
    Opt(opt::OptArgs),
    #[command(about = "Describe an ONNX model and the attention blocks sofa recognises in it")]
    Inspect(inspect::InspectArgs),
    #[command(about = "Import an ONNX model into sofa's IR (onnx.* ops)")]
    Import(import::ImportArgs),
    #[command(about = "Execute a model on .npz inputs and compare with expected outputs")]
    Run(Box<run::RunArgs>),
    #[command(about = "Assemble SOFA assembly text into a .sofabin program")]
    Asm(asm::AsmArgs),
    #[command(about = "Print a .sofabin program as SOFA assembly text")]
    Disasm(disasm::DisasmArgs),
    #[command(
        about = "Compile an ONNX model or workload spec to a SOFA-ISA program or schedule report"
    )]
    Compile(compile::CompileArgs),
    /// Benchmarks: `sofa bench paper` reproduces the paper's ablations, `sofa bench roofline`
    /// puts every workload against its roofline.
    Bench(bench::BenchArgs),
    /// Design-space exploration: sweep hardware keys and plan choices over a workload, write
    /// every point and the Pareto front (latency, energy, area); shard, merge and resume.
    #[command(long_about = dse::LONG_ABOUT)]
    Dse(dse::DseArgs),
    #[command(
        about = "Search per-layer keep ratios that meet an accuracy target at the least predicted latency",
        long_about = calibrate::LONG_ABOUT
    )]
    Calibrate(calibrate::CalibrateArgs),
}

/// Entry point; returns the process exit code.
pub fn main() -> i32 {
    run_with(std::env::args_os())
}

/// Parse `args` (program name first) and run the chosen subcommand; returns the exit code.
pub fn run_with<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // clap's own codes: 0 for --help/--version, 2 for usage errors.
            let _ = e.print();
            return e.exit_code();
        }
    };
    let result = match cli.command {
        Command::Opt(args) => opt::run(&args),
        Command::Inspect(args) => inspect::run(&args),
        Command::Import(args) => import::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Asm(args) => asm::run(&args),
        Command::Disasm(args) => disasm::run(&args),
        Command::Compile(args) => compile::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Dse(args) => dse::run(&args),
        Command::Calibrate(args) => calibrate::run(&args),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e}");
            e.exit_code()
        }
    }
}
