//! Functional execution: every ISA instruction on real data, plus the traffic and work it did.
//!
//! [`execute`] runs one instruction against [`Memory`] with the semantics of `ir/src/isa/isa.md`
//! and returns an [`ExecOutcome`] (run-time counts for the cycle formula, bytes moved, ops);
//! [`static_outcome`] gives the same figures without data, for timing-only runs. Run-time
//! problems `Program::check` cannot see (a GATHER row outside DRAM, an index-list count above
//! its bound, a slot or RoPE position out of range) are [`ExecError`]s; the caller names the
//! instruction. Kernels live one concept per module: `mem_ops` (LD/ST/GATHER/COPY), `predict`
//! (DLZS), `select` (SADS/RASS), `sufa` (KVGEN/SUFA.T/SUFA.SYNC), `dense` (GEMM), `quant`
//! (GEMM.Q and the quantization VEC.*), `vector` and `convert` (VEC.*), with element coding in `data` and the recall shadow in `recall`.

mod account;
mod convert;
pub mod data;
mod dense;
mod dispatch;
mod error;
mod mem_ops;
pub mod predict;
mod quant;
mod recall;
mod select;
mod sufa;
mod vector;

use sofa_ir::hw::{DynamicCounts, HwConfig};
use sofa_ir::isa::{Access, Bcast, Instr, Mem, Operand, SramRef};

use super::memory::Memory;
pub use error::ExecError;
pub use recall::ScoreShadows;
pub use sufa::GatheredBias;

/// What one instruction did, for timing, traffic and energy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExecOutcome {
    /// Refines the cycle formula (rows actually gathered/generated, unique keys of RASS,
    /// SU-FA rescales on the worst row) — pass to `Instr::cycles_with`.
    pub counts: DynamicCounts,
    /// Bytes actually moved (bounded operands scaled to the real count).
    pub dram_read: u64,
    pub dram_written: u64,
    /// Indexed by `SramSpace::code()`.
    pub sram_read: [u64; 3],
    pub sram_written: [u64; 3],
    /// Arithmetic done (MACs count as 1 op each; exp/div as 1) and the dense-equivalent work
    /// (SUFA.T: rows·slots keys instead of the selected ones; DLZS: shift-adds).
    pub ops: u64,
    pub dense_ops: u64,
    /// Multiply-accumulates of the model's products among `ops` (GEMM, KVGEN, SUFA.T).
    pub macs: u64,
}

/// Functional statistics accumulated over a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FunctionalStats {
    /// SU-FA max-assurance violations (a later key's exact score beat the reference max).
    pub max_assurance_events: u64,
    /// Per SADS instruction index: (selected, of which also in the exact top-sel).
    pub recall: Vec<RecallSample>,
    /// Exact scores of live DLZS.S outputs (the recall shadow; functional state, not a figure).
    pub shadows: ScoreShadows,
    /// The bias tile a `SUFA.BIAS` left in the SU-FA engine for the next `SUFA.T` (functional
    /// state, not a figure).
    pub pending_bias: Option<GatheredBias>,
}

/// Recall of one SADS instruction against the exact scores.
#[derive(Debug, Clone, PartialEq)]
pub struct RecallSample {
    pub instr: usize,
    pub selected: u64,
    pub hits: u64,
}

/// What a kernel reports besides its memory effects.
#[derive(Debug, Default)]
pub(crate) struct Done {
    counts: DynamicCounts,
    /// Measured work, replacing the static estimate (SUFA.T).
    ops: Option<u64>,
    /// DLZS.S: exact scores for the recall shadow of `dst`.
    exact: Option<Vec<f32>>,
    /// SADS: (selected, hits) against a shadow.
    recall: Option<(u64, u64)>,
    /// SUFA.T: max-assurance events over all rows.
    events: u64,
    /// SUFA.BIAS: the tile it gathered.
    bias: Option<GatheredBias>,
}

