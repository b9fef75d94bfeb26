//! Elementwise ops: unary math, broadcast arithmetic, comparisons, logic, `Where`, `Cast`.
//!
//! Integer semantics follow ONNX/C++: `Div` truncates toward zero, `Mod` takes the divisor's
//! sign unless `fmod = 1`, overflow wraps in the element type, and division by zero is an error
//! (it is undefined in ONNX). Float `Max`/`Min` propagate NaN like numpy.

use crate::dialect::onnx::infer::elem_from_onnx;
use crate::eval::args::{same_elem, OpArgs};
use crate::eval::broadcast::{broadcast_all, broadcast_shapes, map2, map3};
use crate::eval::error::{EvalErrorKind, KResult};
use crate::eval::precision::erf;
use crate::eval::tensor::{Storage, Tensor, TensorData};
use crate::types::ElemType;

// ---- unary ----------------------------------------------------------------------------------

/// A float-only unary op (`Exp`, `Sqrt`, `Erf`, ...).
pub fn unary_float(args: &OpArgs, f: fn(f32) -> f32) -> KResult<Vec<Tensor>> {
    args.arity(1, 1)?;
    let x = args.input(0)?;
    let TensorData::F32(v) = x.data() else {
        return Err(not_float(0, x));
    };
    let out = v.iter().map(|&a| f(a)).collect();
    Ok(vec![Tensor::new(
        x.elem(),
        x.shape().to_vec(),
        TensorData::F32(out),
    )?])
}

/// A numeric unary op with a float and an integer version (`Abs`, `Neg`, `Relu`).
pub fn unary_numeric(
    args: &OpArgs,
    ff: fn(f32) -> f32,
    fi: fn(i64) -> i64,
) -> KResult<Vec<Tensor>> {
    args.arity(1, 1)?;
    let x = args.input(0)?;
    let data = match x.data() {
        TensorData::F32(v) => TensorData::F32(v.iter().map(|&a| ff(a)).collect()),
        TensorData::I64(v) => TensorData::I64(v.iter().map(|&a| fi(a)).collect()),
        TensorData::Bool(_) => return Err(EvalErrorKind::input(0, "bool is not numeric")),
    };
    Ok(vec![Tensor::new(x.elem(), x.shape().to_vec(), data)?])
}

pub fn relu(x: f32) -> f32 {
    if x < 0.0 {
        0.0
    } else {
        x
    }
}

pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

pub fn erf_f32(x: f32) -> f32 {
    erf(f64::from(x)) as f32
}

pub fn is_nan(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(1, 1)?;
    let x = args.input(0)?;
    let TensorData::F32(v) = x.data() else {
        return Err(not_float(0, x));
    };
    let out = v.iter().map(|a| a.is_nan()).collect();
    Ok(vec![Tensor::from_bool(x.shape().to_vec(), out)?])
}

pub fn not(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(1, 1)?;
    let x = args.input(0)?;
    let v = bools(x, 0)?;
    Ok(vec![Tensor::from_bool(
        x.shape().to_vec(),
        v.iter().map(|b| !b).collect(),
    )?])
}

pub fn identity(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(1, 1)?;
    Ok(vec![args.input(0)?.clone()])
}

// ---- binary arithmetic ----------------------------------------------------------------------

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Max,
    Min,
    /// C `fmod` (sign of the dividend).
    Fmod,
    /// Python-style modulo (sign of the divisor); integers only.
    Mod,
}

pub fn binary(args: &OpArgs, op: Arith) -> KResult<Vec<Tensor>> {
    args.arity(2, 2)?;
    Ok(vec![arith(op, args.input(0)?, args.input(1)?)?])
}

/// `Mod`: `fmod = 0` is Python-style and integer-only; `fmod = 1` is C `fmod`.
pub fn modulo(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(2, 2)?;
    let a = args.input(0)?;
    let op = if args.int("fmod", 0)? != 0 {
        Arith::Fmod
    } else if a.storage() == Storage::F32 {
        return Err(EvalErrorKind::attr("fmod", "must be 1 for float inputs"));
    } else {
        Arith::Mod
    };
    Ok(vec![arith(op, a, args.input(1)?)?])
}

