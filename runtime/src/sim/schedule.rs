//! The event loop: engines running their queues in simulated time, synchronised by semaphores.
//!
//! Each engine has the indices of its instructions in program order and a clock (the cycle at
//! which it is free). A step picks, among the engines whose next instruction can start, the one
//! that can start earliest (ties: lowest engine code, so runs are deterministic), starts it there
//! and advances that engine's clock by the instruction's cycles. Starts are therefore visited
//! in non-decreasing time, which is what lets functional execution happen "at the start".
//!
//! - `SIGNAL` puts a token stamped with its start time on its semaphore (the engine reached it,
//!   so all its earlier work is done); it then occupies its engine for its 1 cycle.
//! - `WAIT` can start once its semaphore has a token: at `max(engine clock, token time)`,
//!   consuming the earliest token; the difference is recorded as blocked cycles.
//! - `HALT` can start once every other instruction has started, at the latest engine clock
//!   (all engines drained). The run's total is HALT's end.
//!
//! If no engine can start and instructions remain, the program deadlocks; the error names
//! every blocked WAIT (index and semaphore) and a stuck HALT.

use std::collections::VecDeque;

use sofa_ir::isa::{Engine, Instr, Program};

use super::SimError;

/// Number of engines (`Engine::ALL.len()`).
pub(crate) const ENGINES: usize = 7;

/// Supplies the cycles of each instruction when the scheduler starts it (and may execute it).
pub(crate) trait Executor {
    /// Start instruction `index`; return its cycles.
    fn start(&mut self, index: usize) -> Result<u64, SimError>;
}

/// Per-engine totals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct EngineStats {
    pub instructions: u64,
    /// Cycles spent executing (sum of instruction cycles).
    pub busy: u64,
    /// Cycles stalled: WAITs before their semaphore had a token, HALT until all engines drained.
    pub blocked: u64,
}

/// When one instruction ran.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Slot {
    /// The cycle its engine reached it (`start - reached` = cycles blocked).
    pub reached: u64,
    pub start: u64,
    pub cycles: u64,
}

/// The result of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Timeline {
    pub total_cycles: u64,
    pub engines: [EngineStats; ENGINES],
    /// Per instruction (by index), when recording was requested.
    pub slots: Option<Vec<Slot>>,
}

/// One engine's position in its queue and its clock.
#[derive(Clone, Copy, Default)]
struct Lane {
    next: usize,
    clock: u64,
}

struct State<'p> {
    program: &'p Program,
    queues: [Vec<usize>; ENGINES],
    lanes: [Lane; ENGINES],
    /// [`State::can_start`] of each engine, kept current so a step scans no instructions.
    ready: [Option<u64>; ENGINES],
    /// Token times per semaphore, earliest first (tokens arrive in non-decreasing time).
    tokens: Vec<VecDeque<u64>>,
    /// Instructions not yet started.
    remaining: usize,
}

/// Run the whole program; `record` keeps a [`Slot`] per instruction.
pub(crate) fn run(
    program: &Program,
    semaphores: u32,
    exec: &mut impl Executor,
    record: bool,
) -> Result<Timeline, SimError> {
    let mut st = State::new(program, semaphores)?;
    let mut tl = Timeline {
        slots: record.then(|| vec![Slot::default(); program.instrs.len()]),
        ..Timeline::default()
    };
    st.refresh_all();
    while st.remaining > 0 {
        let Some((start, e)) = st.earliest() else {
            return Err(st.deadlock());
        };
        let sync = st.step(e, start, exec, &mut tl)?;
        // A semaphore changed (or only HALT is left): any engine's readiness may have changed.
        if sync || st.remaining == 1 {
            st.refresh_all();
        } else {
            st.ready[e] = st.can_start(e);
        }
    }
    tl.total_cycles = st.lanes.iter().map(|l| l.clock).max().unwrap_or(0);
    Ok(tl)
}

impl<'p> State<'p> {
    fn new(program: &'p Program, semaphores: u32) -> Result<State<'p>, SimError> {
        let mut sizes = [0usize; ENGINES];
        for instr in &program.instrs {
            sizes[engine_slot(instr.engine())] += 1;
        }
        let mut queues: [Vec<usize>; ENGINES] = sizes.map(Vec::with_capacity);
        for (i, instr) in program.instrs.iter().enumerate() {
            queues[engine_slot(instr.engine())].push(i);
        }
        // Ids are 16-bit: a larger (unvalidated) count never needs more queues.
        let sems = usize::try_from(semaphores.min(1 << 16))
            .map_err(|_| SimError::general("control.semaphores does not fit in memory"))?;
        Ok(State {
            program,
            queues,
            lanes: [Lane::default(); ENGINES],
            ready: [None; ENGINES],
            tokens: vec![VecDeque::new(); sems],
            remaining: program.instrs.len(),
        })
    }

    fn head(&self, e: usize) -> Option<usize> {
        self.queues[e].get(self.lanes[e].next).copied()
    }

    /// When engine `e`'s next instruction could start now, if it can.
    fn can_start(&self, e: usize) -> Option<u64> {
        let i = self.head(e)?;
        let clock = self.lanes[e].clock;
        match &self.program.instrs[i] {
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
    fn step(
        &mut self,
        e: usize,
        start: u64,
        exec: &mut impl Executor,
        tl: &mut Timeline,
    ) -> Result<bool, SimError> {
        let Some(i) = self.head(e) else {
            return Ok(false);
        };
        let instr = &self.program.instrs[i];
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
                None => return Err(SimError::at(i, instr, "semaphore out of range")),
            },
            _ => false,
        };
        let cycles = exec.start(i)?;
        let end = start
            .checked_add(cycles)
            .ok_or_else(|| SimError::at(i, instr, "simulated time overflows 64 bits"))?;
        let lane = &mut self.lanes[e];
        let blocked = start.saturating_sub(lane.clock);
        let stats = &mut tl.engines[e];
        stats.instructions += 1;
        stats.busy = add(stats.busy, cycles, i, instr)?;
        stats.blocked = add(stats.blocked, blocked, i, instr)?;
        if let Some(slots) = tl.slots.as_mut() {
            slots[i] = Slot {
                reached: lane.clock,
                start,
                cycles,
            };
        }
        lane.clock = end;
        lane.next += 1;
        self.remaining -= 1;
        Ok(sync)
    }

    /// Describe every stuck engine.
    fn deadlock(&self) -> SimError {
        let mut parts = Vec::new();
        let mut first_wait: Option<usize> = None;
        for (e, &engine) in Engine::ALL.iter().enumerate() {
            let Some(i) = self.head(e) else { continue };
            match &self.program.instrs[i] {
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
        let message = format!("deadlock: {}", parts.join("; "));
        match first_wait {
            Some(i) => SimError::at(i, &self.program.instrs[i], message),
            None => SimError::general(message),
        }
    }
}

/// The index of an engine in per-engine arrays (its binary code, 0..7).
pub(crate) fn engine_slot(e: Engine) -> usize {
    usize::from(e.code())
}

fn add(a: u64, b: u64, i: usize, instr: &Instr) -> Result<u64, SimError> {
    a.checked_add(b)
        .ok_or_else(|| SimError::at(i, instr, "cycle count overflows 64 bits"))
}
