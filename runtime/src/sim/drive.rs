//! The two executors the scheduler drives: timing-only (model counts, static traffic) and
//! functional (real data in [`Memory`], counts and traffic from what each instruction did).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use sofa_ir::hw::{DynamicCounts, HwConfig};
use sofa_ir::isa::{BiasPrefix, Instr, Opcode, PrefixError, Program, TensorKind};

use super::exec::{self, ExecOutcome, FunctionalStats};
use super::host_ops::{self, HostOpError, HostWork};
use super::memory::Memory;
use super::tally::Accounts;
use super::SimError;
use sofa_ir::hw::timing::{
    replay_recording, Cuts, Executor, ListModel, Recording, Replayer, Timeline,
};

/// What a run leaves for the report.
pub(crate) struct Run {
    /// Instructions run, and of those SADS.
    pub instructions: usize,
    pub sads: u64,
    pub timeline: Timeline,
    pub accounts: Accounts,
    /// Functional statistics (functional mode only).
    pub stats: Option<FunctionalStats>,
    pub outputs: BTreeMap<String, Vec<u8>>,
    /// The HOST instructions executed, in execution order.
    pub host: Vec<HostRecord>,
}

/// One executed HOST instruction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HostRecord {
    pub instr: usize,
    /// Its host-op table entry.
    pub op: u32,
    pub work: HostWork,
}

/// Run `HOST op=k` (on data when `mem` is given): account its work, no chip cycles.
fn host_step(
    program: &Program,
    (index, instr, k): (usize, &Instr, u32),
    mem: Option<&mut Memory>,
    records: &mut Vec<HostRecord>,
) -> Result<u64, SimError> {
    let h = host_ops::entry(program, k).map_err(|e| SimError::at(index, instr, e.to_string()))?;
    let named = |e: HostOpError| {
        SimError::at(
            index,
            instr,
            format!("host op #{k} {} at \"{}\": {e}", h.op, h.name),
        )
    };
    let work = host_ops::work(program, h).map_err(named)?;
    if let Some(mem) = mem {
        host_ops::run(program, h, mem).map_err(named)?;
    }
    records.push(HostRecord {
        instr: index,
        op: k,
        work,
    });
    Ok(0)
}

/// SIGNAL, WAIT and HALT move no data and compute nothing.
fn is_control(instr: &Instr) -> bool {
    matches!(
        instr,
        Instr::Signal { .. } | Instr::Wait { .. } | Instr::Halt {}
    )
}

/// Cycles of `instr` with `counts`, errors naming the instruction.
fn cycles(
    index: usize,
    instr: &Instr,
    hw: &HwConfig,
    counts: &DynamicCounts,
) -> Result<u64, SimError> {
    instr
        .cycles_with(hw, counts)
        .map_err(|e| SimError::at(index, instr, e.to_string()))
}

/// Follows the SU-FA queue as its instructions start: a `SUFA.BIAS` must reach a `SUFA.T`
/// (`Program::check` rejects it before a run; this names the instruction in an unchecked one).
fn follow_prefix(prefix: &mut BiasPrefix, index: usize, instr: &Instr) -> Result<(), SimError> {
    prefix.step(index, instr).map_err(prefix_error)
}

fn prefix_error(e: PrefixError) -> SimError {
    SimError {
        instr: Some(e.prefix()),
        opcode: Some(Opcode::SufaBias),
        message: e.to_string(),
    }
}

struct TimingExec<'a> {
    program: &'a Program,
    hw: &'a HwConfig,
    model: ListModel,
    accounts: Accounts,
    host: Vec<HostRecord>,
    prefix: BiasPrefix,
    started: &'a AtomicU64,
}

impl Executor for TimingExec<'_> {
    type Error = SimError;

    fn start(&mut self, index: usize, instr: &Instr) -> Result<u64, SimError> {
        self.started.fetch_add(1, Ordering::Relaxed);
        follow_prefix(&mut self.prefix, index, instr)?;
        if is_control(instr) {
            return cycles(index, instr, self.hw, &DynamicCounts::default());
        }
        if let Instr::Host { op } = instr {
            return host_step(self.program, (index, instr, *op), None, &mut self.host);
        }
        let counts = self.model.counts(instr);
        let outcome = exec::static_outcome(instr, &counts)
            .map_err(|e| SimError::at(index, instr, e.to_string()))?;
        self.accounts.add(index, instr, &outcome)?;
        cycles(index, instr, self.hw, &counts)
    }
}

impl<'a> TimingExec<'a> {
    /// An executor of `program`'s instructions (its tables: instructions may come in pieces),
    /// keeping region tallies for `spans`.
    fn new(
        program: &'a Program,
        hw: &'a HwConfig,
        spans: Option<Cuts>,
        started: &'a AtomicU64,
    ) -> TimingExec<'a> {
        TimingExec {
            program,
            hw,
            model: ListModel::default(),
            accounts: Accounts::new(program, spans),
            host: Vec::new(),
            prefix: BiasPrefix::default(),
            started,
        }
    }
}

/// Timing-only run: no data, counts from [`ListModel`].
pub(crate) fn run_timing_only(
    program: &Program,
    hw: &HwConfig,
    recording: Recording,
    started: &AtomicU64,
) -> Result<Run, SimError> {
    let mut ex = TimingExec::new(program, hw, recording.spans.clone(), started);
    let timeline = replay_recording(&program.instrs, hw.control.semaphores, &mut ex, recording)?;
    ex.prefix.finish().map_err(prefix_error)?;
    Ok(Run {
        instructions: program.instrs.len(),
        sads: count_sads(&program.instrs),
        timeline,
        accounts: ex.accounts,
        stats: None,
        outputs: BTreeMap::new(),
        host: ex.host,
    })
}

