//! Half-precision formats and the few special functions std lacks.
//!
//! The evaluator holds `f16` and `bf16` tensors as `f32` values rounded to the narrower format
//! (round to nearest, ties to even), so every kernel runs in `f32` and a result is re-rounded
//! when the tensor is built. `erf` is computed in `f64` (Taylor series near zero, continued
//! fraction in the tails) because `f32::erf` is not stable in std.

use crate::attr::f16_bits_to_f64;

/// `f32` to IEEE half bits, round to nearest even; overflow goes to infinity, NaN stays NaN.
pub fn f32_to_f16_bits(x: f32) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32;
    let man = bits & 0x7f_ffff;
    if exp == 0xff {
        let nan_payload = if man != 0 {
            0x200 | (man >> 13) as u16
        } else {
            0
        };
        return sign | 0x7c00 | nan_payload;
    }
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        if e < -10 {
            return sign;
        }
        // Subnormal half: value = r * 2^-24 with r = m >> (14 - e).
        let m = man | 0x80_0000;
        let shift = (14 - e) as u32;
        let half = 1u32 << (shift - 1);
        let rem = m & ((1u32 << shift) - 1);
        let mut r = m >> shift;
        if rem > half || (rem == half && r & 1 == 1) {
            r += 1;
        }
        return sign | r as u16;
    }
    let mut r = ((e as u32) << 10) | (man >> 13);
    let rem = man & 0x1fff;
    if rem > 0x1000 || (rem == 0x1000 && r & 1 == 1) {
        // A carry into the exponent is the correct rounding (up to infinity).
        r += 1;
    }
    sign | r as u16
}

/// IEEE half bits to `f32` (exact).
pub fn f16_bits_to_f32(h: u16) -> f32 {
    f16_bits_to_f64(h) as f32
}

/// `f32` to bfloat16 bits, round to nearest even; NaN stays NaN.
pub fn f32_to_bf16_bits(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        return ((bits >> 16) as u16) | 0x40;
    }
    let rounding = 0x7fff + ((bits >> 16) & 1);
    (bits.wrapping_add(rounding) >> 16) as u16
}

/// bfloat16 bits to `f32` (exact).
pub fn bf16_bits_to_f32(h: u16) -> f32 {
    f32::from_bits(u32::from(h) << 16)
}

/// Round an `f32` to the nearest `f16` value.
pub fn round_to_f16(x: f32) -> f32 {
    f16_bits_to_f32(f32_to_f16_bits(x))
}

/// Round an `f32` to the nearest `bf16` value.
pub fn round_to_bf16(x: f32) -> f32 {
    bf16_bits_to_f32(f32_to_bf16_bits(x))
}

/// The error function, accurate to a few ulps of `f64` (far beyond `f32` needs).
pub fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let a = x.abs();
    let r = if a < 3.0 {
        erf_series(a)
    } else {
        1.0 - erfc_continued_fraction(a)
    };
    r.copysign(x)
}

/// erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1)); terms stay below ~200 for x < 3,
/// so cancellation costs under 1e-13.
fn erf_series(x: f64) -> f64 {
    let x2 = x * x;
    let mut term = x; // (-1)^n x^(2n+1) / n!
    let mut sum = x;
    for n in 1..200 {
        term *= -x2 / n as f64;
        let contrib = term / (2 * n + 1) as f64;
        sum += contrib;
        if contrib.abs() < 1e-17 * sum.abs() {
            break;
        }
    }
    sum * std::f64::consts::FRAC_2_SQRT_PI
}

/// erfc(x) for x >= 3 by the Laplace continued fraction, evaluated bottom-up.
fn erfc_continued_fraction(x: f64) -> f64 {
    let mut k = x;
    for n in (1..=60).rev() {
        k = x + (n as f64 / 2.0) / k;
    }
    (-x * x).exp() / (k * std::f64::consts::PI.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_rounding_ties_to_even_and_saturates() {
        assert_eq!(f32_to_f16_bits(1.0), 0x3c00);
        assert_eq!(f32_to_f16_bits(-2.0), 0xc000);
        // 1 + 2^-11 is a tie between 1 and 1 + 2^-10: goes to even (1.0).
        assert_eq!(round_to_f16(1.0 + 2f32.powi(-11)), 1.0);
        // 1 + 3 * 2^-11 ties between 1+2^-10 (odd) and 1+2^-9 (even).
        assert_eq!(
            round_to_f16(1.0 + 3.0 * 2f32.powi(-11)),
            1.0 + 2f32.powi(-9)
        );
        assert_eq!(round_to_f16(70000.0), f32::INFINITY);
        assert_eq!(round_to_f16(65504.0), 65504.0);
        assert_eq!(round_to_f16(2f32.powi(-24)), 2f32.powi(-24));
        assert_eq!(round_to_f16(2f32.powi(-26)), 0.0);
        assert!(round_to_f16(f32::NAN).is_nan());
    }

    #[test]
    fn bf16_rounding() {
        assert_eq!(round_to_bf16(1.0), 1.0);
        // bf16 has 8 significant bits: 1 + 2^-8 is a tie -> 1.0; 1 + 2^-7 is exact.
        assert_eq!(round_to_bf16(1.0 + 2f32.powi(-8)), 1.0);
        assert_eq!(round_to_bf16(1.0 + 2f32.powi(-7)), 1.0 + 2f32.powi(-7));
        assert_eq!(round_to_bf16(3.3), 3.296875);
        assert!(round_to_bf16(f32::NAN).is_nan());
    }

    #[test]
    fn erf_matches_known_values() {
        // Reference values from Abramowitz & Stegun table 7.1.
        let cases = [
            (0.0, 0.0),
            (0.5, 0.520_499_877_813_047),
            (1.0, 0.842_700_792_949_715),
            (2.0, 0.995_322_265_018_953),
            (3.0, 0.999_977_909_503_001),
            (4.0, 0.999_999_984_582_742),
        ];
        for (x, want) in cases {
            assert!((erf(x) - want).abs() < 1e-13, "erf({x}) = {}", erf(x));
            assert!((erf(-x) + want).abs() < 1e-13);
        }
        assert_eq!(erf(40.0), 1.0);
    }
}
