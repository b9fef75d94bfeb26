//! The SOFA simulator: runs a checked [`Program`] on a [`HwConfig`] and reports time, traffic,
//! energy and (for sparse attention) prediction quality.
//!
//! Two modes share one event loop (`sofa_ir::hw::timing::replay`, the same the compiler's cost
//! model replays its segments with): every engine executes its own queue in program order,
//! engines overlap and synchronise only through the `SIGNAL`/`WAIT` counting semaphores
//! (`isa.md`, "Execution model"), and each instruction costs `Instr::cycles_with(hw, counts)`.
//! - [`Mode::Functional`]: instructions act on real data ([`exec`], [`memory`]) when the
//!   scheduler starts them, and the data-dependent counts (rows gathered, unique keys, SU-FA
//!   rescales) come from what they did.
//! - [`Mode::TimingOnly`]: no data; the counts come from the statistical model of
//!   `sofa_ir::hw::timing::model` and traffic from [`exec::static_outcome`].
//!
//! The result is a versioned [`Report`] (JSON and a readable table, see [`report`]) and, on
//! request, a Chrome trace-event JSON with one track per engine (`trace`). Nothing here
//! panics on a program that passed [`Program::check`]: run-time problems (bad gather rows,
//! deadlocks, arithmetic overflow) are [`SimError`]s naming the instruction.

pub mod exec;
pub mod extrapolate;
pub mod memory;
pub mod report;
pub mod roofline;

mod drive;
mod energy;
mod host_ops;
mod table;
mod tally;
mod trace;

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::sync::atomic::AtomicU64;

use sofa_ir::hw::timing::{Cuts, Recording, ReplayError};
use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{Instr, Opcode, Program};

pub use extrapolate::{extrapolate_layers, ExtrapolateError};
pub use report::{
    ClassTraffic, DramReport, EnergyReport, EnergyTerm, EngineReport, HostNode, HostOpCount,
    HostReport, MacsReport, OpsReport, RegionReport, Report, ReportError, SparseReport,
    SramTraffic, REPORT_FORMAT, REPORT_VERSION,
};
pub use roofline::{extrapolate_roofline, RooflineReport, RooflineRequest, RooflineRow};
pub use tally::TensorClass;

/// Whether instructions compute on data or only take time.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// Execute on real data; data-dependent costs come from the data.
    #[default]
    Functional,
    /// Time only; data-dependent costs from the statistical model of
    /// `sofa_ir::hw::timing::model`.
    TimingOnly,
}

impl Mode {
    /// The spelling used in reports (`functional`, `timing-only`).
    pub fn name(self) -> &'static str {
        match self {
            Mode::Functional => "functional",
            Mode::TimingOnly => "timing-only",
        }
    }
}

/// What to simulate and what to collect.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SimOptions {
    pub mode: Mode,
    /// Collect a Chrome trace (one slice per instruction).
    pub trace: bool,
    /// Optional names for instruction ranges (e.g. per layer) used to split report figures.
    pub regions: Vec<(String, Range<usize>)>,
    /// The work the program needs and its layers' instruction ranges: the report then has a
    /// roofline section.
    pub roofline: Option<RooflineRequest>,
}

/// A run-time failure, naming the instruction when there is one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimError {
    pub instr: Option<usize>,
    pub opcode: Option<Opcode>,
    pub message: String,
}

impl SimError {
    /// An error about the run as a whole (inputs, options, deadlock without a WAIT).
    pub fn general(message: impl Into<String>) -> SimError {
        SimError {
            instr: None,
            opcode: None,
            message: message.into(),
        }
    }

