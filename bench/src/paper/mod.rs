//! `sofa bench paper`: the paper's ablations (SOFA, MICRO 2024; paper-notes §7) measured by
//! sofa's own machinery and printed beside the paper's figures.
//!
//! Every sofa figure is computed, none is typed in:
//! - DRAM traffic of `cct` / `staged` / `staged` without RASS: the cost model's plans
//!   ([`dram`]) on the paper's workloads (`workloads/*.toml`) at keep 0.25;
//! - the complexity ablation (DLZS, +SADS, +SU-FA): a weighted operation count along the cost
//!   model's plan of each `--ablate` variant ([`complexity`]);
//! - SU-FA update orders and SADS vs exact top-k: counted on synthetic attention rows
//!   ([`synth`], [`sufa`], [`selection`]) with the selection code of `sofa_ir::eval::sads`;
//! - the RASS toy example: the `RASS` instruction run on the simulator ([`rass`]);
//! - PE utilisation: a timing-only simulator run of a lowered workload ([`utilisation`]).
//!
//! Where sofa differs from the paper the row says so; `docs/paper-comparison.md` explains each
//! row and each difference. Everything is deterministic (fixed seeds, ordered iteration).

pub mod complexity;
pub mod dram;
pub mod rass;
pub mod rng;
mod rows;
pub mod selection;
pub mod sufa;
pub mod synth;
pub mod table;
pub mod utilisation;
pub mod workload;

use std::path::PathBuf;

use sofa_ir::hw::HwConfig;

pub use table::{PaperTable, Row, Unit};
use workload::Workload;

/// Why the benchmark could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PaperError {
    #[error("workload: {0}")]
    Workload(String),
    /// The cost model or the lowering refused (their messages name themselves).
    #[error("{0}")]
    Model(String),
    #[error("simulator: {0}")]
    Sim(String),
}

/// The paper's evaluated models that have a workload spec (§7.1; ViT-B was only profiled).
pub const PAPER_WORKLOADS: [&str; 7] = [
    "bert-base",
    "bert-large",
    "gpt2",
    "bloom-1.7b",
    "llama-7b",
    "llama-13b",
    "pvt",
];

/// Workloads simulated for the utilisation row (one layer each): the encoders, GPT-2, PVT and
/// Llama-7B, the paper's latency workload (its layer is 1.8·10⁶ instructions, about a second
/// of the command's run time; Bloom and Llama-13B would add several more).
pub const UTILISATION_WORKLOADS: [&str; 5] = ["bert-base", "bert-large", "gpt2", "pvt", "llama-7b"];

/// What to run.
#[derive(Clone, Debug)]
pub struct PaperOptions {
    pub hw: HwConfig,
    /// Directory of the workload specs.
    pub workloads_dir: PathBuf,
    /// Keep ratio of every workload (the paper's motivation uses 25%).
    pub keep: f64,
    /// Synthetic attention: query rows, sequence length, head dim, SADS tiles, seed.
    pub rows: usize,
    pub seq: usize,
    pub head_dim: usize,
    pub tiles: usize,
    pub seed: u64,
}

impl PaperOptions {
    /// The paper's configuration: default `HwConfig`, keep 25%, S = 1024, n = 4, d = 64,
    /// 256 query rows.
    pub fn paper(workloads_dir: PathBuf) -> PaperOptions {
        PaperOptions {
            hw: HwConfig::default(),
            workloads_dir,
            keep: 0.25,
            rows: 256,
            seq: 1024,
            head_dim: 64,
            tiles: 4,
            seed: 0x50fa_2024,
        }
    }
}

/// Load every spec of `names`; a spec that fails to load is an error (the directory is wrong).
fn load_all(opts: &PaperOptions, names: &[&str]) -> Result<Vec<Workload>, PaperError> {
    names
        .iter()
        .map(|n| Workload::load(&opts.workloads_dir, n, opts.keep))
        .collect()
}

/// Run every measurement and build the table.
pub fn run(opts: &PaperOptions) -> Result<PaperTable, PaperError> {
    let workloads = load_all(opts, &PAPER_WORKLOADS)?;
    let mut t = PaperTable {
        setup: rows::setup(opts),
        ..PaperTable::default()
    };
    let dram: Vec<_> = workloads
        .iter()
        .map(|w| (w.spec.name.clone(), dram::measure(&opts.hw, w)))
        .collect();
    rows::dram_rows(&mut t, &dram);
    let cx: Vec<_> = workloads
        .iter()
        .map(|w| (w.spec.name.clone(), complexity::measure(&opts.hw, w)))
        .collect();
    rows::complexity_rows(&mut t, &cx);
    let data = synth::Synthetic::generate(opts.rows, opts.seq, opts.head_dim, opts.seed);
    let sel = selection::measure(&data, opts.tiles, opts.keep);
    rows::sufa_rows(&mut t, &sel);
    rows::sads_row(&mut t, &sel);
    rows::rass_row(&mut t, &rass::measure(&opts.hw)?);
    let sims = load_all(opts, &UTILISATION_WORKLOADS)?
        .iter()
        .map(|w| utilisation::measure(&opts.hw, w))
        .collect::<Result<Vec<_>, _>>()?;
    rows::utilisation_row(&mut t, &sims);
    Ok(t)
}
