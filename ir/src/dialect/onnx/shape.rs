//! Dim arithmetic for ONNX shape inference: broadcasting, products, reshape targets, axis
//! normalisation, reading attributes and constant operands. Every multiplication is checked:
//! a corrupt model with a dim of 2^62 must give an error, never an overflow.

use crate::attr::Attribute;
use crate::module::{Module, Op};
use crate::types::{Dim, TensorType, Type};

/// Largest byte size of one tensor the compiler accepts (2^48 bytes = 256 TiB): far above any
/// real model, far below where `u64`/`usize` arithmetic on sizes could overflow.
pub const MAX_TENSOR_BYTES: u64 = 1 << 48;

/// A dim-arithmetic failure: the dims, axes or shape entries that do not fit.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("operand #{0} is missing")]
    MissingOperand(usize),
    #[error("operand #{index} must be a ranked tensor, not {ty:?}")]
    NotRanked { index: usize, ty: Type },
    #[error("rank too large")]
    RankTooLarge,
    #[error("axis {axis} is out of range for rank {rank}")]
    AxisOutOfRange { axis: i64, rank: usize },
    #[error("axis {0} is repeated")]
    RepeatedAxis(i64),
    #[error("dims {0} and {1} do not broadcast")]
    NoBroadcast(u64, u64),
    #[error("dims {0} and {1} differ")]
    Differ(u64, u64),
    #[error("the element count of shape {} overflows", format_dims(.0))]
    CountOverflow(Vec<Dim>),
    #[error("dim sum overflows")]
    SumOverflow,
    #[error("tensor shape {} is too large (more than {MAX_TENSOR_BYTES} bytes)", format_dims(.0))]
    TooLarge(Vec<Dim>),
    #[error("shape entry {0} is negative")]
    NegativeEntry(i64),
    #[error("shape entry {0} is invalid")]
    InvalidEntry(i64),
    #[error("more than one -1 in the shape")]
    RepeatedMinusOne,
    #[error("cannot infer -1 next to a 0 dim")]
    MinusOneNextToZero,
    #[error("{elements} elements do not divide into dims of product {product}")]
    Indivisible { elements: u64, product: u64 },
    #[error("shape entry #{entry} is 0 but the input has rank {rank}")]
    ZeroPastRank { entry: usize, rank: usize },
    #[error(
        "cannot reshape {} ({from_count} elements) to {} ({to_count} elements)",
        format_dims(from),
        format_dims(to)
    )]
    ReshapeCount {
        from: Vec<Dim>,
        from_count: u64,
        to: Vec<Dim>,
        to_count: u64,
    },
    #[error("{repeats} repeat counts for rank {rank}")]
    RepeatCount { repeats: usize, rank: usize },
    #[error("repeat count {0} is negative")]
    NegativeRepeat(i64),
    #[error("slice step is 0")]
    ZeroStep,
    #[error("slice too long")]
    SliceTooLong,
    #[error("slice start out of range")]
    SliceStart,
}

/// One entry of a shape operand (Reshape / Expand / ConstantOfShape / Tile): a known integer or
/// a runtime value known only symbolically (a named or dynamic dim, never `Dim::Static`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShapeEntry {
    Lit(i64),
    Sym(Dim),
}

impl ShapeEntry {
    /// The entry as a dim of a result shape (negative literals are errors).
    pub fn to_dim(&self) -> Result<Dim, ShapeError> {
        match self {
            ShapeEntry::Lit(v) => u64::try_from(*v)
                .map(Dim::Static)
                .map_err(|_| ShapeError::NegativeEntry(*v)),
            ShapeEntry::Sym(d) => Ok(d.clone()),
        }
    }
}

/// Entries for a constant shape operand.
pub fn lit_entries(values: &[i64]) -> Vec<ShapeEntry> {
    values.iter().map(|&v| ShapeEntry::Lit(v)).collect()
}

