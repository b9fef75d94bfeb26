//! Rotary position embedding on the vector unit (`VEC.ROPE`): the opset-23 `RotaryEmbedding`
//! op, and the rotate-half spelling recognised by [`super::idiom`].
//!
//! A job rotates the first `R` columns of every row of `x` (leading dims = rows) by a `[T, R]`
//! DRAM table whose row `p` holds `cos` of position `p` in its first `R/2` columns and `sin` in
//! the rest (the layout `VEC.ROPE` reads). Where each row's position comes from:
//! - `Cyclic(P)`: row `r` is at position `r mod P` (rows `(…, s)` of a `[…, S, D]` tensor with
//!   static positions `0..S`). The table's `P` rows are loaded once when they fit Weight SRAM,
//!   and whole blocks of `P` rows are rotated per tile; otherwise each tile loads its rows.
//! - `Const(list)`: positions known at compile time; a tile whose positions are consecutive
//!   loads its table rows with one `LD`, any other gathers them with a constant index list.
//! - `Runtime(ids)`: per tile, `LD` the `i64` ids, `VEC.CVT` them into an index list behind a
//!   count word, and `GATHER` the table rows.
//!
//! Then `VEC.ROPE` (no position list: row `i` of the tile uses table row `i`) rotates the tile in
//! place and the DMA stores it. Columns past `R` are copied through unchanged.

use sofa_ir::isa::{DType, DramAddr, Engine, Instr, SramRef, SramSpace};

use super::dma::{load, matrix_dims, store, Tile};
use super::movement::{copy_view, dense};
use super::seg::Seg;
use super::tiling::{chunks, fit, Need};
use super::vector::narrow;
use super::view::View;
use super::{Ctx, OpRef};
use crate::lower::{LowerError, ResourceError};

/// Where the position of each row comes from.
#[derive(Clone, Debug)]
pub enum Positions {
    /// Row `r` is at position `r mod P`.
    Cyclic(u64),
    /// One compile-time position per row.
    Const(Vec<u64>),
    /// `i64` position ids viewed as `[rows, 1]`.
    Runtime(View),
}

/// One rotation: `out = rope(x)` over the first `R` columns of each row.
pub struct Job {
    /// `[…, R]`: the rotated columns of the input.
    pub x: View,
    /// `[…, R]`, the same shape.
    pub out: View,
    /// `[T, R]` dense: `cos | sin` per position.
    pub table: View,
    pub positions: Positions,
    pub interleaved: bool,
}

fn whole(r0: u64, r1: u64, cols: u64) -> Tile {
    Tile {
        r0,
        r1,
        c0: 0,
        c1: cols,
    }
}

/// Emit the rotation of every row of `job.x` into `job.out`.
pub fn emit(ctx: &mut Ctx<'_>, o: &OpRef, job: &Job) -> Result<(), LowerError> {
    let (rows, cols) = matrix_dims(&job.x, 1);
    if !cols.is_multiple_of(2) || cols == 0 {
        return Err(o.err(format!("rotated width {cols} is not even")));
    }
    if let Positions::Cyclic(p) = job.positions {
        if p > job.table.shape[0] {
            return Err(o.err(format!(
                "{p} positions, but the table has {} rows",
                job.table.shape[0]
            )));
        }
        if p > 0 && rows.is_multiple_of(p) && hoisted(ctx, o, job, rows, cols, p)? {
            return Ok(());
        }
    }
    tiled(ctx, o, job, rows, cols)
}

