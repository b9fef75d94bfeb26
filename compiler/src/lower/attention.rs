//! The instruction sequences of one (layer, batch, head, query block), per schedule.
//!
//! - `cct`: per key tile j: LD K̂ tile → DLZS.S → (VEC.ADD causal mask on the diagonal
//!   tiles) → SADS top-(k/Tc) with radius → RASS → GATHER K and V rows → SUFA.T sorted;
//!   then SUFA.SYNC over the block's tiles and ST.
//! - `staged`: LD the visible K̂ row → DLZS.S over it → (mask) → ST Â to DRAM and LD it
//!   back → whole-row SADS → RASS → GATHER → SUFA.T fa2 → A (the partials) to DRAM and back →
//!   SUFA.SYNC (1 tile) → ST.
//! - `dense`: per key tile: LD K, V and the slot table → SUFA.T fa2; SUFA.SYNC; ST.
//!
//! Every block first loads Q and scales it by 1/√d (VEC.AFFINE). Causal blocks skip the key
//! tiles entirely in their future; the last tile of a row may be partial (its width says so).

use std::collections::BTreeMap;

use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{Bcast, DType, DramAddr, Instr, Program, SufaMode};

use super::buffers::{budget, fit, ACT, F16, F32, U32};
use super::dram::DramLayout;
use super::sram::{Buf, SramLayout};
use super::sync::{Chan, Sems};
use super::{Layer, LowerError, ACT_DT};
use crate::schedule::Schedule;

/// Emits the whole program for `layers` whose inputs and outputs `dram` already holds.
pub fn emit_program(
    hw: &HwConfig,
    layers: &[Layer],
    dram: DramLayout,
) -> Result<Program, LowerError> {
    let f = fit(hw, layers)?;
    let sems = Sems::assign(&f.chans, hw.control.semaphores).ok_or_else(|| {
        LowerError::Module(format!(
            "the dataflow needs more than control.semaphores = {} semaphores",
            hw.control.semaphores
        ))
    })?;
    let mut e = Emitter {
        sram: f.sram,
        sems,
        dram,
        out: Vec::new(),
        seq: BTreeMap::new(),
    };
    e.sems.prime(&mut e.out);
    for l in layers {
        let rows = l.q_block.min(f.rows_cap);
        e.layer(l, rows)?;
    }
    e.out.push(Instr::Halt {});
    if e.dram.used() > hw.dram.capacity_bytes {
        return Err(LowerError::Module(format!(
            "the tensor table needs {} B of DRAM, more than dram.capacity_bytes ({})",
            e.dram.used(),
            hw.dram.capacity_bytes
        )));
    }
    Ok(Program {
        config_hash: hw.hash(),
        tensors: e.dram.tensors,
        instrs: e.out,
    })
}

/// One query block's geometry within a head.
#[derive(Clone, Copy)]
struct BlockGeo {
    /// Query rows of the block.
    rows: u64,
    /// Visible keys (all, or up to the block's last query when causal).
    n: u64,
    /// Base of the head's q/o rows, k rows, v rows in DRAM.
    q: u64,
    o: u64,
    k: u64,
    v: u64,
    /// Keys between the block's first query and its own position (causal offset of key 0).
    first_visible: i64,
}

struct Emitter {
    sram: SramLayout,
    sems: Sems,
    dram: DramLayout,
    out: Vec<Instr>,
    /// Items produced so far per channel (picks the ring entry).
    seq: BTreeMap<Chan, u64>,
}

fn narrow<T: TryFrom<u64>>(l: &Layer, v: u64, what: &str) -> Result<T, LowerError> {
    T::try_from(v).map_err(|_| LowerError::Op {
        op: "attention".into(),
        loc: l.name.clone(),
        message: format!("{what} = {v} exceeds its instruction field"),
    })
}

impl Emitter {
    fn next(&mut self, c: Chan) -> u64 {
        let s = self.seq.entry(c).or_default();
        *s += 1;
        *s - 1
    }