/// Operand `i`'s ranked tensor type.
pub fn operand_tensor(module: &Module, op: Op, i: usize) -> Result<&TensorType, ShapeError> {
    let v = *module.ops[op]
        .operands
        .get(i)
        .ok_or(ShapeError::MissingOperand(i))?;
    match module.value_type(v) {
        Type::Tensor(t) => Ok(t),
        other => Err(ShapeError::NotRanked {
            index: i,
            ty: other.clone(),
        }),
    }
}

/// Operand `i`'s tensor type, or `None` when it is absent (fewer operands or `none` typed).
pub fn optional_tensor(module: &Module, op: Op, i: usize) -> Option<&TensorType> {
    let v = *module.ops[op].operands.get(i)?;
    module.value_type(v).as_tensor()
}

pub fn int_attr(module: &Module, op: Op, name: &str) -> Option<i64> {
    module.ops[op].attrs.get(name).and_then(Attribute::as_int)
}

pub fn ints_attr(module: &Module, op: Op, name: &str) -> Option<Vec<i64>> {
    module.ops[op]
        .attrs
        .get(name)
        .and_then(Attribute::as_int_array)
}

/// The integer elements of a constant (inline dense or a resource of the module).
pub fn const_ints(module: &Module, attr: Option<&Attribute>) -> Option<Vec<i64>> {
    match attr? {
        Attribute::Dense(d) if d.ty().elem.is_int() => {
            Some((0..d.len()).map(|i| d.get_i64(i)).collect())
        }
        Attribute::DenseResource { name, ty } if ty.elem.is_int() => {
            let bytes = &module.resources.get(name)?.bytes;
            let d = crate::attr::DenseAttr::new(ty.clone(), bytes.clone())?;
            Some((0..d.len()).map(|i| d.get_i64(i)).collect())
        }
        _ => None,
    }
}

/// The numeric value of a one-element constant, as `f64`, and whether it is an integer.
pub fn const_scalar(module: &Module, attr: Option<&Attribute>) -> Option<(f64, Option<i64>)> {
    let d = match attr? {
        Attribute::Dense(d) => d.clone(),
        Attribute::DenseResource { name, ty } => {
            crate::attr::DenseAttr::new(ty.clone(), module.resources.get(name)?.bytes.clone())?
        }
        _ => return None,
    };
    (d.len() == 1).then(|| {
        let int = d.ty().elem.is_int().then(|| d.get_i64(0));
        (d.get_f64(0), int)
    })
}

/// Constant operand `i` as integers.
pub fn const_operand_ints(
    module: &Module,
    operands: &[Option<Attribute>],
    i: usize,
) -> Option<Vec<i64>> {
    const_ints(module, operands.get(i).and_then(Option::as_ref))
}

/// `axis` in `[-rank, rank)` to `[0, rank)`.
pub fn normalize_axis(axis: i64, rank: usize) -> Result<usize, ShapeError> {
    let r = i64::try_from(rank).map_err(|_| ShapeError::RankTooLarge)?;
    let a = if axis < 0 { axis + r } else { axis };
    if (0..r).contains(&a) {
        Ok(a as usize)
    } else {
        Err(ShapeError::AxisOutOfRange { axis, rank })
    }
}

/// Normalise a list of axes, rejecting duplicates.
pub fn normalize_axes(axes: &[i64], rank: usize) -> Result<Vec<usize>, ShapeError> {
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let n = normalize_axis(a, rank)?;
        if out.contains(&n) {
            return Err(ShapeError::RepeatedAxis(a));
        }
        out.push(n);
    }
    Ok(out)
}

/// Numpy broadcasting of two dims. Named dims broadcast with each other only by name; a static
/// dim other than 1 wins over an unknown one (the unknown one must be 1 or equal at run time).
pub fn broadcast_dim(a: &Dim, b: &Dim) -> Result<Dim, ShapeError> {
    Ok(match (a, b) {
        (Dim::Static(1), d) | (d, Dim::Static(1)) => d.clone(),
        (Dim::Static(x), Dim::Static(y)) if x == y => Dim::Static(*x),
        (Dim::Static(x), Dim::Static(y)) => {
            return Err(ShapeError::NoBroadcast(*x, *y));
        }
        (Dim::Static(x), _) | (_, Dim::Static(x)) => Dim::Static(*x),
        (Dim::Named(x), Dim::Named(y)) if x == y => Dim::Named(x.clone()),
        _ => Dim::Dynamic,
    })
}

