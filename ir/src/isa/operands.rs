//! The buffers each instruction reads and writes, with their byte sizes.
//!
//! One table serves three users: [`super::Program::check`] (every buffer inside its memory),
//! the simulator's traffic and energy accounting, and hazard analysis. Shapes follow the
//! operand tables of `isa.md`; `bounded` operands depend on an index list's run-time count, and
//! their sizes are the static upper bound.

use super::{Bcast, DType, DramAddr, Instr, SramRef};

/// How an instruction uses an operand.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    /// Read and written (accumulating GEMM/KVGEN).
    ReadWrite,
}

/// Where an operand lives.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Mem {
    Sram(SramRef),
    Dram(u64),
}

/// One buffer an instruction touches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operand {
    /// The field name (`dst`, `x`, ...).
    pub role: &'static str,
    pub access: Access,
    pub mem: Mem,
    /// Bytes spanned from the address; `None` when the location depends on data (GATHER's
    /// DRAM rows), so only the run-time can check it.
    pub extent: Option<u64>,
    /// Bytes moved (differs from `extent` for strided DRAM rows).
    pub traffic: u64,
    /// Sizes are upper bounds: the real count comes from an index list at run time.
    pub bounded: bool,
}

/// An operand whose byte size does not fit 64 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("size of operand `{role}` overflows 64 bits")]
pub struct OperandOverflow {
    /// The field name (`dst`, `x`, ...).
    pub role: &'static str,
}

/// Collects operands, failing on arithmetic overflow with the role named.
struct Ops(Vec<Operand>);

fn mul(a: u64, b: u64, role: &'static str) -> Result<u64, OperandOverflow> {
    a.checked_mul(b).ok_or(OperandOverflow { role })
}

fn add(a: u64, b: u64, role: &'static str) -> Result<u64, OperandOverflow> {
    a.checked_add(b).ok_or(OperandOverflow { role })
}

impl Ops {
    fn sram_bytes(
        &mut self,
        role: &'static str,
        access: Access,
        r: SramRef,
        bytes: u64,
        bounded: bool,
    ) {
        self.0.push(Operand {
            role,
            access,
            mem: Mem::Sram(r),
            extent: Some(bytes),
            traffic: bytes,
            bounded,
        });
    }

    /// A row-major `rows × cols` matrix of `dt`.
    fn mat(
        &mut self,
        role: &'static str,
        access: Access,
        r: SramRef,
        rows: u64,
        cols: u64,
        dt: DType,
    ) -> Result<(), OperandOverflow> {
        self.mat_b(role, access, r, rows, cols, dt, false)
    }

    #[allow(clippy::too_many_arguments)]
    fn mat_b(
        &mut self,
        role: &'static str,
        access: Access,
        r: SramRef,
        rows: u64,
        cols: u64,
        dt: DType,
        bounded: bool,
    ) -> Result<(), OperandOverflow> {
        let elems = mul(rows, cols, role)?;
        let bytes = dt.bytes_for(elems).ok_or(OperandOverflow { role })?;
        self.sram_bytes(role, access, r, bytes, bounded);
        Ok(())
    }

    /// A read `rows × cols` matrix of `dt` of which only `picked` elements are fetched (a
    /// gather by index): the whole matrix is checked, the picked elements are the traffic.
    fn gathered(
        &mut self,
        role: &'static str,
        r: SramRef,
        (rows, cols): (u64, u64),
        picked: u64,
        dt: DType,
    ) -> Result<(), OperandOverflow> {
        let extent = dt
            .bytes_for(mul(rows, cols, role)?)
            .ok_or(OperandOverflow { role })?;
        let traffic = dt.bytes_for(picked).ok_or(OperandOverflow { role })?;
        self.0.push(Operand {
            role,
            access: Access::Read,
            mem: Mem::Sram(r),
            extent: Some(extent),
            traffic,
            bounded: false,
        });
        Ok(())
    }

