//! Comparing produced outputs with expected ones (e.g. onnxruntime's, from an `.npz`).
//!
//! One [`OutputDiff`] per output name in either map, sorted by name. Values compare by maximum
//! absolute error; two NaNs (or equal infinities) agree, a NaN against a number is an infinite
//! error, so a NaN never hides behind a tolerance.

use std::collections::BTreeMap;
use std::fmt;

use sofa_ir::eval::{Tensor, TensorData};
use sofa_ir::ElemType;

/// The comparison of one output.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputDiff {
    pub name: String,
    pub kind: DiffKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum DiffKind {
    /// Same dtype and shape; the largest `|actual - expected|` and where it is (flat index).
    Values {
        max_abs_error: f64,
        worst_index: Option<usize>,
        elements: usize,
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
    /// True when the output matches within `tolerance` (or was not expected at all).
    pub fn passes(&self, tolerance: f64) -> bool {
        match self.kind {
            DiffKind::Values { max_abs_error, .. } => max_abs_error <= tolerance,
            DiffKind::Unexpected => true,
            _ => false,
        }
    }
}

impl fmt::Display for OutputDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = &self.name;
        match &self.kind {
            DiffKind::Values {
                max_abs_error,
                worst_index,
                elements,
            } => {
                write!(
                    f,
                    "{name}: max abs error {max_abs_error:e} over {elements} elements"
                )?;
                match worst_index {
                    Some(i) => write!(f, " (worst at flat index {i})"),
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

/// Compare every output by name.
pub fn compare(
    actual: &BTreeMap<String, Tensor>,
    expected: &BTreeMap<String, Tensor>,
) -> Vec<OutputDiff> {
    let mut names: Vec<&String> = actual.keys().chain(expected.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|name| OutputDiff {
            name: name.clone(),
            kind: match (actual.get(name), expected.get(name)) {
                (Some(a), Some(e)) => compare_tensors(a, e),
                (None, _) => DiffKind::Missing,
                (Some(_), None) => DiffKind::Unexpected,
            },
        })
        .collect()
}

fn compare_tensors(a: &Tensor, e: &Tensor) -> DiffKind {
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
    let errors: Vec<f64> = match (a.data(), e.data()) {
        (TensorData::F32(x), TensorData::F32(y)) => {
            x.iter().zip(y).map(|(&p, &q)| float_error(p, q)).collect()
        }
        (TensorData::I64(x), TensorData::I64(y)) => x
            .iter()
            .zip(y)
            .map(|(&p, &q)| (i128::from(p) - i128::from(q)).unsigned_abs() as f64)
            .collect(),
        (TensorData::Bool(x), TensorData::Bool(y)) => x
            .iter()
            .zip(y)
            .map(|(p, q)| f64::from(u8::from(p != q)))
            .collect(),
        // Same element type implies the same storage.
        _ => vec![f64::INFINITY],
    };
    let worst = errors
        .iter()
        .enumerate()
        .fold(None, |best: Option<(usize, f64)>, (i, &err)| match best {
            Some((_, b)) if b >= err => best,
            _ => Some((i, err)),
        });
    DiffKind::Values {
        max_abs_error: worst.map_or(0.0, |(_, err)| err),
        worst_index: worst.map(|(i, _)| i),
        elements: a.len(),
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

    #[test]
    fn reports_errors_mismatches_and_missing_outputs() {
        let f = |v: &[f32]| Tensor::from_f32(vec![v.len()], v.to_vec()).unwrap();
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
        let diffs = compare(&actual, &expected);
        let names: Vec<&str> = diffs.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c", "d", "extra"]);
        assert_eq!(
            diffs[0].kind,
            DiffKind::Values {
                max_abs_error: 0.5,
                worst_index: Some(1),
                elements: 3
            }
        );
        assert!(diffs[0].passes(0.5) && !diffs[0].passes(0.4));
        assert!(matches!(diffs[1].kind, DiffKind::ShapeMismatch { .. }));
        assert!(matches!(diffs[2].kind, DiffKind::DtypeMismatch { .. }));
        assert_eq!(diffs[3].kind, DiffKind::Missing);
        assert!(!diffs[3].passes(1.0));
        assert!(diffs[4].passes(0.0));
        assert_eq!(
            diffs[0].to_string(),
            "a: max abs error 5e-1 over 3 elements (worst at flat index 1)"
        );
    }

    #[test]
    fn nan_against_a_number_never_passes() {
        let a = map(vec![(
            "x",
            Tensor::from_f32(vec![1], vec![f32::NAN]).unwrap(),
        )]);
        let e = map(vec![("x", Tensor::from_f32(vec![1], vec![0.0]).unwrap())]);
        assert!(!compare(&a, &e)[0].passes(1e9));
    }
}
