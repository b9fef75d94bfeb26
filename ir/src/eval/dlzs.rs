//! DLZS, Differential Leading-Zero Summation (SOFA paper §2): the prediction stage's arithmetic.
//!
//! One operand of every product is reduced to a power of two (its leading one, stored as a sign
//! plus an exponent: the "LZ code"); the product then becomes a shift of the other operand, and a
//! dot product a sum of shifted values. The paper's Fig. 7 example: `24 × 6` with `6` snapped to
//! `4` (stored as exponent `2`, `0010`) gives `24 << 2 = 96` instead of `144`.
//!
//! This module holds the scalar and matrix pieces `attn.sparse_mha` needs (see
//! `crate::dialect::attn` for how they are combined and what is simplified):
//! - [`quantize`]: symmetric integer quantisation of a float block (one scale per block).
//! - [`snap_exponent`] / [`Lz::encode`]: floor or nearest snapping to a power of two, saturating
//!   at the format's largest exponent; [`leading_zeros`] is the stored LZ count.
//! - [`LzFormat`]: the two formats, q's 5-bit LZ of 16-bit integers and k's `pred_bits`-wide code.
//! - [`predict_scores`]: `Â[i,t] = Σ_c sgn·(|K̂_tc| << e(q_ic))`, exact in `i64`.

use crate::dialect::attn::Rounding;

/// A value snapped to a signed power of two: `sign · 2^exp`, or zero.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Lz {
    /// −1, 0 (the value is zero: the hardware's zero eliminator skips it) or 1.
    pub sign: i8,
    pub exp: u8,
}

impl Lz {
    pub const ZERO: Lz = Lz { sign: 0, exp: 0 };

    /// Snap the integer `v` to a signed power of two in `format`.
    pub fn encode(v: i64, format: LzFormat, rounding: Rounding) -> Lz {
        match snap_exponent(v.unsigned_abs(), rounding, format.max_exp) {
            None => Lz::ZERO,
            Some(e) => Lz {
                sign: if v < 0 { -1 } else { 1 },
                // `max_exp` is at most 31 (see `LzFormat::weights`), so this cannot truncate.
                exp: e as u8,
            },
        }
    }

    /// The integer this code stands for.
    pub fn value(self) -> i64 {
        i64::from(self.sign) << self.exp
    }
}

/// The exponent of the power of two the magnitude `mag` snaps to; `None` for zero.
///
/// `Floor` keeps the leading one (`6 → 2^2`); `Nearest` rounds up when the bit below the
/// leading one is set, i.e. at the linear midpoint (`6 → 2^3`, `5 → 2^2`). The result never
/// exceeds `max_exp` (a nearest round-up past the code's range saturates).
pub fn snap_exponent(mag: u64, rounding: Rounding, max_exp: u32) -> Option<u32> {
    if mag == 0 {
        return None;
    }
    let floor = 63 - mag.leading_zeros();
    let e = match rounding {
        Rounding::Floor => floor,
        Rounding::Nearest if floor > 0 && (mag >> (floor - 1)) & 1 == 1 => floor + 1,
        Rounding::Nearest => floor,
    };
    Some(e.min(max_exp))
}

/// The leading-zero count of `mag` in a `width`-bit field (`width` when `mag` is zero); the
/// hardware stores this and shifts by `width − 1 − LZ`. `mag` must fit in `width` bits.
pub fn leading_zeros(mag: u64, width: u32) -> u32 {
    let used = 64 - mag.leading_zeros();
    width.saturating_sub(used)
}

/// An integer operand format for DLZS: magnitudes up to `2^magnitude_bits − 1` (plus a sign),
/// snapped exponents in `0..=max_exp`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct LzFormat {
    pub magnitude_bits: u32,
    pub max_exp: u32,
}

impl LzFormat {
    /// q: 16-bit signed integers (15-bit magnitudes); the 5-bit LZ code (LZ16 in 0..=16) covers
    /// exponents 0..=15, so a nearest round-up of 32767 to 2^15 still fits.
    pub const QUERY: LzFormat = LzFormat {
        magnitude_bits: 15,
        max_exp: 15,
    };

