//! Elementwise, comparison, logic, cast and reduction kernels.

use super::*;

#[test]
fn add_broadcasts_column_against_row() {
    let a = f32t(&[2, 1], &[10.0, 20.0]);
    let b = f32t(&[3], &[1.0, 2.0, 3.0]);
    let y = run1("Add", &[], &[&a, &b]);
    assert_eq!(y.shape(), &[2, 3]);
    assert_eq!(y.as_f32().unwrap(), &[11.0, 12.0, 13.0, 21.0, 22.0, 23.0]);
    // Sub is not commutative: check operand order under broadcasting.
    let y = run1("Sub", &[], &[&b, &a]);
    assert_eq!(
        y.as_f32().unwrap(),
        &[-9.0, -8.0, -7.0, -19.0, -18.0, -17.0]
    );
}

#[test]
fn incompatible_broadcast_is_an_error_with_shapes() {
    let a = f32t(&[2, 3], &[0.0; 6]);
    let b = f32t(&[2], &[0.0; 2]);
    let err = try_run("Mul", &[], &[&a, &b]).unwrap_err();
    assert!(
        err.to_string().contains("[2, 3]") && err.to_string().contains("[2]"),
        "{err}"
    );
}

#[test]
fn mixed_element_types_are_rejected() {
    let a = f32t(&[1], &[1.0]);
    let b = i64t(&[1], &[1]);
    let err = try_run("Add", &[], &[&a, &b]).unwrap_err();
    assert!(
        matches!(err.kind, EvalErrorKind::Input { index: 1, .. }),
        "{err}"
    );
}

#[test]
fn integer_div_truncates_and_mod_follows_divisor_sign() {
    let a = i64t(&[4], &[7, -7, 7, -7]);
    let b = i64t(&[4], &[2, 2, -2, -2]);
    assert_eq!(
        run1("Div", &[], &[&a, &b]).as_i64().unwrap(),
        &[3, -3, -3, 3]
    );
    assert_eq!(
        run1("Mod", &[], &[&a, &b]).as_i64().unwrap(),
        &[1, 1, -1, -1]
    );
    let fmod = run1("Mod", &[("fmod", Attribute::i64(1))], &[&a, &b]);
    assert_eq!(fmod.as_i64().unwrap(), &[1, -1, 1, -1]);
    let zero = i64t(&[1], &[0]);
    assert!(try_run("Div", &[], &[&a, &zero]).is_err());
    let fa = f32t(&[1], &[1.0]);
    assert!(
        try_run("Mod", &[], &[&fa, &fa]).is_err(),
        "float Mod needs fmod=1"
    );
}

#[test]
fn int32_arithmetic_wraps() {
    let a = Tensor::new(
        ElemType::I32,
        vec![1],
        TensorData::I64(vec![i64::from(i32::MAX)]),
    )
    .unwrap();
    let one = Tensor::new(ElemType::I32, vec![1], TensorData::I64(vec![1])).unwrap();
    let y = run1("Add", &[], &[&a, &one]);
    assert_eq!(
        (y.elem(), y.as_i64().unwrap()),
        (ElemType::I32, &[i64::from(i32::MIN)][..])
    );
}

#[test]
fn pow_with_mixed_types() {
    let x = f32t(&[3], &[2.0, 3.0, 4.0]);
    let e = i64t(&[], &[3]);
    assert_eq!(
        run1("Pow", &[], &[&x, &e]).as_f32().unwrap(),
        &[8.0, 27.0, 64.0]
    );
    let half = f32t(&[], &[0.5]);
    assert_close(
        run1("Pow", &[], &[&x, &half]).as_f32().unwrap(),
        &[std::f32::consts::SQRT_2, 1.732_050_8, 2.0],
        1e-6,
    );
    let base = i64t(&[3], &[2, -3, 5]);
    let y = run1("Pow", &[], &[&base, &i64t(&[3], &[10, 3, 0])]);
    assert_eq!(
        (y.elem(), y.as_i64().unwrap()),
        (ElemType::I64, &[1024, -27, 1][..])
    );
    let y = run1("Pow", &[], &[&base, &f32t(&[], &[2.0])]);
    assert_eq!(y.as_i64().unwrap(), &[4, 9, 25]);
}

