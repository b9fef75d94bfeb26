//! The `dense` schedule: FlashAttention-2 on the SU-FA engine over every visible key.
//!
//! Without a mask operand, a constant slot table lists each row's visible keys of the tile
//! (all of them, or the causal prefix). With one, the list must come from the data: VEC forms
//! the tile's combined mask (the op's mask, plus the causal table on diagonal tiles) and SADS
//! selects all `w` columns of it (base 0, no radius). SADS never selects −inf entries, so each
//! row's slot list is exactly its unmasked keys (`NO_INDEX` for the rest), in the K/V tile's
//! row numbering — the same exact FA-2 as the slot table, no prediction involved. A score
//! bias is added to the listed keys' scores by `SUFA.BIAS` from the same mask tile (SADS's
//! base 0 numbers the tile's columns, as the tile is laid out).

use sofa_ir::isa::{Bcast, DType, DramAddr, Instr, SramRef, SufaMode};

use super::{at_rows, block_rows, op_err, BlockGeo, Emitter};
use crate::lower::buffers::U32;
use crate::lower::sram::Buf;
use crate::lower::sync::Chan;
use crate::lower::LowerError;

impl Emitter<'_> {
    /// The dense key tiles of a block; a packed block (several `runs`, unmasked) loads each
    /// run's K and V tile one after the other and its slot table numbers them so.
    pub(super) fn dense_tiles(&mut self, runs: &[BlockGeo], qs: u64) -> Result<(), LowerError> {
        let g = &runs[0];
        let rows = block_rows(runs);
        let tiles = self.tiles(g);
        let rb: u32 = self.n(self.row_bytes(), "row bytes")?;
        self.sems.take(Chan::QSufa, self.out);
        for (j, &(k0, w)) in tiles.iter().enumerate() {
            let diag = self.diagonal(g, k0, w);
            let c = self.next(Chan::DenseKv);
            let (kb, vb) = (self.sram.at(Buf::DenseK, c), self.sram.at(Buf::VTile, c));
            let w32: u32 = self.n(w, "tile width")?;
            self.sems.acquire(Chan::DenseKv, self.out);
            for (buf, v) in [(kb, false), (vb, true)] {
                for (i, run) in runs.iter().enumerate() {
                    let base = if v { run.v } else { run.k };
                    self.out.push(Instr::Ld {
                        dst: self.at_offset(buf, i as u64 * w * self.row_bytes())?,
                        src: DramAddr(base + k0 * self.row_bytes()),
                        rows: w32,
                        row_bytes: rb,
                        stride: rb,
                    });
                }
            }
            let table_slots = if self.l.dram.mask.is_none() {
                Some(self.load_slot_table(runs, c, w, diag.unwrap_or(w as i64 - 1))?)
            } else {
                None
            };
            self.sems.publish(Chan::DenseKv, self.out);
            let (slot, mask) = match table_slots {
                Some(s) => (s, None),
                None => {
                    let (idx, cm) = self.mask_slots(g, k0, w, diag)?;
                    (idx, Some(cm))
                }
            };
            self.sems.take(Chan::DenseKv, self.out);
            let w16: u16 = self.n(w, "tile width")?;
            let (dst, acc) = self.part_dst(j as u64);
            if let Some(cm) = mask.filter(|_| self.l.biased()) {
                let bias = self.sram.at(Buf::UMask, cm);
                let rows: u16 = self.n(g.rows, "rows")?;
                // SADS listed columns of the tile (base 0), as the bias tile is laid out.
                self.bias_prefix((bias, slot), (rows, w16), (w, 0), &[Chan::Mask])?;
            }
            self.out.push(Instr::SufaT {
                dst,
                q: self.sram.at(Buf::QScaled, qs),
                k: kb,
                v: vb,
                slot,
                rows: self.n(rows, "rows")?,
                sel: w16,
                d: self.n(self.l.shape.head_dim, "d")?,
                slots: self.n(runs.len() as u64 * w, "tile rows")?,
                mode: SufaMode::Fa2,
                acc,
                dt: self.l.shape.dt,
            });
            self.sems.release(Chan::DenseKv, self.out);
            if table_slots.is_none() {
                self.sems.release(Chan::DenseIdx, self.out);
            }
        }
        Ok(())
    }

    /// DMA (inside the DenseKv item): LD the constant slot table of the tile, each run's
    /// numbering its own K/V rows.
    fn load_slot_table(
        &mut self,
        runs: &[BlockGeo],
        c: u64,
        w: u64,
        delta: i64,
    ) -> Result<SramRef, LowerError> {
        let sb = self.sram.at(Buf::DenseSlot, c);
        let srb = w * U32;
        for (i, (row, g)) in at_rows(runs).enumerate() {
            let table = self
                .dram
                .slot_table((g.pos, w), delta, self.l.shape.window, i as u64 * w)
                .ok_or_else(|| op_err(self.l, "DRAM addresses overflow".into()))?;
            // The stacked heads see the same positions: the table once per head.
            let dst = self.at_offset(sb, row * srb)?;
            self.load_per_head(g, dst, |_| table, (srb, srb))?;
        }
        Ok(sb)
    }

    /// The slot list of a tile under the op's mask (see the module docs), and the mask's ring
    /// entry; the SU-FA engine has taken the list (DenseIdx) when this returns, and releases
    /// it after its SUFA.T.
    fn mask_slots(
        &mut self,
        g: &BlockGeo,
        k0: u64,
        w: u64,
        diag: Option<i64>,
    ) -> Result<(SramRef, u64), LowerError> {
        let cm = self.load_masks(g, k0, w, diag)?;
        let (rows, cols): (u32, u32) = (self.n(g.rows, "rows")?, self.n(w, "tile width")?);
        let ca = self.next(Chan::DenseSel);
        let combined = self.sram.at(Buf::AHat, ca);
        let user = self.sram.at(Buf::UMask, cm);
        self.sems.take(Chan::Mask, self.out);
        self.sems.acquire(Chan::DenseSel, self.out);
        self.out.push(match diag {
            Some(_) => Instr::VecAdd {
                dst: combined,
                a: user,
                b: self.sram.at(Buf::Mask, cm),
                rows,
                cols,
                bcast: Bcast::None,
                dt: DType::F32,
            },
            None => Instr::VecAffine {
                dst: combined,
                a: user,
                rows,
                cols,
                mul: 1.0,
                add: 0.0,
                dt: DType::F32,
            },
        });
        self.release_unless_held(Chan::Mask);
        self.sems.publish(Chan::DenseSel, self.out);
        let ci = self.next(Chan::DenseIdx);
        let idx = self.sram.at(Buf::Idx, ci);
        self.sems.take(Chan::DenseSel, self.out);
        self.sems.acquire(Chan::DenseIdx, self.out);
        self.out.push(Instr::Sads {
            idx,
            top: self.sram.at(Buf::Top, 0),
            src: combined,
            rows: self.n(g.rows, "rows")?,
            n: cols,
            sel: self.n(w, "tile width")?,
            base: 0,
            radius: f32::INFINITY,
            dt: DType::F32,
        });
        self.sems.release(Chan::DenseSel, self.out);
        self.sems.publish(Chan::DenseIdx, self.out);
        self.sems.take(Chan::DenseIdx, self.out);
        Ok((idx, cm))
    }
}
