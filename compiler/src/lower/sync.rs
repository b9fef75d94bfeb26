//! Semaphores between engines: named producer → consumer channels over counting semaphores,
//! and the segment protocol that lets segments reuse them.
//!
//! A channel carries "buffer full" events from its producer engine to its consumer engine and,
//! when it guards a ring of buffers, "buffer free" credits back. Every semaphore has exactly
//! one signalling and one waiting engine, so the k-th WAIT is satisfied by the k-th SIGNAL. The
//! emitter writes instructions in an order that is itself a valid sequential execution, which
//! makes the in-order per-engine replay ([`replay`]) deadlock-free; a test checks it.
//!
//! A ring read by an engine further down the dataflow than its consumer returns its credits
//! from that engine instead ([`Sems::credits_from`]): with a score bias, SU-FA's `SUFA.BIAS`
//! reads the op's mask tile (consumed by VEC) and SADS's indices (consumed by RASS), so SU-FA
//! frees both. It needs no "full" event of its own: it reaches `SUFA.BIAS` only after taking
//! the tile's RASS slots, which follow the SADS that followed the VEC that took the mask.
//!
//! **Segments.** A program is a sequence of segments (one per model op); the only ordering
//! between segments is DMA's program order. Engines run ahead into the next segment as soon as
//! their own queue allows, so a segment's early `SIGNAL` (a credit priming) or `WAIT` on a
//! semaphore the previous segment still uses would corrupt or steal its count. Hence the
//! protocol, on the [`RESERVED`] semaphores at the top of `control.semaphores`:
//! - [`segment_begin`]: DMA `SIGNAL go[E]` for every other engine E the segment uses, and E's
//!   first instruction is `WAIT go[E]` (only E waits on `go[E]`, so nothing can steal it, and
//!   DMA gets there only after the previous segment's final `ST`);
//! - credits are primed after that, and drained at the end (the producer waits its ring back),
//!   so every channel semaphore is 0 when the segment ends;
//! - [`segment_end`]: every engine E ≠ DMA `SIGNAL done` as its last instruction, DMA `WAIT`s
//!   `done` once per such engine, then issues the segment's final `ST`: when that ST runs,
//!   nothing of the segment is pending anywhere.

use std::collections::{BTreeMap, BTreeSet};

use sofa_ir::isa::{Engine, Instr, Program};

/// Semaphores reserved for the segment protocol: `go` for the six engines other than DMA,
/// then `done`, the last seven ids below `control.semaphores`.
pub const RESERVED: u32 = 7;

/// The `go` semaphore of engine `e` (`None` for DMA, which starts segments) under
/// `control.semaphores = limit` (at least [`RESERVED`]).
pub fn go_sem(limit: u32, e: Engine) -> Option<u16> {
    let code = u32::from(e.code());
    (code != 0)
        .then(|| u16::try_from(limit.checked_sub(RESERVED)? + code - 1).ok())
        .flatten()
}

/// The `done` semaphore under `control.semaphores = limit`.
pub fn done_sem(limit: u32) -> Option<u16> {
    u16::try_from(limit.checked_sub(1)?).ok()
}

/// Opens a segment using `engines` (see the module docs); DMA needs no `go`.
pub fn segment_begin(limit: u32, engines: &BTreeSet<Engine>, out: &mut Vec<Instr>) {
    let others: Vec<(Engine, u16)> = engines
        .iter()
        .filter_map(|&e| go_sem(limit, e).map(|s| (e, s)))
        .collect();
    for &(_, sem) in &others {
        out.push(Instr::Signal {
            engine: Engine::Dma,
            sem,
        });
    }
    for &(engine, sem) in &others {
        out.push(Instr::Wait { engine, sem });
    }
}

/// Closes a segment: every engine of `engines` but DMA signals `done`, DMA waits for all of
/// them. The caller emits the segment's final `ST` right after.
pub fn segment_end(limit: u32, engines: &BTreeSet<Engine>, out: &mut Vec<Instr>) {
    let Some(sem) = done_sem(limit) else { return };
    let others: Vec<Engine> = engines
        .iter()
        .copied()
        .filter(|&e| e != Engine::Dma)
        .collect();
    for &engine in &others {
        out.push(Instr::Signal { engine, sem });
    }
    for _ in &others {
        out.push(Instr::Wait {
            engine: Engine::Dma,
            sem,
        });
    }
}

