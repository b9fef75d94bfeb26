//! DLZS.K / DLZS.S (log-domain rounding, lz4, saturation), GEMM and KVGEN.

use sofa_ir::hw::{HwConfig, Rounding};
use sofa_ir::isa::{DType, Instr, SramRef, NO_INDEX};

use super::data::{lz4_encode, lz4_value};
use super::predict::snap;
use super::tests_common::{assert_close, exec, get, memory, put, put_list};
use super::{execute, FunctionalStats};

#[test]
fn snapping_follows_the_rounding_mode() {
    let cases = [
        // (value, floor, nearest, ceil)
        (0.75, 0.5, 1.0, 1.0),
        (-3.0, -2.0, -4.0, -4.0),
        (6.0, 4.0, 8.0, 8.0),
        (5.0, 4.0, 4.0, 8.0),
        (4.0, 4.0, 4.0, 4.0),
        (0.0, 0.0, 0.0, 0.0),
    ];
    for (v, f, n, c) in cases {
        assert_eq!(snap(v, Rounding::Floor), f, "floor {v}");
        assert_eq!(snap(v, Rounding::Nearest), n, "nearest {v}");
        assert_eq!(snap(v, Rounding::Ceil), c, "ceil {v}");
    }
    // f32 subnormals snap like any other value.
    let tiny = f64::from(f32::from_bits(3)); // 3 · 2^-149
    assert_eq!(snap(tiny, Rounding::Floor), f64::from(f32::from_bits(2)));
}

#[test]
fn lz4_nibbles_are_sign_and_biased_exponent_with_zero_code() {
    assert_eq!(lz4_value(0x0), 0.0);
    assert_eq!(lz4_value(0x8), 0.0);
    assert_eq!(lz4_value(0x1), 1.0);
    assert_eq!(lz4_value(0x7), 64.0);
    assert_eq!(lz4_value(0xb), -4.0);
    for v in [1.0, -1.0, 2.0, -32.0, 64.0, 0.0] {
        assert_eq!(lz4_value(lz4_encode(v)), v);
    }
    assert_eq!(lz4_value(lz4_encode(6.0)), 4.0);
}

fn dlzs_s(ot: DType) -> Instr {
    Instr::DlzsS {
        dst: SramRef::temp(0x100),
        q: SramRef::token(0),
        khat: SramRef::token(0x40),
        rows: 1,
        k: 2,
        n: 2,
        qt: DType::F32,
        kt: DType::F32,
        ot,
    }
}

#[test]
fn dlzs_s_floors_q_to_powers_of_two_and_shadows_exact_scores() {
    let mut m = memory(8);
    put(&mut m, SramRef::token(0), DType::F32, &[0.75, -3.0]);
    put(
        &mut m,
        SramRef::token(0x40),
        DType::F32,
        &[1.0, 1.0, 2.0, 0.0],
    );
    let mut stats = FunctionalStats::default();
    let out = execute(
        0,
        &dlzs_s(DType::F32),
        &mut m,
        &HwConfig::default(),
        &mut stats,
    )
    .unwrap();
    // q snaps to [0.5, −2]: 0.5 − 2 = −1.5 and 0.5·2 = 1.
    assert_eq!(
        get(&m, SramRef::temp(0x100), DType::F32, 2),
        vec![-1.5, 1.0]
    );
    assert_eq!((out.ops, out.dense_ops), (4, 4));
    assert_eq!(stats.shadows.len(), 1);
    // With nearest rounding q snaps to [1, −4].
    let mut hw = HwConfig::default();
    hw.dlzs.rounding = Rounding::Nearest;
    execute(0, &dlzs_s(DType::F32), &mut m, &hw, &mut stats).unwrap();
    assert_eq!(
        get(&m, SramRef::temp(0x100), DType::F32, 2),
        vec![-3.0, 2.0]
    );
}

#[test]
fn dlzs_s_integer_output_rounds_and_saturates() {
    let mut m = memory(8);
    put(&mut m, SramRef::token(0), DType::F32, &[1.0, 1.0]);
    put(
        &mut m,
        SramRef::token(0x40),
        DType::F32,
        &[2.5, 0.0, 100.0, 100.0],
    );
    exec(&mut m, &dlzs_s(DType::I8));
    // 2.5 rounds to even 2; 200 saturates at 127.
    assert_eq!(&m.temp[0x100..0x102], &[2, 127]);
}

