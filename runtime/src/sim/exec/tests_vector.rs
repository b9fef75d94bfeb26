//! VEC.*: broadcasts, unary functions, reductions, RoPE, CVT, TRANSPOSE, SELECT; control no-ops.

use sofa_ir::isa::{Bcast, CmpOp, DType, Engine, Instr, ReduceOp, SramRef, NO_INDEX};

use super::tests_common::{assert_close, exec, exec_err, get, memory, put, put_list};
use super::ExecOutcome;

const A: SramRef = SramRef {
    space: sofa_ir::isa::SramSpace::Temp,
    offset: 0,
};
const B: SramRef = SramRef {
    space: sofa_ir::isa::SramSpace::Temp,
    offset: 0x100,
};
const DST: SramRef = SramRef {
    space: sofa_ir::isa::SramSpace::Temp,
    offset: 0x200,
};

fn binary(
    op: fn(SramRef, SramRef, SramRef, u32, u32, Bcast, DType) -> Instr,
) -> impl Fn(Bcast, DType) -> Instr {
    move |bcast, dt| op(DST, A, B, 2, 2, bcast, dt)
}

#[test]
fn binary_ops_broadcast_b_four_ways() {
    let mut m = memory(8);
    let cases: [(_, Bcast, DType, &[f32], &[f32]); 5] = [
        (
            binary(|dst, a, b, rows, cols, bcast, dt| Instr::VecAdd {
                dst,
                a,
                b,
                rows,
                cols,
                bcast,
                dt,
            }),
            Bcast::None,
            DType::F32,
            &[10., 20., 30., 40.],
            &[11., 22., 33., 44.],
        ),
        (
            binary(|dst, a, b, rows, cols, bcast, dt| Instr::VecSub {
                dst,
                a,
                b,
                rows,
                cols,
                bcast,
                dt,
            }),
            Bcast::Row,
            DType::F32,
            &[1., 2.],
            &[0., 0., 2., 2.],
        ),
        (
            binary(|dst, a, b, rows, cols, bcast, dt| Instr::VecMul {
                dst,
                a,
                b,
                rows,
                cols,
                bcast,
                dt,
            }),
            Bcast::Col,
            DType::F16,
            &[2., 3.],
            &[2., 4., 9., 12.],
        ),
        (
            binary(|dst, a, b, rows, cols, bcast, dt| Instr::VecDiv {
                dst,
                a,
                b,
                rows,
                cols,
                bcast,
                dt,
            }),
            Bcast::Scalar,
            DType::BF16,
            &[2.],
            &[0.5, 1., 1.5, 2.],
        ),
        (
            binary(|dst, a, b, rows, cols, bcast, dt| Instr::VecMax {
                dst,
                a,
                b,
                rows,
                cols,
                bcast,
                dt,
            }),
            Bcast::None,
            DType::F32,
            &[2., 0., 0., 5.],
            &[2., 2., 3., 5.],
        ),
    ];
    for (make, bcast, dt, b, want) in cases {
        put(&mut m, A, dt, &[1., 2., 3., 4.]);
        put(&mut m, B, dt, b);
        let out = exec(&mut m, &make(bcast, dt));
        assert_eq!(get(&m, DST, dt, 4), want, "{bcast:?}");
        assert_eq!(out.ops, 4);
    }
    // Max propagates NaN (ONNX Max), unlike f32::max.
    put(&mut m, A, DType::F32, &[f32::NAN, 1., 1., 1.]);
    put(&mut m, B, DType::F32, &[0., 0., 0., 0.]);
    exec(
        &mut m,
        &binary(|dst, a, b, rows, cols, bcast, dt| Instr::VecMax {
            dst,
            a,
            b,
            rows,
            cols,
            bcast,
            dt,
        })(Bcast::None, DType::F32),
    );
    assert!(get(&m, DST, DType::F32, 1)[0].is_nan());
}

type Unary = fn(SramRef, SramRef, u32, u32, DType) -> Instr;

