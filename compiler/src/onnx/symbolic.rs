//! Symbolic shape values. Exporters compute Reshape/Expand targets at run time
//! (`Shape → Gather → Unsqueeze → Concat`), so a plain constant folder sees no constant and the
//! result dims would be unknown. This tracks small integer tensors whose elements are known
//! either as literals or as (named) dims of some tensor, through the ops exporters use for
//! shape arithmetic, and refines the types of the ops consuming them: `Reshape(x, [batch, seq,
//! 4, 32])` keeps `batch` and `seq`.

use std::collections::BTreeMap;

use sofa_ir::attr::DenseAttr;
use sofa_ir::dialect::onnx::shape::{
    const_ints, expand_dims, int_attr, reshape_dims, tile_dims, ShapeEntry, ShapeError,
};
use sofa_ir::{Attribute, Dim, ElemType, Module, Op, TensorType, Type, Value};

/// Longest integer tensor tracked (shapes have a handful of entries).
const MAX_LEN: usize = 64;

/// Known element values of small integer tensors.
#[derive(Default)]
pub struct SymValues {
    values: BTreeMap<Value, Vec<ShapeEntry>>,
}

fn is_lit(e: &ShapeEntry) -> Option<i64> {
    match e {
        ShapeEntry::Lit(v) => Some(*v),
        ShapeEntry::Sym(_) => None,
    }
}

/// Element count of a small (rank <= 1, static) integer tensor type.
fn small_len(t: &Type) -> Option<usize> {
    let t = t.as_tensor()?;
    if !t.elem.is_int() || t.rank() > 1 {
        return None;
    }
    let n = usize::try_from(t.num_elements()?).ok()?;
    (n <= MAX_LEN).then_some(n)
}

impl SymValues {
    pub fn get(&self, v: Value) -> Option<&[ShapeEntry]> {
        self.values.get(&v).map(Vec::as_slice)
    }

    /// Track a constant's value if it is a small integer tensor.
    pub fn record_constant(&mut self, module: &Module, v: Value, value: &Attribute) {
        if small_len(module.value_type(v)).is_some() {
            if let Some(ints) = const_ints(module, Some(value)) {
                self.values
                    .insert(v, ints.into_iter().map(ShapeEntry::Lit).collect());
            }
        }
    }

    /// A fully literal value as a dense constant (for the inference hooks).
    pub fn as_constant(&self, module: &Module, v: Value) -> Option<Attribute> {
        let lits: Vec<i64> = self.get(v)?.iter().map(is_lit).collect::<Option<_>>()?;
        let ty = module.value_type(v).as_tensor()?.clone();
        let bytes: Vec<u8> = match ty.elem {
            ElemType::I64 => lits.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ElemType::I32 => lits
                .iter()
                .flat_map(|&x| (x as i32).to_le_bytes())
                .collect(),
            ElemType::I8 => lits.iter().map(|&x| x as i8 as u8).collect(),
            ElemType::U8 => lits.iter().map(|&x| x as u8).collect(),
            ElemType::I1 => lits.iter().map(|&x| u8::from(x != 0)).collect(),
            _ => return None,
        };
        DenseAttr::new(ty, bytes).map(Attribute::Dense)
    }

    /// Compute the tracked values of `op`'s results from its operands.
    pub fn propagate(&mut self, module: &Module, op: Op) {
        let data = &module.ops[op];
        let Some(&result) = data.results.first() else {
            return;
        };
        let Some(len) = small_len(module.value_type(result)) else {
            return;
        };
        let arg = |i: usize| data.operands.get(i).and_then(|&v| self.get(v));
        let out = match data.name.as_str() {
            "onnx.Shape" => shape_of(module, op),
            "onnx.Identity" | "onnx.Cast" | "onnx.Unsqueeze" | "onnx.Squeeze" | "onnx.Reshape" => {
                arg(0).map(<[ShapeEntry]>::to_vec)
            }
            "onnx.Concat" => (0..data.operands.len())
                .map(arg)
                .collect::<Option<Vec<_>>>()
                .map(|parts| parts.concat()),
            "onnx.Gather" => gather(arg(0), arg(1)),
            "onnx.Slice" => slice(arg(0), arg(1), arg(2), arg(3), arg(4), data.operands.len()),
            "onnx.Where" => where_(arg(0), arg(1), arg(2), len),
            "onnx.ConstantOfShape" => fill(module, op, arg(0)),
            name => binary(name, arg(0), arg(1), len),
        };
        if let Some(out) = out.filter(|o| o.len() == len) {
            self.values.insert(result, out);
        }
    }