    fn layer(&mut self, l: &Layer, rows_cap: u64) -> Result<(), LowerError> {
        let group = l.heads / l.kv_heads.max(1);
        let offset = l.seq_k.saturating_sub(l.seq_q);
        let row_bytes = l.d * ACT;
        for b in 0..l.batch {
            for h in 0..l.heads {
                let g = h / group.max(1);
                let qh = ((b * l.heads + h) * l.seq_q) * row_bytes;
                let kh = ((b * l.kv_heads + g) * l.seq_k) * row_bytes;
                let mut q0 = 0;
                while q0 < l.seq_q {
                    let rows = rows_cap.min(l.seq_q - q0);
                    let n = if l.causal {
                        l.seq_k.min(q0 + rows + offset)
                    } else {
                        l.seq_k
                    };
                    let geo = BlockGeo {
                        rows,
                        n,
                        q: l.q + qh + q0 * row_bytes,
                        o: l.o + qh + q0 * row_bytes,
                        k: l.k + kh,
                        v: l.v + kh,
                        first_visible: (q0 + offset) as i64,
                    };
                    self.block(l, &geo)?;
                    q0 += rows;
                }
            }
        }
        Ok(())
    }

    fn block(&mut self, l: &Layer, g: &BlockGeo) -> Result<(), LowerError> {
        let predicts = l.schedule != Schedule::Dense;
        let qs = self.load_q(l, g, predicts)?;
        let tiles = match l.schedule {
            Schedule::Dense => self.dense_tiles(l, g, qs)?,
            Schedule::Cct => self.cct_tiles(l, g, qs)?,
            Schedule::Staged => self.staged(l, g, qs)?,
        };
        self.finish(l, g, qs, tiles)
    }

    /// LD Q, scale it; returns the ring entry of the scaled Q.
    fn load_q(&mut self, l: &Layer, g: &BlockGeo, predicts: bool) -> Result<u64, LowerError> {
        let (rows, rb): (u32, u32) = (
            narrow(l, g.rows, "rows")?,
            narrow(l, l.d * ACT, "row bytes")?,
        );
        let cr = self.next(Chan::QRaw);
        let cs = self.next(Chan::QSufa);
        if predicts {
            self.next(Chan::QDlzs);
        }
        let (raw, scaled) = (self.sram.at(Buf::Q, cr), self.sram.at(Buf::QScaled, cs));
        self.sems.acquire(Chan::QRaw, &mut self.out);
        self.out.push(Instr::Ld {
            dst: raw,
            src: DramAddr(g.q),
            rows,
            row_bytes: rb,
            stride: rb,
        });
        self.sems.publish(Chan::QRaw, &mut self.out);
        self.sems.take(Chan::QRaw, &mut self.out);
        self.sems.acquire(Chan::QSufa, &mut self.out);
        if predicts {
            self.sems.acquire(Chan::QDlzs, &mut self.out);
        }
        self.out.push(Instr::VecAffine {
            dst: scaled,
            a: raw,
            rows,
            cols: narrow(l, l.d, "d")?,
            mul: 1.0 / (l.d as f32).sqrt(),
            add: 0.0,
            dt: ACT_DT,
        });
        self.sems.release(Chan::QRaw, &mut self.out);
        self.sems.publish(Chan::QSufa, &mut self.out);
        if predicts {
            self.sems.publish(Chan::QDlzs, &mut self.out);
        }
        Ok(cs)
    }