    /// An index list: a u32 count then up to `max` u32 entries.
    fn list(
        &mut self,
        role: &'static str,
        access: Access,
        r: SramRef,
        max: u64,
    ) -> Result<(), OperandOverflow> {
        let words = add(max, 1, role)?;
        self.sram_bytes(role, access, r, mul(words, 4, role)?, true);
        Ok(())
    }

    /// `rows` DRAM rows of `row_bytes`, `stride` apart.
    fn dram_rows(
        &mut self,
        role: &'static str,
        access: Access,
        addr: DramAddr,
        rows: u64,
        row_bytes: u64,
        stride: u64,
    ) -> Result<(), OperandOverflow> {
        let traffic = mul(rows, row_bytes, role)?;
        let extent = match rows {
            0 => 0,
            _ => add(mul(rows - 1, stride, role)?, row_bytes, role)?,
        };
        self.0.push(Operand {
            role,
            access,
            mem: Mem::Dram(addr.0),
            extent: Some(extent),
            traffic,
            bounded: false,
        });
        Ok(())
    }
}

fn out_access(acc: bool) -> Access {
    if acc {
        Access::ReadWrite
    } else {
        Access::Write
    }
}

/// Elements of the broadcast operand of a binary vector op.
fn bcast_shape(b: Bcast, rows: u64, cols: u64) -> (u64, u64) {
    match b {
        Bcast::None => (rows, cols),
        Bcast::Row => (1, cols),
        Bcast::Col => (rows, 1),
        Bcast::Scalar => (1, 1),
    }
}

