//! Linear quantization: DynamicQuantizeLinear, QuantizeLinear, DequantizeLinear, MatMulInteger
//! (the ONNX operator docs' examples, rounding and saturation edges, random data against
//! direct loops).

use super::*;

fn qt(elem: ElemType, shape: &[usize], v: &[i64]) -> Tensor {
    Tensor::new(elem, shape.to_vec(), TensorData::I64(v.to_vec())).unwrap()
}

fn u8t(shape: &[usize], v: &[i64]) -> Tensor {
    qt(ElemType::U8, shape, v)
}

fn i8t(shape: &[usize], v: &[i64]) -> Tensor {
    qt(ElemType::I8, shape, v)
}

/// A deterministic stream of pseudo-random numbers in `[0, 1)`.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() * (hi - lo + 1) as f64) as i64
    }
}

fn dql(x: &Tensor) -> (Vec<i64>, f32, i64) {
    let r = run("DynamicQuantizeLinear", &[], &[x]);
    assert_eq!(r[0].elem(), ElemType::U8);
    assert_eq!(r[0].shape(), x.shape());
    assert_eq!((r[1].elem(), r[1].rank()), (ElemType::F32, 0));
    assert_eq!((r[2].elem(), r[2].rank()), (ElemType::U8, 0));
    (
        r[0].as_i64().unwrap().to_vec(),
        r[1].as_f32().unwrap()[0],
        r[2].as_i64().unwrap()[0],
    )
}

#[test]
fn dynamic_quantize_linear_matches_the_onnx_examples() {
    let x = f32t(&[6], &[0.0, 2.0, -3.0, -2.5, 1.34, 0.5]);
    assert_eq!(dql(&x), (vec![153, 255, 0, 26, 221, 179], 5.0 / 255.0, 153));
    let x = f32t(&[6], &[-1.0, -2.1, -1.3, -2.5, -3.34, -4.0]);
    assert_eq!(dql(&x), (vec![191, 121, 172, 96, 42, 0], 4.0 / 255.0, 255));
    let x = f32t(
        &[3, 4],
        &[
            1.0, 2.1, 1.3, 2.5, 3.34, 4.0, 1.5, 2.6, 3.9, 4.0, 3.0, 2.345,
        ],
    );
    assert_eq!(
        dql(&x),
        (
            vec![64, 134, 83, 159, 213, 255, 96, 166, 249, 255, 191, 149],
            4.0 / 255.0,
            0
        )
    );
}

#[test]
fn dynamic_quantize_linear_rounds_half_to_even_and_handles_empty_ranges() {
    // max 255, min 0: scale 1, so x / scale is x itself.
    let x = f32t(&[6], &[0.0, 2.5, 3.5, -0.0, 254.5, 255.0]);
    assert_eq!(dql(&x), (vec![0, 2, 4, 0, 254, 255], 1.0, 0));
    // All zeros: scale 1, zero point 0.
    assert_eq!(dql(&f32t(&[3], &[0.0; 3])), (vec![0; 3], 1.0, 0));
    // NaN is ignored by the range and saturates low.
    let (q, scale, zp) = dql(&f32t(&[3], &[f32::NAN, -1.0, 1.0]));
    // 1 / (2/255) is 127.49999 in f32: the zero point rounds down.
    assert_eq!((scale, zp), (2.0 / 255.0, 127));
    assert_eq!(q, vec![0, 0, 254]);
}

#[test]
fn dynamic_quantize_linear_matches_direct_formula_on_random_data() {
    let mut rng = Lcg(7);
    for &(n, lo, hi) in &[(64usize, -3.0, 5.0), (33, 0.5, 2.0), (17, -8.0, -0.25)] {
        let v: Vec<f32> = (0..n)
            .map(|_| (lo + (hi - lo) * rng.next()) as f32)
            .collect();
        let (q, scale, zp) = dql(&f32t(&[n], &v));
        let min = v.iter().copied().fold(0.0f32, f32::min);
        let max = v.iter().copied().fold(0.0f32, f32::max);
        assert_eq!(scale, (max - min) / 255.0);
        assert_eq!(
            zp,
            (-min / scale).clamp(0.0, 255.0).round_ties_even() as i64
        );
        for (x, q) in v.iter().zip(&q) {
            let want = ((x / scale).round_ties_even() as i64 + zp).clamp(0, 255);
            assert_eq!(*q, want, "x = {x}");
        }
    }
}