/// Numpy broadcasting of two shapes (right-aligned).
pub fn broadcast_shapes(a: &[Dim], b: &[Dim]) -> Result<Vec<Dim>, ShapeError> {
    let rank = a.len().max(b.len());
    let one = Dim::Static(1);
    (0..rank)
        .map(|i| {
            let da = (i + a.len()).checked_sub(rank).map_or(&one, |j| &a[j]);
            let db = (i + b.len()).checked_sub(rank).map_or(&one, |j| &b[j]);
            broadcast_dim(da, db)
        })
        .collect()
}

/// The product of dims: static when all are, the one non-static dim when the rest multiply to
/// 1, dynamic otherwise. Errors on overflow.
pub fn dims_product(dims: &[Dim]) -> Result<Dim, ShapeError> {
    let mut product: u64 = 1;
    let mut symbolic: Vec<&Dim> = Vec::new();
    for d in dims {
        match d {
            Dim::Static(n) => {
                product = product
                    .checked_mul(*n)
                    .ok_or_else(|| ShapeError::CountOverflow(dims.to_vec()))?;
            }
            other => symbolic.push(other),
        }
    }
    Ok(match symbolic.as_slice() {
        [] => Dim::Static(product),
        _ if product == 0 => Dim::Static(0),
        [one] if product == 1 => (*one).clone(),
        _ => Dim::Dynamic,
    })
}

/// Sum of two dims (static when both are).
pub fn dim_add(a: &Dim, b: &Dim) -> Result<Dim, ShapeError> {
    Ok(match (a, b) {
        (Dim::Static(x), Dim::Static(y)) => {
            Dim::Static(x.checked_add(*y).ok_or(ShapeError::SumOverflow)?)
        }
        (Dim::Static(0), d) | (d, Dim::Static(0)) => d.clone(),
        _ => Dim::Dynamic,
    })
}

/// Unify two dims that must be equal (concat's non-axis dims): the more precise one.
pub fn unify_dim(a: &Dim, b: &Dim) -> Result<Dim, ShapeError> {
    Ok(match (a, b) {
        (Dim::Static(x), Dim::Static(y)) if x != y => {
            return Err(ShapeError::Differ(*x, *y));
        }
        (Dim::Static(x), _) | (_, Dim::Static(x)) => Dim::Static(*x),
        (Dim::Named(x), Dim::Named(y)) if x == y => Dim::Named(x.clone()),
        (Dim::Named(x), Dim::Dynamic) | (Dim::Dynamic, Dim::Named(x)) => Dim::Named(x.clone()),
        _ => Dim::Dynamic,
    })
}

/// Reject types whose static part is too large to ever exist (corrupt dims such as 2^62).
pub fn check_size(t: &TensorType) -> Result<(), ShapeError> {
    let mut bytes = t.elem.byte_size() as u64;
    for d in &t.dims {
        if let Dim::Static(n) = d {
            bytes = bytes.saturating_mul(*n);
        }
    }
    if bytes > MAX_TENSOR_BYTES && t.dims.iter().all(|d| d != &Dim::Static(0)) {
        return Err(ShapeError::TooLarge(t.dims.clone()));
    }
    Ok(())
}

