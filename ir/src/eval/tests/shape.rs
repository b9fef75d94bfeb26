//! Shape manipulation kernels.

use super::*;

fn iota(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    f32t(shape, &(0..n).map(|i| i as f32).collect::<Vec<_>>())
}

#[test]
fn reshape_zero_copies_and_minus_one_infers() {
    let x = iota(&[2, 3, 4]);
    let y = run1("Reshape", &[], &[&x, &i64t(&[3], &[0, -1, 2])]);
    assert_eq!(y.shape(), &[2, 6, 2]);
    assert_eq!(y.as_f32(), x.as_f32());
    let err = try_run("Reshape", &[], &[&x, &i64t(&[2], &[-1, -1])]).unwrap_err();
    assert!(err.to_string().contains("more than one -1"), "{err}");
    assert!(try_run("Reshape", &[], &[&x, &i64t(&[2], &[5, -1])]).is_err());
    assert!(try_run("Reshape", &[], &[&x, &i64t(&[2], &[4, 7])]).is_err());
    // allowzero: a 0 is a real zero dim.
    let empty = f32t(&[0, 3], &[]);
    let y = run1(
        "Reshape",
        &[("allowzero", Attribute::i64(1))],
        &[&empty, &i64t(&[2], &[3, 0])],
    );
    assert_eq!(y.shape(), &[3, 0]);
}

#[test]
fn flatten_squeeze_unsqueeze_with_negative_axes() {
    let x = iota(&[2, 3, 4]);
    assert_eq!(run1("Flatten", &[], &[&x]).shape(), &[2, 12]);
    assert_eq!(
        run1("Flatten", &[("axis", Attribute::i64(-1))], &[&x]).shape(),
        &[6, 4]
    );
    assert_eq!(
        run1("Flatten", &[("axis", Attribute::i64(0))], &[&x]).shape(),
        &[1, 24]
    );
    let u = run1("Unsqueeze", &[], &[&x, &i64t(&[2], &[0, -1])]);
    assert_eq!(u.shape(), &[1, 2, 3, 4, 1]);
    let s = run1("Squeeze", &[], &[&u, &i64t(&[1], &[-1])]);
    assert_eq!(s.shape(), &[1, 2, 3, 4]);
    assert_eq!(run1("Squeeze", &[], &[&u]).shape(), &[2, 3, 4]);
    // Opset < 13 form: axes as an attribute.
    assert_eq!(
        run1("Unsqueeze", &[("axes", ints(&[1]))], &[&x]).shape(),
        &[2, 1, 3, 4]
    );
    assert!(
        try_run("Squeeze", &[], &[&x, &i64t(&[1], &[0])]).is_err(),
        "dim 2 is not 1"
    );
    assert!(
        try_run("Unsqueeze", &[], &[&x, &i64t(&[2], &[1, 1])]).is_err(),
        "repeated axis"
    );
}

#[test]
fn transpose_with_perm_and_default_reverse() {
    let x = iota(&[2, 3]);
    let y = run1("Transpose", &[], &[&x]);
    assert_eq!(
        (y.shape(), y.as_f32().unwrap()),
        (&[3, 2][..], &[0.0, 3.0, 1.0, 4.0, 2.0, 5.0][..])
    );
    let x = iota(&[2, 2, 2]);
    let y = run1("Transpose", &[("perm", ints(&[1, 0, 2]))], &[&x]);
    assert_eq!(
        y.as_f32().unwrap(),
        &[0.0, 1.0, 4.0, 5.0, 2.0, 3.0, 6.0, 7.0]
    );
    assert!(try_run("Transpose", &[("perm", ints(&[0, 0, 1]))], &[&x]).is_err());
}

#[test]
fn concat_on_negative_axis_and_split_forms() {
    let a = iota(&[2, 1]);
    let b = f32t(&[2, 2], &[10.0, 11.0, 12.0, 13.0]);
    let y = run1("Concat", &[("axis", Attribute::i64(-1))], &[&a, &b]);
    assert_eq!(
        (y.shape(), y.as_f32().unwrap()),
        (&[2, 3][..], &[0.0, 10.0, 11.0, 1.0, 12.0, 13.0][..])
    );
    assert!(try_run("Concat", &[("axis", Attribute::i64(0))], &[&a, &b]).is_err());

    let x = iota(&[2, 5]);
    let parts = run(
        "Split",
        &[("axis", Attribute::i64(1))],
        &[&x, &i64t(&[2], &[2, 3])],
    );
    assert_eq!(parts[0].as_f32().unwrap(), &[0.0, 1.0, 5.0, 6.0]);
    assert_eq!(parts[1].as_f32().unwrap(), &[2.0, 3.0, 4.0, 7.0, 8.0, 9.0]);
    // num_outputs (opset 18): chunks of ceil(5/3) = 2, the last one smaller.
    let parts = run(
        "Split",
        &[
            ("axis", Attribute::i64(-1)),
            ("num_outputs", Attribute::i64(3)),
        ],
        &[&x],
    );
    let widths: Vec<usize> = parts.iter().map(|p| p.shape()[1]).collect();
    assert_eq!(widths, vec![2, 2, 1]);
    // No sizes: an even split into the number of results.
    let inputs = [Some(&x)];
    let halves = eval_op_n("Split", &AttrDict::new(), &inputs, 17, Some(2)).unwrap();
    assert_eq!(halves[1].as_f32().unwrap(), &[5.0, 6.0, 7.0, 8.0, 9.0]);
    assert!(try_run(
        "Split",
        &[("axis", Attribute::i64(1))],
        &[&x, &i64t(&[2], &[2, 2])]
    )
    .is_err());
    let absurd = [("num_outputs", Attribute::i64(i64::MAX))];
    assert!(
        try_run("Split", &absurd, &[&x]).is_err(),
        "more outputs than elements"
    );
}

