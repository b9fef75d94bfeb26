//! `Gather`: embedding lookups and constant index selections; `GatherND` with constant indices.
//!
//! - Constant indices forming an arithmetic progression (one index, a range, a repeated
//!   index) are a view: no data moves.
//! - Other constant indices on axis 0: `GATHER` with a constant index list (`const.idx.*`).
//! - Other constant indices on a later axis: one strided copy per index.
//! - Run-time indices on axis 0 (token ids): per chunk, `LD` the i64 indices, `VEC.CVT` them
//!   to u32 behind a count word loaded from a `const.count.*` table, then `GATHER` the rows.
//!   Negative ids saturate to row 0 (ONNX would count them from the end).
//! - `GatherND` with constant indices is a `Gather` on axis 0 of the data viewed with its batch
//!   and indexed dims merged into one (dynamo's padding-mask lookups): usually a view.

use sofa_ir::isa::{DType, Engine, Instr, SramRef, SramSpace};

use super::dma::{load, store, Tile};
use super::movement::{copy_view, dense};
use super::seg::Seg;
use super::tiling::{chunks, fit, Need};
use super::vector::narrow;
use super::view::{row_major, View};
use super::{Ctx, OpRef};
use crate::lower::LowerError;
use crate::lower::ResourceError;

pub fn gather(ctx: &mut Ctx<'_>, o: &OpRef) -> Result<(), LowerError> {
    let (dt, shape) = ctx.shape_of(o, ctx.result(o, 0)?)?;
    let data = ctx.view(o, ctx.operand(o, 0)?)?;
    let iv = ctx.operand(o, 1)?;
    let rank = data.rank() as i64;
    let a = ctx
        .m
        .op(o.op)
        .attrs
        .get("axis")
        .and_then(|a| a.as_int())
        .unwrap_or(0);
    let axis = usize::try_from(if a < 0 { a + rank } else { a })
        .ok()
        .filter(|&k| k < data.rank())
        .ok_or_else(|| o.err(format!("axis {a} is out of range for rank {rank}")))?;
    let (_, idx_shape) = ctx.shape_of(o, iv)?;
    if let Some(t) = ctx.const_value(iv) {
        let dim = data.shape[axis] as i64;
        let idx: Vec<u64> = t
            .to_i64_vec()
            .into_iter()
            .map(|i| if i < 0 { i + dim } else { i })
            .map(|i| u64::try_from(i).ok().filter(|&i| i < dim as u64))
            .collect::<Option<_>>()
            .ok_or_else(|| o.err("a constant index is out of range"))?;
        return gather_const(ctx, o, &data, axis, &idx, &idx_shape);
    }
    if axis != 0 {
        return Err(o.err("Gather with run-time indices is only supported on axis 0"));
    }
    let indices = ctx.view(o, iv)?;
    if !matches!(indices.dt, DType::I64 | DType::I32) {
        return Err(o.err(format!("indices of type {} are not supported", indices.dt)));
    }
    let out = ctx.new_result(o, 0, dt, shape)?;
    gather_rows(ctx, o, &data, Indices::Runtime(&indices), &out)
}

/// `data` indexed along `axis` by the in-range constant indices `idx` (shaped `idx_shape`) into
/// result 0 of the op: a view when they step evenly, else `GATHER` (axis 0) or copies.
fn gather_const(
    ctx: &mut Ctx<'_>,
    o: &OpRef,
    data: &View,
    axis: usize,
    idx: &[u64],
    idx_shape: &[u64],
) -> Result<(), LowerError> {
    let r = ctx.result(o, 0)?;
    let (dt, shape) = ctx.shape_of(o, r)?;
    if let Some(view) = progression_view(data, axis, idx, idx_shape) {
        if view.shape != shape {
            return Err(o.err(format!(
                "the gather gives {:?}, the result type says {shape:?}",
                view.shape
            )));
        }
        ctx.bind(r, view);
        return Ok(());
    }
    let out = ctx.new_result(o, 0, dt, shape)?;
    if axis == 0 {
        return gather_rows(ctx, o, data, Indices::Const(idx), &out);
    }
    strided_copies(ctx, o, data, axis, idx, &out)
}

