//! Traffic and work of an instruction: the figures timing, energy and the report need.
//!
//! Bytes come from [`Instr::operands`], so they agree with what `Program::check` validated.
//! Operands sized by an index list's bound (`bounded`) are scaled to the real row count: an index
//! list itself is read as `4·(1 + count)` bytes, a row buffer as `traffic · count / bound`.
//!
//! Work (`ops`) counts a multiply-accumulate, shift-add, compare, exp or divide as one op:
//! DLZS `rows·n·k` shift-adds; SADS `rows·n` compares; RASS `rows·sel`; KVGEN `count·n·k` and
//! GEMM `m·n·k` MACs; SUFA.T `2d` MACs per selected key; SUFA.BIAS one fetch per entry
//! (`rows·sel`); SUFA.SYNC `rows·tiles·(d+2)` rescale
//! MACs plus `rows·d` divides; GEMM.Q `m·n·k` MACs; VEC.QPARAM 5; vector ops a fixed number
//! per element (1 elementwise, min/max, (de)quantization; 2 RoPE; 3 RMSNorm; 4 softmax;
//! 5 LayerNorm). `dense_ops` is the dense-equivalent: SUFA.T attending all
//! `slots` keys of every row, KVGEN generating all `max_rows` rows; else equal to `ops`.
//! `macs` are the model's multiply-accumulates among them: the ops of GEMM, KVGEN and SUFA.T.

use sofa_ir::hw::DynamicCounts;
use sofa_ir::isa::{Access, Instr, Mem, Operand};

use super::{ExecError, ExecOutcome};

/// `VEC.QPARAM`: clamp, subtract, two divides, round.
const QPARAM_OPS: u64 = 5;

/// Product of factors, checked.
fn prod(factors: &[u64]) -> Result<u64, ExecError> {
    factors
        .iter()
        .try_fold(1u64, |a, &b| a.checked_mul(b))
        .ok_or(ExecError::OpCount)
}

/// The static row bound of an instruction whose operands depend on an index list.
fn row_bound(instr: &Instr) -> Option<u64> {
    match instr {
        Instr::Gather { max_rows, .. } | Instr::Kvgen { max_rows, .. } => Some((*max_rows).into()),
        Instr::Rass {
            rows,
            sel,
            n,
            reuse,
            ..
        } => {
            let entries = u64::from(*rows) * u64::from(*sel);
            Some(if *reuse {
                entries.min((*n).into())
            } else {
                entries
            })
        }
        Instr::VecRope { rows, pos, .. } => pos.map(|_| (*rows).into()),
        _ => None,
    }
}

/// Whether operand `role` of `instr` is an index list (`[count][idx …]`).
fn is_list(instr: &Instr, role: &str) -> bool {
    matches!(
        (instr, role),
        (Instr::Gather { .. }, "idx")
            | (Instr::Kvgen { .. }, "list")
            | (Instr::Rass { .. }, "order")
            | (Instr::VecRope { .. }, "pos")
    )
}

/// Bytes an operand really moves given the run-time rows.
fn operand_bytes(instr: &Instr, op: &Operand, counts: &DynamicCounts) -> Result<u64, ExecError> {
    let Some(bound) = row_bound(instr).filter(|_| op.bounded) else {
        return Ok(op.traffic);
    };
    let rows = counts.rows.map_or(bound, |r| r.min(bound));
    if is_list(instr, op.role) {
        return prod(&[rows + 1, 4]);
    }
    if bound == 0 {
        return Ok(0);
    }
    let scaled = u128::from(op.traffic) * u128::from(rows) / u128::from(bound);
    u64::try_from(scaled).map_err(|_| ExecError::OpCount)
}

/// Add the traffic of every operand to `out`.
fn add_traffic(
    instr: &Instr,
    ops: &[Operand],
    counts: &DynamicCounts,
    out: &mut ExecOutcome,
) -> Result<(), ExecError> {
    for op in ops {
        let bytes = operand_bytes(instr, op, counts)?;
        let (reads, writes) = match op.access {
            Access::Read => (true, false),
            Access::Write => (false, true),
            Access::ReadWrite => (true, true),
        };
        let add = |acc: &mut u64| -> Result<(), ExecError> {
            *acc = acc.checked_add(bytes).ok_or(ExecError::OpCount)?;
            Ok(())
        };
        match op.mem {
            Mem::Sram(r) => {
                let i = usize::from(r.space.code());
                if reads {
                    add(&mut out.sram_read[i])?;
                }
                if writes {
                    add(&mut out.sram_written[i])?;
                }
            }
            Mem::Dram(_) => {
                if reads {
                    add(&mut out.dram_read)?;
                }
                if writes {
                    add(&mut out.dram_written)?;
                }
            }
        }
    }
    Ok(())
}