#[test]
fn dlzs_k_shifts_i8_tokens_by_lz4_weights() {
    let mut m = memory(8);
    let x: [i8; 6] = [1, -2, 3, 0, 5, -1];
    for (i, v) in x.iter().enumerate() {
        m.token[i] = *v as u8;
    }
    // w (3×2) = [[1, −4], [2, 0], [64, 1]], two nibbles a byte, low first.
    m.weight[..3].copy_from_slice(&[0xb1, 0x02, 0x17]);
    let k = |ot| Instr::DlzsK {
        dst: SramRef::temp(0),
        x: SramRef::token(0),
        w: SramRef::weight(0),
        rows: 2,
        k: 3,
        n: 2,
        xt: DType::I8,
        wt: DType::Lz4,
        ot,
    };
    let out = exec(&mut m, &k(DType::I16));
    // [1 − 4 + 192, −4 + 0 + 3; 0 + 10 − 64, −1]
    assert_eq!(
        get(&m, SramRef::temp(0), DType::I16, 4),
        vec![189.0, -1.0, -54.0, -1.0]
    );
    assert_eq!(out.ops, 12);
    assert_eq!(out.sram_read[1], 3); // six 4-bit weights
    exec(&mut m, &k(DType::I8));
    assert_eq!(
        get(&m, SramRef::temp(0), DType::I8, 4),
        vec![127.0, -1.0, -54.0, -1.0]
    );
}

#[test]
fn dlzs_k_snaps_float_weights() {
    let mut m = memory(8);
    put(&mut m, SramRef::token(0), DType::F16, &[1.5]);
    put(&mut m, SramRef::weight(0), DType::F16, &[3.0, -0.3]);
    let k = Instr::DlzsK {
        dst: SramRef::temp(0),
        x: SramRef::token(0),
        w: SramRef::weight(0),
        rows: 1,
        k: 1,
        n: 2,
        xt: DType::F16,
        wt: DType::F16,
        ot: DType::F32,
    };
    exec(&mut m, &k);
    // 3 → 2, −0.3 → −0.25.
    assert_eq!(get(&m, SramRef::temp(0), DType::F32, 2), vec![3.0, -0.375]);
}

fn gemm(trans_b: bool, bias: bool, acc: bool) -> Instr {
    Instr::Gemm {
        dst: SramRef::temp(0),
        a: SramRef::token(0),
        b: SramRef::weight(0),
        bias: bias.then_some(SramRef::weight(0x100)),
        m: 2,
        n: 2,
        k: 3,
        trans_b,
        acc,
        dt: DType::F32,
    }
}

#[test]
fn gemm_2x3_times_3x2_with_trans_b_bias_and_acc() {
    let mut m = memory(8);
    put(
        &mut m,
        SramRef::token(0),
        DType::F32,
        &[1., 2., 3., 4., 5., 6.],
    );
    put(
        &mut m,
        SramRef::weight(0),
        DType::F32,
        &[7., 8., 9., 10., 11., 12.],
    );
    put(&mut m, SramRef::weight(0x100), DType::F32, &[1., -1.]);
    let out = exec(&mut m, &gemm(false, false, false));
    assert_eq!(
        get(&m, SramRef::temp(0), DType::F32, 4),
        vec![58., 64., 139., 154.]
    );
    assert_eq!(out.ops, 12);
    exec(&mut m, &gemm(false, true, true));
    assert_eq!(
        get(&m, SramRef::temp(0), DType::F32, 4),
        vec![117., 127., 279., 307.]
    );
    // b stored transposed (n×k).
    put(
        &mut m,
        SramRef::weight(0),
        DType::F32,
        &[7., 9., 11., 8., 10., 12.],
    );
    exec(&mut m, &gemm(true, true, false));
    assert_eq!(
        get(&m, SramRef::temp(0), DType::F32, 4),
        vec![59., 63., 140., 153.]
    );
}

#[test]
fn kvgen_generates_listed_rows_and_accumulates() {
    let mut m = memory(8);
    put_list(&mut m, SramRef::temp(0), &[5, NO_INDEX, 7]);
    put(
        &mut m,
        SramRef::token(0),
        DType::F16,
        &[1., 2., 3., 4., 5., 6.],
    );
    put(&mut m, SramRef::weight(0), DType::F16, &[1., 0., 0., 2.]);
    put(&mut m, SramRef::temp(0x100), DType::F16, &[9.; 8]);
    let kv = |acc| Instr::Kvgen {
        dst: SramRef::temp(0x100),
        x: SramRef::token(0),
        w: SramRef::weight(0),
        list: SramRef::temp(0),
        max_rows: 4,
        k: 2,
        n: 2,
        acc,
        dt: DType::F16,
    };
    let out = exec(&mut m, &kv(false));
    // Rows 0 and 2 generated ([x0, 2·x1]); row 1 (NO_INDEX) and row 3 (beyond the count) kept.
    let got = get(&m, SramRef::temp(0x100), DType::F16, 8);
    assert_close(&got, &[1., 4., 9., 9., 5., 12., 9., 9.], 0.0);
    assert_eq!(out.counts.rows, Some(2));
    assert_eq!((out.ops, out.dense_ops), (8, 16));
    exec(&mut m, &kv(true));
    let got = get(&m, SramRef::temp(0x100), DType::F16, 8);
    assert_close(&got, &[2., 8., 9., 9., 10., 24., 9., 9.], 0.0);
}