    /// The predicted-k code of `pred_bits` bits: a sign plus a `pred_bits − 1`-bit exponent, over
    /// integer magnitudes of `2^(pred_bits − 1)` bits. `pred_bits = 4` is the paper's 4-bit LZ
    /// weight: exponents 0..=7 over 8-bit magnitudes. `pred_bits` is clamped to 2..=5.
    pub fn weights(pred_bits: u32) -> LzFormat {
        let exp_bits = pred_bits.clamp(2, 5) - 1;
        let magnitude_bits = 1u32 << exp_bits;
        LzFormat {
            magnitude_bits,
            max_exp: magnitude_bits - 1,
        }
    }

    /// The largest integer magnitude before snapping.
    pub fn max_magnitude(self) -> u64 {
        (1u64 << self.magnitude_bits) - 1
    }
}

/// Integers whose values times `scale` approximate the quantised floats.
#[derive(Clone, Debug, PartialEq)]
pub struct Quantized {
    pub ints: Vec<i64>,
    pub scale: f64,
}

/// Symmetric quantisation of `values` to integers in `[−max_mag, max_mag]` with one scale
/// (`max|v| / max_mag`), rounding half away from zero. An all-zero or empty block gets scale 0;
/// non-finite values quantise to 0 and do not set the scale.
pub fn quantize(values: &[f32], max_mag: u64) -> Quantized {
    let amax = values
        .iter()
        .filter(|v| v.is_finite())
        .fold(0f64, |m, &v| m.max(f64::from(v).abs()));
    if amax == 0.0 || max_mag == 0 {
        return Quantized {
            ints: vec![0; values.len()],
            scale: 0.0,
        };
    }
    let scale = amax / max_mag as f64;
    let limit = max_mag as f64;
    let ints = values
        .iter()
        .map(|&v| {
            if v.is_finite() {
                (f64::from(v) / scale).round().clamp(-limit, limit) as i64
            } else {
                0
            }
        })
        .collect();
    Quantized { ints, scale }
}

/// A block quantised to `format` and snapped: `codes[i]·scale` approximates the input.
#[derive(Clone, Debug, PartialEq)]
pub struct LzBlock {
    pub codes: Vec<Lz>,
    pub scale: f64,
}

/// Quantise `values` to `format`'s integers (one scale for the block), then snap each.
pub fn encode_block(values: &[f32], format: LzFormat, rounding: Rounding) -> LzBlock {
    let q = quantize(values, format.max_magnitude());
    LzBlock {
        codes: q
            .ints
            .iter()
            .map(|&v| Lz::encode(v, format, rounding))
            .collect(),
        scale: q.scale,
    }
}

/// One DLZS dot product: `Σ_c sgn(q_c)·sgn(k_c)·(|k_c| << e(q_c))`. Both operands are codes, so
/// every term is `±2^(e_q + e_k)`; with exponents ≤ 15 each, the sum is exact in `i64`.
pub fn dlzs_dot(q: &[Lz], k: &[Lz]) -> i64 {
    q.iter()
        .zip(k)
        .filter(|(a, b)| a.sign != 0 && b.sign != 0)
        .map(|(a, b)| {
            let shifted = 1i64 << (u32::from(b.exp) + u32::from(a.exp));
            i64::from(a.sign * b.sign) * shifted
        })
        .sum()
}

