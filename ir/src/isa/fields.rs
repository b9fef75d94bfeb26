//! Instruction operand fields: one trait giving each field type its fixed binary width and
//! encoding, and its canonical assembly spelling with a parser.
//!
//! The instruction table (`instr.rs`) lists fields by type; encoder, decoder, printer and parser
//! are generated from that list through this trait, so the four can never disagree.
//! Decoding rejects every bit pattern the printer could not reproduce (NaN immediates, unknown
//! enum codes, the unused SRAM space code), which is what makes `disasm | asm` byte-exact.

use super::{
    Bcast, CmpOp, DType, DramAddr, Engine, ReduceOp, SramRef, SramSpace, SufaMode, TensorDecl,
};

/// Why a field's bytes (binary) or text (assembly) are not a valid value. The decoder adds the
/// byte offset, the assembly parser the field name and `line:col`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("instruction truncated")]
    InstrTruncated,
    #[error("expected {expected} bytes, found {found}")]
    Width { expected: usize, found: usize },
    #[error("'{0}' is not a hexadecimal integer")]
    NotHex(String),
    #[error("'{0}' is not an unsigned integer")]
    NotUnsigned(String),
    #[error("'{0}' does not fit in 64 bits")]
    TooWide(String),
    #[error("{value} is out of range (at most {bits} bits)")]
    OutOfRange { value: u64, bits: usize },
    #[error("invalid boolean byte {0:#04x} (expected 0 or 1)")]
    BoolByte(u8),
    #[error("expected true or false, found '{0}'")]
    NotBool(String),
    #[error("NaN immediate")]
    NanBits,
    #[error("NaN is not a valid immediate")]
    NanText,
    #[error("'{0}' is not a number")]
    NotNumber(String),
    #[error("invalid SRAM space code {code} in {word:#010x}")]
    SpaceCode { code: u8, word: u32 },
    #[error("expected SPACE[OFFSET] with SPACE one of token, weight, temp; found '{0}'")]
    NotSramRef(String),
    #[error("SRAM offset {0:#x} exceeds 30 bits")]
    OffsetTooLarge(u64),
    #[error("no tensor named '{0}' is declared before this line")]
    UnknownTensor(String),
    #[error("'{0}' overflows 64 bits")]
    AddressOverflow(String),
    #[error("unterminated quoted name")]
    UnterminatedName,
    #[error("expected +OFFSET after the name")]
    MissingOffset,
    #[error("invalid {what} code {code}")]
    EnumCode { what: &'static str, code: u8 },
    /// `expected` lists every spelling.
    #[error("unknown {what} '{text}' (expected one of {expected})")]
    EnumName {
        what: &'static str,
        text: String,
        expected: String,
    },
    #[error("expected [D0,D1,...], found '{0}'")]
    NotShape(String),
    #[error("expected a quoted string, found '{0}'")]
    NotQuoted(String),
    /// The characters after the backslash.
    #[error("invalid escape '\\{0}'")]
    Escape(String),
    #[error("unescaped '\"' inside a string")]
    BareQuote,
    #[error(transparent)]
    Attrs(#[from] super::HostAttrError),
}

/// One kind of instruction field.
pub(crate) trait Field: Sized {
    /// Encoded size in bytes.
    const WIDTH: usize;
    /// Append exactly `WIDTH` little-endian bytes.
    fn put(&self, out: &mut Vec<u8>);
    /// Decode from exactly `WIDTH` bytes.
    fn get(bytes: &[u8]) -> Result<Self, FieldError>;
    /// The canonical assembly spelling.
    fn print(&self, out: &mut String);
    /// Parse an assembly value; `tensors` resolves `@name` DRAM references.
    fn parse(text: &str, tensors: &[TensorDecl]) -> Result<Self, FieldError>;
}

fn array<const N: usize>(bytes: &[u8]) -> Result<[u8; N], FieldError> {
    bytes.try_into().map_err(|_| FieldError::Width {
        expected: N,
        found: bytes.len(),
    })
}

/// A decimal or `0x` hexadecimal unsigned integer.
pub(crate) fn parse_u64(text: &str) -> Result<u64, FieldError> {
    let parsed = match text.strip_prefix("0x") {
        Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            u64::from_str_radix(hex, 16)
        }
        Some(_) => return Err(FieldError::NotHex(text.to_string())),
        None if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => text.parse(),
        None => return Err(FieldError::NotUnsigned(text.to_string())),
    };
    parsed.map_err(|_| FieldError::TooWide(text.to_string()))
}

fn parse_bounded<T: TryFrom<u64>>(text: &str) -> Result<T, FieldError> {
    let value = parse_u64(text)?;
    T::try_from(value).map_err(|_| FieldError::OutOfRange {
        value,
        bits: std::mem::size_of::<T>() * 8,
    })
}

