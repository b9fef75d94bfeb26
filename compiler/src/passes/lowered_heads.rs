//! The lowering as the cost model sees it: [`LoweredHeads`] implements
//! [`HeadLowering`] over [`crate::lower::emit_segment`], so `schedule` prices the programs
//! `lower` emits without either importing the other. Planners (the `cct-tile` pass, the
//! driver) hand it to their [`crate::schedule::Pricer`].

use sofa_ir::dialect::attn::{AttnShape, Schedule};
use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{DType, TensorKind};

use crate::lower::buffers::{default_tiles, fit};
use crate::lower::dram::DramLayout;
use crate::lower::{emit_segment, Layer, MaskRef, SegmentPlan};
use crate::schedule::cost::{EmittedHead, HeadLowering, HeadPlan};
use crate::schedule::{LayerShape, ScheduleError};

/// The type the priced heads compute in: the chip's 16-bit datapath (paper §VI).
pub const PRICED_DT: DType = DType::F16;

/// [`HeadLowering`] by the real lowering.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoweredHeads;

/// The lowering's layer for `kv_heads` KV heads of `h`, each with its group of query heads
/// (DRAM addresses unset; a score bias's mask sized in).
fn some_heads(h: &HeadPlan<'_>, kv_heads: u64) -> Layer {
    let s = h.shape;
    let heads = kv_heads.saturating_mul(s.group());
    let shape = AttnShape {
        causal: s.causal,
        window: s.window,
        masked: s.bias,
        bias: s.bias,
        ..AttnShape::new(1, heads, kv_heads, s.seq_q, s.seq_k, s.head_dim, PRICED_DT)
    };
    let tc = h.tc.clamp(1, s.seq_k.max(1));
    let plan = SegmentPlan {
        ablate: h.ablate,
        ..SegmentPlan::new(h.schedule, s.keep, tc, h.q_block)
    };
    let mut l = Layer::new("layer", shape, plan);
    if s.bias {
        l.dram.mask = Some(MaskRef::default());
    }
    l
}

fn lowering_error(e: crate::lower::LowerError) -> ScheduleError {
    ScheduleError::Lowering(std::sync::Arc::new(e))
}

impl HeadLowering for LoweredHeads {
    fn emit(
        &self,
        hw: &HwConfig,
        h: &HeadPlan<'_>,
        kv_heads: u64,
    ) -> Result<EmittedHead, ScheduleError> {
        let s = h.shape;
        let mut l = some_heads(h, kv_heads);
        let heads = l.shape.heads;
        let mut dram = DramLayout::default();
        let mut add = |name: &str, kind, heads, rows| {
            dram.add(
                name.into(),
                kind,
                PRICED_DT,
                vec![1, heads, rows, s.head_dim],
                vec![],
            )
            .ok_or(ScheduleError::DramOverflow)
        };
        l.dram.q = add("q", TensorKind::Input, heads, s.seq_q)?;
        l.dram.k = add("k", TensorKind::Input, kv_heads, s.seq_k)?;
        l.dram.v = add("v", TensorKind::Input, kv_heads, s.seq_k)?;
        l.dram.o = add("o", TensorKind::Output, heads, s.seq_q)?;
        if s.bias {
            // One [Sq, Sk] f32 bias per head: a model's broadcast mask costs the same loads.
            let dram = dram
                .add(
                    "mask".into(),
                    TensorKind::Input,
                    DType::F32,
                    vec![1, heads, s.seq_q, s.seq_k],
                    vec![],
                )
                .ok_or(ScheduleError::DramOverflow)?;
            l.dram.mask = Some(MaskRef {
                dram,
                head_stride: s.seq_q.saturating_mul(s.seq_k).saturating_mul(4),
                row_stride: s.seq_k.saturating_mul(4),
                ..MaskRef::default()
            });
        }
        let mut instrs = Vec::new();
        emit_segment(hw, &l, &mut dram, &mut instrs).map_err(lowering_error)?;
        Ok(EmittedHead {
            instrs,
            tensors: dram.tensors,
        })
    }

