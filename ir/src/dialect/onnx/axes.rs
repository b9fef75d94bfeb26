//! Result-type inference for the axis-driven `onnx` ops: Squeeze, Unsqueeze, Transpose and the
//! reductions (Reduce*, ArgMax/ArgMin). Split from [`super::infer`], which re-exports them.

use super::infer::one;
use super::shape::*;
use crate::attr::Attribute;
use crate::dialect::InferError;
use crate::module::{Module, Op};
use crate::types::{Dim, ElemType, TensorType, Type};

/// The axes of Squeeze/Unsqueeze/Reduce*: the constant operand #1, else the `axes` attribute.
/// `Err` when operand #1 exists but is not constant.
fn axes_of(
    module: &Module,
    op: Op,
    consts: &[Option<Attribute>],
) -> Result<Option<Vec<i64>>, InferError> {
    if super::shape::optional_tensor(module, op, 1).is_some() {
        return const_operand_ints(module, consts, 1)
            .map(Some)
            .ok_or(InferError::AxesNotConstant);
    }
    Ok(ints_attr(module, op, "axes"))
}

pub fn squeeze(
    module: &Module,
    op: Op,
    consts: &[Option<Attribute>],
) -> Result<Vec<Type>, InferError> {
    let input = operand_tensor(module, op, 0)?;
    let dims = match axes_of(module, op, consts)? {
        Some(axes) => {
            let axes = normalize_axes(&axes, input.rank())?;
            for &a in &axes {
                if let Dim::Static(size) = input.dims[a] {
                    if size != 1 {
                        return Err(InferError::Squeeze { axis: a, size });
                    }
                }
            }
            let keep = |(i, _): &(usize, &Dim)| !axes.contains(i);
            input
                .dims
                .iter()
                .enumerate()
                .filter(keep)
                .map(|(_, d)| d.clone())
                .collect()
        }
        None => input
            .dims
            .iter()
            .filter(|d| **d != Dim::Static(1))
            .cloned()
            .collect(),
    };
    one(TensorType::new(dims, input.elem))
}

pub fn unsqueeze(
    module: &Module,
    op: Op,
    consts: &[Option<Attribute>],
) -> Result<Vec<Type>, InferError> {
    let input = operand_tensor(module, op, 0)?;
    let axes = axes_of(module, op, consts)?.ok_or(InferError::UnsqueezeAxes)?;
    let rank = input
        .rank()
        .checked_add(axes.len())
        .ok_or(InferError::RankOverflow)?;
    let axes = normalize_axes(&axes, rank)?;
    let mut rest = input.dims.iter();
    let dims = (0..rank)
        .map(|i| {
            if axes.contains(&i) {
                Some(Dim::Static(1))
            } else {
                rest.next().cloned()
            }
        })
        .collect::<Option<Vec<_>>>()
        .ok_or(InferError::AxesDoNotFit)?;
    one(TensorType::new(dims, input.elem))
}

pub fn transpose(
    module: &Module,
    op: Op,
    _: &[Option<Attribute>],
) -> Result<Vec<Type>, InferError> {
    let input = operand_tensor(module, op, 0)?;
    let perm =
        ints_attr(module, op, "perm").unwrap_or_else(|| (0..input.rank() as i64).rev().collect());
    if perm.len() != input.rank() {
        return Err(InferError::PermLength {
            len: perm.len(),
            rank: input.rank(),
        });
    }
    let perm = normalize_axes(&perm, input.rank())?;
    one(TensorType::new(
        perm.iter().map(|&p| input.dims[p].clone()).collect(),
        input.elem,
    ))
}

/// Reduce*: drop (or set to 1 with keepdims) the reduced axes.
pub fn reduce(
    module: &Module,
    op: Op,
    consts: &[Option<Attribute>],
) -> Result<Vec<Type>, InferError> {
    let input = operand_tensor(module, op, 0)?;
    let keepdims = int_attr(module, op, "keepdims").unwrap_or(1) != 0;
    let noop = int_attr(module, op, "noop_with_empty_axes").unwrap_or(0) != 0;
    let axes = match axes_of(module, op, consts) {
        Ok(axes) => axes.unwrap_or_default(),
        Err(_) if keepdims => {
            // Unknown axes: the rank is kept but any dim may become 1.
            let dims = input
                .dims
                .iter()
                .map(|d| {
                    if *d == Dim::Static(1) {
                        d.clone()
                    } else {
                        Dim::Dynamic
                    }
                })
                .collect();
            return one(TensorType::new(dims, input.elem));
        }
        Err(e) => return Err(e),
    };
    if axes.is_empty() && noop {
        return one(input.clone());
    }
    let axes = if axes.is_empty() {
        (0..input.rank()).collect()
    } else {
        normalize_axes(&axes, input.rank())?
    };
    let dims = input
        .dims
        .iter()
        .enumerate()
        .filter_map(|(i, d)| match (axes.contains(&i), keepdims) {
            (false, _) => Some(d.clone()),
            (true, true) => Some(Dim::Static(1)),
            (true, false) => None,
        })
        .collect();
    one(TensorType::new(dims, input.elem))
}

/// ArgMax / ArgMin: one axis reduced, `i64` indices.
pub fn arg_reduce(
    module: &Module,
    op: Op,
    _: &[Option<Attribute>],
) -> Result<Vec<Type>, InferError> {
    let input = operand_tensor(module, op, 0)?;
    let axis = normalize_axis(int_attr(module, op, "axis").unwrap_or(0), input.rank())?;
    let keepdims = int_attr(module, op, "keepdims").unwrap_or(1) != 0;
    let mut dims = input.dims.clone();
    if keepdims {
        dims[axis] = Dim::Static(1);
    } else {
        dims.remove(axis);
    }
    one(TensorType::new(dims, ElemType::I64))
}
