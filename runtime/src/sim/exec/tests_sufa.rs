//! SUFA.T (sorted vs fa2 vs a naive reference, max assurance) and SUFA.SYNC merging.

use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{DType, Instr, SramRef, SufaMode, NO_INDEX};

use super::tests_common::{assert_close, exec_err, get, memory, put, put_u32};
use super::{execute, ExecError, FunctionalStats, GatheredBias, Memory};

const N: u32 = NO_INDEX;
const D: usize = 4;
const SLOTS: usize = 5;

/// Scores of q rows against key column 0 / 1 (see `setup`).
const KEY_COL0: [f32; SLOTS] = [3.0, 1.0, 0.5, 2.0, -1.0];
const KEY_COL1: [f32; SLOTS] = [0.1, 0.2, 0.7, -0.3, 0.4];

/// Slots per row: row 0 meets a larger score after its first two keys (one max-assurance
/// event), row 1 has two keys, row 2 none, row 3 two events.
#[rustfmt::skip]
const SLOT_TABLE: [u32; 16] = [
    1, 3, 0, 4,
    2, N, 4, N,
    N, N, N, N,
    4, 2, 1, 0,
];

fn v_row(i: usize) -> [f32; D] {
    let i = i as f32;
    [i, 1.0 - 0.5 * i, 0.25 * i * i, -i]
}

fn setup() -> Memory {
    let mut m = memory(8);
    #[rustfmt::skip]
    let q = [
        1.0, 0.0, 0.0, 0.0,
        0.0, 1.0, 0.0, 0.0,
        0.5, 0.5, 0.0, 0.0,
        1.0, 0.0, 0.0, 0.0,
    ];
    put(&mut m, SramRef::token(0), DType::F32, &q);
    let k: Vec<f32> = (0..SLOTS)
        .flat_map(|i| [KEY_COL0[i], KEY_COL1[i], 0.0, 0.0])
        .collect();
    put(&mut m, SramRef::token(0x100), DType::F32, &k);
    let v: Vec<f32> = (0..SLOTS).flat_map(v_row).collect();
    put(&mut m, SramRef::token(0x200), DType::F32, &v);
    put_u32(&mut m, SramRef::temp(0), &SLOT_TABLE);
    m
}

fn tile(dst: u32, slot: u32, sel: u16, mode: SufaMode) -> Instr {
    tile_acc(dst, slot, sel, mode, false)
}

fn tile_acc(dst: u32, slot: u32, sel: u16, mode: SufaMode, acc: bool) -> Instr {
    Instr::SufaT {
        dst: SramRef::temp(dst),
        q: SramRef::token(0),
        k: SramRef::token(0x100),
        v: SramRef::token(0x200),
        slot: SramRef::temp(slot),
        rows: 4,
        sel,
        d: D as u16,
        slots: SLOTS as u16,
        mode,
        acc,
        dt: DType::F32,
    }
}

fn sync(part: u32, tiles: u16) -> Instr {
    Instr::SufaSync {
        dst: SramRef::temp(0x800),
        part: SramRef::temp(part),
        rows: 4,
        tiles,
        d: D as u16,
        dt: DType::F32,
    }
}

/// softmax(q·Kᵀ)·V over each row's valid slots, in f64; zeros for an empty row.
fn naive() -> Vec<f32> {
    naive_biased(&|_, _| 0.0)
}

/// [`naive`] with `bias(row, slot)` added to each score; keys biased to −inf are skipped.
fn naive_biased(bias: &dyn Fn(usize, usize) -> f64) -> Vec<f32> {
    let q = [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [1.0, 0.0]];
    let mut out = Vec::new();
    for (r, qr) in q.iter().enumerate() {
        let keys: Vec<usize> = SLOT_TABLE[r * 4..r * 4 + 4]
            .iter()
            .filter(|&&s| s != N && bias(r, s as usize) != f64::NEG_INFINITY)
            .map(|&s| s as usize)
            .collect();
        let s: Vec<f64> = keys
            .iter()
            .map(|&k| qr[0] * f64::from(KEY_COL0[k]) + qr[1] * f64::from(KEY_COL1[k]) + bias(r, k))
            .collect();
        let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let p: Vec<f64> = s.iter().map(|x| (x - max).exp()).collect();
        let l: f64 = p.iter().sum();
        for j in 0..D {
            let o: f64 = keys
                .iter()
                .zip(&p)
                .map(|(&k, &pk)| pk * f64::from(v_row(k)[j]))
                .sum();
            out.push(if keys.is_empty() { 0.0 } else { (o / l) as f32 });
        }
    }
    out
}

fn run(m: &mut Memory, stats: &mut FunctionalStats, i: &Instr) -> super::ExecOutcome {
    execute(0, i, m, &HwConfig::default(), stats).expect("execute")
}

