//! Elementwise ops on the vector unit, with ONNX multidirectional broadcasting.
//!
//! - Arithmetic (`Add Sub Mul Div Max`): a constant scalar operand becomes a `VEC.AFFINE`
//!   immediate; otherwise the second operand uses `bcast=row/col/scalar` when its broadcast
//!   pattern allows (commutative ops swap a broadcast first operand into second place), and
//!   is materialised by strided / stride-0 loads otherwise.
//! - `Pow` by a constant 2, 3, 4, 1, −1, 0.5 or −0.5: `VEC.MUL`s, `VEC.SQRT`, `VEC.RECIP`.
//! - Unary functions map to their `VEC.*` (`Cos`/`Sin`: RoPE tables that did not fold); `Cast`
//!   is `VEC.CVT` (an alias when the type does not change); `Where`, `And`, `Or`, `Not` are
//!   `VEC.SELECT` over materialised operands.
//! - `Trilu` of a computed tensor: `VEC.SELECT` between it and zeros under the triangle, a
//!   compile-time `i1` constant of the last two dims broadcast over the others.

use sofa_ir::isa::{Bcast, DType, Instr};

use super::vector::{map_tiles, mode_of, Input, Mode, Shape, Step};
use super::view::View;
use super::{Ctx, OpRef};
use crate::lower::LowerError;

const ELEMENTWISE: Shape = Shape {
    inner: 1,
    extra: 0,
    in_place: true,
};

/// Operand `i` broadcast to `shape`.
fn operand_as(ctx: &mut Ctx<'_>, o: &OpRef, i: usize, shape: &[u64]) -> Result<View, LowerError> {
    let v = ctx.operand(o, i)?;
    let view = ctx.view(o, v)?;
    view.broadcast_to(shape).ok_or_else(|| {
        o.err(format!(
            "operand {i} {:?} does not broadcast to {shape:?}",
            view.shape
        ))
    })
}

fn float_only(o: &OpRef, dt: DType) -> Result<(), LowerError> {
    if dt.is_float() {
        Ok(())
    } else {
        Err(o.err(format!(
            "{dt} arithmetic is not supported by the vector unit (float types only)"
        )))
    }
}

fn affine(s: &Step, dt: DType, mul: f32, add: f32) -> Instr {
    Instr::VecAffine {
        dst: s.dst,
        a: s.ins[0],
        rows: s.rows,
        cols: s.cols,
        mul,
        add,
        dt,
    }
}

/// `Add`, `Sub`, `Mul`, `Div`, `Max`.
pub fn binary(ctx: &mut Ctx<'_>, o: &OpRef, kind: &str) -> Result<(), LowerError> {
    let (a, b) = (ctx.operand(o, 0)?, ctx.operand(o, 1)?);
    let (dt, shape) = ctx.shape_of(o, ctx.result(o, 0)?)?;
    float_only(o, dt)?;
    let (ca, cb) = (ctx.splat(a), ctx.splat(b));
    if let (Some(c), false) = (cb, kind == "Max") {
        let c = c as f32;
        let (mul, add) = match kind {
            "Add" => (1.0, c),
            "Sub" => (1.0, -c),
            "Mul" => (c, 0.0),
            _ => (1.0 / c, 0.0),
        };
        let x = operand_as(ctx, o, 0, &shape)?;
        let out = ctx.new_result(o, 0, dt, shape)?;
        return map_tiles(ctx, o, &[Input::full(x)], &out, ELEMENTWISE, &mut |s| {
            vec![affine(s, dt, mul, add)]
        });
    }
    if let (Some(c), false) = (ca, kind == "Max") {
        let c = c as f32;
        let x = operand_as(ctx, o, 1, &shape)?;
        let out = ctx.new_result(o, 0, dt, shape)?;
        let kind = kind.to_string();
        return map_tiles(
            ctx,
            o,
            &[Input::full(x)],
            &out,
            ELEMENTWISE,
            &mut |s| match kind.as_str() {
                "Add" => vec![affine(s, dt, 1.0, c)],
                "Sub" => vec![affine(s, dt, -1.0, c)],
                "Mul" => vec![affine(s, dt, c, 0.0)],
                _ => vec![
                    Instr::VecRecip {
                        dst: s.dst,
                        a: s.ins[0],
                        rows: s.rows,
                        cols: s.cols,
                        dt,
                    },
                    Instr::VecAffine {
                        dst: s.dst,
                        a: s.dst,
                        rows: s.rows,
                        cols: s.cols,
                        mul: c,
                        add: 0.0,
                        dt,
                    },
                ],
            },
        );
    }
    let (mut x, mut y) = (
        operand_as(ctx, o, 0, &shape)?,
        operand_as(ctx, o, 1, &shape)?,
    );
    let commutes = matches!(kind, "Add" | "Mul" | "Max");
    if commutes && mode_of(&x) != Mode::Full && mode_of(&y) == Mode::Full {
        std::mem::swap(&mut x, &mut y);
    }
    let mode = mode_of(&y);
    let bcast = match mode {
        Mode::Full => Bcast::None,
        Mode::Row => Bcast::Row,
        Mode::Col => Bcast::Col,
        Mode::Scalar => Bcast::Scalar,
    };
    let out = ctx.new_result(o, 0, dt, shape)?;
    let inputs = [Input::full(x), Input { view: y, mode }];
    let kind = kind.to_string();
    map_tiles(ctx, o, &inputs, &out, ELEMENTWISE, &mut |s| {
        let (dst, a, b, rows, cols) = (s.dst, s.ins[0], s.ins[1], s.rows, s.cols);
        vec![match kind.as_str() {
            "Add" => Instr::VecAdd {
                dst,
                a,
                b,
                rows,
                cols,
                bcast,
                dt,
            },
            "Sub" => Instr::VecSub {
                dst,
                a,
                b,
                rows,
                cols,
                bcast,
                dt,
            },
            "Mul" => Instr::VecMul {
                dst,
                a,
                b,
                rows,
                cols,
                bcast,
                dt,
            },
            "Div" => Instr::VecDiv {
                dst,
                a,
                b,
                rows,
                cols,
                bcast,
                dt,
            },
            _ => Instr::VecMax {
                dst,
                a,
                b,
                rows,
                cols,
                bcast,
                dt,
            },
        }]
    })
}

