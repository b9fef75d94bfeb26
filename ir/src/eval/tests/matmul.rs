//! MatMul, Gemm and Conv.

use super::*;

fn iota(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    f32t(shape, &(0..n).map(|i| i as f32).collect::<Vec<_>>())
}

#[test]
fn matmul_2d_and_1d_operands() {
    let a = f32t(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let b = f32t(&[3, 2], &[7.0, 8.0, 9.0, 10.0, 11.0, 12.0]);
    let y = run1("MatMul", &[], &[&a, &b]);
    assert_eq!(
        (y.shape(), y.as_f32().unwrap()),
        (&[2, 2][..], &[58.0, 64.0, 139.0, 154.0][..])
    );
    let v = f32t(&[3], &[1.0, 0.0, -1.0]);
    let y = run1("MatMul", &[], &[&a, &v]);
    assert_eq!(
        (y.shape(), y.as_f32().unwrap()),
        (&[2][..], &[-2.0, -2.0][..])
    );
    let y = run1("MatMul", &[], &[&v, &b]);
    assert_eq!(
        (y.shape(), y.as_f32().unwrap()),
        (&[2][..], &[-4.0, -4.0][..])
    );
    let y = run1("MatMul", &[], &[&v, &v]);
    assert_eq!((y.shape(), y.as_f32().unwrap()), (&[][..], &[2.0][..]));
    assert!(try_run("MatMul", &[], &[&a, &a]).is_err());
}

#[test]
fn matmul_broadcasts_batch_dims() {
    // [2,1,2,2] x [3,2,1] -> [2,3,2,1]
    let a = iota(&[2, 1, 2, 2]);
    let b = f32t(&[3, 2, 1], &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
    let y = run1("MatMul", &[], &[&a, &b]);
    assert_eq!(y.shape(), &[2, 3, 2, 1]);
    // a[0] = [[0,1],[2,3]], a[1] = [[4,5],[6,7]]; b picks column 0, column 1, row sums.
    assert_eq!(
        y.as_f32().unwrap(),
        &[0.0, 2.0, 1.0, 3.0, 1.0, 5.0, 4.0, 6.0, 5.0, 7.0, 9.0, 13.0]
    );
    let ia = i64t(&[1, 2], &[2, 3]);
    let ib = i64t(&[2, 1], &[4, 5]);
    assert_eq!(run1("MatMul", &[], &[&ia, &ib]).as_i64().unwrap(), &[23]);
}

#[test]
fn gemm_transposes_alpha_beta_and_bias_broadcast() {
    let a = f32t(&[3, 2], &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]); // A^T of [[1,2,3],[4,5,6]]
    let b = f32t(&[2, 3], &[7.0, 9.0, 11.0, 8.0, 10.0, 12.0]); // B^T of [[7,8],[9,10],[11,12]]
    let c = f32t(&[2], &[1.0, -1.0]);
    let y = run1(
        "Gemm",
        &[
            ("transA", Attribute::i64(1)),
            ("transB", Attribute::i64(1)),
            ("alpha", Attribute::f32(0.5)),
            ("beta", Attribute::f32(2.0)),
        ],
        &[&a, &b, &c],
    );
    // 0.5 * [[58,64],[139,154]] + 2 * [1,-1]
    assert_eq!(y.as_f32().unwrap(), &[31.0, 30.0, 71.5, 75.0]);
    let y = run1(
        "Gemm",
        &[],
        &[&f32t(&[1, 2], &[1.0, 2.0]), &f32t(&[2, 1], &[3.0, 4.0])],
    );
    assert_eq!(y.as_f32().unwrap(), &[11.0]);
    let bad_c = f32t(&[3], &[0.0; 3]);
    assert!(try_run(
        "Gemm",
        &[],
        &[
            &f32t(&[1, 2], &[1.0, 2.0]),
            &f32t(&[2, 1], &[3.0, 4.0]),
            &bad_c
        ]
    )
    .is_err());
}

#[test]
fn conv_2d_padding_stride_bias() {
    let x = iota(&[1, 1, 3, 3]);
    let w = f32t(&[1, 1, 2, 2], &[1.0, 1.0, 1.0, 1.0]);
    let b = f32t(&[1], &[0.5]);
    let y = run1("Conv", &[], &[&x, &w, &b]);
    // Sums of each 2x2 window of [[0,1,2],[3,4,5],[6,7,8]], plus 0.5.
    assert_eq!(
        (y.shape(), y.as_f32().unwrap()),
        (&[1, 1, 2, 2][..], &[8.5, 12.5, 20.5, 24.5][..])
    );
    let y = run1(
        "Conv",
        &[("pads", ints(&[1, 1, 1, 1])), ("strides", ints(&[2, 2]))],
        &[&x, &w],
    );
    // Padded windows at (-1,-1), (-1,1), (1,-1), (1,1).
    assert_eq!(
        (y.shape(), y.as_f32().unwrap()),
        (&[1, 1, 2, 2][..], &[0.0, 3.0, 9.0, 24.0][..])
    );
    let y = run1(
        "Conv",
        &[("auto_pad", Attribute::string("SAME_UPPER"))],
        &[&x, &w],
    );
    assert_eq!(y.shape(), &[1, 1, 3, 3]);
    assert_eq!(
        y.as_f32().unwrap()[8],
        8.0,
        "bottom-right window only sees x[2,2]"
    );
    let y = run1("Conv", &[("dilations", ints(&[2, 2]))], &[&x, &w]);
    assert_eq!(y.as_f32().unwrap(), &[16.0]);
}

#[test]
fn conv_groups_and_1d() {
    // Two channels, depthwise (group = 2): channel 0 scaled by 1, channel 1 by -1.
    let x = f32t(&[1, 2, 1, 2], &[1.0, 2.0, 3.0, 4.0]);
    let w = f32t(&[2, 1, 1, 1], &[1.0, -1.0]);
    let y = run1("Conv", &[("group", Attribute::i64(2))], &[&x, &w]);
    assert_eq!(y.as_f32().unwrap(), &[1.0, 2.0, -3.0, -4.0]);
    assert!(try_run("Conv", &[("group", Attribute::i64(3))], &[&x, &w]).is_err());
    // 1-D: [1,1,4] with kernel [1,2].
    let x = f32t(&[1, 1, 4], &[1.0, 2.0, 3.0, 4.0]);
    let w = f32t(&[1, 1, 2], &[1.0, -1.0]);
    let y = run1("Conv", &[], &[&x, &w]);
    assert_eq!(
        (y.shape(), y.as_f32().unwrap()),
        (&[1, 1, 3][..], &[-1.0, -1.0, -1.0][..])
    );
    // Kernel larger than the (unpadded) input.
    assert!(try_run("Conv", &[], &[&f32t(&[1, 1, 1], &[1.0]), &w]).is_err());
}
