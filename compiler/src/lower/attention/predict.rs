//! The predicting schedules' shared steps — DLZS.S with its masks, and the selection chain
//! SADS → RASS → GATHER K, V → SUFA.T — and the `cct` tile loop built from them.

use sofa_ir::isa::{DramAddr, Instr, SramRef, SufaMode};

use super::{at_rows, block_rows, BlockGeo, Emitter, KhatTile, Prefetched};
use crate::lower::buffers::{elem, exact, gathered, score_dt, U32};
use crate::lower::sram::Buf;
use crate::lower::sync::{Chan, Sems};
use crate::lower::LowerError;
use sofa_ir::dialect::attn::Schedule;

/// One tile's selection: the keys `[k0, k0 + w)` and how many each row keeps.
#[derive(Clone, Copy)]
pub(super) struct Pick {
    pub k0: u64,
    pub w: u64,
    pub sel: u64,
    pub mode: SufaMode,
    /// Partial slot of the block.
    pub tile: u64,
    /// Mask ring entry whose bias SU-FA adds to the exact scores (a biased layer).
    pub bias: Option<u64>,
}

/// A predicted score tile: Â's ring entry, and the mask ring entry added onto it (none when
/// unmasked).
#[derive(Clone, Copy)]
pub(super) struct Predicted {
    pub ahat: u64,
    pub mask: Option<u64>,
}

impl Predicted {
    pub fn masked(&self) -> bool {
        self.mask.is_some()
    }
}

