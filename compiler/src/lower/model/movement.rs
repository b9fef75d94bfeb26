//! Layout ops as DRAM views, and the copy segment for when data must really move.
//!
//! `Identity`, `Reshape`, `Flatten`, `Squeeze`, `Unsqueeze`: a new view of the same bytes
//! when the strides allow (always for dense data), else a dense copy first. `Transpose`
//! permutes strides, `Expand` sets broadcast strides, `Split` and `Slice` (positive steps)
//! offset and stride; the consumers' strided `LD`s do the actual data movement. `Concat`
//! copies each input into its slab of a fresh tensor, `Tile` its input, read with stride-0
//! repeat dims, into a fresh tensor. [`copy_view`] is the DMA-only copy
//! (`LD` into Token SRAM, `ST` out), with a `VEC.CVT` when the element types differ.

use sofa_ir::eval::module_opset;
use sofa_ir::isa::{Engine, Instr, SramSpace};

use super::dma::{load, matrix_dims, store, Tile};
use super::seg::Seg;
use super::tiling::{chunks, fit, Need};
use super::vector::{map_tiles, narrow, Input, Shape};
use super::view::View;
use super::{Ctx, OpRef};
use crate::lower::LowerError;
use crate::lower::ResourceError;

/// Copy `src` into `dst` (same shape), converting the element type if needed.
pub fn copy_view(ctx: &mut Ctx<'_>, o: &OpRef, src: &View, dst: &View) -> Result<(), LowerError> {
    if src.shape != dst.shape {
        return Err(o.err(format!(
            "copy between shapes {:?} and {:?}",
            src.shape, dst.shape
        )));
    }
    if src.dt != dst.dt {
        let (from, to) = (src.dt, dst.dt);
        let cfg = Shape {
            inner: 1,
            extra: 0,
            in_place: false,
        };
        return map_tiles(ctx, o, &[Input::full(src.clone())], dst, cfg, &mut |s| {
            vec![Instr::VecCvt {
                dst: s.dst,
                a: s.ins[0],
                rows: s.rows,
                cols: s.cols,
                from,
                to,
            }]
        });
    }
    if let Some(t) = swapped_block(src) {
        if transpose_copy(ctx, o, &t, dst)? {
            return Ok(());
        }
    }
    let es = src.elem_bytes();
    let (rows, cols) = matrix_dims(src, 1);
    let mut rc = fit(ctx.hw, &[Need::new(SramSpace::Token, 0, cols * es)], rows);
    let mut cc = cols;
    if rc == 0 {
        rc = 1;
        cc = fit(ctx.hw, &[Need::new(SramSpace::Token, 0, es)], cols);
    }
    let mut seg = Seg::new(ctx.hw, &mut ctx.out);
    let start = seg.mark();
    for (r0, r1) in chunks(rows, rc) {
        for (c0, c1) in chunks(cols, cc) {
            seg.release(start);
            let t = Tile { r0, r1, c0, c1 };
            let buf = seg
                .alloc(SramSpace::Token, t.rows() * t.cols() * es)
                .map_err(|e| o.err(e))?;
            load(src, 1, t, buf, seg.out).map_err(|e| o.err(e))?;
            store(dst, 1, t, buf, seg.out).map_err(|e| o.err(e))?;
        }
    }
    Ok(())
}

/// For a view `[…, A, B]` whose last two dims are stored swapped (each leading index a dense
/// `B × A` block, e.g. a `Transpose` moving the innermost axis): that `[…, B, A]` view.
fn swapped_block(src: &View) -> Option<View> {
    let r = src.rank();
    if r < 2 || src.shape[r - 1] == 1 || src.shape[r - 2] == 1 || src.strides[r - 1] == 1 {
        return None;
    }
    let mut perm: Vec<usize> = (0..r).collect();
    perm.swap(r - 2, r - 1);
    let t = src.permute(&perm)?;
    matches!(t.canonical_from(r - 2).as_slice(), [(_, 1)]).then_some(t)
}