#[test]
fn sorted_and_fa2_match_the_naive_softmax_and_count_max_assurance() {
    let want = naive();
    for (mode, events) in [(SufaMode::Sorted, 3), (SufaMode::Fa2, 0)] {
        let mut m = setup();
        let mut stats = FunctionalStats::default();
        let out = run(&mut m, &mut stats, &tile(0x100, 0, 4, mode));
        run(&mut m, &mut stats, &sync(0x100, 1));
        assert_close(&get(&m, SramRef::temp(0x800), DType::F32, 16), &want, 1e-6);
        assert_eq!(stats.max_assurance_events, events, "{mode:?}");
        // Row 3 needs two rescales: the critical row for the cycle formula.
        assert_eq!(out.counts.rescales, if events > 0 { 2 } else { 0 });
        // 10 selected keys × 2d MACs vs 4 rows × 5 slots × 2d.
        assert_eq!((out.ops, out.dense_ops), (80, 160));
    }
}

#[test]
fn sorted_partials_use_the_first_two_keys_as_reference_max() {
    let mut m = setup();
    run(
        &mut m,
        &mut FunctionalStats::default(),
        &tile(0x100, 0, 4, SufaMode::Sorted),
    );
    let p = get(&m, SramRef::temp(0x100), DType::F32, 4 * (D + 2));
    // Row 1: keys 2 (score 0.7) and 4 (0.4): m = 0.7, l = 1 + e^-0.3.
    assert_eq!(p[6], 0.7);
    assert_close(&[p[7]], &[1.0 + (-0.3f32).exp()], 1e-6);
    // Row 0 was rescaled to its true max 3; row 2 is empty: (−inf, 0, 0…).
    assert_eq!(p[0], 3.0);
    assert_eq!(&p[12..18], &[f32::NEG_INFINITY, 0.0, 0.0, 0.0, 0.0, 0.0]);
}

#[test]
fn sync_of_two_tiles_equals_the_one_tile_result() {
    let mut m = setup();
    let mut stats = FunctionalStats::default();
    run(&mut m, &mut stats, &tile(0x100, 0, 4, SufaMode::Sorted));
    run(&mut m, &mut stats, &sync(0x100, 1));
    let one = get(&m, SramRef::temp(0x800), DType::F32, 16);
    // The same keys split over two tiles of two slots each, plus an empty third tile.
    let halves: Vec<u32> = (0..4)
        .flat_map(|r| SLOT_TABLE[r * 4..r * 4 + 2].to_vec())
        .chain((0..4).flat_map(|r| SLOT_TABLE[r * 4 + 2..r * 4 + 4].to_vec()))
        .chain([N; 8])
        .collect();
    put_u32(&mut m, SramRef::temp(0x40), &halves);
    let block = (4 * (D + 2) * 4) as u32;
    for t in 0..3 {
        run(
            &mut m,
            &mut stats,
            &tile(0x200 + t * block, 0x40 + t * 32, 2, SufaMode::Sorted),
        );
    }
    run(&mut m, &mut stats, &sync(0x200, 3));
    let two = get(&m, SramRef::temp(0x800), DType::F32, 16);
    assert_close(&two, &one, 1e-6);
    assert_eq!(&two[8..12], &[0.0; 4], "an all-empty row outputs zeros");
}

/// The same split merged into one running partial (`acc`) gives the one-tile result after a
/// one-tile SYNC, including the row that is empty in every tile.
#[test]
fn running_partials_equal_the_one_tile_result() {
    let mut m = setup();
    let mut stats = FunctionalStats::default();
    run(&mut m, &mut stats, &tile(0x100, 0, 4, SufaMode::Sorted));
    run(&mut m, &mut stats, &sync(0x100, 1));
    let one = get(&m, SramRef::temp(0x800), DType::F32, 16);
    let halves: Vec<u32> = (0..4)
        .flat_map(|r| SLOT_TABLE[r * 4..r * 4 + 2].to_vec())
        .chain((0..4).flat_map(|r| SLOT_TABLE[r * 4 + 2..r * 4 + 4].to_vec()))
        .chain([N; 8])
        .collect();
    put_u32(&mut m, SramRef::temp(0x40), &halves);
    for t in 0..3 {
        let i = tile_acc(0x200, 0x40 + t * 32, 2, SufaMode::Sorted, t > 0);
        run(&mut m, &mut stats, &i);
    }
    run(&mut m, &mut stats, &sync(0x200, 1));
    let merged = get(&m, SramRef::temp(0x800), DType::F32, 16);
    assert_close(&merged, &one, 1e-6);
    assert_eq!(&merged[8..12], &[0.0; 4], "an all-empty row outputs zeros");
}