/// The channels of the attention dataflow, in semaphore-numbering order.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Chan {
    /// Raw Q block: dma → vec (scaling).
    QRaw,
    /// Scaled Q for prediction: vec → dlzs.
    QDlzs,
    /// Scaled Q for formal compute: vec → sufa.
    QSufa,
    /// K̂ tile (or whole visible K̂ row when staged): dma → dlzs.
    KHat,
    /// Dense K/V tile and its slot table: dma → sufa.
    DenseKv,
    /// Predicted scores Â of a tile: dlzs → sads (credits back from sads).
    AHat,
    /// Â that needs a mask: dlzs → vec (event only).
    AMask,
    /// Masked Â: vec → sads (event only).
    AMasked,
    /// Mask tiles (causal table and/or the op's mask): dma → vec.
    Mask,
    /// Dense with a mask: the tile's combined mask for SADS: vec → sads.
    DenseSel,
    /// Dense with a mask: SADS's slot list of the tile: sads → sufa.
    DenseIdx,
    /// SADS indices: sads → ctrl.
    Idx,
    /// RASS issue order: ctrl → dma.
    Order,
    /// RASS slots: ctrl → sufa.
    Slot,
    /// Gathered K/V rows: dma → sufa.
    Kv,
    /// Output block: sufa → dma.
    Out,
    /// Staged: Â ready for the DRAM spill: dlzs → dma.
    SpillA,
    /// Staged: masked Â ready for the spill: vec → dma.
    SpillAMasked,
    /// Staged: Â reloaded from DRAM: dma → sads.
    Reload,
    /// Staged: scores/partials ready for the DRAM round trip: sufa → dma.
    SpillP,
    /// Staged: partials reloaded: dma → sufa.
    ReloadP,
    /// On-demand K/V: the listed X rows (and the bias copies) are in place: dma → kvpe.
    KvX,
    /// On-demand K/V: KVGEN wrote the K and V rows: kvpe → sufa.
    KvDone,
}

impl Chan {
    /// (producer, consumer, carries free credits when its ring depth is > 0).
    pub fn route(self) -> (Engine, Engine, bool) {
        use Engine::*;
        match self {
            Chan::QRaw => (Dma, Vec, true),
            Chan::QDlzs => (Vec, Dlzs, true),
            Chan::QSufa => (Vec, Sufa, true),
            Chan::KHat => (Dma, Dlzs, true),
            Chan::DenseKv => (Dma, Sufa, true),
            Chan::AHat => (Dlzs, Sads, true),
            Chan::AMask => (Dlzs, Vec, false),
            Chan::AMasked => (Vec, Sads, false),
            Chan::Mask => (Dma, Vec, true),
            Chan::DenseSel => (Vec, Sads, true),
            Chan::DenseIdx => (Sads, Sufa, true),
            Chan::Idx => (Sads, Ctrl, true),
            Chan::Order => (Ctrl, Dma, true),
            Chan::Slot => (Ctrl, Sufa, true),
            Chan::Kv => (Dma, Sufa, true),
            Chan::Out => (Sufa, Dma, true),
            Chan::SpillA => (Dlzs, Dma, false),
            Chan::SpillAMasked => (Vec, Dma, false),
            Chan::Reload => (Dma, Sads, false),
            Chan::SpillP => (Sufa, Dma, false),
            Chan::ReloadP => (Dma, Sufa, false),
            Chan::KvX => (Dma, Kvpe, false),
            Chan::KvDone => (Kvpe, Sufa, false),
        }
    }
}

/// Semaphore ids of the channels in use, and the ring depth each free-credit channel is primed
/// with.
#[derive(Clone, Debug, Default)]
pub struct Sems {
    ids: BTreeMap<Chan, (u16, Option<u16>)>,
    depth: BTreeMap<Chan, u32>,
    /// The engine that predicts in place of DLZS (the dlzs ablation: the PE array).
    predictor: Option<Engine>,
    /// Channels whose free credits an engine other than the consumer returns.
    returner: BTreeMap<Chan, Engine>,
}