/// Copy the transpose of each dense `B × A` block of `t` into `dst` (`[…, A, B]`): whole-row
/// `LD`s, `VEC.TRANSPOSE`, `ST`, instead of one `LD` per column. `false` (nothing emitted)
/// when not even one block row fits.
fn transpose_copy(ctx: &mut Ctx<'_>, o: &OpRef, t: &View, dst: &View) -> Result<bool, LowerError> {
    let r = t.rank();
    let (b, a) = (t.shape[r - 2], t.shape[r - 1]);
    let es = t.elem_bytes();
    let needs = [
        Need::new(SramSpace::Token, 0, a * es),
        Need::new(SramSpace::Weight, 0, a * es),
    ];
    let bc = fit(ctx.hw, &needs, b);
    if bc == 0 {
        return Ok(false);
    }
    let batch: u64 = t.shape[..r - 2].iter().product();
    let err = |e: ResourceError| o.err(e);
    let mut seg = Seg::new(ctx.hw, &mut ctx.out);
    let start = seg.mark();
    for i in 0..batch {
        for (b0, b1) in chunks(b, bc) {
            seg.release(start);
            let n = (b1 - b0) * a * es;
            let (raw, turned) = (
                seg.alloc(SramSpace::Token, n).map_err(err)?,
                seg.alloc(SramSpace::Weight, n).map_err(err)?,
            );
            let rows = Tile {
                r0: i * b + b0,
                r1: i * b + b1,
                c0: 0,
                c1: a,
            };
            load(t, 1, rows, raw, seg.out).map_err(err)?;
            seg.handoff(Engine::Dma, Engine::Vec);
            seg.push(Instr::VecTranspose {
                dst: turned,
                a: raw,
                rows: narrow(o, b1 - b0)?,
                cols: narrow(o, a)?,
                dt: t.dt,
            });
            seg.handoff(Engine::Vec, Engine::Dma);
            let cols = Tile {
                r0: i * a,
                r1: (i + 1) * a,
                c0: b0,
                c1: b1,
            };
            store(dst, 1, cols, turned, seg.out).map_err(err)?;
        }
    }
    Ok(true)
}

/// `view` itself when dense, else a dense scratch copy (named `<op>.<suffix>`).
pub fn dense(ctx: &mut Ctx<'_>, o: &OpRef, view: View, suffix: &str) -> Result<View, LowerError> {
    if view.is_contiguous() {
        return Ok(view);
    }
    let copy = ctx.scratch(o, suffix, view.dt, view.shape.clone())?;
    copy_view(ctx, o, &view, &copy)?;
    Ok(copy)
}

fn result_shape(ctx: &Ctx<'_>, o: &OpRef, i: usize) -> Result<Vec<u64>, LowerError> {
    Ok(ctx.shape_of(o, ctx.result(o, i)?)?.1)
}

/// `Identity`, `Reshape`, `Flatten`, `Squeeze`, `Unsqueeze`: the result type gives the shape.
pub fn reshape(ctx: &mut Ctx<'_>, o: &OpRef) -> Result<(), LowerError> {
    let shape = result_shape(ctx, o, 0)?;
    let src = ctx.view(o, ctx.operand(o, 0)?)?;
    let view = match src.reshape(&shape) {
        Some(v) => v,
        None => dense(ctx, o, src, "dense")?
            .reshape(&shape)
            .ok_or_else(|| o.err("element counts differ"))?,
    };
    let r = ctx.result(o, 0)?;
    ctx.bind(r, view);
    Ok(())
}

pub fn transpose(ctx: &mut Ctx<'_>, o: &OpRef) -> Result<(), LowerError> {
    let src = ctx.view(o, ctx.operand(o, 0)?)?;
    let perm: Vec<usize> = match ctx
        .m
        .op(o.op)
        .attrs
        .get("perm")
        .and_then(|a| a.as_int_array())
    {
        Some(p) => p
            .iter()
            .map(|&k| usize::try_from(k).map_err(|_| o.err(format!("bad perm entry {k}"))))
            .collect::<Result<_, _>>()?,
        None => (0..src.rank()).rev().collect(),
    };
    let view = src
        .permute(&perm)
        .ok_or_else(|| o.err(format!("perm {perm:?} is not a permutation")))?;
    let r = ctx.result(o, 0)?;
    ctx.bind(r, view);
    Ok(())
}

pub fn expand(ctx: &mut Ctx<'_>, o: &OpRef) -> Result<(), LowerError> {
    let shape = result_shape(ctx, o, 0)?;
    let src = ctx.view(o, ctx.operand(o, 0)?)?;
    let view = src
        .broadcast_to(&shape)
        .ok_or_else(|| o.err(format!("{:?} does not broadcast to {shape:?}", src.shape)))?;
    let r = ctx.result(o, 0)?;
    ctx.bind(r, view);
    Ok(())
}

/// A possibly negative axis attribute as an index below `rank`.
fn axis(ctx: &Ctx<'_>, o: &OpRef, default: Option<i64>, rank: usize) -> Result<usize, LowerError> {
    let a = ctx
        .m
        .op(o.op)
        .attrs
        .get("axis")
        .and_then(|a| a.as_int())
        .or(default)
        .ok_or_else(|| o.err("the axis attribute is missing"))?;
    let k = if a < 0 { a + rank as i64 } else { a };
    usize::try_from(k)
        .ok()
        .filter(|&k| k < rank)
        .ok_or_else(|| o.err(format!("axis {a} is out of range for rank {rank}")))
}

pub fn split(ctx: &mut Ctx<'_>, o: &OpRef) -> Result<(), LowerError> {
    let src = ctx.view(o, ctx.operand(o, 0)?)?;
    let ax = axis(ctx, o, Some(0), src.rank())?;
    let mut offset = 0;
    for i in 0..ctx.m.op(o.op).results.len() {
        let len = result_shape(ctx, o, i)?[ax];
        if offset + len > src.shape[ax] {
            return Err(o.err("the pieces exceed the split dim"));
        }
        let r = ctx.result(o, i)?;
        ctx.bind(r, src.slice(ax, offset, 1, len));
        offset += len;
    }
    Ok(())
}

