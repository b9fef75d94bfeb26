//! Timing of an emitted instruction segment under the simulator's execution rules, without
//! data: what the `gathered` K/V placement ([`super::gathered`]) prices.
//!
//! The rules are those of the SOFA execution model (`isa.md`, "Execution model") that the
//! simulator implements: every engine runs its own instructions in program order, one at a
//! time, each for [`Instr::cycles_with`]; `SIGNAL` puts a token stamped with its start time on
//! its semaphore; the k-th `WAIT` on a semaphore starts at `max(engine clock, k-th token)`.
//! The lowering gives every semaphore one signalling and one waiting engine, so those start
//! times follow from program order alone, whatever order the engines are advanced in here.
//! Latency is the latest engine clock: busy cycles plus every dependency stall.
//!
//! Data-dependent counts follow the simulator's timing-only model: a `RASS` with reuse issues
//! [`expected_distinct`] keys, and a `GATHER` reading its order list moves that many rows
//! (capped at its `max_rows`); everything else uses the static bounds.

use std::collections::{BTreeMap, VecDeque};

use sofa_ir::hw::{DynamicCounts, HwConfig};
use sofa_ir::isa::{Engine, Instr, Opcode, SramRef};

use crate::schedule::{PerEngine, ScheduleError, Traffic};

/// Expected number of distinct keys when `rows` queries each pick `sel` of `n` keys uniformly
/// and independently: `n·(1 − (1 − sel/n)^rows)`, rounded, capped at `min(n, rows·sel)`.
///
/// A copy of `sofa_runtime::sim::timing_model::expected_distinct` (the compiler does not
/// depend on the runtime): the cost model must count the rows the simulator's timing-only
/// mode will gather, and it uses only IEEE multiplications, so both agree bit for bit.
pub fn expected_distinct(n: u64, sel: u64, rows: u64) -> u64 {
    let cap = n.min(rows.saturating_mul(sel));
    if n == 0 || sel == 0 || rows == 0 {
        return 0;
    }
    if sel >= n {
        return cap;
    }
    let miss = 1.0 - sel as f64 / n as f64;
    let (mut acc, mut b, mut exp) = (1.0_f64, miss, rows);
    while exp > 0 {
        if exp & 1 == 1 {
            acc *= b;
        }
        b *= b;
        exp >>= 1;
    }
    let expected = n as f64 * (1.0 - acc);
    (expected.round() as u64).min(cap)
}

/// What one timed segment did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timed {
    /// The latest engine clock.
    pub latency: u64,
    pub busy: PerEngine,
    pub instrs: BTreeMap<&'static str, u64>,
    /// DRAM traffic by class name (see [`Timed::dram`]'s classifier in [`time`]).
    pub dram: BTreeMap<&'static str, Traffic>,
}

/// Engine lanes, indexed by engine code.
const ENGINES: usize = 7;

fn lane(e: Engine) -> usize {
    usize::from(e.code()).min(ENGINES - 1)
}

