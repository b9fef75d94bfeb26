//! One 2-D product `[R × K] · [K × N]` with its epilogue on the PE array (`GEMM`), software
//! pipelined over its tiles.
//!
//! The product is tiled so the A rows fit Token SRAM, the B tile (and the bias row) Weight
//! SRAM and the result Temp SRAM; `K` is split with `acc=true` only when a useful B tile cannot
//! hold all of it. Tile sizes come from the hardware's cycle formulas ([`layout`]). B is read
//! with `trans_b=true`
//! when its stored rows are the columns of the product (`Gemm transB`, or a transposed view),
//! so both layouts load with whole-row DMA. `alpha` and a non-row `C` become vector ops after
//! the last `K` step.
//!
//! **Double buffering.** The inputs of a step (its A rows, B tile and bias, and its tile's
//! C window) can have two copies, and so can the result; DMA then runs one step ahead: it
//! loads step `j + 1` into the other copy, then waits for step `j` and stores its tile, so the
//! loads overlap the PE array's work. A rows and B tiles alternate per step, C windows and
//! results per tile, a B tile kept for all row tiles of its column chunk (one `K` step) per
//! chunk; a copy is reused two steps (tiles, chunks) later, after DMA has waited for the step
//! that last read it. With one result copy DMA signals the PE array after that store, so
//! only the loads overlap; with two, the store does too. Each step ends with one signal to
//! DMA, from the PE array or, when two result copies meet an epilogue, from the vector unit on
//! every step (so that the signals reach DMA in step order).
//!
//! Copies take SRAM from the tiles, and the PE array costs a full pass for a tile of fewer
//! than `kvpe.rows` rows, so more copies are not always faster. The tiles of each layout
//! (one copy of everything, two of the inputs, two of everything) are chosen by an estimate
//! from the cycle formulas ([`layout`]); the layouts are then timed on their first steps
//! with the simulator's timing model, and as in `cct-tile`'s objective the one with the
//! fewest DRAM bytes wins unless another is more than 3% faster.

mod layout;

use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{DType, Engine, Instr, SramRef, SramSpace};

use super::dma::{load, matrix_dims, store, Tile};
use super::seg::Seg;
use super::tiling::chunks;
use super::vector::{narrow, Mode};
use super::view::View;
use super::{Ctx, OpRef};
use crate::lower::LowerError;
use crate::lower::ResourceError;
use layout::{choose_tiles, pick, Copies, Layout, Tiles};

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

impl Product {
    /// Whether the vector unit finishes each tile (`alpha`, `C`).
    fn has_epilogue(&self) -> bool {
        self.alpha != 1.0 || self.c.is_some()
    }

    /// The C window of result tile `t` and its space (row / scalar pieces in Weight, full
    /// tiles and columns in Token).
    fn c_window(&self, t: Tile) -> Option<(Tile, SramSpace)> {
        let (_, mode) = self.c.as_ref()?;
        Some(match mode {
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
        })
    }

    /// The B tile of `K` range `k` and columns `n`, as stored.
    fn b_tile(&self, (k0, k1): (u64, u64), (n0, n1): (u64, u64)) -> Tile {
        match self.trans_b {
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
        }
    }
}

/// One `GEMM` step: rows `m`, columns `n`, `K` range `k`.
#[derive(Copy, Clone)]
struct Step {
    m: (u64, u64),
    n: (u64, u64),
    k: (u64, u64),
    /// First and last `K` step of its result tile.
    first: bool,
    last: bool,
    /// Index of its result tile, and of its column chunk.
    tile: usize,
    chunk: usize,
    /// The first step of its column chunk.
    chunk_start: bool,
}

impl Step {
    fn result(&self) -> Tile {
        Tile {
            r0: self.m.0,
            r1: self.m.1,
            c0: self.n.0,
            c1: self.n.1,
        }
    }
}

/// How many `GEMM` steps `tiles` make of an `(r, k, n)` product.
fn step_count((r, k, n): Tiles, (mt, kt, nt): Tiles) -> u64 {
    r.div_ceil(mt) * k.div_ceil(kt) * n.div_ceil(nt)
}

