//! Integer compute: `GEMM.Q` (8-bit operands with zero points, exact `i32` accumulation) and
//! the vector unit's quantization instructions `VEC.MINMAX`, `VEC.QPARAM`, `VEC.QUANT`,
//! `VEC.DEQUANT`.
//!
//! The arithmetic is the reference interpreter's own (`sofa_ir::eval::quant`: true division,
//! round half to even, saturation), so a quantized model runs bit-identically on both.

use sofa_ir::eval::quant::{dequantize_value, dynamic_params, min_max, quantize_value};
use sofa_ir::isa::{Bcast, DType, SramRef};

use super::data::{byte_len, int_at, int_range, load_f32, mul, put_int, store_f32};
use super::vector::Mat;
use super::{Done, ExecError};
use crate::sim::memory::Memory;

/// `n` integer elements of `dt` at `at`.
fn load_ints(mem: &Memory, at: SramRef, dt: DType, n: usize) -> Result<Vec<i64>, ExecError> {
    let bytes = mem.sram_at(at, byte_len(dt, n)?)?;
    Ok((0..n).map(|i| int_at(bytes, dt, i)).collect())
}

/// Write integers (saturated to `dt`) at `at`.
fn store_ints(mem: &mut Memory, at: SramRef, dt: DType, vals: &[i64]) -> Result<(), ExecError> {
    let out = mem.sram_at_mut(at, byte_len(dt, vals.len())?)?;
    for (i, &v) in vals.iter().enumerate() {
        put_int(out, dt, i, v);
    }
    Ok(())
}

/// An optional zero-point operand of `n` elements (zeros when absent).
fn zero_points(
    mem: &Memory,
    at: Option<SramRef>,
    dt: DType,
    n: usize,
) -> Result<Vec<i64>, ExecError> {
    match at {
        Some(at) => load_ints(mem, at, dt, n),
        None => Ok(vec![0; n]),
    }
}

/// `GEMM.Q` operands.
pub(super) struct GemmQArgs {
    pub dst: SramRef,
    pub a: SramRef,
    pub b: SramRef,
    pub azp: Option<SramRef>,
    pub bzp: Option<SramRef>,
    pub m: u16,
    pub n: u16,
    pub k: u16,
    pub trans_b: bool,
    pub acc: bool,
    pub at: DType,
    pub bt: DType,
}

/// `dst[m×n] (+)= (a − azp) · (b − bzp[col])` in `i32`, wrapping like the hardware adder.
pub(super) fn gemm_q(mem: &mut Memory, g: GemmQArgs) -> Result<Done, ExecError> {
    let (m, n, k) = (usize::from(g.m), usize::from(g.n), usize::from(g.k));
    let a = load_ints(mem, g.a, g.at, mul(m, k)?)?;
    let b = load_ints(mem, g.b, g.bt, mul(k, n)?)?;
    let za = zero_points(mem, g.azp, g.at, 1)?[0];
    let zb = zero_points(mem, g.bzp, g.bt, n)?;
    let b_at = |t: usize, j: usize| match g.trans_b {
        true => b[j * k + t],
        false => b[t * n + j],
    };
    let mut out = match g.acc {
        true => load_ints(mem, g.dst, DType::I32, mul(m, n)?)?,
        false => vec![0; m * n],
    };
    for i in 0..m {
        for (j, &z) in zb.iter().enumerate() {
            let dot = (0..k).fold(0i64, |s, t| s + (a[i * k + t] - za) * (b_at(t, j) - z));
            let o = &mut out[i * n + j];
            *o = i64::from((*o).wrapping_add(dot) as i32);
        }
    }
    store_ints(mem, g.dst, DType::I32, &out)?;
    Ok(Done::default())
}