#[test]
fn unary_functions_match_hand_values() {
    let cases: [(Unary, [f32; 3], [f32; 3]); 10] = [
        (
            |dst, a, rows, cols, dt| Instr::VecExp {
                dst,
                a,
                rows,
                cols,
                dt,
            },
            [0., 1., -1.],
            [1., std::f32::consts::E, 0.367_879_44],
        ),
        (
            |dst, a, rows, cols, dt| Instr::VecErf {
                dst,
                a,
                rows,
                cols,
                dt,
            },
            [0.5, -1., 2.],
            [0.520_499_9, -0.842_700_8, 0.995_322_3],
        ),
        (
            |dst, a, rows, cols, dt| Instr::VecGelu {
                dst,
                a,
                rows,
                cols,
                dt,
            },
            [1., -1., 0.],
            [0.841_344_7, -0.158_655_26, 0.],
        ),
        (
            |dst, a, rows, cols, dt| Instr::VecGeluTanh {
                dst,
                a,
                rows,
                cols,
                dt,
            },
            [1., -1., 0.],
            [0.841_192, -0.158_808, 0.],
        ),
        (
            |dst, a, rows, cols, dt| Instr::VecSilu {
                dst,
                a,
                rows,
                cols,
                dt,
            },
            [1., -2., 0.],
            [0.731_058_6, -0.238_405_84, 0.],
        ),
        (
            |dst, a, rows, cols, dt| Instr::VecRelu {
                dst,
                a,
                rows,
                cols,
                dt,
            },
            [1.5, -2., 0.],
            [1.5, 0., 0.],
        ),
        (
            |dst, a, rows, cols, dt| Instr::VecTanh {
                dst,
                a,
                rows,
                cols,
                dt,
            },
            [0.5, 0., -0.5],
            [0.462_117_16, 0., -0.462_117_16],
        ),
        (
            |dst, a, rows, cols, dt| Instr::VecSigmoid {
                dst,
                a,
                rows,
                cols,
                dt,
            },
            [0., 2., -2.],
            [0.5, 0.880_797_1, 0.119_202_92],
        ),
        (
            |dst, a, rows, cols, dt| Instr::VecSqrt {
                dst,
                a,
                rows,
                cols,
                dt,
            },
            [4., 2., 0.],
            [2., std::f32::consts::SQRT_2, 0.],
        ),
        (
            |dst, a, rows, cols, dt| Instr::VecRecip {
                dst,
                a,
                rows,
                cols,
                dt,
            },
            [4., -0.5, 1.],
            [0.25, -2., 1.],
        ),
    ];
    let mut m = memory(8);
    for (make, x, want) in cases {
        put(&mut m, A, DType::F32, &x);
        let i = make(DST, A, 1, 3, DType::F32);
        exec(&mut m, &i);
        assert_close(&get(&m, DST, DType::F32, 3), &want, 2e-7);
    }
    let affine = Instr::VecAffine {
        dst: DST,
        a: A,
        rows: 1,
        cols: 3,
        mul: 0.5,
        add: 1.0,
        dt: DType::F32,
    };
    put(&mut m, A, DType::F32, &[2., -4., 0.]);
    exec(&mut m, &affine);
    assert_eq!(get(&m, DST, DType::F32, 3), vec![2., -1., 1.]);
}

#[test]
fn softmax_is_row_wise_and_max_subtracted() {
    let mut m = memory(8);
    put(
        &mut m,
        A,
        DType::F32,
        &[1., 2., 3., 1000., 1000., f32::NEG_INFINITY],
    );
    let s = Instr::VecSoftmax {
        dst: DST,
        a: A,
        rows: 2,
        cols: 3,
        dt: DType::F32,
    };
    let out = exec(&mut m, &s);
    assert_close(
        &get(&m, DST, DType::F32, 6),
        &[0.090_030_57, 0.244_728_48, 0.665_240_94, 0.5, 0.5, 0.],
        1e-7,
    );
    assert_eq!(out.ops, 24);
}