/// The first `max` steps in program order: column chunks, row tiles, `K` steps.
fn steps((r, k, n): Tiles, (mt, kt, nt): Tiles, max: usize) -> Vec<Step> {
    let k_steps: Vec<(u64, u64)> = chunks(k, kt).collect();
    let mut out = Vec::new();
    let mut tile = 0;
    for (chunk, n_range) in chunks(n, nt).enumerate() {
        for (row, m_range) in chunks(r, mt).enumerate() {
            for (i, &k_range) in k_steps.iter().enumerate() {
                if out.len() == max {
                    return out;
                }
                out.push(Step {
                    m: m_range,
                    n: n_range,
                    k: k_range,
                    first: i == 0,
                    last: i + 1 == k_steps.len(),
                    tile,
                    chunk,
                    chunk_start: row == 0 && i == 0,
                });
            }
            tile += 1;
        }
    }
    out
}

/// One copy of a step's inputs.
struct Inputs {
    a: SramRef,
    b: SramRef,
    bias: Option<SramRef>,
    c: Option<SramRef>,
}

fn allocate_inputs(
    seg: &mut Seg<'_>,
    p: &Product,
    es: u64,
    (mt, kt, nt): Tiles,
) -> Result<Inputs, ResourceError> {
    let whole = Tile {
        r0: 0,
        r1: mt,
        c0: 0,
        c1: nt,
    };
    Ok(Inputs {
        a: seg.alloc(SramSpace::Token, mt * kt * es)?,
        b: seg.alloc(SramSpace::Weight, kt * nt * es)?,
        bias: match p.bias {
            Some(_) => Some(seg.alloc(SramSpace::Weight, nt * es)?),
            None => None,
        },
        c: match p.c_window(whole) {
            Some((w, space)) => Some(seg.alloc(space, w.rows() * w.cols() * es)?),
            None => None,
        },
    })
}

pub(super) fn emit(ctx: &mut Ctx<'_>, o: &OpRef, dt: DType, p: Product) -> Result<(), LowerError> {
    if !dt.is_float() {
        return Err(o.err(format!(
            "{dt} matrix products are not supported (float only)"
        )));
    }
    let es = p.out.elem_bytes();
    let (r, k) = matrix_dims(&p.a, 1);
    let dims = (r, k, p.out.shape[p.out.rank() - 1]);
    let hw = ctx.hw;
    let layouts: Vec<Layout> = Copies::ALL
        .into_iter()
        .filter_map(|c| Some((dims, choose_tiles(hw, &p, es, dims, c)?, c)))
        .collect();
    let chosen = match layouts.as_slice() {
        [] => return Err(o.err("no GEMM tile fits the SRAMs")),
        [only] => *only,
        _ => pick(hw, o, dt, &p, &layouts)?,
    };
    emit_tiled(hw, o, dt, &p, chosen, usize::MAX, &mut ctx.out)
}

/// The product's instructions in `layout` (see the module doc), for its first `max_steps`
/// steps.
fn emit_tiled(
    hw: &HwConfig,
    o: &OpRef,
    dt: DType,
    p: &Product,
    (dims, tiles, copies): Layout,
    max_steps: usize,
    out: &mut Vec<Instr>,
) -> Result<(), LowerError> {
    let es = p.out.elem_bytes();
    let mut seg = Seg::new(hw, out);
    let err = |e: ResourceError| o.err(e);
    let inputs = (0..copies.inputs)
        .map(|_| allocate_inputs(&mut seg, p, es, tiles))
        .collect::<Result<Vec<Inputs>, _>>()
        .map_err(err)?;
    let (mt, _, nt) = tiles;
    let results = (0..copies.results)
        .map(|_| seg.alloc(SramSpace::Temp, mt * nt * es))
        .collect::<Result<Vec<SramRef>, _>>()
        .map_err(err)?;
    let steps = steps(dims, tiles, max_steps);
    // With one K step a B tile serves every row tile of its column chunk.
    let b_per_chunk = tiles.1 >= dims.1;
    let input = |i: usize| &inputs[i % inputs.len()];
    let result = |s: &Step| results[s.tile % results.len()];
    // Two result copies: the next GEMM may start before the last tile is stored.
    let early = copies.results > 1;
    let ahead = copies.inputs > 1;
    for (j, s) in steps.iter().enumerate() {
        let (a, c) = (input(j), input(s.tile));
        let b = if b_per_chunk { input(s.chunk) } else { a };
        load_step(&mut seg, p, s, (a, b, c), b_per_chunk).map_err(err)?;
        if early {
            seg.signal(Engine::Dma, Engine::Kvpe);
        }
        if let Some(prev) = j.checked_sub(1).filter(|_| ahead) {
            store_step(&mut seg, p, &steps[prev], result(&steps[prev])).map_err(err)?;
        }
        if !early {
            seg.signal(Engine::Dma, Engine::Kvpe);
        }
        seg.wait(Engine::Kvpe);
        seg.push(Instr::Gemm {
            dst: result(s),
            a: a.a,
            b: b.b,
            bias: if s.first { b.bias } else { None },
            m: narrow(o, s.m.1 - s.m.0)?,
            n: narrow(o, s.n.1 - s.n.0)?,
            k: narrow(o, s.k.1 - s.k.0)?,
            trans_b: p.trans_b,
            acc: !s.first,
            dt,
        });
        finish_step(&mut seg, o, p, (s, early), (result(s), c.c), dt)?;
        if !ahead {
            store_step(&mut seg, p, s, result(s)).map_err(err)?;
        }
    }
    if let Some(last) = steps.last().filter(|_| ahead) {
        store_step(&mut seg, p, last, result(last)).map_err(err)?;
    }
    Ok(())
}

