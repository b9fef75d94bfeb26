//! The `staged` schedule: the classic three-stage flow, Â and A round-tripping through DRAM,
//! with an on-chip footprint that does not grow with the sequence
//! ([`StagedPlan`](crate::lower::buffers::StagedPlan)).
//!
//! Per query block: (1) prediction per K̂ tile — LD K̂ → DLZS.S (or the dlzs ablation's
//! GEMM) → masks → ST the Â tile into the Â spill at its column offset; (2) per chunk of query
//! rows — LD the rows' Â back → one whole-row SADS (the row budget over every visible key) →
//! per list of selected keys: RASS → GATHER K, V → SUFA.T fa2 into the list's partials;
//! (3) the chunk's partials (A) to DRAM and back → SUFA.SYNC over the lists → ST. A chunk
//! takes as many rows as the buffers hold. When the row budget fits the plan's list, one list
//! serves all rows of the chunk; otherwise every row is attended alone in sub-lists (a
//! sub-list is a contiguous run of that row's SADS output, read by RASS at its offset, with
//! `n` = its length), sub-list `s` of each row being SYNC tile `s`. Every visible key of a
//! row is in exactly one list, so keep ratio 1 stays exact. A score bias is added to Â in
//! stage 1 with the masks, and, for the exact scores, reloaded per row chunk (the chunk's rows
//! over its visible keys) for each list's `SUFA.BIAS`.

use sofa_ir::isa::{DramAddr, Instr, SramRef, SufaMode};

use super::{op_err, BlockGeo, Emitter, KhatTile};
use crate::lower::buffers::{elem, gathered, score_dt, F32, U32};
use crate::lower::sram::Buf;
use crate::lower::sync::Chan;
use crate::lower::LowerError;

/// One list of a row chunk: where it starts in the chunk's SADS output, its first row within
/// the chunk, its rows and keys per row, the `n` RASS bounds its distinct keys by, and its
/// partials' block (SYNC tile).
#[derive(Clone, Copy)]
struct List {
    offset: u64,
    row: u64,
    rows: u64,
    sel: u64,
    n: u64,
    tile: u64,
}

/// The sub-lists of `rows` rows selecting `sel` keys each, in lists of at most `keys`: per
/// row, its runs of the SADS output (`rows × sel`); list `s` of every row is partial tile `s`.
fn sub_lists(rows: u64, sel: u64, keys: u64) -> Vec<List> {
    let per_row = sel.div_ceil(keys);
    (0..rows)
        .flat_map(|row| {
            (0..per_row).map(move |s| {
                let len = keys.min(sel - s * keys);
                List {
                    offset: row * sel + s * keys,
                    row,
                    rows: 1,
                    sel: len,
                    n: len,
                    tile: s,
                }
            })
        })
        .collect()
}

/// `r` moved `bytes` further into its space.
fn shifted(r: SramRef, bytes: u64) -> Option<SramRef> {
    let offset = u32::try_from(u64::from(r.offset) + bytes).ok()?;
    Some(SramRef::new(r.space, offset))
}

