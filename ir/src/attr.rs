//! Attributes: compile-time constant data attached to operations.
//!
//! Attribute dictionaries are `BTreeMap`s, sorted by name like MLIR's `DictionaryAttr`, so printing
//! is deterministic. Float attributes keep their exact value: an `f32` attribute stores an `f64`
//! that is exactly representable as `f32`, and the printer emits text that parses back to the same
//! bits. Dense tensors keep their payload as little-endian bytes; large payloads live in the
//! module's resource table and are referenced by name (`dense_resource<name>`), as in MLIR.

use bytes::Bytes;
use std::collections::BTreeMap;

use crate::types::{ElemType, TensorType, Type};

/// A sorted attribute dictionary.
pub type AttrDict = BTreeMap<String, Attribute>;

#[derive(Clone, Debug, PartialEq)]
pub enum Attribute {
    /// `unit` (presence-only flag).
    Unit,
    Bool(bool),
    /// `4 : i64`. The type is an integer element type (or `index`, as `ty: None`).
    Int {
        value: i64,
        ty: Option<ElemType>,
    },
    /// `1.5 : f32`. The value is exactly representable in `ty`.
    Float {
        value: f64,
        ty: ElemType,
    },
    /// `"text"`.
    String(String),
    /// `[a, b, c]`.
    Array(Vec<Attribute>),
    /// `{a = 1 : i64}`.
    Dict(AttrDict),
    /// `dense<...> : tensor<...>` with an inline payload.
    Dense(DenseAttr),
    /// `dense_resource<name> : tensor<...>`; the payload is in `Module::resources`.
    DenseResource {
        name: String,
        ty: TensorType,
    },
    /// `@symbol`.
    SymbolRef(String),
    /// A type used as an attribute (`function_type = (...) -> ...`).
    Type(Type),
}

impl Attribute {
    pub fn i64(value: i64) -> Attribute {
        Attribute::Int {
            value,
            ty: Some(ElemType::I64),
        }
    }

    pub fn f32(value: f32) -> Attribute {
        Attribute::Float {
            value: f64::from(value),
            ty: ElemType::F32,
        }
    }

    pub fn string(s: impl Into<String>) -> Attribute {
        Attribute::String(s.into())
    }

    pub fn i64_array(values: &[i64]) -> Attribute {
        Attribute::Array(values.iter().map(|&v| Attribute::i64(v)).collect())
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Attribute::Int { value, .. } => Some(*value),
            _ => None,
        }
    }

    pub fn as_float(&self) -> Option<f64> {
        match self {
            Attribute::Float { value, .. } => Some(*value),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Attribute::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Attribute::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Attribute]> {
        match self {
            Attribute::Array(a) => Some(a),
            _ => None,
        }
    }

    /// An array of integers, e.g. `perm = [0, 2, 1, 3]`.
    pub fn as_int_array(&self) -> Option<Vec<i64>> {
        self.as_array()?.iter().map(Attribute::as_int).collect()
    }

    /// A short name of the attribute's kind, for error messages and schemas.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Attribute::Unit => "unit",
            Attribute::Bool(_) => "bool",
            Attribute::Int { .. } => "integer",
            Attribute::Float { .. } => "float",
            Attribute::String(_) => "string",
            Attribute::Array(_) => "array",
            Attribute::Dict(_) => "dictionary",
            Attribute::Dense(_) => "dense",
            Attribute::DenseResource { .. } => "dense_resource",
            Attribute::SymbolRef(_) => "symbol",
            Attribute::Type(_) => "type",
        }
    }
}

/// An inline dense tensor constant: a static tensor type plus its little-endian payload.
///
/// Invariant (checked by [`DenseAttr::new`]): `bytes.len() == num_elements * elem.byte_size()`.
/// `i1` elements take one byte each, 0 or 1.
#[derive(Clone, Debug, PartialEq)]
pub struct DenseAttr {
    ty: TensorType,
    bytes: Bytes,
}

impl DenseAttr {
    /// Build from a static tensor type and its payload; `None` if the type is not static or the
    /// payload has the wrong length.
    pub fn new(ty: TensorType, bytes: impl Into<Bytes>) -> Option<DenseAttr> {
        let bytes = bytes.into();
        let n = usize::try_from(ty.num_elements()?).ok()?;
        (n.checked_mul(ty.elem.byte_size())? == bytes.len()).then_some(DenseAttr { ty, bytes })
    }

    pub fn from_f32(shape: &[u64], values: &[f32]) -> Option<DenseAttr> {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        DenseAttr::new(TensorType::static_shape(shape, ElemType::F32), bytes)
    }

    pub fn from_i64(shape: &[u64], values: &[i64]) -> Option<DenseAttr> {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        DenseAttr::new(TensorType::static_shape(shape, ElemType::I64), bytes)
    }

