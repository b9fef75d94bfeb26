//! On-demand K/V (the paper's KVGEN, §III-A): K and V are never tensors in DRAM; the `cct`
//! tile loop generates them on chip from the layer input X.
//!
//! - Per KV head (when a block starts a new one): LD the head's `d` columns of W_k and W_v
//!   into the Weight SRAM, and its biases repeated over the listed rows (LD with stride 0).
//!   DMA issues these loads after the previous block's output `ST` (a deferred one is issued
//!   first), which waited for every instruction that read the previous head's weights, so
//!   they need no semaphore.
//! - Prediction: LD the key tile's X rows → `DLZS.K` (K̂ = X·Ŵ_k, Ŵ_k log-domain) → `DLZS.S`.
//!   The bias is left out of K̂: `q·b_k` is the same for every key of a row, so neither the
//!   top-k nor the radius test changes.
//! - Generation: GATHER the X rows RASS lists, COPY the order list and the bias rows beside
//!   them (DMA), then `KVGEN acc` of K and V onto the bias copies (KVPE), then SU-FA. The list
//!   is copied because DMA frees the RASS order buffer as soon as its gather is issued.

use sofa_ir::isa::{DramAddr, Instr, SramRef};

use super::{op_err, BlockGeo, Emitter};
use crate::lower::buffers::{elem, U32};
use crate::lower::sram::Buf;
use crate::lower::sync::Chan;
use crate::lower::{KvGen, LowerError};

