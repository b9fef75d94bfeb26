//! Linear quantization on the chip: `DynamicQuantizeLinear`, `QuantizeLinear` and
//! `DequantizeLinear` on the vector unit, `MatMulInteger` on the PE array (`GEMM.Q`).
//!
//! - `DynamicQuantizeLinear`: one segment. A tile loop reduces the tensor's range with
//!   `VEC.MINMAX` (accumulating), `VEC.QPARAM` turns it into the scale and zero point (stored
//!   as results 1 and 2), and a second tile loop quantizes with `VEC.QUANT`; a tensor that
//!   fits on chip at once is loaded once.
//! - `QuantizeLinear` / `DequantizeLinear`: `VEC.QUANT` / `VEC.DEQUANT` per tile, the scale
//!   and zero point broadcast like a binary op's second operand (per tensor: scalar; per axis:
//!   row, column or materialised). Blocked quantization is not lowered.
//! - `MatMulInteger`: `GEMM.Q` with A's zero point (per tensor) and B's (per tensor or per
//!   column). The exporter's dequantization after it — `Cast` to f32, `Mul` by a scalar or
//!   per-column scale, then bias and residual `Add`s — rides in the segment's epilogue
//!   (`VEC.DEQUANT`, `VEC.ADD`) when each step is the previous one's single use, so the i32
//!   product never goes to DRAM. The epilogue computes exactly what the ops would.

use sofa_ir::isa::{Bcast, DType, Engine, Instr, SramRef, SramSpace};
use sofa_ir::Op;

use super::dma::{load, matrix_dims, store, Tile};
use super::fuse::fold_adds_after;
use super::matmul::{stored_b, Operands};
use super::seg::Seg;
use super::tiling::{chunks, fit, Need};
use super::vector::{map_tiles, mode_of, narrow, Input, Mode, Shape};
use super::view::View;
use super::{Ctx, OpRef};
use crate::lower::{LowerError, ResourceError};

/// Largest `m`, `n`, `k` of one `GEMM.Q` (16-bit fields).
const GEMM_Q_MAX: u64 = u16::MAX as u64;

/// A one-element view as a `[1]` vector (so DMA windows address it).
fn as_vector(o: &OpRef, v: &View) -> Result<View, LowerError> {
    v.reshape(&[1])
        .ok_or_else(|| o.err("a scalar operand has more than one element"))
}

fn tile_of(t: (u64, u64), c: (u64, u64)) -> Tile {
    Tile {
        r0: t.0,
        r1: t.1,
        c0: c.0,
        c1: c.1,
    }
}

// ---- DynamicQuantizeLinear ----------------------------------------------------------------

/// Tiles of a `rows × cols` matrix whose `x` tile (Token) and quantized tile (Weight) fit:
/// whole rows when one fits, else pieces of single rows.
fn dq_tiles(ctx: &Ctx<'_>, x: DType, q: DType, rows: u64, cols: u64) -> Option<Vec<Tile>> {
    let bytes = |dt: DType, n: u64| dt.bits().div_ceil(8) * n;
    let per = |n: u64| {
        [
            Need::new(SramSpace::Token, 0, bytes(x, n)),
            Need::new(SramSpace::Weight, 0, bytes(q, n)),
        ]
    };
    let rc = fit(ctx.hw, &per(cols), rows);
    let (rc, cc) = match rc {
        0 => (1, fit(ctx.hw, &per(1), cols)),
        rc => (rc, cols),
    };
    (cc > 0).then(|| {
        chunks(rows, rc)
            .flat_map(|r| chunks(cols, cc).map(move |c| tile_of(r, c)))
            .collect()
    })
}

