//! Comparing produced outputs with expected ones (e.g. onnxruntime's, from an `.npz`).
//!
//! One [`OutputDiff`] per output name in either map, sorted by name. Values are compared element
//! by element with `numpy.allclose`'s rule under a [`Tolerance`]:
//! `|got − want| ≤ atol + rtol·|want|`. Each comparison reports the worst absolute error and the
//! worst relative error (`|got − want| / |want|`), each with its flat index and the two values,
//! and how many elements break the rule. Two NaNs (or equal infinities) agree; a NaN against a
//! number, or an infinity against anything else, is an infinite error that no tolerance admits,
//! so a NaN never hides behind a tolerance. Booleans compare as 0/1, integers exactly in `i128`.

use std::collections::BTreeMap;
use std::fmt;

use sofa_ir::eval::{Tensor, TensorData};
use sofa_ir::ElemType;

/// `numpy.allclose`'s tolerance: an element passes when `|got − want| ≤ atol + rtol·|want|`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    pub atol: f64,
    pub rtol: f64,
}

impl Tolerance {
    /// `sofa run`'s default: absolute 1e-4, no relative part (what `--tolerance` always meant).
    pub const DEFAULT: Tolerance = Tolerance {
        atol: 1e-4,
        rtol: 0.0,
    };

    /// An absolute tolerance alone.
    pub fn absolute(atol: f64) -> Tolerance {
        Tolerance { atol, rtol: 0.0 }
    }

    /// Whether an element with error `err` against expected value `want` passes.
    pub fn admits(&self, err: f64, want: f64) -> bool {
        // No error always passes (two NaNs, equal infinities, whatever the bound); otherwise a
        // NaN bound fails and an infinite error fails even an infinite bound.
        err == 0.0 || (err.is_finite() && err <= self.atol + self.rtol * want.abs())
    }
}

impl Default for Tolerance {
    fn default() -> Tolerance {
        Tolerance::DEFAULT
    }
}

impl fmt::Display for Tolerance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "atol {:e} + rtol {:e}·|want|", self.atol, self.rtol)
    }
}

/// The comparison of one output.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputDiff {
    pub name: String,
    pub kind: DiffKind,
}

/// One element of a comparison: where it is and the two values (as `f64`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Worst {
    /// The error there (absolute or relative, depending on what it is the worst of).
    pub error: f64,
    /// Flat (row-major) index.
    pub index: usize,
    pub got: f64,
    pub want: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum DiffKind {
    /// Same dtype and shape.
    Values {
        /// The largest `|got − want|` (`None` for an empty tensor).
        worst_abs: Option<Worst>,
        /// The largest `|got − want| / |want|` (infinite where `want` is 0 and `got` is not).
        worst_rel: Option<Worst>,
        /// The first element outside the tolerance, if any.
        first_failure: Option<Worst>,
        /// How many elements are outside the tolerance.
        failures: usize,
        elements: usize,
        tolerance: Tolerance,
    },
    /// Expected but not produced.
    Missing,
    /// Produced but not expected (informational: it does not fail a comparison).
    Unexpected,
    ShapeMismatch {
        actual: Vec<usize>,
        expected: Vec<usize>,
    },
    DtypeMismatch {
        actual: ElemType,
        expected: ElemType,
    },
}

impl OutputDiff {
    /// True when every element is within the comparison's tolerance (or the output was not
    /// expected at all).
    pub fn passes(&self) -> bool {
        match self.kind {
            DiffKind::Values { failures, .. } => failures == 0,
            DiffKind::Unexpected => true,
            _ => false,
        }
    }

    /// The largest absolute error, for values.
    pub fn max_abs_error(&self) -> Option<f64> {
        match &self.kind {
            DiffKind::Values { worst_abs, .. } => Some(worst_abs.map_or(0.0, |w| w.error)),
            _ => None,
        }
    }

