//! Result-type inference for `onnx` ops (the `infer` hooks of the op table): elementwise ops,
//! constants, casts and the data-movement ops (shape, reshape, gather, slice, split, ...).
//! The neural-network ops (MatMul, Gemm, Conv, normalisations, Attention) are in [`super::nn`].
//!
//! Rules follow the ONNX operator specs. Element type and rank are always produced; dims are
//! static when computable from static dims and constant operands, named when a named dim flows
//! through unchanged, dynamic otherwise.

pub use super::axes::{arg_reduce, reduce, squeeze, transpose, unsqueeze};
use super::shape::{
    broadcast_shapes, check_size, const_operand_ints, const_scalar, dims_product, expand_dims,
    int_attr, ints_attr, lit_entries, normalize_axes, normalize_axis, operand_tensor, reshape_dims,
    tile_dims, unify_dim, ShapeEntry, ShapeError,
};
use crate::attr::Attribute;
use crate::dialect::InferError;
use crate::module::{Module, Op};
use crate::types::{Dim, ElemType, TensorType, Type};

/// The result type list of a single-result op, after the size sanity check.
pub(super) fn one(t: TensorType) -> Result<Vec<Type>, InferError> {
    check_size(&t)?;
    Ok(vec![Type::Tensor(t)])
}

/// The ONNX `TensorProto.DataType` code of an element type we support.
pub fn elem_from_onnx(code: i64) -> Option<ElemType> {
    Some(match code {
        1 => ElemType::F32,
        2 => ElemType::U8,
        3 => ElemType::I8,
        6 => ElemType::I32,
        7 => ElemType::I64,
        9 => ElemType::I1,
        10 => ElemType::F16,
        16 => ElemType::BF16,
        _ => return None,
    })
}

/// The result has the first operand's type (elementwise unary ops, normalisations, ...).
pub fn same_as_first(
    module: &Module,
    op: Op,
    _: &[Option<Attribute>],
) -> Result<Vec<Type>, InferError> {
    one(operand_tensor(module, op, 0)?.clone())
}

/// Broadcast every operand; element type of the first.
pub fn broadcast(
    module: &Module,
    op: Op,
    _: &[Option<Attribute>],
) -> Result<Vec<Type>, InferError> {
    let first = operand_tensor(module, op, 0)?;
    let mut dims = first.dims.clone();
    for i in 1..module.ops[op].operands.len() {
        dims = broadcast_shapes(&dims, &operand_tensor(module, op, i)?.dims)?;
    }
    one(TensorType::new(dims, first.elem))
}

/// Broadcasting comparison: `i1` result.
pub fn compare(module: &Module, op: Op, c: &[Option<Attribute>]) -> Result<Vec<Type>, InferError> {
    let mut out = broadcast(module, op, c)?;
    set_elem(&mut out[0], ElemType::I1);
    Ok(out)
}

/// `cond ? x : y`: broadcast of the three, element type of `x`.
pub fn where_(module: &Module, op: Op, _: &[Option<Attribute>]) -> Result<Vec<Type>, InferError> {
    let cond = operand_tensor(module, op, 0)?;
    let x = operand_tensor(module, op, 1)?;
    let y = operand_tensor(module, op, 2)?;
    let dims = broadcast_shapes(&broadcast_shapes(&cond.dims, &x.dims)?, &y.dims)?;
    one(TensorType::new(dims, x.elem))
}

pub fn is_nan(module: &Module, op: Op, _: &[Option<Attribute>]) -> Result<Vec<Type>, InferError> {
    one(TensorType::new(
        operand_tensor(module, op, 0)?.dims.clone(),
        ElemType::I1,
    ))
}

fn set_elem(t: &mut Type, elem: ElemType) {
    if let Type::Tensor(t) = t {
        t.elem = elem;
    }
}