impl Emitter<'_> {
    /// The `cct` key tiles of a block. DMA loads the next tile's K̂ (or X rows) before it
    /// gathers this tile's K/V, so the next prediction overlaps this tile's selection and
    /// SU-FA instead of waiting behind its gathers in the DMA queue.
    ///
    /// A packed block (several `runs`) predicts and selects each run against its own head's
    /// keys; the runs share the tile loop (every query sees every key, see
    /// [`crate::lower::buffers::packs`]), RASS, the gathers and SU-FA.
    ///
    /// `first` is the block's first K̂ tile when the previous block prefetched it; with a
    /// `next` block, its Q and first K̂ tile are loaded during this block's last tile
    /// ([`Self::prefetch`]).
    pub(super) fn cct_tiles(
        &mut self,
        runs: &[BlockGeo],
        qs: u64,
        (first, next_block): (Option<KhatTile>, Option<&[BlockGeo]>),
    ) -> Result<(), LowerError> {
        let g = &runs[0];
        let tiles = self.tiles(g);
        let per_tile = self.l.budget(g.keys()).div_ceil(tiles.len().max(1) as u64);
        self.sems.take(Chan::QDlzs, self.out);
        self.sems.take(Chan::QSufa, self.out);
        let last = tiles.len().saturating_sub(1);
        let mut next = match (first, tiles.first()) {
            (Some(t), _) => Some(t),
            (None, Some(&(k0, w))) => Some(self.load_khat_tile(runs, k0, w)?),
            (None, None) => None,
        };
        for (j, &(k0, w)) in tiles.iter().enumerate() {
            let Some(loaded) = next.take() else {
                break;
            };
            let scores = self.predict(runs, qs, loaded, k0, w, j == last)?;
            // The next block's loads go ahead of the last tile's gathers when SU-FA has an
            // earlier tile of this block to work on meanwhile; a block of one tile waits for
            // its only gathers, so they go first.
            let ahead = j == last && tiles.len() > 1;
            if let Some(&(k1, w1)) = tiles.get(j + 1) {
                next = Some(self.load_khat_tile(runs, k1, w1)?);
            } else if ahead {
                self.prefetch(next_block)?;
            }
            // Keep 1: every visible key of the tile (exact attention).
            let sel = if exact(self.l) { w } else { per_tile.min(w) };
            let pick = Pick {
                k0,
                w,
                sel,
                // The sufa ablation: the FA-2 update instead of the sorted one.
                mode: if self.l.plan.ablate.sufa {
                    SufaMode::Fa2
                } else {
                    SufaMode::Sorted
                },
                tile: j as u64,
                bias: scores.mask.filter(|_| self.l.biased()),
            };
            self.select_and_attend(runs, qs, scores, pick)?;
            if j == last && !ahead {
                self.prefetch(next_block)?;
            }
        }
        Ok(())
    }

    /// The next block's Q (LD, scale) and first K̂ tile, issued during this block's last tile
    /// so that the next block's prediction overlaps this block's last SU-FA work instead of
    /// starting after its SUFA.SYNC. Only with two scaled-Q entries (the next block's takes
    /// the one the block before freed) and K/V from DRAM (on-demand K/V loads head weights
    /// between blocks).
    fn prefetch(&mut self, next: Option<&[BlockGeo]>) -> Result<(), LowerError> {
        let Some(next) = next else {
            return Ok(());
        };
        if self.sems.depth(Chan::QRaw) < 2 || self.l.plan.kv_gen.is_some() {
            return Ok(());
        }
        // With the output over Q, the entry the next block takes is freed by the previous
        // block's output ST, which must go first.
        if self.out_in_q {
            self.flush_st();
        }
        let qs = self.load_q(next, true)?;
        let tile = match self.tiles(&next[0]).first() {
            Some(&(k0, w)) => Some(self.load_khat_tile(next, k0, w)?),
            None => None,
        };
        self.prefetched = Some(Prefetched { qs, tile });
        Ok(())
    }

    /// DMA: the K̂ tile of keys `[k0, k0 + w)`, each run's into the next KTile ring entry (on
    /// demand: the tile's X rows, which DLZS.K turns into K̂). Each run's entry is published
    /// on its own, so DLZS can start on a run while DMA loads the next.
    fn load_khat_tile(
        &mut self,
        runs: &[BlockGeo],
        k0: u64,
        w: u64,
    ) -> Result<KhatTile, LowerError> {
        let rb: u32 = self.n(self.row_bytes(), "row bytes")?;
        let mut entries = Vec::with_capacity(runs.len());
        let mut x = None;
        for g in runs {
            let c = self.next(Chan::KHat);
            let kt = self.sram.at(Buf::KTile, c);
            self.sems.acquire(Chan::KHat, self.out);
            if self.l.plan.kv_gen.is_some() {
                // On demand, a block is one head's (`buffers::packs`): one run.
                self.load_x_tile(g, k0, w, c)?;
                x = Some(c);
            } else {
                self.out.push(Instr::Ld {
                    dst: kt,
                    src: DramAddr(g.k + k0 * self.row_bytes()),
                    rows: self.n(w, "tile width")?,
                    row_bytes: rb,
                    stride: rb,
                });
            }
            self.sems.publish(Chan::KHat, self.out);
            entries.push(kt);
        }
        Ok(KhatTile { runs: entries, x })
    }

    /// DLZS.S of `w` keys (K̂ at `kt`, first predicted from XTile entry `x` when K/V are
    /// generated on demand) against the scaled Q, then the masks (the causal table when the
    /// keys reach into some row's future, the op's mask always). Returns Â's ring entry and
    /// the mask ring entry added onto it.
    pub(super) fn predict(
        &mut self,
        runs: &[BlockGeo],
        qs: u64,
        khat: KhatTile,
        k0: u64,
        w: u64,
        last: bool,
    ) -> Result<Predicted, LowerError> {
        // Only unmasked layers pack, so the masks are the first (only) run's.
        let g = &runs[0];
        let diag = self.diagonal(g, k0, w);
        let masked = diag.is_some() || self.l.dram.mask.is_some();
        let ca = self.next(Chan::AHat);
        let ahat = self.sram.at(Buf::AHat, ca);
        let handed = self.ahat_credits(runs.len());
        let taken = self.ahat_taken(ahat, runs, &handed);
        let by_run = !masked && self.l.plan.schedule == Schedule::Cct;
        for (i, (row, run)) in at_rows(runs).enumerate() {
            self.sems.take(Chan::KHat, self.out);
            if let Some(c) = khat.x {
                self.predict_khat(khat.runs[i], c, w)?;
            }
            self.repeat(Sems::acquire, Chan::AHat, taken[i]);
            let at = |r: SramRef, bytes: u64| self.at_offset(r, bytes);
            let q = at(self.sram.at(Buf::QScaled, qs), row * self.row_bytes())?;
            let ahat = at(ahat, row * w * elem(score_dt(self.l)))?;
            self.predict_rows((ahat, q, khat.runs[i]), run.rows, w)?;
            self.sems.release(Chan::KHat, self.out);
            // SADS may start on this run while DLZS predicts the next.
            if by_run && i + 1 < runs.len() {
                self.repeat(Sems::publish, Chan::AHat, handed[i]);
            }
        }
        if last {
            self.sems.release(Chan::QDlzs, self.out);
        }
        let mut mask = None;
        if masked {
            self.sems.publish(Chan::AMask, self.out);
            let cm = self.load_masks(g, k0, w, diag)?;
            self.sems.take(Chan::AMask, self.out);
            self.add_masks(g, ahat, cm, w, diag.is_some())?;
            mask = Some(cm);
        } else if by_run {
            let rest = handed.last().copied().unwrap_or(1);
            self.repeat(Sems::publish, Chan::AHat, rest);
        }
        Ok(Predicted { ahat: ca, mask })
    }

    /// The `AHat` credits each run of a tile of `runs` runs passes: one per run, the rest of
    /// [`Emitter::runs_cap`] with the last, so every tile passes the same number and SADS can
    /// start on a run while DLZS predicts the next.
    fn ahat_credits(&self, runs: usize) -> Vec<u64> {
        let runs = runs.max(1);
        let mut credits = vec![1; runs];
        if let Some(last) = credits.last_mut() {
            *last = self.runs_cap.saturating_sub(runs as u64 - 1).max(1);
        }
        credits
    }

    /// The free `AHat` credits DLZS waits for before each run of a tile into Â entry `ahat`:
    /// run by run (`handed`) where the entry's last tile had the same runs, so each run
    /// waits only for SADS to be done with the same rows; otherwise every credit before the
    /// first run, as a run could overlap rows of the last tile SADS has yet to read.
    fn ahat_taken(&mut self, ahat: SramRef, runs: &[BlockGeo], handed: &[u64]) -> Vec<u64> {
        let rows: Vec<u64> = runs.iter().map(|r| r.rows).collect();
        let same = self.ahat_users.insert(ahat, rows.clone()) == Some(rows);
        if same {
            return handed.to_vec();
        }
        let mut taken = vec![0; handed.len()];
        taken[0] = handed.iter().sum();
        taken
    }

    /// `n` times the semaphore step `op` on channel `c`.
    fn repeat(&mut self, op: fn(&Sems, Chan, &mut Vec<Instr>), c: Chan, n: u64) {
        for _ in 0..n {
            op(&self.sems, c, self.out);
        }
    }

    /// DLZS.S (the dlzs ablation: GEMM) of `rows` scaled query rows at `q` against the `w`
    /// keys of the K̂ tile at `kt`, into Â at `ahat`.
    fn predict_rows(
        &mut self,
        (ahat, q, kt): (SramRef, SramRef, SramRef),
        rows: u64,
        w: u64,
    ) -> Result<(), LowerError> {
        let (rows, k, n): (u32, u32, u32) = (
            self.n(rows, "rows")?,
            self.n(self.l.shape.head_dim, "d")?,
            self.n(w, "tile width")?,
        );
        self.out.push(if self.l.plan.ablate.dlzs {
            // The dlzs ablation: Â = Q·K̂ᵀ by multiplication on the PE array. Multiplies at the
            // activation precision stand in for the paper's 4-bit multiplier; the cycles are
            // the KVPE array's (emit_segment routes the prediction channels to it).
            Instr::Gemm {
                dst: ahat,
                a: q,
                b: kt,
                bias: None,
                m: rows,
                n,
                k,
                trans_b: true,
                acc: false,
                dt: self.l.shape.dt,
            }
        } else {
            Instr::DlzsS {
                dst: ahat,
                q,
                khat: kt,
                rows,
                k,
                n,
                qt: self.l.shape.dt,
                kt: self.l.shape.dt,
                ot: score_dt(self.l),
            }
        });
        Ok(())
    }

    /// SADS → RASS → GATHER K, V → (SUFA.BIAS) → SUFA.T into the tile's partials. Â must be
    /// ready for the selection engine (staged: reloaded; masked: published by VEC here).
    pub(super) fn select_and_attend(
        &mut self,
        runs: &[BlockGeo],
        qs: u64,
        scores: Predicted,
        p: Pick,
    ) -> Result<(), LowerError> {
        let (ca, masked) = (scores.ahat, scores.masked());
        let ready = match (self.l.plan.schedule, masked) {
            (Schedule::Staged, _) => Chan::Reload,
            (_, true) => Chan::AMasked,
            (_, false) => Chan::AHat,
        };
        if ready == Chan::AMasked {
            self.sems.publish(Chan::AMasked, self.out);
        }
        let g = &runs[0];
        let rows = block_rows(runs);
        let (rows16, sel16): (u16, u16) = (self.n(rows, "rows")?, self.n(p.sel, "sel")?);
        // A packed block lists the keys of all its runs' heads: run i's key j is row
        // `j + (its K − the first run's K) / row bytes` from the first run's K and V.
        let width = runs.len() as u64 * p.w;
        let ci = self.next(Chan::Idx);
        let idx = self.sram.at(Buf::Idx, ci);
        // Unmasked `cct` hands Â over run by run (`predict`).
        let by_run = ready == Chan::AHat;
        let handed = self.ahat_credits(runs.len());
        if !by_run {
            self.sems.take(ready, self.out);
        }
        for (i, (row, run)) in at_rows(runs).enumerate() {
            if by_run {
                self.repeat(Sems::take, ready, handed[i]);
            }
            if i == 0 {
                self.sems.acquire(Chan::Idx, self.out);
            }
            let base = p.k0 + (run.k - g.k) / self.row_bytes();
            self.sads_rows((ca, ci), (row, run.rows), base, p)?;
            if by_run {
                self.repeat(Sems::release, Chan::AHat, handed[i]);
            }
        }
        if !by_run {
            self.sems.release(Chan::AHat, self.out);
        }
        self.sems.publish(Chan::Idx, self.out);
        self.sems.take(Chan::Idx, self.out);
        let held = Some(Chan::Idx).filter(|&c| !self.held_for_bias(c));
        let n: u32 = self.n(width, "tile width")?;
        let (order, slot) = self.issue_rass(idx, (rows16, sel16, n), held)?;
        let listed = gathered(self.l, width, rows, p.sel);
        let ck = self.next(Chan::Kv);
        self.sems.take(Chan::Order, self.out);
        self.sems.acquire(Chan::Kv, self.out);
        let (gk, gv) = if self.l.plan.kv_gen.is_some() {
            let kv = self.generate_kv(g, order, listed, ck)?;
            self.sems.take(Chan::KvDone, self.out);
            kv
        } else {
            let kv = self.gather_kv(g, order, listed, ck)?;
            self.sems.take(Chan::Kv, self.out);
            kv
        };
        self.sems.take(Chan::Slot, self.out);
        let (dst, acc) = self.part_dst(p.tile);
        if let Some(cm) = p.bias {
            let bias = self.sram.at(Buf::UMask, cm);
            let held = [Chan::Mask, Chan::Idx];
            self.bias_prefix((bias, idx), (rows16, sel16), (p.w, p.k0), &held)?;
        }
        self.out.push(Instr::SufaT {
            dst,
            q: self.sram.at(Buf::QScaled, qs),
            k: gk,
            v: gv,
            slot,
            rows: rows16,
            sel: sel16,
            d: self.n(self.l.shape.head_dim, "d")?,
            slots: self.n(listed, "gathered rows")?,
            mode: p.mode,
            acc,
            dt: self.l.shape.dt,
        });
        self.sems.release(Chan::Kv, self.out);
        self.sems.release(Chan::Slot, self.out);
        Ok(())
    }

    /// SADS of block rows `[r0, r0 + rows)`: Â ring entry `ca` into Idx ring entry `ci`, the
    /// columns numbered from `base`.
    fn sads_rows(
        &mut self,
        (ca, ci): (u64, u64),
        (r0, rows): (u64, u64),
        base: u64,
        p: Pick,
    ) -> Result<(), LowerError> {
        let sc = elem(score_dt(self.l));
        let instr = Instr::Sads {
            idx: self.at_offset(self.sram.at(Buf::Idx, ci), r0 * p.sel * U32)?,
            top: self.at_offset(self.sram.at(Buf::Top, 0), r0 * 2 * sc)?,
            src: self.at_offset(self.sram.at(Buf::AHat, ca), r0 * p.w * sc)?,
            rows: self.n(rows, "rows")?,
            n: self.n(p.w, "tile width")?,
            sel: self.n(p.sel, "sel")?,
            base: self.n(base, "tile base")?,
            radius: self.l.plan.radius,
            dt: score_dt(self.l),
        };
        self.out.push(instr);
        Ok(())
    }

    /// Control: RASS over the SADS indices at `idx` (`rows × sel` of an `n`-key list) into
    /// the next Order/Slot ring entries; `held` is a channel the control engine releases once
    /// RASS has read it, before publishing the order and slots. Returns (order, slot).
    pub(super) fn issue_rass(
        &mut self,
        idx: SramRef,
        (rows, sel, n): (u16, u16, u32),
        held: Option<Chan>,
    ) -> Result<(SramRef, SramRef), LowerError> {
        let co = self.next(Chan::Order);
        self.next(Chan::Slot);
        let (order, slot) = (self.sram.at(Buf::Order, co), self.sram.at(Buf::Slot, co));
        self.sems.acquire(Chan::Order, self.out);
        self.sems.acquire(Chan::Slot, self.out);
        self.out.push(Instr::Rass {
            order,
            slot,
            idx,
            rows,
            sel,
            n,
            // The rass ablation: in-order issue, duplicates kept.
            reuse: !self.l.plan.ablate.rass,
        });
        if let Some(c) = held {
            self.sems.release(c, self.out);
        }
        self.sems.publish(Chan::Order, self.out);
        self.sems.publish(Chan::Slot, self.out);
        Ok((order, slot))
    }

    /// DMA: GATHER the `listed` K and V rows of the RASS `order` list into GK/GV ring entry
    /// `ck` (DMA has taken `Order` and acquired `Kv`), release the order list and publish the
    /// rows to SU-FA.
    pub(super) fn gather_kv(
        &mut self,
        g: &BlockGeo,
        order: SramRef,
        listed: u64,
        ck: u64,
    ) -> Result<(SramRef, SramRef), LowerError> {
        let (gk, gv) = (self.sram.at(Buf::GK, ck), self.sram.at(Buf::GV, ck));
        let rb: u32 = self.n(self.row_bytes(), "row bytes")?;
        let max_rows: u32 = self.n(listed, "gathered rows")?;
        for (dst, src) in [(gk, g.k), (gv, g.v)] {
            self.out.push(Instr::Gather {
                dst,
                src: DramAddr(src),
                idx: order,
                max_rows,
                row_bytes: rb,
                stride: rb,
            });
        }
        self.sems.release(Chan::Order, self.out);
        self.sems.publish(Chan::Kv, self.out);
        Ok((gk, gv))
    }
}