/// `Pow(x, c)` for the constant exponents the vector unit can do exactly.
pub fn pow(ctx: &mut Ctx<'_>, o: &OpRef) -> Result<(), LowerError> {
    let e = ctx
        .splat(ctx.operand(o, 1)?)
        .ok_or_else(|| o.err("only a constant exponent is supported"))?;
    let (dt, shape) = ctx.shape_of(o, ctx.result(o, 0)?)?;
    float_only(o, dt)?;
    if ![1.0, 2.0, 3.0, 4.0, -1.0, 0.5, -0.5].contains(&e) {
        return Err(o.err(format!(
            "exponent {e} is not supported (only 1, 2, 3, 4, -1, 0.5, -0.5)"
        )));
    }
    let x = operand_as(ctx, o, 0, &shape)?;
    let out = ctx.new_result(o, 0, dt, shape)?;
    let shape = Shape {
        inner: 1,
        extra: 1,
        in_place: false,
    };
    map_tiles(ctx, o, &[Input::full(x)], &out, shape, &mut |s| {
        let (x, dst, t, rows, cols) = (s.ins[0], s.dst, s.tmp[0], s.rows, s.cols);
        let mul = |dst, a, b| Instr::VecMul {
            dst,
            a,
            b,
            rows,
            cols,
            bcast: Bcast::None,
            dt,
        };
        let sqrt = |dst, a| Instr::VecSqrt {
            dst,
            a,
            rows,
            cols,
            dt,
        };
        let recip = |dst, a| Instr::VecRecip {
            dst,
            a,
            rows,
            cols,
            dt,
        };
        if e == 1.0 {
            vec![Instr::VecAffine {
                dst,
                a: x,
                rows,
                cols,
                mul: 1.0,
                add: 0.0,
                dt,
            }]
        } else if e == 2.0 {
            vec![mul(dst, x, x)]
        } else if e == 3.0 {
            vec![mul(t, x, x), mul(dst, t, x)]
        } else if e == 4.0 {
            vec![mul(t, x, x), mul(dst, t, t)]
        } else if e == -1.0 {
            vec![recip(dst, x)]
        } else if e == 0.5 {
            vec![sqrt(dst, x)]
        } else {
            vec![sqrt(t, x), recip(dst, t)]
        }
    })
}