/// DMA: step `s`'s A rows into `a`, its B tile into `b` (and on a first step the bias) unless
/// the column chunk's are already there, and on a tile's first step its C window into `c`.
fn load_step(
    seg: &mut Seg<'_>,
    p: &Product,
    s: &Step,
    (a, b, c): (&Inputs, &Inputs, &Inputs),
    b_per_chunk: bool,
) -> Result<(), ResourceError> {
    if s.first {
        if let (Some((view, _)), Some((w, _)), Some(at)) = (&p.c, p.c_window(s.result()), c.c) {
            load(view, 1, w, at, seg.out)?;
        }
    }
    let rows = Tile {
        r0: s.m.0,
        r1: s.m.1,
        c0: s.k.0,
        c1: s.k.1,
    };
    load(&p.a, 1, rows, a.a, seg.out)?;
    if b_per_chunk && !s.chunk_start {
        return Ok(());
    }
    let inner = if p.trans_b { p.b_inner } else { 1 };
    load(&p.b, inner, p.b_tile(s.k, s.n), b.b, seg.out)?;
    // The bias goes in with the first K step only.
    if let (Some(v), Some(at), true) = (&p.bias, b.bias, s.first) {
        let row = Tile {
            r0: 0,
            r1: 1,
            c0: s.n.0,
            c1: s.n.1,
        };
        load(v, 1, row, at, seg.out)?;
    }
    Ok(())
}

/// The end of step `s`: on a tile's last step the epilogue, then one signal to DMA. With
/// `relay` (two result copies: steps overlap) a product with an epilogue signals from the
/// vector unit on every step, so that the signals arrive in step order; otherwise DMA waits
/// for each step before the PE array may start the next, and the PE array signals directly
/// on steps without the epilogue.
fn finish_step(
    seg: &mut Seg<'_>,
    o: &OpRef,
    p: &Product,
    (s, relay): (&Step, bool),
    (dst, c): (SramRef, Option<SramRef>),
    dt: DType,
) -> Result<(), LowerError> {
    if !p.has_epilogue() || (!s.last && !relay) {
        seg.signal(Engine::Kvpe, Engine::Dma);
        return Ok(());
    }
    seg.signal(Engine::Kvpe, Engine::Vec);
    seg.wait(Engine::Vec);
    if s.last {
        let (rows, cols) = (narrow(o, s.m.1 - s.m.0)?, narrow(o, s.n.1 - s.n.0)?);
        epilogue(seg, p, (dst, c), (rows, cols), dt);
    }
    seg.signal(Engine::Vec, Engine::Dma);
    Ok(())
}

/// DMA: wait for step `s`, and on its tile's last step store the result from `dst`.
fn store_step(seg: &mut Seg<'_>, p: &Product, s: &Step, dst: SramRef) -> Result<(), ResourceError> {
    seg.wait(Engine::Dma);
    if s.last {
        store(&p.out, 1, s.result(), dst, seg.out)?;
    }
    Ok(())
}

/// `alpha` and `C` (its window at `c`) on the vector unit, in place at `dst`.
fn epilogue(
    seg: &mut Seg<'_>,
    p: &Product,
    (dst, c): (SramRef, Option<SramRef>),
    (rows, cols): (u32, u32),
    dt: DType,
) {
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
    if let (Some((_, mode)), Some(b)) = (&p.c, c) {
        seg.push(Instr::VecAdd {
            dst,
            a: dst,
            b,
            rows,
            cols,
            bcast: mode.bcast(),
            dt,
        });
    }
}