/// How many of `instrs` are SADS.
fn count_sads(instrs: &[Instr]) -> u64 {
    instrs
        .iter()
        .filter(|i| matches!(i, Instr::Sads { .. }))
        .count() as u64
}

/// Timing-only run of a program given as its head (tensor and host-op tables, no
/// instructions) and its instructions in pieces, each ending where a lowered segment ends:
/// `next` returns the next piece, `None` after the last. Only the piece being replayed is in
/// memory.
pub(crate) fn run_timing_pieces(
    head: &Program,
    hw: &HwConfig,
    spans: Option<Cuts>,
    next: &mut dyn FnMut() -> Result<Option<Vec<Instr>>, SimError>,
    started: &AtomicU64,
) -> Result<Run, SimError> {
    let mut ex = TimingExec::new(head, hw, spans.clone(), started);
    let mut replayer = Replayer::new(hw.control.semaphores, spans);
    let mut sads = 0;
    while let Some(piece) = next()? {
        replayer.feed(&piece, &mut ex)?;
        sads += count_sads(&piece);
    }
    ex.prefix.finish().map_err(prefix_error)?;
    Ok(Run {
        instructions: replayer.fed(),
        sads,
        timeline: replayer.finish(),
        accounts: ex.accounts,
        stats: None,
        outputs: BTreeMap::new(),
        host: ex.host,
    })
}

struct FunctionalExec<'a> {
    program: &'a Program,
    hw: &'a HwConfig,
    mem: Memory,
    stats: FunctionalStats,
    accounts: Accounts,
    host: Vec<HostRecord>,
    prefix: BiasPrefix,
    started: &'a AtomicU64,
}

impl Executor for FunctionalExec<'_> {
    type Error = SimError;

    fn start(&mut self, index: usize, instr: &Instr) -> Result<u64, SimError> {
        self.started.fetch_add(1, Ordering::Relaxed);
        follow_prefix(&mut self.prefix, index, instr)?;
        if is_control(instr) {
            return cycles(index, instr, self.hw, &DynamicCounts::default());
        }
        if let Instr::Host { op } = instr {
            let at = (index, instr, *op);
            return host_step(self.program, at, Some(&mut self.mem), &mut self.host);
        }
        let outcome: ExecOutcome =
            exec::execute(index, instr, &mut self.mem, self.hw, &mut self.stats)
                .map_err(|e| SimError::at(index, instr, e.to_string()))?;
        self.accounts.add(index, instr, &outcome)?;
        cycles(index, instr, self.hw, &outcome.counts)
    }
}

/// Functional run: load inputs, execute at each start, read outputs after HALT.
pub(crate) fn run_functional(
    program: &Program,
    hw: &HwConfig,
    inputs: &BTreeMap<String, Vec<u8>>,
    recording: Recording,
    started: &AtomicU64,
) -> Result<Run, SimError> {
    let mut mem = Memory::new(program, hw)
        .map_err(|m| SimError::general(format!("cannot set up memory: {m}")))?;
    load_inputs(program, inputs, &mut mem)?;
    let mut ex = FunctionalExec {
        program,
        hw,
        mem,
        stats: FunctionalStats::default(),
        accounts: Accounts::new(program, recording.spans.clone()),
        host: Vec::new(),
        prefix: BiasPrefix::default(),
        started,
    };
    let timeline = replay_recording(&program.instrs, hw.control.semaphores, &mut ex, recording)?;
    ex.prefix.finish().map_err(prefix_error)?;
    let outputs = read_outputs(program, &ex.mem)?;
    Ok(Run {
        instructions: program.instrs.len(),
        sads: count_sads(&program.instrs),
        timeline,
        accounts: ex.accounts,
        stats: Some(ex.stats),
        outputs,
        host: ex.host,
    })
}

/// Copy every input tensor's bytes into DRAM; missing, unknown and wrong-length inputs are errors.
fn load_inputs(
    program: &Program,
    inputs: &BTreeMap<String, Vec<u8>>,
    mem: &mut Memory,
) -> Result<(), SimError> {
    let wanted: Vec<_> = program
        .tensors
        .iter()
        .filter(|t| t.kind == TensorKind::Input)
        .collect();
    if let Some(extra) = inputs
        .keys()
        .find(|k| !wanted.iter().any(|t| &t.name == *k))
    {
        let names: Vec<&str> = wanted.iter().map(|t| t.name.as_str()).collect();
        return Err(SimError::general(format!(
            "input '{extra}' is not an input tensor of the program (inputs: {})",
            names.join(", ")
        )));
    }
    for decl in wanted {
        let bytes = inputs
            .get(&decl.name)
            .ok_or_else(|| SimError::general(format!("missing input '{}'", decl.name)))?;
        let expected = decl.byte_len().unwrap_or(u64::MAX);
        if u64::try_from(bytes.len()).ok() != Some(expected) {
            return Err(SimError::general(format!(
                "input '{}' has {} bytes, expected {expected} ({} {:?})",
                decl.name,
                bytes.len(),
                decl.dtype,
                decl.shape
            )));
        }
        mem.write_tensor(decl, bytes)
            .map_err(|m| SimError::general(format!("input '{}': {m}", decl.name)))?;
    }
    Ok(())
}

fn read_outputs(program: &Program, mem: &Memory) -> Result<BTreeMap<String, Vec<u8>>, SimError> {
    program
        .tensors
        .iter()
        .filter(|t| t.kind == TensorKind::Output)
        .map(|t| {
            let bytes = mem
                .read_tensor(t)
                .map_err(|m| SimError::general(format!("output '{}': {m}", t.name)))?;
            Ok((t.name.clone(), bytes.into_owned()))
        })
        .collect()
}