impl Sems {
    /// Number `chans` (channel → ring depth; depth 0 = event only, no credits) in [`Chan`]
    /// order; `None` when more than `limit` semaphores are needed.
    pub fn assign(chans: &BTreeMap<Chan, u32>, limit: u32) -> Option<Sems> {
        let mut s = Sems::default();
        let mut next: u32 = 0;
        for (&c, &depth) in chans {
            let full = next;
            next += 1;
            let free = if c.route().2 && depth > 0 {
                next += 1;
                Some(u16::try_from(next - 1).ok()?)
            } else {
                None
            };
            s.ids.insert(c, (u16::try_from(full).ok()?, free));
            s.depth.insert(c, depth);
        }
        (next <= limit).then_some(s)
    }

    /// Route the prediction channels' DLZS end to engine `e` instead (the dlzs ablation
    /// predicts with `GEMM` on the KVPE array).
    pub fn predict_on(&mut self, e: Engine) {
        self.predictor = Some(e);
    }

    /// Channel `c`'s free credits are returned by engine `e` (a later reader of its buffers)
    /// instead of its consumer: priming and [`Sems::release`] signal on `e`.
    pub fn credits_from(&mut self, c: Chan, e: Engine) {
        self.returner.insert(c, e);
    }

    /// The engine that returns `c`'s free credits.
    pub fn credits_returned_by(&self, c: Chan) -> Engine {
        self.returner
            .get(&c)
            .copied()
            .unwrap_or_else(|| self.route(c).1)
    }

    /// [`Chan::route`] with DLZS replaced by the predicting engine.
    fn route(&self, c: Chan) -> (Engine, Engine, bool) {
        let (p, q, credits) = c.route();
        let swap = |e: Engine| match self.predictor {
            Some(x) if e == Engine::Dlzs => x,
            _ => e,
        };
        (swap(p), swap(q), credits)
    }

    /// The ring depth `c` was assigned (0: an event, or not in use).
    pub fn depth(&self, c: Chan) -> u32 {
        self.depth.get(&c).copied().unwrap_or(0)
    }

    /// How many semaphores are used.
    pub fn count(&self) -> usize {
        self.ids
            .values()
            .map(|(_, f)| 1 + usize::from(f.is_some()))
            .sum()
    }

    /// Every engine that produces or consumes on one of the channels.
    pub fn engines(&self) -> BTreeSet<Engine> {
        self.ids
            .keys()
            .flat_map(|&c| {
                let (p, q, _) = self.route(c);
                [p, q, self.credits_returned_by(c)]
            })
            .collect()
    }

    fn id(&self, c: Chan) -> (u16, Option<u16>) {
        // Channels are registered before emission; an unregistered one is a lowering bug that
        // would surface as an unbalanced semaphore in the tests' replay, so fall back to 0.
        self.ids.get(&c).copied().unwrap_or((0, None))
    }

    /// The priming credits: each consumer (or credit returner) frees its whole ring once.
    pub fn prime(&self, out: &mut Vec<Instr>) {
        for (&c, &(_, free)) in &self.ids {
            if let Some(sem) = free {
                for _ in 0..self.depth[&c] {
                    out.push(Instr::Signal {
                        engine: self.credits_returned_by(c),
                        sem,
                    });
                }
            }
        }
    }

    /// The end of the segment: each producer takes its whole ring back, so the free
    /// semaphores return to 0. `held` are channels whose last item is never released (the
    /// final `ST` must be DMA's last instruction), so one credit fewer of each returns.
    pub fn drain(&self, held: &[Chan], out: &mut Vec<Instr>) {
        for (&c, &(_, free)) in &self.ids {
            if let Some(sem) = free {
                let back = self.depth[&c] - u32::from(held.contains(&c));
                for _ in 0..back {
                    out.push(Instr::Wait {
                        engine: self.route(c).0,
                        sem,
                    });
                }
            }
        }
    }

    /// Producer: wait for a free buffer of the ring.
    pub fn acquire(&self, c: Chan, out: &mut Vec<Instr>) {
        if let (_, Some(sem)) = self.id(c) {
            out.push(Instr::Wait {
                engine: self.route(c).0,
                sem,
            });
        }
    }

    /// Producer: the buffer is full.
    pub fn publish(&self, c: Chan, out: &mut Vec<Instr>) {
        out.push(Instr::Signal {
            engine: self.route(c).0,
            sem: self.id(c).0,
        });
    }