macro_rules! uint_field {
    ($t:ty, $n:literal) => {
        impl Field for $t {
            const WIDTH: usize = $n;
            fn put(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn get(bytes: &[u8]) -> Result<Self, FieldError> {
                Ok(<$t>::from_le_bytes(array(bytes)?))
            }
            fn print(&self, out: &mut String) {
                out.push_str(&self.to_string());
            }
            fn parse(text: &str, _: &[TensorDecl]) -> Result<Self, FieldError> {
                parse_bounded(text)
            }
        }
    };
}

uint_field!(u16, 2);
uint_field!(u32, 4);

impl Field for bool {
    const WIDTH: usize = 1;
    fn put(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
    fn get(bytes: &[u8]) -> Result<Self, FieldError> {
        match array::<1>(bytes)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(FieldError::BoolByte(b)),
        }
    }
    fn print(&self, out: &mut String) {
        out.push_str(if *self { "true" } else { "false" });
    }
    fn parse(text: &str, _: &[TensorDecl]) -> Result<Self, FieldError> {
        match text {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(FieldError::NotBool(text.to_string())),
        }
    }
}

/// Immediates: any f32 but NaN (NaN payloads have no exact text form, and no meaning here).
impl Field for f32 {
    const WIDTH: usize = 4;
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_bits().to_le_bytes());
    }
    fn get(bytes: &[u8]) -> Result<Self, FieldError> {
        let v = f32::from_bits(u32::from_le_bytes(array(bytes)?));
        if v.is_nan() {
            return Err(FieldError::NanBits);
        }
        Ok(v)
    }
    fn print(&self, out: &mut String) {
        // `{:?}` is the shortest text that parses back to the same bits (`8.0`, `1e-5`, `inf`).
        out.push_str(&format!("{self:?}"));
    }
    fn parse(text: &str, _: &[TensorDecl]) -> Result<Self, FieldError> {
        let lower = text.to_ascii_lowercase();
        if lower.contains("nan") {
            return Err(FieldError::NanText);
        }
        text.parse::<f32>()
            .map_err(|_| FieldError::NotNumber(text.to_string()))
    }
}

const SPACE_SHIFT: u32 = 30;
const OFFSET_MASK: u32 = (1 << SPACE_SHIFT) - 1;
/// The encoding of an absent optional SRAM operand (space code 3 is otherwise invalid).
const NONE_REF: u32 = u32::MAX;

fn pack(r: &SramRef) -> u32 {
    (u32::from(r.space.code()) << SPACE_SHIFT) | (r.offset & OFFSET_MASK)
}

fn unpack(word: u32) -> Result<SramRef, FieldError> {
    let code = (word >> SPACE_SHIFT) as u8;
    let space = SramSpace::from_code(code).ok_or(FieldError::SpaceCode { code, word })?;
    Ok(SramRef::new(space, word & OFFSET_MASK))
}

impl Field for SramRef {
    const WIDTH: usize = 4;
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&pack(self).to_le_bytes());
    }
    fn get(bytes: &[u8]) -> Result<Self, FieldError> {
        unpack(u32::from_le_bytes(array(bytes)?))
    }
    fn print(&self, out: &mut String) {
        out.push_str(&format!("{}[{:#x}]", self.space, self.offset));
    }
    fn parse(text: &str, _: &[TensorDecl]) -> Result<Self, FieldError> {
        let bad = || FieldError::NotSramRef(text.to_string());
        let (space, rest) = text.split_once('[').ok_or_else(bad)?;
        let offset = rest.strip_suffix(']').ok_or_else(bad)?;
        let space = SramSpace::from_name(space).ok_or_else(bad)?;
        let offset = parse_u64(offset)?;
        if offset > u64::from(OFFSET_MASK) {
            return Err(FieldError::OffsetTooLarge(offset));
        }
        Ok(SramRef::new(space, offset as u32))
    }
}

impl Field for Option<SramRef> {
    const WIDTH: usize = 4;
    fn put(&self, out: &mut Vec<u8>) {
        let word = self.as_ref().map_or(NONE_REF, pack);
        out.extend_from_slice(&word.to_le_bytes());
    }
    fn get(bytes: &[u8]) -> Result<Self, FieldError> {
        match u32::from_le_bytes(array(bytes)?) {
            NONE_REF => Ok(None),
            word => unpack(word).map(Some),
        }
    }
    fn print(&self, out: &mut String) {
        match self {
            Some(r) => r.print(out),
            None => out.push_str("none"),
        }
    }
    fn parse(text: &str, tensors: &[TensorDecl]) -> Result<Self, FieldError> {
        match text {
            "none" => Ok(None),
            _ => SramRef::parse(text, tensors).map(Some),
        }
    }
}