    /// An error at instruction `index`.
    pub fn at(index: usize, instr: &Instr, message: impl Into<String>) -> SimError {
        SimError {
            instr: Some(index),
            opcode: Some(instr.opcode()),
            message: message.into(),
        }
    }
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.instr, self.opcode) {
            (Some(i), Some(op)) => write!(f, "instr #{i} ({}): {}", op.mnemonic(), self.message),
            (Some(i), None) => write!(f, "instr #{i}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for SimError {}

impl From<ReplayError> for SimError {
    fn from(e: ReplayError) -> SimError {
        let message = e.to_string();
        match e {
            ReplayError::Deadlock {
                instr: Some((index, opcode)),
                message,
            } => SimError {
                instr: Some(index),
                opcode: Some(opcode),
                message,
            },
            ReplayError::Deadlock { instr: None, .. } => SimError::general(message),
            ReplayError::Overflow {
                index,
                opcode,
                what,
            } => SimError {
                instr: Some(index),
                opcode: Some(opcode),
                message: format!("{what} overflows 64 bits"),
            },
            ReplayError::Semaphore { index, sem } => SimError {
                instr: Some(index),
                opcode: Some(Opcode::Signal),
                message: format!("semaphore {sem} out of range"),
            },
        }
    }
}

/// Everything a run produces.
#[derive(Clone, Debug, PartialEq)]
pub struct SimOutcome {
    /// Bytes of every `Output` tensor after `HALT` (functional mode; empty in timing-only mode).
    pub outputs: BTreeMap<String, Vec<u8>>,
    pub report: Report,
    /// Chrome trace-event JSON when [`SimOptions::trace`] was set.
    pub trace: Option<String>,
}

/// Simulate `program` (already [`Program::check`]ed against `hw`).
///
/// `inputs` holds the raw little-endian bytes of every `Input` tensor by name (functional mode:
/// all required, exact lengths, no unknown names; timing-only mode: ignored).
pub fn simulate(
    program: &Program,
    hw: &HwConfig,
    inputs: &BTreeMap<String, Vec<u8>>,
    opts: &SimOptions,
) -> Result<SimOutcome, SimError> {
    simulate_counted(program, hw, inputs, opts, &AtomicU64::new(0))
}

/// [`simulate`], counting the instructions started in `started` as it goes, so that another
/// thread can show the run's progress (against `program.instrs.len()`).
pub fn simulate_counted(
    program: &Program,
    hw: &HwConfig,
    inputs: &BTreeMap<String, Vec<u8>>,
    opts: &SimOptions,
    started: &AtomicU64,
) -> Result<SimOutcome, SimError> {
    check_regions(program.instrs.len(), &opts.regions)?;
    if let Some(r) = &opts.roofline {
        check_roofline(program.instrs.len(), r)?;
    }
    let recording = Recording {
        slots: opts.trace,
        spans: region_cuts(opts),
    };
    let run = match opts.mode {
        Mode::TimingOnly => drive::run_timing_only(program, hw, recording, started)?,
        Mode::Functional => drive::run_functional(program, hw, inputs, recording, started)?,
    };
    let trace = match (&run.timeline.slots, opts.trace) {
        (Some(slots), true) => Some(trace::chrome_trace(program, hw, slots)),
        _ => None,
    };
    let report = report::build(program, hw, opts, &run)?;
    Ok(SimOutcome {
        outputs: run.outputs,
        report,
        trace,
    })
}

/// The cuts at the ends of every region the report splits by (`--region`s and roofline
/// layers); `None` when it splits by none, so nothing per region is kept.
fn region_cuts(opts: &SimOptions) -> Option<Cuts> {
    let regions = opts.regions.iter().map(|(_, r)| r);
    let layers = opts.roofline.iter().flat_map(|r| &r.layer_instrs);
    let mut all = regions.chain(layers).peekable();
    all.peek().is_some().then(|| Cuts::of_regions(all))
}

/// [`simulate_counted`] in timing-only mode for a program given as its head (tensor and
/// host-op tables, no instructions) and its `count` instructions in pieces, each ending where
/// a lowered segment ends: `next` returns the next piece, `None` after the last. Only the
/// piece being replayed is in memory, so a model of tens of millions of instructions runs in
/// the memory of its largest segment; the report is the one the whole program gives. No
/// trace (it needs a slot per instruction).
pub fn simulate_timing_pieces(
    head: &Program,
    count: usize,
    hw: &HwConfig,
    opts: &SimOptions,
    next: &mut dyn FnMut() -> Result<Option<Vec<Instr>>, SimError>,
    started: &AtomicU64,
) -> Result<SimOutcome, SimError> {
    if opts.mode != Mode::TimingOnly || opts.trace {
        return Err(SimError::general(
            "a program given in pieces runs timing-only, without a trace",
        ));
    }
    check_regions(count, &opts.regions)?;
    if let Some(r) = &opts.roofline {
        check_roofline(count, r)?;
    }
    let run = drive::run_timing_pieces(head, hw, region_cuts(opts), next, started)?;
    if run.instructions != count {
        return Err(SimError::general(format!(
            "the pieces held {} instructions, {count} were announced",
            run.instructions
        )));
    }
    let report = report::build(head, hw, opts, &run)?;
    Ok(SimOutcome {
        outputs: run.outputs,
        report,
        trace: None,
    })
}

/// One instruction range per layer, each inside the program's `n` instructions.
fn check_roofline(n: usize, r: &RooflineRequest) -> Result<(), SimError> {
    if r.layer_instrs.len() != r.work.layers.len() {
        return Err(SimError::general(format!(
            "roofline: {} layer ranges for {} layers",
            r.layer_instrs.len(),
            r.work.layers.len()
        )));
    }
    let named: Vec<(String, Range<usize>)> = r
        .work
        .layers
        .iter()
        .zip(&r.layer_instrs)
        .map(|(l, range)| (l.name.clone(), range.clone()))
        .collect();
    check_regions(n, &named)
}

/// Regions must lie inside the program's `n` instructions (an out-of-range region is a
/// caller's mistake).
fn check_regions(n: usize, regions: &[(String, Range<usize>)]) -> Result<(), SimError> {
    for (name, r) in regions {
        if r.start > r.end || r.end > n {
            return Err(SimError::general(format!(
                "region '{name}' {}..{} is not inside the program's {n} instructions",
                r.start, r.end
            )));
        }
    }
    Ok(())
}
