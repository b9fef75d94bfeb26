//! The tile loop shared by vector-unit ops (elementwise, casts, selects, norms).
//!
//! The output is read as a matrix (leading dims = rows, last `inner` dims = columns) and
//! walked in tiles that fit the SRAMs: whole rows when one fits, else (`inner == 1`) column
//! pieces of one row. Per tile: the DMA loads every input window, hands off to the vector
//! unit, which runs the op's instructions, hands back, and the DMA stores the result. Inputs
//! that are the same for every row (`Row`) or a single element (`Scalar`) are loaded once
//! before the loop when the columns are not split.

use sofa_ir::isa::{Bcast, DType, Engine, Instr, SramRef, SramSpace};

use super::dma::{load, matrix_dims, store, Tile};
use super::seg::Seg;
use super::tiling::{chunks, fit, Need};
use super::view::View;
use super::{Ctx, OpRef};
use crate::lower::LowerError;

/// How an input is read per tile (its view is already broadcast to the output's shape).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The tile itself.
    Full,
    /// One row of the tile's columns (the same for all rows): `bcast=row`.
    Row,
    /// One element per tile row: `bcast=col`.
    Col,
    /// One element: `bcast=scalar`.
    Scalar,
}

impl Mode {
    /// The vector instructions' broadcast of an operand read this way.
    pub fn bcast(self) -> Bcast {
        match self {
            Mode::Full => Bcast::None,
            Mode::Row => Bcast::Row,
            Mode::Col => Bcast::Col,
            Mode::Scalar => Bcast::Scalar,
        }
    }
}

/// One input of a vector op.
#[derive(Clone, Debug)]
pub struct Input {
    pub view: View,
    pub mode: Mode,
}

impl Input {
    pub fn full(view: View) -> Input {
        Input {
            view,
            mode: Mode::Full,
        }
    }
}

/// The SRAM buffers of one tile, handed to the op's instruction builder.
pub struct Step {
    pub ins: Vec<SramRef>,
    pub dst: SramRef,
    /// Extra scratch buffers of the output's size and type.
    pub tmp: Vec<SramRef>,
    pub rows: u32,
    pub cols: u32,
}

/// Options of [`map_tiles`].
pub struct Shape {
    /// Trailing dims of the output that form the columns (whole rows only when > 1).
    pub inner: usize,
    /// Scratch buffers per tile.
    pub extra: usize,
    /// Whether the result may overwrite input 0's buffer.
    pub in_place: bool,
}

/// The mode a binary op's second operand can use, from its broadcast strides.
pub fn mode_of(view: &View) -> Mode {
    let r = view.rank();
    if view.is_scalar_like() {
        return Mode::Scalar;
    }
    if r == 0 {
        return Mode::Full;
    }
    let (outer, last) = (&view.strides[..r - 1], view.strides[r - 1]);
    let outer_fixed = outer
        .iter()
        .zip(&view.shape)
        .all(|(&s, &n)| s == 0 || n == 1);
    if outer_fixed {
        Mode::Row
    } else if last == 0 || view.shape[r - 1] == 1 {
        Mode::Col
    } else {
        Mode::Full
    }
}

/// A buffer of the tile loop: bytes per unit (row or column) or fixed.
struct Buf {
    space: SramSpace,
    dt: DType,
    mode: Mode,
}

fn bytes_of(dt: DType, n: u64) -> u64 {
    dt.bits().div_ceil(8) * n
}

/// Place buffers of `per_unit` bytes, each in the space with the most room per byte.
fn place(ctx: &Ctx<'_>, sizes: &[(DType, Mode)]) -> Vec<Buf> {
    let spaces = [SramSpace::Token, SramSpace::Weight, SramSpace::Temp];
    let mut load = [0u64; 3];
    sizes
        .iter()
        .map(|&(dt, mode)| {
            let w = if mode == Mode::Full {
                bytes_of(dt, 1)
            } else {
                0
            };
            let best = (0..3)
                .max_by_key(|&k| {
                    let cap = ctx.hw.sram_capacity(spaces[k]);
                    // Ties go to the earlier space (max_by_key keeps the last maximum).
                    (cap / (load[k] + w).max(1), 3 - k)
                })
                .unwrap_or(0);
            load[best] += w;
            Buf {
                space: spaces[best],
                dt,
                mode,
            }
        })
        .collect()
}

