//! GEMM.Q and the quantization vector instructions against hand-computed values and the
//! reference kernels.

use sofa_ir::eval::quant::{dynamic_params, quantize_value};
use sofa_ir::isa::{Bcast, DType, Instr, SramRef};

use super::tests_common::{exec, get, memory, put};

fn gemm_q(trans_b: bool, acc: bool, zps: bool) -> Instr {
    Instr::GemmQ {
        dst: SramRef::temp(0x100),
        a: SramRef::token(0),
        b: SramRef::weight(0),
        azp: zps.then(|| SramRef::temp(0x200)),
        bzp: zps.then(|| SramRef::temp(0x240)),
        m: 2,
        n: 2,
        k: 3,
        trans_b,
        acc,
        at: DType::U8,
        bt: DType::I8,
    }
}

#[test]
fn gemm_q_subtracts_zero_points_and_accumulates_in_i32() {
    let mut mem = memory(64);
    put(
        &mut mem,
        SramRef::token(0),
        DType::U8,
        &[255.0, 0.0, 10.0, 1.0, 2.0, 3.0],
    );
    // b (k×n) = [[127, -128], [1, 2], [-1, 0]].
    put(
        &mut mem,
        SramRef::weight(0),
        DType::I8,
        &[127.0, -128.0, 1.0, 2.0, -1.0, 0.0],
    );
    exec(&mut mem, &gemm_q(false, false, false));
    // Row 0: 255·127 + 0 − 10 = 32375; 255·(−128) + 0 + 0 = −32640.
    assert_eq!(
        get(&mem, SramRef::temp(0x100), DType::I32, 4),
        vec![32375.0, -32640.0, 126.0, -124.0]
    );
    // Zero points: azp = 1, bzp = [−1, 2] per column; accumulate onto the previous result.
    put(&mut mem, SramRef::temp(0x200), DType::U8, &[1.0]);
    put(&mut mem, SramRef::temp(0x240), DType::I8, &[-1.0, 2.0]);
    exec(&mut mem, &gemm_q(false, true, true));
    // (a − 1) = [[254, −1, 9], [0, 1, 2]]; (b − zb) = [[128, −130], [2, 0], [0, −2]].
    assert_eq!(
        get(&mem, SramRef::temp(0x100), DType::I32, 4),
        vec![
            32375.0 + 32512.0 - 2.0,
            -32640.0 - 33020.0 - 18.0,
            126.0 + 2.0,
            -124.0 - 4.0
        ]
    );
    // trans_b reads b as n×k: the same values transposed give the same product.
    put(
        &mut mem,
        SramRef::weight(0),
        DType::I8,
        &[127.0, 1.0, -1.0, -128.0, 2.0, 0.0],
    );
    exec(&mut mem, &gemm_q(true, false, false));
    assert_eq!(
        get(&mem, SramRef::temp(0x100), DType::I32, 4),
        vec![32375.0, -32640.0, 126.0, -124.0]
    );
}

#[test]
fn minmax_qparam_and_quant_compose_dynamic_quantization() {
    let mut mem = memory(64);
    let x = [0.0, 2.0, -3.0, -2.5, 1.34, 0.5, f32::NAN, 0.25];
    put(&mut mem, SramRef::token(0), DType::F32, &x);
    let minmax = |a: u32, rows: u32, acc: bool| Instr::VecMinMax {
        dst: SramRef::temp(0),
        a: SramRef::token(a),
        rows,
        cols: 2,
        acc,
        dt: DType::F32,
    };
    exec(&mut mem, &minmax(0, 2, false));
    assert_eq!(get(&mem, SramRef::temp(0), DType::F32, 2), vec![-3.0, 2.0]);
    // The second half (with a NaN) folds in: the range stays.
    exec(&mut mem, &minmax(16, 2, true));
    assert_eq!(get(&mem, SramRef::temp(0), DType::F32, 2), vec![-3.0, 2.0]);
    exec(
        &mut mem,
        &Instr::VecQParam {
            scale: SramRef::temp(0x40),
            zp: SramRef::temp(0x80),
            src: SramRef::temp(0),
            qt: DType::U8,
        },
    );
    let (scale, zp) = dynamic_params(-3.0, 2.0, (0, 255));
    assert_eq!(get(&mem, SramRef::temp(0x40), DType::F32, 1), vec![scale]);
    assert_eq!(
        get(&mem, SramRef::temp(0x80), DType::U8, 1),
        vec![zp as f32]
    );
    assert_eq!(zp, 153);
    exec(
        &mut mem,
        &Instr::VecQuant {
            dst: SramRef::token(0x100),
            a: SramRef::token(0),
            scale: SramRef::temp(0x40),
            zp: Some(SramRef::temp(0x80)),
            rows: 2,
            cols: 4,
            bcast: Bcast::Scalar,
            from: DType::F32,
            to: DType::U8,
        },
    );
    let want: Vec<f32> = x
        .iter()
        .map(|&v| quantize_value(v, scale, zp, (0, 255)) as f32)
        .collect();
    assert_eq!(want[..6], [153.0, 255.0, 0.0, 26.0, 221.0, 179.0]);
    assert_eq!(get(&mem, SramRef::token(0x100), DType::U8, 8), want);
}