/// `DynamicQuantizeLinear(x) -> (y, y_scale, y_zero_point)`.
pub fn dynamic_quantize(ctx: &mut Ctx<'_>, o: &OpRef) -> Result<(), LowerError> {
    let x = ctx.view(o, ctx.operand(o, 0)?)?;
    if !x.dt.is_float() {
        return Err(o.err(format!("cannot quantize {} values", x.dt)));
    }
    let (qt, shape) = ctx.shape_of(o, ctx.result(o, 0)?)?;
    let y = ctx.new_result(o, 0, qt, shape)?;
    let scale = ctx.new_result(o, 1, DType::F32, vec![])?;
    let scale = as_vector(o, &scale)?;
    let zp = ctx.new_result(o, 2, qt, vec![])?;
    let zp = as_vector(o, &zp)?;
    let (rows, cols) = matrix_dims(&x, 1);
    let tiles = dq_tiles(ctx, x.dt, qt, rows, cols)
        .ok_or_else(|| o.err("one element does not fit on chip"))?;
    let err = |e: ResourceError| o.err(e);
    let mut seg = Seg::new(ctx.hw, &mut ctx.out);
    let range = seg.alloc(SramSpace::Temp, 8).map_err(err)?;
    let sb = seg.alloc(SramSpace::Temp, 4).map_err(err)?;
    let zb = seg.alloc(SramSpace::Temp, 1).map_err(err)?;
    let mark = seg.mark();
    let load_x = |seg: &mut Seg<'_>, t: Tile| -> Result<SramRef, ResourceError> {
        let at = seg.alloc(SramSpace::Token, t.rows() * t.cols() * x.elem_bytes())?;
        load(&x, 1, t, at, seg.out)?;
        Ok(at)
    };
    let quant = |a: SramRef, dst: SramRef, t: Tile| -> Result<Instr, LowerError> {
        Ok(Instr::VecQuant {
            dst,
            a,
            scale: sb,
            zp: Some(zb),
            rows: narrow(o, t.rows())?,
            cols: narrow(o, t.cols())?,
            bcast: Bcast::Scalar,
            from: x.dt,
            to: qt,
        })
    };
    let single = tiles.len() == 1;
    for (i, &t) in tiles.iter().enumerate() {
        seg.release(mark);
        let xb = load_x(&mut seg, t).map_err(err)?;
        seg.handoff(Engine::Dma, Engine::Vec);
        seg.push(Instr::VecMinMax {
            dst: range,
            a: xb,
            rows: narrow(o, t.rows())?,
            cols: narrow(o, t.cols())?,
            acc: i > 0,
            dt: x.dt,
        });
        if i + 1 == tiles.len() {
            seg.push(Instr::VecQParam {
                scale: sb,
                zp: zb,
                src: range,
                qt,
            });
        }
        if single {
            let yb = seg
                .alloc(SramSpace::Weight, t.rows() * t.cols())
                .map_err(err)?;
            seg.push(quant(xb, yb, t)?);
            seg.handoff(Engine::Vec, Engine::Dma);
            store(&y, 1, t, yb, seg.out).map_err(err)?;
        } else {
            seg.handoff(Engine::Vec, Engine::Dma);
        }
    }
    let one = tile_of((0, 1), (0, 1));
    store(&scale, 1, one, sb, seg.out).map_err(err)?;
    store(&zp, 1, one, zb, seg.out).map_err(err)?;
    if single {
        return Ok(());
    }
    for &t in &tiles {
        seg.release(mark);
        let xb = load_x(&mut seg, t).map_err(err)?;
        let yb = seg
            .alloc(SramSpace::Weight, t.rows() * t.cols())
            .map_err(err)?;
        seg.handoff(Engine::Dma, Engine::Vec);
        seg.push(quant(xb, yb, t)?);
        seg.handoff(Engine::Vec, Engine::Dma);
        store(&y, 1, t, yb, seg.out).map_err(err)?;
    }
    Ok(())
}

// ---- QuantizeLinear / DequantizeLinear ------------------------------------------------------

/// A quantization parameter (operand `i`) broadcast to `shape`: one element is per tensor, a
/// vector runs along `axis`.
fn param_view(
    ctx: &mut Ctx<'_>,
    o: &OpRef,
    i: usize,
    shape: &[u64],
    axis: i64,
) -> Result<View, LowerError> {
    let v = ctx.view(o, ctx.operand(o, i)?)?;
    let bad = || o.err(format!("operand {i} does not broadcast to {shape:?}"));
    if v.numel() == 1 && v.rank() <= 1 {
        return v
            .reshape(&[])
            .and_then(|s| s.broadcast_to(shape))
            .ok_or_else(bad);
    }
    if v.rank() != 1 {
        return Err(o.err("blocked quantization is not supported by the SOFA model lowering"));
    }
    let rank = shape.len() as i64;
    let ax = usize::try_from(if axis < 0 { axis + rank } else { axis })
        .ok()
        .filter(|&a| a < shape.len())
        .ok_or_else(|| o.err(format!("axis {axis} is out of range for rank {rank}")))?;
    let mut along = vec![1; shape.len() - ax];
    along[0] = v.shape[0];
    v.reshape(&along)
        .and_then(|p| p.broadcast_to(shape))
        .ok_or_else(bad)
}