impl Emitter<'_> {
    /// The staged flow of one block, merged and stored per row chunk (the segment's last ST
    /// is kept for after the closing handshakes when `last`).
    pub(super) fn staged(&mut self, g: &BlockGeo, qs: u64, last: bool) -> Result<(), LowerError> {
        let plan = self
            .staged
            .ok_or_else(|| op_err(self.l, "the staged schedule has no plan".into()))?;
        self.sems.take(Chan::QDlzs, self.out);
        self.sems.take(Chan::QSufa, self.out);
        self.predict_to_dram(g, qs, plan.khat_keys)?;
        let sel = self.l.budget(g.keys());
        let (rc, keys) = plan.chunk(self.l, g.rows, g.keys());
        let chunks = g.rows.div_ceil(rc);
        for i in 0..chunks {
            let r0 = i * rc;
            let rows = rc.min(g.rows - r0);
            let lists = if keys >= sel {
                vec![List {
                    offset: 0,
                    row: 0,
                    rows,
                    sel,
                    n: g.keys(),
                    tile: 0,
                }]
            } else {
                sub_lists(rows, sel, keys)
            };
            let tiles = sel.div_ceil(keys);
            self.select_chunk(g, qs, (r0, rows), &lists, tiles, last && i + 1 == chunks)?;
        }
        self.sems.release(Chan::QSufa, self.out);
        self.sems.release(Chan::QRaw, self.out);
        Ok(())
    }

    /// Stage 1: per K̂ tile of `width` keys from the block's first visible key, LD → predict
    /// (with masks) → ST into the Â spill at the tile's key columns.
    fn predict_to_dram(&mut self, g: &BlockGeo, qs: u64, width: u64) -> Result<(), LowerError> {
        let rb = self.row_bytes();
        let sc = elem(score_dt(self.l));
        let tiles = g.keys().div_ceil(width.max(1));
        for j in 0..tiles {
            let k0 = g.first + j * width;
            let w = width.min(g.n - k0);
            let c = self.next(Chan::KHat);
            let kt = self.sram.at(Buf::KTile, c);
            self.sems.acquire(Chan::KHat, self.out);
            self.out.push(Instr::Ld {
                dst: kt,
                src: DramAddr(g.k + k0 * rb),
                rows: self.n(w, "K̂ tile width")?,
                row_bytes: self.n(rb, "row bytes")?,
                stride: self.n(rb, "row bytes")?,
            });
            self.sems.publish(Chan::KHat, self.out);
            let scores = self.predict(
                std::slice::from_ref(g),
                qs,
                KhatTile {
                    runs: vec![kt],
                    x: None,
                },
                k0,
                w,
                j + 1 == tiles,
            )?;
            // Â to DRAM: the classic flow's stage boundary.
            let spill = if scores.masked() {
                Chan::SpillAMasked
            } else {
                Chan::SpillA
            };
            self.sems.publish(spill, self.out);
            self.sems.take(spill, self.out);
            self.out.push(Instr::St {
                dst: DramAddr(self.spills.ahat + k0 * sc),
                src: self.sram.at(Buf::AHat, scores.ahat),
                rows: self.n(g.rows, "rows")?,
                row_bytes: self.n(w * sc, "Â row bytes")?,
                stride: self.n(self.l.shape.seq_k * sc, "Â stride")?,
            });
        }
        Ok(())
    }

    /// Stages 2 and 3 for block rows `[r0, r0 + rows)`: LD their Â → SADS over the visible
    /// keys (columns from the block's first, indices made absolute by `base`) → each list
    /// attended → the partials (`tiles` blocks of the rows) through DRAM →
    /// SUFA.SYNC → ST.
    fn select_chunk(
        &mut self,
        g: &BlockGeo,
        qs: u64,
        (r0, rows): (u64, u64),
        lists: &[List],
        tiles: u64,
        last: bool,
    ) -> Result<(), LowerError> {
        let sc = elem(score_dt(self.l));
        let ahat = self.sram.at(Buf::AHat, 0);
        let rows16: u16 = self.n(rows, "rows")?;
        if self.l.biased() {
            self.load_bias_rows(g, r0, rows)?;
        }
        self.out.push(Instr::Ld {
            dst: ahat,
            src: DramAddr(self.spills.ahat + (r0 * self.l.shape.seq_k + g.first) * sc),
            rows: self.n(rows, "rows")?,
            row_bytes: self.n(g.keys() * sc, "Â row bytes")?,
            stride: self.n(self.l.shape.seq_k * sc, "Â stride")?,
        });
        self.sems.publish(Chan::Reload, self.out);
        let ci = self.next(Chan::Idx);
        let idx = self.sram.at(Buf::Idx, ci);
        let sel = self.l.budget(g.keys());
        self.sems.take(Chan::Reload, self.out);
        self.sems.acquire(Chan::Idx, self.out);
        self.out.push(Instr::Sads {
            idx,
            top: self.sram.at(Buf::Top, 0),
            src: ahat,
            rows: rows16,
            n: self.n(g.keys(), "visible keys")?,
            sel: self.n(sel, "sel")?,
            base: self.n(g.first, "first key")?,
            radius: self.l.plan.radius,
            dt: score_dt(self.l),
        });
        self.sems.publish(Chan::Idx, self.out);
        self.sems.take(Chan::Idx, self.out);
        let part = self.sram.at(Buf::Part, 0);
        let prb = (self.l.shape.head_dim + 2) * F32;
        for list in lists {
            let at = shifted(idx, list.offset * U32);
            let dst = shifted(part, (list.tile * rows + list.row) * prb);
            let (Some(at), Some(dst)) = (at, dst) else {
                return Err(op_err(self.l, "SRAM offsets overflow".into()));
            };
            self.attend_list(g, qs, r0 + list.row, at, dst, list)?;
        }
        self.sems.release(Chan::Idx, self.out);
        // A (the rows' attention, summarised as partials) to DRAM and back before the merge.
        self.sems.publish(Chan::SpillP, self.out);
        self.sems.take(Chan::SpillP, self.out);
        let part_rows: u32 = self.n(tiles * rows, "partial rows")?;
        let prb32: u32 = self.n(prb, "partial row bytes")?;
        self.out.push(Instr::St {
            dst: DramAddr(self.spills.a),
            src: part,
            rows: part_rows,
            row_bytes: prb32,
            stride: prb32,
        });
        self.out.push(Instr::Ld {
            dst: part,
            src: DramAddr(self.spills.a),
            rows: part_rows,
            row_bytes: prb32,
            stride: prb32,
        });
        self.sems.publish(Chan::ReloadP, self.out);
        self.sems.take(Chan::ReloadP, self.out);
        self.sync_rows(std::slice::from_ref(g), (part, None), r0, rows, tiles, last)
    }

    /// DMA: LD the op's mask for block rows `[r0, r0 + rows)` over the block's visible keys
    /// into the bias rows, before the chunk's Â: its lists' SUFA.BIAS read it after their
    /// RASS slots, which follow this chunk's SADS, which follows the Â reload; the next chunk's
    /// load comes after this chunk's partials spill, which waits for all of its SUFA.T.
    fn load_bias_rows(&mut self, g: &BlockGeo, r0: u64, rows: u64) -> Result<(), LowerError> {
        let Some(m) = self.l.dram.mask else {
            return Ok(());
        };
        // check::layer bounded the whole mask range, so these cannot overflow.
        let src = m.dram
            + g.b * m.batch_stride
            + g.h * m.head_stride
            + (g.q0 + r0) * m.row_stride
            + g.first * F32;
        self.out.push(Instr::Ld {
            dst: self.sram.at(Buf::BiasRows, 0),
            src: DramAddr(src),
            rows: self.n(rows, "rows")?,
            row_bytes: self.n(g.keys() * F32, "bias row bytes")?,
            stride: self.n(m.row_stride, "mask row stride")?,
        });
        Ok(())
    }

    /// One list: RASS over its run of the SADS output (`idx`) → GATHER K, V → (SUFA.BIAS of
    /// its rows of the bias) → SUFA.T fa2 of the list's rows from block row `r0` into `dst`.
    fn attend_list(
        &mut self,
        g: &BlockGeo,
        qs: u64,
        r0: u64,
        idx: SramRef,
        dst: SramRef,
        list: &List,
    ) -> Result<(), LowerError> {
        let (rows16, sel16): (u16, u16) = (self.n(list.rows, "rows")?, self.n(list.sel, "sel")?);
        let n: u32 = self.n(list.n, "list width")?;
        let (order, slot) = self.issue_rass(idx, (rows16, sel16, n), None)?;
        let listed = gathered(self.l, list.n, list.rows, list.sel);
        let ck = self.next(Chan::Kv);
        self.sems.take(Chan::Order, self.out);
        self.sems.acquire(Chan::Kv, self.out);
        let (gk, gv) = self.gather_kv(g, order, listed, ck)?;
        let q = shifted(self.sram.at(Buf::QScaled, qs), r0 * self.row_bytes())
            .ok_or_else(|| op_err(self.l, "SRAM offsets overflow".into()))?;
        self.sems.take(Chan::Kv, self.out);
        self.sems.take(Chan::Slot, self.out);
        if self.l.biased() {
            let row_bytes = g.keys() * F32;
            let bias = shifted(self.sram.at(Buf::BiasRows, 0), list.row * row_bytes)
                .ok_or_else(|| op_err(self.l, "SRAM offsets overflow".into()))?;
            self.bias_prefix((bias, idx), (rows16, sel16), (g.keys(), g.first), &[])?;
        }
        self.out.push(Instr::SufaT {
            dst,
            q,
            k: gk,
            v: gv,
            slot,
            rows: rows16,
            sel: sel16,
            d: self.n(self.l.shape.head_dim, "d")?,
            slots: self.n(listed, "gathered rows")?,
            mode: SufaMode::Fa2,
            acc: false,
            dt: self.l.shape.dt,
        });
        self.sems.release(Chan::Kv, self.out);
        self.sems.release(Chan::Slot, self.out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::shifted;
    use sofa_ir::isa::SramRef;

    #[test]
    fn shifted_refs_stay_in_their_space_or_fail() {
        assert_eq!(shifted(SramRef::token(64), 128), Some(SramRef::token(192)));
        assert_eq!(shifted(SramRef::temp(u32::MAX), 1), None);
    }
}