#[test]
fn minmax_of_an_all_nan_tile_is_the_empty_range() {
    let mut mem = memory(64);
    put(&mut mem, SramRef::token(0), DType::F32, &[f32::NAN]);
    exec(
        &mut mem,
        &Instr::VecMinMax {
            dst: SramRef::temp(0),
            a: SramRef::token(0),
            rows: 1,
            cols: 1,
            acc: false,
            dt: DType::F32,
        },
    );
    assert_eq!(
        get(&mem, SramRef::temp(0), DType::F32, 2),
        vec![f32::INFINITY, f32::NEG_INFINITY]
    );
}

#[test]
fn quant_and_dequant_broadcast_per_row_and_column() {
    let mut mem = memory(64);
    put(
        &mut mem,
        SramRef::token(0),
        DType::F32,
        &[1.0, 2.0, 3.0, -1.0, -2.0, -3.0],
    );
    put(&mut mem, SramRef::weight(0), DType::F32, &[0.5, 1.0, 2.0]);
    put(
        &mut mem,
        SramRef::weight(0x40),
        DType::I8,
        &[0.0, 1.0, -1.0],
    );
    let quant = Instr::VecQuant {
        dst: SramRef::temp(0),
        a: SramRef::token(0),
        scale: SramRef::weight(0),
        zp: Some(SramRef::weight(0x40)),
        rows: 2,
        cols: 3,
        bcast: Bcast::Row,
        from: DType::F32,
        to: DType::I8,
    };
    exec(&mut mem, &quant);
    let q = get(&mem, SramRef::temp(0), DType::I8, 6);
    assert_eq!(q, vec![2.0, 3.0, 1.0, -2.0, -1.0, -3.0]);
    let dequant = Instr::VecDequant {
        dst: SramRef::temp(0x40),
        a: SramRef::temp(0),
        scale: SramRef::weight(0),
        zp: Some(SramRef::weight(0x40)),
        rows: 2,
        cols: 3,
        bcast: Bcast::Row,
        from: DType::I8,
        to: DType::F32,
    };
    exec(&mut mem, &dequant);
    assert_eq!(
        get(&mem, SramRef::temp(0x40), DType::F32, 6),
        vec![1.0, 2.0, 4.0, -1.0, -2.0, -4.0]
    );
    // Per row (bcast=col) from i32 without zero point: Cast then Mul.
    put(
        &mut mem,
        SramRef::token(0x40),
        DType::I32,
        &[3.0, -5.0, 7.0, 9.0],
    );
    put(&mut mem, SramRef::weight(0x80), DType::F32, &[0.5, -2.0]);
    exec(
        &mut mem,
        &Instr::VecDequant {
            dst: SramRef::temp(0x80),
            a: SramRef::token(0x40),
            scale: SramRef::weight(0x80),
            zp: None,
            rows: 2,
            cols: 2,
            bcast: Bcast::Col,
            from: DType::I32,
            to: DType::F32,
        },
    );
    assert_eq!(
        get(&mem, SramRef::temp(0x80), DType::F32, 4),
        vec![1.5, -2.5, -14.0, -18.0]
    );
}