pub fn cast(module: &Module, op: Op, _: &[Option<Attribute>]) -> Result<Vec<Type>, InferError> {
    let to = int_attr(module, op, "to").ok_or(InferError::MissingAttr("to"))?;
    let elem = elem_from_onnx(to).ok_or(InferError::CastTarget(to))?;
    one(TensorType::new(
        operand_tensor(module, op, 0)?.dims.clone(),
        elem,
    ))
}

pub fn no_value(_: &Module, _: Op, _: &[Option<Attribute>]) -> Result<Vec<Type>, InferError> {
    Ok(vec![Type::None])
}

pub fn constant(module: &Module, op: Op, _: &[Option<Attribute>]) -> Result<Vec<Type>, InferError> {
    match module.ops[op].attrs.get("value") {
        Some(Attribute::Dense(d)) => one(d.ty().clone()),
        Some(Attribute::DenseResource { ty, .. }) => one(ty.clone()),
        _ => Err(InferError::ValueNotDense),
    }
}

/// The entries of a 1-D shape operand: literal when constant, dynamic otherwise (the length
/// must then be static, or the result rank is unknown).
fn shape_operand(
    module: &Module,
    op: Op,
    consts: &[Option<Attribute>],
    i: usize,
) -> Result<Vec<ShapeEntry>, InferError> {
    if let Some(values) = const_operand_ints(module, consts, i) {
        return Ok(lit_entries(&values));
    }
    let t = operand_tensor(module, op, i)?;
    match t.dims.as_slice() {
        [Dim::Static(n)] => match usize::try_from(*n) {
            Ok(len) if len <= 1 << 16 => Ok(vec![ShapeEntry::Sym(Dim::Dynamic); len]),
            _ => Err(InferError::ShapeOperandTooLong(*n)),
        },
        [_] => Err(InferError::ShapeOperandDynamic(i)),
        _ => Err(InferError::ShapeOperandRank(i)),
    }
}

pub fn constant_of_shape(
    module: &Module,
    op: Op,
    consts: &[Option<Attribute>],
) -> Result<Vec<Type>, InferError> {
    let dims = shape_operand(module, op, consts, 0)?
        .iter()
        .map(ShapeEntry::to_dim)
        .collect::<Result<Vec<_>, _>>()?;
    dims_product(&dims)?;
    let elem = match module.ops[op].attrs.get("value") {
        Some(Attribute::Dense(d)) => d.ty().elem,
        Some(Attribute::DenseResource { ty, .. }) => ty.elem,
        _ => ElemType::F32,
    };
    one(TensorType::new(dims, elem))
}

pub fn expand(
    module: &Module,
    op: Op,
    consts: &[Option<Attribute>],
) -> Result<Vec<Type>, InferError> {
    let input = operand_tensor(module, op, 0)?;
    let target = shape_operand(module, op, consts, 1)?;
    one(TensorType::new(
        expand_dims(&input.dims, &target)?,
        input.elem,
    ))
}

pub fn reshape(
    module: &Module,
    op: Op,
    consts: &[Option<Attribute>],
) -> Result<Vec<Type>, InferError> {
    let input = operand_tensor(module, op, 0)?;
    let target = shape_operand(module, op, consts, 1)?;
    let allowzero = int_attr(module, op, "allowzero").unwrap_or(0) != 0;
    one(TensorType::new(
        reshape_dims(&input.dims, &target, allowzero)?,
        input.elem,
    ))
}

pub fn tile(
    module: &Module,
    op: Op,
    consts: &[Option<Attribute>],
) -> Result<Vec<Type>, InferError> {
    let input = operand_tensor(module, op, 0)?;
    let repeats = shape_operand(module, op, consts, 1)?;
    one(TensorType::new(
        tile_dims(&input.dims, &repeats)?,
        input.elem,
    ))
}