/// `Cyclic(P)` with the table's `P` rows resident in Weight SRAM: whole blocks of `P` rows per
/// tile (one `VEC.ROPE` per block), or pieces of one block when a block does not fit. `false`
/// (nothing emitted) when the table does not fit.
fn hoisted(
    ctx: &mut Ctx<'_>,
    o: &OpRef,
    job: &Job,
    rows: u64,
    cols: u64,
    period: u64,
) -> Result<bool, LowerError> {
    let es = job.x.elem_bytes();
    let row_bytes = cols * es;
    let table = Need::new(SramSpace::Weight, period * row_bytes, 0);
    let rc = fit(
        ctx.hw,
        &[table, Need::new(SramSpace::Token, 0, row_bytes)],
        rows,
    );
    if rc == 0 {
        return Ok(false);
    }
    let err = |e: ResourceError| o.err(e);
    let dt = job.x.dt;
    let mut seg = Seg::new(ctx.hw, &mut ctx.out);
    let tab = seg
        .alloc(SramSpace::Weight, period * row_bytes)
        .map_err(err)?;
    load(&job.table, 1, whole(0, period, cols), tab, seg.out).map_err(err)?;
    let start = seg.mark();
    // Tiles of whole blocks when a block fits, else pieces of each block.
    let pieces: Vec<(u64, u64)> = if rc >= period {
        chunks(rows, rc / period * period).collect()
    } else {
        (0..rows / period)
            .flat_map(|b| {
                chunks(period, rc).map(move |(s0, s1)| (b * period + s0, b * period + s1))
            })
            .collect()
    };
    for (r0, r1) in pieces {
        seg.release(start);
        let buf = seg
            .alloc(SramSpace::Token, (r1 - r0) * row_bytes)
            .map_err(err)?;
        load(&job.x, 1, whole(r0, r1, cols), buf, seg.out).map_err(err)?;
        seg.handoff(Engine::Dma, Engine::Vec);
        let mut r = r0;
        while r < r1 {
            // Up to the end of this block (or of the tile).
            let end = (r / period + 1) * period;
            let n = end.min(r1) - r;
            let x = offset(buf, (r - r0) * row_bytes, o)?;
            let t = offset(tab, (r % period) * row_bytes, o)?;
            seg.push(rope(x, t, n, cols, job.interleaved, dt, o)?);
            r += n;
        }
        seg.handoff(Engine::Vec, Engine::Dma);
        store(&job.out, 1, whole(r0, r1, cols), buf, seg.out).map_err(err)?;
    }
    Ok(true)
}

/// Every other case: per tile, the x rows and their table rows (`LD` of a consecutive run or a
/// `GATHER` by an index list), then `VEC.ROPE`.
fn tiled(ctx: &mut Ctx<'_>, o: &OpRef, job: &Job, rows: u64, cols: u64) -> Result<(), LowerError> {
    let row_bytes = cols * job.x.elem_bytes();
    let runtime = matches!(job.positions, Positions::Runtime(_));
    let needs = [
        Need::new(SramSpace::Token, 0, row_bytes),
        Need::new(SramSpace::Weight, 0, row_bytes),
        Need::new(SramSpace::Temp, 4, 4 + if runtime { 8 } else { 0 }),
    ];
    let rc = fit(ctx.hw, &needs, rows);
    if rc == 0 {
        return Err(o.err("one row and its table row do not fit on chip"));
    }
    // Cyclic positions: tiles never straddle a block, so each loads one run of table rows.
    let tiles: Vec<(u64, u64)> = match job.positions {
        Positions::Cyclic(p) if p > 0 && rows.is_multiple_of(p) => (0..rows / p)
            .flat_map(|b| chunks(p, rc).map(move |(s0, s1)| (b * p + s0, b * p + s1)))
            .collect(),
        _ => chunks(rows, rc).collect(),
    };
    // Index lists are generated before the segment (constants of the tensor table).
    let mut sources = Vec::with_capacity(tiles.len());
    for &(r0, r1) in &tiles {
        sources.push(index_source(ctx, o, job, r0, r1, job.table.shape[0])?);
    }
    let err = |e: ResourceError| o.err(e);
    let mut seg = Seg::new(ctx.hw, &mut ctx.out);
    let start = seg.mark();
    for (&(r0, r1), src) in tiles.iter().zip(sources) {
        seg.release(start);
        let n = r1 - r0;
        let buf = seg.alloc(SramSpace::Token, n * row_bytes).map_err(err)?;
        let tab = seg.alloc(SramSpace::Weight, n * row_bytes).map_err(err)?;
        load(&job.x, 1, whole(r0, r1, cols), buf, seg.out).map_err(err)?;
        table_rows(&mut seg, o, job, (r0, r1, cols), src, tab)?;
        seg.push(rope(buf, tab, n, cols, job.interleaved, job.x.dt, o)?);
        seg.handoff(Engine::Vec, Engine::Dma);
        store(&job.out, 1, whole(r0, r1, cols), buf, seg.out).map_err(err)?;
    }
    Ok(())
}

