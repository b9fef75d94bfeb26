//! The event loop: engines running their queues in simulated time, synchronised by semaphores.
//!
//! Each engine has the indices of its instructions in program order and a clock (the cycle at
//! which it is free). A step picks, among the engines whose next instruction can start, the one
//! that can start earliest (ties: lowest engine code, so runs are deterministic), starts it there
//! and advances that engine's clock by the instruction's cycles, which the [`Executor`] supplies
//! (and may compute on data with). Starts are therefore visited in non-decreasing time, which is
//! what lets functional execution happen "at the start".
//!
//! - `SIGNAL` puts a token stamped with its start time on its semaphore (the engine reached it,
//!   so all its earlier work is done); it then occupies its engine for its 1 cycle.
//! - `WAIT` can start once its semaphore has a token: at `max(engine clock, token time)`,
//!   consuming the earliest token; the difference is recorded as blocked cycles.
//! - `HALT` can start once every other instruction has started, at the latest engine clock
//!   (all engines drained). The run's total is HALT's end; a sequence without `HALT` (a
//!   compiler segment) ends at the latest engine clock.
//!
//! If no engine can start and instructions remain, the sequence deadlocks; the error names
//! every blocked WAIT (index and semaphore) and a stuck HALT.

use std::collections::VecDeque;

use super::spans::{Cuts, Spans};
use crate::isa::{Engine, Instr, Opcode};

/// Number of engines (`Engine::ALL.len()`).
pub const ENGINES: usize = 7;

/// Supplies the cycles of each instruction when the event loop starts it (and may execute it).
pub trait Executor {
    /// What a failed start reports; replay failures (deadlock, overflow) convert into it.
    type Error: From<ReplayError>;

    /// Start instruction `index`; return its cycles.
    fn start(&mut self, index: usize, instr: &Instr) -> Result<u64, Self::Error>;
}

/// Why a replay stopped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// No engine can start; `instr` is the first blocked WAIT, when there is one.
    #[error("{message}")]
    Deadlock {
        instr: Option<(usize, Opcode)>,
        message: String,
    },
    /// Simulated time or a cycle count left 64 bits.
    #[error("instr #{index} ({}): {what} overflows 64 bits", opcode.mnemonic())]
    Overflow {
        index: usize,
        opcode: Opcode,
        what: &'static str,
    },
    /// A `SIGNAL` names a semaphore the hardware does not have.
    #[error("instr #{index} (SIGNAL): semaphore {sem} out of range")]
    Semaphore { index: usize, sem: u16 },
}

/// Per-engine totals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    pub instructions: u64,
    /// Cycles spent executing (sum of instruction cycles).
    pub busy: u64,
    /// Cycles stalled: WAITs before their semaphore had a token, HALT until all engines drained.
    pub blocked: u64,
}

/// When one instruction ran.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Slot {
    /// The cycle its engine reached it (`start - reached` = cycles blocked).
    pub reached: u64,
    pub start: u64,
    pub cycles: u64,
}

/// The result of a replay.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Timeline {
    pub total_cycles: u64,
    /// Indexed by [`engine_slot`].
    pub engines: [EngineStats; ENGINES],
    /// Per instruction (by index), when recording was requested.
    pub slots: Option<Vec<Slot>>,
    /// Per interval of the requested cuts ([`Recording::spans`]).
    pub spans: Option<Spans>,
}

/// What a replay keeps beyond the per-engine totals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recording {
    /// A [`Slot`] per instruction (a trace needs them).
    pub slots: bool,
    /// The [`Spans`] of these cuts (region reports need only them).
    pub spans: Option<Cuts>,
}

/// One engine's position in its queue and its clock.
#[derive(Clone, Copy, Default)]
struct Lane {
    next: usize,
    clock: u64,
}

struct State<'p> {
    instrs: &'p [Instr],
    /// The index of `instrs[0]` in the whole sequence (a [`Replayer`] feeds it in pieces).
    base: usize,
    queues: [Vec<usize>; ENGINES],
    lanes: [Lane; ENGINES],
    /// [`State::can_start`] of each engine, kept current so a step scans no instructions.
    ready: [Option<u64>; ENGINES],
    /// Token times per semaphore, earliest first (tokens arrive in non-decreasing time).
    tokens: Vec<VecDeque<u64>>,
    /// Instructions not yet started.
    remaining: usize,
}

/// Replay `instrs` on engines with `semaphores` counting semaphores; `record` keeps a [`Slot`]
/// per instruction.
pub fn replay<X: Executor>(
    instrs: &[Instr],
    semaphores: u32,
    exec: &mut X,
    record: bool,
) -> Result<Timeline, X::Error> {
    let recording = Recording {
        slots: record,
        spans: None,
    };
    replay_recording(instrs, semaphores, exec, recording)
}

