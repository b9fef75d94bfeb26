//! Dispatch from an [`Instr`] to its kernel: field unpacking only, no semantics.

use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{DType, Instr};

use super::predict::{self, DlzsTypes};
use super::vector::{self, BinOp, Mat, UnOp};
use super::{convert, dense, mem_ops, quant, select, sufa, Done, ExecError, ScoreShadows};
use crate::sim::memory::Memory;

/// The elementwise matrix of a vector instruction.
fn mat(rows: u32, cols: u32, dt: DType) -> Mat {
    Mat { rows, cols, dt }
}

/// What the engines hold between instructions, for the instruction being dispatched.
pub(super) struct Held<'a> {
    pub shadows: &'a ScoreShadows,
    /// The `SUFA.BIAS` tile a `SUFA.T` adds to its scores.
    pub bias: Option<&'a sufa::GatheredBias>,
}

/// Dispatch to the kernel of `instr` (instruction number `index`).
pub(super) fn run(
    index: usize,
    instr: &Instr,
    mem: &mut Memory,
    hw: &HwConfig,
    held: Held<'_>,
) -> Result<Done, ExecError> {
    use Instr as I;
    match *instr {
        I::Ld {
            dst,
            src,
            rows,
            row_bytes,
            stride,
        } => mem_ops::ld(mem, dst, src, (rows, row_bytes, stride)),
        I::St {
            dst,
            src,
            rows,
            row_bytes,
            stride,
        } => mem_ops::st(mem, dst, src, (rows, row_bytes, stride)),
        I::Gather {
            dst,
            src,
            idx,
            max_rows,
            row_bytes,
            stride,
        } => mem_ops::gather(mem, dst, src, idx, (max_rows, row_bytes, stride)),
        I::Copy { dst, src, bytes } => mem_ops::copy(mem, dst, src, bytes),
        I::DlzsK {
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
            let t = DlzsTypes {
                a: xt,
                b: wt,
                out: ot,
                rounding: hw.dlzs.rounding,
            };
            predict::dlzs_k(mem, (dst, x, w), (rows, k, n), t)
        }
        I::DlzsS {
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
            let t = DlzsTypes {
                a: qt,
                b: kt,
                out: ot,
                rounding: hw.dlzs.rounding,
            };
            predict::dlzs_s(mem, (dst, q, khat), (rows, k, n), t)
        }
        I::Sads {
            idx,
            top,
            src,
            rows,
            n,
            sel,
            base,
            radius,
            dt,
        } => {
            let shape = select::SadsShape {
                rows,
                n,
                sel,
                base,
                radius,
            };
            select::sads(mem, held.shadows, (idx, top, src), shape, dt)
        }
        I::Rass {
            order,
            slot,
            idx,
            rows,
            sel,
            n,
            reuse,
        } => select::rass(mem, (order, slot, idx), (rows, sel, n), reuse),
        I::Kvgen {
            dst,
            x,
            w,
            list,
            max_rows,
            k,
            n,
            acc,
            dt,
        } => sufa::kvgen(mem, (dst, x, w, list), (max_rows, k, n), acc, dt),
        I::SufaT {
            dst,
            q,
            k,
            v,
            slot,
            rows,
            sel,
            d,
            slots,
            mode,
            acc,
            dt,
        } => {
            let shape = sufa::TileShape {
                rows,
                sel,
                d,
                slots,
            };
            sufa::sufa_t(mem, (dst, q, k, v, slot), shape, (mode, acc, dt), held.bias)
        }
        I::SufaBias {
            bias,
            idx,
            rows,
            sel,
            n,
            base,
            dt,
        } => {
            let shape = sufa::BiasShape { rows, sel, n, base };
            let tile = sufa::sufa_bias(mem, index, (bias, idx), shape, dt)?;
            Ok(Done {
                bias: Some(tile),
                ..Done::default()
            })
        }
        I::SufaSync {
            dst,
            part,
            rows,
            tiles,
            d,
            dt,
        } => sufa::sufa_sync(mem, (dst, part), (rows, tiles, d), dt),
        I::Gemm {
            dst,
            a,
            b,
            bias,
            m,
            n,
            k,
            trans_b,
            acc,
            dt,
        } => dense::gemm(
            mem,
            dense::GemmArgs {
                dst,
                a,
                b,
                bias,
                m,
                n,
                k,
                trans_b,
                acc,
                dt,
            },
        ),
        I::GemmQ {
            dst,
            a,
            b,
            azp,
            bzp,
            m,
            n,
            k,
            trans_b,
            acc,
            at,
            bt,
        } => quant::gemm_q(
            mem,
            quant::GemmQArgs {
                dst,
                a,
                b,
                azp,
                bzp,
                m,
                n,
                k,
                trans_b,
                acc,
                at,
                bt,
            },
        ),
        // A host op needs the program's host-op table: the simulator's driver runs it.
        I::Host { op } => Err(ExecError::HostOp(op)),
        _ => run_vector(instr, mem),
    }
}

