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
    assert_eq!(f.rows_cap, 128);
    // f32 activations and a mask double the element sizes, still full blocks.
    let mut l = layer(Schedule::Cct, 300, 32, 3, true);
    l.shape.dt = DType::F32;
    l.dram.mask = Some(MaskRef::default());
    assert_eq!(score_dt(&l), DType::F32);
    assert_eq!(fit(&hw, &l).unwrap().rows_cap, 128);
}

#[test]
fn running_partials_do_not_grow_with_the_tile_count() {
    let hw = HwConfig::default();
    // S = 4096, d = 128: one running partial of 130 f32 per row of the block, whether the
    // row has 32 tiles or 64.
    for schedule in [Schedule::Cct, Schedule::Dense] {
        for tc in [32, 64] {
            let l = layer(schedule, 4096, 128, tc, true);
            let f = fit(&hw, &l).unwrap();
            assert_eq!(
                f.sram.at(Buf::Part, 1),
                f.sram.at(Buf::Part, 0),
                "one buffer"
            );
            let rings = Rings {
                depth: f.depth,
                ..Rings::SINGLE
            };
            let part = requests(&l, (f.rows_cap, 1), rings, None)
                .into_iter()
                .find(|r| r.buf == Buf::Part)
                .unwrap();
            assert_eq!(part.bytes, f.rows_cap * 130 * 4, "{schedule:?} Tc {tc}");
        }
    }
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