#[test]
fn unary_math() {
    let x = f32t(&[4], &[-1.0, 0.0, 1.0, 4.0]);
    assert_eq!(
        run1("Abs", &[], &[&x]).as_f32().unwrap(),
        &[1.0, 0.0, 1.0, 4.0]
    );
    assert_eq!(
        run1("Neg", &[], &[&x]).as_f32().unwrap(),
        &[1.0, -0.0, -1.0, -4.0]
    );
    assert_eq!(
        run1("Relu", &[], &[&x]).as_f32().unwrap(),
        &[0.0, 0.0, 1.0, 4.0]
    );
    assert_eq!(
        run1("Sqrt", &[], &[&f32t(&[2], &[4.0, 9.0])])
            .as_f32()
            .unwrap(),
        &[2.0, 3.0]
    );
    assert_eq!(
        run1("Reciprocal", &[], &[&f32t(&[2], &[4.0, -0.5])])
            .as_f32()
            .unwrap(),
        &[0.25, -2.0]
    );
    assert_close(
        run1("Sigmoid", &[], &[&x]).as_f32().unwrap(),
        &[0.268_941_43, 0.5, 0.731_058_6, 0.982_013_8],
        1e-6,
    );
    assert_close(
        run1("Erf", &[], &[&x]).as_f32().unwrap(),
        &[-0.842_700_8, 0.0, 0.842_700_8, 1.0],
        1e-6,
    );
    assert_close(
        run1("Tanh", &[], &[&x]).as_f32().unwrap(),
        &[-0.761_594_2, 0.0, 0.761_594_2, 0.999_329_3],
        1e-6,
    );
    assert_close(
        run1("Exp", &[], &[&x]).as_f32().unwrap(),
        &[0.367_879_44, 1.0, std::f32::consts::E, 54.598_15],
        1e-5,
    );
    let ints_in = i64t(&[2], &[-3, 4]);
    assert_eq!(run1("Abs", &[], &[&ints_in]).as_i64().unwrap(), &[3, 4]);
    assert!(try_run("Exp", &[], &[&ints_in]).is_err());
}

#[test]
fn max_min_are_variadic_and_propagate_nan() {
    let a = f32t(&[3], &[1.0, 5.0, f32::NAN]);
    let b = f32t(&[1], &[3.0]);
    let c = f32t(&[3], &[0.0, 9.0, 0.0]);
    let y = run1("Max", &[], &[&a, &b, &c]);
    assert_eq!(y.as_f32().unwrap()[..2], [3.0, 9.0]);
    assert!(y.as_f32().unwrap()[2].is_nan());
    let y = run1("Min", &[], &[&a, &b]);
    assert_eq!(y.as_f32().unwrap()[..2], [1.0, 3.0]);
}

#[test]
fn comparisons_logic_and_where() {
    let a = i64t(&[3], &[1, 2, 3]);
    let b = i64t(&[], &[2]);
    assert_eq!(
        run1("Less", &[], &[&a, &b]).as_bool().unwrap(),
        &[true, false, false]
    );
    assert_eq!(
        run1("GreaterOrEqual", &[], &[&a, &b]).as_bool().unwrap(),
        &[false, true, true]
    );
    assert_eq!(
        run1("Equal", &[], &[&a, &b]).as_bool().unwrap(),
        &[false, true, false]
    );
    let p = boolt(&[2, 1], &[true, false]);
    let q = boolt(&[2], &[true, false]);
    assert_eq!(
        run1("And", &[], &[&p, &q]).as_bool().unwrap(),
        &[true, false, false, false]
    );
    assert_eq!(
        run1("Or", &[], &[&p, &q]).as_bool().unwrap(),
        &[true, true, true, false]
    );
    assert_eq!(run1("Not", &[], &[&q]).as_bool().unwrap(), &[false, true]);
    let nan = f32t(&[2], &[f32::NAN, 1.0]);
    assert_eq!(
        run1("IsNaN", &[], &[&nan]).as_bool().unwrap(),
        &[true, false]
    );
    // Where broadcasts all three operands: cond [2,1], x scalar, y [2].
    let y = run1(
        "Where",
        &[],
        &[&p, &f32t(&[], &[0.0]), &f32t(&[2], &[7.0, 8.0])],
    );
    assert_eq!(
        (y.shape(), y.as_f32().unwrap()),
        (&[2, 2][..], &[0.0, 0.0, 7.0, 8.0][..])
    );
}