/// Whether operand `i` is absent or a constant zero (a zero point that need not be loaded).
fn zero_or_absent(ctx: &Ctx<'_>, o: &OpRef, i: usize) -> bool {
    match ctx.operand(o, i) {
        Err(_) => true,
        Ok(v) => ctx.splat(v) == Some(0.0),
    }
}

/// `QuantizeLinear` (`quant`) or `DequantizeLinear`: per tile `VEC.QUANT` / `VEC.DEQUANT`.
pub fn linear(ctx: &mut Ctx<'_>, o: &OpRef, quant: bool) -> Result<(), LowerError> {
    let (to, shape) = ctx.shape_of(o, ctx.result(o, 0)?)?;
    let attrs = &ctx.m.op(o.op).attrs;
    let int = |k: &str, d: i64| attrs.get(k).and_then(|a| a.as_int()).unwrap_or(d);
    let (axis, block) = (int("axis", 1), int("block_size", 0));
    if block > 0 {
        return Err(o.err("blocked quantization is not supported by the SOFA model lowering"));
    }
    let x = ctx.view(o, ctx.operand(o, 0)?)?;
    let from = x.dt;
    let scale = param_view(ctx, o, 1, &shape, axis)?;
    let mode = mode_of(&scale);
    let mut inputs = vec![Input::full(x), Input { view: scale, mode }];
    if !zero_or_absent(ctx, o, 2) {
        let zp = param_view(ctx, o, 2, &shape, axis)?;
        inputs.push(Input { view: zp, mode });
    }
    let out = ctx.new_result(o, 0, to, shape)?;
    let bcast = mode.bcast();
    let shape = Shape {
        inner: 1,
        extra: 0,
        in_place: false,
    };
    map_tiles(ctx, o, &inputs, &out, shape, &mut |s| {
        let (dst, a, scale, zp) = (s.dst, s.ins[0], s.ins[1], s.ins.get(2).copied());
        let (rows, cols) = (s.rows, s.cols);
        vec![match quant {
            true => Instr::VecQuant {
                dst,
                a,
                scale,
                zp,
                rows,
                cols,
                bcast,
                from,
                to,
            },
            false => Instr::VecDequant {
                dst,
                a,
                scale,
                zp,
                rows,
                cols,
                bcast,
                from,
                to,
            },
        }]
    })
}

// ---- MatMulInteger --------------------------------------------------------------------------

/// What follows the integer product in its segment.
struct Epilogue {
    /// The op whose result the segment writes.
    last: OpRef,
    /// `i32` (no `Cast` folded) or `f32`.
    dt: DType,
    /// `Mul` by a scalar (`Scalar`) or per-column (`Row`) scale after the `Cast`.
    scale: Option<(View, Mode)>,
    bias: Option<View>,
    c: Option<(View, Mode)>,
}

impl Epilogue {
    fn none(o: &OpRef) -> Epilogue {
        Epilogue {
            last: o.clone(),
            dt: DType::I32,
            scale: None,
            bias: None,
            c: None,
        }
    }
}

/// The single use of `v` when it is an op named `name` and `v` is not a function output.
fn single_use(ctx: &Ctx<'_>, v: sofa_ir::Value, name: &str) -> Option<Op> {
    match ctx.uses.get(&v).map(Vec::as_slice) {
        Some(&[u]) if ctx.m.op(u).name == name && !ctx.out_names.contains_key(&v) => Some(u),
        _ => None,
    }
}

/// Whether `v` is available before `o` runs (a constant or an earlier op's result).
fn available_before(ctx: &Ctx<'_>, o: &OpRef, v: sofa_ir::Value) -> bool {
    match ctx.m.defining_op(v) {
        None => true,
        Some(p) => ctx.m.op(p).name == "onnx.Constant" || ctx.order.get(&p) < ctx.order.get(&o.op),
    }
}

