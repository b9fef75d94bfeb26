//! `ReduceSum`, `ReduceMean`, `ReduceMax`, `ReduceMin` over any axes, on the vector unit.
//!
//! The input view is permuted so the reduced dims come last (strides only, no data moves) and
//! read as a matrix: one row per result element, in the result's row-major order whether or not
//! `keepdims` keeps the reduced dims as 1s, and the reduced elements as columns. Row tiles are
//! loaded whole and reduced by one `VEC.REDUCE` each. A row longer than the SRAMs hold is
//! reduced in column pieces into a row of partials, which a second `VEC.REDUCE` combines (sums
//! for `sum`/`mean`, then the mean's `1/n` as a `VEC.AFFINE`; max of maxima, min of minima).

use sofa_ir::attr::Attribute;
use sofa_ir::isa::{Engine, Instr, ReduceOp, SramRef, SramSpace};

use super::dma::{load, matrix_dims, store, Tile};
use super::seg::Seg;
use super::tiling::{chunks, fit, Need};
use super::vector::narrow;
use super::view::View;
use super::{Ctx, OpRef};
use crate::lower::{LowerError, ResourceError};

/// The reduction of an ONNX op type.
fn reduce_op(kind: &str) -> Option<ReduceOp> {
    Some(match kind {
        "ReduceSum" => ReduceOp::Sum,
        "ReduceMean" => ReduceOp::Mean,
        "ReduceMax" => ReduceOp::Max,
        "ReduceMin" => ReduceOp::Min,
        _ => return None,
    })
}

/// The reduced axes, sorted, from the `axes` attribute (older opsets) or the constant operand 1;
/// `None` for an identity (`noop_with_empty_axes` with no axes).
fn reduced_axes(ctx: &Ctx<'_>, o: &OpRef, rank: usize) -> Result<Option<Vec<usize>>, LowerError> {
    let attrs = &ctx.m.op(o.op).attrs;
    let from_attr = attrs.get("axes").and_then(Attribute::as_int_array);
    let from_operand = match ctx.m.op(o.op).operands.get(1) {
        Some(&v) if ctx.m.value_type(v).as_tensor().is_some() => Some(
            ctx.const_value(v)
                .ok_or_else(|| o.err("the axes operand must be a constant"))?
                .to_i64_vec(),
        ),
        _ => None,
    };
    let axes = from_attr.or(from_operand).unwrap_or_default();
    let noop = attrs
        .get("noop_with_empty_axes")
        .and_then(Attribute::as_int)
        == Some(1);
    if axes.is_empty() {
        return Ok((!noop).then(|| (0..rank).collect()));
    }
    let mut out = Vec::with_capacity(axes.len());
    for &a in &axes {
        let k = if a < 0 { a + rank as i64 } else { a };
        let k = usize::try_from(k)
            .ok()
            .filter(|&k| k < rank)
            .ok_or_else(|| o.err(format!("axis {a} is out of range for rank {rank}")))?;
        if out.contains(&k) {
            return Err(o.err(format!("axis {a} is repeated")));
        }
        out.push(k);
    }
    out.sort_unstable();
    Ok(Some(out))
}

/// `ReduceSum` / `ReduceMean` / `ReduceMax` / `ReduceMin`.
pub fn reduce(ctx: &mut Ctx<'_>, o: &OpRef, kind: &str) -> Result<(), LowerError> {
    let op = reduce_op(kind).ok_or_else(|| o.err("not a reduction"))?;
    let (dt, shape) = ctx.shape_of(o, ctx.result(o, 0)?)?;
    if !dt.is_float() {
        return Err(o.err(format!(
            "{dt} reductions are not supported by the vector unit (float types only)"
        )));
    }
    let x = ctx.view(o, ctx.operand(o, 0)?)?;
    let Some(axes) = reduced_axes(ctx, o, x.rank())? else {
        let r = ctx.result(o, 0)?;
        ctx.bind(r, x);
        return Ok(());
    };
    let kept = (0..x.rank()).filter(|a| !axes.contains(a));
    let perm: Vec<usize> = kept.chain(axes.iter().copied()).collect();
    let rows_view = x
        .permute(&perm)
        .ok_or_else(|| o.err("bad reduction axes"))?;
    let out = ctx.new_result(o, 0, dt, shape)?;
    let (rows, _) = matrix_dims(&rows_view, axes.len());
    let out = out
        .reshape(&[rows, 1])
        .ok_or_else(|| o.err("the result does not have one element per kept index"))?;
    emit(ctx, o, &rows_view, axes.len(), op, &out)
}

