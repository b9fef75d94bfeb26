//! Element (de)coding between SRAM bytes and the values the kernels compute on.
//!
//! Formal compute runs in `f32`: a kernel decodes each operand once into a `Vec<f32>` (f16 and
//! bf16 widened exactly, integers converted), computes, and encodes its result back (f16/bf16
//! rounded to nearest even by `sofa_ir`'s converters, the same ones the host reference
//! interpreter uses). Selection and integer prediction decode to `f64`, which is exact for every
//! type up to 32 bits, so integer scores compare and accumulate without loss.
//!
//! `lz4` is the DLZS "LZ format" weight: two nibbles per byte, low nibble first. A nibble is
//! `s fff`: bit 3 the sign, bits 0–2 a field `f` with value `(−1)^s · 2^(f−1)` for `f ≥ 1` and
//! `0` for `f = 0`. That is an exponent bias of 1 with the zero code at the bottom: an 8-bit
//! signed (symmetrically quantised) weight has a 7-bit magnitude, so its leading one is at bit
//! 0..6, and those seven exponents plus zero fill the 3-bit field exactly (the field is
//! `7 − LZ7(|w|)`, so a zero weight — leading-zero count 7 — is code 0, which the paper's zero
//! eliminator skips; paper-notes §2.3). Magnitudes 1..127 snapped by floor need nothing more.

use sofa_ir::eval::precision::{f32_to_bf16_bits, f32_to_f16_bits};
use sofa_ir::isa::{DType, SramRef, NO_INDEX};

use super::ExecError;
use crate::sim::memory::Memory;

/// Bytes of one element, `None` for the 4-bit `lz4`.
pub(crate) fn elem_size(dt: DType) -> Option<usize> {
    match dt {
        DType::Lz4 => None,
        _ => Some((dt.bits() / 8) as usize),
    }
}

/// Bytes of `n` elements of `dt`.
pub(crate) fn byte_len(dt: DType, n: usize) -> Result<usize, ExecError> {
    dt.bytes_for(n as u64)
        .and_then(|b| usize::try_from(b).ok())
        .ok_or(ExecError::ByteLen { n, dt })
}

/// `a · b` for host sizes, with an error instead of a wrap.
pub(crate) fn mul(a: usize, b: usize) -> Result<usize, ExecError> {
    a.checked_mul(b).ok_or(ExecError::Size(a, b))
}

/// IEEE half bits to `f32`, exact.
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h & 0x8000) << 16;
    let exp = u32::from((h >> 10) & 0x1f);
    let man = u32::from(h & 0x3ff);
    let bits = match exp {
        0 => {
            // Zero or subnormal: man · 2^-24, exact in f32.
            let v = man as f32 * (1.0 / 16_777_216.0);
            return if sign != 0 { -v } else { v };
        }
        0x1f => sign | 0x7f80_0000 | (man << 13),
        _ => sign | ((exp + 112) << 23) | (man << 13),
    };
    f32::from_bits(bits)
}

/// The value of an `lz4` nibble (see the module docs for the format).
pub fn lz4_value(nibble: u8) -> f32 {
    let f = nibble & 7;
    if f == 0 {
        return 0.0;
    }
    let mag = f32::from(1u8 << (f - 1));
    if nibble & 8 != 0 {
        -mag
    } else {
        mag
    }
}

/// The `lz4` nibble of a value that is already a signed power of two in `[2^0, 2^6]` or zero;
/// other magnitudes snap down (floor), saturating at `2^6`. For building test weights.
pub fn lz4_encode(v: f32) -> u8 {
    if v == 0.0 || v.is_nan() {
        return 0;
    }
    let e = v.abs().log2().floor().clamp(0.0, 6.0) as u8;
    let sign = if v < 0.0 { 8 } else { 0 };
    sign | (e + 1)
}