    /// SUFA.SYNC of the block's partials and ST of the output.
    fn finish(&mut self, l: &Layer, g: &BlockGeo, _qs: u64, tiles: u64) -> Result<(), LowerError> {
        let co = self.next(Chan::Out);
        let dst = self.sram.at(Buf::Out, co);
        self.sems.acquire(Chan::Out, &mut self.out);
        self.out.push(Instr::SufaSync {
            dst,
            part: self.sram.at(Buf::Part, 0),
            rows: narrow(l, g.rows, "rows")?,
            tiles: narrow(l, tiles.max(1), "tiles")?,
            d: narrow(l, l.d, "d")?,
            dt: ACT_DT,
        });
        self.sems.release(Chan::QSufa, &mut self.out);
        self.sems.publish(Chan::Out, &mut self.out);
        self.sems.take(Chan::Out, &mut self.out);
        let rb = narrow(l, l.d * ACT, "row bytes")?;
        self.out.push(Instr::St {
            dst: DramAddr(g.o),
            src: dst,
            rows: narrow(l, g.rows, "rows")?,
            row_bytes: rb,
            stride: rb,
        });
        self.sems.release(Chan::Out, &mut self.out);
        Ok(())
    }

    fn part(&self, l: &Layer, g: &BlockGeo, tile: u64) -> sofa_ir::isa::SramRef {
        let base = self.sram.at(Buf::Part, 0);
        let off = tile * g.rows * (l.d + 2) * F32;
        sofa_ir::isa::SramRef::new(base.space, base.offset + off as u32)
    }

    /// Key tiles of the block: (first key, width), future tiles skipped.
    fn tiles(l: &Layer, g: &BlockGeo) -> Vec<(u64, u64)> {
        (0..g.n.div_ceil(l.bc))
            .map(|j| (j * l.bc, l.bc.min(g.n - j * l.bc)))
            .collect()
    }

    /// Whether the tile starting at `k0` of `width` keys has keys in some row's future, and
    /// the causal offset of its first key relative to the block's first query.
    fn diagonal(l: &Layer, g: &BlockGeo, k0: u64, width: u64) -> (bool, i64) {
        let delta = g.first_visible - k0 as i64;
        (
            l.causal && delta < width as i64 - 1,
            delta.min(width as i64 - 1),
        )
    }

    fn dense_tiles(&mut self, l: &Layer, g: &BlockGeo, qs: u64) -> Result<u64, LowerError> {
        let tiles = Self::tiles(l, g);
        let (d16, rows16): (u16, u16) = (narrow(l, l.d, "d")?, narrow(l, g.rows, "rows")?);
        let rb: u32 = narrow(l, l.d * ACT, "row bytes")?;
        self.sems.take(Chan::QSufa, &mut self.out);
        for (j, &(k0, w)) in tiles.iter().enumerate() {
            let (_, delta) = Self::diagonal(l, g, k0, w);
            let table = self
                .dram
                .slot_table(g.rows, w, delta)
                .ok_or_else(|| LowerError::Module("DRAM addresses overflow".into()))?;
            let c = self.next(Chan::DenseKv);
            let (kb, vb, sb) = (
                self.sram.at(Buf::DenseK, c),
                self.sram.at(Buf::VTile, c),
                self.sram.at(Buf::DenseSlot, c),
            );
            let w32: u32 = narrow(l, w, "tile width")?;
            self.sems.acquire(Chan::DenseKv, &mut self.out);
            self.out.push(Instr::Ld {
                dst: kb,
                src: DramAddr(g.k + k0 * l.d * ACT),
                rows: w32,
                row_bytes: rb,
                stride: rb,
            });
            self.out.push(Instr::Ld {
                dst: vb,
                src: DramAddr(g.v + k0 * l.d * ACT),
                rows: w32,
                row_bytes: rb,
                stride: rb,
            });
            let srb: u32 = narrow(l, w * U32, "slot row bytes")?;
            self.out.push(Instr::Ld {
                dst: sb,
                src: DramAddr(table),
                rows: rows16.into(),
                row_bytes: srb,
                stride: srb,
            });
            self.sems.publish(Chan::DenseKv, &mut self.out);
            self.sems.take(Chan::DenseKv, &mut self.out);
            let w16: u16 = narrow(l, w, "tile width")?;
            self.out.push(Instr::SufaT {
                dst: self.part(l, g, j as u64),
                q: self.sram.at(Buf::QScaled, qs),
                k: kb,
                v: vb,
                slot: sb,
                rows: rows16,
                sel: w16,
                d: d16,
                slots: w16,
                mode: SufaMode::Fa2,
                dt: ACT_DT,
            });
            self.sems.release(Chan::DenseKv, &mut self.out);
        }
        Ok(tiles.len() as u64)
    }