/// `Â = LZ(q)·K̂ᵀ` for `q` codes `[rows, d]` and `k` codes `[cols, d]`: `rows × cols` integers,
/// row-major (all zero when `d = 0`).
pub fn predict_scores(q: &[Lz], k: &[Lz], (rows, cols, d): (usize, usize, usize)) -> Vec<i64> {
    if d == 0 {
        return vec![0; rows * cols];
    }
    let mut out = Vec::with_capacity(rows * cols);
    for qr in q.chunks_exact(d).take(rows) {
        for kr in k.chunks_exact(d).take(cols) {
            out.push(dlzs_dot(qr, kr));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const W4: LzFormat = LzFormat {
        magnitude_bits: 8,
        max_exp: 7,
    };

    #[test]
    fn fig7_example_floor_and_nearest() {
        // 24 × 6 = 144: DLZS keeps 24 exact and snaps 6 (00000110).
        let six = Lz::encode(6, W4, Rounding::Floor);
        assert_eq!((six.sign, six.exp), (1, 2)); // stored as exponent 2 = 0010
        assert_eq!(leading_zeros(6, 8), 5); // 8-bit LZ; shift = 7 − 5 = 2
        assert_eq!(24i64 << six.exp, 96); // the paper's "half error": 48
        let six = Lz::encode(6, W4, Rounding::Nearest);
        assert_eq!(six.exp, 3); // 6 = 1.5·4 sits on the linear midpoint: up to 8
        assert_eq!(Lz::encode(5, W4, Rounding::Nearest).exp, 2);
        // The symmetric scheme snaps both: 16 × 4 = 64 (error 80).
        let (a, b) = (
            Lz::encode(24, W4, Rounding::Floor),
            Lz::encode(6, W4, Rounding::Floor),
        );
        assert_eq!(a.value() * b.value(), 64);
    }

    #[test]
    fn snapping_handles_zero_signs_and_saturation() {
        assert_eq!(snap_exponent(0, Rounding::Floor, 7), None);
        assert_eq!(Lz::encode(0, W4, Rounding::Nearest), Lz::ZERO);
        assert_eq!(Lz::encode(-100, W4, Rounding::Floor).value(), -64);
        assert_eq!(Lz::encode(-100, W4, Rounding::Nearest).value(), -128);
        assert_eq!(Lz::encode(1, W4, Rounding::Nearest).value(), 1);
        // 255 rounds up to 256 = 2^8, outside the 3-bit exponent: saturates at 2^7.
        assert_eq!(Lz::encode(255, W4, Rounding::Nearest).exp, 7);
        // q's 16-bit format: 0x0300 = 768 has LZ16 = 6, i.e. exponent 15 − 6 = 9.
        assert_eq!(leading_zeros(0x0300, 16), 6);
        assert_eq!(Lz::encode(768, LzFormat::QUERY, Rounding::Floor).exp, 9);
        assert_eq!(
            Lz::encode(32767, LzFormat::QUERY, Rounding::Nearest).exp,
            15
        );
        assert_eq!(leading_zeros(0, 16), 16);
    }

    #[test]
    fn formats_follow_pred_bits() {
        assert_eq!(LzFormat::weights(4), W4);
        assert_eq!(LzFormat::weights(4).max_magnitude(), 255);
        let w2 = LzFormat::weights(2);
        assert_eq!((w2.magnitude_bits, w2.max_exp), (2, 1));
        assert_eq!(LzFormat::weights(5).max_exp, 15);
    }

    #[test]
    fn quantisation_is_symmetric_per_block() {
        let q = quantize(&[0.5, -1.0, 0.25, 0.0], 255);
        assert_eq!(q.ints, vec![128, -255, 64, 0]); // 127.5 rounds away from zero
        assert!((q.scale - 1.0 / 255.0).abs() < 1e-15);
        assert_eq!(quantize(&[0.0, 0.0], 255).ints, vec![0, 0]);
        let b = encode_block(&[0.5, -1.0, 0.25, 0.0], W4, Rounding::Floor);
        let vals: Vec<i64> = b.codes.iter().map(|c| c.value()).collect();
        assert_eq!(vals, vec![128, -128, 64, 0]);
    }

    #[test]
    fn dot_products_are_shift_sums() {
        // q = [3, -5] (floor: [2, -4]), k = [6, 1] (floor: [4, 1]): 2·4 − 4·1 = 4.
        let q: Vec<Lz> = [3, -5]
            .iter()
            .map(|&v| Lz::encode(v, LzFormat::QUERY, Rounding::Floor))
            .collect();
        let k: Vec<Lz> = [6, 1, 0, 8]
            .iter()
            .map(|&v| Lz::encode(v, W4, Rounding::Floor))
            .collect();
        assert_eq!(dlzs_dot(&q, &k[..2]), 4);
        // Two key rows: [6, 1] and [0, 8] → [4, −32].
        assert_eq!(predict_scores(&q, &k, (1, 2, 2)), vec![4, -32]);
    }
}