/// Unary functions.
pub fn unary(ctx: &mut Ctx<'_>, o: &OpRef, kind: &str) -> Result<(), LowerError> {
    let (dt, shape) = ctx.shape_of(o, ctx.result(o, 0)?)?;
    float_only(o, dt)?;
    let tanh_gelu = ctx
        .m
        .op(o.op)
        .attrs
        .get("approximate")
        .and_then(|a| a.as_str())
        == Some("tanh");
    let x = operand_as(ctx, o, 0, &shape)?;
    let out = ctx.new_result(o, 0, dt, shape)?;
    let kind = kind.to_string();
    map_tiles(ctx, o, &[Input::full(x)], &out, ELEMENTWISE, &mut |s| {
        let (dst, a, rows, cols) = (s.dst, s.ins[0], s.rows, s.cols);
        vec![match kind.as_str() {
            "Erf" => Instr::VecErf {
                dst,
                a,
                rows,
                cols,
                dt,
            },
            "Tanh" => Instr::VecTanh {
                dst,
                a,
                rows,
                cols,
                dt,
            },
            "Relu" => Instr::VecRelu {
                dst,
                a,
                rows,
                cols,
                dt,
            },
            "Sigmoid" => Instr::VecSigmoid {
                dst,
                a,
                rows,
                cols,
                dt,
            },
            "Sqrt" => Instr::VecSqrt {
                dst,
                a,
                rows,
                cols,
                dt,
            },
            "Reciprocal" => Instr::VecRecip {
                dst,
                a,
                rows,
                cols,
                dt,
            },
            "Exp" => Instr::VecExp {
                dst,
                a,
                rows,
                cols,
                dt,
            },
            "Cos" => Instr::VecCos {
                dst,
                a,
                rows,
                cols,
                dt,
            },
            "Sin" => Instr::VecSin {
                dst,
                a,
                rows,
                cols,
                dt,
            },
            "Gelu" if tanh_gelu => Instr::VecGeluTanh {
                dst,
                a,
                rows,
                cols,
                dt,
            },
            "Gelu" => Instr::VecGelu {
                dst,
                a,
                rows,
                cols,
                dt,
            },
            _ => Instr::VecAffine {
                dst,
                a,
                rows,
                cols,
                mul: -1.0,
                add: 0.0,
                dt,
            },
        }]
    })
}

/// `Cast`: `VEC.CVT`, or an alias when the element type does not change.
pub fn cast(ctx: &mut Ctx<'_>, o: &OpRef) -> Result<(), LowerError> {
    let (to, shape) = ctx.shape_of(o, ctx.result(o, 0)?)?;
    let x = operand_as(ctx, o, 0, &shape)?;
    if x.dt == to {
        let r = ctx.result(o, 0)?;
        ctx.bind(r, x);
        return Ok(());
    }
    let from = x.dt;
    let out = ctx.new_result(o, 0, to, shape)?;
    map_tiles(ctx, o, &[Input::full(x)], &out, ELEMENTWISE, &mut |s| {
        vec![Instr::VecCvt {
            dst: s.dst,
            a: s.ins[0],
            rows: s.rows,
            cols: s.cols,
            from,
            to,
        }]
    })
}

/// `dst = cond ? a : b` over materialised (strided / stride-0 loaded) operands.
pub(super) fn emit_select(
    ctx: &mut Ctx<'_>,
    o: &OpRef,
    cond: View,
    a: View,
    b: View,
    out: &View,
) -> Result<(), LowerError> {
    let dt = out.dt;
    let shape = Shape {
        inner: 1,
        extra: 0,
        in_place: false,
    };
    let inputs = [Input::full(cond), Input::full(a), Input::full(b)];
    map_tiles(ctx, o, &inputs, out, shape, &mut |s| {
        vec![Instr::VecSelect {
            dst: s.dst,
            cond: s.ins[0],
            a: s.ins[1],
            b: s.ins[2],
            rows: s.rows,
            cols: s.cols,
            dt,
        }]
    })
}

/// `Where(cond, x, y)`.
pub fn select(ctx: &mut Ctx<'_>, o: &OpRef) -> Result<(), LowerError> {
    let (dt, shape) = ctx.shape_of(o, ctx.result(o, 0)?)?;
    let cond = operand_as(ctx, o, 0, &shape)?;
    let (a, b) = (
        operand_as(ctx, o, 1, &shape)?,
        operand_as(ctx, o, 2, &shape)?,
    );
    if cond.dt != DType::I1 {
        return Err(o.err("the condition must be a bool (i1) tensor"));
    }
    let out = ctx.new_result(o, 0, dt, shape)?;
    emit_select(ctx, o, cond, a, b, &out)
}