/// The `Mul` by a scale after the `Cast` (`last`), when foldable: its other operand is
/// available before the product and broadcasts as a scalar or a row.
fn fold_scale(
    ctx: &mut Ctx<'_>,
    o: &OpRef,
    last: &OpRef,
    shape: &[u64],
) -> Result<Option<(OpRef, View, Mode)>, LowerError> {
    let cur = ctx.result(last, 0)?;
    let Some(mul) = single_use(ctx, cur, "onnx.Mul") else {
        return Ok(None);
    };
    let d = ctx.m.op(mul);
    let other = match *d.operands.as_slice() {
        [x, y] if x == cur && y != cur => y,
        [x, y] if y == cur && x != cur => x,
        _ => return Ok(None),
    };
    let same_shape = ctx.value_shape(d.results[0]).ok().map(|s| s.1).as_deref() == Some(shape);
    if !same_shape || !available_before(ctx, o, other) {
        return Ok(None);
    }
    let next = OpRef::new(ctx.m, mul);
    let Some(view) = ctx.view(&next, other)?.broadcast_to(shape) else {
        return Ok(None);
    };
    let mode = mode_of(&view);
    if view.dt != DType::F32 || !matches!(mode, Mode::Scalar | Mode::Row) {
        return Ok(None);
    }
    Ok(Some((next, view, mode)))
}

/// Follow the product's single-use chain: `Cast` to f32, `Mul` by the scale, then up to two
/// `Add`s (see [`fold_adds_after`]). Folded ops are skipped by the walk.
fn fold_epilogue(ctx: &mut Ctx<'_>, o: &OpRef, shape: &[u64]) -> Result<Epilogue, LowerError> {
    let mut e = Epilogue::none(o);
    let Some(cast) = single_use(ctx, ctx.result(o, 0)?, "onnx.Cast") else {
        return Ok(e);
    };
    let cast = OpRef::new(ctx.m, cast);
    match ctx.value_shape(ctx.result(&cast, 0)?) {
        Ok((DType::F32, s)) if s == shape => {}
        _ => return Ok(e),
    }
    ctx.skip.insert(cast.op);
    (e.last, e.dt) = (cast, DType::F32);
    if let Some((mul, view, mode)) = fold_scale(ctx, o, &e.last, shape)? {
        ctx.skip.insert(mul.op);
        e.last = mul;
        e.scale = Some((view, mode));
    }
    let adds = fold_adds_after(ctx, o, &e.last, shape)?;
    (e.last, e.bias, e.c) = (adds.last, adds.bias, adds.c);
    Ok(e)
}

/// One integer product with its zero points and epilogue.
struct QProduct {
    /// `[…, K]`: its leading dims are the rows.
    a: View,
    /// `[K, N]`, or `[N, K]` when `trans_b`.
    b: View,
    trans_b: bool,
    /// A's zero point as a `[1]` vector.
    azp: Option<View>,
    /// B's zero point per column, `[N]`.
    bzp: Option<View>,
    epi: Epilogue,
    /// `[R, N]`.
    out: View,
}

/// A's zero point: per tensor only (onnxruntime accepts nothing else either).
fn a_zero_point(ctx: &mut Ctx<'_>, o: &OpRef) -> Result<Option<View>, LowerError> {
    if zero_or_absent(ctx, o, 2) {
        return Ok(None);
    }
    let v = ctx.view(o, ctx.operand(o, 2)?)?;
    if v.numel() != 1 {
        return Err(o.err(
            "a per-row a_zero_point is not supported by the SOFA model lowering (per tensor only)",
        ));
    }
    as_vector(o, &v).map(Some)
}

/// B's zero point as one value per column: a scalar is broadcast, a vector taken as is.
fn b_zero_point(ctx: &mut Ctx<'_>, o: &OpRef, n: u64) -> Result<Option<View>, LowerError> {
    if zero_or_absent(ctx, o, 3) {
        return Ok(None);
    }
    let v = ctx.view(o, ctx.operand(o, 3)?)?;
    let per_column = match v.numel() {
        1 => v.reshape(&[]).and_then(|s| s.broadcast_to(&[n])),
        k if k == n => v.reshape(&[n]),
        _ => None,
    };
    per_column.map(Some).ok_or_else(|| {
        o.err("b_zero_point must be per tensor or per column for the SOFA model lowering")
    })
}