    pub fn ty(&self) -> &TensorType {
        &self.ty
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The payload itself, shared (a slice of a mapped model file stays one).
    pub fn payload(&self) -> &Bytes {
        &self.bytes
    }

    pub fn len(&self) -> usize {
        self.bytes.len() / self.ty.elem.byte_size()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Element `i` widened to `f64` (exact for every element type we support).
    pub fn get_f64(&self, i: usize) -> f64 {
        elem_to_f64(self.ty.elem, self.elem_bytes(i))
    }

    /// Element `i` as an integer (floats are truncated; only meaningful for integer types).
    pub fn get_i64(&self, i: usize) -> i64 {
        elem_to_i64(self.ty.elem, self.elem_bytes(i))
    }

    /// True when every element has the same bytes (printed as a splat, `dense<1.0>`).
    pub fn is_splat(&self) -> bool {
        let w = self.ty.elem.byte_size();
        let first = &self.bytes[..w.min(self.bytes.len())];
        self.bytes.chunks_exact(w).all(|c| c == first)
    }

    fn elem_bytes(&self, i: usize) -> &[u8] {
        let w = self.ty.elem.byte_size();
        &self.bytes[i * w..(i + 1) * w]
    }
}

/// Decode one little-endian element as `f64`.
pub fn elem_to_f64(elem: ElemType, b: &[u8]) -> f64 {
    match elem {
        ElemType::F32 => f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        ElemType::F16 => f16_bits_to_f64(u16::from_le_bytes([b[0], b[1]])),
        ElemType::BF16 => f64::from(f32::from_bits(
            u32::from(u16::from_le_bytes([b[0], b[1]])) << 16,
        )),
        _ => elem_to_i64(elem, b) as f64,
    }
}

/// Decode one little-endian integer element (sign-extended; `i1` is 0 or 1).
pub fn elem_to_i64(elem: ElemType, b: &[u8]) -> i64 {
    match elem {
        ElemType::I64 => i64::from_le_bytes(b[..8].try_into().expect("8 bytes")),
        ElemType::I32 => i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        ElemType::I8 => i64::from(b[0] as i8),
        ElemType::U8 => i64::from(b[0]),
        ElemType::I1 => i64::from(b[0] != 0),
        _ => elem_to_f64(elem, b) as i64,
    }
}

/// IEEE half precision bits to `f64` (exact).
pub fn f16_bits_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let frac = f64::from(h & 0x3ff);
    match exp {
        0 => sign * frac * 2f64.powi(-24),
        31 if frac == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        _ => sign * (1.0 + frac / 1024.0) * 2f64.powi(exp - 15),
    }
}

/// A named blob referenced by `dense_resource<name>` (MLIR's `dialect_resources` section).
#[derive(Clone, Debug)]
pub struct Resource {
    /// Alignment in bytes, as written in MLIR's blob header.
    pub alignment: u32,
    pub bytes: Bytes,
    /// The file range `bytes` were mapped from, when they are exactly its contents (ONNX
    /// external data). Provenance only: the text form does not keep it.
    pub origin: Option<FileRange>,
}

/// Two resources are equal when their contents are: where they were read from is not part of
/// the value (a printed and re-parsed module equals the imported one).
impl PartialEq for Resource {
    fn eq(&self, other: &Resource) -> bool {
        self.alignment == other.alignment && self.bytes == other.bytes
    }
}

/// A byte range of a file that stays in place, so a program can reference it, not copy it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRange {
    /// Resolved (canonical) path.
    pub path: std::path::PathBuf,
    pub offset: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_rejects_wrong_payload_length() {
        let ty = TensorType::static_shape(&[2, 2], ElemType::F32);
        assert!(DenseAttr::new(ty.clone(), vec![0u8; 15]).is_none());
        assert!(DenseAttr::new(ty, vec![0u8; 16]).is_some());
    }

    #[test]
    fn dense_reads_elements_back() {
        let d = DenseAttr::from_f32(&[3], &[1.5, -2.0, 0.25]).unwrap();
        assert_eq!(d.get_f64(1), -2.0);
        assert!(!d.is_splat());
        let d = DenseAttr::from_i64(&[2], &[-7, -7]).unwrap();
        assert_eq!(d.get_i64(0), -7);
        assert!(d.is_splat());
    }

    #[test]
    fn f16_decoding_is_exact() {
        assert_eq!(f16_bits_to_f64(0x3c00), 1.0);
        assert_eq!(f16_bits_to_f64(0xc000), -2.0);
        assert_eq!(f16_bits_to_f64(0x0001), 2f64.powi(-24));
        assert!(f16_bits_to_f64(0x7c00).is_infinite());
    }
}
