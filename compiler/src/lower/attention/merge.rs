//! A block's SU-FA state: one running partial `(m, l, o)` per row in the Part buffer. The
//! block's first SUFA.T writes it, every later tile merges into it (`acc`), and one
//! `SUFA.SYNC tiles=1` divides it into the output rows, which are stored (the segment's last
//! ST is kept for after the closing handshakes). The state does not grow with `Tc`, so no tile
//! count forces partials off chip. SUFA.T and SUFA.SYNC run in order on the SU-FA engine, so
//! the next block's first SUFA.T overwrites the buffer only after this block's SYNC read it.

use sofa_ir::dialect::attn::Schedule;
use sofa_ir::isa::{DramAddr, Instr, SramRef};

use super::{BlockGeo, Emitter};
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
    pub(super) fn finish(&mut self, g: &BlockGeo, last: bool) -> Result<(), LowerError> {
        self.flush_st();
        self.sems.release(Chan::QSufa, self.out);
        self.sems.release(Chan::QRaw, self.out);
        let part = self.sram.at(Buf::Part, 0);
        self.sync_rows(g, part, 0, g.rows, 1, last)
    }

    /// SUFA.SYNC of `c` rows from `part` (`tiles` blocks of `c` rows), then ST of output rows
    /// `[r0, r0+c)`; `last`: the segment's final ST, deferred.
    pub(super) fn sync_rows(
        &mut self,
        g: &BlockGeo,
        part: SramRef,
        r0: u64,
        c: u64,
        tiles: u64,
        last: bool,
    ) -> Result<(), LowerError> {
        let co = self.next(Chan::Out);
        let dst = self.sram.at(Buf::Out, co);
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
        let rb: u32 = self.n(self.row_bytes(), "row bytes")?;
        let st = Instr::St {
            dst: DramAddr(g.o + r0 * self.row_bytes()),
            src: dst,
            rows: self.n(c, "rows")?,
            row_bytes: rb,
            stride: rb,
        };
        if last {
            self.final_st = Some(st);
        } else if self.l.plan.schedule == Schedule::Staged {
            self.store(st);
        } else {
            self.pending_st = Some(st);
        }
        Ok(())
    }

    /// Issues the deferred output `ST` of the previous block, if any.
    pub(super) fn flush_st(&mut self) {
        if let Some(st) = self.pending_st.take() {
            self.store(st);
        }
    }

    fn store(&mut self, st: Instr) {
        self.sems.take(Chan::Out, self.out);
        self.out.push(st);
        self.sems.release(Chan::Out, self.out);
    }
}