/// [`replay`], keeping what `recording` asks for.
pub fn replay_recording<X: Executor>(
    instrs: &[Instr],
    semaphores: u32,
    exec: &mut X,
    recording: Recording,
) -> Result<Timeline, X::Error> {
    let mut st = State::new(
        instrs,
        0,
        [Lane::default(); ENGINES],
        new_tokens(semaphores),
    );
    let mut tl = Timeline {
        slots: recording.slots.then(|| vec![Slot::default(); instrs.len()]),
        spans: recording.spans.map(Spans::new),
        ..Timeline::default()
    };
    st.run(exec, &mut tl)?;
    tl.total_cycles = st.lanes.iter().map(|l| l.clock).max().unwrap_or(0);
    Ok(tl)
}

/// Counting semaphores, none holding a token. Ids are 16-bit: a larger (unvalidated) count
/// never needs more queues.
fn new_tokens(semaphores: u32) -> Vec<VecDeque<u64>> {
    vec![VecDeque::new(); semaphores.min(1 << 16) as usize]
}

/// A replay fed in pieces, so that a sequence need never be whole in memory: each piece is
/// replayed after the ones before it, the engines' clocks and the semaphores' tokens carried
/// over, and every piece must be able to finish on its own (a WAIT whose SIGNAL comes in a
/// later piece is a deadlock). Pieces that end where a lowered segment ends (every semaphore
/// back at zero) give the times a whole replay gives: an instruction starts at the later of
/// its engine's previous end and the token it waits for, whatever order the engines are
/// stepped in.
pub struct Replayer {
    lanes: [Lane; ENGINES],
    tokens: Vec<VecDeque<u64>>,
    tl: Timeline,
    fed: usize,
}

impl Replayer {
    /// A replay on engines with `semaphores` counting semaphores, keeping the [`Spans`] of
    /// `spans` (cut at indices of the whole sequence).
    pub fn new(semaphores: u32, spans: Option<Cuts>) -> Replayer {
        Replayer {
            lanes: [Lane::default(); ENGINES],
            tokens: new_tokens(semaphores),
            tl: Timeline {
                spans: spans.map(Spans::new),
                ..Timeline::default()
            },
            fed: 0,
        }
    }

    /// Replay the next piece; `exec` sees each instruction's index in the whole sequence.
    pub fn feed<X: Executor>(&mut self, instrs: &[Instr], exec: &mut X) -> Result<(), X::Error> {
        let mut lanes = self.lanes;
        for lane in &mut lanes {
            lane.next = 0;
        }
        let tokens = std::mem::take(&mut self.tokens);
        let mut st = State::new(instrs, self.fed, lanes, tokens);
        let result = st.run(exec, &mut self.tl);
        self.lanes = st.lanes;
        self.tokens = st.tokens;
        self.fed += instrs.len();
        result
    }

    /// Instructions fed so far.
    pub fn fed(&self) -> usize {
        self.fed
    }

    /// The timeline of everything fed.
    pub fn finish(mut self) -> Timeline {
        self.tl.total_cycles = self.lanes.iter().map(|l| l.clock).max().unwrap_or(0);
        self.tl
    }
}

