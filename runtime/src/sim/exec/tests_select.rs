//! SADS (radius, masks, ties, top values), RASS (the paper's toy example) and the recall shadow.

use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{Bcast, DType, Instr, SramRef, NO_INDEX};

use super::tests_common::{exec, exec_err, get, get_u32, memory, put, put_u32};
use super::{execute, FunctionalStats, RecallSample};

const NEG: f32 = f32::NEG_INFINITY;
const N: u32 = NO_INDEX;

fn sads(rows: u16, n: u32, sel: u16, base: u32, radius: f32, dt: DType) -> Instr {
    Instr::Sads {
        idx: SramRef::temp(0x400),
        top: SramRef::temp(0x800),
        src: SramRef::temp(0),
        rows,
        n,
        sel,
        base,
        radius,
        dt,
    }
}

#[test]
fn sads_selects_within_the_radius_skipping_masked_keys() {
    let mut m = memory(8);
    #[rustfmt::skip]
    let scores = [
        1.0, 5.0, NEG, 4.0, 5.0, 2.5,
        NEG, 0.5, NEG, NEG, NEG, NEG,
        NEG, NEG, NEG, NEG, NEG, NEG,
    ];
    put(&mut m, SramRef::temp(0), DType::F32, &scores);
    let out = exec(&mut m, &sads(3, 6, 4, 100, 2.0, DType::F32));
    // Row 0: max 5, keep ≥ 3: 5 (col 1), 5 (col 4, the tie goes to the lower column first), 4.
    #[rustfmt::skip]
    let want = [
        101, 104, 103, N,
        101, N, N, N,
        N, N, N, N,
    ];
    assert_eq!(get_u32(&m, SramRef::temp(0x400), 12), want);
    let top = get(&m, SramRef::temp(0x800), DType::F32, 6);
    assert_eq!(top, vec![5.0, 5.0, 0.5, NEG, NEG, NEG]);
    assert_eq!(out.ops, 18);
    // Without clipping the fourth-best (2.5, col 5) is selected too.
    exec(&mut m, &sads(1, 6, 4, 100, f32::INFINITY, DType::F32));
    assert_eq!(get_u32(&m, SramRef::temp(0x400), 4), [101, 104, 103, 105]);
}

#[test]
fn sads_on_integer_scores_masks_the_minimum() {
    let mut m = memory(8);
    let row: [i32; 4] = [i32::MIN, 3, 7, 7];
    let bytes: Vec<u8> = row.iter().flat_map(|v| v.to_le_bytes()).collect();
    m.temp[..16].copy_from_slice(&bytes);
    exec(&mut m, &sads(1, 4, 3, 0, 8.0, DType::I32));
    assert_eq!(get_u32(&m, SramRef::temp(0x400), 3), [2, 3, 1]);
    assert_eq!(get(&m, SramRef::temp(0x800), DType::I32, 2), vec![7.0, 7.0]);
    // Everything masked: no index, top values are the mask value.
    let masked: Vec<u8> = [i32::MIN; 4].iter().flat_map(|v| v.to_le_bytes()).collect();
    m.temp[..16].copy_from_slice(&masked);
    exec(&mut m, &sads(1, 4, 1, 0, 8.0, DType::I32));
    assert_eq!(get_u32(&m, SramRef::temp(0x400), 1), [N]);
    assert_eq!(&m.temp[0x800..0x804], &i32::MIN.to_le_bytes());
}

fn rass(rows: u16, sel: u16, n: u32, reuse: bool) -> Instr {
    Instr::Rass {
        order: SramRef::temp(0x100),
        slot: SramRef::temp(0x200),
        idx: SramRef::temp(0),
        rows,
        sel,
        n,
        reuse,
    }
}

#[test]
fn rass_orders_the_papers_toy_example_by_sharing() {
    // Paper Fig. 15: q0 and q2 need {2,3,4,7}, q1 {0,1,2,3}, q3 {4,5,6,7}.
    let mut m = memory(8);
    #[rustfmt::skip]
    put_u32(&mut m, SramRef::temp(0), &[
        2, 3, 4, 7,
        0, 1, 2, 3,
        2, 3, 4, 7,
        4, 5, 6, 7,
    ]);
    let out = exec(&mut m, &rass(4, 4, 8, true));
    // Shared by three queries first (k2, k3, k4, k7), then the exclusive ones, ties by index.
    assert_eq!(
        get_u32(&m, SramRef::temp(0x100), 9),
        [8, 2, 3, 4, 7, 0, 1, 5, 6]
    );
    #[rustfmt::skip]
    let slots = [
        0, 1, 2, 3,
        4, 5, 0, 1,
        0, 1, 2, 3,
        2, 6, 7, 3,
    ];
    assert_eq!(get_u32(&m, SramRef::temp(0x200), 16), slots);
    // 8 unique K rows instead of 16 entries.
    assert_eq!(out.counts.rows, Some(8));
    assert_eq!(out.sram_written[2], 4 * 9 + 4 * 16);
}