/// Dispatch of the vector unit's and the control instructions.
fn run_vector(instr: &Instr, mem: &mut Memory) -> Result<Done, ExecError> {
    use Instr as I;
    let bin = |mem: &mut Memory, op, dst, a, b, rows, cols, bcast, dt| {
        vector::binary(mem, op, (dst, a, b), mat(rows, cols, dt), bcast)
    };
    let un = |mem: &mut Memory, op, dst, a, rows, cols, dt| {
        vector::unary(mem, op, (dst, a), mat(rows, cols, dt))
    };
    match *instr {
        I::VecAdd {
            dst,
            a,
            b,
            rows,
            cols,
            bcast,
            dt,
        } => bin(mem, BinOp::Add, dst, a, b, rows, cols, bcast, dt),
        I::VecSub {
            dst,
            a,
            b,
            rows,
            cols,
            bcast,
            dt,
        } => bin(mem, BinOp::Sub, dst, a, b, rows, cols, bcast, dt),
        I::VecMul {
            dst,
            a,
            b,
            rows,
            cols,
            bcast,
            dt,
        } => bin(mem, BinOp::Mul, dst, a, b, rows, cols, bcast, dt),
        I::VecDiv {
            dst,
            a,
            b,
            rows,
            cols,
            bcast,
            dt,
        } => bin(mem, BinOp::Div, dst, a, b, rows, cols, bcast, dt),
        I::VecMax {
            dst,
            a,
            b,
            rows,
            cols,
            bcast,
            dt,
        } => bin(mem, BinOp::Max, dst, a, b, rows, cols, bcast, dt),
        I::VecCmp {
            dst,
            a,
            b,
            rows,
            cols,
            bcast,
            op,
            dt,
        } => vector::compare(mem, op, (dst, a, b), mat(rows, cols, dt), bcast),
        I::VecReduce {
            dst,
            a,
            rows,
            cols,
            op,
            dt,
        } => vector::reduce(mem, op, (dst, a), mat(rows, cols, dt)),
        I::VecCos {
            dst,
            a,
            rows,
            cols,
            dt,
        } => un(mem, UnOp::Cos, dst, a, rows, cols, dt),
        I::VecSin {
            dst,
            a,
            rows,
            cols,
            dt,
        } => un(mem, UnOp::Sin, dst, a, rows, cols, dt),
        I::VecSelect {
            dst,
            cond,
            a,
            b,
            rows,
            cols,
            dt,
        } => convert::select(mem, (dst, cond, a, b), mat(rows, cols, dt).len()?, dt),
        I::VecExp {
            dst,
            a,
            rows,
            cols,
            dt,
        } => un(mem, UnOp::Exp, dst, a, rows, cols, dt),
        I::VecErf {
            dst,
            a,
            rows,
            cols,
            dt,
        } => un(mem, UnOp::Erf, dst, a, rows, cols, dt),
        I::VecGelu {
            dst,
            a,
            rows,
            cols,
            dt,
        } => un(mem, UnOp::Gelu, dst, a, rows, cols, dt),
        I::VecGeluTanh {
            dst,
            a,
            rows,
            cols,
            dt,
        } => un(mem, UnOp::GeluTanh, dst, a, rows, cols, dt),
        I::VecSilu {
            dst,
            a,
            rows,
            cols,
            dt,
        } => un(mem, UnOp::Silu, dst, a, rows, cols, dt),
        I::VecRelu {
            dst,
            a,
            rows,
            cols,
            dt,
        } => un(mem, UnOp::Relu, dst, a, rows, cols, dt),
        I::VecTanh {
            dst,
            a,
            rows,
            cols,
            dt,
        } => un(mem, UnOp::Tanh, dst, a, rows, cols, dt),
        I::VecSigmoid {
            dst,
            a,
            rows,
            cols,
            dt,
        } => un(mem, UnOp::Sigmoid, dst, a, rows, cols, dt),
        I::VecSqrt {
            dst,
            a,
            rows,
            cols,
            dt,
        } => un(mem, UnOp::Sqrt, dst, a, rows, cols, dt),
        I::VecRecip {
            dst,
            a,
            rows,
            cols,
            dt,
        } => un(mem, UnOp::Recip, dst, a, rows, cols, dt),
        I::VecAffine {
            dst,
            a,
            rows,
            cols,
            mul,
            add,
            dt,
        } => un(mem, UnOp::Affine(mul, add), dst, a, rows, cols, dt),
        I::VecSoftmax {
            dst,
            a,
            rows,
            cols,
            dt,
        } => vector::softmax(mem, (dst, a), mat(rows, cols, dt)),
        I::VecLayerNorm {
            dst,
            x,
            gamma,
            beta,
            rows,
            cols,
            eps,
            dt,
        } => {
            let p = vector::Norm {
                dst,
                x,
                gamma,
                beta,
                eps,
                centered: true,
            };
            vector::normalize(mem, p, mat(rows, cols, dt))
        }
        I::VecRmsNorm {
            dst,
            x,
            gamma,
            rows,
            cols,
            eps,
            dt,
        } => {
            let p = vector::Norm {
                dst,
                x,
                gamma,
                beta: None,
                eps,
                centered: false,
            };
            vector::normalize(mem, p, mat(rows, cols, dt))
        }
        I::VecRope {
            dst,
            x,
            table,
            pos,
            rows,
            cols,
            table_rows,
            interleaved,
            dt,
        } => {
            let p = vector::Rope {
                dst,
                x,
                table,
                pos,
                table_rows,
                interleaved,
            };
            vector::rope(mem, p, mat(rows, cols, dt))
        }
        I::VecCvt {
            dst,
            a,
            rows,
            cols,
            from,
            to,
        } => convert::cvt(mem, (dst, a), mat(rows, cols, from).len()?, (from, to)),
        I::VecTranspose {
            dst,
            a,
            rows,
            cols,
            dt,
        } => convert::transpose(mem, (dst, a), (rows as usize, cols as usize), dt),
        I::VecMinMax {
            dst,
            a,
            rows,
            cols,
            acc,
            dt,
        } => quant::min_max_tile(mem, (dst, a), mat(rows, cols, dt), acc),
        I::VecQParam { scale, zp, src, qt } => quant::qparam(mem, (scale, zp, src), qt),
        I::VecQuant {
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
            let p = quant::QParams {
                scale,
                zp,
                bcast,
                from,
                to,
            };
            quant::quantize(mem, (dst, a), (rows, cols), p)
        }
        I::VecDequant {
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
            let p = quant::QParams {
                scale,
                zp,
                bcast,
                from,
                to,
            };
            quant::dequantize(mem, (dst, a), (rows, cols), p)
        }
        I::Signal { .. } | I::Wait { .. } | I::Halt {} => Ok(Done::default()),
        // The formal/memory/selection instructions are dispatched by `run`.
        _ => Err(ExecError::NotVector(instr.opcode())),
    }
}
