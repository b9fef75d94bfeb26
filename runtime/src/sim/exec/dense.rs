//! `GEMM`: `dst[m×n] (+)= a[m×k] · b + bias`, in `f32`.
//!
//! `b` is stored `k×n`, or `n×k` with `trans_b` (then each output is a dot product of two
//! contiguous rows). Each output accumulates `a·b` from zero, then adds the bias, then (with
//! `acc`) the previous `dst`. Dot products keep eight partial sums ([`dot`]) so they vectorise;
//! the summation order is fixed, so results are deterministic.

use sofa_ir::isa::{DType, SramRef};

use super::data::{load_f32, mul, store_f32};
use super::{Done, ExecError};
use crate::sim::memory::Memory;

/// GEMM operands.
pub(super) struct GemmArgs {
    pub dst: SramRef,
    pub a: SramRef,
    pub b: SramRef,
    pub bias: Option<SramRef>,
    pub m: u32,
    pub n: u32,
    pub k: u32,
    pub trans_b: bool,
    pub acc: bool,
    pub dt: DType,
}

pub(super) fn gemm(mem: &mut Memory, g: GemmArgs) -> Result<Done, ExecError> {
    let (m, n, k) = (g.m as usize, g.n as usize, g.k as usize);
    let a = load_f32(mem, g.a, g.dt, mul(m, k)?)?;
    let b = load_f32(mem, g.b, g.dt, mul(k, n)?)?;
    let bias = match g.bias {
        Some(at) => load_f32(mem, at, g.dt, n)?,
        None => vec![0.0; n],
    };
    let mut out = vec![0f32; mul(m, n)?];
    for (orow, arow) in out.chunks_exact_mut(n).zip(a.chunks_exact(k)) {
        if g.trans_b {
            for (o, brow) in orow.iter_mut().zip(b.chunks_exact(k)) {
                *o = dot(arow, brow);
            }
        } else {
            for (&x, brow) in arow.iter().zip(b.chunks_exact(n)) {
                orow.iter_mut().zip(brow).for_each(|(o, &y)| *o += x * y);
            }
        }
        orow.iter_mut().zip(&bias).for_each(|(o, &c)| *o += c);
    }
    if g.acc {
        let prev = load_f32(mem, g.dst, g.dt, out.len())?;
        out.iter_mut().zip(prev).for_each(|(o, p)| *o += p);
    }
    store_f32(mem, g.dst, g.dt, &out)?;
    Ok(Done::default())
}

/// `a · b` with eight interleaved partial sums, combined pairwise, then the tail.
pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for ((s, &x), &y) in acc.iter_mut().zip(x).zip(y) {
            *s += x * y;
        }
    }
    let [a0, a1, a2, a3, a4, a5, a6, a7] = acc;
    ((a0 + a4) + (a1 + a5)) + ((a2 + a6) + (a3 + a7)) + tail
}