/// `MatMulInteger(A, B, a_zero_point?, b_zero_point?)`, with its dequantizing epilogue.
pub fn matmul_integer(ctx: &mut Ctx<'_>, o: &OpRef) -> Result<(), LowerError> {
    let (_, shape) = ctx.shape_of(o, ctx.result(o, 0)?)?;
    let ops = Operands::of(ctx, o)?;
    let bad = || o.err("operands do not have matmul shapes");
    let azp = a_zero_point(ctx, o)?;
    let bzp = b_zero_point(ctx, o, ops.n)?;
    if let Some(b) = ops.shared_b() {
        let epi = fold_epilogue(ctx, o, &shape)?;
        let out = ctx.new_result(&epi.last, 0, epi.dt, shape)?;
        let out = out.reshape(&[ops.count() * ops.m, ops.n]).ok_or_else(bad)?;
        let (b, trans_b) = stored_b(b);
        let p = QProduct {
            a: ops.a,
            b,
            trans_b,
            azp,
            bzp,
            epi,
            out,
        };
        return emit(ctx, o, &p);
    }
    // Batched right factors: one product per batch index, i32 results.
    let out = ctx.new_result(o, 0, DType::I32, shape)?;
    for [ai, bi, oi] in ops.per_batch(o, &out)? {
        let (bi, trans_b) = stored_b(bi);
        let p = QProduct {
            a: ai,
            b: bi,
            trans_b,
            azp: azp.clone(),
            bzp: bzp.clone(),
            epi: Epilogue::none(o),
            out: oi,
        };
        emit(ctx, o, &p)?;
    }
    Ok(())
}

/// Halvings of `x` capped at the `GEMM.Q` field limit: `x`, `x/2`, … down to 1.
fn halvings(x: u64) -> Vec<u64> {
    let mut v = vec![x.min(GEMM_Q_MAX)];
    while let Some(&last) = v.last().filter(|&&l| l > 1) {
        v.push(last.div_ceil(2));
    }
    v
}

/// Tile sizes (rows, k, n) with the fewest `GEMM.Q`s; `None` when nothing fits.
fn choose_tiles(ctx: &Ctx<'_>, p: &QProduct, r: u64, k: u64, n: u64) -> Option<(u64, u64, u64)> {
    let (ea, eb) = (p.a.elem_bytes(), p.b.elem_bytes());
    let c_mode = p.epi.c.as_ref().map(|(_, m)| *m);
    let scale_mode = p.epi.scale.as_ref().map(|(_, m)| *m);
    let mut best: Option<(u64, (u64, u64, u64))> = None;
    for kt in halvings(k) {
        for nt in halvings(n) {
            let (w, t) = (SramSpace::Weight, SramSpace::Temp);
            let optional = [
                (p.azp.is_some(), Need::new(t, 1, 0)),
                (scale_mode == Some(Mode::Scalar), Need::new(t, 4, 0)),
                (scale_mode == Some(Mode::Row), Need::new(w, nt * 4, 0)),
                (p.bzp.is_some(), Need::new(w, nt * eb, 0)),
                (p.epi.bias.is_some(), Need::new(w, nt * 4, 0)),
                (
                    matches!(c_mode, Some(Mode::Full | Mode::Col)),
                    Need::new(SramSpace::Token, 0, nt * 4),
                ),
                (
                    matches!(c_mode, Some(Mode::Row | Mode::Scalar)),
                    Need::new(w, nt * 4, 0),
                ),
            ];
            let mut needs = vec![
                Need::new(SramSpace::Token, 0, kt * ea),
                Need::new(w, kt * nt * eb, 0),
                Need::new(t, 0, nt * 4),
            ];
            needs.extend(optional.into_iter().filter(|(on, _)| *on).map(|(_, n)| n));
            let mt = fit(ctx.hw, &needs, r).min(GEMM_Q_MAX);
            if mt == 0 {
                continue;
            }
            let gemms = r.div_ceil(mt) * k.div_ceil(kt) * n.div_ceil(nt);
            if best.is_none_or(|(g, _)| gemms < g) {
                best = Some((gemms, (mt, kt, nt)));
            }
        }
    }
    best.map(|(_, t)| t)
}