#[test]
fn quantize_linear_saturates_and_follows_the_zero_point_type() {
    let x = f32t(&[6], &[0.0, 2.0, 3.0, 1000.0, -254.0, -1000.0]);
    let scale = f32t(&[], &[2.0]);
    let y = run1("QuantizeLinear", &[], &[&x, &scale, &u8t(&[], &[128])]);
    assert_eq!(y.elem(), ElemType::U8);
    assert_eq!(y.as_i64().unwrap(), &[128, 129, 130, 255, 1, 0]);
    let y = run1("QuantizeLinear", &[], &[&x, &scale, &i8t(&[], &[-1])]);
    assert_eq!(y.elem(), ElemType::I8);
    assert_eq!(y.as_i64().unwrap(), &[-1, 0, 1, 127, -128, -128]);
    // No zero point: ui8, zero point 0; output_dtype = INT8 selects i8.
    let y = run1("QuantizeLinear", &[], &[&x, &scale]);
    assert_eq!(
        (y.elem(), y.as_i64().unwrap()),
        (ElemType::U8, &[0, 1, 2, 255, 0, 0][..])
    );
    let y = run1(
        "QuantizeLinear",
        &[("output_dtype", Attribute::i64(3))],
        &[&x, &scale],
    );
    assert_eq!(y.as_i64().unwrap(), &[0, 1, 2, 127, -127, -128]);
}

#[test]
fn quantize_and_dequantize_per_axis_and_blocked() {
    // x [2, 3], per-axis along 1.
    let x = f32t(&[2, 3], &[1.0, 2.0, 3.0, -1.0, -2.0, -3.0]);
    let scale = f32t(&[3], &[0.5, 1.0, 2.0]);
    let zp = i8t(&[3], &[0, 1, -1]);
    let q = run1("QuantizeLinear", &[], &[&x, &scale, &zp]);
    assert_eq!(q.as_i64().unwrap(), &[2, 3, 1, -2, -1, -3]);
    let back = run1("DequantizeLinear", &[], &[&q, &scale, &zp]);
    assert_eq!(back.as_f32().unwrap(), &[1.0, 2.0, 4.0, -1.0, -2.0, -4.0]);
    // Per axis 0.
    let s0 = f32t(&[2], &[1.0, 0.5]);
    let q = run1("QuantizeLinear", &[("axis", Attribute::i64(0))], &[&x, &s0]);
    assert_eq!(q.as_i64().unwrap(), &[1, 2, 3, 0, 0, 0]);
    // Blocked along axis 1 with block_size 2: scales [2, 2].
    let sb = f32t(&[2, 2], &[1.0, 0.25, 2.0, 4.0]);
    let y = run1(
        "DequantizeLinear",
        &[
            ("axis", Attribute::i64(1)),
            ("block_size", Attribute::i64(2)),
        ],
        &[&i8t(&[2, 3], &[1, 2, 3, 4, 5, 6]), &sb],
    );
    assert_eq!(y.as_f32().unwrap(), &[1.0, 2.0, 0.75, 8.0, 10.0, 24.0]);
    // Mismatched per-axis length is an error.
    assert!(try_run("DequantizeLinear", &[], &[&i8t(&[2, 3], &[0; 6]), &s0]).is_err());
}