/// `GatherND` with constant indices: the row of each index tuple in the data viewed as
/// `[batch · indexed, rest…]`, gathered like `Gather` on axis 0.
pub fn gather_nd(ctx: &mut Ctx<'_>, o: &OpRef) -> Result<(), LowerError> {
    let data = ctx.view(o, ctx.operand(o, 0)?)?;
    let iv = ctx.operand(o, 1)?;
    let t = ctx
        .const_value(iv)
        .ok_or_else(|| o.err("GatherND with run-time indices is not supported"))?;
    let idx_shape: Vec<u64> = t.shape().iter().map(|&d| d as u64).collect();
    let b = ctx
        .m
        .op(o.op)
        .attrs
        .get("batch_dims")
        .and_then(|a| a.as_int())
        .unwrap_or(0);
    let rows = nd_rows(&data.shape, &idx_shape, &t.to_i64_vec(), b)
        .map_err(|e| o.err(format!("GatherND: {e}")))?;
    let k = idx_shape[idx_shape.len() - 1] as usize;
    let b = b as usize;
    let merged: u64 = data.shape[..b + k].iter().product();
    let flat = [&[merged][..], &data.shape[b + k..]].concat();
    let data = match data.reshape(&flat) {
        Some(v) => v,
        None => dense(ctx, o, data, "dense")?
            .reshape(&flat)
            .ok_or_else(|| o.err("element counts differ"))?,
    };
    gather_const(ctx, o, &data, 0, &rows, &idx_shape[..idx_shape.len() - 1])
}

/// The row of every index tuple of `GatherND` in the data viewed as `[Π shape[..b+k], rest…]`,
/// in index order; an error text for bad shapes or out-of-range indices.
pub(super) fn nd_rows(
    shape: &[u64],
    idx_shape: &[u64],
    idx: &[i64],
    b: i64,
) -> Result<Vec<u64>, String> {
    let (r, q) = (shape.len(), idx_shape.len());
    let b = usize::try_from(b).map_err(|_| "batch_dims must be non-negative".to_string())?;
    let k = idx_shape.last().copied().unwrap_or(0) as usize;
    if k == 0 || b >= q || b + k > r || shape[..b] != idx_shape[..b] {
        return Err(format!(
            "batch_dims {b} cannot index data {shape:?} with indices {idx_shape:?}"
        ));
    }
    let per_batch: u64 = shape[b..b + k].iter().product();
    let tuples_per_batch: u64 = idx_shape[b..q - 1].iter().product();
    let mut rows = Vec::with_capacity(idx.len() / k);
    for (t, tuple) in idx.chunks_exact(k).enumerate() {
        let batch = t as u64 / tuples_per_batch.max(1);
        let mut row = 0u64;
        for (j, &i) in tuple.iter().enumerate() {
            let dim = shape[b + j] as i64;
            let i = if i < 0 { i + dim } else { i };
            if !(0..dim).contains(&i) {
                return Err(format!(
                    "index {i} is out of range for axis {} of size {dim}",
                    b + j
                ));
            }
            row = row * shape[b + j] + i as u64;
        }
        rows.push(batch * per_batch + row);
    }
    Ok(rows)
}

/// The view selecting `idx` (shaped `idx_shape`) along `axis` when the indices step evenly
/// forwards (or repeat).
fn progression_view(data: &View, axis: usize, idx: &[u64], idx_shape: &[u64]) -> Option<View> {
    let first = *idx.first()?;
    let step = match idx.get(1) {
        Some(&second) => second.checked_sub(first)?,
        None => 0,
    };
    let at = |k: usize| (k as u64).checked_mul(step)?.checked_add(first);
    if idx.iter().enumerate().any(|(k, &i)| at(k) != Some(i)) {
        return None;
    }
    let s = data.strides[axis];
    let mut shape = data.shape[..axis].to_vec();
    let mut strides = data.strides[..axis].to_vec();
    shape.extend_from_slice(idx_shape);
    strides.extend(row_major(idx_shape).into_iter().map(|k| k * step * s));
    shape.extend_from_slice(&data.shape[axis + 1..]);
    strides.extend_from_slice(&data.strides[axis + 1..]);
    Some(View {
        base: data.base + first * s * data.elem_bytes(),
        dt: data.dt,
        shape,
        strides,
    })
}

/// One copy of `data[.., idx[p], ..]` into `out[.., p, ..]` per index.
fn strided_copies(
    ctx: &mut Ctx<'_>,
    o: &OpRef,
    data: &View,
    axis: usize,
    idx: &[u64],
    out: &View,
) -> Result<(), LowerError> {
    let mut flat = data.shape[..axis].to_vec();
    flat.push(idx.len() as u64);
    flat.extend_from_slice(&data.shape[axis + 1..]);
    let out = out
        .reshape(&flat)
        .ok_or_else(|| o.err("result shape does not match the indices"))?;
    for (p, &i) in idx.iter().enumerate() {
        copy_view(ctx, o, &data.select(axis, i), &out.select(axis, p as u64))?;
    }
    Ok(())
}