/// Execute `instr` (instruction number `index`) on `mem`.
pub fn execute(
    index: usize,
    instr: &Instr,
    mem: &mut Memory,
    hw: &HwConfig,
    stats: &mut FunctionalStats,
) -> Result<ExecOutcome, ExecError> {
    let operands = instr.operands()?;
    // SUFA.T consumes the pending bias; the prefix rule keeps anything else from seeing one.
    let bias = match instr {
        Instr::SufaT { .. } => stats.pending_bias.take(),
        _ => None,
    };
    let held = dispatch::Held {
        shadows: &stats.shadows,
        bias: bias.as_ref(),
    };
    let addend = shadow_addend(instr, mem, &stats.shadows)?;
    let mut done = dispatch::run(index, instr, mem, hw, held)?;
    if let Some((at, values)) = addend {
        stats.shadows.add_onto(at, &values);
    }
    if let Some(tile) = done.bias.take() {
        stats.pending_bias = Some(tile);
    }
    let out = account::outcome(instr, &operands, done.counts, done.ops)?;
    track_shadows(instr, &operands, done.exact, &mut stats.shadows);
    stats.max_assurance_events += done.events;
    if let Some((selected, hits)) = done.recall {
        stats.recall.push(RecallSample {
            instr: index,
            selected,
            hits,
        });
    }
    Ok(out)
}

/// Static (timing-only) traffic/ops of an instruction with the given counts (no data).
pub fn static_outcome(instr: &Instr, counts: &DynamicCounts) -> Result<ExecOutcome, ExecError> {
    account::outcome(instr, &instr.operands()?, *counts, None)
}

/// The tile a `VEC.ADD` puts onto a shadowed Â (the causal table, the op's mask or score
/// bias), so the exact scores get it too and recall ranks keys by what SADS should select on.
/// Read before the add runs (`b` could alias `dst`).
fn shadow_addend(
    instr: &Instr,
    mem: &Memory,
    shadows: &ScoreShadows,
) -> Result<Option<(SramRef, Vec<f32>)>, ExecError> {
    let Instr::VecAdd {
        dst,
        a,
        b,
        rows,
        cols,
        bcast: Bcast::None,
        dt,
    } = *instr
    else {
        return Ok(None);
    };
    let shape = (rows as usize, cols as usize);
    match shadows.get(dst) {
        Some(sh) if dst == a && (sh.rows, sh.n) == shape => {
            Ok(Some((dst, data::load_f32(mem, b, dt, sh.rows * sh.n)?)))
        }
        _ => Ok(None),
    }
}

/// Drop shadows overwritten by `instr`, then record a DLZS.S's exact scores.
fn track_shadows(
    instr: &Instr,
    operands: &[Operand],
    exact: Option<Vec<f32>>,
    shadows: &mut ScoreShadows,
) {
    // A mask added onto the predicted buffer keeps its shadow (masked keys are skipped).
    let keep = match instr {
        Instr::VecAdd { dst, a, .. } if dst == a => Some(*dst),
        _ => None,
    };
    for op in operands.iter().filter(|o| o.access != Access::Read) {
        if let (Mem::Sram(r), Some(len)) = (op.mem, op.extent) {
            shadows.invalidate(r.space, r.offset.into(), len, keep);
        }
    }
    if let (
        Instr::DlzsS {
            dst, rows, n, ot, ..
        },
        Some(scores),
    ) = (instr, exact)
    {
        let (rows, n) = (*rows as usize, *n as usize);
        let bytes = ot.bytes_for((rows * n) as u64).unwrap_or(u64::MAX);
        shadows.insert(
            *dst,
            recall::Shadow {
                bytes,
                rows,
                n,
                scores,
            },
        );
    }
}

#[cfg(test)]
mod tests_common;
#[cfg(test)]
mod tests_compute;
#[cfg(test)]
mod tests_mem;
#[cfg(test)]
mod tests_quant;
#[cfg(test)]
mod tests_select;
#[cfg(test)]
mod tests_sufa;
#[cfg(test)]
mod tests_vector;