pub fn flatten(module: &Module, op: Op, _: &[Option<Attribute>]) -> Result<Vec<Type>, InferError> {
    let input = operand_tensor(module, op, 0)?;
    let axis = int_attr(module, op, "axis").unwrap_or(1);
    let split = normalize_axis(axis, input.rank() + 1)?;
    let rows = dims_product(&input.dims[..split])?;
    let cols = dims_product(&input.dims[split..])?;
    one(TensorType::new(vec![rows, cols], input.elem))
}

/// The dims `[start, end)` a Shape op reports for rank `rank` (ONNX: negative values count
/// from the end, both are clamped to `[0, rank]`; an empty range when `end <= start`).
pub fn shape_range(rank: usize, start: Option<i64>, end: Option<i64>) -> (usize, usize) {
    let r = i64::try_from(rank).unwrap_or(i64::MAX);
    let clamp = |v: i64| {
        let v = if v < 0 { v.saturating_add(r) } else { v };
        v.clamp(0, r) as usize
    };
    let start = clamp(start.unwrap_or(0));
    let end = clamp(end.unwrap_or(r));
    (start, end.max(start))
}

pub fn shape(module: &Module, op: Op, _: &[Option<Attribute>]) -> Result<Vec<Type>, InferError> {
    let rank = operand_tensor(module, op, 0)?.rank();
    let (start, end) = shape_range(
        rank,
        int_attr(module, op, "start"),
        int_attr(module, op, "end"),
    );
    one(TensorType::static_shape(
        &[(end - start) as u64],
        ElemType::I64,
    ))
}

/// Size: an `i64` scalar.
pub fn size(module: &Module, op: Op, _: &[Option<Attribute>]) -> Result<Vec<Type>, InferError> {
    operand_tensor(module, op, 0)?;
    one(TensorType::static_shape(&[], ElemType::I64))
}

pub fn gather(module: &Module, op: Op, _: &[Option<Attribute>]) -> Result<Vec<Type>, InferError> {
    let data = operand_tensor(module, op, 0)?;
    let indices = operand_tensor(module, op, 1)?;
    if !indices.elem.is_int() || indices.elem == ElemType::I1 {
        return Err(InferError::IndicesNotInt);
    }
    let axis = normalize_axis(int_attr(module, op, "axis").unwrap_or(0), data.rank())?;
    let mut dims = data.dims[..axis].to_vec();
    dims.extend_from_slice(&indices.dims);
    dims.extend_from_slice(&data.dims[axis + 1..]);
    one(TensorType::new(dims, data.elem))
}

pub fn gather_elements(
    module: &Module,
    op: Op,
    _: &[Option<Attribute>],
) -> Result<Vec<Type>, InferError> {
    let data = operand_tensor(module, op, 0)?;
    let indices = operand_tensor(module, op, 1)?;
    if data.rank() != indices.rank() {
        return Err(InferError::GatherRank {
            data: data.rank(),
            indices: indices.rank(),
        });
    }
    one(TensorType::new(indices.dims.clone(), data.elem))
}

pub fn gather_nd(
    module: &Module,
    op: Op,
    _: &[Option<Attribute>],
) -> Result<Vec<Type>, InferError> {
    let data = operand_tensor(module, op, 0)?;
    let indices = operand_tensor(module, op, 1)?;
    let b = usize::try_from(int_attr(module, op, "batch_dims").unwrap_or(0))
        .map_err(|_| InferError::NegativeBatchDims)?;
    let (last, lead) = indices.dims.split_last().ok_or(InferError::ScalarIndices)?;
    let m = last.as_static().ok_or(InferError::DynamicIndexDepth)?;
    let tail = usize::try_from(m)
        .ok()
        .and_then(|m| b.checked_add(m))
        .filter(|&t| t <= data.rank());
    let tail = tail.ok_or(InferError::IndexDepth {
        batch_dims: b,
        depth: m,
        rank: data.rank(),
    })?;
    if b >= indices.rank() {
        return Err(InferError::BatchDimsRank {
            batch_dims: b,
            rank: indices.rank(),
        });
    }
    let mut dims = lead.to_vec();
    dims.extend_from_slice(&data.dims[tail..]);
    one(TensorType::new(dims, data.elem))
}

