//! Vector instructions that convert or move elements exactly: `VEC.CVT`, `VEC.TRANSPOSE`,
//! `VEC.SELECT`.
//!
//! CVT: to a float type, values round to nearest even (integers above 2^24 first round to
//! `f32`); float to integer truncates toward zero as ONNX `Cast` (and the host interpreter) do,
//! then saturates to the target's range, NaN giving 0; integer to integer saturates; to `i1`
//! any non-zero (and NaN) is 1; an `i1` source reads any non-zero byte as 1.
//! TRANSPOSE and SELECT move whole elements' bytes, so they are exact for every type.

use sofa_ir::isa::{DType, SramRef};

use super::data::{byte_len, decode_f32, elem_size, int_at, mul, put_f32, put_int, sat_i64};
use super::{Done, ExecError};
use crate::sim::memory::Memory;

/// Element bytes of a byte-moving instruction's type (not `lz4`).
fn width(dt: DType, instr: &'static str) -> Result<usize, ExecError> {
    elem_size(dt).ok_or(ExecError::Lz4 { instr, dt })
}

/// `VEC.CVT`: `n` elements from `from` to `to`.
pub(super) fn cvt(
    mem: &mut Memory,
    (dst, a): (SramRef, SramRef),
    n: usize,
    (from, to): (DType, DType),
) -> Result<Done, ExecError> {
    width(from, "VEC.CVT")?;
    width(to, "VEC.CVT")?;
    let src = mem.sram_at(a, byte_len(from, n)?)?;
    let mut out = vec![0u8; byte_len(to, n)?];
    if from.is_float() {
        let mut vals = Vec::new();
        decode_f32(src, from, n, &mut vals);
        for (i, &v) in vals.iter().enumerate() {
            match to {
                DType::I1 => out[i] = u8::from(v != 0.0),
                _ if to.is_float() => put_f32(&mut out, to, i, v),
                _ => put_int(&mut out, to, i, sat_i64(f64::from(v).trunc())),
            }
        }
    } else {
        for i in 0..n {
            let mut v = int_at(src, from, i);
            if from == DType::I1 {
                v = i64::from(v != 0);
            }
            match to {
                DType::I1 => out[i] = u8::from(v != 0),
                _ if to.is_float() => put_f32(&mut out, to, i, v as f32),
                _ => put_int(&mut out, to, i, v),
            }
        }
    }
    mem.sram_at_mut(dst, out.len())?.copy_from_slice(&out);
    Ok(Done::default())
}

/// `VEC.TRANSPOSE`: `dst[cols×rows] = a[rows×cols]ᵀ`.
pub(super) fn transpose(
    mem: &mut Memory,
    (dst, a): (SramRef, SramRef),
    (rows, cols): (usize, usize),
    dt: DType,
) -> Result<Done, ExecError> {
    let w = width(dt, "VEC.TRANSPOSE")?;
    let len = mul(mul(rows, cols)?, w)?;
    let src = mem.sram_at(a, len)?;
    let mut out = vec![0u8; len];
    for r in 0..rows {
        for c in 0..cols {
            let (s, d) = ((r * cols + c) * w, (c * rows + r) * w);
            out[d..d + w].copy_from_slice(&src[s..s + w]);
        }
    }
    mem.sram_at_mut(dst, len)?.copy_from_slice(&out);
    Ok(Done::default())
}

/// `VEC.SELECT`: `dst = cond ? a : b` elementwise, `cond` one byte per element.
pub(super) fn select(
    mem: &mut Memory,
    (dst, cond, a, b): (SramRef, SramRef, SramRef, SramRef),
    n: usize,
    dt: DType,
) -> Result<Done, ExecError> {
    let w = width(dt, "VEC.SELECT")?;
    let len = mul(n, w)?;
    let c = mem.sram_at(cond, n)?;
    let (av, bv) = (mem.sram_at(a, len)?, mem.sram_at(b, len)?);
    let mut out = vec![0u8; len];
    for (i, o) in out.chunks_exact_mut(w).enumerate() {
        let from = if c[i] != 0 { av } else { bv };
        o.copy_from_slice(&from[i * w..(i + 1) * w]);
    }
    mem.sram_at_mut(dst, len)?.copy_from_slice(&out);
    Ok(Done::default())
}