/// Bring the table rows of tile rows `r0..r1` into `tab` from their source; ends with the
/// vector unit holding the tile.
fn table_rows(
    seg: &mut Seg<'_>,
    o: &OpRef,
    job: &Job,
    (r0, r1, cols): (u64, u64, u64),
    src: Source,
    tab: SramRef,
) -> Result<(), LowerError> {
    let err = |e: ResourceError| o.err(e);
    let n = r1 - r0;
    let row_bytes = cols * job.x.elem_bytes();
    match src {
        Source::Run(p0) => {
            load(&job.table, 1, whole(p0, p0 + n, cols), tab, seg.out).map_err(err)?;
        }
        Source::List(list_src) => {
            let list = seg.alloc(SramSpace::Temp, (n + 1) * 4).map_err(err)?;
            load(&list_src, 1, whole(0, 1, n + 1), list, seg.out).map_err(err)?;
            seg.push(gather(tab, list, &job.table, n, row_bytes, o)?);
        }
        Source::Ids(ids, count) => {
            let list = seg.alloc(SramSpace::Temp, (n + 1) * 4).map_err(err)?;
            let raw = seg
                .alloc(SramSpace::Temp, n * ids.elem_bytes())
                .map_err(err)?;
            load(&ids, 1, whole(r0, r1, 1), raw, seg.out).map_err(err)?;
            load(&count, 1, whole(0, 1, 1), list, seg.out).map_err(err)?;
            seg.handoff(Engine::Dma, Engine::Vec);
            seg.push(Instr::VecCvt {
                dst: offset(list, 4, o)?,
                a: raw,
                rows: 1,
                cols: narrow(o, n)?,
                from: ids.dt,
                to: DType::U32,
            });
            seg.handoff(Engine::Vec, Engine::Dma);
            seg.push(gather(tab, list, &job.table, n, row_bytes, o)?);
        }
    }
    seg.handoff(Engine::Dma, Engine::Vec);
    Ok(())
}

/// Where a tile's table rows come from.
enum Source {
    /// Table rows `p0..p0+n`.
    Run(u64),
    /// A constant index list (count word first).
    List(View),
    /// Run-time ids (`[rows, 1]`) and the count word.
    Ids(View, View),
}

fn index_source(
    ctx: &mut Ctx<'_>,
    o: &OpRef,
    job: &Job,
    r0: u64,
    r1: u64,
    table_rows: u64,
) -> Result<Source, LowerError> {
    let n = r1 - r0;
    let pos: Vec<u64> = match &job.positions {
        Positions::Runtime(ids) => {
            let count = ctx
                .table(
                    &format!("const.count.{n}"),
                    DType::U32,
                    vec![1],
                    (n as u32).to_le_bytes().to_vec(),
                )
                .map_err(|e| o.err(e))?;
            return Ok(Source::Ids(ids.clone(), count));
        }
        Positions::Cyclic(p) => (r0..r1).map(|r| r % p).collect(),
        Positions::Const(list) => list[r0 as usize..r1 as usize].to_vec(),
    };
    if let Some(&bad) = pos.iter().find(|&&p| p >= table_rows) {
        return Err(o.err(format!(
            "position {bad} is outside the table of {table_rows} rows"
        )));
    }
    if pos.windows(2).all(|w| w[1] == w[0] + 1) {
        return Ok(Source::Run(pos[0]));
    }
    let mut words = vec![n as u32];
    words.extend(pos.iter().map(|&p| p as u32));
    let bytes = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    let name = ctx.unique_name(&format!("const.idx.{}", o.loc));
    let list = ctx
        .add_const(name, DType::U32, vec![n + 1], bytes)
        .map_err(|e| o.err(e))?;
    Ok(Source::List(list))
}

fn offset(r: SramRef, by: u64, o: &OpRef) -> Result<SramRef, LowerError> {
    let at = u64::from(r.offset) + by;
    let at = u32::try_from(at).map_err(|_| o.err(ResourceError::SramOffset(at)))?;
    Ok(SramRef::new(r.space, at))
}

fn gather(
    dst: SramRef,
    idx: SramRef,
    table: &View,
    n: u64,
    row_bytes: u64,
    o: &OpRef,
) -> Result<Instr, LowerError> {
    Ok(Instr::Gather {
        dst,
        src: DramAddr(table.base),
        idx,
        max_rows: narrow(o, n)?,
        row_bytes: narrow(o, row_bytes)?,
        stride: narrow(o, table.strides[0] * table.elem_bytes())?,
    })
}

fn rope(
    x: SramRef,
    table: SramRef,
    rows: u64,
    cols: u64,
    interleaved: bool,
    dt: DType,
    o: &OpRef,
) -> Result<Instr, LowerError> {
    Ok(Instr::VecRope {
        dst: x,
        x,
        table,
        pos: None,
        rows: narrow(o, rows)?,
        cols: narrow(o, cols)?,
        table_rows: narrow(o, rows)?,
        interleaved,
        dt,
    })
}

