//! Idioms: multi-op spellings of one vector instruction, recognised before the walk so the
//! lowering emits the one instruction instead of a DRAM round trip per op.
//!
//! - **RMSNorm** `x · 1/√(mean(x²) + ε) · γ` as exporters write it: `Pow(x, 2)` (or `x·x`),
//!   `ReduceMean` over the last axis with `keepdims`, `Add ε`, `Sqrt`, then `Reciprocal` and
//!   `Mul`, `Div(1, ·)` and `Mul`, or `Div(x, ·)`; then optionally `Mul` by a scale that varies
//!   along the last axis only → `VEC.RMSNORM` (scale 1 when there is none).
//! - **SiLU** `x · Sigmoid(x)` → `VEC.SILU`.
//! - **RoPE**, rotate-half: `x·cos + Concat(−x[…, h:], x[…, :h]) · sin` with constant tables
//!   whose two halves are equal (HF's `cat(freqs, freqs)`) and that vary only along the last
//!   two dims → `VEC.ROPE` with the `cos | sin` table of the first halves; row `(…, s)` uses
//!   position `s`.
//!
//! Identity `Cast`s (same type in and out) are looked through. Every intermediate value must have
//! exactly one use and not be a function output, so skipping its op loses nothing; the idiom is
//! lowered at its last op (the root), which reads the idiom's inputs, all computed earlier.
//! Each rewrite computes what the spelled-out ops compute up to `f32` rounding of intermediate
//! statistics (RMSNorm's mean in `f64`); SiLU and RoPE are bit-identical.

use std::collections::{BTreeMap, BTreeSet};

use sofa_ir::attr::Attribute;
use sofa_ir::eval::Tensor;
use sofa_ir::isa::{DType, Instr};
use sofa_ir::{Module, Op, Value};

use super::rope::{self, Job, Positions};
use super::vector::{map_tiles, Input, Mode, Shape};
use super::{Ctx, OpRef};
use crate::lower::LowerError;

/// A recognised idiom, lowered at its root op.
#[derive(Clone, Debug)]
pub enum Idiom {
    RmsNorm {
        x: Value,
        gamma: Option<Value>,
        eps: f32,
    },
    Silu {
        x: Value,
    },
    Rope {
        x: Value,
        /// `[S, D]`: `cos | sin` of the first halves, in `f64`.
        table: Vec<f64>,
        positions: u64,
        width: u64,
    },
}

/// The idioms of a body: by root op, and every op they absorb.
#[derive(Default)]
pub struct Found {
    pub roots: BTreeMap<Op, Idiom>,
    pub absorbed: BTreeSet<Op>,
}

/// Graph queries over the body.
struct Graph<'a> {
    m: &'a Module,
    uses: &'a BTreeMap<Value, Vec<Op>>,
    outputs: &'a BTreeSet<Value>,
}

impl Graph<'_> {
    /// The op defining `v` when it is named `name`.
    fn def(&self, v: Value, name: &str) -> Option<Op> {
        self.m.defining_op(v).filter(|&d| self.m.op(d).name == name)
    }

    fn operands(&self, op: Op) -> &[Value] {
        &self.m.op(op).operands
    }

    fn result(&self, op: Op) -> Option<Value> {
        self.m.op(op).results.first().copied()
    }

    /// The single user of `v` when `v` is an intermediate (one use, not an output).
    fn sole_user(&self, v: Value) -> Option<Op> {
        match self.uses.get(&v).map(Vec::as_slice) {
            Some(&[u]) if !self.outputs.contains(&v) => Some(u),
            _ => None,
        }
    }

    fn is_identity_cast(&self, op: Op) -> bool {
        let d = self.m.op(op);
        d.name == "onnx.Cast"
            && d.operands.len() == 1
            && d.results.len() == 1
            && self.m.value_type(d.operands[0]) == self.m.value_type(d.results[0])
    }

    /// `v` with identity casts stripped.
    fn through_casts(&self, mut v: Value) -> Value {
        while let Some(d) = self.m.defining_op(v) {
            if !self.is_identity_cast(d) {
                break;
            }
            v = self.m.op(d).operands[0];
        }
        v
    }

    /// Whether `a` and `b` are the same value up to identity casts.
    fn same(&self, a: Value, b: Value) -> bool {
        self.through_casts(a) == self.through_casts(b)
    }

    /// Follow `v`'s single-use chain of identity casts: the last value and the casts passed.
    fn skip_casts_forward(&self, mut v: Value, absorbed: &mut Vec<Op>) -> Option<(Value, Op)> {
        loop {
            let user = self.sole_user(v)?;
            if !self.is_identity_cast(user) {
                return Some((v, user));
            }
            absorbed.push(user);
            v = self.result(user)?;
        }
    }

    /// The splat value of a constant.
    fn splat(&self, v: Value) -> Option<f64> {
        let t = self.constant(v)?;
        let vals = t.to_f64_vec();
        let first = *vals.first()?;
        vals.iter().all(|&x| x == first).then_some(first)
    }

    fn constant(&self, v: Value) -> Option<Tensor> {
        let d = self.def(v, "onnx.Constant")?;
        Tensor::from_attr(self.m.op(d).attrs.get("value")?, self.m).ok()
    }

    /// The other operand of a binary `op` one of whose operands is `v`.
    fn other(&self, op: Op, v: Value) -> Option<Value> {
        match *self.operands(op) {
            [a, b] if a == v && b != v => Some(b),
            [a, b] if b == v && a != v => Some(a),
            _ => None,
        }
    }

    fn named(&self, op: Op, name: &str) -> bool {
        self.m.op(op).name == name
    }

    fn static_shape(&self, v: Value) -> Option<Vec<u64>> {
        self.m.value_type(v).as_tensor()?.static_dims()
    }
}

