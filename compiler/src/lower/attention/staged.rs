//! The `staged` schedule: the classic three-stage flow, Â and A round-tripping through DRAM.

use sofa_ir::isa::{DramAddr, Instr, SufaMode};

use super::predict::Pick;
use super::{BlockGeo, Emitter};
use crate::lower::buffers::{budget, elem, score_dt, F32};
use crate::lower::sram::Buf;
use crate::lower::sync::Chan;
use crate::lower::LowerError;

impl Emitter<'_> {
    /// LD the visible K̂ row → DLZS.S → (masks) → Â to DRAM and back → whole-row selection →
    /// SUFA.T fa2 → the partials to DRAM and back. Returns the tile count (1).
    pub(super) fn staged(&mut self, g: &BlockGeo, qs: u64) -> Result<u64, LowerError> {
        let rb: u32 = self.n(self.row_bytes(), "row bytes")?;
        self.sems.take(Chan::QDlzs, self.out);
        self.sems.take(Chan::QSufa, self.out);
        let c = self.next(Chan::KHat);
        let kt = self.sram.at(Buf::KTile, c);
        self.sems.acquire(Chan::KHat, self.out);
        self.out.push(Instr::Ld {
            dst: kt,
            src: DramAddr(g.k),
            rows: self.n(g.n, "visible keys")?,
            row_bytes: rb,
            stride: rb,
        });
        self.sems.publish(Chan::KHat, self.out);
        let (masked, ca) = self.predict(g, qs, kt, 0, g.n, true)?;
        // Â to DRAM and back: the classic flow's stage boundary.
        let ahat = self.sram.at(Buf::AHat, ca);
        let spill = if masked {
            Chan::SpillAMasked
        } else {
            Chan::SpillA
        };
        self.sems.publish(spill, self.out);
        self.sems.take(spill, self.out);
        let sc = elem(score_dt(self.l));
        let rows32: u32 = self.n(g.rows, "rows")?;
        let arb: u32 = self.n(g.n * sc, "Â row bytes")?;
        let astride: u32 = self.n(self.l.seq_k * sc, "Â stride")?;
        self.out.push(Instr::St {
            dst: DramAddr(self.spills.ahat),
            src: ahat,
            rows: rows32,
            row_bytes: arb,
            stride: astride,
        });
        self.out.push(Instr::Ld {
            dst: ahat,
            src: DramAddr(self.spills.ahat),
            rows: rows32,
            row_bytes: arb,
            stride: astride,
        });
        self.sems.publish(Chan::Reload, self.out);
        let pick = Pick {
            k0: 0,
            w: g.n,
            sel: budget(self.l.keep, g.n),
            mode: SufaMode::Fa2,
            tile: 0,
        };
        self.select_and_attend(g, qs, ca, masked, pick)?;
        // A (the row's scores, summarised as partials) to DRAM and back before the merge.
        self.sems.publish(Chan::SpillP, self.out);
        self.sems.take(Chan::SpillP, self.out);
        let part = self.sram.at(Buf::Part, 0);
        let prb: u32 = self.n((self.l.d + 2) * F32, "partial row bytes")?;
        self.out.push(Instr::St {
            dst: DramAddr(self.spills.a),
            src: part,
            rows: rows32,
            row_bytes: prb,
            stride: prb,
        });
        self.out.push(Instr::Ld {
            dst: part,
            src: DramAddr(self.spills.a),
            rows: rows32,
            row_bytes: prb,
            stride: prb,
        });
        self.sems.publish(Chan::ReloadP, self.out);
        self.sems.take(Chan::ReloadP, self.out);
        Ok(1)
    }
}
