//! One op segment: an SRAM allocator that starts empty, and the semaphore hand-offs between
//! engines.
//!
//! Every segment follows the program convention (lower-contract): DMA loads, `SIGNAL dma` →
//! `WAIT <engine>`, compute, `SIGNAL <engine>` → `WAIT dma`, DMA stores; so all semaphores are
//! back at 0 and all SRAM is free when it ends. Within a segment the steps may overlap (a
//! product's DMA loads the next step while the PE array works, `super::product`): the
//! semaphores count, so every signal is still matched by one wait of its engine. Hand-offs use the segment-boundary semaphores
//! of the attention segments ([`super::super::sync`]): `go[E]` when `E` is the consumer,
//! `done` when DMA is. Each of them is only ever waited on by one engine, so an engine that is
//! idle in one segment and runs ahead to the first `WAIT` of the next can never take a signal
//! meant for another engine, and steps chained `dma → E₁ → … → dma` signal in program order.

use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{Engine, Instr, SramRef, SramSpace};

use crate::lower::sync::{done_sem, go_sem, RESERVED};
use crate::lower::ResourceError;

/// Alignment of every SRAM buffer.
pub const ALIGN: u64 = 64;

/// Semaphores the model lowering needs: the reserved segment-boundary ones.
pub const SEMS_NEEDED: u32 = RESERVED;

/// The semaphore `consumer` waits on.
pub fn sem_for(hw: &HwConfig, consumer: Engine) -> u16 {
    let limit = hw.control.semaphores;
    let sem = match consumer {
        Engine::Dma => done_sem(limit),
        other => go_sem(limit, other),
    };
    sem.unwrap_or(0)
}

/// Allocation state to return to (see [`Seg::mark`]).
#[derive(Copy, Clone, Debug)]
pub struct Mark([u64; 3]);

/// Instruction sink plus a bump allocator over the three SRAMs.
pub struct Seg<'a> {
    hw: &'a HwConfig,
    pub out: &'a mut Vec<Instr>,
    next: [u64; 3],
}

impl<'a> Seg<'a> {
    pub fn new(hw: &'a HwConfig, out: &'a mut Vec<Instr>) -> Seg<'a> {
        Seg {
            hw,
            out,
            next: [0; 3],
        }
    }

    /// `bytes` in `space`, aligned; `Err` when the space is full.
    pub fn alloc(&mut self, space: SramSpace, bytes: u64) -> Result<SramRef, ResourceError> {
        let k = usize::from(space.code());
        let at = self.next[k];
        let end = at + bytes.max(1).next_multiple_of(ALIGN);
        let cap = self.hw.sram_capacity(space);
        if end > cap {
            return Err(ResourceError::SramFull {
                bytes,
                space: space.name(),
                used: at,
                capacity: cap,
            });
        }
        self.next[k] = end;
        let offset = u32::try_from(at).map_err(|_| ResourceError::SramOffset(at))?;
        Ok(SramRef::new(space, offset))
    }

    pub fn mark(&self) -> Mark {
        Mark(self.next)
    }

    /// Free everything allocated since `m` (only after the engines using it are done, i.e.
    /// after the hand-off back to DMA).
    pub fn release(&mut self, m: Mark) {
        self.next = m.0;
    }

    /// `from` finished its work for this step; `to` may start.
    pub fn handoff(&mut self, from: Engine, to: Engine) {
        if from == to {
            return;
        }
        self.signal(from, to);
        self.wait(to);
    }

    /// `from` tells `to` (on the semaphore only `to` waits on) that a step is ready.
    pub fn signal(&mut self, from: Engine, to: Engine) {
        let sem = sem_for(self.hw, to);
        self.out.push(Instr::Signal { engine: from, sem });
    }

    /// `engine` waits for the next step signalled to it.
    pub fn wait(&mut self, engine: Engine) {
        let sem = sem_for(self.hw, engine);
        self.out.push(Instr::Wait { engine, sem });
    }

    pub fn push(&mut self, i: Instr) {
        self.out.push(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_aligns_fails_when_full_and_releases() {
        let hw = HwConfig::default();
        let mut out = Vec::new();
        let mut s = Seg::new(&hw, &mut out);
        assert_eq!(s.alloc(SramSpace::Temp, 10).unwrap(), SramRef::temp(0));
        let m = s.mark();
        assert_eq!(s.alloc(SramSpace::Temp, 100).unwrap(), SramRef::temp(64));
        assert!(s.alloc(SramSpace::Temp, hw.sram.temp_bytes).is_err());
        s.release(m);
        assert_eq!(s.alloc(SramSpace::Temp, 1).unwrap(), SramRef::temp(64));
        s.handoff(Engine::Dma, Engine::Vec);
        let sem = sem_for(&hw, Engine::Vec);
        assert_eq!(sem, 32 - 7 + 5 - 1);
        assert_eq!(sem_for(&hw, Engine::Dma), 31);
        assert_eq!(
            out,
            vec![
                Instr::Signal {
                    engine: Engine::Dma,
                    sem
                },
                Instr::Wait {
                    engine: Engine::Vec,
                    sem
                }
            ]
        );
    }
}
