//! Merging a block's SU-FA tile partials into its output: SUFA.SYNC over all tiles on chip
//! ([`Merge::OnChip`]), or, when they do not fit, each tile's partials stored to a DRAM spill
//! as SUFA.T produces them and reloaded per row chunk, every tile of the chunk in SYNC's
//! tile-major layout by one strided LD ([`Merge::Spill`]). Output rows are stored as they are
//! merged; the segment's last `ST` is kept for after the closing handshakes.

use sofa_ir::isa::{DramAddr, Instr, SramRef};

use super::{BlockGeo, Emitter};
use crate::lower::buffers::{chunk_rows, Merge, F32};
use crate::lower::sram::Buf;
use crate::lower::sync::Chan;
use crate::lower::LowerError;

impl Emitter<'_> {
    /// Where SUFA.T writes tile `tile`'s partials: its slot of the block's Part buffer, or
    /// (spilled partials) the next Part ring entry, acquired here.
    pub(super) fn part_dst(&mut self, g: &BlockGeo, tile: u64) -> SramRef {
        match self.merge {
            Merge::OnChip => {
                let base = self.sram.at(Buf::Part, 0);
                let off = tile * g.rows * (self.l.shape.head_dim + 2) * F32;
                SramRef::new(base.space, base.offset + off as u32)
            }
            Merge::Spill { .. } => {
                let c = self.next(Chan::PartSt);
                self.sems.acquire(Chan::PartSt, self.out);
                self.pending_parts.push((tile, c));
                self.sram.at(Buf::Part, c)
            }
        }
    }

    /// After SUFA.T of a tile: spilled partials are published to DMA, and stored one tile
    /// late when the ring allows (so DMA loads the next tile before waiting for this one).
    pub(super) fn part_written(&mut self, g: &BlockGeo) -> Result<(), LowerError> {
        if matches!(self.merge, Merge::Spill { .. }) {
            self.sems.publish(Chan::PartSt, self.out);
            while self.pending_parts.len() >= self.depth as usize {
                self.store_part(g)?;
            }
        }
        Ok(())
    }

    /// DMA: ST the oldest pending tile's partials to the block's spill.
    fn store_part(&mut self, g: &BlockGeo) -> Result<(), LowerError> {
        if self.pending_parts.is_empty() {
            return Ok(());
        }
        let (tile, c) = self.pending_parts.remove(0);
        let prb = (self.l.shape.head_dim + 2) * F32;
        self.sems.take(Chan::PartSt, self.out);
        self.out.push(Instr::St {
            dst: DramAddr(self.spills.parts + tile * g.rows * prb),
            src: self.sram.at(Buf::Part, c),
            rows: self.n(g.rows, "rows")?,
            row_bytes: self.n(prb, "partial row bytes")?,
            stride: self.n(prb, "partial row bytes")?,
        });
        self.sems.release(Chan::PartSt, self.out);
        Ok(())
    }

    /// SUFA.SYNC of the block's partials and ST of the output (the segment's last ST is kept
    /// for after the closing handshakes).
    pub(super) fn finish(
        &mut self,
        g: &BlockGeo,
        tiles: u64,
        last: bool,
    ) -> Result<(), LowerError> {
        self.sems.release(Chan::QSufa, self.out);
        match self.merge {
            Merge::OnChip => {
                let part = self.sram.at(Buf::Part, 0);
                self.sync_rows(g, part, 0, g.rows, tiles, last)
            }
            Merge::Spill { chunk, out_rows } => {
                while !self.pending_parts.is_empty() {
                    self.store_part(g)?;
                }
                let per = chunk_rows(self.l, chunk, out_rows, g.rows, tiles);
                let chunks: Vec<(u64, u64)> = (0..g.rows.div_ceil(per))
                    .map(|i| (i * per, per.min(g.rows - i * per)))
                    .collect();
                let mut loaded = Vec::new();
                let ahead = usize::from(self.depth > 1);
                for i in 0..chunks.len() {
                    while loaded.len() <= (i + ahead).min(chunks.len() - 1) {
                        let (r0, c) = chunks[loaded.len()];
                        loaded.push(self.load_chunk(g, r0, c, tiles)?);
                    }
                    let (r0, c) = chunks[i];
                    self.sems.take(Chan::PartLd, self.out);
                    let done = last && i + 1 == chunks.len();
                    self.sync_rows(g, loaded[i], r0, c, tiles, done)?;
                    self.sems.release(Chan::PartLd, self.out);
                }
                Ok(())
            }
        }
    }

    /// DMA: LD rows `[r0, r0+c)` of every tile's spilled partials, tile-major (SYNC's layout).
    fn load_chunk(
        &mut self,
        g: &BlockGeo,
        r0: u64,
        c: u64,
        tiles: u64,
    ) -> Result<SramRef, LowerError> {
        let prb = (self.l.shape.head_dim + 2) * F32;
        let cp = self.next(Chan::PartLd);
        let dst = self.sram.at(Buf::PartChunk, cp);
        self.sems.acquire(Chan::PartLd, self.out);
        self.out.push(Instr::Ld {
            dst,
            src: DramAddr(self.spills.parts + r0 * prb),
            rows: self.n(tiles, "tiles")?,
            row_bytes: self.n(c * prb, "partial chunk bytes")?,
            stride: self.n(g.rows * prb, "partial tile stride")?,
        });
        self.sems.publish(Chan::PartLd, self.out);
        Ok(dst)
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
        } else {
            self.sems.take(Chan::Out, self.out);
            self.out.push(st);
            self.sems.release(Chan::Out, self.out);
        }
        Ok(())
    }
}