/// The `[T, R]` table `cos | sin` of two `[…, R/2]` caches: a constant when both caches are
/// known at compile time, else copied together on chip.
pub fn table_of(
    ctx: &mut Ctx<'_>,
    o: &OpRef,
    cos: sofa_ir::Value,
    sin: sofa_ir::Value,
    dt: DType,
) -> Result<View, LowerError> {
    let (_, cshape) = ctx.shape_of(o, cos)?;
    let (_, sshape) = ctx.shape_of(o, sin)?;
    if cshape != sshape || cshape.is_empty() {
        return Err(o.err("the cos and sin caches differ in shape"));
    }
    let half = cshape[cshape.len() - 1];
    let t: u64 = cshape[..cshape.len() - 1].iter().product();
    if let (Some(c), Some(s)) = (ctx.const_value(cos), ctx.const_value(sin)) {
        let (c, s) = (c.to_f64_vec(), s.to_f64_vec());
        let h = half as usize;
        let vals: Vec<f64> = (0..t as usize)
            .flat_map(|r| c[r * h..(r + 1) * h].iter().chain(&s[r * h..(r + 1) * h]))
            .copied()
            .collect();
        let name = ctx.unique_name(&format!("const.rope.{}", o.loc));
        return const_table(ctx, o, name, dt, vec![t, 2 * half], &vals);
    }
    let table = ctx.scratch(o, "table", dt, vec![t, 2 * half])?;
    for (v, c0) in [(cos, 0), (sin, half)] {
        let src = ctx.view(o, v)?;
        let src = match src.reshape(&[t, half]) {
            Some(r) => r,
            None => dense(ctx, o, src, "cache")?
                .reshape(&[t, half])
                .ok_or_else(|| o.err("bad cache shape"))?,
        };
        copy_view(ctx, o, &src, &table.slice(1, c0, 1, half))?;
    }
    Ok(table)
}

/// A `const` tensor of float `dt` holding `vals` (rounded to `dt`).
pub fn const_table(
    ctx: &mut Ctx<'_>,
    o: &OpRef,
    name: String,
    dt: DType,
    shape: Vec<u64>,
    vals: &[f64],
) -> Result<View, LowerError> {
    let mut bytes = Vec::with_capacity(vals.len() * 4);
    for &v in vals {
        bytes.extend(super::values::scalar_bytes(dt, v).map_err(|e| o.err(e))?);
    }
    ctx.add_const(name, dt, shape, bytes).map_err(|e| o.err(e))
}

/// The head layout of a `RotaryEmbedding` input: rows are `(b, h, s)` for `[B, H, S, D]` and
/// `(b, s, h)` for `[B, S, H·D]` (viewed as `[B, S, H, D]`).
struct Layout {
    four_d: bool,
    b: u64,
    h: u64,
    s: u64,
    d: u64,
}

impl Layout {
    fn of(o: &OpRef, shape: &[u64], heads: Option<i64>) -> Result<Layout, LowerError> {
        match (shape, heads) {
            (&[b, h, s, d], _) => Ok(Layout {
                four_d: true,
                b,
                h,
                s,
                d,
            }),
            (&[b, s, hidden], Some(h)) if h > 0 && hidden.is_multiple_of(h as u64) => {
                let h = h as u64;
                Ok(Layout {
                    four_d: false,
                    b,
                    h,
                    s,
                    d: hidden / h,
                })
            }
            _ => Err(o.err("X must be [B, H, S, D] or [B, S, H·D] with num_heads")),
        }
    }

    /// `v` as the 4-D tensor whose leading dims are the rows.
    fn rows_view(&self, o: &OpRef, v: View) -> Result<View, LowerError> {
        if self.four_d {
            return Ok(v);
        }
        v.reshape(&[self.b, self.s, self.h, self.d])
            .ok_or_else(|| o.err("X cannot be split into heads"))
    }

    fn rows(&self) -> u64 {
        self.b * self.h * self.s
    }

    /// The row of (batch, head, position index).
    fn row(&self, bi: u64, hi: u64, si: u64) -> u64 {
        if self.four_d {
            (bi * self.h + hi) * self.s + si
        } else {
            (bi * self.s + si) * self.h + hi
        }
    }

    /// `f(b, s)` placed at every row of that batch and position.
    fn per_row(
        &self,
        f: impl Fn(u64, u64) -> Result<u64, LowerError>,
    ) -> Result<Vec<u64>, LowerError> {
        let mut p = vec![0; self.rows() as usize];
        for bi in 0..self.b {
            for si in 0..self.s {
                let v = f(bi, si)?;
                for hi in 0..self.h {
                    p[self.row(bi, hi, si) as usize] = v;
                }
            }
        }
        Ok(p)
    }
}

