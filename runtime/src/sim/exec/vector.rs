//! The vector unit's arithmetic: binary elementwise ops with broadcast, comparisons
//! (`VEC.CMP`), unary functions, `VEC.AFFINE`, and the row reductions `VEC.REDUCE`,
//! `VEC.SOFTMAX`, `VEC.LAYERNORM`, `VEC.RMSNORM`.
//!
//! Values are decoded to `f32` once, computed, and encoded back in `dt`. The special functions
//! and the reductions are the host reference interpreter's own (`sofa_ir::eval`): erf and GELU
//! in `f64` (erf accurate to a few `f64` ulps), softmax max-subtracted with an `f64` sum, norm
//! statistics in `f64`, so a simulated model matches the interpreter to rounding.

use sofa_ir::eval::elementwise::{erf_f32, sigmoid};
use sofa_ir::eval::nn::{gelu_exact, gelu_tanh, softmax_strided};
use sofa_ir::isa::{Bcast, CmpOp, DType, ReduceOp, SramRef};

use super::data::{int_at, live, load_f32, mul, read_list, store_f32};
use super::{Done, ExecError};
use crate::sim::memory::Memory;

/// A binary elementwise operation.
#[derive(Clone, Copy, Debug)]
pub(super) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Max,
}

/// A unary elementwise function.
#[derive(Clone, Copy, Debug)]
pub(super) enum UnOp {
    Exp,
    Erf,
    Gelu,
    GeluTanh,
    Silu,
    Relu,
    Tanh,
    Sigmoid,
    Sqrt,
    Recip,
    Cos,
    Sin,
    /// `x·mul + add`.
    Affine(f32, f32),
}

/// The `rows × cols` matrix of a vector instruction.
#[derive(Clone, Copy)]
pub(super) struct Mat {
    pub rows: u32,
    pub cols: u32,
    pub dt: DType,
}

impl Mat {
    pub fn dims(self) -> (usize, usize) {
        (self.rows as usize, self.cols as usize)
    }

    pub fn len(self) -> Result<usize, ExecError> {
        mul(self.rows as usize, self.cols as usize)
    }
}

/// NaN-propagating max (ONNX `Max`), unlike `f32::max`.
fn max_nan(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else {
        a.max(b)
    }
}

/// `out[r][c] = f(a[r][c], b[bi(r, c)])` with `b` broadcast per `bcast`.
fn zip_bcast(
    a: &[f32],
    b: &[f32],
    (rows, cols): (usize, usize),
    bcast: Bcast,
    f: impl Fn(f32, f32) -> f32,
) -> Vec<f32> {
    let mut out = Vec::with_capacity(a.len());
    for r in 0..rows {
        let arow = &a[r * cols..(r + 1) * cols];
        match bcast {
            Bcast::None => out.extend(
                arow.iter()
                    .zip(&b[r * cols..(r + 1) * cols])
                    .map(|(&x, &y)| f(x, y)),
            ),
            Bcast::Row => out.extend(arow.iter().zip(b).map(|(&x, &y)| f(x, y))),
            Bcast::Col => out.extend(arow.iter().map(|&x| f(x, b[r]))),
            Bcast::Scalar => out.extend(arow.iter().map(|&x| f(x, b[0]))),
        }
    }
    out
}

/// `VEC.ADD/SUB/MUL/DIV/MAX`: `dst = a ∘ b`, `b` broadcast.
pub(super) fn binary(
    mem: &mut Memory,
    op: BinOp,
    (dst, a, b): (SramRef, SramRef, SramRef),
    m: Mat,
    bcast: Bcast,
) -> Result<Done, ExecError> {
    let (rows, cols) = m.dims();
    let b_len = match bcast {
        Bcast::None => m.len()?,
        Bcast::Row => cols,
        Bcast::Col => rows,
        Bcast::Scalar => 1,
    };
    let av = load_f32(mem, a, m.dt, m.len()?)?;
    let bv = load_f32(mem, b, m.dt, b_len)?;
    let dims = (rows, cols);
    let out = match op {
        BinOp::Add => zip_bcast(&av, &bv, dims, bcast, |x, y| x + y),
        BinOp::Sub => zip_bcast(&av, &bv, dims, bcast, |x, y| x - y),
        BinOp::Mul => zip_bcast(&av, &bv, dims, bcast, |x, y| x * y),
        BinOp::Div => zip_bcast(&av, &bv, dims, bcast, |x, y| x / y),
        BinOp::Max => zip_bcast(&av, &bv, dims, bcast, max_nan),
    };
    store_f32(mem, dst, m.dt, &out)?;
    Ok(Done::default())
}