    /// Refine the inferred result types of ops that take a shape operand.
    pub fn refine(
        &self,
        module: &Module,
        op: Op,
        inferred: &[Type],
    ) -> Result<Option<TensorType>, ShapeError> {
        let data = &module.ops[op];
        let arg = |i: usize| data.operands.get(i).and_then(|&v| self.get(v));
        let input = || {
            data.operands
                .first()
                .and_then(|&v| module.value_type(v).as_tensor())
                .ok_or(ShapeError::MissingOperand(0))
        };
        let Some(Type::Tensor(first)) = inferred.first() else {
            return Ok(None);
        };
        let dims = match (data.name.as_str(), arg(1)) {
            ("onnx.Reshape", Some(target)) => {
                let allowzero = int_attr(module, op, "allowzero").unwrap_or(0) != 0;
                reshape_dims(&input()?.dims, target, allowzero)?
            }
            ("onnx.Expand", Some(target)) => expand_dims(&input()?.dims, target)?,
            ("onnx.Tile", Some(reps)) => tile_dims(&input()?.dims, reps)?,
            ("onnx.ConstantOfShape", _) => match arg(0) {
                Some(target) => target
                    .iter()
                    .map(ShapeEntry::to_dim)
                    .collect::<Result<_, _>>()?,
                None => return Ok(None),
            },
            ("onnx.Range", _) => match (arg(0), arg(1), arg(2)) {
                (
                    Some([ShapeEntry::Lit(0)]),
                    Some([ShapeEntry::Sym(d)]),
                    Some([ShapeEntry::Lit(1)]),
                ) => {
                    vec![d.clone()]
                }
                _ => return Ok(None),
            },
            ("onnx.Slice", _) => match slice_dims(module, op, first, &arg) {
                Some(dims) => dims,
                None => return Ok(None),
            },
            _ => return Ok(None),
        };
        Ok(Some(TensorType::new(dims, first.elem)))
    }
}

fn shape_of(module: &Module, op: Op) -> Option<Vec<ShapeEntry>> {
    let t = module
        .value_type(*module.ops[op].operands.first()?)
        .as_tensor()?;
    let rank = t.rank() as i64;
    let clamp = |v: i64| {
        if v < 0 {
            (v + rank).max(0)
        } else {
            v.min(rank)
        }
    };
    let start = clamp(int_attr(module, op, "start").unwrap_or(0)) as usize;
    let end = clamp(int_attr(module, op, "end").unwrap_or(rank)) as usize;
    let dims = t.dims.get(start..end.max(start))?;
    Some(
        dims.iter()
            .map(|d| match d {
                Dim::Static(n) => {
                    i64::try_from(*n).map_or(ShapeEntry::Sym(Dim::Dynamic), ShapeEntry::Lit)
                }
                other => ShapeEntry::Sym(other.clone()),
            })
            .collect(),
    )
}

fn wrap_index(i: i64, n: usize) -> Option<usize> {
    let n = i64::try_from(n).ok()?;
    let i = if i < 0 { i + n } else { i };
    usize::try_from(i).ok().filter(|&i| (i as i64) < n)
}

fn gather(data: Option<&[ShapeEntry]>, indices: Option<&[ShapeEntry]>) -> Option<Vec<ShapeEntry>> {
    let (data, indices) = (data?, indices?);
    indices
        .iter()
        .map(|i| data.get(wrap_index(is_lit(i)?, data.len())?).cloned())
        .collect()
}

fn slice(
    data: Option<&[ShapeEntry]>,
    starts: Option<&[ShapeEntry]>,
    ends: Option<&[ShapeEntry]>,
    axes: Option<&[ShapeEntry]>,
    steps: Option<&[ShapeEntry]>,
    n_operands: usize,
) -> Option<Vec<ShapeEntry>> {
    let data = data?;
    let one = |x: Option<&[ShapeEntry]>| match x {
        Some([e]) => is_lit(e),
        _ => None,
    };
    if n_operands > 3 && one(axes).is_none_or(|a| a != 0 && a != -1) {
        return None;
    }
    let step = if n_operands > 4 { one(steps)? } else { 1 };
    let d = i64::try_from(data.len()).ok()?;
    let (start, count) =
        sofa_ir::dialect::onnx::infer::slice_range(d, one(starts)?, one(ends)?, step).ok()?;
    (0..count as i64)
        .map(|k| {
            let i = start.checked_add(k.checked_mul(step)?)?;
            data.get(usize::try_from(i).ok()?).cloned()
        })
        .collect()
}

fn where_(
    cond: Option<&[ShapeEntry]>,
    x: Option<&[ShapeEntry]>,
    y: Option<&[ShapeEntry]>,
    len: usize,
) -> Option<Vec<ShapeEntry>> {
    let (cond, x, y) = (cond?, x?, y?);
    let at = |v: &[ShapeEntry], i: usize| {
        if v.len() == 1 {
            v.first().cloned()
        } else {
            v.get(i).cloned()
        }
    };
    (0..len)
        .map(|i| {
            if is_lit(&at(cond, i)?)? != 0 {
                at(x, i)
            } else {
                at(y, i)
            }
        })
        .collect()
}