/// Find every idiom of `body`.
pub fn find(
    m: &Module,
    body: &[Op],
    uses: &BTreeMap<Value, Vec<Op>>,
    outputs: &BTreeSet<Value>,
) -> Found {
    let g = Graph { m, uses, outputs };
    let mut found = Found::default();
    for &op in body {
        if found.absorbed.contains(&op) || found.roots.contains_key(&op) {
            continue;
        }
        let hit = match m.op(op).name.as_str() {
            "onnx.ReduceMean" => rms_norm(&g, op),
            "onnx.Sigmoid" => silu(&g, op),
            "onnx.Neg" => rotate_half(&g, op),
            _ => None,
        };
        if let Some((root, idiom, absorbed)) = hit {
            let clash = absorbed
                .iter()
                .chain([&root])
                .any(|o| found.absorbed.contains(o) || found.roots.contains_key(o));
            if !clash {
                found.absorbed.extend(absorbed);
                found.roots.insert(root, idiom);
            }
        }
    }
    found
}

type Hit = (Op, Idiom, Vec<Op>);

/// Whether the constant `axes` of a reduction (attribute or operand) are exactly the last axis.
fn last_axis_only(g: &Graph<'_>, op: Op, rank: usize) -> bool {
    let d = g.m.op(op);
    let axes = match d.attrs.get("axes").and_then(Attribute::as_int_array) {
        Some(a) => a,
        None => match d.operands.get(1) {
            Some(&v) => match g.constant(v) {
                Some(t) => t.to_i64_vec(),
                None => return false,
            },
            None => return false,
        },
    };
    let keep = d
        .attrs
        .get("keepdims")
        .and_then(Attribute::as_int)
        .unwrap_or(1)
        == 1;
    keep && matches!(axes.as_slice(), [a] if *a == -1 || *a == rank as i64 - 1)
}

/// Anchored at the `ReduceMean`.
fn rms_norm(g: &Graph<'_>, mean: Op) -> Option<Hit> {
    let (x, sq_op) = squared_input(g, mean)?;
    let shape = g.static_shape(x)?;
    if !last_axis_only(g, mean, shape.len()) || !g.m.value_type(x).as_tensor()?.elem.is_float() {
        return None;
    }
    let mut absorbed = vec![sq_op, mean];
    let add = g.sole_user(g.result(mean)?)?;
    let eps = g.splat(g.other(add, g.result(mean)?)?)?;
    let sqrt = g.sole_user(g.result(add)?)?;
    if !g.named(add, "onnx.Add") || !g.named(sqrt, "onnx.Sqrt") {
        return None;
    }
    absorbed.extend([add, sqrt]);
    let normed = normalised(g, x, g.result(sqrt)?, &mut absorbed)?;
    let (root, gamma) = scaled(g, normed, &shape, &mut absorbed)?;
    Some((
        root,
        Idiom::RmsNorm {
            x,
            gamma,
            eps: eps as f32,
        },
        absorbed,
    ))
}