/// `(ops, dense_ops)` from the static shape and the run-time counts.
fn work(instr: &Instr, counts: &DynamicCounts) -> Result<(u64, u64), ExecError> {
    let rows_or = |bound: u64| counts.rows.map_or(bound, |r| r.min(bound));
    let same = |v: u64| Ok((v, v));
    match instr {
        Instr::DlzsK { rows, k, n, .. } | Instr::DlzsS { rows, k, n, .. } => {
            same(prod(&[(*rows).into(), (*n).into(), (*k).into()])?)
        }
        Instr::Sads { rows, n, .. } => same(prod(&[(*rows).into(), (*n).into()])?),
        Instr::Rass { rows, sel, .. } => same(prod(&[(*rows).into(), (*sel).into()])?),
        Instr::Kvgen { max_rows, k, n, .. } => {
            let bound = u64::from(*max_rows);
            let per_row = prod(&[(*k).into(), (*n).into()])?;
            Ok((prod(&[rows_or(bound), per_row])?, prod(&[bound, per_row])?))
        }
        Instr::SufaT {
            rows,
            sel,
            d,
            slots,
            ..
        } => {
            let per_key = 2 * u64::from(*d);
            Ok((
                prod(&[(*rows).into(), (*sel).into(), per_key])?,
                prod(&[(*rows).into(), (*slots).into(), per_key])?,
            ))
        }
        Instr::SufaBias { rows, sel, .. } => same(prod(&[(*rows).into(), (*sel).into()])?),
        Instr::SufaSync { rows, tiles, d, .. } => {
            let (rows, d) = (u64::from(*rows), u64::from(*d));
            let merge = prod(&[rows, (*tiles).into(), d + 2])?;
            same(merge.checked_add(rows * d).ok_or(ExecError::OpCount)?)
        }
        Instr::Gemm { m, n, k, .. } => same(prod(&[(*m).into(), (*n).into(), (*k).into()])?),
        Instr::GemmQ { m, n, k, .. } => same(prod(&[(*m).into(), (*n).into(), (*k).into()])?),
        Instr::VecQParam { .. } => same(QPARAM_OPS),
        Instr::VecRope {
            rows, cols, pos, ..
        } => {
            let r = if pos.is_some() {
                rows_or((*rows).into())
            } else {
                (*rows).into()
            };
            same(prod(&[2, r, (*cols).into()])?)
        }
        Instr::VecSoftmax { rows, cols, .. } => same(prod(&[4, (*rows).into(), (*cols).into()])?),
        Instr::VecLayerNorm { rows, cols, .. } => same(prod(&[5, (*rows).into(), (*cols).into()])?),
        Instr::VecRmsNorm { rows, cols, .. } => same(prod(&[3, (*rows).into(), (*cols).into()])?),
        Instr::VecReduce { rows, cols, .. } => same(prod(&[(*rows).into(), (*cols).into()])?),
        Instr::VecAdd { rows, cols, .. }
        | Instr::VecSub { rows, cols, .. }
        | Instr::VecMul { rows, cols, .. }
        | Instr::VecDiv { rows, cols, .. }
        | Instr::VecMax { rows, cols, .. }
        | Instr::VecSelect { rows, cols, .. }
        | Instr::VecExp { rows, cols, .. }
        | Instr::VecErf { rows, cols, .. }
        | Instr::VecGelu { rows, cols, .. }
        | Instr::VecGeluTanh { rows, cols, .. }
        | Instr::VecSilu { rows, cols, .. }
        | Instr::VecRelu { rows, cols, .. }
        | Instr::VecTanh { rows, cols, .. }
        | Instr::VecSigmoid { rows, cols, .. }
        | Instr::VecSqrt { rows, cols, .. }
        | Instr::VecRecip { rows, cols, .. }
        | Instr::VecCos { rows, cols, .. }
        | Instr::VecSin { rows, cols, .. }
        | Instr::VecCmp { rows, cols, .. }
        | Instr::VecAffine { rows, cols, .. }
        | Instr::VecCvt { rows, cols, .. }
        | Instr::VecMinMax { rows, cols, .. }
        | Instr::VecQuant { rows, cols, .. }
        | Instr::VecDequant { rows, cols, .. }
        | Instr::VecTranspose { rows, cols, .. } => same(prod(&[(*rows).into(), (*cols).into()])?),
        Instr::Ld { .. }
        | Instr::St { .. }
        | Instr::Gather { .. }
        | Instr::Copy { .. }
        | Instr::Signal { .. }
        | Instr::Wait { .. }
        | Instr::Halt {}
        | Instr::Host { .. } => Ok((0, 0)),
    }
}

/// The outcome of `instr` with `counts`; `ops` replaces the static work estimate when the
/// kernel measured it (SUFA.T's selected keys).
pub(super) fn outcome(
    instr: &Instr,
    operands: &[Operand],
    counts: DynamicCounts,
    ops: Option<u64>,
) -> Result<ExecOutcome, ExecError> {
    let mut out = ExecOutcome {
        counts,
        ..ExecOutcome::default()
    };
    add_traffic(instr, operands, &counts, &mut out)?;
    let (static_ops, dense) = work(instr, &counts)?;
    out.ops = ops.unwrap_or(static_ops);
    out.dense_ops = dense;
    out.macs = if is_model_mac(instr) { out.ops } else { 0 };
    Ok(out)
}

/// Whether an instruction's ops are multiply-accumulates of the model's own products (GEMM,
/// the integer GEMM.Q, KVGEN, SUFA.T's q·k and p·v): the chip side of the report's MAC share. DLZS shift-adds
/// (the prediction, work the chip adds) and vector ops are not.
fn is_model_mac(instr: &Instr) -> bool {
    matches!(
        instr,
        Instr::Gemm { .. } | Instr::GemmQ { .. } | Instr::Kvgen { .. } | Instr::SufaT { .. }
    )
}