/// Append `n` elements of `dt` from `bytes` (at least `byte_len(dt, n)` long) as `f32`.
pub(crate) fn decode_f32(bytes: &[u8], dt: DType, n: usize, out: &mut Vec<f32>) {
    out.reserve(n);
    match dt {
        DType::F32 => out.extend(
            bytes
                .chunks_exact(4)
                .take(n)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        ),
        DType::F16 => out.extend(
            bytes
                .chunks_exact(2)
                .take(n)
                .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]]))),
        ),
        DType::BF16 => out.extend(
            bytes
                .chunks_exact(2)
                .take(n)
                .map(|c| f32::from_bits(u32::from(u16::from_le_bytes([c[0], c[1]])) << 16)),
        ),
        DType::Lz4 => out.extend((0..n).map(|i| {
            let b = bytes.get(i / 2).copied().unwrap_or(0);
            lz4_value(if i % 2 == 0 { b & 0xf } else { b >> 4 })
        })),
        _ => out.extend((0..n).map(|i| int_at(bytes, dt, i) as f32)),
    }
}

/// Append `n` elements as `f64` (exact for every type but large `i64`).
pub(crate) fn decode_f64(bytes: &[u8], dt: DType, n: usize, out: &mut Vec<f64>) {
    out.reserve(n);
    match dt {
        DType::F32 | DType::F16 | DType::BF16 | DType::Lz4 => {
            let mut tmp = Vec::with_capacity(n);
            decode_f32(bytes, dt, n, &mut tmp);
            out.extend(tmp.into_iter().map(f64::from));
        }
        _ => out.extend((0..n).map(|i| int_at(bytes, dt, i) as f64)),
    }
}

/// Element `i` of an integer buffer (`i1` and `u8` read as bytes); floats give 0.
pub(crate) fn int_at(bytes: &[u8], dt: DType, i: usize) -> i64 {
    let at = |w: usize| bytes.get(i * w..i * w + w);
    match dt {
        DType::I64 => at(8).map_or(0, |c| {
            i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])
        }),
        DType::I32 => at(4).map_or(0, |c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]).into()),
        DType::U32 => at(4).map_or(0, |c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]).into()),
        DType::I16 => at(2).map_or(0, |c| i16::from_le_bytes([c[0], c[1]]).into()),
        DType::I8 => at(1).map_or(0, |c| i8::from_le_bytes([c[0]]).into()),
        DType::U8 | DType::I1 => at(1).map_or(0, |c| c[0].into()),
        DType::F32 | DType::F16 | DType::BF16 | DType::Lz4 => 0,
    }
}

/// The range of an integer type (i1 as 0..=1).
pub(crate) fn int_range(dt: DType) -> (i64, i64) {
    match dt {
        DType::I64 => (i64::MIN, i64::MAX),
        DType::I32 => (i32::MIN.into(), i32::MAX.into()),
        DType::U32 => (0, u32::MAX.into()),
        DType::I16 => (i16::MIN.into(), i16::MAX.into()),
        DType::I8 => (i8::MIN.into(), i8::MAX.into()),
        DType::U8 => (0, u8::MAX.into()),
        _ => (0, 1),
    }
}

/// Write integer `v` as element `i` of `out`, saturating to the type's range.
pub(crate) fn put_int(out: &mut [u8], dt: DType, i: usize, v: i64) {
    let (lo, hi) = int_range(dt);
    let v = v.clamp(lo, hi);
    let w = elem_size(dt).unwrap_or(1);
    let Some(slot) = out.get_mut(i * w..i * w + w) else {
        return;
    };
    // The clamp above makes every narrowing exact.
    slot.copy_from_slice(&v.to_le_bytes()[..w]);
}

/// Write float `v` as element `i` of `out`: floats rounded to nearest even, integers rounded
/// to nearest (ties to even) and saturated; NaN becomes 0 in an integer.
pub(crate) fn put_f64(out: &mut [u8], dt: DType, i: usize, v: f64) {
    match dt {
        DType::F32 | DType::F16 | DType::BF16 => put_f32(out, dt, i, v as f32),
        DType::Lz4 => {}
        _ => put_int(out, dt, i, sat_i64(v.round_ties_even())),
    }
}

/// A float as `i64`, saturating (NaN → 0).
pub(crate) fn sat_i64(v: f64) -> i64 {
    // `as` saturates and maps NaN to 0.
    v as i64
}