/// `VEC.CMP`: `dst[i] = a[i] op b[bi(i)]` as bytes 0/1; integers (and `i1`) compare exactly as
/// `i64`, floats as IEEE `f32` (the host interpreter's `Equal`/`Less`/…; `ne` is `IsNaN` when
/// `a` is `b`).
pub(super) fn compare(
    mem: &mut Memory,
    op: CmpOp,
    (dst, a, b): (SramRef, SramRef, SramRef),
    m: Mat,
    bcast: Bcast,
) -> Result<Done, ExecError> {
    let dims = m.dims();
    let n = m.len()?;
    let b_len = match bcast {
        Bcast::None => n,
        Bcast::Row => dims.1,
        Bcast::Col => dims.0,
        Bcast::Scalar => 1,
    };
    let out = if m.dt.is_float() {
        let (av, bv) = (load_f32(mem, a, m.dt, n)?, load_f32(mem, b, m.dt, b_len)?);
        compare_bcast(&av, &bv, dims, bcast, op)
    } else {
        let (av, bv) = (load_ints(mem, a, m.dt, n)?, load_ints(mem, b, m.dt, b_len)?);
        compare_bcast(&av, &bv, dims, bcast, op)
    };
    mem.sram_at_mut(dst, out.len())?.copy_from_slice(&out);
    Ok(Done::default())
}

/// `n` integer elements of `dt` as `i64` (`i1`: any non-zero byte is 1).
fn load_ints(mem: &Memory, at: SramRef, dt: DType, n: usize) -> Result<Vec<i64>, ExecError> {
    let bytes = mem.sram_at(at, super::data::byte_len(dt, n)?)?;
    Ok((0..n)
        .map(|i| match dt {
            DType::I1 => i64::from(int_at(bytes, dt, i) != 0),
            _ => int_at(bytes, dt, i),
        })
        .collect())
}

/// `a op b` per element with `b` broadcast per `bcast`, as bytes 0/1.
fn compare_bcast<T: PartialOrd + Copy>(
    a: &[T],
    b: &[T],
    (rows, cols): (usize, usize),
    bcast: Bcast,
    op: CmpOp,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len());
    for r in 0..rows {
        for c in 0..cols {
            let y = match bcast {
                Bcast::None => b[r * cols + c],
                Bcast::Row => b[c],
                Bcast::Col => b[r],
                Bcast::Scalar => b[0],
            };
            out.push(u8::from(cmp(op, a[r * cols + c], y)));
        }
    }
    out
}

fn cmp<T: PartialOrd>(op: CmpOp, x: T, y: T) -> bool {
    match op {
        CmpOp::Eq => x == y,
        CmpOp::Ne => x != y,
        CmpOp::Lt => x < y,
        CmpOp::Le => x <= y,
        CmpOp::Gt => x > y,
        CmpOp::Ge => x >= y,
    }
}

/// `VEC.REDUCE`: one value per row; sums in `f64` rounded once, max/min NaN-propagating (the
/// reference `ReduceSum`/`ReduceMean`/`ReduceMax`/`ReduceMin`).
pub(super) fn reduce(
    mem: &mut Memory,
    op: ReduceOp,
    (dst, a): (SramRef, SramRef),
    m: Mat,
) -> Result<Done, ExecError> {
    let (_, cols) = m.dims();
    let v = load_f32(mem, a, m.dt, m.len()?)?;
    let out: Vec<f32> = v
        .chunks_exact(cols.max(1))
        .map(|row| reduce_row(op, row))
        .collect();
    store_f32(mem, dst, m.dt, &out)?;
    Ok(Done::default())
}

fn reduce_row(op: ReduceOp, row: &[f32]) -> f32 {
    let nan_or = |f: fn(f64, f64) -> f64, init: f64| {
        row.iter().fold(init, |acc, &x| {
            let x = f64::from(x);
            if acc.is_nan() || x.is_nan() {
                f64::NAN
            } else {
                f(acc, x)
            }
        })
    };
    let r = match op {
        ReduceOp::Sum => row.iter().map(|&x| f64::from(x)).sum::<f64>(),
        ReduceOp::Mean => row.iter().map(|&x| f64::from(x)).sum::<f64>() / row.len() as f64,
        ReduceOp::Max => nan_or(f64::max, f64::NEG_INFINITY),
        ReduceOp::Min => nan_or(f64::min, f64::INFINITY),
    };
    r as f32
}

/// The function of a unary op.
fn unary_fn(op: UnOp) -> impl Fn(f32) -> f32 {
    move |x: f32| match op {
        UnOp::Exp => x.exp(),
        UnOp::Erf => erf_f32(x),
        UnOp::Gelu => gelu_exact(x),
        UnOp::GeluTanh => gelu_tanh(x),
        UnOp::Silu => x * sigmoid(x),
        UnOp::Relu => {
            if x < 0.0 {
                0.0
            } else {
                x
            }
        }
        UnOp::Tanh => x.tanh(),
        UnOp::Sigmoid => sigmoid(x),
        UnOp::Sqrt => x.sqrt(),
        UnOp::Recip => 1.0 / x,
        UnOp::Cos => x.cos(),
        UnOp::Sin => x.sin(),
        UnOp::Affine(mul, add) => x * mul + add,
    }
}