pub fn concat(module: &Module, op: Op, _: &[Option<Attribute>]) -> Result<Vec<Type>, InferError> {
    let first = operand_tensor(module, op, 0)?;
    let axis = int_attr(module, op, "axis").ok_or(InferError::MissingAttr("axis"))?;
    let axis = normalize_axis(axis, first.rank())?;
    let mut dims = first.dims.clone();
    for i in 1..module.ops[op].operands.len() {
        let t = operand_tensor(module, op, i)?;
        if t.rank() != dims.len() {
            return Err(InferError::ConcatRank {
                operand: i,
                rank: t.rank(),
                first: dims.len(),
            });
        }
        for (k, d) in t.dims.iter().enumerate() {
            dims[k] = if k == axis {
                super::shape::dim_add(&dims[k], d)?
            } else {
                unify_dim(&dims[k], d).map_err(|error| InferError::ConcatDim {
                    operand: i,
                    dim: k,
                    error,
                })?
            };
        }
    }
    one(TensorType::new(dims, first.elem))
}

/// The first index and element count of a Slice along one dim of size `d` (ONNX clamping rules).
pub fn slice_range(d: i64, start: i64, end: i64, step: i64) -> Result<(i64, u64), ShapeError> {
    if step == 0 {
        return Err(ShapeError::ZeroStep);
    }
    let (d, step) = (i128::from(d), i128::from(step));
    let wrap = |v: i64| {
        if v < 0 {
            i128::from(v) + d
        } else {
            i128::from(v)
        }
    };
    let (s, e) = (wrap(start), wrap(end));
    let (s, count) = if step > 0 {
        let (s, e) = (s.clamp(0, d), e.clamp(0, d));
        (s, (e - s + step - 1).div_euclid(step))
    } else if d == 0 {
        (0, 0)
    } else {
        let (s, e) = (s.clamp(0, d - 1), e.clamp(-1, d - 1));
        (s, (s - e - step - 1).div_euclid(-step))
    };
    let count = u64::try_from(count.max(0)).map_err(|_| ShapeError::SliceTooLong)?;
    Ok((i64::try_from(s).map_err(|_| ShapeError::SliceStart)?, count))
}

/// The element count of a Slice along one dim of size `d`.
pub fn slice_count(d: i64, start: i64, end: i64, step: i64) -> Result<u64, ShapeError> {
    slice_range(d, start, end, step).map(|(_, n)| n)
}

pub fn slice(
    module: &Module,
    op: Op,
    consts: &[Option<Attribute>],
) -> Result<Vec<Type>, InferError> {
    let data = operand_tensor(module, op, 0)?;
    let n_ops = module.ops[op].operands.len();
    let present = |i: usize| i < n_ops && super::shape::optional_tensor(module, op, i).is_some();
    let starts = const_operand_ints(module, consts, 1);
    let ends = const_operand_ints(module, consts, 2);
    let axes = if present(3) {
        const_operand_ints(module, consts, 3)
    } else {
        starts.as_ref().map(|s| (0..s.len() as i64).collect())
    };
    let steps = if present(4) {
        const_operand_ints(module, consts, 4)
    } else {
        starts.as_ref().map(|s| vec![1; s.len()])
    };
    let mut dims = data.dims.clone();
    let Some(axes) = axes else {
        // Any dim may be sliced.
        dims.iter_mut().for_each(|d| *d = Dim::Dynamic);
        return one(TensorType::new(dims, data.elem));
    };
    let axes = normalize_axes(&axes, data.rank())?;
    for (k, &axis) in axes.iter().enumerate() {
        let entry = |v: &Option<Vec<i64>>| v.as_ref().and_then(|v| v.get(k).copied());
        let (start, end, step) = (entry(&starts), entry(&ends), entry(&steps));
        dims[axis] = match (&data.dims[axis], start, end, step) {
            (Dim::Static(d), Some(s), Some(e), Some(st)) => {
                let d = i64::try_from(*d).map_err(|_| InferError::DimTooLarge)?;
                Dim::Static(slice_count(d, s, e, st)?)
            }
            // The whole dim: start 0, end at or past "infinity", step 1.
            (d, Some(0), Some(e), Some(1)) if e >= i64::from(i32::MAX) => d.clone(),
            _ => Dim::Dynamic,
        };
    }
    one(TensorType::new(dims, data.elem))
}