/// Variadic `Max`, `Min`, `Sum`: a left fold of the broadcast binary op.
pub fn variadic(args: &OpArgs, op: Arith) -> KResult<Vec<Tensor>> {
    args.arity(1, usize::MAX)?;
    let inputs = args.all_inputs()?;
    let mut acc = inputs[0].clone();
    for (i, t) in inputs.iter().enumerate().skip(1) {
        same_elem(&acc, t, i)?;
        acc = arith(op, &acc, t)?;
    }
    Ok(vec![acc])
}

/// Variadic `Mean` (floats).
pub fn mean(args: &OpArgs) -> KResult<Vec<Tensor>> {
    let [sum] = <[Tensor; 1]>::try_from(variadic(args, Arith::Add)?)
        .map_err(|_| EvalErrorKind::invalid("Sum produced no result"))?;
    let n = args.inputs.len() as f32;
    let TensorData::F32(v) = sum.data() else {
        return Err(not_float(0, &sum));
    };
    let out = v.iter().map(|&x| x / n).collect();
    Ok(vec![Tensor::new(
        sum.elem(),
        sum.shape().to_vec(),
        TensorData::F32(out),
    )?])
}

/// One broadcast arithmetic op on two tensors of the same element type.
pub fn arith(op: Arith, a: &Tensor, b: &Tensor) -> KResult<Tensor> {
    let elem = same_elem(a, b, 1)?;
    let shape = broadcast_shapes(a.shape(), b.shape())?;
    let data = match (a.data(), b.data()) {
        (TensorData::F32(x), TensorData::F32(y)) => {
            let f = float_op(op)?;
            TensorData::F32(map2((x, a.shape()), (y, b.shape()), &shape, f))
        }
        (TensorData::I64(x), TensorData::I64(y)) => {
            if matches!(op, Arith::Div | Arith::Mod | Arith::Fmod) && y.contains(&0) {
                return Err(EvalErrorKind::input(1, "integer division by zero"));
            }
            TensorData::I64(map2((x, a.shape()), (y, b.shape()), &shape, int_op(op)))
        }
        _ => {
            return Err(EvalErrorKind::input(
                0,
                format!("{op:?} is not defined on {elem}"),
            ))
        }
    };
    Tensor::new(elem, shape, data)
}

fn float_op(op: Arith) -> KResult<fn(f32, f32) -> f32> {
    Ok(match op {
        Arith::Add => |a, b| a + b,
        Arith::Sub => |a, b| a - b,
        Arith::Mul => |a, b| a * b,
        Arith::Div => |a, b| a / b,
        Arith::Max => |a: f32, b: f32| {
            if a.is_nan() || b.is_nan() {
                f32::NAN
            } else {
                a.max(b)
            }
        },
        Arith::Min => |a: f32, b: f32| {
            if a.is_nan() || b.is_nan() {
                f32::NAN
            } else {
                a.min(b)
            }
        },
        Arith::Fmod => |a, b| a % b,
        Arith::Mod => return Err(EvalErrorKind::attr("fmod", "must be 1 for float inputs")),
    })
}

fn int_op(op: Arith) -> fn(i64, i64) -> i64 {
    match op {
        Arith::Add => i64::wrapping_add,
        Arith::Sub => i64::wrapping_sub,
        Arith::Mul => i64::wrapping_mul,
        Arith::Div => i64::wrapping_div,
        Arith::Max => std::cmp::max,
        Arith::Min => std::cmp::min,
        Arith::Fmod => i64::wrapping_rem,
        Arith::Mod => |a, b| {
            let r = a.wrapping_rem(b);
            if r != 0 && ((r < 0) != (b < 0)) {
                r + b
            } else {
                r
            }
        },
    }
}