impl<'p> State<'p> {
    fn new(
        instrs: &'p [Instr],
        base: usize,
        lanes: [Lane; ENGINES],
        tokens: Vec<VecDeque<u64>>,
    ) -> State<'p> {
        let mut sizes = [0usize; ENGINES];
        for instr in instrs {
            sizes[engine_slot(instr.engine())] += 1;
        }
        let mut queues: [Vec<usize>; ENGINES] = sizes.map(Vec::with_capacity);
        for (i, instr) in instrs.iter().enumerate() {
            queues[engine_slot(instr.engine())].push(i);
        }
        State {
            instrs,
            base,
            queues,
            lanes,
            ready: [None; ENGINES],
            tokens,
            remaining: instrs.len(),
        }
    }

    /// Step until every instruction has started.
    fn run<X: Executor>(&mut self, exec: &mut X, tl: &mut Timeline) -> Result<(), X::Error> {
        self.refresh_all();
        while self.remaining > 0 {
            let Some((start, e)) = self.earliest() else {
                return Err(self.deadlock().into());
            };
            let sync = self.step(e, start, exec, tl)?;
            // A semaphore changed (or only HALT is left): any engine's readiness may have
            // changed.
            if sync || self.remaining == 1 {
                self.refresh_all();
            } else {
                self.ready[e] = self.can_start(e);
            }
        }
        Ok(())
    }

    fn head(&self, e: usize) -> Option<usize> {
        self.queues[e].get(self.lanes[e].next).copied()
    }

    /// When engine `e`'s next instruction could start now, if it can.
    fn can_start(&self, e: usize) -> Option<u64> {
        let i = self.head(e)?;
        let clock = self.lanes[e].clock;
        match &self.instrs[i] {
            Instr::Wait { sem, .. } => {
                let token = self.tokens.get(usize::from(*sem))?.front()?;
                Some(clock.max(*token))
            }
            // Only HALT itself is left: every engine has drained once its clock has passed.
            Instr::Halt {} if self.remaining == 1 => self.lanes.iter().map(|l| l.clock).max(),
            Instr::Halt {} => None,
            _ => Some(clock),
        }
    }

    fn refresh_all(&mut self) {
        for e in 0..ENGINES {
            self.ready[e] = self.can_start(e);
        }
    }

    /// The engine that can start earliest (lowest engine code on ties).
    fn earliest(&self) -> Option<(u64, usize)> {
        let mut best: Option<(u64, usize)> = None;
        for (e, ready) in self.ready.iter().enumerate() {
            if let Some(t) = *ready {
                if best.is_none_or(|(b, _)| t < b) {
                    best = Some((t, e));
                }
            }
        }
        best
    }

    /// Start engine `e`'s next instruction at `start`; whether it touched a semaphore.
    fn step<X: Executor>(
        &mut self,
        e: usize,
        start: u64,
        exec: &mut X,
        tl: &mut Timeline,
    ) -> Result<bool, X::Error> {
        let Some(local) = self.head(e) else {
            return Ok(false);
        };
        let instr = &self.instrs[local];
        let i = self.base + local;
        let sync = match instr {
            Instr::Wait { sem, .. } => {
                if let Some(q) = self.tokens.get_mut(usize::from(*sem)) {
                    q.pop_front();
                }
                true
            }
            Instr::Signal { sem, .. } => match self.tokens.get_mut(usize::from(*sem)) {
                Some(q) => {
                    q.push_back(start);
                    true
                }
                None => {
                    return Err(ReplayError::Semaphore {
                        index: i,
                        sem: *sem,
                    }
                    .into())
                }
            },
            _ => false,
        };
        let cycles = exec.start(i, instr)?;
        let overflow = |what| ReplayError::Overflow {
            index: i,
            opcode: instr.opcode(),
            what,
        };
        let end = start
            .checked_add(cycles)
            .ok_or_else(|| overflow("simulated time"))?;
        let lane = &mut self.lanes[e];
        let blocked = start.saturating_sub(lane.clock);
        let stats = &mut tl.engines[e];
        stats.instructions += 1;
        stats.busy = stats
            .busy
            .checked_add(cycles)
            .ok_or_else(|| overflow("the cycle count"))?;
        stats.blocked = stats
            .blocked
            .checked_add(blocked)
            .ok_or_else(|| overflow("the cycle count"))?;
        if let Some(slots) = tl.slots.as_mut() {
            slots[i] = Slot {
                reached: lane.clock,
                start,
                cycles,
            };
        }
        if let Some(spans) = tl.spans.as_mut() {
            spans
                .add(i, (start, end, cycles))
                .ok_or_else(|| overflow("the cycle count"))?;
        }
        lane.clock = end;
        lane.next += 1;
        self.remaining -= 1;
        Ok(sync)
    }

    /// Describe every stuck engine.
    fn deadlock(&self) -> ReplayError {
        let mut parts = Vec::new();
        let mut first_wait: Option<usize> = None;
        for (e, &engine) in Engine::ALL.iter().enumerate() {
            let Some(local) = self.head(e) else { continue };
            let i = self.base + local;
            match &self.instrs[local] {
                Instr::Wait { sem, .. } => {
                    first_wait = Some(first_wait.map_or(i, |w| w.min(i)));
                    parts.push(format!(
                        "engine {engine} blocked at instr #{i} (WAIT sem={sem}) since cycle {}",
                        self.lanes[e].clock
                    ));
                }
                Instr::Halt {} => parts.push(format!(
                    "engine {engine} at instr #{i} (HALT) waiting for the other engines to drain"
                )),
                _ => parts.push(format!("engine {engine} stuck at instr #{i}")),
            }
        }
        ReplayError::Deadlock {
            instr: first_wait.map(|i| (i, self.instrs[i - self.base].opcode())),
            message: format!("deadlock: {}", parts.join("; ")),
        }
    }
}

/// The index of an engine in per-engine arrays (its binary code, 0..7).
pub fn engine_slot(e: Engine) -> usize {
    usize::from(e.code())
}