/// `x` and the op squaring it (`Pow(x, 2)` or `x·x`) for the mean, if its only user is the mean.
fn squared_input(g: &Graph<'_>, mean: Op) -> Option<(Value, Op)> {
    let sq = *g.operands(mean).first()?;
    let sq_op = g.m.defining_op(sq)?;
    let ops = g.operands(sq_op);
    let x = match (g.m.op(sq_op).name.as_str(), ops) {
        ("onnx.Pow", &[x, e]) if g.splat(e) == Some(2.0) => x,
        ("onnx.Mul", &[x, y]) if x == y => x,
        _ => return None,
    };
    g.sole_user(sq)?;
    Some((x, sq_op))
}

/// The op computing `x / √…` from the square root `root_sq`: `Div(x, √)`, or `Reciprocal` /
/// `Div(1, ·)` then `Mul` by `x`.
fn normalised(g: &Graph<'_>, x: Value, root_sq: Value, absorbed: &mut Vec<Op>) -> Option<Op> {
    let next = g.sole_user(root_sq)?;
    let ops = g.operands(next);
    match (g.m.op(next).name.as_str(), ops) {
        ("onnx.Div", &[n, d]) if d == root_sq && g.same(n, x) => Some(next),
        ("onnx.Div", &[n, d]) if d == root_sq && g.splat(n) == Some(1.0) => {
            inverse_times_x(g, x, next, absorbed)
        }
        ("onnx.Reciprocal", _) => inverse_times_x(g, x, next, absorbed),
        _ => None,
    }
}

/// `Mul(x, inv)` where `inv_op` computes `1/√…`.
fn inverse_times_x(g: &Graph<'_>, x: Value, inv_op: Op, absorbed: &mut Vec<Op>) -> Option<Op> {
    let inv = g.result(inv_op)?;
    let mul = g.sole_user(inv)?;
    if !g.named(mul, "onnx.Mul") || !g.same(g.other(mul, inv)?, x) {
        return None;
    }
    absorbed.push(inv_op);
    Some(mul)
}

/// The root and scale: a following `Mul` (after identity casts) by a value that varies along the
/// last axis only, else `normed` itself without a scale.
fn scaled(
    g: &Graph<'_>,
    normed: Op,
    shape: &[u64],
    absorbed: &mut Vec<Op>,
) -> Option<(Op, Option<Value>)> {
    let mut casts = Vec::new();
    let Some((last, user)) = g.skip_casts_forward(g.result(normed)?, &mut casts) else {
        return Some((normed, None));
    };
    let scale = g.other(user, last);
    let row = scale.and_then(|s| g.static_shape(s)).is_some_and(|s| {
        s.split_last().is_some_and(|(d, lead)| {
            s.len() <= shape.len() && Some(d) == shape.last() && lead.iter().all(|&n| n == 1)
        })
    });
    let same_shape = g.static_shape(g.result(user)?).as_deref() == Some(shape);
    if !(g.named(user, "onnx.Mul") && row && same_shape) {
        return Some((normed, None));
    }
    absorbed.push(normed);
    absorbed.extend(casts);
    Some((user, scale))
}

/// Anchored at the `Sigmoid`.
fn silu(g: &Graph<'_>, sig: Op) -> Option<Hit> {
    let x = *g.operands(sig).first()?;
    let s = g.result(sig)?;
    let mul = g.sole_user(s)?;
    (g.named(mul, "onnx.Mul") && g.other(mul, s) == Some(x))
        .then(|| (mul, Idiom::Silu { x }, vec![sig]))
}

/// `Slice(x, start, end)` on the last axis with step 1: `(x, start, end)`.
fn last_axis_slice(g: &Graph<'_>, op: Op, width: u64) -> Option<(Value, u64, u64)> {
    if !g.named(op, "onnx.Slice") {
        return None;
    }
    let ops = g.operands(op);
    let x = *ops.first()?;
    let rank = g.static_shape(x)?.len() as i64;
    let one = |i: usize| -> Option<i64> {
        let t = g.constant(*ops.get(i)?)?;
        match t.to_i64_vec().as_slice() {
            [v] => Some(*v),
            _ => None,
        }
    };
    let axis = one(3).unwrap_or(0);
    let step = match ops.get(4) {
        Some(_) => one(4)?,
        None => 1,
    };
    if (axis != -1 && axis != rank - 1) || step != 1 {
        return None;
    }
    let clamp = |v: i64| {
        let w = width as i64;
        (if v < 0 { v + w } else { v }).clamp(0, w) as u64
    };
    Some((x, clamp(one(1)?), clamp(one(2)?)))
}