pub fn split(
    module: &Module,
    op: Op,
    consts: &[Option<Attribute>],
) -> Result<Vec<Type>, InferError> {
    let input = operand_tensor(module, op, 0)?;
    let axis = normalize_axis(int_attr(module, op, "axis").unwrap_or(0), input.rank())?;
    let n = module.ops[op].results.len();
    let sizes = const_operand_ints(module, consts, 1).or_else(|| ints_attr(module, op, "split"));
    let parts: Vec<Dim> = match (sizes, &input.dims[axis]) {
        (Some(sizes), d) => {
            if sizes.len() != n {
                return Err(InferError::SplitCount {
                    sizes: sizes.len(),
                    results: n,
                });
            }
            let dims: Vec<Dim> = sizes
                .iter()
                .map(|&s| {
                    u64::try_from(s)
                        .map(Dim::Static)
                        .map_err(|_| InferError::NegativeSplit(s))
                })
                .collect::<Result<_, _>>()?;
            let sum = sizes
                .iter()
                .try_fold(0u64, |acc, &s| acc.checked_add(s as u64));
            if let (Dim::Static(d), Some(sum)) = (d, sum) {
                if *d != sum {
                    return Err(InferError::SplitSum { sum, axis, dim: *d });
                }
            }
            dims
        }
        (None, Dim::Static(d)) => {
            let chunk = d.div_ceil(n.max(1) as u64);
            (0..n as u64)
                .map(|i| Dim::Static(d.saturating_sub(i.saturating_mul(chunk)).min(chunk)))
                .collect()
        }
        (None, d) if n == 1 => vec![d.clone()],
        (None, _) => vec![Dim::Dynamic; n],
    };
    Ok(parts
        .into_iter()
        .map(|p| {
            let mut dims = input.dims.clone();
            dims[axis] = p;
            Type::Tensor(TensorType::new(dims, input.elem))
        })
        .collect())
}

/// Range: `max(ceil((limit - start) / delta), 0)` elements when all three are constant.
pub fn range(
    module: &Module,
    op: Op,
    consts: &[Option<Attribute>],
) -> Result<Vec<Type>, InferError> {
    let elem = operand_tensor(module, op, 0)?.elem;
    let scalar = |i: usize| const_scalar(module, consts.get(i).and_then(Option::as_ref));
    let dim = match (scalar(0), scalar(1), scalar(2)) {
        (Some((_, Some(s))), Some((_, Some(l))), Some((_, Some(d)))) => {
            if d == 0 {
                return Err(InferError::ZeroDelta);
            }
            let span = i128::from(l) - i128::from(s);
            let (span, d) = if d < 0 {
                (-span, -i128::from(d))
            } else {
                (span, i128::from(d))
            };
            let n = (span + d - 1).div_euclid(d).max(0);
            Dim::Static(u64::try_from(n).map_err(|_| InferError::RangeTooLong)?)
        }
        (Some((s, _)), Some((l, _)), Some((d, _))) => {
            if d == 0.0 {
                return Err(InferError::ZeroDelta);
            }
            let n = ((l - s) / d).ceil().max(0.0);
            if !n.is_finite() || n > 2f64.powi(53) {
                return Err(InferError::RangeTooLong);
            }
            Dim::Static(n as u64)
        }
        _ => Dim::Dynamic,
    };
    one(TensorType::new(vec![dim], elem))
}