/// Each row's position: the cache row `b·S + s` without ids (caches `[B, S, R/2]`), the constant
/// ids, or the run-time ids broadcast over the heads.
fn positions(
    ctx: &mut Ctx<'_>,
    o: &OpRef,
    l: &Layout,
    ids: Option<sofa_ir::Value>,
) -> Result<Positions, LowerError> {
    let Some(pv) = ids else {
        return Ok(cyclic_or_const(l.per_row(|bi, si| Ok(bi * l.s + si))?, l.s));
    };
    let (_, ishape) = ctx.shape_of(o, pv)?;
    if ishape != [l.b, l.s] {
        return Err(o.err(format!(
            "position_ids {ishape:?} must be [{}, {}]",
            l.b, l.s
        )));
    }
    if let Some(t) = ctx.const_value(pv) {
        let ids = t.to_i64_vec();
        let p = l.per_row(|bi, si| {
            let id = ids[(bi * l.s + si) as usize];
            u64::try_from(id).map_err(|_| o.err(format!("negative position id {id}")))
        })?;
        return Ok(cyclic_or_const(p, l.s));
    }
    let ids = ctx.view(o, pv)?;
    if !matches!(ids.dt, DType::I64 | DType::I32) {
        return Err(o.err(format!("position ids of type {}", ids.dt)));
    }
    let (sb, ss) = (ids.strides[0], ids.strides[1]);
    let (shape, strides) = if l.four_d {
        (vec![l.b, l.h, l.s, 1], vec![sb, 0, ss, 0])
    } else {
        (vec![l.b, l.s, l.h, 1], vec![sb, ss, 0, 0])
    };
    Ok(Positions::Runtime(View {
        shape,
        strides,
        ..ids
    }))
}

/// `rotary_embedding_dim` (0: the whole head) checked to be even and within the head.
fn rotary_width(o: &OpRef, attr: i64, d: u64) -> Result<u64, LowerError> {
    match attr {
        0 => Ok(d),
        r if r > 0 && (r as u64) <= d && (r as u64).is_multiple_of(2) => Ok(r as u64),
        r => Err(o.err(format!("rotary_embedding_dim {r} is not even and <= {d}"))),
    }
}

/// `RotaryEmbedding` (opset 23): `X` `[B, H, S, D]` or `[B, S, H·D]` (`num_heads`), caches
/// `[max_pos, R/2]` indexed by `position_ids [B, S]`, or `[B, S, R/2]` without them.
pub fn rotary_embedding(ctx: &mut Ctx<'_>, o: &OpRef) -> Result<(), LowerError> {
    let (dt, shape) = ctx.shape_of(o, ctx.result(o, 0)?)?;
    if !dt.is_float() {
        return Err(o.err("RotaryEmbedding needs a float type"));
    }
    let attrs = &ctx.m.op(o.op).attrs;
    let int = |k: &str| attrs.get(k).and_then(|a| a.as_int());
    let interleaved = int("interleaved").unwrap_or(0) != 0;
    let layout = Layout::of(o, &shape, int("num_heads"))?;
    let rot = rotary_width(o, int("rotary_embedding_dim").unwrap_or(0), layout.d)?;
    let operands = ctx.m.op(o.op).operands.clone();
    let ids = operands
        .get(3)
        .copied()
        .filter(|&v| ctx.m.value_type(v).as_tensor().is_some());
    let x = ctx.view(o, ctx.operand(o, 0)?)?;
    let x4 = layout.rows_view(o, x)?;
    let table = table_of(ctx, o, ctx.operand(o, 1)?, ctx.operand(o, 2)?, dt)?;
    let positions = positions(ctx, o, &layout, ids)?;
    let out = ctx.new_result(o, 0, dt, shape)?;
    let out4 = layout.rows_view(o, out)?;
    let d = layout.d;
    let job = Job {
        x: x4.slice(3, 0, 1, rot),
        out: out4.slice(3, 0, 1, rot),
        table,
        positions,
        interleaved,
    };
    emit(ctx, o, &job)?;
    if rot < d {
        copy_view(
            ctx,
            o,
            &x4.slice(3, rot, 1, d - rot),
            &out4.slice(3, rot, 1, d - rot),
        )?;
    }
    Ok(())
}

/// `Cyclic(period)` when row `r` is at position `r mod period`, else the list.
pub fn cyclic_or_const(p: Vec<u64>, period: u64) -> Positions {
    let cyclic = period > 0 && p.iter().enumerate().all(|(r, &x)| x == r as u64 % period);
    if cyclic {
        Positions::Cyclic(period)
    } else {
        Positions::Const(p)
    }
}