#[test]
fn dequantize_linear_per_tensor_and_i32() {
    let x = u8t(&[4], &[0, 3, 128, 255]);
    let y = run1(
        "DequantizeLinear",
        &[],
        &[&x, &f32t(&[], &[2.0]), &u8t(&[], &[128])],
    );
    assert_eq!(y.as_f32().unwrap(), &[-256.0, -250.0, 0.0, 254.0]);
    let acc = Tensor::new(ElemType::I32, vec![2], TensorData::I64(vec![-7, 1 << 20])).unwrap();
    let y = run1("DequantizeLinear", &[], &[&acc, &f32t(&[1], &[0.5])]);
    assert_eq!(y.as_f32().unwrap(), &[-3.5, 524_288.0]);
}

#[test]
fn matmul_integer_matches_the_onnx_example() {
    let a = u8t(&[4, 3], &[11, 7, 3, 10, 6, 2, 9, 5, 1, 8, 4, 0]);
    let b = u8t(&[3, 2], &[1, 4, 2, 5, 3, 6]);
    let y = run1(
        "MatMulInteger",
        &[],
        &[&a, &b, &u8t(&[], &[12]), &u8t(&[], &[0])],
    );
    assert_eq!(y.elem(), ElemType::I32);
    assert_eq!(y.shape(), &[4, 2]);
    assert_eq!(
        y.as_i64().unwrap(),
        &[-38, -83, -44, -98, -50, -113, -56, -128]
    );
}

/// `(A − a_zp[row]) · (B − b_zp[col])` by direct loops.
fn naive(
    a: &[i64],
    b: &[i64],
    za: &[i64],
    zb: &[i64],
    (m, k, n): (usize, usize, usize),
) -> Vec<i64> {
    let mut out = vec![0; m * n];
    for i in 0..m {
        for j in 0..n {
            out[i * n + j] = (0..k)
                .map(|t| (a[i * k + t] - za[i % za.len()]) * (b[t * n + j] - zb[j % zb.len()]))
                .sum();
        }
    }
    out
}

#[test]
fn matmul_integer_zero_points_on_random_data() {
    let mut rng = Lcg(11);
    for &(m, k, n) in &[
        (1usize, 1usize, 1usize),
        (3, 5, 4),
        (8, 33, 7),
        (5, 128, 16),
    ] {
        let a: Vec<i64> = (0..m * k).map(|_| rng.int(0, 255)).collect();
        let b: Vec<i64> = (0..k * n).map(|_| rng.int(-128, 127)).collect();
        let za = rng.int(0, 255);
        let zb: Vec<i64> = (0..n).map(|_| rng.int(-128, 127)).collect();
        let (ta, tb) = (u8t(&[m, k], &a), i8t(&[k, n], &b));
        // Per-tensor A, per-column B.
        let y = run1(
            "MatMulInteger",
            &[],
            &[&ta, &tb, &u8t(&[], &[za]), &i8t(&[n], &zb)],
        );
        assert_eq!(y.as_i64().unwrap(), naive(&a, &b, &[za], &zb, (m, k, n)));
        // Per-row A, no B zero point.
        let zr: Vec<i64> = (0..m).map(|_| rng.int(0, 255)).collect();
        let y = run1("MatMulInteger", &[], &[&ta, &tb, &u8t(&[m], &zr)]);
        assert_eq!(y.as_i64().unwrap(), naive(&a, &b, &zr, &[0], (m, k, n)));
    }
}

#[test]
fn matmul_integer_batches_and_checks_types() {
    let a = i8t(&[2, 1, 2], &[1, -2, 3, 4]);
    let b = i8t(&[2, 2], &[1, 0, 0, 1]);
    let y = run1("MatMulInteger", &[], &[&a, &b]);
    assert_eq!(y.shape(), &[2, 1, 2]);
    assert_eq!(y.as_i64().unwrap(), &[1, -2, 3, 4]);
    let f = f32t(&[2, 2], &[0.0; 4]);
    assert!(try_run("MatMulInteger", &[], &[&f, &b]).is_err());
    // A zero point of another type than A is an error.
    assert!(try_run("MatMulInteger", &[], &[&a, &b, &u8t(&[], &[1])]).is_err());
}