/// Constant integer list of operand `i` (or attribute `name` before opset 10).
fn ints(ctx: &Ctx<'_>, o: &OpRef, i: usize, name: &str) -> Result<Option<Vec<i64>>, LowerError> {
    if module_opset(ctx.m) < 10 {
        return Ok(ctx
            .m
            .op(o.op)
            .attrs
            .get(name)
            .and_then(|a| a.as_int_array()));
    }
    let Some(&v) = ctx.m.op(o.op).operands.get(i) else {
        return Ok(None);
    };
    if ctx.m.value_type(v).as_tensor().is_none() {
        return Ok(None);
    }
    ctx.const_value(v)
        .map(|t| Some(t.to_i64_vec()))
        .ok_or_else(|| o.err(format!("operand {i} ({name}) must be a constant")))
}

pub fn slice(ctx: &mut Ctx<'_>, o: &OpRef) -> Result<(), LowerError> {
    let mut view = ctx.view(o, ctx.operand(o, 0)?)?;
    let rank = view.rank() as i64;
    let starts = ints(ctx, o, 1, "starts")?.ok_or_else(|| o.err("starts are missing"))?;
    let ends = ints(ctx, o, 2, "ends")?.ok_or_else(|| o.err("ends are missing"))?;
    let axes = ints(ctx, o, 3, "axes")?.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = ints(ctx, o, 4, "steps")?.unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err(o.err("starts, ends, axes and steps differ in length"));
    }
    for k in 0..starts.len() {
        let a = if axes[k] < 0 { axes[k] + rank } else { axes[k] };
        let ax = usize::try_from(a)
            .ok()
            .filter(|&a| a < view.rank())
            .ok_or_else(|| o.err(format!("axis {} is out of range", axes[k])))?;
        if steps[k] <= 0 {
            return Err(o.err("only positive slice steps are supported"));
        }
        let dim = view.shape[ax] as i64;
        let clamp = |x: i64| (if x < 0 { x + dim } else { x }).clamp(0, dim);
        let (s, e, st) = (clamp(starts[k]), clamp(ends[k]), steps[k]);
        let len = if e > s { (e - s + st - 1) / st } else { 0 };
        view = view.slice(ax, s as u64, st as u64, len as u64);
    }
    let shape = result_shape(ctx, o, 0)?;
    if view.shape != shape {
        return Err(o.err(format!(
            "slice gives {:?}, the result type says {shape:?}",
            view.shape
        )));
    }
    let r = ctx.result(o, 0)?;
    ctx.bind(r, view);
    Ok(())
}

pub fn concat(ctx: &mut Ctx<'_>, o: &OpRef) -> Result<(), LowerError> {
    let (dt, shape) = ctx.shape_of(o, ctx.result(o, 0)?)?;
    let ax = axis(ctx, o, None, shape.len())?;
    let inputs = ctx.m.op(o.op).operands.clone();
    let out = ctx.new_result(o, 0, dt, shape)?;
    let mut offset = 0;
    for v in inputs {
        let src = ctx.view(o, v)?;
        let len = src.shape.get(ax).copied().unwrap_or(0);
        if len == 0 {
            continue;
        }
        if offset + len > out.shape[ax] {
            return Err(o.err("the inputs exceed the concatenated dim"));
        }
        copy_view(ctx, o, &src, &out.slice(ax, offset, 1, len))?;
        offset += len;
    }
    Ok(())
}

/// `Tile(x, repeats)`: the result viewed as `[r₀, d₀, r₁, d₁, …]` is `x` with stride-0 repeat
/// dims, copied once.
pub fn tile(ctx: &mut Ctx<'_>, o: &OpRef) -> Result<(), LowerError> {
    let (dt, shape) = ctx.shape_of(o, ctx.result(o, 0)?)?;
    let src = ctx.view(o, ctx.operand(o, 0)?)?;
    let reps = ints(ctx, o, 1, "repeats")?.ok_or_else(|| o.err("repeats are missing"))?;
    if reps.len() != src.rank() {
        return Err(o.err(format!("{} repeats for rank {}", reps.len(), src.rank())));
    }
    let mut virt_shape = Vec::with_capacity(2 * reps.len());
    let mut virt_strides = Vec::with_capacity(2 * reps.len());
    for (k, &r) in reps.iter().enumerate() {
        let r = u64::try_from(r).map_err(|_| o.err(format!("negative repeat {r}")))?;
        virt_shape.extend([r, src.shape[k]]);
        virt_strides.extend([0, src.strides[k]]);
    }
    let repeated = View {
        base: src.base,
        dt: src.dt,
        shape: virt_shape.clone(),
        strides: virt_strides,
    };
    let out = ctx.new_result(o, 0, dt, shape)?;
    let dst = out
        .reshape(&virt_shape)
        .ok_or_else(|| o.err("the result shape is not the repeated input's"))?;
    copy_view(ctx, o, &repeated, &dst)
}