/// `[batch, 4, ?]`, for messages.
pub fn format_dims(dims: &[Dim]) -> String {
    let parts: Vec<String> = dims
        .iter()
        .map(|d| match d {
            Dim::Static(n) => n.to_string(),
            Dim::Dynamic => "?".into(),
            Dim::Named(s) => s.clone(),
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

/// Split dims into (product of static dims, symbolic dims).
fn factor(dims: &[Dim]) -> Result<(u64, Vec<Dim>), ShapeError> {
    let mut product: u64 = 1;
    let mut symbolic = Vec::new();
    for d in dims {
        match d {
            Dim::Static(n) => {
                product = product
                    .checked_mul(*n)
                    .ok_or_else(|| ShapeError::CountOverflow(dims.to_vec()))?;
            }
            other => symbolic.push(other.clone()),
        }
    }
    Ok((product, symbolic))
}

/// The dim a Reshape `-1` stands for: input elements divided by the other output dims, with
/// equal named dims cancelling out.
fn infer_minus_one(input: &[Dim], known: &[Dim]) -> Result<Dim, ShapeError> {
    let (in_static, mut in_sym) = factor(input)?;
    let (out_static, out_sym) = factor(known)?;
    for d in out_sym {
        match in_sym
            .iter()
            .position(|x| matches!(x, Dim::Named(_)) && *x == d)
        {
            Some(p) => {
                in_sym.remove(p);
            }
            None => return Ok(Dim::Dynamic),
        }
    }
    if out_static == 0 {
        return Err(ShapeError::MinusOneNextToZero);
    }
    if in_static % out_static != 0 {
        if in_sym.is_empty() {
            return Err(ShapeError::Indivisible {
                elements: in_static,
                product: out_static,
            });
        }
        return Ok(Dim::Dynamic);
    }
    let quotient = in_static / out_static;
    Ok(match in_sym.as_slice() {
        [] => Dim::Static(quotient),
        [one] if quotient == 1 => one.clone(),
        _ => Dim::Dynamic,
    })
}

/// Reshape semantics: `0` copies the input dim (unless `allowzero`), `-1` is inferred.
pub fn reshape_dims(
    input: &[Dim],
    target: &[ShapeEntry],
    allowzero: bool,
) -> Result<Vec<Dim>, ShapeError> {
    let mut out: Vec<Option<Dim>> = Vec::with_capacity(target.len());
    let mut minus_one = None;
    for (i, e) in target.iter().enumerate() {
        out.push(match e {
            ShapeEntry::Lit(-1) => {
                if minus_one.replace(i).is_some() {
                    return Err(ShapeError::RepeatedMinusOne);
                }
                None
            }
            ShapeEntry::Lit(0) if !allowzero => {
                Some(input.get(i).cloned().ok_or(ShapeError::ZeroPastRank {
                    entry: i,
                    rank: input.len(),
                })?)
            }
            ShapeEntry::Lit(v) if *v < 0 => return Err(ShapeError::InvalidEntry(*v)),
            other => Some(other.to_dim()?),
        });
    }
    if let Some(i) = minus_one {
        let known: Vec<Dim> = out.iter().flatten().cloned().collect();
        out[i] = Some(infer_minus_one(input, &known)?);
    }
    let dims: Vec<Dim> = out.into_iter().flatten().collect();
    if let (Dim::Static(a), Dim::Static(b)) = (dims_product(input)?, dims_product(&dims)?) {
        if a != b {
            return Err(ShapeError::ReshapeCount {
                from: input.to_vec(),
                from_count: a,
                to: dims,
                to_count: b,
            });
        }
    }
    Ok(dims)
}

/// Expand semantics: numpy broadcast of the input with the target shape.
pub fn expand_dims(input: &[Dim], target: &[ShapeEntry]) -> Result<Vec<Dim>, ShapeError> {
    let target: Vec<Dim> = target
        .iter()
        .map(ShapeEntry::to_dim)
        .collect::<Result<_, _>>()?;
    broadcast_shapes(input, &target)
}

/// Tile semantics: each dim multiplied by its repeat count.
pub fn tile_dims(input: &[Dim], repeats: &[ShapeEntry]) -> Result<Vec<Dim>, ShapeError> {
    if repeats.len() != input.len() {
        return Err(ShapeError::RepeatCount {
            repeats: repeats.len(),
            rank: input.len(),
        });
    }
    input
        .iter()
        .zip(repeats)
        .map(|(d, r)| match r {
            ShapeEntry::Lit(v) if *v < 0 => Err(ShapeError::NegativeRepeat(*v)),
            ShapeEntry::Lit(1) => Ok(d.clone()),
            ShapeEntry::Lit(v) => dims_product(&[d.clone(), Dim::Static(*v as u64)]),
            ShapeEntry::Sym(s) => dims_product(&[d.clone(), s.clone()]),
        })
        .collect()
}
