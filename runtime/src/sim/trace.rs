//! Chrome trace-event JSON of a run (opens in Perfetto and `chrome://tracing`).
//!
//! One process; one track (`tid` = engine code, named by `thread_name` metadata) per engine that
//! executed something; one complete event (`"ph": "X"`) per instruction, named by its mnemonic,
//! with `ts`/`dur` in microseconds of `clock.freq_mhz`. A WAIT (or HALT) slice starts when its
//! engine reached it, so the stall is visible; `args` carries the instruction index, its
//! assembly text, its cycles and the cycles blocked.

use serde::Serialize;
use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{print_instr, Engine, Program};

use sofa_ir::hw::timing::{engine_slot, Slot, ENGINES};

/// The process id of every event.
const PID: u32 = 1;

#[derive(Serialize)]
struct Meta<'a, A: Serialize> {
    name: &'a str,
    ph: &'a str,
    pid: u32,
    tid: u32,
    args: A,
}

#[derive(Serialize)]
struct NameArgs<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct SortArgs {
    sort_index: u32,
}

#[derive(Serialize)]
struct Complete<'a> {
    name: &'a str,
    cat: &'a str,
    ph: &'a str,
    pid: u32,
    tid: u32,
    ts: f64,
    dur: f64,
    args: SliceArgs,
}

#[derive(Serialize)]
struct SliceArgs {
    instr: usize,
    asm: String,
    cycles: u64,
    blocked_cycles: u64,
}

/// The trace of a run whose per-instruction `slots` were recorded.
pub(crate) fn chrome_trace(program: &Program, hw: &HwConfig, slots: &[Slot]) -> String {
    let us = |cycles: u64| {
        if hw.clock.freq_mhz == 0 {
            0.0
        } else {
            cycles as f64 / hw.clock.freq_mhz as f64
        }
    };
    let mut events: Vec<String> = Vec::with_capacity(program.instrs.len() + 2 * ENGINES + 1);
    push(
        &mut events,
        &Meta {
            name: "process_name",
            ph: "M",
            pid: PID,
            tid: 0,
            args: NameArgs {
                name: &format!("sofa ({})", hw.name),
            },
        },
    );
    let mut used = [false; ENGINES];
    for instr in &program.instrs {
        used[engine_slot(instr.engine())] = true;
    }
    for &e in Engine::ALL.iter().filter(|&&e| used[engine_slot(e)]) {
        let tid = u32::from(e.code());
        let name = Meta {
            name: "thread_name",
            ph: "M",
            pid: PID,
            tid,
            args: NameArgs { name: e.name() },
        };
        push(&mut events, &name);
        let sort = Meta {
            name: "thread_sort_index",
            ph: "M",
            pid: PID,
            tid,
            args: SortArgs { sort_index: tid },
        };
        push(&mut events, &sort);
    }
    for (i, (instr, slot)) in program.instrs.iter().zip(slots).enumerate() {
        let engine = instr.engine();
        let end = slot.start.saturating_add(slot.cycles);
        let ev = Complete {
            name: instr.opcode().mnemonic(),
            cat: engine.name(),
            ph: "X",
            pid: PID,
            tid: u32::from(engine.code()),
            ts: us(slot.reached),
            dur: us(end.saturating_sub(slot.reached)),
            args: SliceArgs {
                instr: i,
                asm: print_instr(instr, &program.tensors),
                cycles: slot.cycles,
                blocked_cycles: slot.start.saturating_sub(slot.reached),
            },
        };
        push(&mut events, &ev);
    }
    format!(
        "{{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n{}\n]}}\n",
        events.join(",\n")
    )
}

/// Serialise one event; these plain structs always serialise (non-finite floats become null).
fn push(events: &mut Vec<String>, ev: &impl Serialize) {
    if let Ok(s) = serde_json::to_string(ev) {
        events.push(s);
    }
}