    /// Consumer: wait until the buffer is full.
    pub fn take(&self, c: Chan, out: &mut Vec<Instr>) {
        out.push(Instr::Wait {
            engine: self.route(c).1,
            sem: self.id(c).0,
        });
    }

    /// Consumer (or the engine [`Sems::credits_from`] names): done reading; the producer may
    /// overwrite.
    pub fn release(&self, c: Chan, out: &mut Vec<Instr>) {
        if let (_, Some(sem)) = self.id(c) {
            out.push(Instr::Signal {
                engine: self.credits_returned_by(c),
                sem,
            });
        }
    }
}

/// Replays `p` with one in-order queue per engine and counting semaphores, running any engine
/// whose head can proceed; `HALT` runs once every other queue is empty. Returns the index of a
/// stuck instruction per blocked engine when no engine can move (a deadlock).
pub fn replay(p: &Program) -> Result<(), Vec<usize>> {
    replay_final(p).map(|_| ())
}

/// [`replay`], returning the semaphore counts once every engine has drained (a segment that
/// balances its semaphores leaves them all 0).
pub fn replay_final(p: &Program) -> Result<BTreeMap<u16, u64>, Vec<usize>> {
    let mut queues: BTreeMap<Engine, Vec<usize>> = BTreeMap::new();
    let mut halt = None;
    for (i, instr) in p.instrs.iter().enumerate() {
        match instr {
            Instr::Halt {} => halt = Some(i),
            _ => queues.entry(instr.engine()).or_default().push(i),
        }
    }
    let mut heads: BTreeMap<Engine, usize> = queues.keys().map(|&e| (e, 0)).collect();
    let mut sems: BTreeMap<u16, u64> = BTreeMap::new();
    loop {
        let mut moved = false;
        for (e, q) in &queues {
            let mut at = heads[e];
            while let Some(&i) = q.get(at) {
                match p.instrs[i] {
                    Instr::Wait { sem, .. } => {
                        let c = sems.entry(sem).or_default();
                        if *c == 0 {
                            break;
                        }
                        *c -= 1;
                    }
                    Instr::Signal { sem, .. } => *sems.entry(sem).or_default() += 1,
                    _ => {}
                }
                at += 1;
                moved = true;
            }
            heads.insert(*e, at);
        }
        let stuck: Vec<usize> = queues
            .iter()
            .filter_map(|(e, q)| q.get(heads[e]).copied())
            .collect();
        if stuck.is_empty() {
            return if halt.is_some() {
                Ok(sems)
            } else {
                Err(vec![])
            };
        }
        if !moved {
            return Err(stuck);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prog(instrs: Vec<Instr>) -> Program {
        Program {
            host_ops: Vec::new(),
            config_hash: 0,
            tensors: vec![],
            instrs,
        }
    }

    #[test]
    fn replay_finds_a_wait_nothing_satisfies() {
        let stuck = prog(vec![
            Instr::Wait {
                engine: Engine::Dma,
                sem: 0,
            },
            Instr::Halt {},
        ]);
        assert_eq!(replay(&stuck), Err(vec![0]));
        let cross = prog(vec![
            Instr::Wait {
                engine: Engine::Dma,
                sem: 0,
            },
            Instr::Signal {
                engine: Engine::Dma,
                sem: 1,
            },
            Instr::Wait {
                engine: Engine::Sufa,
                sem: 1,
            },
            Instr::Signal {
                engine: Engine::Sufa,
                sem: 0,
            },
            Instr::Halt {},
        ]);
        assert_eq!(replay(&cross), Err(vec![0, 2]));
        let ok = prog(vec![
            Instr::Signal {
                engine: Engine::Sufa,
                sem: 0,
            },
            Instr::Wait {
                engine: Engine::Dma,
                sem: 0,
            },
            Instr::Halt {},
        ]);
        assert_eq!(replay(&ok), Ok(()));
    }

    #[test]
    fn assign_numbers_full_then_free() {
        let chans: BTreeMap<Chan, u32> = [(Chan::QRaw, 2), (Chan::AMask, 2), (Chan::Out, 1)].into();
        let s = Sems::assign(&chans, 32).unwrap();
        assert_eq!(s.count(), 5);
        let mut out = Vec::new();
        s.prime(&mut out);
        // QRaw's free (sem 1) twice on its consumer, Out's free (sem 4) once.
        assert_eq!(out.len(), 3);
        assert_eq!(
            out[2],
            Instr::Signal {
                engine: Engine::Dma,
                sem: 4
            }
        );
        assert!(Sems::assign(&chans, 4).is_none());
    }

    #[test]
    fn event_channels_have_no_credits_and_drains_return_the_rings() {
        let chans: BTreeMap<Chan, u32> = [(Chan::QRaw, 0), (Chan::Kv, 2), (Chan::Out, 2)].into();
        let s = Sems::assign(&chans, 32).unwrap();
        // QRaw: full only (0); Kv: 1, 2; Out: 3, 4.
        assert_eq!(s.count(), 5);
        let mut out = Vec::new();
        s.acquire(Chan::QRaw, &mut out);
        s.release(Chan::QRaw, &mut out);
        assert!(out.is_empty());
        s.drain(&[Chan::Out], &mut out);
        let dma_wait = |sem| Instr::Wait {
            engine: Engine::Dma,
            sem,
        };
        let sufa_wait = |sem| Instr::Wait {
            engine: Engine::Sufa,
            sem,
        };
        // Kv's producer (DMA) takes both credits back; Out's (SU-FA) one fewer: its last item
        // is never released.
        assert_eq!(out, [dma_wait(2), dma_wait(2), sufa_wait(4)]);
        let engines: Vec<Engine> = s.engines().into_iter().collect();
        assert_eq!(engines, [Engine::Dma, Engine::Sufa, Engine::Vec]);
    }

    #[test]
    fn a_credit_returner_primes_and_releases_in_place_of_the_consumer() {
        let chans: BTreeMap<Chan, u32> = [(Chan::Mask, 1)].into();
        let mut s = Sems::assign(&chans, 32).unwrap();
        s.credits_from(Chan::Mask, Engine::Sufa);
        let mut out = Vec::new();
        s.prime(&mut out);
        s.acquire(Chan::Mask, &mut out);
        s.publish(Chan::Mask, &mut out);
        s.take(Chan::Mask, &mut out);
        s.release(Chan::Mask, &mut out);
        s.drain(&[], &mut out);
        let signal = |engine, sem| Instr::Signal { engine, sem };
        let wait = |engine, sem| Instr::Wait { engine, sem };
        assert_eq!(
            out,
            [
                signal(Engine::Sufa, 1),
                wait(Engine::Dma, 1),
                signal(Engine::Dma, 0),
                wait(Engine::Vec, 0),
                signal(Engine::Sufa, 1),
                wait(Engine::Dma, 1),
            ]
        );
        let engines: Vec<Engine> = s.engines().into_iter().collect();
        assert_eq!(engines, [Engine::Dma, Engine::Sufa, Engine::Vec]);
    }

    #[test]
    fn segment_handshakes_use_the_reserved_semaphores() {
        assert_eq!(go_sem(32, Engine::Dlzs), Some(25));
        assert_eq!(go_sem(32, Engine::Ctrl), Some(30));
        assert_eq!(done_sem(32), Some(31));
        assert_eq!(go_sem(32, Engine::Dma), None);
        assert_eq!(go_sem(4, Engine::Vec), None);
        let engines: BTreeSet<Engine> = [Engine::Dma, Engine::Vec, Engine::Sufa].into();
        let mut out = Vec::new();
        segment_begin(32, &engines, &mut out);
        segment_end(32, &engines, &mut out);
        let (go_sufa, go_vec) = (28, 29);
        let expect = [
            Instr::Signal {
                engine: Engine::Dma,
                sem: go_sufa,
            },
            Instr::Signal {
                engine: Engine::Dma,
                sem: go_vec,
            },
            Instr::Wait {
                engine: Engine::Sufa,
                sem: go_sufa,
            },
            Instr::Wait {
                engine: Engine::Vec,
                sem: go_vec,
            },
            Instr::Signal {
                engine: Engine::Sufa,
                sem: 31,
            },
            Instr::Signal {
                engine: Engine::Vec,
                sem: 31,
            },
            Instr::Wait {
                engine: Engine::Dma,
                sem: 31,
            },
            Instr::Wait {
                engine: Engine::Dma,
                sem: 31,
            },
        ];
        assert_eq!(out, expect);
        let p = prog(out.into_iter().chain([Instr::Halt {}]).collect());
        assert!(replay_final(&p).unwrap().values().all(|&c| c == 0));
    }
}