/// Write `f32` value `v` as element `i` of a float buffer.
pub(crate) fn put_f32(out: &mut [u8], dt: DType, i: usize, v: f32) {
    match dt {
        DType::F32 => {
            if let Some(s) = out.get_mut(i * 4..i * 4 + 4) {
                s.copy_from_slice(&v.to_le_bytes());
            }
        }
        DType::F16 | DType::BF16 => {
            let bits = if dt == DType::F16 {
                f32_to_f16_bits(v)
            } else {
                f32_to_bf16_bits(v)
            };
            if let Some(s) = out.get_mut(i * 2..i * 2 + 2) {
                s.copy_from_slice(&bits.to_le_bytes());
            }
        }
        _ => put_f64(out, dt, i, f64::from(v)),
    }
}

/// Encode `vals` into `out` (which holds exactly `vals.len()` elements of `dt`).
pub(crate) fn encode_f32(out: &mut [u8], dt: DType, vals: &[f32]) {
    match dt {
        DType::F32 => {
            for (s, v) in out.chunks_exact_mut(4).zip(vals) {
                s.copy_from_slice(&v.to_le_bytes());
            }
        }
        DType::F16 => {
            for (s, &v) in out.chunks_exact_mut(2).zip(vals) {
                s.copy_from_slice(&f32_to_f16_bits(v).to_le_bytes());
            }
        }
        DType::BF16 => {
            for (s, &v) in out.chunks_exact_mut(2).zip(vals) {
                s.copy_from_slice(&f32_to_bf16_bits(v).to_le_bytes());
            }
        }
        _ => {
            for (i, &v) in vals.iter().enumerate() {
                put_f64(out, dt, i, f64::from(v));
            }
        }
    }
}

/// Decode `n` elements of `dt` at `at` into a fresh `Vec<f32>`.
pub(crate) fn load_f32(
    mem: &Memory,
    at: SramRef,
    dt: DType,
    n: usize,
) -> Result<Vec<f32>, ExecError> {
    let bytes = mem.sram_at(at, byte_len(dt, n)?)?;
    let mut v = Vec::new();
    decode_f32(bytes, dt, n, &mut v);
    Ok(v)
}

/// Decode `n` elements of `dt` at `at` into a fresh `Vec<f64>`.
pub(crate) fn load_f64(
    mem: &Memory,
    at: SramRef,
    dt: DType,
    n: usize,
) -> Result<Vec<f64>, ExecError> {
    let bytes = mem.sram_at(at, byte_len(dt, n)?)?;
    let mut v = Vec::new();
    decode_f64(bytes, dt, n, &mut v);
    Ok(v)
}

/// Encode `vals` as `dt` at `at`.
pub(crate) fn store_f32(
    mem: &mut Memory,
    at: SramRef,
    dt: DType,
    vals: &[f32],
) -> Result<(), ExecError> {
    let out = mem.sram_at_mut(at, byte_len(dt, vals.len())?)?;
    encode_f32(out, dt, vals);
    Ok(())
}

/// `n` little-endian `u32` words at `at`.
pub(crate) fn load_u32(mem: &Memory, at: SramRef, n: usize) -> Result<Vec<u32>, ExecError> {
    let bytes = mem.sram_at(at, mul(n, 4)?)?;
    Ok(bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// Write `u32` words at `at`.
pub(crate) fn store_u32(mem: &mut Memory, at: SramRef, words: &[u32]) -> Result<(), ExecError> {
    let out = mem.sram_at_mut(at, mul(words.len(), 4)?)?;
    for (s, w) in out.chunks_exact_mut(4).zip(words) {
        s.copy_from_slice(&w.to_le_bytes());
    }
    Ok(())
}

/// The entries of the index list at `at` (`[count][idx …]`, `NO_INDEX` entries included);
/// a count above `max` is an error (the list's buffer only has room for `max`).
pub(crate) fn read_list(
    mem: &Memory,
    at: SramRef,
    max: u64,
    role: &'static str,
) -> Result<Vec<u32>, ExecError> {
    let count = load_u32(mem, at, 1)?.first().copied().unwrap_or(0);
    if u64::from(count) > max {
        return Err(ExecError::ListCount {
            role,
            at,
            count,
            max,
        });
    }
    let first = SramRef::new(at.space, at.offset.saturating_add(4));
    load_u32(mem, first, count as usize)
}

/// Entries of a list that select something.
pub(crate) fn live(list: &[u32]) -> impl Iterator<Item = (usize, u32)> + '_ {
    list.iter()
        .copied()
        .enumerate()
        .filter(|&(_, e)| e != NO_INDEX)
}
