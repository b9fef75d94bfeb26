//! Gather*, ScatterND, Slice and Trilu.

use super::*;

fn iota(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    f32t(shape, &(0..n).map(|i| i as f32).collect::<Vec<_>>())
}

#[test]
fn gather_negative_indices_and_axis() {
    let x = iota(&[3, 2]);
    let y = run1("Gather", &[], &[&x, &i64t(&[2], &[-1, 0])]);
    assert_eq!(
        (y.shape(), y.as_f32().unwrap()),
        (&[2, 2][..], &[4.0, 5.0, 0.0, 1.0][..])
    );
    let y = run1(
        "Gather",
        &[("axis", Attribute::i64(1))],
        &[&x, &i64t(&[], &[1])],
    );
    assert_eq!(
        (y.shape(), y.as_f32().unwrap()),
        (&[3][..], &[1.0, 3.0, 5.0][..])
    );
    let y = run1("Gather", &[], &[&x, &i64t(&[1, 2], &[2, 1])]);
    assert_eq!(y.shape(), &[1, 2, 2]);
    let err = try_run("Gather", &[], &[&x, &i64t(&[1], &[3])]).unwrap_err();
    assert!(
        err.to_string()
            .contains("index 3 is out of range for axis 0 of size 3"),
        "{err}"
    );
    assert!(try_run("Gather", &[], &[&x, &i64t(&[1], &[-4])]).is_err());
}