/// `VEC.MINMAX`: `dst = [min, max]` of the tile's non-NaN values, folded into the previous
/// pair with `acc` (an empty tile leaves `[+inf, −inf]`).
pub(super) fn min_max_tile(
    mem: &mut Memory,
    (dst, a): (SramRef, SramRef),
    m: Mat,
    acc: bool,
) -> Result<Done, ExecError> {
    let v = load_f32(mem, a, m.dt, m.len()?)?;
    let (mut lo, mut hi) = match v.iter().any(|x| !x.is_nan()) {
        true => min_max(&v),
        false => (f32::INFINITY, f32::NEG_INFINITY),
    };
    if acc {
        let prev = load_f32(mem, dst, DType::F32, 2)?;
        lo = lo.min(prev[0]);
        hi = hi.max(prev[1]);
    }
    store_f32(mem, dst, DType::F32, &[lo, hi])?;
    Ok(Done::default())
}

/// `VEC.QPARAM`: `DynamicQuantizeLinear`'s scale and zero point of `src = [min, max]` for the
/// range of `qt`.
pub(super) fn qparam(
    mem: &mut Memory,
    (scale, zp, src): (SramRef, SramRef, SramRef),
    qt: DType,
) -> Result<Done, ExecError> {
    let mm = load_f32(mem, src, DType::F32, 2)?;
    let (s, z) = dynamic_params(mm[0], mm[1], int_range(qt));
    store_f32(mem, scale, DType::F32, &[s])?;
    store_ints(mem, zp, qt, &[z])?;
    Ok(Done::default())
}

/// The quantization parameters of a `VEC.QUANT` / `VEC.DEQUANT`.
pub(super) struct QParams {
    pub scale: SramRef,
    pub zp: Option<SramRef>,
    pub bcast: Bcast,
    pub from: DType,
    pub to: DType,
}

/// Element count of a parameter broadcast per `bcast` over `rows × cols`, and the index of
/// the parameter of element `(r, c)`.
fn param_len(bcast: Bcast, (rows, cols): (usize, usize)) -> usize {
    match bcast {
        Bcast::None => rows * cols,
        Bcast::Row => cols,
        Bcast::Col => rows,
        Bcast::Scalar => 1,
    }
}

fn param_at(bcast: Bcast, cols: usize, i: usize) -> usize {
    match bcast {
        Bcast::None => i,
        Bcast::Row => i % cols,
        Bcast::Col => i / cols,
        Bcast::Scalar => 0,
    }
}

/// `VEC.QUANT`: `dst = saturate(round_half_even(a / scale) + zp)`.
pub(super) fn quantize(
    mem: &mut Memory,
    (dst, a): (SramRef, SramRef),
    (rows, cols): (u32, u32),
    p: QParams,
) -> Result<Done, ExecError> {
    let dims = (rows as usize, cols as usize);
    let n = mul(dims.0, dims.1)?;
    let k = param_len(p.bcast, dims);
    let x = load_f32(mem, a, p.from, n)?;
    let scale = load_f32(mem, p.scale, p.from, k)?;
    let zp = zero_points(mem, p.zp, p.to, k)?;
    let range = int_range(p.to);
    let q: Vec<i64> = x
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let j = param_at(p.bcast, dims.1, i);
            quantize_value(v, scale[j], zp[j], range)
        })
        .collect();
    store_ints(mem, dst, p.to, &q)?;
    Ok(Done::default())
}

/// `VEC.DEQUANT`: `dst = f32(i32(a) − zp) · scale`.
pub(super) fn dequantize(
    mem: &mut Memory,
    (dst, a): (SramRef, SramRef),
    (rows, cols): (u32, u32),
    p: QParams,
) -> Result<Done, ExecError> {
    let dims = (rows as usize, cols as usize);
    let n = mul(dims.0, dims.1)?;
    let k = param_len(p.bcast, dims);
    let q = load_ints(mem, a, p.from, n)?;
    let scale = load_f32(mem, p.scale, p.to, k)?;
    let zp = zero_points(mem, p.zp, p.from, k)?;
    let y: Vec<f32> = q
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let j = param_at(p.bcast, dims.1, i);
            dequantize_value(v, zp[j], scale[j])
        })
        .collect();
    store_f32(mem, dst, p.to, &y)?;
    Ok(Done::default())
}
