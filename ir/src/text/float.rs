//! Float literals with exact bits for f32, f16 and bf16.
//!
//! Attributes store floats as `f64`; these helpers move between that value, the bit pattern of the
//! attribute's own type, and text. Printing: finite values other than -0.0 print as the shortest
//! decimal that parses back to the same bits *in their type*, always containing a `.` as MLIR's
//! float grammar requires (`0.1`, `2.0`, `1.0e-12`); NaN, infinities and -0.0 print as the hex bit
//! pattern of the type (`0x7FC00000`), which is MLIR's spelling. NaN payloads are kept bit-exactly
//! (the conversions below never go through hardware float conversion for NaN).
//!
//! Parsing f16/bf16 decimals rounds the correctly rounded `f64` to the narrow type (round to
//! nearest even); the printer picks its digits through that same path, so printed text always
//! reads back to the same bits.

use crate::attr::f16_bits_to_f64;
use crate::types::ElemType;

/// (exponent bits, mantissa bits) of a float element type.
fn format_of(ty: ElemType) -> (u32, u32) {
    match ty {
        ElemType::F16 => (5, 10),
        ElemType::BF16 => (8, 7),
        _ => (8, 23),
    }
}

/// Width in bits of the float type's encoding.
pub(super) fn float_width(ty: ElemType) -> u32 {
    let (e, m) = format_of(ty);
    1 + e + m
}

fn is_nan_bits(bits: u64, ty: ElemType) -> bool {
    let (e, m) = format_of(ty);
    let exp_mask = (1u64 << e) - 1;
    (bits >> m) & exp_mask == exp_mask && bits & ((1u64 << m) - 1) != 0
}

/// The value (as `f64`, exact) of a bit pattern of a float type.
pub(super) fn value_of_bits(bits: u64, ty: ElemType) -> f64 {
    let (_, m) = format_of(ty);
    if is_nan_bits(bits, ty) {
        let sign = (bits >> (float_width(ty) - 1)) & 1;
        let payload = bits & ((1u64 << m) - 1);
        return f64::from_bits(sign << 63 | 0x7ff << 52 | payload << (52 - m));
    }
    match ty {
        ElemType::F16 => f16_bits_to_f64(bits as u16),
        ElemType::BF16 => f64::from(f32::from_bits(((bits as u32) & 0xffff) << 16)),
        _ => f64::from(f32::from_bits(bits as u32)),
    }
}

/// The bit pattern of `value` in float type `ty` (rounded to nearest even if not exact).
pub(super) fn bits_of(value: f64, ty: ElemType) -> u64 {
    let (e, m) = format_of(ty);
    if value.is_nan() {
        let raw = value.to_bits();
        let sign = raw >> 63;
        let mut payload = (raw & ((1u64 << 52) - 1)) >> (52 - m);
        if payload == 0 {
            payload = 1 << (m - 1);
        }
        return sign << (e + m) | ((1u64 << e) - 1) << m | payload;
    }
    match ty {
        ElemType::F16 | ElemType::BF16 => encode_rne(value, e, m),
        _ => u64::from((value as f32).to_bits()),
    }
}

/// Round a non-NaN `f64` to an IEEE binary format with `ebits`/`mbits`, nearest-even.
fn encode_rne(x: f64, ebits: u32, mbits: u32) -> u64 {
    let sign = u64::from(x.is_sign_negative()) << (ebits + mbits);
    let max_exp = (1u64 << ebits) - 1;
    if x.is_infinite() {
        return sign | max_exp << mbits;
    }
    let raw = x.abs().to_bits();
    let e64 = ((raw >> 52) & 0x7ff) as i64;
    if e64 == 0 {
        return sign; // f64 subnormals are far below the narrow formats' range.
    }
    let sig = (1u64 << 52) | (raw & ((1u64 << 52) - 1));
    let bias = (1i64 << (ebits - 1)) - 1;
    let target_exp = e64 - 1023 + bias;
    if target_exp >= 1 {
        let mut r = shift_round(sig, 52 - mbits);
        let mut exp = target_exp as u64;
        if r >> (mbits + 1) != 0 {
            r >>= 1;
            exp += 1;
        }
        if exp >= max_exp {
            return sign | max_exp << mbits;
        }
        return sign | exp << mbits | (r & ((1u64 << mbits) - 1));
    }
    // Subnormal: one more bit of shift per step below the minimum exponent. A carry into bit
    // `mbits` yields the smallest normal number, which is the right encoding.
    let shift = u64::from(52 - mbits) + (1 - target_exp) as u64;
    sign | shift_round(sig, u32::try_from(shift).unwrap_or(u32::MAX))
}

/// `v >> s`, rounded to nearest, ties to even.
fn shift_round(v: u64, s: u32) -> u64 {
    if s == 0 {
        return v;
    }
    if s >= 64 {
        return 0;
    }
    let q = v >> s;
    let rem = v & ((1u64 << s) - 1);
    let half = 1u64 << (s - 1);
    if rem > half || (rem == half && q & 1 == 1) {
        q + 1
    } else {
        q
    }
}

/// Parse a decimal literal (`1.5`, `-2.0e-3`, `7`) into the bits of `ty`. `None` if malformed.
pub(super) fn parse_decimal(text: &str, ty: ElemType) -> Option<u64> {
    match ty {
        ElemType::F16 | ElemType::BF16 => Some(bits_of(text.parse::<f64>().ok()?, ty)),
        _ => Some(u64::from(text.parse::<f32>().ok()?.to_bits())),
    }
}

