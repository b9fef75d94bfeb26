//! Layout choices of [`super::fit`] and [`super::default_tiles`].

use super::*;
use crate::lower::SegmentPlan;
use sofa_ir::dialect::attn::AttnShape;

fn layer(schedule: Schedule, seq: u64, d: u64, tc: u64, fixed: bool) -> Layer {
    let shape = AttnShape {
        causal: true,
        ..AttnShape::new(1, 1, 1, seq, seq, d, DType::F16)
    };
    let plan = SegmentPlan {
        tc_fixed: fixed,
        ..SegmentPlan::new(schedule, 0.25, tc, 128.min(seq))
    };
    Layer::new("l", shape, plan)
}

#[test]
fn small_layers_keep_full_blocks_on_chip() {
    let hw = HwConfig::default();
    let f = fit(&hw, &layer(Schedule::Cct, 300, 32, 3, true)).unwrap();
    assert_eq!((f.rows_cap, f.merge), (128, Merge::OnChip));
    // f32 activations and a mask double the element sizes, still full blocks.
    let mut l = layer(Schedule::Cct, 300, 32, 3, true);
    l.shape.dt = DType::F32;
    l.dram.mask = Some(MaskRef::default());
    assert_eq!(score_dt(&l), DType::F32);
    assert_eq!(fit(&hw, &l).unwrap().rows_cap, 128);
}

/// The best on-chip layout: the largest row block whose partials fit.
fn best_on_chip(hw: &HwConfig, l: &Layer) -> Fit {
    let mut rows = l.plan.q_block;
    loop {
        for depth in [2, 1] {
            if let Ok(f) = place(hw, l, rows, depth, Merge::OnChip) {
                return f;
            }
        }
        rows = rows.div_ceil(2);
    }
}

#[test]
fn long_rows_spill_partials_when_that_saves_instructions() {
    let hw = HwConfig::default();
    // S = 4096, d = 128, 32 tiles: the 32 partial blocks of 130 f32 per row keep on-chip
    // merging to 8-row blocks; spilled partials allow larger blocks and fewer instructions.
    for schedule in [Schedule::Cct, Schedule::Dense] {
        let l = layer(schedule, 4096, 128, 32, true);
        let f = fit(&hw, &l).unwrap();
        let Merge::Spill { chunk, out_rows } = f.merge else {
            panic!("{schedule:?}: expected spilled partials, got {:?}", f.merge)
        };
        let on_chip = best_on_chip(&hw, &l);
        assert_eq!(on_chip.rows_cap, 8, "{schedule:?}");
        assert!(f.rows_cap > 8, "{schedule:?}: rows {}", f.rows_cap);
        assert!(estimate(&l, &f) < estimate(&l, &on_chip), "{schedule:?}");
        assert!(32 * chunk * 130 * 4 <= hw.sram.token_bytes);
        assert!(out_rows >= chunk && out_rows <= f.rows_cap);
    }
}

#[test]
fn blocks_with_fewer_tiles_merge_more_rows_at_once() {
    let l = layer(Schedule::Cct, 4096, 128, 32, true);
    // Room for 32 tiles x 2 rows: 2 rows of a full row of tiles, 8 rows of 8 tiles,
    // capped by the output buffer and the block.
    assert_eq!(chunk_rows(&l, 2, 64, 64, 32), 2);
    assert_eq!(chunk_rows(&l, 2, 64, 64, 8), 8);
    assert_eq!(chunk_rows(&l, 2, 4, 64, 8), 4);
    assert_eq!(chunk_rows(&l, 2, 64, 16, 1), 16);
}

#[test]
fn exact_layers_select_whole_tiles() {
    let mut l = layer(Schedule::Cct, 300, 32, 3, true);
    assert_eq!(max_sel(&l), 26);
    l.plan.keep = 1.0;
    assert_eq!(max_sel(&l), 100);
}

#[test]
fn default_tiles_keep_small_layers() {
    let hw = HwConfig::default();
    let mut small = layer(Schedule::Cct, 300, 32, 3, false);
    small.shape.masked = true;
    default_tiles(&hw, &mut small);
    assert_eq!((small.plan.tc, small.bc()), (3, 100));
}

#[test]
fn default_tiles_of_long_rows_minimise_instructions() {
    let hw = HwConfig::default();
    let mut l = layer(Schedule::Dense, 4096, 128, 32, false);
    let before = estimate(&l, &fit(&hw, &l).unwrap());
    default_tiles(&hw, &mut l);
    let after = estimate(&l, &fit(&hw, &l).unwrap());
    assert!(l.plan.tc.is_power_of_two() && l.bc() == 4096 / l.plan.tc);
    assert!(after <= before, "{after} > {before}");
}