/// `Pow`: the base and exponent types may differ; the result has the base's type.
pub fn pow(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(2, 2)?;
    let (a, b) = (args.input(0)?, args.input(1)?);
    let shape = broadcast_shapes(a.shape(), b.shape())?;
    let (sa, sb) = (a.shape(), b.shape());
    let data = match (a.data(), b.data()) {
        (TensorData::F32(x), TensorData::F32(y)) => {
            TensorData::F32(map2((x, sa), (y, sb), &shape, f32::powf))
        }
        (TensorData::F32(x), TensorData::I64(y)) => {
            TensorData::F32(map2((x, sa), (y, sb), &shape, |p, e| {
                match i32::try_from(e) {
                    Ok(e) => p.powi(e),
                    Err(_) => p.powf(e as f32),
                }
            }))
        }
        (TensorData::I64(x), TensorData::F32(y)) => {
            TensorData::I64(map2((x, sa), (y, sb), &shape, |p, e| {
                (p as f64).powf(f64::from(e)) as i64
            }))
        }
        (TensorData::I64(x), TensorData::I64(y)) => {
            let zero_to_negative = map2((x, sa), (y, sb), &shape, |p, e| p == 0 && e < 0);
            if zero_to_negative.contains(&true) {
                return Err(EvalErrorKind::invalid(
                    "integer 0 raised to a negative power",
                ));
            }
            TensorData::I64(map2((x, sa), (y, sb), &shape, int_pow))
        }
        _ => return Err(EvalErrorKind::input(0, "Pow is not defined on bool")),
    };
    Ok(vec![Tensor::new(a.elem(), shape, data)?])
}

/// Integer power by squaring (wrapping); negative exponents truncate `1 / base^-e`.
fn int_pow(base: i64, exp: i64) -> i64 {
    if exp < 0 {
        return match base {
            1 => 1,
            -1 if exp & 1 == 0 => 1,
            -1 => -1,
            _ => 0,
        };
    }
    let (mut result, mut b, mut e) = (1i64, base, exp as u64);
    while e > 0 {
        if e & 1 == 1 {
            result = result.wrapping_mul(b);
        }
        b = b.wrapping_mul(b);
        e >>= 1;
    }
    result
}

// ---- comparisons and logic ------------------------------------------------------------------

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
}

pub fn compare(args: &OpArgs, cmp: Cmp) -> KResult<Vec<Tensor>> {
    args.arity(2, 2)?;
    let (a, b) = (args.input(0)?, args.input(1)?);
    same_elem(a, b, 1)?;
    let shape = broadcast_shapes(a.shape(), b.shape())?;
    let (sa, sb) = (a.shape(), b.shape());
    let out = match (a.data(), b.data()) {
        (TensorData::F32(x), TensorData::F32(y)) => map2((x, sa), (y, sb), &shape, cmp_fn(cmp)),
        (TensorData::I64(x), TensorData::I64(y)) => map2((x, sa), (y, sb), &shape, cmp_fn(cmp)),
        (TensorData::Bool(x), TensorData::Bool(y)) if cmp == Cmp::Eq => {
            map2((x, sa), (y, sb), &shape, |p, q| p == q)
        }
        _ => {
            return Err(EvalErrorKind::input(
                0,
                format!("{cmp:?} is not defined on bool"),
            ))
        }
    };
    Ok(vec![Tensor::from_bool(shape, out)?])
}

fn cmp_fn<T: PartialOrd>(cmp: Cmp) -> fn(T, T) -> bool {
    match cmp {
        Cmp::Eq => |a, b| a == b,
        Cmp::Gt => |a, b| a > b,
        Cmp::Ge => |a, b| a >= b,
        Cmp::Lt => |a, b| a < b,
        Cmp::Le => |a, b| a <= b,
    }
}

pub fn logical(args: &OpArgs, f: fn(bool, bool) -> bool) -> KResult<Vec<Tensor>> {
    args.arity(2, 2)?;
    let (a, b) = (args.input(0)?, args.input(1)?);
    let (x, y) = (bools(a, 0)?, bools(b, 1)?);
    let shape = broadcast_shapes(a.shape(), b.shape())?;
    let out = map2((x, a.shape()), (y, b.shape()), &shape, f);
    Ok(vec![Tensor::from_bool(shape, out)?])
}