/// Buffers loaded once per column chunk: the B tile (with one K step), B's zero points, the
/// bias and a per-column scale.
struct ColumnBufs {
    b: Option<SramRef>,
    bzp: Option<SramRef>,
    bias: Option<SramRef>,
    scale: Option<SramRef>,
}

/// `LD` the columns `n0..n1` of a `[N]`-like view (a row of the matrix view) into a new buffer.
fn load_row(
    seg: &mut Seg<'_>,
    view: &View,
    (n0, n1): (u64, u64),
) -> Result<SramRef, ResourceError> {
    let at = seg.alloc(SramSpace::Weight, (n1 - n0) * view.elem_bytes())?;
    load(view, 1, tile_of((0, 1), (n0, n1)), at, seg.out)?;
    Ok(at)
}

fn load_b(
    seg: &mut Seg<'_>,
    p: &QProduct,
    (k0, k1): (u64, u64),
    (n0, n1): (u64, u64),
) -> Result<SramRef, ResourceError> {
    let t = match p.trans_b {
        true => tile_of((n0, n1), (k0, k1)),
        false => tile_of((k0, k1), (n0, n1)),
    };
    let at = seg.alloc(SramSpace::Weight, t.rows() * t.cols() * p.b.elem_bytes())?;
    load(&p.b, 1, t, at, seg.out)?;
    Ok(at)
}

/// The per-column buffers of columns `cols`; the B tile only when K is not split.
fn column_bufs(
    seg: &mut Seg<'_>,
    p: &QProduct,
    cols: (u64, u64),
    k: Option<u64>,
) -> Result<ColumnBufs, ResourceError> {
    let row = |seg: &mut Seg<'_>, v: Option<&View>| v.map(|v| load_row(seg, v, cols)).transpose();
    let row_scale = p.epi.scale.as_ref().filter(|(_, m)| *m == Mode::Row);
    Ok(ColumnBufs {
        b: k.map(|k| load_b(seg, p, (0, k), cols)).transpose()?,
        bzp: row(seg, p.bzp.as_ref())?,
        bias: row(seg, p.epi.bias.as_ref())?,
        scale: row(seg, row_scale.map(|(v, _)| v))?,
    })
}

/// Load a scalar (one element of a broadcast view) into a fixed buffer.
fn load_scalar(seg: &mut Seg<'_>, v: &View) -> Result<SramRef, ResourceError> {
    let at = seg.alloc(SramSpace::Temp, v.elem_bytes())?;
    let first = View::contiguous(v.base, v.dt, vec![1]);
    load(&first, 1, tile_of((0, 1), (0, 1)), at, seg.out)?;
    Ok(at)
}

fn emit(ctx: &mut Ctx<'_>, o: &OpRef, p: &QProduct) -> Result<(), LowerError> {
    let (r, k) = matrix_dims(&p.a, 1);
    let n = p.out.shape[p.out.rank() - 1];
    let (mt, kt, nt) =
        choose_tiles(ctx, p, r, k, n).ok_or_else(|| o.err("no GEMM.Q tile fits the SRAMs"))?;
    let k_steps: Vec<(u64, u64)> = chunks(k, kt).collect();
    let err = |e: ResourceError| o.err(e);
    let mut seg = Seg::new(ctx.hw, &mut ctx.out);
    let azp = p
        .azp
        .as_ref()
        .map(|v| load_scalar(&mut seg, v))
        .transpose()
        .map_err(err)?;
    let scalar_scale = match &p.epi.scale {
        Some((v, Mode::Scalar)) => Some(load_scalar(&mut seg, v).map_err(err)?),
        _ => None,
    };
    let start = seg.mark();
    for cols in chunks(n, nt) {
        seg.release(start);
        let one_k = (k_steps.len() == 1).then_some(k);
        let cb = column_bufs(&mut seg, p, cols, one_k).map_err(err)?;
        let n_mark = seg.mark();
        for rows in chunks(r, mt) {
            seg.release(n_mark);
            let t = tile_of(rows, cols);
            let dst = seg
                .alloc(SramSpace::Temp, t.rows() * t.cols() * 4)
                .map_err(err)?;
            let c_buf = load_c(&mut seg, p, t).map_err(err)?;
            let m_mark = seg.mark();
            for (step, &ks) in k_steps.iter().enumerate() {
                seg.release(m_mark);
                let a_buf = seg
                    .alloc(
                        SramSpace::Token,
                        t.rows() * (ks.1 - ks.0) * p.a.elem_bytes(),
                    )
                    .map_err(err)?;
                load(&p.a, 1, tile_of(rows, ks), a_buf, seg.out).map_err(err)?;
                let b_buf = match cb.b {
                    Some(b) => b,
                    None => load_b(&mut seg, p, ks, cols).map_err(err)?,
                };
                seg.handoff(Engine::Dma, Engine::Kvpe);
                seg.push(Instr::GemmQ {
                    dst,
                    a: a_buf,
                    b: b_buf,
                    azp,
                    bzp: cb.bzp,
                    m: narrow16(o, t.rows())?,
                    n: narrow16(o, t.cols())?,
                    k: narrow16(o, ks.1 - ks.0)?,
                    trans_b: p.trans_b,
                    acc: step > 0,
                    at: p.a.dt,
                    bt: p.b.dt,
                });
                if step + 1 < k_steps.len() {
                    seg.handoff(Engine::Kvpe, Engine::Dma);
                }
            }
            let scale = scalar_scale.or(cb.scale);
            let last = epilogue(&mut seg, o, p, (dst, c_buf, scale, cb.bias), t)?;
            seg.handoff(last, Engine::Dma);
            store(&p.out, 1, t, dst, seg.out).map_err(err)?;
        }
    }
    Ok(())
}

