//! A block's SU-FA state: one running partial `(m, l, o)` per row in the Part buffer. The
//! block's first SUFA.T writes it, every later tile merges into it (`acc`), and one
//! `SUFA.SYNC tiles=1` divides it into the output rows, which are stored (the segment's last
//! ST is kept for after the closing handshakes; with [`crate::lower::buffers::Rings::out_in_q`]
//! SYNC writes over the block's scaled Q instead, freed by the ST). The state does not grow
//! with `Tc`, so no tile count forces partials off chip. SUFA.T and SUFA.SYNC run in order on
//! the SU-FA engine, so the next block's first SUFA.T overwrites the buffer only after this
//! block's SYNC read it.

use sofa_ir::dialect::attn::Schedule;
use sofa_ir::isa::{DramAddr, Instr, SramRef};

use super::{at_rows, block_rows, BlockGeo, Emitter};
use crate::lower::sram::Buf;
use crate::lower::sync::Chan;
use crate::lower::LowerError;

impl Emitter<'_> {
    /// Where SUFA.T of the block's tile `tile` writes, and whether it merges into what is there
    /// (every tile after the first).
    pub(super) fn part_dst(&self, tile: u64) -> (SramRef, bool) {
        (self.sram.at(Buf::Part, 0), tile > 0)
    }

    /// SUFA.SYNC of the block's running partials and ST of the output (the segment's last ST
    /// is kept for after the closing handshakes).
    pub(super) fn finish(
        &mut self,
        runs: &[BlockGeo],
        qs: u64,
        last: bool,
    ) -> Result<(), LowerError> {
        self.flush_st();
        self.sems.release(Chan::QSufa, self.out);
        if !self.out_in_q {
            self.sems.release(Chan::QRaw, self.out);
        }
        let part = self.sram.at(Buf::Part, 0);
        let rows = block_rows(runs);
        let over_q = self.out_in_q.then(|| self.sram.at(Buf::QScaled, qs));
        self.sync_rows(runs, (part, over_q), 0, rows, 1, last)
    }

    /// SUFA.SYNC of `c` rows from `part` (`tiles` blocks of `c` rows) into the next Out ring
    /// entry (or over the block's scaled Q at `over_q`), then ST of output rows `[r0, r0+c)` of
    /// the block's `runs`; `last`: the segment's final ST, deferred.
    pub(super) fn sync_rows(
        &mut self,
        runs: &[BlockGeo],
        (part, over_q): (SramRef, Option<SramRef>),
        r0: u64,
        c: u64,
        tiles: u64,
        last: bool,
    ) -> Result<(), LowerError> {
        let co = self.next(Chan::Out);
        let dst = over_q.unwrap_or_else(|| self.sram.at(Buf::Out, co));
        self.sems.acquire(Chan::Out, self.out);
        self.out.push(Instr::SufaSync {
            dst,
            part,
            rows: self.n(c, "rows")?,
            tiles: self.n(tiles.max(1), "tiles")?,
            d: self.n(self.l.shape.head_dim, "d")?,
            dt: self.l.shape.dt,
        });
        self.sems.publish(Chan::Out, self.out);
        let rb = self.row_bytes();
        let rb32: u32 = self.n(rb, "row bytes")?;
        let mut sts = Vec::new();
        // One ST per stacked head of each run whose rows the span covers.
        for (off, g) in at_rows(runs) {
            let (lo, hi) = (r0.max(off), (r0 + c).min(off + g.rows));
            for (i, lo, rows) in g.head_spans(lo.saturating_sub(off), hi.saturating_sub(lo)) {
                sts.push(Instr::St {
                    dst: DramAddr(g.o + i * g.head_stride + (lo - i * g.pos) * rb),
                    src: self.at_offset(dst, (off + lo - r0) * rb)?,
                    rows: self.n(rows, "rows")?,
                    row_bytes: rb32,
                    stride: rb32,
                });
            }
        }
        if last {
            self.final_st = sts;
        } else if self.l.plan.schedule == Schedule::Staged {
            self.store(sts);
        } else {
            self.pending_st = sts;
        }
        Ok(())
    }

    /// Issues the deferred output `ST`s of the previous block, if any.
    pub(super) fn flush_st(&mut self) {
        let sts = std::mem::take(&mut self.pending_st);
        if !sts.is_empty() {
            self.store(sts);
        }
    }

    fn store(&mut self, sts: Vec<Instr>) {
        self.sems.take(Chan::Out, self.out);
        self.out.extend(sts);
        self.sems.release(Chan::Out, self.out);
        if self.out_in_q {
            // The rows were the block's scaled Q: its entry is free again.
            self.sems.release(Chan::QRaw, self.out);
        }
    }
}