#[test]
fn sync_rounds_to_f16_output() {
    let mut m = memory(8);
    // One tile, one row, d = 1: m = 0, l = 3, o = 1 → 1/3, rounded to f16.
    put(&mut m, SramRef::temp(0), DType::F32, &[0.0, 3.0, 1.0]);
    let s = Instr::SufaSync {
        dst: SramRef::temp(0x100),
        part: SramRef::temp(0),
        rows: 1,
        tiles: 1,
        d: 1,
        dt: DType::F16,
    };
    run(&mut m, &mut FunctionalStats::default(), &s);
    assert_eq!(&m.temp[0x100..0x102], &0x3555u16.to_le_bytes());
}

#[test]
fn slot_beyond_the_gathered_rows_is_an_error() {
    let mut m = setup();
    put_u32(&mut m, SramRef::temp(0), &[5]);
    let e = exec_err(&mut m, &tile(0x100, 0, 4, SufaMode::Sorted));
    assert_eq!(
        e,
        ExecError::SufaSlot {
            row: 0,
            slot: 5,
            slots: 5
        }
    );
}

/// Key index `slot + BASE`: the SADS numbering the bias table is read by.
const BASE: u32 = 10;

/// The bias of (row, key slot): a ramp, with key 2 of row 3 excluded.
fn bias_value(r: usize, k: usize) -> f32 {
    if (r, k) == (3, 2) {
        f32::NEG_INFINITY
    } else {
        0.75 * r as f32 - 0.5 * k as f32
    }
}

/// The bias table `[4 × SLOTS]` at temp[0x600] and the key indices of the slot table at
/// temp[0x700].
fn put_bias(m: &mut Memory) {
    let table: Vec<f32> = (0..4)
        .flat_map(|r| (0..SLOTS).map(move |k| bias_value(r, k)))
        .collect();
    put(m, SramRef::temp(0x600), DType::F32, &table);
    let keys: Vec<u32> = SLOT_TABLE
        .iter()
        .map(|&s| if s == N { N } else { s + BASE })
        .collect();
    put_u32(m, SramRef::temp(0x700), &keys);
}

fn bias_instr(rows: u16, sel: u16, base: u32) -> Instr {
    Instr::SufaBias {
        bias: SramRef::temp(0x600),
        idx: SramRef::temp(0x700),
        rows,
        sel,
        n: SLOTS as u32,
        base,
        dt: DType::F32,
    }
}

#[test]
fn a_bias_prefix_adds_to_the_next_tiles_scores_only() {
    let want = naive_biased(&|r, k| f64::from(bias_value(r, k)));
    for mode in [SufaMode::Sorted, SufaMode::Fa2] {
        let mut m = setup();
        put_bias(&mut m);
        let mut stats = FunctionalStats::default();
        let fetched = run(&mut m, &mut stats, &bias_instr(4, 4, BASE));
        // 10 live entries of 16: the idx words read, the bias elements fetched.
        assert_eq!((fetched.ops, fetched.sram_read[2]), (16, 16 * 4 + 16 * 4));
        let held = stats.pending_bias.as_ref().expect("held by SU-FA");
        assert_eq!((held.rows, held.sel), (4, 4));
        assert_eq!(
            held.values[0],
            bias_value(0, 1),
            "row 0, entry 0 is key slot 1"
        );
        run(&mut m, &mut stats, &tile(0x100, 0, 4, mode));
        assert!(stats.pending_bias.is_none(), "consumed");
        run(&mut m, &mut stats, &sync(0x100, 1));
        assert_close(&get(&m, SramRef::temp(0x800), DType::F32, 16), &want, 1e-6);
        // The next tile is unbiased again.
        run(&mut m, &mut stats, &tile(0x100, 0, 4, mode));
        run(&mut m, &mut stats, &sync(0x100, 1));
        assert_close(
            &get(&m, SramRef::temp(0x800), DType::F32, 16),
            &naive(),
            1e-6,
        );
    }
}

#[test]
fn bias_indices_outside_the_table_and_mismatched_tiles_are_errors() {
    let mut m = setup();
    put_bias(&mut m);
    // Base 11: key 10 (row 0's third entry, slot 0) lies before the table.
    let e = exec_err(&mut m, &bias_instr(4, 4, BASE + 1));
    assert_eq!(
        e,
        ExecError::BiasIndex {
            row: 0,
            index: 10,
            base: 11,
            n: 5
        }
    );
    assert_eq!(
        e.to_string(),
        "SUFA.BIAS row 0: key index 10 is outside the bias columns [11, 11 + 5)"
    );
    let mut stats = FunctionalStats {
        pending_bias: Some(GatheredBias {
            instr: 7,
            rows: 4,
            sel: 2,
            values: vec![0.0; 8],
        }),
        ..FunctionalStats::default()
    };
    let e = execute(
        1,
        &tile(0x100, 0, 4, SufaMode::Fa2),
        &mut m,
        &HwConfig::default(),
        &mut stats,
    )
    .expect_err("shape mismatch");
    assert_eq!(
        e.to_string(),
        "SUFA.T attends 4×4 entries, but the pending SUFA.BIAS (instr #7) gathered 4×2"
    );
}