enum Indices<'v> {
    Const(&'v [u64]),
    Runtime(&'v View),
}

/// `GATHER` rows of `data` (axis 0) into the dense `out`, in chunks that fit.
fn gather_rows(
    ctx: &mut Ctx<'_>,
    o: &OpRef,
    data: &View,
    indices: Indices<'_>,
    out: &View,
) -> Result<(), LowerError> {
    let data = if data.rank() == 1 || data.canonical_from(1).iter().all(|&(_, s)| s == 1) {
        data.clone()
    } else {
        dense(ctx, o, data.clone(), "rows")?
    };
    if data.shape[0] > u64::from(u32::MAX) {
        return Err(o.err("GATHER indexes at most 2^32 - 1 rows"));
    }
    let es = data.elem_bytes();
    let row_bytes = data.shape[1..].iter().product::<u64>() * es;
    let stride = data.strides[0] * es;
    let count = out.numel() * es / row_bytes;
    let out = out
        .reshape(&[count, row_bytes / es])
        .ok_or_else(|| o.err("result shape does not match the indices"))?;
    let runtime = match indices {
        Indices::Runtime(v) => Some(
            v.reshape(&[count, 1])
                .ok_or_else(|| o.err("indices do not match the result"))?,
        ),
        Indices::Const(_) => None,
    };
    let needs = [
        Need::new(SramSpace::Token, 0, row_bytes),
        Need::new(SramSpace::Temp, 4, 4),
        Need::new(SramSpace::Temp, 0, if runtime.is_some() { 8 } else { 0 }),
    ];
    let chunk = fit(ctx.hw, &needs, count);
    if chunk == 0 {
        return Err(o.err("one gathered row does not fit on chip"));
    }
    let mut lists = Vec::new();
    for (c0, c1) in chunks(count, chunk) {
        let n = c1 - c0;
        let list = match (&indices, &runtime) {
            (Indices::Const(idx), _) => {
                let mut words = vec![n as u32];
                words.extend(idx[c0 as usize..c1 as usize].iter().map(|&i| i as u32));
                let bytes = words.iter().flat_map(|w| w.to_le_bytes()).collect();
                // Per op (not shared by name): the data is the op's own.
                let name = ctx.unique_name(&format!("const.idx.{}", o.loc));
                ctx.add_const(name, DType::U32, vec![n + 1], bytes)
            }
            _ => ctx.table(
                &format!("const.count.{n}"),
                DType::U32,
                vec![1],
                (n as u32).to_le_bytes().to_vec(),
            ),
        }
        .map_err(|e| o.err(e))?;
        lists.push(list);
    }
    let mut seg = Seg::new(ctx.hw, &mut ctx.out);
    let start = seg.mark();
    for ((c0, c1), list_src) in chunks(count, chunk).zip(lists) {
        seg.release(start);
        let n = c1 - c0;
        let err = |e: ResourceError| o.err(e);
        let dst = seg.alloc(SramSpace::Token, n * row_bytes).map_err(err)?;
        let list = seg.alloc(SramSpace::Temp, (n + 1) * 4).map_err(err)?;
        // A 1-D table is one row of `len` columns.
        let whole = |len: u64| Tile {
            r0: 0,
            r1: 1,
            c0: 0,
            c1: len,
        };
        match &runtime {
            None => {
                load(&list_src, 1, whole(n + 1), list, seg.out).map_err(err)?;
            }
            Some(iv) => {
                let raw = seg
                    .alloc(SramSpace::Temp, n * iv.elem_bytes())
                    .map_err(err)?;
                load(
                    iv,
                    1,
                    Tile {
                        r0: c0,
                        r1: c1,
                        c0: 0,
                        c1: 1,
                    },
                    raw,
                    seg.out,
                )
                .map_err(err)?;
                load(&list_src, 1, whole(1), list, seg.out).map_err(err)?;
                seg.handoff(Engine::Dma, Engine::Vec);
                seg.push(Instr::VecCvt {
                    dst: SramRef::new(list.space, list.offset + 4),
                    a: raw,
                    rows: 1,
                    cols: narrow(o, n)?,
                    from: iv.dt,
                    to: DType::U32,
                });
                seg.handoff(Engine::Vec, Engine::Dma);
            }
        }
        seg.push(Instr::Gather {
            dst,
            src: sofa_ir::isa::DramAddr(data.base),
            idx: list,
            max_rows: narrow(o, n)?,
            row_bytes: narrow(o, row_bytes)?,
            stride: narrow(o, stride)?,
        });
        store(
            &out,
            1,
            Tile {
                r0: c0,
                r1: c1,
                c0: 0,
                c1: row_bytes / es,
            },
            dst,
            seg.out,
        )
        .map_err(err)?;
    }
    Ok(())
}
