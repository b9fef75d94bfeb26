//! Types: element types, ranked tensors with static / dynamic / named dims, and function types.
//!
//! Named symbolic dims (`batch`, `seq`) have no spelling in MLIR's builtin tensor type, so the text
//! form prints them as `?` and records the names in the tensor's encoding attribute, one string per
//! dynamic dim in order (`""` for an anonymous one): `tensor<?x?x128xf32, ["batch", "seq"]>`.
//! Real MLIR accepts any attribute as a tensor encoding, so this stays valid MLIR.

use std::fmt;

/// Scalar element types.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ElemType {
    F32,
    F16,
    BF16,
    I64,
    I32,
    I8,
    /// Unsigned bytes (`ui8`): quantized activations and zero points.
    U8,
    /// Booleans (`i1`).
    I1,
}

impl ElemType {
    pub const ALL: [ElemType; 8] = [
        ElemType::F32,
        ElemType::F16,
        ElemType::BF16,
        ElemType::I64,
        ElemType::I32,
        ElemType::I8,
        ElemType::U8,
        ElemType::I1,
    ];

    /// The MLIR spelling (`f32`, `i1`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ElemType::F32 => "f32",
            ElemType::F16 => "f16",
            ElemType::BF16 => "bf16",
            ElemType::I64 => "i64",
            ElemType::I32 => "i32",
            ElemType::I8 => "i8",
            ElemType::U8 => "ui8",
            ElemType::I1 => "i1",
        }
    }

    pub fn from_name(s: &str) -> Option<ElemType> {
        ElemType::ALL.into_iter().find(|e| e.name() == s)
    }

    pub fn is_float(self) -> bool {
        matches!(self, ElemType::F32 | ElemType::F16 | ElemType::BF16)
    }

    pub fn is_int(self) -> bool {
        !self.is_float()
    }

    /// Bytes per element in memory and in dense attribute payloads (`i1` takes one byte).
    pub fn byte_size(self) -> usize {
        match self {
            ElemType::F32 | ElemType::I32 => 4,
            ElemType::F16 | ElemType::BF16 => 2,
            ElemType::I64 => 8,
            ElemType::I8 | ElemType::U8 | ElemType::I1 => 1,
        }
    }

    /// Bit width of an integer type.
    pub fn bit_width(self) -> u32 {
        match self {
            ElemType::I1 => 1,
            other => other.byte_size() as u32 * 8,
        }
    }
}

impl fmt::Display for ElemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One tensor dimension.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dim {
    Static(u64),
    /// Unknown and unnamed (`?`).
    Dynamic,
    /// Unknown but named (`seq`); users bind names with `--shape seq=128`.
    Named(String),
}

impl Dim {
    pub fn as_static(&self) -> Option<u64> {
        match self {
            Dim::Static(n) => Some(*n),
            _ => None,
        }
    }
}

/// A ranked tensor type.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TensorType {
    pub dims: Vec<Dim>,
    pub elem: ElemType,
}

impl TensorType {
    pub fn new(dims: Vec<Dim>, elem: ElemType) -> Self {
        Self { dims, elem }
    }

    /// A tensor with all dims static.
    pub fn static_shape(shape: &[u64], elem: ElemType) -> Self {
        Self::new(shape.iter().map(|&d| Dim::Static(d)).collect(), elem)
    }

    pub fn rank(&self) -> usize {
        self.dims.len()
    }

    /// The shape if every dim is static.
    pub fn static_dims(&self) -> Option<Vec<u64>> {
        self.dims.iter().map(Dim::as_static).collect()
    }

    /// Number of elements if static; `None` when dynamic or when the count overflows `u64`.
    pub fn num_elements(&self) -> Option<u64> {
        self.dims
            .iter()
            .try_fold(1u64, |acc, d| acc.checked_mul(d.as_static()?))
    }

    /// Names of the dynamic dims, in order, `""` for anonymous ones; empty if none is named.
    pub fn dim_names(&self) -> Vec<&str> {
        let names: Vec<&str> = self
            .dims
            .iter()
            .filter_map(|d| match d {
                Dim::Static(_) => None,
                Dim::Dynamic => Some(""),
                Dim::Named(n) => Some(n.as_str()),
            })
            .collect();
        if names.iter().all(|n| n.is_empty()) {
            Vec::new()
        } else {
            names
        }
    }
}

/// A function signature, as used by `func.func`'s `function_type`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FunctionType {
    pub inputs: Vec<Type>,
    pub results: Vec<Type>,
}

/// Any type that can appear in the IR.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Type {
    /// A scalar of an element type (attribute types, later scalar SSA values).
    Scalar(ElemType),
    /// MLIR's `index`.
    Index,
    Tensor(TensorType),
    Function(FunctionType),
    /// MLIR's `none`: the type of an absent optional operand (`onnx.NoValue`).
    None,
}

impl Type {
    pub fn tensor(dims: Vec<Dim>, elem: ElemType) -> Type {
        Type::Tensor(TensorType::new(dims, elem))
    }

    pub fn as_tensor(&self) -> Option<&TensorType> {
        match self {
            Type::Tensor(t) => Some(t),
            _ => None,
        }
    }

    pub fn elem(&self) -> Option<ElemType> {
        match self {
            Type::Scalar(e) => Some(*e),
            Type::Tensor(t) => Some(t.elem),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elem_names_round_trip() {
        for e in ElemType::ALL {
            assert_eq!(ElemType::from_name(e.name()), Some(e));
        }
        assert_eq!(ElemType::from_name("f64"), None);
    }

    #[test]
    fn num_elements_is_checked() {
        let t = TensorType::static_shape(&[1 << 40, 1 << 40], ElemType::F32);
        assert_eq!(t.num_elements(), None);
        let t = TensorType::static_shape(&[2, 3, 4], ElemType::F32);
        assert_eq!(t.num_elements(), Some(24));
    }

    #[test]
    fn dim_names_only_when_some_dim_is_named() {
        let t = TensorType::new(vec![Dim::Dynamic, Dim::Static(4)], ElemType::F32);
        assert!(t.dim_names().is_empty());
        let t = TensorType::new(
            vec![Dim::Named("batch".into()), Dim::Dynamic, Dim::Static(4)],
            ElemType::F32,
        );
        assert_eq!(t.dim_names(), vec!["batch", ""]);
    }
}
