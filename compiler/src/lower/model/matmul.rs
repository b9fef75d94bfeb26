//! `MatMul` (with numpy batching) and `Gemm` on the PE array (`GEMM`).
//!
//! A product `[R × K] · [K × N]` is tiled so the A rows fit Token SRAM, the B tile (and the
//! bias row) Weight SRAM and the result Temp SRAM; `K` is split with `acc=true` only when a
//! useful B tile cannot hold all of it. Tile sizes minimise the number of `GEMM`s. B is read
//! with `trans_b=true` when its stored rows are the columns of the product (`Gemm transB`, or
//! a transposed view), so both layouts load with whole-row DMA. `Gemm`'s `alpha` and a
//! non-row `C` become vector ops after the last `K` step.

use sofa_ir::isa::{Bcast, DType, Engine, Instr, SramRef, SramSpace};

use super::dma::{load, matrix_dims, store, Tile};
use super::fuse::fold_adds;
use super::seg::Seg;
use super::tiling::{chunks, fit, Need};
use super::vector::{mode_of, narrow, Mode};
use super::view::View;
use super::{Ctx, OpRef};
use crate::lower::LowerError;
use crate::lower::ResourceError;

/// One 2-D product with its epilogue.
pub(super) struct Product {
    /// `[…, K]`: its leading dims are the rows.
    pub a: View,
    /// The right factor as stored: `[K, N]`, or `[N, K]` when `trans_b`; with `trans_b` its
    /// last `b_inner` dims are K (then K is never split).
    pub b: View,
    pub b_inner: usize,
    pub trans_b: bool,
    /// `[N]` row added by the GEMM itself.
    pub bias: Option<View>,
    /// `dst *= alpha` after the product.
    pub alpha: f32,
    /// `dst += c` (broadcast to `[R, N]`) after that.
    pub c: Option<(View, Mode)>,
    /// `[R, N]` (leading dims flattened).
    pub out: View,
}

/// The stored form of a logical `[K, N]` right factor.
pub(super) fn stored_b(b: View) -> (View, bool) {
    let dense_rows = b.strides[1] == 1 || b.shape[1] == 1;
    if !dense_rows && (b.strides[0] == 1 || b.shape[0] == 1) {
        if let Some(t) = b.permute(&[1, 0]) {
            return (t, true);
        }
    }
    (b, false)
}

/// The operands of a numpy matmul (`MatMul`, `MatMulInteger`): vectors made matrices, the
/// left factor broadcast to the batch, `[m, k] × [k, n]` per batch index.
pub(super) struct Operands {
    /// `[batch.., m, k]`.
    pub a: View,
    /// As given (rank ≥ 2).
    pub b: View,
    pub batch: Vec<u64>,
    pub m: u64,
    pub k: u64,
    pub n: u64,
}

impl Operands {
    /// Operands 0 and 1 of `o`.
    pub fn of(ctx: &mut Ctx<'_>, o: &OpRef) -> Result<Operands, LowerError> {
        let mut a = ctx.view(o, ctx.operand(o, 0)?)?;
        let mut b = ctx.view(o, ctx.operand(o, 1)?)?;
        let bad = || o.err("operands do not have matmul shapes");
        if a.rank() == 1 {
            a = a.reshape(&[1, a.shape[0]]).ok_or_else(bad)?;
        }
        if b.rank() == 1 {
            b = b.reshape(&[b.shape[0], 1]).ok_or_else(bad)?;
        }
        let (ra, rb) = (a.rank(), b.rank());
        let (m, k, n) = (a.shape[ra - 2], a.shape[ra - 1], b.shape[rb - 1]);
        if b.shape[rb - 2] != k {
            return Err(bad());
        }
        let batch = broadcast_shapes(&a.shape[..ra - 2], &b.shape[..rb - 2]).ok_or_else(bad)?;
        let a = a
            .broadcast_to(&[batch.as_slice(), &[m, k]].concat())
            .ok_or_else(bad)?;
        Ok(Operands {
            a,
            b,
            batch,
            m,
            k,
            n,
        })
    }

    /// The number of batch indices.
    pub fn count(&self) -> u64 {
        self.batch.iter().product()
    }

    /// The right factor as `[k, n]` when it has no batch (every batch dim 1): the left
    /// factor's batch then folds into its rows.
    pub fn shared_b(&self) -> Option<View> {
        let rb = self.b.rank();
        self.b.shape[..rb - 2]
            .iter()
            .all(|&d| d == 1)
            .then(|| self.b.reshape(&[self.k, self.n]))
            .flatten()
    }

