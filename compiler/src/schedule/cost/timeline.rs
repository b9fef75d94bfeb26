//! Timing of an emitted instruction segment without data: what the `gathered` K/V placement
//! ([`super::gathered`]) and `--kv auto` price.
//!
//! The segment is replayed by the simulator's own event loop and count model
//! (`sofa_ir::hw::timing`: in-order engines, counting semaphores, [`ListModel`]'s distinct
//! keys for RASS lists and the GATHER/KVGEN/VEC.ROPE reading them), so a predicted figure is
//! the timing-only simulator's for that segment by construction. On top of the replay this
//! module only sorts the DRAM traffic into the cost model's tensor classes.

use std::collections::BTreeMap;

use sofa_ir::hw::timing::{replay, Executor, ListModel, ReplayError, ENGINES};
use sofa_ir::hw::{DynamicCounts, HwConfig};
use sofa_ir::isa::{Engine, Instr, Opcode};

use crate::schedule::{PerEngine, ScheduleError, Traffic};

/// What one timed segment did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timed {
    /// The latest engine clock.
    pub latency: u64,
    pub busy: PerEngine,
    pub instrs: BTreeMap<&'static str, u64>,
    /// DRAM traffic by class name (see [`time`]'s classifier).
    pub dram: BTreeMap<&'static str, Traffic>,
}

impl From<ReplayError> for ScheduleError {
    fn from(e: ReplayError) -> ScheduleError {
        ScheduleError::Replay(e)
    }
}

struct CostExec<'a> {
    hw: &'a HwConfig,
    model: ListModel,
    class_of: &'a dyn Fn(u64) -> &'static str,
    by_opcode: [u64; 256],
    // A handful of classes: a short list beats a map per transfer.
    traffic: Vec<(&'static str, Traffic)>,
}

impl Executor for CostExec<'_> {
    type Error = ScheduleError;

    fn start(&mut self, _: usize, instr: &Instr) -> Result<u64, ScheduleError> {
        let (counts, cycles) = self.model.cycles(self.hw, instr)?;
        self.by_opcode[usize::from(instr.opcode().code())] += 1;
        self.record_traffic(instr, &counts);
        Ok(cycles)
    }
}

impl CostExec<'_> {
    fn record_traffic(&mut self, ins: &Instr, counts: &DynamicCounts) {
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
        let class = (self.class_of)(addr);
        let i = match self.traffic.iter().position(|(c, _)| *c == class) {
            Some(i) => i,
            None => {
                self.traffic.push((class, Traffic::default()));
                self.traffic.len() - 1
            }
        };
        let t = &mut self.traffic[i].1;
        if write {
            t.written += bytes;
        } else {
            t.read += bytes;
        }
    }
}

/// Replay `instrs` (no `HALT` needed) on `hw`; `class_of(addr)` names the DRAM class a
/// transfer at `addr` belongs to. Errors: a cycle formula overflow, or a deadlock (a lowering
/// bug: the emitted segment never finishes).
pub fn time(
    hw: &HwConfig,
    instrs: &[Instr],
    class_of: &dyn Fn(u64) -> &'static str,
) -> Result<Timed, ScheduleError> {
    let mut ex = CostExec {
        hw,
        model: ListModel::default(),
        class_of,
        by_opcode: [0; 256],
        traffic: Vec::new(),
    };
    let tl = replay(instrs, hw.control.semaphores, &mut ex, false)?;
    let mut out = Timed {
        latency: tl.total_cycles,
        dram: ex.traffic.into_iter().collect(),
        ..Timed::default()
    };
    debug_assert_eq!(Engine::ALL.len(), ENGINES);
    for &engine in Engine::ALL {
        let b = tl.engines[usize::from(engine.code())].busy;
        if b > 0 {
            out.busy.insert(engine.name(), b);
        }
    }
    for &op in Opcode::ALL {
        let n = ex.by_opcode[usize::from(op.code())];
        if n > 0 {
            out.instrs.insert(op.mnemonic(), n);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let e = time(&hw, &stuck, &|_| "q").unwrap_err();
        assert!(e.to_string().contains("deadlock"), "{e}");
    }
}