impl Field for DramAddr {
    const WIDTH: usize = 8;
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.to_le_bytes());
    }
    fn get(bytes: &[u8]) -> Result<Self, FieldError> {
        Ok(DramAddr(u64::from_le_bytes(array(bytes)?)))
    }
    fn print(&self, out: &mut String) {
        out.push_str(&format!("{:#x}", self.0));
    }
    /// A number, or `@NAME` / `@NAME+OFFSET` relative to a declared tensor.
    fn parse(text: &str, tensors: &[TensorDecl]) -> Result<Self, FieldError> {
        let Some(sym) = text.strip_prefix('@') else {
            return parse_u64(text).map(DramAddr);
        };
        let (name, offset) = split_symbol(sym)?;
        let tensor = tensors
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| FieldError::UnknownTensor(name.clone()))?;
        tensor
            .dram
            .checked_add(offset)
            .map(DramAddr)
            .ok_or_else(|| FieldError::AddressOverflow(text.to_string()))
    }
}

/// `name`, `name+off`, `"quoted name"` or `"quoted name"+off` → (name, off).
fn split_symbol(sym: &str) -> Result<(String, u64), FieldError> {
    if sym.starts_with('"') {
        let end = sym
            .rfind('"')
            .filter(|&e| e > 0)
            .ok_or(FieldError::UnterminatedName)?;
        let (quoted, rest) = sym.split_at(end + 1);
        let name = super::parse::unquote(quoted)?;
        let offset = match rest {
            "" => 0,
            _ => parse_u64(rest.strip_prefix('+').ok_or(FieldError::MissingOffset)?)?,
        };
        return Ok((name, offset));
    }
    Ok(match sym.rsplit_once('+') {
        Some((name, off)) if parse_u64(off).is_ok() => (name.to_string(), parse_u64(off)?),
        _ => (sym.to_string(), 0),
    })
}

macro_rules! enum_field {
    ($t:ty, $what:literal) => {
        impl Field for $t {
            const WIDTH: usize = 1;
            fn put(&self, out: &mut Vec<u8>) {
                out.push(self.code());
            }
            fn get(bytes: &[u8]) -> Result<Self, FieldError> {
                let code = array::<1>(bytes)?[0];
                <$t>::from_code(code).ok_or(FieldError::EnumCode { what: $what, code })
            }
            fn print(&self, out: &mut String) {
                out.push_str(self.name());
            }
            fn parse(text: &str, _: &[TensorDecl]) -> Result<Self, FieldError> {
                <$t>::from_name(text).ok_or_else(|| FieldError::EnumName {
                    what: $what,
                    text: text.to_string(),
                    expected: <$t>::names(),
                })
            }
        }
    };
}

enum_field!(DType, "dtype");
enum_field!(Engine, "engine");
enum_field!(Bcast, "broadcast");
enum_field!(SufaMode, "SU-FA mode");
enum_field!(ReduceOp, "reduction");
enum_field!(CmpOp, "comparison");

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: Field + PartialEq + std::fmt::Debug>(v: T) {
        let mut bytes = Vec::new();
        v.put(&mut bytes);
        assert_eq!(bytes.len(), T::WIDTH);
        assert_eq!(T::get(&bytes).unwrap(), v);
        let mut text = String::new();
        v.print(&mut text);
        assert_eq!(T::parse(&text, &[]).unwrap(), v, "{text}");
    }

    #[test]
    fn every_field_kind_round_trips() {
        round_trip(7u16);
        round_trip(u32::MAX);
        round_trip(true);
        round_trip(1e-5f32);
        round_trip(f32::INFINITY);
        round_trip(-0.0f32);
        round_trip(f32::from_bits(1)); // smallest subnormal
        round_trip(SramRef::temp(0x3fff_ffff));
        round_trip(None::<SramRef>);
        round_trip(Some(SramRef::weight(16)));
        round_trip(DramAddr(u64::MAX));
        round_trip(DType::Lz4);
        round_trip(Engine::Ctrl);
    }

    #[test]
    fn invalid_bit_patterns_are_rejected() {
        assert!(f32::get(&f32::NAN.to_bits().to_le_bytes()).is_err());
        assert!(SramRef::get(&0xc000_0000u32.to_le_bytes()).is_err());
        assert!(<Option<SramRef>>::get(&0xc000_0001u32.to_le_bytes()).is_err());
        assert!(bool::get(&[2]).is_err());
        assert!(DType::get(&[0]).is_err());
    }

    #[test]
    fn text_errors_are_specific() {
        assert_eq!(
            u16::parse("70000", &[]),
            Err(FieldError::OutOfRange {
                value: 70000,
                bits: 16
            })
        );
        assert_eq!(
            SramRef::parse("temp[0x40000000]", &[])
                .unwrap_err()
                .to_string(),
            "SRAM offset 0x40000000 exceeds 30 bits"
        );
        assert!(SramRef::parse("dram[0]", &[]).is_err());
        assert!(f32::parse("nan", &[]).is_err());
        assert!(u32::parse("0x", &[]).is_err());
        assert!(u32::parse("-1", &[]).is_err());
    }
}