#[test]
fn layernorm_with_and_without_beta_and_rmsnorm() {
    let mut m = memory(8);
    put(&mut m, A, DType::F32, &[1., 2., 3., 4.]);
    put(&mut m, B, DType::F32, &[1., 1., 2., 2., 0., 0., 0., 1.]);
    let beta = SramRef::temp(0x110);
    let ln = |beta| Instr::VecLayerNorm {
        dst: DST,
        x: A,
        gamma: B,
        beta,
        rows: 1,
        cols: 4,
        eps: 0.0,
        dt: DType::F32,
    };
    exec(&mut m, &ln(Some(beta)));
    let want = [-1.341_640_8, -0.447_213_6, 0.894_427_2, 3.683_281_6];
    assert_close(&get(&m, DST, DType::F32, 4), &want, 1e-6);
    exec(&mut m, &ln(None));
    assert_close(&get(&m, DST, DType::F32, 4)[3..], &[2.683_281_6], 1e-6);
    put(&mut m, A, DType::F32, &[3., 4.]);
    put(&mut m, B, DType::F32, &[1., 2.]);
    let rms = Instr::VecRmsNorm {
        dst: DST,
        x: A,
        gamma: B,
        rows: 1,
        cols: 2,
        eps: 0.0,
        dt: DType::F32,
    };
    exec(&mut m, &rms);
    assert_close(
        &get(&m, DST, DType::F32, 2),
        &[0.848_528_1, 2.262_741_7],
        1e-6,
    );
}

/// Table rows: identity; cos [0, 1] sin [1, 0]; cos [−1, 0] sin [0, 1].
const TABLE: [f32; 12] = [1., 1., 0., 0., 0., 1., 1., 0., -1., 0., 0., 1.];

fn rope(pos: Option<SramRef>, interleaved: bool) -> Instr {
    Instr::VecRope {
        dst: A,
        x: A,
        table: B,
        pos,
        rows: 3,
        cols: 4,
        table_rows: 3,
        interleaved,
        dt: DType::F32,
    }
}

#[test]
fn rope_rotates_half_pairs_by_listed_positions() {
    let mut m = memory(8);
    put(&mut m, B, DType::F32, &TABLE);
    let x: Vec<f32> = (1..=12).map(|v| v as f32).collect();
    put(&mut m, A, DType::F32, &x);
    let list = SramRef::temp(0x300);
    put_list(&mut m, list, &[2, NO_INDEX]);
    let out = exec(&mut m, &rope(Some(list), false));
    // Row 0 at position 2; row 1 (NO_INDEX) and row 2 (beyond the count) untouched.
    let want = [-1., -4., -3., 2., 5., 6., 7., 8., 9., 10., 11., 12.];
    assert_eq!(get(&m, A, DType::F32, 12), want);
    assert_eq!(out.counts.rows, Some(1));
    put_list(&mut m, list, &[3]);
    let e = exec_err(&mut m, &rope(Some(list), false)).to_string();
    assert!(e.contains("position 3 is not below table_rows 3"), "{e}");
}

#[test]
fn rope_interleaved_uses_the_row_index_without_a_list() {
    let mut m = memory(8);
    put(&mut m, B, DType::F32, &TABLE);
    let x: Vec<f32> = (1..=12).map(|v| v as f32).collect();
    put(&mut m, A, DType::F32, &x);
    exec(&mut m, &rope(None, true));
    // Row 1 (position 1): pair (0,1) rotated by 90°, pair (2,3) by 0°; row 2 by 180° / 90°.
    let want = [1., 2., 3., 4., -6., 5., 7., 8., -9., -10., -12., 11.];
    assert_eq!(get(&m, A, DType::F32, 12), want);
}

fn cvt(rows: u32, from: DType, to: DType) -> Instr {
    Instr::VecCvt {
        dst: DST,
        a: A,
        rows,
        cols: 1,
        from,
        to,
    }
}

fn raw(m: &super::Memory, at: SramRef, n: usize) -> Vec<u8> {
    m.temp[at.offset as usize..at.offset as usize + n].to_vec()
}