/// `VEC.EXP … VEC.RECIP`, `VEC.AFFINE`: `dst = f(a)`.
pub(super) fn unary(
    mem: &mut Memory,
    op: UnOp,
    (dst, a): (SramRef, SramRef),
    m: Mat,
) -> Result<Done, ExecError> {
    let mut v = load_f32(mem, a, m.dt, m.len()?)?;
    let f = unary_fn(op);
    v.iter_mut().for_each(|x| *x = f(*x));
    store_f32(mem, dst, m.dt, &v)?;
    Ok(Done::default())
}

/// `VEC.SOFTMAX`: row-wise, max-subtracted.
pub(super) fn softmax(
    mem: &mut Memory,
    (dst, a): (SramRef, SramRef),
    m: Mat,
) -> Result<Done, ExecError> {
    let (rows, cols) = m.dims();
    let mut v = load_f32(mem, a, m.dt, m.len()?)?;
    for r in 0..rows {
        softmax_strided(&mut v, r * cols, cols, 1, false);
    }
    store_f32(mem, dst, m.dt, &v)?;
    Ok(Done::default())
}

/// Normalisation operands: `x`, `gamma`, optional `beta`, and `eps`.
pub(super) struct Norm {
    pub dst: SramRef,
    pub x: SramRef,
    pub gamma: SramRef,
    pub beta: Option<SramRef>,
    pub eps: f32,
    /// LayerNorm (subtract the mean) or RMSNorm.
    pub centered: bool,
}

/// `VEC.LAYERNORM` / `VEC.RMSNORM`: per row `(x − mean) / sqrt(var + eps) · gamma + beta`, or
/// `x / sqrt(mean(x²) + eps) · gamma`; statistics in `f64`.
pub(super) fn normalize(mem: &mut Memory, p: Norm, m: Mat) -> Result<Done, ExecError> {
    let (_, cols) = m.dims();
    let mut v = load_f32(mem, p.x, m.dt, m.len()?)?;
    let gamma = load_f32(mem, p.gamma, m.dt, cols)?;
    let beta = match p.beta {
        Some(b) => Some(load_f32(mem, b, m.dt, cols)?),
        None => None,
    };
    let eps = f64::from(p.eps);
    for row in v.chunks_exact_mut(cols.max(1)) {
        let n = row.len() as f64;
        let mean = if p.centered {
            row.iter().map(|&a| f64::from(a)).sum::<f64>() / n
        } else {
            0.0
        };
        let var = row
            .iter()
            .map(|&a| (f64::from(a) - mean).powi(2))
            .sum::<f64>()
            / n;
        let inv = 1.0 / (var + eps).sqrt();
        for (j, x) in row.iter_mut().enumerate() {
            let normed = ((f64::from(*x) - mean) * inv) as f32;
            *x = normed * gamma[j] + beta.as_ref().map_or(0.0, |b| b[j]);
        }
    }
    store_f32(mem, p.dst, m.dt, &v)?;
    Ok(Done::default())
}

/// `VEC.ROPE` operands.
pub(super) struct Rope {
    pub dst: SramRef,
    pub x: SramRef,
    pub table: SramRef,
    pub pos: Option<SramRef>,
    pub table_rows: u32,
    pub interleaved: bool,
}

/// `VEC.ROPE`: rotate pairs `(j, j + cols/2)` (or `(2j, 2j+1)` interleaved) of each row by the
/// cos|sin table row of its position (`pos[i]`, or `i` without a list). With a list only its
/// `count` rows are processed and `NO_INDEX` rows are left untouched.
pub(super) fn rope(mem: &mut Memory, p: Rope, m: Mat) -> Result<Done, ExecError> {
    let (rows, cols) = m.dims();
    let half = cols / 2;
    let (positions, touched) = match p.pos {
        Some(at) => {
            let list = read_list(mem, at, rows as u64, "pos")?;
            let n = list.len();
            (live(&list).collect::<Vec<_>>(), n)
        }
        None => ((0..rows).map(|i| (i, i as u32)).collect(), rows),
    };
    let xs = load_f32(mem, p.x, m.dt, mul(touched, cols)?)?;
    let table = load_f32(mem, p.table, m.dt, mul(p.table_rows as usize, cols)?)?;
    let mut out = load_f32(mem, p.dst, m.dt, xs.len())?;
    for &(i, pos) in &positions {
        if pos >= p.table_rows {
            return Err(ExecError::RopePosition {
                row: i,
                pos,
                table_rows: p.table_rows,
            });
        }
        let t = &table[pos as usize * cols..(pos as usize + 1) * cols];
        let (cos, sin) = t.split_at(half);
        let x = &xs[i * cols..(i + 1) * cols];
        let o = &mut out[i * cols..(i + 1) * cols];
        for j in 0..half {
            let (a, b) = if p.interleaved {
                (2 * j, 2 * j + 1)
            } else {
                (j, j + half)
            };
            o[a] = cos[j] * x[a] - sin[j] * x[b];
            o[b] = sin[j] * x[a] + cos[j] * x[b];
        }
    }
    store_f32(mem, p.dst, m.dt, &out)?;
    Ok(match p.pos {
        Some(_) => Done::rows(positions.len() as u64),
        None => Done::default(),
    })
}