    fn cct_tiles(&mut self, l: &Layer, g: &BlockGeo, qs: u64) -> Result<u64, LowerError> {
        let tiles = Self::tiles(l, g);
        let per_tile = budget(l.keep, g.n).div_ceil(tiles.len().max(1) as u64);
        let rb: u32 = narrow(l, l.d * ACT, "row bytes")?;
        self.sems.take(Chan::QDlzs, &mut self.out);
        self.sems.take(Chan::QSufa, &mut self.out);
        let last = tiles.len().saturating_sub(1);
        for (j, &(k0, w)) in tiles.iter().enumerate() {
            let c = self.next(Chan::KHat);
            let kt = self.sram.at(Buf::KTile, c);
            self.sems.acquire(Chan::KHat, &mut self.out);
            self.out.push(Instr::Ld {
                dst: kt,
                src: DramAddr(g.k + k0 * l.d * ACT),
                rows: narrow(l, w, "tile width")?,
                row_bytes: rb,
                stride: rb,
            });
            self.sems.publish(Chan::KHat, &mut self.out);
            let (masked, ca) = self.predict(l, g, qs, (kt, c), k0, w, j == last)?;
            let sel = per_tile.min(w);
            self.select_and_attend(l, g, qs, ca, masked, k0, w, sel, SufaMode::Sorted, j as u64)?;
        }
        Ok(tiles.len() as u64)
    }

    /// DLZS.S of `w` keys against the scaled Q, then the causal mask when the keys reach
    /// into some row's future. Returns whether it was masked and Â's ring entry.
    #[allow(clippy::too_many_arguments)]
    fn predict(
        &mut self,
        l: &Layer,
        g: &BlockGeo,
        qs: u64,
        kt: (sofa_ir::isa::SramRef, u64),
        k0: u64,
        w: u64,
        last: bool,
    ) -> Result<(bool, u64), LowerError> {
        let (masked, delta) = Self::diagonal(l, g, k0, w);
        let ca = self.next(Chan::AHat);
        let ahat = self.sram.at(Buf::AHat, ca);
        self.sems.take(Chan::KHat, &mut self.out);
        self.sems.acquire(Chan::AHat, &mut self.out);
        self.out.push(Instr::DlzsS {
            dst: ahat,
            q: self.sram.at(Buf::QScaled, qs),
            khat: kt.0,
            rows: narrow(l, g.rows, "rows")?,
            k: narrow(l, l.d, "d")?,
            n: narrow(l, w, "tile width")?,
            qt: ACT_DT,
            kt: ACT_DT,
            ot: DType::F16,
        });
        self.sems.release(Chan::KHat, &mut self.out);
        if last {
            self.sems.release(Chan::QDlzs, &mut self.out);
        }
        if masked {
            let table = self
                .dram
                .causal_mask(g.rows, w, delta)
                .ok_or_else(|| LowerError::Module("DRAM addresses overflow".into()))?;
            self.sems.publish(Chan::AMask, &mut self.out);
            let cm = self.next(Chan::Mask);
            let mb = self.sram.at(Buf::Mask, cm);
            let mrb: u32 = narrow(l, w * F16, "mask row bytes")?;
            self.sems.acquire(Chan::Mask, &mut self.out);
            self.out.push(Instr::Ld {
                dst: mb,
                src: DramAddr(table),
                rows: narrow(l, g.rows, "rows")?,
                row_bytes: mrb,
                stride: mrb,
            });
            self.sems.publish(Chan::Mask, &mut self.out);
            self.sems.take(Chan::Mask, &mut self.out);
            self.sems.take(Chan::AMask, &mut self.out);
            self.out.push(Instr::VecAdd {
                dst: ahat,
                a: ahat,
                b: mb,
                rows: narrow(l, g.rows, "rows")?,
                cols: narrow(l, w, "tile width")?,
                bcast: Bcast::None,
                dt: DType::F16,
            });
            self.sems.release(Chan::Mask, &mut self.out);
        } else if l.schedule == Schedule::Cct {
            self.sems.publish(Chan::AHat, &mut self.out);
        }
        Ok((masked, ca))
    }