impl Emitter<'_> {
    fn kv_gen(&self) -> Result<KvGen, LowerError> {
        self.l
            .kv_gen()
            .ok_or_else(|| op_err(self.l, "on-demand K/V step without a KvGen".into()))
    }

    /// Bytes of one X row.
    fn x_row(&self, g: &KvGen) -> u64 {
        g.hidden * elem(self.l.shape.dt)
    }

    /// DRAM address of key `k0`'s X row in the block's batch.
    fn x_at(&self, g: &KvGen, b: u64, k0: u64) -> u64 {
        g.x + (b * self.l.shape.seq_k + k0) * self.x_row(g)
    }

    /// DMA: the KV head's weights and bias rows, when the block starts another KV head.
    pub(super) fn load_head_weights(&mut self, geo: &BlockGeo) -> Result<(), LowerError> {
        let Some(g) = self.l.kv_gen() else {
            return Ok(());
        };
        let kh = geo.h / (self.l.shape.heads / self.l.shape.kv_heads);
        if self.kv_head == Some(kh) {
            return Ok(());
        }
        self.kv_head = Some(kh);
        // The weights are single buffers: their loads follow every ST of the previous head.
        self.flush_st();
        let act = elem(self.l.shape.dt);
        let col = kh * self.l.shape.head_dim * act;
        let (rows, rb, stride): (u32, u32, u32) = (
            self.n(g.hidden, "hidden")?,
            self.n(self.l.shape.head_dim * act, "head row bytes")?,
            self.n(g.w_cols * act, "weight row bytes")?,
        );
        for (buf, w) in [(Buf::Wk, g.wk), (Buf::Wv, g.wv)] {
            self.out.push(Instr::Ld {
                dst: self.sram.at(buf, 0),
                src: DramAddr(w + col),
                rows,
                row_bytes: rb,
                stride,
            });
        }
        let bias_rows: u32 = self.n(self.bias_rows, "listed rows")?;
        for (buf, b) in [(Buf::Bk, g.bk), (Buf::Bv, g.bv)] {
            if let Some(b) = b {
                self.out.push(Instr::Ld {
                    dst: self.sram.at(buf, 0),
                    src: DramAddr(b + col),
                    rows: bias_rows,
                    row_bytes: rb,
                    stride: 0,
                });
            }
        }
        Ok(())
    }

    /// DMA: LD the X rows of keys `[k0, k0 + w)` into XTile ring entry `c`.
    pub(super) fn load_x_tile(
        &mut self,
        geo: &BlockGeo,
        k0: u64,
        w: u64,
        c: u64,
    ) -> Result<(), LowerError> {
        let g = self.kv_gen()?;
        let xr: u32 = self.n(self.x_row(&g), "X row bytes")?;
        self.out.push(Instr::Ld {
            dst: self.sram.at(Buf::XTile, c),
            src: DramAddr(self.x_at(&g, geo.b, k0)),
            rows: self.n(w, "tile width")?,
            row_bytes: xr,
            stride: xr,
        });
        Ok(())
    }

    /// Predicting engine: K̂ of `w` keys from XTile entry `c` into `kt` (`DLZS.K`, or under
    /// the dlzs ablation a `GEMM` on the PE array).
    pub(super) fn predict_khat(&mut self, kt: SramRef, c: u64, w: u64) -> Result<(), LowerError> {
        let g = self.kv_gen()?;
        let x = self.sram.at(Buf::XTile, c);
        let w_k = self.sram.at(Buf::Wk, 0);
        let (rows, k, n): (u32, u32, u32) = (
            self.n(w, "tile width")?,
            self.n(g.hidden, "hidden")?,
            self.n(self.l.shape.head_dim, "d")?,
        );
        let dt = self.l.shape.dt;
        self.out.push(if self.l.plan.ablate.dlzs {
            Instr::Gemm {
                dst: kt,
                a: x,
                b: w_k,
                bias: None,
                m: rows,
                n,
                k,
                trans_b: false,
                acc: false,
                dt,
            }
        } else {
            Instr::DlzsK {
                dst: kt,
                x,
                w: w_k,
                rows,
                k,
                n,
                xt: dt,
                wt: dt,
                ot: dt,
            }
        });
        Ok(())
    }

    /// DMA then KVPE: the `listed` keys of the RASS `order` list generated into GK/GV ring
    /// entry `ck`. DMA has taken `Order` and acquired `Kv`; this releases `Order` and leaves
    /// `KvDone` published for SU-FA.
    pub(super) fn generate_kv(
        &mut self,
        geo: &BlockGeo,
        order: SramRef,
        listed: u64,
        ck: u64,
    ) -> Result<(SramRef, SramRef), LowerError> {
        let g = self.kv_gen()?;
        let (gx, list) = (self.sram.at(Buf::GX, ck), self.sram.at(Buf::GList, ck));
        let (gk, gv) = (self.sram.at(Buf::GK, ck), self.sram.at(Buf::GV, ck));
        let xr: u32 = self.n(self.x_row(&g), "X row bytes")?;
        let max_rows: u32 = self.n(listed, "listed rows")?;
        self.out.push(Instr::Gather {
            dst: gx,
            src: DramAddr(self.x_at(&g, geo.b, 0)),
            idx: order,
            max_rows,
            row_bytes: xr,
            stride: xr,
        });
        self.out.push(Instr::Copy {
            dst: list,
            src: order,
            bytes: self.n((1 + listed) * U32, "list bytes")?,
        });
        let bias_bytes: u32 = self.n(
            listed * self.l.shape.head_dim * elem(self.l.shape.dt),
            "bias bytes",
        )?;
        for (dst, buf, b) in [(gk, Buf::Bk, g.bk), (gv, Buf::Bv, g.bv)] {
            if b.is_some() {
                self.out.push(Instr::Copy {
                    dst,
                    src: self.sram.at(buf, 0),
                    bytes: bias_bytes,
                });
            }
        }
        self.sems.release(Chan::Order, self.out);
        self.sems.publish(Chan::KvX, self.out);
        self.sems.take(Chan::KvX, self.out);
        let (k, n): (u32, u16) = (
            self.n(g.hidden, "hidden")?,
            self.n(self.l.shape.head_dim, "d")?,
        );
        for (dst, w, b) in [(gk, Buf::Wk, g.bk), (gv, Buf::Wv, g.bv)] {
            self.out.push(Instr::Kvgen {
                dst,
                x: gx,
                w: self.sram.at(w, 0),
                list,
                max_rows,
                k,
                n,
                acc: b.is_some(),
                dt: self.l.shape.dt,
            });
        }
        self.sems.publish(Chan::KvDone, self.out);
        Ok((gk, gv))
    }
}