    /// Per batch index, in order: its `[m, k]` left factor, `[k, n]` right factor and `[m, n]`
    /// slice of `out` (the result, of shape `[batch.., m, n]` after a reshape).
    pub fn per_batch(&self, o: &OpRef, out: &View) -> Result<Vec<[View; 3]>, LowerError> {
        let bad = || o.err("operands do not have matmul shapes");
        let bb = self
            .b
            .broadcast_to(&[self.batch.as_slice(), &[self.k, self.n]].concat())
            .ok_or_else(bad)?;
        let outb = out
            .reshape(&[self.batch.as_slice(), &[self.m, self.n]].concat())
            .ok_or_else(bad)?;
        Ok((0..self.count())
            .map(|i| {
                let (mut ai, mut bi, mut oi) = (self.a.clone(), bb.clone(), outb.clone());
                let mut rest = i;
                for (d, &len) in self.batch.iter().enumerate().rev() {
                    let idx = rest % len;
                    rest /= len;
                    ai = ai.select(d, idx);
                    bi = bi.select(d, idx);
                    oi = oi.select(d, idx);
                }
                [ai, bi, oi]
            })
            .collect())
    }
}

/// Numpy broadcast of two batch shapes.
pub(super) fn broadcast_shapes(a: &[u64], b: &[u64]) -> Option<Vec<u64>> {
    let r = a.len().max(b.len());
    let dim = |s: &[u64], k: usize| (k + s.len()).checked_sub(r).map_or(1, |i| s[i]);
    (0..r)
        .map(|k| match (dim(a, k), dim(b, k)) {
            (x, y) if x == y || y == 1 => Some(x),
            (1, y) => Some(y),
            _ => None,
        })
        .collect()
}

/// `MatMul`: numpy matmul; a batch-free right factor folds the left factor's batch into rows.
pub fn matmul(ctx: &mut Ctx<'_>, o: &OpRef) -> Result<(), LowerError> {
    let (dt, shape) = ctx.shape_of(o, ctx.result(o, 0)?)?;
    let ops = Operands::of(ctx, o)?;
    let bad = || o.err("operands do not have matmul shapes");
    if let Some(b2) = ops.shared_b() {
        let fused = fold_adds(ctx, o, &shape)?;
        let out = ctx.new_result(&fused.last, 0, dt, shape)?;
        let out2 = out.reshape(&[ops.count() * ops.m, ops.n]).ok_or_else(bad)?;
        let (b2, trans_b) = stored_b(b2);
        let p = Product {
            a: ops.a,
            b: b2,
            b_inner: 1,
            trans_b,
            bias: fused.bias,
            alpha: 1.0,
            c: fused.c,
            out: out2,
        };
        return emit(ctx, o, dt, p);
    }
    let out = ctx.new_result(o, 0, dt, shape)?;
    for [ai, bi, oi] in ops.per_batch(o, &out)? {
        product(ctx, o, dt, ai, bi, oi)?;
    }
    Ok(())
}

fn product(
    ctx: &mut Ctx<'_>,
    o: &OpRef,
    dt: DType,
    a: View,
    b: View,
    out: View,
) -> Result<(), LowerError> {
    let (b, trans_b) = stored_b(b);
    emit(
        ctx,
        o,
        dt,
        Product {
            a,
            b,
            b_inner: 1,
            trans_b,
            bias: None,
            alpha: 1.0,
            c: None,
            out,
        },
    )
}

/// `Gemm`: `alpha·A'·B' + beta·C`.
pub fn gemm(ctx: &mut Ctx<'_>, o: &OpRef) -> Result<(), LowerError> {
    let (dt, shape) = ctx.shape_of(o, ctx.result(o, 0)?)?;
    let attrs = &ctx.m.op(o.op).attrs;
    let float = |k: &str| attrs.get(k).and_then(|a| a.as_float()).unwrap_or(1.0);
    let flag = |k: &str| attrs.get(k).and_then(|a| a.as_int()).unwrap_or(0) != 0;
    let (alpha, beta, ta, tb) = (
        float("alpha"),
        float("beta"),
        flag("transA"),
        flag("transB"),
    );
    let mut a = ctx.view(o, ctx.operand(o, 0)?)?;
    let mut b = ctx.view(o, ctx.operand(o, 1)?)?;
    if a.rank() != 2 || b.rank() != 2 || shape.len() != 2 {
        return Err(o.err("Gemm needs 2-D operands"));
    }
    if ta {
        a = a.permute(&[1, 0]).ok_or_else(|| o.err("bad A"))?;
    }
    if tb {
        b = b.permute(&[1, 0]).ok_or_else(|| o.err("bad B"))?;
    }
    let c_operand = ctx
        .m
        .op(o.op)
        .operands
        .get(2)
        .copied()
        .filter(|&v| ctx.m.value_type(v).as_tensor().is_some());
    let c = match c_operand {
        Some(v) if beta != 0.0 => {
            let view = ctx.view(o, v)?;
            let c = view
                .broadcast_to(&shape)
                .ok_or_else(|| o.err("C does not broadcast to the result"))?;
            if beta != 1.0 {
                return Err(o.err(format!("beta = {beta} with a C operand is not supported")));
            }
            Some((c.clone(), mode_of(&c)))
        }
        _ => None,
    };
    let (bias, c) = match c {
        Some((view, Mode::Row)) if alpha == 1.0 => (Some(view.select(0, 0)), None),
        other => (None, other),
    };
    let out = ctx.new_result(o, 0, dt, shape)?;
    let (b, trans_b) = stored_b(b);
    emit(
        ctx,
        o,
        dt,
        Product {
            a,
            b,
            b_inner: 1,
            trans_b,
            bias,
            alpha: alpha as f32,
            c,
            out,
        },
    )
}