#[test]
fn cast_between_types() {
    let x = f32t(&[4], &[1.7, -1.7, 0.0, 0.1]);
    let to = |code| [("to", Attribute::i64(code))];
    assert_eq!(
        run1("Cast", &to(7), &[&x]).as_i64().unwrap(),
        &[1, -1, 0, 0]
    );
    assert_eq!(
        run1("Cast", &to(9), &[&x]).as_bool().unwrap(),
        &[true, true, false, true]
    );
    let h = run1("Cast", &to(10), &[&x]);
    assert_eq!(h.elem(), ElemType::F16);
    assert_eq!(
        h.as_f32().unwrap(),
        &[1.700_195_3, -1.700_195_3, 0.0, 0.099_975_586]
    );
    let bf = run1("Cast", &to(16), &[&x]);
    assert_eq!(
        bf.as_f32().unwrap(),
        &[1.703_125, -1.703_125, 0.0, 0.100_097_656]
    );
    let i8s = run1("Cast", &to(3), &[&i64t(&[2], &[200, -129])]);
    assert_eq!(
        (i8s.elem(), i8s.as_i64().unwrap()),
        (ElemType::I8, &[-56, 127][..])
    );
    let f = run1("Cast", &to(1), &[&boolt(&[2], &[true, false])]);
    assert_eq!(f.as_f32().unwrap(), &[1.0, 0.0]);
    assert!(
        try_run("Cast", &to(11), &[&x]).is_err(),
        "double is unsupported"
    );
    let like = run1("CastLike", &[], &[&x, &i64t(&[], &[0])]);
    assert_eq!(like.elem(), ElemType::I64);
}

#[test]
fn reductions_with_axes_input_attr_and_keepdims() {
    let x = f32t(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let axes = i64t(&[1], &[-1]);
    let y = run1("ReduceSum", &[], &[&x, &axes]);
    assert_eq!(
        (y.shape(), y.as_f32().unwrap()),
        (&[2, 1][..], &[6.0, 15.0][..])
    );
    let y = run1(
        "ReduceMean",
        &[("axes", ints(&[0])), ("keepdims", Attribute::i64(0))],
        &[&x],
    );
    assert_eq!(
        (y.shape(), y.as_f32().unwrap()),
        (&[3][..], &[2.5, 3.5, 4.5][..])
    );
    let y = run1("ReduceMax", &[("keepdims", Attribute::i64(0))], &[&x]);
    assert_eq!((y.shape(), y.as_f32().unwrap()), (&[][..], &[6.0][..]));
    let noop = run1(
        "ReduceSum",
        &[("noop_with_empty_axes", Attribute::i64(1))],
        &[&x],
    );
    assert_eq!(noop, x);
    let empty = f32t(&[0, 2], &[]);
    let y = run1("ReduceMax", &[("axes", ints(&[0]))], &[&empty]);
    assert_eq!(y.as_f32().unwrap(), &[f32::NEG_INFINITY; 2]);
    let y = run1(
        "ReduceSum",
        &[("axes", ints(&[0]))],
        &[&i64t(&[2, 2], &[1, 2, 3, 4])],
    );
    assert_eq!(y.as_i64().unwrap(), &[4, 6]);
    assert!(try_run("ReduceSum", &[("axes", ints(&[2]))], &[&x]).is_err());
}