    /// SADS → RASS → GATHER K, V → SUFA.T into partial slot `tile`. Â must be ready for the
    /// selection engine (the caller published it on the right channel).
    #[allow(clippy::too_many_arguments)]
    fn select_and_attend(
        &mut self,
        l: &Layer,
        g: &BlockGeo,
        qs: u64,
        ca: u64,
        masked: bool,
        k0: u64,
        w: u64,
        sel: u64,
        mode: SufaMode,
        tile: u64,
    ) -> Result<(), LowerError> {
        let ready = match (l.schedule, masked) {
            (Schedule::Staged, _) => Chan::Reload,
            (_, true) => Chan::AMasked,
            (_, false) => Chan::AHat,
        };
        if ready != Chan::AHat && l.schedule == Schedule::Cct {
            self.sems.publish(Chan::AMasked, &mut self.out);
        }
        let (rows16, sel16): (u16, u16) = (narrow(l, g.rows, "rows")?, narrow(l, sel, "sel")?);
        let w32: u32 = narrow(l, w, "tile width")?;
        let ci = self.next(Chan::Idx);
        let idx = self.sram.at(Buf::Idx, ci);
        self.sems.take(ready, &mut self.out);
        self.sems.acquire(Chan::Idx, &mut self.out);
        self.out.push(Instr::Sads {
            idx,
            top: self.sram.at(Buf::Top, 0),
            src: self.sram.at(Buf::AHat, ca),
            rows: rows16,
            n: w32,
            sel: sel16,
            base: narrow(l, k0, "tile base")?,
            radius: l.radius,
            dt: DType::F16,
        });
        self.sems.release(Chan::AHat, &mut self.out);
        self.sems.publish(Chan::Idx, &mut self.out);
        let co = self.next(Chan::Order);
        self.next(Chan::Slot);
        let (order, slot) = (self.sram.at(Buf::Order, co), self.sram.at(Buf::Slot, co));
        self.sems.take(Chan::Idx, &mut self.out);
        self.sems.acquire(Chan::Order, &mut self.out);
        self.sems.acquire(Chan::Slot, &mut self.out);
        self.out.push(Instr::Rass {
            order,
            slot,
            idx,
            rows: rows16,
            sel: sel16,
            n: w32,
            reuse: true,
        });
        self.sems.release(Chan::Idx, &mut self.out);
        self.sems.publish(Chan::Order, &mut self.out);
        self.sems.publish(Chan::Slot, &mut self.out);
        let gathered = w.min(g.rows * sel);
        let ck = self.next(Chan::Kv);
        let (gk, gv) = (self.sram.at(Buf::GK, ck), self.sram.at(Buf::GV, ck));
        let rb: u32 = narrow(l, l.d * ACT, "row bytes")?;
        let max_rows: u32 = narrow(l, gathered, "gathered rows")?;
        self.sems.take(Chan::Order, &mut self.out);
        self.sems.acquire(Chan::Kv, &mut self.out);
        self.out.push(Instr::Gather {
            dst: gk,
            src: DramAddr(g.k),
            idx: order,
            max_rows,
            row_bytes: rb,
            stride: rb,
        });
        self.out.push(Instr::Gather {
            dst: gv,
            src: DramAddr(g.v),
            idx: order,
            max_rows,
            row_bytes: rb,
            stride: rb,
        });
        self.sems.release(Chan::Order, &mut self.out);
        self.sems.publish(Chan::Kv, &mut self.out);
        self.sems.take(Chan::Kv, &mut self.out);
        self.sems.take(Chan::Slot, &mut self.out);
        self.out.push(Instr::SufaT {
            dst: self.part(l, g, tile),
            q: self.sram.at(Buf::QScaled, qs),
            k: gk,
            v: gv,
            slot,
            rows: rows16,
            sel: sel16,
            d: narrow(l, l.d, "d")?,
            slots: narrow(l, gathered, "gathered rows")?,
            mode,
            dt: ACT_DT,
        });
        self.sems.release(Chan::Kv, &mut self.out);
        self.sems.release(Chan::Slot, &mut self.out);
        Ok(())
    }