#[test]
fn cvt_rounds_floats_to_even_and_saturates_integers() {
    let mut m = memory(8);
    let one = 1.0f32;
    put(
        &mut m,
        A,
        DType::F32,
        &[one + 2f32.powi(-11), one + 3.0 * 2f32.powi(-11), 65520.0],
    );
    exec(&mut m, &cvt(3, DType::F32, DType::F16));
    let bits: Vec<u8> = [0x3c00u16, 0x3c02, 0x7c00]
        .iter()
        .flat_map(|b| b.to_le_bytes())
        .collect();
    assert_eq!(raw(&m, DST, 6), bits);
    put(&mut m, A, DType::F32, &[300.7, -300.0, 2.9, -2.9, f32::NAN]);
    exec(&mut m, &cvt(5, DType::F32, DType::I8));
    assert_eq!(raw(&m, DST, 5), [127, 128, 2, 254, 0]);
    let wide: Vec<u8> = [1i64 << 40, -(1i64 << 40), 5]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    m.temp[..24].copy_from_slice(&wide);
    exec(&mut m, &cvt(3, DType::I64, DType::I32));
    assert_eq!(
        get(&m, DST, DType::I32, 3),
        vec![i32::MAX as f32, i32::MIN as f32, 5.0]
    );
    exec(&mut m, &cvt(3, DType::I64, DType::U8));
    assert_eq!(raw(&m, DST, 3), [255, 0, 5]);
    exec(&mut m, &cvt(3, DType::I64, DType::F16));
    assert_eq!(
        get(&m, DST, DType::F16, 3),
        vec![f32::INFINITY, f32::NEG_INFINITY, 5.0]
    );
}

#[test]
fn cvt_to_and_from_booleans() {
    let mut m = memory(8);
    put(&mut m, A, DType::F32, &[0.0, -0.0, 2.5, f32::NAN]);
    exec(&mut m, &cvt(4, DType::F32, DType::I1));
    assert_eq!(raw(&m, DST, 4), [0, 0, 1, 1]);
    m.temp[..3].copy_from_slice(&[0, 1, 7]);
    exec(&mut m, &cvt(3, DType::I1, DType::F32));
    assert_eq!(get(&m, DST, DType::F32, 3), vec![0., 1., 1.]);
    exec(&mut m, &cvt(3, DType::I1, DType::I64));
    assert_eq!(get(&m, DST, DType::I64, 3), vec![0., 1., 1.]);
}

#[test]
fn transpose_moves_whole_elements_of_any_type() {
    let mut m = memory(8);
    put(&mut m, A, DType::F16, &[1., 2., 3., 4., 5., 6.]);
    let t = |dt| Instr::VecTranspose {
        dst: DST,
        a: A,
        rows: 2,
        cols: 3,
        dt,
    };
    exec(&mut m, &t(DType::F16));
    assert_eq!(get(&m, DST, DType::F16, 6), vec![1., 4., 2., 5., 3., 6.]);
    let longs: Vec<u8> = (1i64..=6).flat_map(|v| (v << 40).to_le_bytes()).collect();
    m.temp[..48].copy_from_slice(&longs);
    exec(&mut m, &t(DType::I64));
    let want: Vec<u8> = [1i64, 4, 2, 5, 3, 6]
        .iter()
        .flat_map(|v| (v << 40).to_le_bytes())
        .collect();
    assert_eq!(raw(&m, DST, 48), want);
}

#[test]
fn select_picks_a_where_cond_is_non_zero() {
    let mut m = memory(8);
    let cond = SramRef::temp(0x300);
    m.temp[0x300..0x304].copy_from_slice(&[1, 0, 7, 0]);
    put(&mut m, A, DType::I32, &[1., 2., 3., 4.]);
    put(&mut m, B, DType::I32, &[10., 20., 30., 40.]);
    let s = Instr::VecSelect {
        dst: DST,
        cond,
        a: A,
        b: B,
        rows: 2,
        cols: 2,
        dt: DType::I32,
    };
    let out = exec(&mut m, &s);
    assert_eq!(get(&m, DST, DType::I32, 4), vec![1., 20., 3., 40.]);
    assert_eq!(out.sram_read[2], 4 + 16 + 16);
}