fn fill(module: &Module, op: Op, shape: Option<&[ShapeEntry]>) -> Option<Vec<ShapeEntry>> {
    let n = match shape? {
        [] => 1,
        [e] => usize::try_from(is_lit(e)?).ok()?,
        _ => return None,
    };
    let value = match module.ops[op].attrs.get("value") {
        Some(v) => *const_ints(module, Some(v))?.first()?,
        None => 0,
    };
    (n <= MAX_LEN).then(|| vec![ShapeEntry::Lit(value); n])
}

/// Elementwise integer arithmetic and comparisons on tracked values, broadcasting scalars.
fn binary(
    name: &str,
    a: Option<&[ShapeEntry]>,
    b: Option<&[ShapeEntry]>,
    len: usize,
) -> Option<Vec<ShapeEntry>> {
    let (a, b) = (a?, b?);
    let at = |v: &[ShapeEntry], i: usize| {
        if v.len() == 1 {
            v.first().cloned()
        } else {
            v.get(i).cloned()
        }
    };
    (0..len)
        .map(|i| combine(name, &at(a, i)?, &at(b, i)?))
        .collect()
}

fn combine(name: &str, a: &ShapeEntry, b: &ShapeEntry) -> Option<ShapeEntry> {
    use ShapeEntry::{Lit, Sym};
    let lit = |v: Option<i64>| v.map(Lit);
    let bool_lit = |v: bool| Some(Lit(i64::from(v)));
    match (name, a, b) {
        ("onnx.Add", Lit(x), Lit(y)) => lit(x.checked_add(*y)),
        ("onnx.Sub", Lit(x), Lit(y)) => lit(x.checked_sub(*y)),
        ("onnx.Mul", Lit(x), Lit(y)) => lit(x.checked_mul(*y)),
        ("onnx.Div", Lit(x), Lit(y)) => lit(x.checked_div(*y)),
        ("onnx.Mod", Lit(x), Lit(y)) => lit(x.checked_rem_euclid(*y)),
        ("onnx.Max", Lit(x), Lit(y)) => lit(Some(*x.max(y))),
        ("onnx.Min", Lit(x), Lit(y)) => lit(Some(*x.min(y))),
        ("onnx.Add" | "onnx.Sub", s @ Sym(_), Lit(0)) | ("onnx.Add", Lit(0), s @ Sym(_)) => {
            Some(s.clone())
        }
        ("onnx.Mul" | "onnx.Div", s @ Sym(_), Lit(1)) | ("onnx.Mul", Lit(1), s @ Sym(_)) => {
            Some(s.clone())
        }
        ("onnx.Equal", Lit(x), Lit(y)) => bool_lit(x == y),
        ("onnx.Less", Lit(x), Lit(y)) => bool_lit(x < y),
        ("onnx.Greater", Lit(x), Lit(y)) => bool_lit(x > y),
        ("onnx.LessOrEqual", Lit(x), Lit(y)) => bool_lit(x <= y),
        ("onnx.GreaterOrEqual", Lit(x), Lit(y)) => bool_lit(x >= y),
        // Dims are never negative.
        ("onnx.Equal", Sym(_), Lit(v)) | ("onnx.Equal", Lit(v), Sym(_)) if *v < 0 => {
            bool_lit(false)
        }
        ("onnx.Equal", Sym(Dim::Named(x)), Sym(Dim::Named(y))) if x == y => bool_lit(true),
        ("onnx.And", Lit(x), Lit(y)) => bool_lit(*x != 0 && *y != 0),
        ("onnx.Or", Lit(x), Lit(y)) => bool_lit(*x != 0 || *y != 0),
        _ => None,
    }
}

/// Slice dims when `ends` holds named dims: `x[0:seq]` has `seq` elements along that axis.
fn slice_dims<'a>(
    module: &Module,
    op: Op,
    inferred: &TensorType,
    arg: &dyn Fn(usize) -> Option<&'a [ShapeEntry]>,
) -> Option<Vec<Dim>> {
    let n_ops = module.ops[op].operands.len();
    let (starts, ends) = (arg(1)?, arg(2)?);
    let rank = inferred.rank();
    let axes: Vec<i64> = if n_ops > 3 {
        arg(3)?.iter().map(is_lit).collect::<Option<_>>()?
    } else {
        (0..starts.len() as i64).collect()
    };
    let steps: Vec<i64> = if n_ops > 4 {
        arg(4)?.iter().map(is_lit).collect::<Option<_>>()?
    } else {
        vec![1; starts.len()]
    };
    let mut dims = inferred.dims.clone();
    for (k, &axis) in axes.iter().enumerate() {
        let axis = sofa_ir::dialect::onnx::shape::normalize_axis(axis, rank).ok()?;
        if let (Some(ShapeEntry::Lit(0)), Some(ShapeEntry::Sym(d @ Dim::Named(_))), Some(1)) =
            (starts.get(k), ends.get(k), steps.get(k).copied())
        {
            dims[axis] = d.clone();
        }
    }
    Some(dims)
}