    /// The largest relative error, for values.
    pub fn max_rel_error(&self) -> Option<f64> {
        match &self.kind {
            DiffKind::Values { worst_rel, .. } => Some(worst_rel.map_or(0.0, |w| w.error)),
            _ => None,
        }
    }
}

/// An error for people: three decimals in scientific notation (`2.384e-6`, `inf`).
pub fn error_text(e: f64) -> String {
    if e.is_finite() {
        format!("{e:.3e}")
    } else {
        format!("{e}")
    }
}

/// A compared value for people: integers as such, other numbers to 7 significant digits (the
/// precision of f32).
pub fn value_text(v: f64) -> String {
    if v.is_finite() && v == v.trunc() && v.abs() < 1e15 {
        format!("{v}")
    } else if v.is_finite() {
        format!("{v:.6e}")
    } else {
        format!("{v}")
    }
}

fn write_worst(f: &mut fmt::Formatter<'_>, what: &str, w: &Option<Worst>) -> fmt::Result {
    match w {
        Some(w) => write!(
            f,
            "max {what} error {} at flat index {} (got {}, want {})",
            error_text(w.error),
            w.index,
            value_text(w.got),
            value_text(w.want)
        ),
        None => write!(f, "max {what} error 0"),
    }
}

impl fmt::Display for OutputDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = &self.name;
        match &self.kind {
            DiffKind::Values {
                worst_abs,
                worst_rel,
                first_failure,
                failures,
                elements,
                tolerance,
            } => {
                write!(f, "{name}: ")?;
                write_worst(f, "abs", worst_abs)?;
                write!(f, ", ")?;
                write_worst(f, "rel", worst_rel)?;
                write!(f, "; {failures} of {elements} elements outside {tolerance}")?;
                match first_failure {
                    Some(w) => write!(
                        f,
                        " (first at flat index {}: got {}, want {})",
                        w.index,
                        value_text(w.got),
                        value_text(w.want)
                    ),
                    None => Ok(()),
                }
            }
            DiffKind::Missing => write!(f, "{name}: expected but not produced"),
            DiffKind::Unexpected => write!(f, "{name}: produced but not expected"),
            DiffKind::ShapeMismatch { actual, expected } => {
                write!(f, "{name}: shape {actual:?}, expected {expected:?}")
            }
            DiffKind::DtypeMismatch { actual, expected } => {
                write!(f, "{name}: element type {actual}, expected {expected}")
            }
        }
    }
}

/// Compare every output by name under `tolerance`.
pub fn compare(
    actual: &BTreeMap<String, Tensor>,
    expected: &BTreeMap<String, Tensor>,
    tolerance: Tolerance,
) -> Vec<OutputDiff> {
    let mut names: Vec<&String> = actual.keys().chain(expected.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|name| OutputDiff {
            name: name.clone(),
            kind: match (actual.get(name), expected.get(name)) {
                (Some(a), Some(e)) => compare_tensors(a, e, tolerance),
                (None, _) => DiffKind::Missing,
                (Some(_), None) => DiffKind::Unexpected,
            },
        })
        .collect()
}

/// The running worst cases of a comparison.
struct Scan {
    tolerance: Tolerance,
    worst_abs: Option<Worst>,
    worst_rel: Option<Worst>,
    first_failure: Option<Worst>,
    failures: usize,
}

impl Scan {
    fn new(tolerance: Tolerance) -> Scan {
        Scan {
            tolerance,
            worst_abs: None,
            worst_rel: None,
            first_failure: None,
            failures: 0,
        }
    }

    /// One element: its absolute error and the two values.
    fn add(&mut self, index: usize, err: f64, got: f64, want: f64) {
        let at = |error| Worst {
            error,
            index,
            got,
            want,
        };
        // The first of equal errors is kept; a NaN error never occurs (see `float_error`).
        if self.worst_abs.is_none_or(|w| err > w.error) {
            self.worst_abs = Some(at(err));
        }
        let rel = relative(err, want);
        if self.worst_rel.is_none_or(|w| rel > w.error) {
            self.worst_rel = Some(at(rel));
        }
        if !self.tolerance.admits(err, want) {
            self.failures += 1;
            if self.first_failure.is_none() {
                self.first_failure = Some(at(err));
            }
        }
    }
}

