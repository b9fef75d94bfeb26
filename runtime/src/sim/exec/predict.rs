//! DLZS prediction: `DLZS.K` (K̂ = X · LZ(W)) and `DLZS.S` (Â = LZ(Q) · K̂ᵀ).
//!
//! The log-domain operand (`w` of DLZS.K, `q` of DLZS.S) is replaced by a signed power of two
//! per `hw.dlzs.rounding` ([`snap`]): floor keeps the leading one (`0.75 → 0.5`, `−3 → −2`, the
//! paper's Fig. 7c `6 → 4`), nearest rounds up when the bit below the leading one is set (the
//! linear midpoint, as `sofa_ir::eval::dlzs`), ceil rounds up unless already a power of two;
//! zero stays zero, so the zero eliminator's skip is implicit. The same rule serves float and
//! integer operands (an integer's leading one is its float exponent); `lz4` weights already are
//! powers of two. The other operand keeps its full value and the sign is the product's.
//!
//! One factor of every product is a power of two, so products are exact in `f64` and sums
//! accumulate in `f64` (in reduction
//! order, one output row at a time so the lanes vectorise) and are rounded once into `ot`:
//! integer outputs round to nearest and saturate (K̂ "truncated to 16 bits" = saturated to
//! `i16`), float outputs round to nearest even. DLZS.S also returns the exact scores `q · K̂ᵀ`
//! (unsnapped `q`) in `f32`, the recall shadow.

use sofa_ir::hw::Rounding;
use sofa_ir::isa::{DType, SramRef};

use super::data::{byte_len, load_f64, mul, put_f64};
use super::{Done, ExecError};
use crate::sim::memory::Memory;

/// `v` snapped to a signed power of two by `rounding`; zero, infinities and NaN unchanged.
pub fn snap(v: f64, rounding: Rounding) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    if v.abs() < f64::MIN_POSITIVE {
        // Subnormal f64 (never produced by decoding ≤ 32-bit types): rescale exactly.
        const UP: f64 = 18_014_398_509_481_984.0; // 2^54
        return snap(v * UP, rounding) / UP;
    }
    let bits = v.to_bits();
    const MANTISSA: u64 = (1 << 52) - 1;
    let floor = f64::from_bits(bits & !MANTISSA);
    let up = match rounding {
        Rounding::Floor => false,
        Rounding::Nearest => bits & (1 << 51) != 0,
        Rounding::Ceil => bits & MANTISSA != 0,
    };
    if up {
        floor * 2.0
    } else {
        floor
    }
}

/// Decode `n` elements and snap them to powers of two.
fn load_snapped(
    mem: &Memory,
    at: SramRef,
    dt: DType,
    n: usize,
    rounding: Rounding,
) -> Result<Vec<f64>, ExecError> {
    let mut v = load_f64(mem, at, dt, n)?;
    for x in &mut v {
        *x = snap(*x, rounding);
    }
    Ok(v)
}

/// Encode `vals` (row-major `rows × n`) as `ot` at `dst`.
fn store(mem: &mut Memory, dst: SramRef, ot: DType, vals: &[f64]) -> Result<(), ExecError> {
    let out = mem.sram_at_mut(dst, byte_len(ot, vals.len())?)?;
    for (i, &v) in vals.iter().enumerate() {
        put_f64(out, ot, i, v);
    }
    Ok(())
}

/// Operand types and the rounding of a DLZS instruction.
pub(super) struct DlzsTypes {
    pub a: DType,
    pub b: DType,
    pub out: DType,
    pub rounding: Rounding,
}

/// `DLZS.K`: `dst[rows×n] = x[rows×k] · snap(w[k×n])`.
pub(super) fn dlzs_k(
    mem: &mut Memory,
    (dst, x, w): (SramRef, SramRef, SramRef),
    (rows, k, n): (u32, u32, u32),
    t: DlzsTypes,
) -> Result<Done, ExecError> {
    let (rows, k, n) = (rows as usize, k as usize, n as usize);
    let xs = load_f64(mem, x, t.a, mul(rows, k)?)?;
    let ws = load_snapped(mem, w, t.b, mul(k, n)?, t.rounding)?;
    let mut out = vec![0f64; mul(rows, n)?];
    for (orow, xrow) in out.chunks_exact_mut(n).zip(xs.chunks_exact(k)) {
        for (&xv, wrow) in xrow.iter().zip(ws.chunks_exact(n)) {
            if xv == 0.0 {
                continue; // the zero eliminator
            }
            for (o, &wv) in orow.iter_mut().zip(wrow) {
                *o += xv * wv;
            }
        }
    }
    store(mem, dst, t.out, &out)?;
    Ok(Done::default())
}

/// `DLZS.S`: `dst[rows×n] = snap(q[rows×k]) · khat[n×k]ᵀ`; also the exact `q · khatᵀ`.
///
/// K̂ is transposed once so each query row accumulates whole output rows (`Σ_c q_c · K̂ᵀ[c]`):
/// independent lanes that vectorise, summed in column order.
pub(super) fn dlzs_s(
    mem: &mut Memory,
    (dst, q, khat): (SramRef, SramRef, SramRef),
    (rows, k, n): (u32, u32, u32),
    t: DlzsTypes,
) -> Result<Done, ExecError> {
    let (rows, k, n) = (rows as usize, k as usize, n as usize);
    let qs = load_f64(mem, q, t.a, mul(rows, k)?)?;
    let ks = load_f64(mem, khat, t.b, mul(n, k)?)?;
    let mut kt = vec![0f64; ks.len()];
    for (j, krow) in ks.chunks_exact(k).enumerate() {
        for (c, &v) in krow.iter().enumerate() {
            kt[c * n + j] = v;
        }
    }
    let mut out = vec![0f64; mul(rows, n)?];
    let mut exact = vec![0f64; rows * n];
    for ((qrow, prow), erow) in qs
        .chunks_exact(k)
        .zip(out.chunks_exact_mut(n))
        .zip(exact.chunks_exact_mut(n))
    {
        for (&qv, ktrow) in qrow.iter().zip(kt.chunks_exact(n)) {
            let sv = snap(qv, t.rounding);
            for ((p, e), &kv) in prow.iter_mut().zip(erow.iter_mut()).zip(ktrow) {
                *p += sv * kv;
                *e += qv * kv;
            }
        }
    }
    store(mem, dst, t.out, &out)?;
    Ok(Done {
        exact: Some(exact.into_iter().map(|v| v as f32).collect()),
        ..Done::default()
    })
}