    fn staged(&mut self, l: &Layer, g: &BlockGeo, qs: u64) -> Result<u64, LowerError> {
        let rb: u32 = narrow(l, l.d * ACT, "row bytes")?;
        self.sems.take(Chan::QDlzs, &mut self.out);
        self.sems.take(Chan::QSufa, &mut self.out);
        let c = self.next(Chan::KHat);
        let kt = self.sram.at(Buf::KTile, c);
        self.sems.acquire(Chan::KHat, &mut self.out);
        self.out.push(Instr::Ld {
            dst: kt,
            src: DramAddr(g.k),
            rows: narrow(l, g.n, "visible keys")?,
            row_bytes: rb,
            stride: rb,
        });
        self.sems.publish(Chan::KHat, &mut self.out);
        let (masked, ca) = self.predict(l, g, qs, (kt, c), 0, g.n, true)?;
        // Â to DRAM and back: the classic flow's stage boundary.
        let ahat = self.sram.at(Buf::AHat, ca);
        let spill = if masked {
            Chan::SpillAMasked
        } else {
            Chan::SpillA
        };
        self.sems.publish(spill, &mut self.out);
        self.sems.take(spill, &mut self.out);
        let (rows32, arb): (u32, u32) = (
            narrow(l, g.rows, "rows")?,
            narrow(l, g.n * F16, "Â row bytes")?,
        );
        let astride: u32 = narrow(l, l.seq_k * F16, "Â stride")?;
        self.out.push(Instr::St {
            dst: DramAddr(l.spill_ahat),
            src: ahat,
            rows: rows32,
            row_bytes: arb,
            stride: astride,
        });
        self.out.push(Instr::Ld {
            dst: ahat,
            src: DramAddr(l.spill_ahat),
            rows: rows32,
            row_bytes: arb,
            stride: astride,
        });
        self.sems.publish(Chan::Reload, &mut self.out);
        let sel = budget(l.keep, g.n);
        self.select_and_attend(l, g, qs, ca, masked, 0, g.n, sel, SufaMode::Fa2, 0)?;
        // A (the tile's scores, summarised as partials) to DRAM and back before the merge.
        self.sems.publish(Chan::SpillP, &mut self.out);
        self.sems.take(Chan::SpillP, &mut self.out);
        let part = self.part(l, g, 0);
        let prb: u32 = narrow(l, (l.d + 2) * F32, "partial row bytes")?;
        self.out.push(Instr::St {
            dst: DramAddr(l.spill_a),
            src: part,
            rows: rows32,
            row_bytes: prb,
            stride: prb,
        });
        self.out.push(Instr::Ld {
            dst: part,
            src: DramAddr(l.spill_a),
            rows: rows32,
            row_bytes: prb,
            stride: prb,
        });
        self.sems.publish(Chan::ReloadP, &mut self.out);
        self.sems.take(Chan::ReloadP, &mut self.out);
        Ok(1)
    }
}
