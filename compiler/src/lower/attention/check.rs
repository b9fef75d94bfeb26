//! What a layer must satisfy before its segment is emitted: sizes whose address arithmetic
//! cannot overflow, GQA grouping and types, and what the ablated mechanisms need.

use sofa_ir::dialect::attn::{KvGenPlan, Schedule};
use sofa_ir::hw::HwConfig;
use sofa_ir::isa::DType;

use super::op_err;
use crate::lower::buffers::{elem, score_dt, F32};
use crate::lower::{Layer, LowerError};

/// What the ablated mechanisms need: GEMM's single type for the dlzs ablation's scores, and
/// Temp SRAM for one query row's whole-row selection under the sads ablation (no silent
/// fallback to per-tile selection).
pub(super) fn ablations(hw: &HwConfig, l: &Layer) -> Result<(), LowerError> {
    if l.plan.schedule == Schedule::Dense {
        return Ok(());
    }
    let sdt = score_dt(l);
    if l.plan.ablate.dlzs && sdt != l.shape.dt {
        return Err(op_err(
            l,
            format!(
                "the dlzs ablation predicts with GEMM, whose scores are of the activation type \
                 {}, but the masked scores need {sdt}",
                l.shape.dt
            ),
        ));
    }
    if l.plan.schedule == Schedule::Cct && l.plan.ablate.sads {
        // One row of Â, plus the masks added onto it.
        let sc = elem(sdt);
        let per_key = sc + u64::from(l.shape.causal) * sc + u64::from(l.dram.mask.is_some()) * F32;
        let need = l.shape.seq_k.saturating_mul(per_key);
        if need > hw.sram.temp_bytes {
            return Err(op_err(
                l,
                format!(
                    "the sads ablation (whole-row selection) needs {need} B of Temp SRAM for \
                     one query row of {} keys, more than sram.temp_bytes = {}",
                    l.shape.seq_k, hw.sram.temp_bytes
                ),
            ));
        }
    }
    Ok(())
}

/// Sizes that make every address computation of the segment overflow-free, GQA grouping,
/// types.
pub(super) fn layer(l: &Layer) -> Result<(), LowerError> {
    let dims = [
        l.shape.batch,
        l.shape.heads,
        l.shape.kv_heads,
        l.shape.seq_q,
        l.shape.seq_k,
        l.shape.head_dim,
        l.plan.tc,
        l.bc(),
    ];
    if dims.contains(&0) || l.plan.q_block == 0 {
        return Err(op_err(l, format!("zero dimension in {dims:?}")));
    }
    if l.bc()
        .checked_mul(l.plan.tc)
        .is_none_or(|keys| keys < l.shape.seq_k)
    {
        return Err(op_err(
            l,
            format!(
                "{} tiles of {} keys do not cover {} keys",
                l.plan.tc,
                l.bc(),
                l.shape.seq_k
            ),
        ));
    }
    if !(l.plan.keep > 0.0 && l.plan.keep <= 1.0) {
        return Err(op_err(
            l,
            format!("keep ratio {} is not in (0, 1]", l.plan.keep),
        ));
    }
    if !l.shape.heads.is_multiple_of(l.shape.kv_heads) {
        return Err(op_err(
            l,
            format!(
                "{} heads do not group over {} kv heads",
                l.shape.heads, l.shape.kv_heads
            ),
        ));
    }
    if !matches!(l.shape.dt, DType::F32 | DType::F16 | DType::BF16) {
        return Err(op_err(
            l,
            format!("activation type {} is not a float", l.shape.dt),
        ));
    }
    let e = elem(l.shape.dt);
    let end = |base: u64, dims: &[u64]| {
        dims.iter()
            .try_fold(e, |a, &d| a.checked_mul(d))
            .and_then(|n| n.checked_add(base))
    };
    // q and o have the same shape.
    let rows = [
        l.shape.batch,
        l.shape.heads,
        l.shape.seq_q,
        l.shape.head_dim,
    ];
    let mut ok = end(l.dram.q, &rows).is_some()
        && end(l.dram.o, &rows).is_some()
        && end(
            l.dram.k.max(l.dram.v),
            &[
                l.shape.batch,
                l.shape.kv_heads,
                l.shape.seq_k,
                l.shape.head_dim,
            ],
        )
        .is_some();
    if let Some(m) = l.dram.mask {
        let span = [
            (l.shape.batch - 1).checked_mul(m.batch_stride),
            (l.shape.heads - 1).checked_mul(m.head_stride),
            (l.shape.seq_q - 1).checked_mul(m.row_stride),
            l.shape.seq_k.checked_mul(F32),
        ];
        ok &= span
            .into_iter()
            .try_fold(m.dram, |a, s| a.checked_add(s?))
            .is_some();
    }
    if let Some(g) = l.kv_gen() {
        if l.plan.schedule != Schedule::Cct {
            return Err(op_err(
                l,
                format!(
                    "on-demand K/V is lowered for the cct schedule only, not {}",
                    l.plan.schedule.name()
                ),
            ));
        }
        if g.hidden == 0
            || l.shape
                .kv_heads
                .checked_mul(l.shape.head_dim)
                .is_none_or(|c| c > g.w_cols)
        {
            return Err(op_err(
                l,
                format!(
                    "on-demand K/V: {} KV heads of {} columns do not fit W ({} columns, hidden {})",
                    l.shape.kv_heads, l.shape.head_dim, g.w_cols, g.hidden
                ),
            ));
        }
        let plan = l.plan.kv_gen.unwrap_or(KvGenPlan {
            hidden: g.hidden,
            bias_k: false,
            bias_v: false,
        });
        if plan.bias_k != g.bk.is_some() || plan.bias_v != g.bv.is_some() {
            return Err(op_err(
                l,
                "on-demand K/V: the plan's biases and the bias tensors in DRAM disagree".into(),
            ));
        }
        ok &= end(g.x, &[l.shape.batch, l.shape.seq_k, g.hidden]).is_some()
            && [Some(g.wk), Some(g.wv), g.bk, g.bv]
                .into_iter()
                .flatten()
                .all(|w| end(w, &[g.hidden, g.w_cols]).is_some());
    }
    if ok {
        Ok(())
    } else {
        Err(op_err(l, "DRAM addresses overflow".into()))
    }
}