/// `err / |want|`: 0 for no error, infinite for an error against 0.
fn relative(err: f64, want: f64) -> f64 {
    if err == 0.0 {
        0.0
    } else if want == 0.0 || !want.is_finite() {
        f64::INFINITY
    } else {
        err / want.abs()
    }
}

fn compare_tensors(a: &Tensor, e: &Tensor, tolerance: Tolerance) -> DiffKind {
    if a.elem() != e.elem() {
        return DiffKind::DtypeMismatch {
            actual: a.elem(),
            expected: e.elem(),
        };
    }
    if a.shape() != e.shape() {
        return DiffKind::ShapeMismatch {
            actual: a.shape().to_vec(),
            expected: e.shape().to_vec(),
        };
    }
    let mut scan = Scan::new(tolerance);
    match (a.data(), e.data()) {
        (TensorData::F32(x), TensorData::F32(y)) => {
            for (i, (&p, &q)) in x.iter().zip(y).enumerate() {
                scan.add(i, float_error(p, q), f64::from(p), f64::from(q));
            }
        }
        (TensorData::I64(x), TensorData::I64(y)) => {
            for (i, (&p, &q)) in x.iter().zip(y).enumerate() {
                let err = (i128::from(p) - i128::from(q)).unsigned_abs() as f64;
                scan.add(i, err, p as f64, q as f64);
            }
        }
        (TensorData::Bool(x), TensorData::Bool(y)) => {
            for (i, (&p, &q)) in x.iter().zip(y).enumerate() {
                let (p, q) = (f64::from(u8::from(p)), f64::from(u8::from(q)));
                scan.add(i, (p - q).abs(), p, q);
            }
        }
        // Same element type implies the same storage.
        _ => scan.add(0, f64::INFINITY, f64::NAN, f64::NAN),
    }
    DiffKind::Values {
        worst_abs: scan.worst_abs,
        worst_rel: scan.worst_rel,
        first_failure: scan.first_failure,
        failures: scan.failures,
        elements: a.len(),
        tolerance,
    }
}