/// Run `instrs` (no `HALT` needed) on `hw`; `class_of(addr)` names the DRAM class a transfer
/// at `addr` belongs to. Errors: a cycle formula overflow, or a `WAIT` whose token never comes
/// (a lowering bug: the emitted segment deadlocks).
pub fn time(
    hw: &HwConfig,
    instrs: &[Instr],
    class_of: &dyn Fn(u64) -> &'static str,
) -> Result<Timed, ScheduleError> {
    let mut queues: [Vec<usize>; ENGINES] = Default::default();
    for (i, ins) in instrs.iter().enumerate() {
        if !matches!(ins, Instr::Halt {}) {
            queues[lane(ins.engine())].push(i);
        }
    }
    let mut next = [0usize; ENGINES];
    let mut clock = [0u64; ENGINES];
    let mut busy = [0u64; ENGINES];
    let mut by_opcode = [0u64; 256];
    let mut tokens: Vec<VecDeque<u64>> = Vec::new();
    let mut lists: Vec<(SramRef, u64)> = Vec::new();
    // A handful of classes: a short list beats a map per transfer.
    let mut traffic: Vec<(&'static str, Traffic)> = Vec::new();
    let mut out = Timed::default();
    loop {
        let mut moved = false;
        for e in 0..ENGINES {
            while let Some(&i) = queues[e].get(next[e]) {
                let ins = &instrs[i];
                let start = match ins {
                    Instr::Wait { sem, .. } => {
                        match tokens
                            .get_mut(usize::from(*sem))
                            .and_then(|q| q.pop_front())
                        {
                            Some(t) => clock[e].max(t),
                            None => break,
                        }
                    }
                    Instr::Signal { sem, .. } => {
                        let s = usize::from(*sem);
                        if tokens.len() <= s {
                            tokens.resize_with(s + 1, VecDeque::new);
                        }
                        tokens[s].push_back(clock[e]);
                        clock[e]
                    }
                    _ => clock[e],
                };
                let counts = counts(ins, &mut lists);
                let cycles = ins.cycles_with(hw, &counts)?;
                clock[e] = start.saturating_add(cycles);
                busy[e] = busy[e].saturating_add(cycles);
                by_opcode[usize::from(ins.opcode().code())] += 1;
                record_traffic(&mut traffic, ins, &counts, class_of);
                next[e] += 1;
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    if (0..ENGINES).any(|e| next[e] < queues[e].len()) {
        return Err(ScheduleError::BadOption(
            "the emitted segment deadlocks under the timing replay".into(),
        ));
    }
    out.latency = clock.into_iter().max().unwrap_or(0);
    out.dram = traffic.into_iter().collect();
    for &engine in Engine::ALL {
        let b = busy[lane(engine)];
        if b > 0 {
            out.busy.insert(engine.name(), b);
        }
    }
    for &op in Opcode::ALL {
        let n = by_opcode[usize::from(op.code())];
        if n > 0 {
            out.instrs.insert(op.mnemonic(), n);
        }
    }
    Ok(out)
}

/// The timing-only model's counts of `ins` (see the module doc); records RASS lists.
fn counts(ins: &Instr, lists: &mut Vec<(SramRef, u64)>) -> DynamicCounts {
    let rows = match ins {
        Instr::Rass {
            order,
            rows,
            sel,
            n,
            reuse,
            ..
        } => {
            let (rows, sel) = (u64::from(*rows), u64::from(*sel));
            let count = if *reuse {
                expected_distinct(u64::from(*n), sel, rows)
            } else {
                rows.saturating_mul(sel)
            };
            // The lowering's order rings hold a couple of lists: a short scan is fastest.
            match lists.iter_mut().find(|(at, _)| at == order) {
                Some(l) => l.1 = count,
                None => lists.push((*order, count)),
            }
            Some(count)
        }
        Instr::Gather { idx, max_rows, .. } => lists
            .iter()
            .find(|(at, _)| at == idx)
            .map(|&(_, c)| c.min(u64::from(*max_rows))),
        _ => None,
    };
    DynamicCounts { rows, rescales: 0 }
}

fn record_traffic(
    traffic: &mut Vec<(&'static str, Traffic)>,
    ins: &Instr,
    counts: &DynamicCounts,
    class_of: &dyn Fn(u64) -> &'static str,
) {
    let (addr, bytes, write) = match ins {
        Instr::Ld {
            src,
            rows,
            row_bytes,
            ..
        } => (src.0, u64::from(*rows) * u64::from(*row_bytes), false),
        Instr::St {
            dst,
            rows,
            row_bytes,
            ..
        } => (dst.0, u64::from(*rows) * u64::from(*row_bytes), true),
        Instr::Gather {
            src,
            max_rows,
            row_bytes,
            ..
        } => {
            let rows = counts.rows.unwrap_or(u64::from(*max_rows));
            (src.0, rows * u64::from(*row_bytes), false)
        }
        _ => return,
    };
    let class = class_of(addr);
    let i = match traffic.iter().position(|(c, _)| *c == class) {
        Some(i) => i,
        None => {
            traffic.push((class, Traffic::default()));
            traffic.len() - 1
        }
    };
    let t = &mut traffic[i].1;
    if write {
        t.written += bytes;
    } else {
        t.read += bytes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_distinct_matches_the_closed_form() {
        // 64·(1 − 0.75²) = 28; one query: sel; many queries saturate at n; sel = n: all.
        assert_eq!(expected_distinct(64, 16, 2), 28);
        assert_eq!(expected_distinct(64, 16, 1), 16);
        assert_eq!(expected_distinct(32, 8, 128), 32);
        assert_eq!(expected_distinct(32, 32, 3), 32);
        // 32·(1 − 0.75⁴) = 21.875 → 22.
        assert_eq!(expected_distinct(32, 8, 4), 22);
        assert_eq!(expected_distinct(0, 0, 5), 0);
    }

    #[test]
    fn waits_stall_until_the_matching_signal() {
        use sofa_ir::isa::{DramAddr, SramRef};
        let hw = HwConfig::default();
        let ld = Instr::Ld {
            dst: SramRef::temp(0),
            src: DramAddr(0),
            rows: 1,
            row_bytes: 512,
            stride: 512,
        };
        // DMA: LD (1 + 100 cycles), SIGNAL at 101; SADS's WAIT starts at 101 for 1 cycle.
        let prog = [
            ld,
            Instr::Signal {
                engine: Engine::Dma,
                sem: 0,
            },
            Instr::Wait {
                engine: Engine::Sads,
                sem: 0,
            },
        ];
        let t = time(&hw, &prog, &|_| "q").unwrap();
        assert_eq!(t.latency, 102);
        assert_eq!(t.busy["dma"], 102);
        assert_eq!(t.dram["q"].read, 512);
        let stuck = [Instr::Wait {
            engine: Engine::Sads,
            sem: 1,
        }];
        assert!(time(&hw, &stuck, &|_| "q").is_err());
    }
}