/// `And`, `Or`, `Not` on booleans; `And`/`Or` with a constant operand are aliases or splats.
pub fn logical(ctx: &mut Ctx<'_>, o: &OpRef, kind: &str) -> Result<(), LowerError> {
    let (dt, shape) = ctx.shape_of(o, ctx.result(o, 0)?)?;
    if dt != DType::I1 {
        return Err(o.err("logical ops need bool (i1) operands"));
    }
    let r = ctx.result(o, 0)?;
    if kind == "Not" {
        let x = operand_as(ctx, o, 0, &shape)?;
        let (zeros, ones) = splats(ctx, o, &shape)?;
        let out = ctx.new_result(o, 0, dt, shape)?;
        return emit_select(ctx, o, x, zeros, ones, &out);
    }
    // x AND true = x, x OR false = x: the other operand, broadcast (the constant is never
    // loaded).
    let identity = if kind == "And" { 1.0 } else { 0.0 };
    for (c, other) in [(0, 1), (1, 0)] {
        if ctx.splat(ctx.operand(o, c)?) == Some(identity) {
            let view = operand_as(ctx, o, other, &shape)?;
            ctx.bind(r, view);
            return Ok(());
        }
    }
    let (x, y) = (
        operand_as(ctx, o, 0, &shape)?,
        operand_as(ctx, o, 1, &shape)?,
    );
    let (zeros, ones) = splats(ctx, o, &shape)?;
    let out = ctx.new_result(o, 0, dt, shape)?;
    if kind == "And" {
        emit_select(ctx, o, x, y, zeros, &out)
    } else {
        emit_select(ctx, o, x, ones, y, &out)
    }
}

/// Stride-0 views of a `false` and a `true` element, shaped `shape`.
fn splats(ctx: &mut Ctx<'_>, o: &OpRef, shape: &[u64]) -> Result<(View, View), LowerError> {
    let zeros = ctx
        .splat_view(DType::I1, 0.0, shape)
        .map_err(|e| o.err(e))?;
    let ones = ctx
        .splat_view(DType::I1, 1.0, shape)
        .map_err(|e| o.err(e))?;
    Ok((zeros, ones))
}

/// `Trilu(x, k)`: keep `x[…, i, j]` where `j − i ≥ k` (upper) or `j − i ≤ k` (lower), zeros
/// elsewhere; the triangle is a constant `i1` table of the last two dims.
pub fn trilu(ctx: &mut Ctx<'_>, o: &OpRef) -> Result<(), LowerError> {
    let (dt, shape) = ctx.shape_of(o, ctx.result(o, 0)?)?;
    let r = shape.len();
    if r < 2 {
        return Err(o.err("Trilu needs a rank of at least 2"));
    }
    let k = match ctx.m.op(o.op).operands.get(1) {
        Some(&v) if ctx.m.value_type(v).as_tensor().is_some() => ctx
            .const_value(v)
            .and_then(|t| t.to_i64_vec().first().copied())
            .ok_or_else(|| o.err("the diagonal offset k must be a constant"))?,
        _ => 0,
    };
    let upper = ctx
        .m
        .op(o.op)
        .attrs
        .get("upper")
        .and_then(|a| a.as_int())
        .unwrap_or(1)
        != 0;
    let (rows, cols) = (shape[r - 2], shape[r - 1]);
    let mut keep = Vec::with_capacity((rows * cols) as usize);
    for i in 0..rows {
        for j in 0..cols {
            let diff = i128::from(j) - i128::from(i);
            let kept = if upper {
                diff >= i128::from(k)
            } else {
                diff <= i128::from(k)
            };
            keep.push(u8::from(kept));
        }
    }
    let name = ctx.unique_name(&format!("const.trilu.{}", o.loc));
    let mask = ctx
        .add_const(name, DType::I1, vec![rows, cols], keep)
        .map_err(|e| o.err(e))?
        .broadcast_to(&shape)
        .ok_or_else(|| o.err("the triangle does not broadcast"))?;
    let x = operand_as(ctx, o, 0, &shape)?;
    let zeros = ctx.splat_view(dt, 0.0, &shape).map_err(|e| o.err(e))?;
    let out = ctx.new_result(o, 0, dt, shape)?;
    emit_select(ctx, o, mask, x, zeros, &out)
}