/// `Concat(−x[…, h:], x[…, :h])` around the `Neg`: x, its width and the slice and concat ops.
struct RotatedHalves {
    x: Value,
    d: u64,
    hi_op: Op,
    lo_op: Op,
    cat: Op,
}

fn rotated_halves(g: &Graph<'_>, neg: Op) -> Option<RotatedHalves> {
    let hi = *g.operands(neg).first()?;
    let hi_op = g.m.defining_op(hi)?;
    let xshape = g.static_shape(*g.operands(hi_op).first()?)?;
    let d = *xshape.last()?;
    let half = d / 2;
    let (x, s0, s1) = last_axis_slice(g, hi_op, d)?;
    if !d.is_multiple_of(2) || (s0, s1) != (half, d) || xshape.len() < 2 {
        return None;
    }
    let n = g.result(neg)?;
    let cat = g.sole_user(n)?;
    g.sole_user(hi)?;
    let c = g.m.op(cat);
    let axis = c.attrs.get("axis").and_then(Attribute::as_int)?;
    let last = axis == -1 || axis == xshape.len() as i64 - 1;
    let (first, lo) = match *c.operands.as_slice() {
        [a, b] => (a, b),
        _ => return None,
    };
    if c.name != "onnx.Concat" || first != n || !last {
        return None;
    }
    let lo_op = g.m.defining_op(lo)?;
    g.sole_user(lo)?;
    (last_axis_slice(g, lo_op, d)? == (x, 0, half)).then_some(RotatedHalves {
        x,
        d,
        hi_op,
        lo_op,
        cat,
    })
}

/// Anchored at the `Neg` of the second half: `Add(Mul(x, cos), Mul(rotated, sin))`.
fn rotate_half(g: &Graph<'_>, neg: Op) -> Option<Hit> {
    let h = rotated_halves(g, neg)?;
    let rot = g.result(h.cat)?;
    let mul_sin = g.sole_user(rot)?;
    let sin = g.other(mul_sin, rot)?;
    let add = g.sole_user(g.result(mul_sin)?)?;
    let mul_cos_v = g.other(add, g.result(mul_sin)?)?;
    let mul_cos = g.m.defining_op(mul_cos_v)?;
    g.sole_user(mul_cos_v)?;
    let cos = g.other(mul_cos, h.x)?;
    let all_mul = [mul_sin, mul_cos].iter().all(|&o| g.named(o, "onnx.Mul"));
    let xshape = g.static_shape(h.x)?;
    if !all_mul || !g.named(add, "onnx.Add") || g.static_shape(g.result(add)?)? != xshape {
        return None;
    }
    let s = xshape[xshape.len() - 2];
    let table = rope_table(&g.constant(cos)?, &g.constant(sin)?, s, h.d)?;
    Some((
        add,
        Idiom::Rope {
            x: h.x,
            table,
            positions: s,
            width: h.d,
        },
        vec![h.hi_op, neg, h.lo_op, h.cat, mul_sin, mul_cos],
    ))
}

/// `[S, D]` rows `cos[s, :D/2] | sin[s, :D/2]` when both tables broadcast as `[…1, S|1, D]`
/// and repeat their first half in the second.
fn rope_table(cos: &Tensor, sin: &Tensor, s: u64, d: u64) -> Option<Vec<f64>> {
    let rows = |t: &Tensor| -> Option<Vec<f64>> {
        let shape = t.shape();
        let r = shape.len();
        if r < 1 || shape[r - 1] as u64 != d || shape[..r.saturating_sub(2)].iter().any(|&x| x != 1)
        {
            return None;
        }
        let ts = if r >= 2 { shape[r - 2] as u64 } else { 1 };
        if ts != s && ts != 1 {
            return None;
        }
        let v = t.to_f64_vec();
        Some(
            (0..s)
                .flat_map(|i| {
                    let row = if ts == 1 { 0 } else { i };
                    v[(row * d) as usize..((row + 1) * d) as usize].to_vec()
                })
                .collect(),
        )
    };
    let (c, sn) = (rows(cos)?, rows(sin)?);
    let h = (d / 2) as usize;
    let d = d as usize;
    let mut table = Vec::with_capacity(c.len());
    for i in 0..s as usize {
        let (cr, sr) = (&c[i * d..(i + 1) * d], &sn[i * d..(i + 1) * d]);
        let halves_equal = |r: &[f64]| (0..h).all(|j| r[j].to_bits() == r[j + h].to_bits());
        if !halves_equal(cr) || !halves_equal(sr) {
            return None;
        }
        table.extend_from_slice(&cr[..h]);
        table.extend_from_slice(&sr[..h]);
    }
    Some(table)
}