#[test]
fn gather_elements_along_axis() {
    let x = f32t(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let idx = i64t(&[2, 2], &[0, 0, 1, 0]);
    let y = run1(
        "GatherElements",
        &[("axis", Attribute::i64(1))],
        &[&x, &idx],
    );
    assert_eq!(y.as_f32().unwrap(), &[1.0, 1.0, 4.0, 3.0]);
    let idx = i64t(&[1, 2], &[1, -2]);
    let y = run1("GatherElements", &[], &[&x, &idx]);
    assert_eq!(y.as_f32().unwrap(), &[3.0, 2.0]);
    assert!(try_run("GatherElements", &[], &[&x, &i64t(&[1, 2], &[2, 0])]).is_err());
}

#[test]
fn gather_nd_with_and_without_batch_dims() {
    let x = iota(&[2, 2]);
    let y = run1("GatherND", &[], &[&x, &i64t(&[2, 2], &[0, 0, 1, 1])]);
    assert_eq!(y.as_f32().unwrap(), &[0.0, 3.0]);
    let y = run1("GatherND", &[], &[&x, &i64t(&[2, 1], &[1, 0])]);
    assert_eq!(
        (y.shape(), y.as_f32().unwrap()),
        (&[2, 2][..], &[2.0, 3.0, 0.0, 1.0][..])
    );
    let x = iota(&[2, 2, 2]);
    let y = run1(
        "GatherND",
        &[("batch_dims", Attribute::i64(1))],
        &[&x, &i64t(&[2, 1], &[1, 0])],
    );
    assert_eq!(
        (y.shape(), y.as_f32().unwrap()),
        (&[2, 2][..], &[2.0, 3.0, 4.0, 5.0][..])
    );
    assert!(try_run("GatherND", &[], &[&x, &i64t(&[1, 4], &[0, 0, 0, 0])]).is_err());
}

#[test]
fn scatter_nd_replaces_or_reduces_slices() {
    let x = iota(&[2, 3]);
    // Whole rows (k = 1), one negative index.
    let y = run1(
        "ScatterND",
        &[],
        &[&x, &i64t(&[1, 1], &[-1]), &f32t(&[1, 3], &[9.0, 8.0, 7.0])],
    );
    assert_eq!(y.as_f32().unwrap(), &[0.0, 1.0, 2.0, 9.0, 8.0, 7.0]);
    // Single elements (k = rank), in index order: the later duplicate wins.
    let idx = i64t(&[3, 2], &[0, 1, 1, 2, 0, 1]);
    let upd = f32t(&[3], &[10.0, 20.0, 30.0]);
    let y = run1("ScatterND", &[], &[&x, &idx, &upd]);
    assert_eq!(y.as_f32().unwrap(), &[0.0, 30.0, 2.0, 3.0, 4.0, 20.0]);
    let add = [("reduction", Attribute::String("add".into()))];
    let y = run1("ScatterND", &add, &[&x, &idx, &upd]);
    assert_eq!(y.as_f32().unwrap(), &[0.0, 41.0, 2.0, 3.0, 4.0, 25.0]);
    let y = run1(
        "ScatterND",
        &[],
        &[
            &boolt(&[2], &[false, false]),
            &i64t(&[1, 1], &[1]),
            &boolt(&[1], &[true]),
        ],
    );
    assert_eq!(y.as_bool().unwrap(), &[false, true]);
    assert!(try_run(
        "ScatterND",
        &[],
        &[&x, &i64t(&[1, 1], &[2]), &f32t(&[1, 3], &[0.0; 3])]
    )
    .is_err());
    assert!(try_run(
        "ScatterND",
        &[],
        &[&x, &i64t(&[1, 1], &[0]), &f32t(&[3], &[0.0; 3])]
    )
    .is_err());
    let bad = [("reduction", Attribute::String("sub".into()))];
    assert!(try_run("ScatterND", &bad, &[&x, &idx, &upd]).is_err());
}

fn slice(x: &Tensor, starts: &[i64], ends: &[i64], axes: &[i64], steps: &[i64]) -> Tensor {
    let n = starts.len();
    run1(
        "Slice",
        &[],
        &[
            x,
            &i64t(&[n], starts),
            &i64t(&[n], ends),
            &i64t(&[n], axes),
            &i64t(&[n], steps),
        ],
    )
}

#[test]
fn slice_edge_cases() {
    let x = iota(&[10]);
    // Negative and clamped bounds.
    assert_eq!(
        slice(&x, &[-3], &[i64::MAX], &[0], &[1]).as_f32().unwrap(),
        &[7.0, 8.0, 9.0]
    );
    assert_eq!(
        slice(&x, &[-100], &[2], &[0], &[1]).as_f32().unwrap(),
        &[0.0, 1.0]
    );
    // Positive step with a remainder.
    assert_eq!(
        slice(&x, &[1], &[8], &[0], &[3]).as_f32().unwrap(),
        &[1.0, 4.0, 7.0]
    );
    // Negative steps: full reversal with INT64_MIN end, and a partial one.
    let rev = slice(&x, &[-1], &[i64::MIN], &[0], &[-1]);
    assert_eq!(
        rev.as_f32().unwrap(),
        &[9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0, 0.0]
    );
    assert_eq!(
        slice(&x, &[8], &[1], &[0], &[-3]).as_f32().unwrap(),
        &[8.0, 5.0, 2.0]
    );
    assert_eq!(
        slice(&x, &[100], &[-100], &[0], &[-4]).as_f32().unwrap(),
        &[9.0, 5.0, 1.0]
    );
    // Extreme steps take one element without overflowing.
    assert_eq!(
        slice(&x, &[0], &[10], &[0], &[i64::MAX]).as_f32().unwrap(),
        &[0.0]
    );
    assert_eq!(
        slice(&x, &[-1], &[i64::MIN], &[0], &[i64::MIN])
            .as_f32()
            .unwrap(),
        &[9.0]
    );
    // Empty results.
    assert_eq!(slice(&x, &[5], &[5], &[0], &[1]).shape(), &[0]);
    assert_eq!(slice(&x, &[2], &[5], &[0], &[-1]).shape(), &[0]);
    // 2-D, negative axis, defaults for axes/steps.
    let m = iota(&[3, 4]);
    let y = slice(&m, &[1], &[-1], &[-1], &[1]);
    assert_eq!(
        (y.shape(), y.as_f32().unwrap()),
        (&[3, 2][..], &[1.0, 2.0, 5.0, 6.0, 9.0, 10.0][..])
    );
    let y = run1("Slice", &[], &[&m, &i64t(&[1], &[2]), &i64t(&[1], &[3])]);
    assert_eq!(y.as_f32().unwrap(), &[8.0, 9.0, 10.0, 11.0]);
    let step0 = run("Slice", &[], &[&x, &i64t(&[1], &[0]), &i64t(&[1], &[3])]);
    assert_eq!(step0[0].len(), 3);
    let n = [
        &x,
        &i64t(&[1], &[0]),
        &i64t(&[1], &[3]),
        &i64t(&[1], &[0]),
        &i64t(&[1], &[0]),
    ];
    assert!(try_run("Slice", &[], &n).is_err(), "step 0");
    let dup = [
        &m,
        &i64t(&[2], &[0, 0]),
        &i64t(&[2], &[1, 1]),
        &i64t(&[2], &[0, -2]),
    ];
    assert!(try_run("Slice", &[], &dup).is_err(), "repeated axis");
}

#[test]
fn trilu_upper_lower_with_k() {
    let x = f32t(&[3, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
    let up = run1("Trilu", &[], &[&x]);
    assert_eq!(
        up.as_f32().unwrap(),
        &[1.0, 2.0, 3.0, 0.0, 5.0, 6.0, 0.0, 0.0, 9.0]
    );
    let low = run1(
        "Trilu",
        &[("upper", Attribute::i64(0))],
        &[&x, &i64t(&[], &[-1])],
    );
    assert_eq!(
        low.as_f32().unwrap(),
        &[0.0, 0.0, 0.0, 4.0, 0.0, 0.0, 7.0, 8.0, 0.0]
    );
    let b = boolt(&[2, 2, 2], &[true; 8]);
    let up1 = run1("Trilu", &[], &[&b, &i64t(&[], &[1])]);
    assert_eq!(
        up1.as_bool().unwrap(),
        &[false, true, false, false, false, true, false, false]
    );
}