/// Reduce the last `inner` dims of `x` into the dense `[rows, 1]` view `out`.
fn emit(
    ctx: &mut Ctx<'_>,
    o: &OpRef,
    x: &View,
    inner: usize,
    op: ReduceOp,
    out: &View,
) -> Result<(), LowerError> {
    let dt = x.dt;
    let es = x.elem_bytes();
    let (rows, cols) = matrix_dims(x, inner);
    let per_row = [
        Need::new(SramSpace::Token, 0, cols * es),
        Need::new(SramSpace::Temp, 0, es),
    ];
    let rc = fit(ctx.hw, &per_row, rows);
    if rc == 0 {
        return emit_split(ctx, o, x, inner, op, out);
    }
    let err = |e: ResourceError| o.err(e);
    let mut seg = Seg::new(ctx.hw, &mut ctx.out);
    let start = seg.mark();
    for (r0, r1) in chunks(rows, rc) {
        seg.release(start);
        let n = r1 - r0;
        let a = seg.alloc(SramSpace::Token, n * cols * es).map_err(err)?;
        let dst = seg.alloc(SramSpace::Temp, n * es).map_err(err)?;
        let t = Tile {
            r0,
            r1,
            c0: 0,
            c1: cols,
        };
        load(x, inner, t, a, seg.out).map_err(err)?;
        seg.handoff(Engine::Dma, Engine::Vec);
        seg.push(Instr::VecReduce {
            dst,
            a,
            rows: narrow(o, n)?,
            cols: narrow(o, cols)?,
            op,
            dt,
        });
        seg.handoff(Engine::Vec, Engine::Dma);
        let t = Tile {
            r0,
            r1,
            c0: 0,
            c1: 1,
        };
        store(out, 1, t, dst, seg.out).map_err(err)?;
    }
    Ok(())
}

/// One row at a time in column pieces: each piece's `VEC.REDUCE` writes one partial, a last one
/// combines the partials.
fn emit_split(
    ctx: &mut Ctx<'_>,
    o: &OpRef,
    x: &View,
    inner: usize,
    op: ReduceOp,
    out: &View,
) -> Result<(), LowerError> {
    let dt = x.dt;
    let es = x.elem_bytes();
    let (rows, cols) = matrix_dims(x, inner);
    let cc = fit(ctx.hw, &[Need::new(SramSpace::Token, 0, es)], cols);
    if cc == 0 {
        return Err(o.err("not even one element fits Token SRAM"));
    }
    let pieces = cols.div_ceil(cc);
    let combine = match op {
        ReduceOp::Mean => ReduceOp::Sum,
        other => other,
    };
    let err = |e: ResourceError| o.err(e);
    let mut seg = Seg::new(ctx.hw, &mut ctx.out);
    let start = seg.mark();
    for r in 0..rows {
        seg.release(start);
        let partial = seg.alloc(SramSpace::Temp, pieces * es).map_err(err)?;
        let dst = seg.alloc(SramSpace::Temp, es).map_err(err)?;
        let mark = seg.mark();
        for (p, (c0, c1)) in chunks(cols, cc).enumerate() {
            seg.release(mark);
            if p > 0 {
                // The piece buffer is reloaded once the vector unit is done with it.
                seg.handoff(Engine::Vec, Engine::Dma);
            }
            let a = seg.alloc(SramSpace::Token, (c1 - c0) * es).map_err(err)?;
            let t = Tile {
                r0: r,
                r1: r + 1,
                c0,
                c1,
            };
            load(x, inner, t, a, seg.out).map_err(err)?;
            seg.handoff(Engine::Dma, Engine::Vec);
            let at = partial.offset + narrow(o, p as u64 * es)?;
            seg.push(Instr::VecReduce {
                dst: SramRef::new(partial.space, at),
                a,
                rows: 1,
                cols: narrow(o, c1 - c0)?,
                op: combine,
                dt,
            });
        }
        seg.push(Instr::VecReduce {
            dst,
            a: partial,
            rows: 1,
            cols: narrow(o, pieces)?,
            op: combine,
            dt,
        });
        if op == ReduceOp::Mean {
            seg.push(Instr::VecAffine {
                dst,
                a: dst,
                rows: 1,
                cols: 1,
                mul: (1.0 / cols as f64) as f32,
                add: 0.0,
                dt,
            });
        }
        seg.handoff(Engine::Vec, Engine::Dma);
        let t = Tile {
            r0: r,
            r1: r + 1,
            c0: 0,
            c1: 1,
        };
        store(out, 1, t, dst, seg.out).map_err(err)?;
    }
    Ok(())
}