/// Text for a bit pattern of float type `ty`: shortest decimal, or hex for NaN/inf/-0.0.
pub(super) fn format_bits(bits: u64, ty: ElemType) -> String {
    let value = value_of_bits(bits, ty);
    if !value.is_finite() || (value == 0.0 && value.is_sign_negative()) {
        let digits = (float_width(ty) / 4) as usize;
        return format!("0x{bits:0digits$X}");
    }
    let sci = match ty {
        // `{:e}` prints the shortest digits that round-trip in the value's own type.
        ElemType::F32 => format!("{:e}", f32::from_bits(bits as u32)),
        _ => shortest_narrow(value, bits, ty),
    };
    render_decimal(&sci)
}

/// Text for an attribute value of float type `ty`.
pub(super) fn format_value(value: f64, ty: ElemType) -> String {
    format_bits(bits_of(value, ty), ty)
}

/// Shortest `{:e}` text of an f16/bf16 value that [`parse_decimal`] maps back to `bits`.
fn shortest_narrow(value: f64, bits: u64, ty: ElemType) -> String {
    (0..17)
        .map(|p| format!("{value:.p$e}"))
        .find(|s| parse_decimal(s, ty) == Some(bits))
        .unwrap_or_else(|| format!("{value:e}"))
}

/// Turn Rust's `d.ddde±x` into MLIR float syntax: positional for moderate exponents, else
/// scientific, and always with a `.`.
fn render_decimal(sci: &str) -> String {
    let (neg, sci) = match sci.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, sci),
    };
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    let mut out = String::with_capacity(digits.len() + 8);
    if neg {
        out.push('-');
    }
    if (-5..16).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() > int_len {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            } else {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
                out.push_str(".0");
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        out.push('.');
        out.push_str(if digits.len() > 1 { &digits[1..] } else { "0" });
        out.push('e');
        out.push_str(&exp.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32_text(v: f32) -> String {
        format_value(f64::from(v), ElemType::F32)
    }

    fn reparse_f32(v: f32) -> u32 {
        let s = f32_text(v);
        if let Some(hex) = s.strip_prefix("0x") {
            return u32::from_str_radix(hex, 16).unwrap();
        }
        parse_decimal(&s, ElemType::F32).unwrap() as u32
    }

    #[test]
    fn f32_decimal_spellings() {
        assert_eq!(f32_text(0.1), "0.1");
        assert_eq!(f32_text(2.0), "2.0");
        assert_eq!(f32_text(-2.0), "-2.0");
        assert_eq!(f32_text(1e-12), "1.0e-12");
        assert_eq!(f32_text(1e-5), "0.00001");
        assert_eq!(f32_text(123456.5), "123456.5");
        assert_eq!(f32_text(1e20), "1.0e20");
        assert_eq!(f32_text(f32::MIN_POSITIVE), "1.1754944e-38");
        assert_eq!(f32_text(0.0), "0.0");
    }

    #[test]
    fn f32_bits_survive_print_and_parse() {
        let cases = [
            0.1f32,
            1e-12,
            f32::MIN_POSITIVE,
            f32::from_bits(1),
            f32::from_bits(0x007f_ffff),
            f32::MAX,
            -f32::MAX,
            3.4e-40,
            1.0 / 3.0,
            16_777_217.0,
        ];
        for v in cases {
            assert_eq!(
                reparse_f32(v),
                v.to_bits(),
                "{v:e} printed as {}",
                f32_text(v)
            );
        }
    }

    #[test]
    fn non_finite_and_negative_zero_print_as_hex() {
        assert_eq!(f32_text(-0.0), "0x80000000");
        assert_eq!(f32_text(f32::INFINITY), "0x7F800000");
        assert_eq!(f32_text(f32::NEG_INFINITY), "0xFF800000");
        assert_eq!(f32_text(f32::NAN), "0x7FC00000");
        // A signalling NaN payload is kept through the f64 storage.
        let snan = value_of_bits(0x7F80_0001, ElemType::F32);
        assert_eq!(bits_of(snan, ElemType::F32), 0x7F80_0001);
        assert_eq!(format_bits(0x7E01, ElemType::F16), "0x7E01");
        assert_eq!(format_value(-0.0, ElemType::BF16), "0x8000");
    }

    #[test]
    fn narrow_types_round_trip_every_bit_pattern() {
        for ty in [ElemType::F16, ElemType::BF16] {
            for bits in 0u64..=0xffff {
                let text = format_bits(bits, ty);
                let back = match text.strip_prefix("0x") {
                    Some(hex) => u64::from_str_radix(hex, 16).unwrap(),
                    None => parse_decimal(&text, ty).unwrap(),
                };
                assert_eq!(back, bits, "{ty:?} {bits:#x} printed as {text}");
            }
        }
    }

    #[test]
    fn narrow_rounding_is_nearest_even() {
        // 1 + 2^-11 is halfway between 1.0 and the next f16; ties go to even (1.0).
        assert_eq!(bits_of(1.0 + 2f64.powi(-11), ElemType::F16), 0x3c00);
        assert_eq!(bits_of(1.0 + 3.0 * 2f64.powi(-11), ElemType::F16), 0x3c02);
        assert_eq!(bits_of(65520.0, ElemType::F16), 0x7c00); // rounds to infinity
        assert_eq!(bits_of(2f64.powi(-25), ElemType::F16), 0); // half of min subnormal, to even
        assert_eq!(bits_of(2f64.powi(-24), ElemType::F16), 1);
        assert_eq!(bits_of(0.1, ElemType::F16), 0x2e66);
        assert_eq!(format_value(0.0999755859375, ElemType::F16), "0.1");
        assert_eq!(bits_of(1.0, ElemType::BF16), 0x3f80);
    }
}