#[test]
fn compare_is_exact_on_integers_and_ieee_on_floats() {
    let mut m = memory(8);
    // 2^53 + 1 and 2^53 are equal as f64 but not as i64.
    let big = (1i64 << 53) + 1;
    let words: Vec<u8> = [big, 1 << 53, -3, 7]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    m.temp[..32].copy_from_slice(&words);
    m.temp[0x100..0x108].copy_from_slice(&(1i64 << 53).to_le_bytes());
    let cmp = |op, bcast, dt| Instr::VecCmp {
        dst: DST,
        a: A,
        b: B,
        rows: 2,
        cols: 2,
        bcast,
        op,
        dt,
    };
    exec(&mut m, &cmp(CmpOp::Gt, Bcast::Scalar, DType::I64));
    assert_eq!(m.temp[0x200..0x204], [1, 0, 0, 0]);
    exec(&mut m, &cmp(CmpOp::Le, Bcast::Scalar, DType::I64));
    assert_eq!(m.temp[0x200..0x204], [0, 1, 1, 1]);
    put(&mut m, A, DType::F32, &[1.0, f32::NAN, -0.0, 2.0]);
    put(&mut m, B, DType::F32, &[0.0, 2.0]);
    exec(&mut m, &cmp(CmpOp::Eq, Bcast::Row, DType::F32));
    assert_eq!(m.temp[0x200..0x204], [0, 0, 1, 1]);
    // `ne` of a value with itself is IsNaN.
    let is_nan = Instr::VecCmp {
        dst: DST,
        a: A,
        b: A,
        rows: 1,
        cols: 4,
        bcast: Bcast::None,
        op: CmpOp::Ne,
        dt: DType::F32,
    };
    exec(&mut m, &is_nan);
    assert_eq!(m.temp[0x200..0x204], [0, 1, 0, 0]);
}

#[test]
fn reduce_rows_four_ways() {
    let mut m = memory(8);
    put(&mut m, A, DType::F32, &[1., 2., 6., -4., f32::NAN, 0.5]);
    let red = |op| Instr::VecReduce {
        dst: DST,
        a: A,
        rows: 2,
        cols: 3,
        op,
        dt: DType::F32,
    };
    let cases: [(ReduceOp, [f32; 2]); 4] = [
        (ReduceOp::Sum, [9., f32::NAN]),
        (ReduceOp::Mean, [3., f32::NAN]),
        (ReduceOp::Max, [6., f32::NAN]),
        (ReduceOp::Min, [1., f32::NAN]),
    ];
    for (op, want) in cases {
        let out = exec(&mut m, &red(op));
        let got = get(&m, DST, DType::F32, 2);
        assert_eq!(got[0], want[0], "{op}");
        assert!(got[1].is_nan(), "{op}: NaN propagates");
        assert_eq!(out.ops, 6);
    }
}

#[test]
fn cos_and_sin() {
    let mut m = memory(8);
    put(&mut m, A, DType::F32, &[0.0, 1.0, -2.5]);
    for (instr, f) in [
        (
            Instr::VecCos {
                dst: DST,
                a: A,
                rows: 1,
                cols: 3,
                dt: DType::F32,
            },
            f32::cos as fn(f32) -> f32,
        ),
        (
            Instr::VecSin {
                dst: DST,
                a: A,
                rows: 3,
                cols: 1,
                dt: DType::F32,
            },
            f32::sin,
        ),
    ] {
        exec(&mut m, &instr);
        let want: Vec<f32> = [0.0f32, 1.0, -2.5].iter().map(|&x| f(x)).collect();
        assert_eq!(get(&m, DST, DType::F32, 3), want);
    }
}

#[test]
fn control_instructions_do_nothing() {
    let mut m = memory(8);
    let before = m.temp.clone();
    for i in [
        Instr::Signal {
            engine: Engine::Dma,
            sem: 0,
        },
        Instr::Wait {
            engine: Engine::Vec,
            sem: 0,
        },
        Instr::Halt {},
    ] {
        assert_eq!(exec(&mut m, &i), ExecOutcome::default());
    }
    assert_eq!(m.temp, before);
}