/// Lower `idiom` at its root `o`.
pub fn lower(ctx: &mut Ctx<'_>, o: &OpRef, idiom: Idiom) -> Result<(), LowerError> {
    match idiom {
        Idiom::RmsNorm { x, gamma, eps } => rms_norm_lower(ctx, o, x, gamma, eps),
        Idiom::Silu { x } => silu_lower(ctx, o, x),
        Idiom::Rope {
            x,
            table,
            positions,
            width,
        } => rope_lower(ctx, o, x, &table, positions, width),
    }
}

fn rms_norm_lower(
    ctx: &mut Ctx<'_>,
    o: &OpRef,
    x: Value,
    gamma: Option<Value>,
    eps: f32,
) -> Result<(), LowerError> {
    let (dt, shape) = ctx.shape_of(o, ctx.result(o, 0)?)?;
    let xv = ctx.view(o, x)?;
    if xv.dt != dt || xv.shape != shape {
        return Err(o.err("RMSNorm idiom: input and result differ"));
    }
    let g = match gamma {
        Some(v) => ctx.view(o, v)?,
        None => ctx
            .splat_view(dt, 1.0, &shape[shape.len() - 1..])
            .map_err(|e| o.err(e))?,
    };
    let g = g
        .broadcast_to(&shape)
        .filter(|b| b.dt == dt)
        .ok_or_else(|| o.err("RMSNorm idiom: the scale does not broadcast"))?;
    let out = ctx.new_result(o, 0, dt, shape)?;
    let inputs = [
        Input::full(xv),
        Input {
            view: g,
            mode: Mode::Row,
        },
    ];
    let cfg = Shape {
        inner: 1,
        extra: 0,
        in_place: false,
    };
    map_tiles(ctx, o, &inputs, &out, cfg, &mut |s| {
        vec![Instr::VecRmsNorm {
            dst: s.dst,
            x: s.ins[0],
            gamma: s.ins[1],
            rows: s.rows,
            cols: s.cols,
            eps,
            dt,
        }]
    })
}

fn silu_lower(ctx: &mut Ctx<'_>, o: &OpRef, x: Value) -> Result<(), LowerError> {
    let (dt, shape) = ctx.shape_of(o, ctx.result(o, 0)?)?;
    let xv = ctx.view(o, x)?;
    if !dt.is_float() || xv.shape != shape {
        return Err(o.err("SiLU idiom: input and result differ"));
    }
    let out = ctx.new_result(o, 0, dt, shape)?;
    let cfg = Shape {
        inner: 1,
        extra: 0,
        in_place: true,
    };
    map_tiles(ctx, o, &[Input::full(xv)], &out, cfg, &mut |s| {
        vec![Instr::VecSilu {
            dst: s.dst,
            a: s.ins[0],
            rows: s.rows,
            cols: s.cols,
            dt,
        }]
    })
}

fn rope_lower(
    ctx: &mut Ctx<'_>,
    o: &OpRef,
    x: Value,
    table: &[f64],
    positions: u64,
    width: u64,
) -> Result<(), LowerError> {
    let (dt, shape) = ctx.shape_of(o, ctx.result(o, 0)?)?;
    let xv = ctx.view(o, x)?;
    if !dt.is_float() || xv.shape != shape || dt == DType::Lz4 {
        return Err(o.err("RoPE idiom: input and result differ"));
    }
    let name = ctx.unique_name(&format!("const.rope.{}", o.loc));
    let table = rope::const_table(ctx, o, name, dt, vec![positions, width], table)?;
    let out = ctx.new_result(o, 0, dt, shape)?;
    let job = Job {
        x: xv,
        out,
        table,
        positions: Positions::Cyclic(positions),
        interleaved: false,
    };
    rope::emit(ctx, o, &job)
}