/// Run `emit` over every tile of `out`; see the module docs.
pub fn map_tiles(
    ctx: &mut Ctx<'_>,
    o: &OpRef,
    inputs: &[Input],
    out: &View,
    shape: Shape,
    emit: &mut dyn FnMut(&Step) -> Vec<Instr>,
) -> Result<(), LowerError> {
    let (rows, cols) = matrix_dims(out, shape.inner);
    let in_place = shape.in_place
        && inputs
            .first()
            .is_some_and(|i| i.mode == Mode::Full && i.view.dt == out.dt);
    let mut sizes: Vec<(DType, Mode)> = inputs.iter().map(|i| (i.view.dt, i.mode)).collect();
    if !in_place {
        sizes.push((out.dt, Mode::Full));
    }
    sizes.extend((0..shape.extra).map(|_| (out.dt, Mode::Full)));
    let bufs = place(ctx, &sizes);
    let (rc, cc) = tile_size(ctx, &bufs, rows, cols, shape.inner)
        .ok_or_else(|| o.err(format!("one row of {cols} elements does not fit on chip")))?;
    let hoist = cc == cols;
    let mut seg = Seg::new(ctx.hw, &mut ctx.out);
    // Hoisted loads: fixed buffers allocated once, loaded before the first tile.
    let mut fixed: Vec<Option<SramRef>> = vec![None; inputs.len()];
    if hoist {
        for (k, input) in inputs.iter().enumerate() {
            if matches!(input.mode, Mode::Row | Mode::Scalar) {
                let t = window(input.mode, full_tile(rows, cols));
                let at = seg
                    .alloc(bufs[k].space, bytes_of(input.view.dt, t.rows() * t.cols()))
                    .map_err(|e| o.err(e))?;
                load(&input.view, shape.inner, t, at, seg.out).map_err(|e| o.err(e))?;
                fixed[k] = Some(at);
            }
        }
    }
    let mark = seg.mark();
    for (r0, r1) in chunks(rows, rc) {
        for (c0, c1) in chunks(cols, cc) {
            seg.release(mark);
            let t = Tile { r0, r1, c0, c1 };
            let n = t.rows() * t.cols();
            let mut ins = Vec::with_capacity(inputs.len());
            for (k, input) in inputs.iter().enumerate() {
                if let Some(at) = fixed[k] {
                    ins.push(at);
                    continue;
                }
                let w = window(input.mode, t);
                let at = seg
                    .alloc(bufs[k].space, bytes_of(input.view.dt, w.rows() * w.cols()))
                    .map_err(|e| o.err(e))?;
                load(&input.view, shape.inner, w, at, seg.out).map_err(|e| o.err(e))?;
                ins.push(at);
            }
            let mut extra = bufs[inputs.len()..].iter();
            let dst = if in_place {
                ins[0]
            } else {
                let b = extra.next().ok_or_else(|| o.err("no output buffer"))?;
                seg.alloc(b.space, bytes_of(b.dt, n))
                    .map_err(|e| o.err(e))?
            };
            let tmp = extra
                .map(|b| seg.alloc(b.space, bytes_of(b.dt, n)))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| o.err(e))?;
            let step = Step {
                ins,
                dst,
                tmp,
                rows: narrow(o, t.rows())?,
                cols: narrow(o, t.cols())?,
            };
            seg.handoff(Engine::Dma, Engine::Vec);
            for i in emit(&step) {
                seg.push(i);
            }
            seg.handoff(Engine::Vec, Engine::Dma);
            store(out, shape.inner, t, dst, seg.out).map_err(|e| o.err(e))?;
        }
    }
    Ok(())
}

/// Rows and columns per tile: whole rows if one fits, else column pieces of single rows.
fn tile_size(
    ctx: &Ctx<'_>,
    bufs: &[Buf],
    rows: u64,
    cols: u64,
    inner: usize,
) -> Option<(u64, u64)> {
    let per_row: Vec<Need> = bufs
        .iter()
        .map(|b| match b.mode {
            Mode::Full => Need::new(b.space, 0, bytes_of(b.dt, cols)),
            Mode::Row => Need::new(b.space, bytes_of(b.dt, cols), 0),
            Mode::Col => Need::new(b.space, 0, bytes_of(b.dt, 1)),
            Mode::Scalar => Need::new(b.space, bytes_of(b.dt, 1), 0),
        })
        .collect();
    let rc = fit(ctx.hw, &per_row, rows);
    if rc > 0 {
        return Some((rc, cols));
    }
    if inner != 1 {
        return None;
    }
    let per_col: Vec<Need> = bufs
        .iter()
        .map(|b| match b.mode {
            Mode::Full | Mode::Row => Need::new(b.space, 0, bytes_of(b.dt, 1)),
            Mode::Col | Mode::Scalar => Need::new(b.space, bytes_of(b.dt, 1), 0),
        })
        .collect();
    let cc = fit(ctx.hw, &per_col, cols);
    (cc > 0).then_some((1, cc))
}

fn full_tile(rows: u64, cols: u64) -> Tile {
    Tile {
        r0: 0,
        r1: rows,
        c0: 0,
        c1: cols,
    }
}

/// The part of an input a tile reads in its mode.
fn window(mode: Mode, t: Tile) -> Tile {
    match mode {
        Mode::Full => t,
        Mode::Row => Tile { r0: 0, r1: 1, ..t },
        Mode::Col => Tile { c0: 0, c1: 1, ..t },
        Mode::Scalar => Tile {
            r0: 0,
            r1: 1,
            c0: 0,
            c1: 1,
        },
    }
}

pub fn narrow(o: &OpRef, v: u64) -> Result<u32, LowerError> {
    u32::try_from(v).map_err(|_| o.err(format!("dimension {v} exceeds 32 bits")))
}