    fn block_positions(&self, hw: &HwConfig, h: &HeadPlan<'_>) -> Option<u64> {
        fit(hw, &some_heads(h, 1))
            .ok()
            .map(|f| f.rows_cap / f.stack.max(1))
    }

    fn packs(&self, hw: &HwConfig, h: &HeadPlan<'_>) -> bool {
        fit(hw, &some_heads(h, 2)).is_ok_and(|f| f.runs > 1)
    }

    fn default_tc(&self, hw: &HwConfig, s: &LayerShape, q_block: u64) -> u64 {
        let rows = u64::from(hw.block.query_rows).max(1);
        let h = HeadPlan {
            shape: s,
            schedule: Schedule::Cct,
            ablate: Default::default(),
            tc: s.seq_k.div_ceil(rows),
            q_block,
        };
        let mut l = some_heads(&h, 1);
        l.plan.tc_fixed = false;
        default_tiles(hw, &mut l);
        l.plan.tc
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::{Ablation, Candidate, KhatPlacement, KvSource, LayerCost, Pricer};

    fn shape(seq: u64, causal: bool, keep: f64) -> LayerShape {
        LayerShape {
            batch: 1,
            heads: 2,
            kv_heads: 2,
            seq_q: seq,
            seq_k: seq,
            head_dim: 64,
            hidden: 128,
            causal,
            window: None,
            keep,
            bias: false,
        }
    }

    fn gathered_cct(s: &LayerShape, tc: u64) -> LayerCost {
        let hw = HwConfig::default();
        let c = Candidate {
            tc,
            q_block: 128,
            khat: KhatPlacement::Spill,
        };
        Pricer::new(&hw, &LoweredHeads)
            .cost(s, Schedule::Cct, Ablation::default(), c, KvSource::Gathered)
            .unwrap()
    }

    #[test]
    fn one_tile_of_a_short_row_moves_q_k_gathers_and_o() {
        // 128 keys, one tile, 128 queries keeping 32 each: E = 128·(1 − 0.75^128) → all 128.
        let c = gathered_cct(&shape(128, false, 0.25), 1);
        let row = 128; // 64 f16
        assert_eq!(c.dram["q"].read, 2 * 128 * row);
        assert_eq!(c.dram["k_x"].read, 2 * (128 + 128) * row);
        assert_eq!(c.dram["v"].read, 2 * 128 * row);
        assert_eq!(c.dram["o"].written, 2 * 128 * row);
        assert_eq!(c.instrs["GATHER"], 4);
        assert_eq!(c.instrs["SUFA.T"], 2);
        // The latency is at least the busiest engine and the serial chain of one tile.
        let busiest = c.cycles.values().copied().max().unwrap();
        assert!(c.latency >= busiest, "{c:?}");
    }

    #[test]
    fn causal_blocks_skip_future_tiles_and_load_diagonal_tables() {
        let c = gathered_cct(&shape(256, true, 0.25), 2);
        // Blocks see 1 and 2 tiles of 128 keys: 1 of 4 tile slots skipped per head.
        assert_eq!(c.causal_tiles_skipped, 2);
        assert_eq!(c.instrs["SUFA.T"], 2 * 3);
        // One 128×128 f16 causal table per diagonal tile (one per block).
        assert_eq!(c.dram["tables"].read, 2 * 2 * 128 * 128 * 2);
    }

    #[test]
    fn the_lowering_default_tc_is_one_query_block_of_keys_when_it_fits() {
        let hw = HwConfig::default();
        let s = shape(512, false, 0.25);
        assert_eq!(LoweredHeads.default_tc(&hw, &s, 128), 4);
        let staged = HeadPlan {
            shape: &s,
            schedule: Schedule::Staged,
            ablate: Ablation::default(),
            tc: 1,
            q_block: 128,
        };
        // Staged takes its rows in chunks of 64 positions here.
        assert_eq!(LoweredHeads.block_positions(&hw, &staged), Some(64));
    }
}