fn narrow16(o: &OpRef, v: u64) -> Result<u16, LowerError> {
    u16::try_from(v).map_err(|_| o.err(format!("GEMM.Q dimension {v} exceeds 16 bits")))
}

/// Load the residual's window of tile `t` (Token for full tiles, Weight for rows/scalars).
fn load_c(seg: &mut Seg<'_>, p: &QProduct, t: Tile) -> Result<Option<SramRef>, ResourceError> {
    let Some((view, mode)) = &p.epi.c else {
        return Ok(None);
    };
    let (w, space) = match mode {
        Mode::Full => (t, SramSpace::Token),
        Mode::Col => (Tile { c0: 0, c1: 1, ..t }, SramSpace::Token),
        Mode::Row => (Tile { r0: 0, r1: 1, ..t }, SramSpace::Weight),
        Mode::Scalar => (tile_of((0, 1), (0, 1)), SramSpace::Weight),
    };
    let at = seg.alloc(space, w.rows() * w.cols() * view.elem_bytes())?;
    load(view, 1, w, at, seg.out)?;
    Ok(Some(at))
}

/// Dequantize, add the bias and the residual on the vector unit; returns the engine that
/// finished last.
fn epilogue(
    seg: &mut Seg<'_>,
    o: &OpRef,
    p: &QProduct,
    (dst, c_buf, scale, bias): (SramRef, Option<SramRef>, Option<SramRef>, Option<SramRef>),
    t: Tile,
) -> Result<Engine, LowerError> {
    if p.epi.dt == DType::I32 {
        return Ok(Engine::Kvpe);
    }
    let (rows, cols) = (narrow(o, t.rows())?, narrow(o, t.cols())?);
    let dt = DType::F32;
    seg.handoff(Engine::Kvpe, Engine::Vec);
    seg.push(match (scale, &p.epi.scale) {
        (Some(s), Some((_, mode))) => Instr::VecDequant {
            dst,
            a: dst,
            scale: s,
            zp: None,
            rows,
            cols,
            bcast: mode.bcast(),
            from: DType::I32,
            to: dt,
        },
        _ => Instr::VecCvt {
            dst,
            a: dst,
            rows,
            cols,
            from: DType::I32,
            to: dt,
        },
    });
    let add = |b: SramRef, bcast: Bcast| Instr::VecAdd {
        dst,
        a: dst,
        b,
        rows,
        cols,
        bcast,
        dt,
    };
    if let Some(b) = bias {
        seg.push(add(b, Bcast::Row));
    }
    if let (Some((_, mode)), Some(b)) = (&p.epi.c, c_buf) {
        seg.push(add(b, mode.bcast()));
    }
    Ok(Engine::Vec)
}