impl Instr {
    /// Every buffer this instruction touches, in field order; `Err` names an operand whose size
    /// overflows 64 bits.
    pub fn operands(&self) -> Result<Vec<Operand>, OperandOverflow> {
        use Access::{Read as R, Write as W};
        let mut o = Ops(Vec::with_capacity(6));
        match self {
            Instr::Ld {
                dst,
                src,
                rows,
                row_bytes,
                stride,
            } => {
                o.mat(
                    "dst",
                    W,
                    *dst,
                    (*rows).into(),
                    (*row_bytes).into(),
                    DType::U8,
                )?;
                o.dram_rows(
                    "src",
                    R,
                    *src,
                    (*rows).into(),
                    (*row_bytes).into(),
                    (*stride).into(),
                )?;
            }
            Instr::St {
                dst,
                src,
                rows,
                row_bytes,
                stride,
            } => {
                o.dram_rows(
                    "dst",
                    W,
                    *dst,
                    (*rows).into(),
                    (*row_bytes).into(),
                    (*stride).into(),
                )?;
                o.mat(
                    "src",
                    R,
                    *src,
                    (*rows).into(),
                    (*row_bytes).into(),
                    DType::U8,
                )?;
            }
            Instr::Gather {
                dst,
                src,
                idx,
                max_rows,
                row_bytes,
                stride: _,
            } => {
                let rows = u64::from(*max_rows);
                o.mat_b("dst", W, *dst, rows, (*row_bytes).into(), DType::U8, true)?;
                o.0.push(Operand {
                    role: "src",
                    access: R,
                    mem: Mem::Dram(src.0),
                    extent: None,
                    traffic: mul(rows, (*row_bytes).into(), "src")?,
                    bounded: true,
                });
                o.list("idx", R, *idx, rows)?;
            }
            Instr::Copy { dst, src, bytes } => {
                o.sram_bytes("dst", W, *dst, (*bytes).into(), false);
                o.sram_bytes("src", R, *src, (*bytes).into(), false);
            }
            Instr::DlzsK {
                dst,
                x,
                w,
                rows,
                k,
                n,
                xt,
                wt,
                ot,
            } => {
                o.mat("dst", W, *dst, (*rows).into(), (*n).into(), *ot)?;
                o.mat("x", R, *x, (*rows).into(), (*k).into(), *xt)?;
                o.mat("w", R, *w, (*k).into(), (*n).into(), *wt)?;
            }
            Instr::DlzsS {
                dst,
                q,
                khat,
                rows,
                k,
                n,
                qt,
                kt,
                ot,
            } => {
                o.mat("dst", W, *dst, (*rows).into(), (*n).into(), *ot)?;
                o.mat("q", R, *q, (*rows).into(), (*k).into(), *qt)?;
                o.mat("khat", R, *khat, (*n).into(), (*k).into(), *kt)?;
            }
            Instr::Sads {
                idx,
                top,
                src,
                rows,
                n,
                sel,
                dt,
                ..
            } => {
                o.mat("idx", W, *idx, (*rows).into(), (*sel).into(), DType::U32)?;
                o.mat("top", W, *top, (*rows).into(), 2, *dt)?;
                o.mat("src", R, *src, (*rows).into(), (*n).into(), *dt)?;
            }
            Instr::Rass {
                order,
                slot,
                idx,
                rows,
                sel,
                n,
                reuse,
            } => {
                let entries = u64::from(*rows) * u64::from(*sel);
                let bound = if *reuse {
                    entries.min((*n).into())
                } else {
                    entries
                };
                o.list("order", W, *order, bound)?;
                o.mat("slot", W, *slot, (*rows).into(), (*sel).into(), DType::U32)?;
                o.mat("idx", R, *idx, (*rows).into(), (*sel).into(), DType::U32)?;
            }
            Instr::Kvgen {
                dst,
                x,
                w,
                list,
                max_rows,
                k,
                n,
                acc,
                dt,
            } => {
                let rows = u64::from(*max_rows);
                o.mat_b("dst", out_access(*acc), *dst, rows, (*n).into(), *dt, true)?;
                o.mat_b("x", R, *x, rows, (*k).into(), *dt, true)?;
                o.mat("w", R, *w, (*k).into(), (*n).into(), *dt)?;
                o.list("list", R, *list, rows)?;
            }
            Instr::SufaT {
                dst,
                q,
                k,
                v,
                slot,
                rows,
                sel,
                d,
                slots,
                mode: _,
                acc,
                dt,
            } => {
                let d = u64::from(*d);
                o.mat(
                    "dst",
                    out_access(*acc),
                    *dst,
                    (*rows).into(),
                    d + 2,
                    DType::F32,
                )?;
                o.mat("q", R, *q, (*rows).into(), d, *dt)?;
                o.mat("k", R, *k, (*slots).into(), d, *dt)?;
                o.mat("v", R, *v, (*slots).into(), d, *dt)?;
                o.mat("slot", R, *slot, (*rows).into(), (*sel).into(), DType::U32)?;
            }
            Instr::SufaSync {
                dst,
                part,
                rows,
                tiles,
                d,
                dt,
            } => {
                let d = u64::from(*d);
                o.mat("dst", W, *dst, (*rows).into(), d, *dt)?;
                let part_rows = u64::from(*tiles) * u64::from(*rows);
                o.mat("part", R, *part, part_rows, d + 2, DType::F32)?;
            }
            Instr::SufaBias {
                bias,
                idx,
                rows,
                sel,
                n,
                base: _,
                dt,
            } => {
                let (rows, sel) = (u64::from(*rows), u64::from(*sel));
                o.gathered("bias", *bias, (rows, (*n).into()), rows * sel, *dt)?;
                o.mat("idx", R, *idx, rows, sel, DType::U32)?;
            }
            Instr::Gemm {
                dst,
                a,
                b,
                bias,
                m,
                n,
                k,
                trans_b: _,
                acc,
                dt,
            } => {
                o.mat("dst", out_access(*acc), *dst, (*m).into(), (*n).into(), *dt)?;
                o.mat("a", R, *a, (*m).into(), (*k).into(), *dt)?;
                o.mat("b", R, *b, (*k).into(), (*n).into(), *dt)?;
                if let Some(bias) = bias {
                    o.mat("bias", R, *bias, 1, (*n).into(), *dt)?;
                }
            }
            Instr::GemmQ {
                dst,
                a,
                b,
                azp,
                bzp,
                m,
                n,
                k,
                acc,
                at,
                bt,
                ..
            } => {
                let (m, n, k) = (u64::from(*m), u64::from(*n), u64::from(*k));
                o.mat("dst", out_access(*acc), *dst, m, n, DType::I32)?;
                o.mat("a", R, *a, m, k, *at)?;
                o.mat("b", R, *b, k, n, *bt)?;
                if let Some(azp) = azp {
                    o.mat("azp", R, *azp, 1, 1, *at)?;
                }
                if let Some(bzp) = bzp {
                    o.mat("bzp", R, *bzp, 1, n, *bt)?;
                }
            }
            Instr::VecMinMax {
                dst,
                a,
                rows,
                cols,
                acc,
                dt,
            } => {
                o.mat("dst", out_access(*acc), *dst, 1, 2, DType::F32)?;
                o.mat("a", R, *a, (*rows).into(), (*cols).into(), *dt)?;
            }
            Instr::VecQParam { scale, zp, src, qt } => {
                o.mat("scale", W, *scale, 1, 1, DType::F32)?;
                o.mat("zp", W, *zp, 1, 1, *qt)?;
                o.mat("src", R, *src, 1, 2, DType::F32)?;
            }
            Instr::VecQuant {
                dst,
                a,
                scale,
                zp,
                rows,
                cols,
                bcast,
                from,
                to,
            } => {
                let (r, c) = ((*rows).into(), (*cols).into());
                let (pr, pc) = bcast_shape(*bcast, r, c);
                o.mat("dst", W, *dst, r, c, *to)?;
                o.mat("a", R, *a, r, c, *from)?;
                o.mat("scale", R, *scale, pr, pc, *from)?;
                if let Some(zp) = zp {
                    o.mat("zp", R, *zp, pr, pc, *to)?;
                }
            }
            Instr::VecDequant {
                dst,
                a,
                scale,
                zp,
                rows,
                cols,
                bcast,
                from,
                to,
            } => {
                let (r, c) = ((*rows).into(), (*cols).into());
                let (pr, pc) = bcast_shape(*bcast, r, c);
                o.mat("dst", W, *dst, r, c, *to)?;
                o.mat("a", R, *a, r, c, *from)?;
                o.mat("scale", R, *scale, pr, pc, *to)?;
                if let Some(zp) = zp {
                    o.mat("zp", R, *zp, pr, pc, *from)?;
                }
            }
            Instr::VecAdd {
                dst,
                a,
                b,
                rows,
                cols,
                bcast,
                dt,
            }
            | Instr::VecSub {
                dst,
                a,
                b,
                rows,
                cols,
                bcast,
                dt,
            }
            | Instr::VecMul {
                dst,
                a,
                b,
                rows,
                cols,
                bcast,
                dt,
            }
            | Instr::VecDiv {
                dst,
                a,
                b,
                rows,
                cols,
                bcast,
                dt,
            }
            | Instr::VecMax {
                dst,
                a,
                b,
                rows,
                cols,
                bcast,
                dt,
            } => {
                let (r, c) = ((*rows).into(), (*cols).into());
                o.mat("dst", W, *dst, r, c, *dt)?;
                o.mat("a", R, *a, r, c, *dt)?;
                let (br, bc) = bcast_shape(*bcast, r, c);
                o.mat("b", R, *b, br, bc, *dt)?;
            }
            Instr::VecCmp {
                dst,
                a,
                b,
                rows,
                cols,
                bcast,
                op: _,
                dt,
            } => {
                let (r, c) = ((*rows).into(), (*cols).into());
                o.mat("dst", W, *dst, r, c, DType::I1)?;
                o.mat("a", R, *a, r, c, *dt)?;
                let (br, bc) = bcast_shape(*bcast, r, c);
                o.mat("b", R, *b, br, bc, *dt)?;
            }
            Instr::VecReduce {
                dst,
                a,
                rows,
                cols,
                op: _,
                dt,
            } => {
                o.mat("dst", W, *dst, (*rows).into(), 1, *dt)?;
                o.mat("a", R, *a, (*rows).into(), (*cols).into(), *dt)?;
            }
            Instr::VecSelect {
                dst,
                cond,
                a,
                b,
                rows,
                cols,
                dt,
            } => {
                let (r, c) = ((*rows).into(), (*cols).into());
                o.mat("dst", W, *dst, r, c, *dt)?;
                o.mat("cond", R, *cond, r, c, DType::I1)?;
                o.mat("a", R, *a, r, c, *dt)?;
                o.mat("b", R, *b, r, c, *dt)?;
            }
            Instr::VecExp {
                dst,
                a,
                rows,
                cols,
                dt,
            }
            | Instr::VecErf {
                dst,
                a,
                rows,
                cols,
                dt,
            }
            | Instr::VecGelu {
                dst,
                a,
                rows,
                cols,
                dt,
            }
            | Instr::VecGeluTanh {
                dst,
                a,
                rows,
                cols,
                dt,
            }
            | Instr::VecSilu {
                dst,
                a,
                rows,
                cols,
                dt,
            }
            | Instr::VecRelu {
                dst,
                a,
                rows,
                cols,
                dt,
            }
            | Instr::VecTanh {
                dst,
                a,
                rows,
                cols,
                dt,
            }
            | Instr::VecSigmoid {
                dst,
                a,
                rows,
                cols,
                dt,
            }
            | Instr::VecSqrt {
                dst,
                a,
                rows,
                cols,
                dt,
            }
            | Instr::VecRecip {
                dst,
                a,
                rows,
                cols,
                dt,
            }
            | Instr::VecCos {
                dst,
                a,
                rows,
                cols,
                dt,
            }
            | Instr::VecSin {
                dst,
                a,
                rows,
                cols,
                dt,
            }
            | Instr::VecAffine {
                dst,
                a,
                rows,
                cols,
                dt,
                ..
            }
            | Instr::VecSoftmax {
                dst,
                a,
                rows,
                cols,
                dt,
            }
            | Instr::VecTranspose {
                dst,
                a,
                rows,
                cols,
                dt,
            } => {
                o.mat("dst", W, *dst, (*rows).into(), (*cols).into(), *dt)?;
                o.mat("a", R, *a, (*rows).into(), (*cols).into(), *dt)?;
            }
            Instr::VecCvt {
                dst,
                a,
                rows,
                cols,
                from,
                to,
            } => {
                o.mat("dst", W, *dst, (*rows).into(), (*cols).into(), *to)?;
                o.mat("a", R, *a, (*rows).into(), (*cols).into(), *from)?;
            }
            Instr::VecLayerNorm {
                dst,
                x,
                gamma,
                beta,
                rows,
                cols,
                eps: _,
                dt,
            } => {
                o.mat("dst", W, *dst, (*rows).into(), (*cols).into(), *dt)?;
                o.mat("x", R, *x, (*rows).into(), (*cols).into(), *dt)?;
                o.mat("gamma", R, *gamma, 1, (*cols).into(), *dt)?;
                if let Some(beta) = beta {
                    o.mat("beta", R, *beta, 1, (*cols).into(), *dt)?;
                }
            }
            Instr::VecRmsNorm {
                dst,
                x,
                gamma,
                rows,
                cols,
                eps: _,
                dt,
            } => {
                o.mat("dst", W, *dst, (*rows).into(), (*cols).into(), *dt)?;
                o.mat("x", R, *x, (*rows).into(), (*cols).into(), *dt)?;
                o.mat("gamma", R, *gamma, 1, (*cols).into(), *dt)?;
            }
            Instr::VecRope {
                dst,
                x,
                table,
                pos,
                rows,
                cols,
                table_rows,
                interleaved: _,
                dt,
            } => {
                let (r, c, b) = ((*rows).into(), (*cols).into(), pos.is_some());
                o.mat_b("dst", W, *dst, r, c, *dt, b)?;
                o.mat_b("x", R, *x, r, c, *dt, b)?;
                o.mat("table", R, *table, (*table_rows).into(), c, *dt)?;
                if let Some(pos) = pos {
                    o.list("pos", R, *pos, r)?;
                }
            }
            // A host op's tensors are in the host-op table (`HostOp`), not in the instruction.
            Instr::Signal { .. } | Instr::Wait { .. } | Instr::Halt {} | Instr::Host { .. } => {}
        }
        Ok(o.0)
    }
}