/// Tile sizes (rows, k, n) with the fewest `GEMM`s; `None` when nothing fits.
fn choose_tiles(
    ctx: &Ctx<'_>,
    p: &Product,
    es: u64,
    r: u64,
    k: u64,
    n: u64,
) -> Option<(u64, u64, u64)> {
    let halvings = |x: u64| {
        let mut v = vec![x];
        while x > 1 && v[v.len() - 1] > 1 {
            let next = v[v.len() - 1].div_ceil(2);
            v.push(next);
        }
        v
    };
    let c_full =
        p.c.as_ref()
            .is_some_and(|(_, m)| *m != Mode::Row && *m != Mode::Scalar);
    let mut best: Option<(u64, (u64, u64, u64))> = None;
    let ks = if p.b_inner > 1 { vec![k] } else { halvings(k) };
    for kt in ks {
        for &nt in &halvings(n) {
            let mut needs = vec![
                Need::new(SramSpace::Token, 0, kt * es),
                Need::new(SramSpace::Weight, kt * nt * es, 0),
                Need::new(SramSpace::Temp, 0, nt * es),
            ];
            if p.bias.is_some() || p.c.is_some() {
                needs.push(Need::new(SramSpace::Weight, nt * es, 0));
            }
            if c_full {
                needs.push(Need::new(SramSpace::Token, 0, nt * es));
            }
            let mt = fit(ctx.hw, &needs, r);
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

pub(super) fn emit(ctx: &mut Ctx<'_>, o: &OpRef, dt: DType, p: Product) -> Result<(), LowerError> {
    if !dt.is_float() {
        return Err(o.err(format!(
            "{dt} matrix products are not supported (float only)"
        )));
    }
    let es = p.out.elem_bytes();
    let (r, k) = matrix_dims(&p.a, 1);
    let n = p.out.shape[p.out.rank() - 1];
    let (mt, kt, nt) =
        choose_tiles(ctx, &p, es, r, k, n).ok_or_else(|| o.err("no GEMM tile fits the SRAMs"))?;
    let k_steps: Vec<(u64, u64)> = chunks(k, kt).collect();
    let mut seg = Seg::new(ctx.hw, &mut ctx.out);
    let err = |e: ResourceError| o.err(e);
    let b_tile = |k0: u64, k1: u64, n0: u64, n1: u64| match p.trans_b {
        true => Tile {
            r0: n0,
            r1: n1,
            c0: k0,
            c1: k1,
        },
        false => Tile {
            r0: k0,
            r1: k1,
            c0: n0,
            c1: n1,
        },
    };
    let start = seg.mark();
    for (n0, n1) in chunks(n, nt) {
        let nn = n1 - n0;
        seg.release(start);
        // With one K step the B tile and bias stay loaded across row tiles.
        let mut resident: Option<(SramRef, Option<SramRef>)> = None;
        if k_steps.len() == 1 {
            resident = Some(load_b(&mut seg, &p, b_tile(0, k, n0, n1), n0, n1, es).map_err(err)?);
        }
        let n_mark = seg.mark();
        for (m0, m1) in chunks(r, mt) {
            seg.release(n_mark);
            let mm = m1 - m0;
            let dst = seg.alloc(SramSpace::Temp, mm * nn * es).map_err(err)?;
            let c_buf = load_c(
                &mut seg,
                &p,
                Tile {
                    r0: m0,
                    r1: m1,
                    c0: n0,
                    c1: n1,
                },
                es,
            )
            .map_err(err)?;
            let m_mark = seg.mark();
            for (step, &(k0, k1)) in k_steps.iter().enumerate() {
                seg.release(m_mark);
                let a_buf = seg
                    .alloc(SramSpace::Token, mm * (k1 - k0) * es)
                    .map_err(err)?;
                load(
                    &p.a,
                    1,
                    Tile {
                        r0: m0,
                        r1: m1,
                        c0: k0,
                        c1: k1,
                    },
                    a_buf,
                    seg.out,
                )
                .map_err(err)?;
                let (b_buf, bias) = match resident {
                    Some(x) => x,
                    None => {
                        load_b(&mut seg, &p, b_tile(k0, k1, n0, n1), n0, n1, es).map_err(err)?
                    }
                };
                seg.handoff(Engine::Dma, Engine::Kvpe);
                seg.push(Instr::Gemm {
                    dst,
                    a: a_buf,
                    b: b_buf,
                    bias: if step == 0 { bias } else { None },
                    m: narrow(o, mm)?,
                    n: narrow(o, nn)?,
                    k: narrow(o, k1 - k0)?,
                    trans_b: p.trans_b,
                    acc: step > 0,
                    dt,
                });
                if step + 1 < k_steps.len() {
                    seg.handoff(Engine::Kvpe, Engine::Dma);
                }
            }
            let (rows, cols) = (narrow(o, mm)?, narrow(o, nn)?);
            let last = epilogue(&mut seg, &p, dst, c_buf, rows, cols, dt);
            seg.handoff(last, Engine::Dma);
            store(
                &p.out,
                1,
                Tile {
                    r0: m0,
                    r1: m1,
                    c0: n0,
                    c1: n1,
                },
                dst,
                seg.out,
            )
            .map_err(err)?;
        }
    }
    Ok(())
}

/// Load the B tile (Weight SRAM) and, for the GEMM's own bias, the bias piece.
fn load_b(
    seg: &mut Seg<'_>,
    p: &Product,
    t: Tile,
    n0: u64,
    n1: u64,
    es: u64,
) -> Result<(SramRef, Option<SramRef>), ResourceError> {
    let b_buf = seg.alloc(SramSpace::Weight, t.rows() * t.cols() * es)?;
    load(
        &p.b,
        if p.trans_b { p.b_inner } else { 1 },
        t,
        b_buf,
        seg.out,
    )?;
    let bias = match &p.bias {
        Some(v) => {
            let at = seg.alloc(SramSpace::Weight, (n1 - n0) * es)?;
            load(
                v,
                1,
                Tile {
                    r0: 0,
                    r1: 1,
                    c0: n0,
                    c1: n1,
                },
                at,
                seg.out,
            )?;
            Some(at)
        }
        None => None,
    };
    Ok((b_buf, bias))
}

/// Load the epilogue's C window (row / scalar pieces in Weight, full tiles in Token).
fn load_c(
    seg: &mut Seg<'_>,
    p: &Product,
    t: Tile,
    es: u64,
) -> Result<Option<SramRef>, ResourceError> {
    let Some((view, mode)) = &p.c else {
        return Ok(None);
    };
    let (w, space) = match mode {
        Mode::Full => (t, SramSpace::Token),
        Mode::Col => (Tile { c0: 0, c1: 1, ..t }, SramSpace::Token),
        Mode::Row => (Tile { r0: 0, r1: 1, ..t }, SramSpace::Weight),
        Mode::Scalar => (
            Tile {
                r0: 0,
                r1: 1,
                c0: 0,
                c1: 1,
            },
            SramSpace::Weight,
        ),
    };
    let at = seg.alloc(space, w.rows() * w.cols() * es)?;
    load(view, 1, w, at, seg.out)?;
    Ok(Some(at))
}

/// `alpha` and `C` on the vector unit; returns the engine that finished last.
fn epilogue(
    seg: &mut Seg<'_>,
    p: &Product,
    dst: SramRef,
    c_buf: Option<SramRef>,
    rows: u32,
    cols: u32,
    dt: DType,
) -> Engine {
    if p.alpha == 1.0 && p.c.is_none() {
        return Engine::Kvpe;
    }
    seg.handoff(Engine::Kvpe, Engine::Vec);
    if p.alpha != 1.0 {
        seg.push(Instr::VecAffine {
            dst,
            a: dst,
            rows,
            cols,
            mul: p.alpha,
            add: 0.0,
            dt,
        });
    }
    if let (Some((_, mode)), Some(b)) = (&p.c, c_buf) {
        let bcast = match mode {
            Mode::Full => Bcast::None,
            Mode::Row => Bcast::Row,
            Mode::Col => Bcast::Col,
            Mode::Scalar => Bcast::Scalar,
        };
        seg.push(Instr::VecAdd {
            dst,
            a: dst,
            b,
            rows,
            cols,
            bcast,
            dt,
        });
    }
    Engine::Vec
}