/// `Where(cond, x, y)` with three-way broadcasting.
pub fn where_(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(3, 3)?;
    let (c, x, y) = (args.input(0)?, args.input(1)?, args.input(2)?);
    let cond = bools(c, 0)?;
    let elem = same_elem(x, y, 2)?;
    let shape = broadcast_all([c.shape(), x.shape(), y.shape()])?;
    let sc = (cond, c.shape());
    let data = match (x.data(), y.data()) {
        (TensorData::F32(p), TensorData::F32(q)) => {
            TensorData::F32(map3(sc, (p, x.shape()), (q, y.shape()), &shape, pick))
        }
        (TensorData::I64(p), TensorData::I64(q)) => {
            TensorData::I64(map3(sc, (p, x.shape()), (q, y.shape()), &shape, pick))
        }
        (TensorData::Bool(p), TensorData::Bool(q)) => {
            TensorData::Bool(map3(sc, (p, x.shape()), (q, y.shape()), &shape, pick))
        }
        _ => return Err(EvalErrorKind::input(2, "storage differs from input #1")),
    };
    Ok(vec![Tensor::new(elem, shape, data)?])
}

fn pick<T>(c: bool, a: T, b: T) -> T {
    if c {
        a
    } else {
        b
    }
}

// ---- casts ------------------------------------------------------------------------------------

pub fn cast(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(1, 1)?;
    let code = args.int("to", -1)?;
    let to = elem_from_onnx(code).ok_or_else(|| {
        EvalErrorKind::attr(
            "to",
            format!("unsupported or missing target type code {code}"),
        )
    })?;
    Ok(vec![cast_tensor(args.input(0)?, to)?])
}

pub fn cast_like(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(2, 2)?;
    Ok(vec![cast_tensor(args.input(0)?, args.input(1)?.elem())?])
}

/// Convert values to `to`: floats truncate toward zero when made integers (then wrap into the
/// target width), non-zero (and NaN) is `true`, `true` is 1.
pub fn cast_tensor(x: &Tensor, to: ElemType) -> KResult<Tensor> {
    let data = match (x.data(), Storage::of(to)) {
        (TensorData::F32(v), Storage::F32) => TensorData::F32(v.clone()),
        (TensorData::F32(v), Storage::I64) => {
            TensorData::I64(v.iter().map(|&a| a as i64).collect())
        }
        (TensorData::F32(v), Storage::Bool) => {
            TensorData::Bool(v.iter().map(|&a| a != 0.0).collect())
        }
        (TensorData::I64(v), Storage::F32) => {
            TensorData::F32(v.iter().map(|&a| a as f32).collect())
        }
        (TensorData::I64(v), Storage::I64) => TensorData::I64(v.clone()),
        (TensorData::I64(v), Storage::Bool) => {
            TensorData::Bool(v.iter().map(|&a| a != 0).collect())
        }
        (TensorData::Bool(v), Storage::F32) => {
            TensorData::F32(v.iter().map(|&b| f32::from(u8::from(b))).collect())
        }
        (TensorData::Bool(v), Storage::I64) => {
            TensorData::I64(v.iter().map(|&b| i64::from(b)).collect())
        }
        (TensorData::Bool(v), Storage::Bool) => TensorData::Bool(v.clone()),
    };
    Tensor::new(to, x.shape().to_vec(), data)
}

// ---- helpers ----------------------------------------------------------------------------------

fn bools(t: &Tensor, index: usize) -> KResult<&[bool]> {
    t.as_bool()
        .ok_or_else(|| EvalErrorKind::input(index, format!("expected bool, got {}", t.elem())))
}

pub(crate) fn not_float(index: usize, t: &Tensor) -> EvalErrorKind {
    EvalErrorKind::input(index, format!("expected a float tensor, got {}", t.elem()))
}