#[test]
fn expand_and_tile() {
    let x = f32t(&[3, 1], &[1.0, 2.0, 3.0]);
    let y = run1("Expand", &[], &[&x, &i64t(&[3], &[2, 1, 2])]);
    assert_eq!(y.shape(), &[2, 3, 2]);
    assert_eq!(y.as_f32().unwrap()[..6], [1.0, 1.0, 2.0, 2.0, 3.0, 3.0]);
    // Expand is bidirectional: a 1 in the shape keeps the input's dim.
    let y = run1("Expand", &[], &[&x, &i64t(&[2], &[1, 4])]);
    assert_eq!(y.shape(), &[3, 4]);
    let t = run1("Tile", &[], &[&f32t(&[2], &[1.0, 2.0]), &i64t(&[1], &[3])]);
    assert_eq!(t.as_f32().unwrap(), &[1.0, 2.0, 1.0, 2.0, 1.0, 2.0]);
    let t = run1("Tile", &[], &[&iota(&[1, 2]), &i64t(&[2], &[2, 2])]);
    assert_eq!(
        (t.shape(), t.as_f32().unwrap()),
        (&[2, 4][..], &[0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0][..])
    );
    assert!(try_run("Expand", &[], &[&x, &i64t(&[1], &[-1])]).is_err());
}

#[test]
fn shape_size_and_constant_of_shape() {
    let x = iota(&[2, 3, 4]);
    assert_eq!(run1("Shape", &[], &[&x]).as_i64().unwrap(), &[2, 3, 4]);
    let s = run1("Shape", &[("start", Attribute::i64(-2))], &[&x]);
    assert_eq!(s.as_i64().unwrap(), &[3, 4]);
    let s = run1(
        "Shape",
        &[("start", Attribute::i64(1)), ("end", Attribute::i64(-1))],
        &[&x],
    );
    assert_eq!(s.as_i64().unwrap(), &[3]);
    let s = run1("Shape", &[("start", Attribute::i64(5))], &[&x]);
    assert_eq!(s.shape(), &[0]);
    assert_eq!(run1("Size", &[], &[&x]).as_i64().unwrap(), &[24]);
    let value = Attribute::Dense(crate::attr::DenseAttr::from_i64(&[1], &[7]).unwrap());
    let c = run1(
        "ConstantOfShape",
        &[("value", value)],
        &[&i64t(&[2], &[2, 2])],
    );
    assert_eq!(
        (c.elem(), c.as_i64().unwrap()),
        (ElemType::I64, &[7; 4][..])
    );
    let c = run1("ConstantOfShape", &[], &[&i64t(&[0], &[])]);
    assert_eq!((c.shape(), c.as_f32().unwrap()), (&[][..], &[0.0][..]));
}

#[test]
fn range_counts_like_onnx() {
    let r = |s: i64, l: i64, d: i64| {
        run1(
            "Range",
            &[],
            &[&i64t(&[], &[s]), &i64t(&[], &[l]), &i64t(&[], &[d])],
        )
    };
    assert_eq!(r(0, 5, 2).as_i64().unwrap(), &[0, 2, 4]);
    assert_eq!(r(10, 4, -3).as_i64().unwrap(), &[10, 7]);
    assert_eq!(r(3, 3, 1).shape(), &[0]);
    assert_eq!(r(5, 0, 1).shape(), &[0]);
    let f = run1(
        "Range",
        &[],
        &[&f32t(&[], &[0.5]), &f32t(&[], &[2.0]), &f32t(&[], &[0.5])],
    );
    assert_eq!(f.as_f32().unwrap(), &[0.5, 1.0, 1.5]);
    let zero = i64t(&[], &[0]);
    assert!(try_run("Range", &[], &[&zero, &zero, &zero]).is_err());
    let huge = run1(
        "Range",
        &[],
        &[
            &i64t(&[], &[i64::MIN]),
            &i64t(&[], &[i64::MAX]),
            &i64t(&[], &[i64::MAX]),
        ],
    );
    assert_eq!(huge.as_i64().unwrap(), &[i64::MIN, -1, i64::MAX - 1]);
}

#[test]
fn oversized_results_are_rejected() {
    let x = f32t(&[1], &[0.0]);
    let err = try_run("Expand", &[], &[&x, &i64t(&[2], &[1 << 20, 1 << 20])]).unwrap_err();
    assert!(matches!(err.kind, EvalErrorKind::TooLarge(_)), "{err}");
    let err = try_run(
        "ConstantOfShape",
        &[],
        &[&i64t(&[3], &[1 << 30, 1 << 30, 1 << 30])],
    )
    .unwrap_err();
    assert!(matches!(err.kind, EvalErrorKind::TooLarge(_)), "{err}");
    let err = try_run("Tile", &[], &[&x, &i64t(&[1], &[i64::MAX])]).unwrap_err();
    assert!(matches!(err.kind, EvalErrorKind::TooLarge(_)), "{err}");
}