#[test]
fn rass_without_reuse_keeps_duplicates_in_row_major_order() {
    let mut m = memory(8);
    put_u32(&mut m, SramRef::temp(0), &[3, N, 3, 1]);
    let out = exec(&mut m, &rass(2, 2, 4, false));
    assert_eq!(get_u32(&m, SramRef::temp(0x100), 4), [3, 3, 3, 1]);
    assert_eq!(get_u32(&m, SramRef::temp(0x200), 4), [0, N, 1, 2]);
    assert_eq!(out.counts.rows, Some(3));
}

#[test]
fn rass_with_more_distinct_keys_than_the_tile_is_an_error() {
    let mut m = memory(8);
    put_u32(&mut m, SramRef::temp(0), &[0, 1, 2, N]);
    let e = exec_err(&mut m, &rass(2, 2, 2, true)).to_string();
    assert!(e.contains("3 distinct keys"), "{e}");
}

fn run(m: &mut super::Memory, stats: &mut FunctionalStats, i: &Instr) {
    execute(7, i, m, &HwConfig::default(), stats).expect("execute");
}

#[test]
fn recall_compares_sads_picks_with_the_exact_top_sel() {
    let mut m = memory(8);
    let mut stats = FunctionalStats::default();
    // q = [0.75, 1] snaps to [0.5, 1]. Keys: [4, 0] predicted 2 (exact 3), [0, 2.5] predicted
    // 2.5 (exact 2.5), [0, 1] predicted 1 (exact 1): prediction swaps the top two.
    put(&mut m, SramRef::token(0), DType::F32, &[0.75, 1.0]);
    put(
        &mut m,
        SramRef::token(0x40),
        DType::F32,
        &[4.0, 0.0, 0.0, 2.5, 0.0, 1.0],
    );
    let predict = Instr::DlzsS {
        dst: SramRef::temp(0),
        q: SramRef::token(0),
        khat: SramRef::token(0x40),
        rows: 1,
        k: 2,
        n: 3,
        qt: DType::F32,
        kt: DType::F32,
        ot: DType::F32,
    };
    run(&mut m, &mut stats, &predict);
    let pick = |sel| sads(1, 3, sel, 0, f32::INFINITY, DType::F32);
    run(&mut m, &mut stats, &pick(1));
    run(&mut m, &mut stats, &pick(2));
    // Masking key 0 keeps the shadow; the exact top-1 among keys 1, 2 is key 1: a hit.
    put(&mut m, SramRef::temp(0x100), DType::F32, &[NEG, 0.0, 0.0]);
    let mask = Instr::VecAdd {
        dst: SramRef::temp(0),
        a: SramRef::temp(0),
        b: SramRef::temp(0x100),
        rows: 1,
        cols: 3,
        bcast: Bcast::None,
        dt: DType::F32,
    };
    run(&mut m, &mut stats, &mask);
    run(&mut m, &mut stats, &pick(1));
    let sample = |selected, hits| RecallSample {
        instr: 7,
        selected,
        hits,
    };
    // A score bias added onto Â moves the exact scores too: with −2 on key 1 both the
    // prediction (0.5 vs 1) and the exact scores (0.5 vs 1) rank key 2 first, a hit.
    put(&mut m, SramRef::temp(0x100), DType::F32, &[0.0, -2.0, 0.0]);
    run(&mut m, &mut stats, &mask);
    run(&mut m, &mut stats, &pick(1));
    let want = vec![sample(1, 0), sample(2, 2), sample(1, 1), sample(1, 1)];
    assert_eq!(stats.recall, want);
    // Any other write into Â drops the shadow: no further samples.
    let scale = Instr::VecAffine {
        dst: SramRef::temp(4),
        a: SramRef::temp(4),
        rows: 1,
        cols: 1,
        mul: 2.0,
        add: 0.0,
        dt: DType::F32,
    };
    run(&mut m, &mut stats, &scale);
    assert!(stats.shadows.is_empty());
    run(&mut m, &mut stats, &pick(1));
    assert_eq!(stats.recall.len(), 4);
}
