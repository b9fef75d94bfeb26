//! What a kernel sees: its inputs (absent optional ones as `None`), attributes with ONNX
//! defaults, the opset, and the expected number of results.
//!
//! Attributes that moved to inputs across opsets (`axes`, `split`, ...) are read from whichever
//! form is present, so kernels stay correct even when the recorded opset is missing or wrong.

use crate::attr::{AttrDict, Attribute};
use crate::eval::error::{EvalErrorKind, KResult};
use crate::eval::tensor::{Tensor, TensorData};
use crate::types::ElemType;

pub struct OpArgs<'a> {
    pub attrs: &'a AttrDict,
    pub inputs: &'a [Option<&'a Tensor>],
    pub opset: i64,
    /// Number of results the caller expects, when known (Split needs it).
    pub num_results: Option<usize>,
}

impl<'a> OpArgs<'a> {
    /// Reject input counts outside `min..=max`.
    pub fn arity(&self, min: usize, max: usize) -> KResult<()> {
        let got = self.inputs.len();
        if got < min || got > max {
            let expected = if min == max {
                min.to_string()
            } else if max == usize::MAX {
                format!("at least {min}")
            } else {
                format!("{min} to {max}")
            };
            return Err(EvalErrorKind::Arity { expected, got });
        }
        Ok(())
    }

    /// A required input.
    pub fn input(&self, index: usize) -> KResult<&'a Tensor> {
        self.opt_input(index)
            .ok_or(EvalErrorKind::MissingInput { index })
    }

    /// An optional input (`None` when absent or past the end).
    pub fn opt_input(&self, index: usize) -> Option<&'a Tensor> {
        self.inputs.get(index).copied().flatten()
    }

    /// All inputs, each required (variadic ops).
    pub fn all_inputs(&self) -> KResult<Vec<&'a Tensor>> {
        (0..self.inputs.len()).map(|i| self.input(i)).collect()
    }

    pub fn attr(&self, name: &str) -> Option<&'a Attribute> {
        self.attrs.get(name)
    }

    pub fn int(&self, name: &str, default: i64) -> KResult<i64> {
        match self.attrs.get(name) {
            None => Ok(default),
            Some(a) => a
                .as_int()
                .or_else(|| a.as_bool().map(i64::from))
                .ok_or_else(|| kind_error(name, "an integer", a)),
        }
    }

    pub fn float(&self, name: &str, default: f32) -> KResult<f32> {
        self.opt_float(name).map(|v| v.unwrap_or(default))
    }

    pub fn opt_float(&self, name: &str) -> KResult<Option<f32>> {
        match self.attrs.get(name) {
            None => Ok(None),
            Some(a) => a
                .as_float()
                .or_else(|| a.as_int().map(|i| i as f64))
                .map(|v| Some(v as f32))
                .ok_or_else(|| kind_error(name, "a number", a)),
        }
    }

    pub fn ints(&self, name: &str) -> KResult<Option<Vec<i64>>> {
        match self.attrs.get(name) {
            None => Ok(None),
            Some(a) => a
                .as_int_array()
                .map(Some)
                .ok_or_else(|| kind_error(name, "an array of integers", a)),
        }
    }

    pub fn string(&self, name: &str, default: &'a str) -> KResult<&'a str> {
        match self.attrs.get(name) {
            None => Ok(default),
            Some(a) => a.as_str().ok_or_else(|| kind_error(name, "a string", a)),
        }
    }

    /// An integer list given as attribute `name` or, failing that, as input `index`
    /// (ONNX moved `axes`, `split`, ... from attributes to inputs in later opsets).
    pub fn ints_attr_or_input(&self, name: &str, index: usize) -> KResult<Option<Vec<i64>>> {
        if let Some(v) = self.ints(name)? {
            return Ok(Some(v));
        }
        self.opt_input(index)
            .map(|t| int_values(t, index))
            .transpose()
    }
}

fn kind_error(name: &str, want: &str, got: &Attribute) -> EvalErrorKind {
    EvalErrorKind::attr(name, format!("expected {want}, got {}", got.kind_name()))
}

/// The values of an integer tensor input (shape operands, axes, indices).
pub fn int_values(t: &Tensor, index: usize) -> KResult<Vec<i64>> {
    match t.data() {
        TensorData::I64(v) => Ok(v.clone()),
        _ => Err(EvalErrorKind::input(
            index,
            format!("expected an integer tensor, got {}", t.elem()),
        )),
    }
}

/// The single value of a one-element integer tensor.
pub fn int_scalar(t: &Tensor, index: usize) -> KResult<i64> {
    let v = int_values(t, index)?;
    match v.as_slice() {
        [x] => Ok(*x),
        _ => Err(EvalErrorKind::input(
            index,
            format!("expected one element, got shape {:?}", t.shape()),
        )),
    }
}

/// Normalise a possibly negative axis against `rank` (valid range `-rank..rank`).
pub fn norm_axis(axis: i64, rank: usize) -> KResult<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if (0..r).contains(&a) {
        Ok(a as usize)
    } else {
        Err(EvalErrorKind::index(format!(
            "axis {axis} is out of range for rank {rank}"
        )))
    }
}

/// Normalise a list of axes, rejecting duplicates.
pub fn norm_axes(axes: &[i64], rank: usize) -> KResult<Vec<usize>> {
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let n = norm_axis(a, rank)?;
        if out.contains(&n) {
            return Err(EvalErrorKind::index(format!(
                "axis {a} is repeated in {axes:?}"
            )));
        }
        out.push(n);
    }
    Ok(out)
}

/// Both tensors must share an element type (ONNX type constraint `T`).
pub fn same_elem(a: &Tensor, b: &Tensor, b_index: usize) -> KResult<ElemType> {
    if a.elem() != b.elem() {
        return Err(EvalErrorKind::input(
            b_index,
            format!(
                "element type {} differs from input #0's {}",
                b.elem(),
                a.elem()
            ),
        ));
    }
    Ok(a.elem())
}