fn float_error(a: f32, e: f32) -> f64 {
    if a.is_nan() || e.is_nan() {
        return if a.is_nan() && e.is_nan() {
            0.0
        } else {
            f64::INFINITY
        };
    }
    if a == e {
        return 0.0; // also covers equal infinities
    }
    (f64::from(a) - f64::from(e)).abs()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: Vec<(&str, Tensor)>) -> BTreeMap<String, Tensor> {
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    }

    fn f(v: &[f32]) -> Tensor {
        Tensor::from_f32(vec![v.len()], v.to_vec()).unwrap()
    }

    #[test]
    fn reports_errors_mismatches_and_missing_outputs() {
        let actual = map(vec![
            ("a", f(&[1.0, 2.0, f32::NAN])),
            ("b", f(&[1.0])),
            ("c", Tensor::from_i64(vec![1], vec![1]).unwrap()),
            ("extra", f(&[0.0])),
        ]);
        let expected = map(vec![
            ("a", f(&[1.0, 2.5, f32::NAN])),
            ("b", f(&[1.0, 2.0])),
            ("c", f(&[1.0])),
            ("d", f(&[0.0])),
        ]);
        let diffs = compare(&actual, &expected, Tolerance::absolute(0.5));
        let names: Vec<&str> = diffs.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c", "d", "extra"]);
        assert_eq!(diffs[0].max_abs_error(), Some(0.5));
        assert_eq!(diffs[0].max_rel_error(), Some(0.2));
        assert!(diffs[0].passes());
        assert!(!compare(&actual, &expected, Tolerance::absolute(0.4))[0].passes());
        assert!(matches!(diffs[1].kind, DiffKind::ShapeMismatch { .. }));
        assert!(matches!(diffs[2].kind, DiffKind::DtypeMismatch { .. }));
        assert_eq!(diffs[3].kind, DiffKind::Missing);
        assert!(!diffs[3].passes());
        assert!(diffs[4].passes());
        assert_eq!(
            diffs[0].to_string(),
            "a: max abs error 5.000e-1 at flat index 1 (got 2, want 2.500000e0), max rel error \
             2.000e-1 at flat index 1 (got 2, want 2.500000e0); 0 of 3 elements outside atol \
             5e-1 + rtol 0e0·|want|"
        );
    }

    #[test]
    fn the_rule_is_numpy_allclose() {
        // |got − want| ≤ atol + rtol·|want|, with |want| (not |got|) scaling the bound.
        let got = map(vec![("x", f(&[100.01, 0.0, 1e-5, -50.0]))]);
        let want = map(vec![("x", f(&[100.0, 0.0, 0.0, -50.004]))]);
        let tol = Tolerance {
            atol: 1e-5,
            rtol: 1e-4,
        };
        let d = &compare(&got, &want, tol)[0];
        assert!(d.passes(), "{d}");
        // The worst absolute error is at index 0, the worst relative at index 2 (want 0).
        let DiffKind::Values {
            worst_abs,
            worst_rel,
            ..
        } = &d.kind
        else {
            panic!("{d}")
        };
        assert_eq!(worst_abs.unwrap().index, 0);
        assert_eq!(worst_rel.unwrap().index, 2);
        assert_eq!(worst_rel.unwrap().error, f64::INFINITY);
        // Without the relative part, index 0 (0.01 off) and index 3 (0.004 off) fail.
        let d = &compare(&got, &want, Tolerance::absolute(1e-3))[0];
        let DiffKind::Values {
            failures,
            first_failure,
            ..
        } = &d.kind
        else {
            panic!("{d}")
        };
        assert_eq!(*failures, 2);
        assert_eq!(first_failure.unwrap().index, 0);
        assert!(d.to_string().contains("2 of 4 elements outside"), "{d}");
        // The bound scales with |want|, as numpy's does, not with |got|.
        let got = map(vec![("x", f(&[2.0]))]);
        let want = map(vec![("x", f(&[1.0]))]);
        let half = Tolerance {
            atol: 0.0,
            rtol: 0.5,
        };
        assert!(!compare(&got, &want, half)[0].passes());
        assert!(compare(&want, &got, half)[0].passes());
    }

    #[test]
    fn nan_and_infinities_never_pass_against_numbers() {
        let huge = Tolerance {
            atol: 1e9,
            rtol: 1e9,
        };
        let a = map(vec![("x", f(&[f32::NAN]))]);
        let e = map(vec![("x", f(&[0.0]))]);
        assert!(!compare(&a, &e, huge)[0].passes());
        let a = map(vec![("x", f(&[f32::INFINITY, f32::NAN]))]);
        let e = map(vec![("x", f(&[f32::INFINITY, f32::NAN]))]);
        assert!(compare(&a, &e, Tolerance::absolute(0.0))[0].passes());
        let e = map(vec![("x", f(&[f32::MAX, f32::NAN]))]);
        assert!(!compare(&a, &e, huge)[0].passes());
    }

    #[test]
    fn integers_and_booleans_compare_exactly_by_default() {
        let a = map(vec![
            ("i", Tensor::from_i64(vec![2], vec![i64::MAX, 3]).unwrap()),
            ("b", Tensor::from_bool(vec![2], vec![true, false]).unwrap()),
        ]);
        let e = map(vec![
            ("i", Tensor::from_i64(vec![2], vec![i64::MIN, 3]).unwrap()),
            ("b", Tensor::from_bool(vec![2], vec![true, true]).unwrap()),
        ]);
        let d = compare(&a, &e, Tolerance::absolute(0.0));
        assert!(d.iter().all(|d| !d.passes()));
        assert_eq!(d[1].max_abs_error(), Some(2f64.powi(64)));
    }
}
