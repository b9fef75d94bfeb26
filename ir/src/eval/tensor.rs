//! Host tensors: a shape, an element type, and row-major data in one of three storages.
//!
//! Storage is `f32` for `f32`/`f16`/`bf16`, `i64` for `i64`/`i32`/`i8`/`ui8`, and `bool` for `i1`.
//! The element type says what the values *represent*: every constructor rounds `f16`/`bf16`
//! values to that precision and wraps `i32`/`i8`/`ui8` values into range, so kernels compute in the
//! wide storage type and the result is exactly what a narrow-typed device would hold.
//! Element counts are checked: no tensor has more than 2^31 elements.

use crate::attr::{elem_to_f64, elem_to_i64, Attribute, DenseAttr};
use crate::eval::error::{EvalErrorKind, KResult};
use crate::eval::precision::{
    bf16_bits_to_f32, f16_bits_to_f32, f32_to_bf16_bits, f32_to_f16_bits, round_to_bf16,
    round_to_f16,
};
use crate::module::Module;
use crate::types::{ElemType, TensorType, Type};

/// Largest element count of any tensor the evaluator creates.
pub const MAX_ELEMENTS: usize = 1 << 31;

/// Row-major element storage.
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    F32(Vec<f32>),
    I64(Vec<i64>),
    Bool(Vec<bool>),
}

/// Which storage an element type uses.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Storage {
    F32,
    I64,
    Bool,
}

impl Storage {
    pub fn of(elem: ElemType) -> Storage {
        match elem {
            ElemType::F32 | ElemType::F16 | ElemType::BF16 => Storage::F32,
            ElemType::I64 | ElemType::I32 | ElemType::I8 | ElemType::U8 => Storage::I64,
            ElemType::I1 => Storage::Bool,
        }
    }
}

impl TensorData {
    pub fn len(&self) -> usize {
        match self {
            TensorData::F32(v) => v.len(),
            TensorData::I64(v) => v.len(),
            TensorData::Bool(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn storage(&self) -> Storage {
        match self {
            TensorData::F32(_) => Storage::F32,
            TensorData::I64(_) => Storage::I64,
            TensorData::Bool(_) => Storage::Bool,
        }
    }
}

/// A host tensor. Invariant: `data.len() == product(shape) <= MAX_ELEMENTS`, the storage matches
/// `elem`, and values are representable in `elem`.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    elem: ElemType,
    shape: Vec<usize>,
    data: TensorData,
}

/// Number of elements of `shape`, rejecting counts above [`MAX_ELEMENTS`].
pub fn num_elements(shape: &[usize]) -> KResult<usize> {
    let n = shape
        .iter()
        .try_fold(1u128, |acc, &d| acc.checked_mul(d as u128))
        .unwrap_or(u128::MAX);
    if n > MAX_ELEMENTS as u128 {
        return Err(EvalErrorKind::TooLarge(n));
    }
    Ok(n as usize)
}

impl Tensor {
    /// Build a tensor, checking length and storage, and rounding values to `elem`.
    pub fn new(elem: ElemType, shape: Vec<usize>, data: TensorData) -> KResult<Tensor> {
        let n = num_elements(&shape)?;
        if data.len() != n {
            return Err(EvalErrorKind::invalid(format!(
                "tensor of shape {shape:?} needs {n} elements, got {}",
                data.len()
            )));
        }
        if data.storage() != Storage::of(elem) {
            return Err(EvalErrorKind::invalid(format!(
                "{elem} tensor cannot hold {:?} data",
                data.storage()
            )));
        }
        let data = normalize(elem, data);
        Ok(Tensor { elem, shape, data })
    }

    pub fn from_f32(shape: Vec<usize>, data: Vec<f32>) -> KResult<Tensor> {
        Tensor::new(ElemType::F32, shape, TensorData::F32(data))
    }

    pub fn from_i64(shape: Vec<usize>, data: Vec<i64>) -> KResult<Tensor> {
        Tensor::new(ElemType::I64, shape, TensorData::I64(data))
    }

    pub fn from_bool(shape: Vec<usize>, data: Vec<bool>) -> KResult<Tensor> {
        Tensor::new(ElemType::I1, shape, TensorData::Bool(data))
    }

    pub fn scalar_f32(v: f32) -> Tensor {
        Tensor {
            elem: ElemType::F32,
            shape: Vec::new(),
            data: TensorData::F32(vec![v]),
        }
    }

    pub fn scalar_i64(v: i64) -> Tensor {
        Tensor {
            elem: ElemType::I64,
            shape: Vec::new(),
            data: TensorData::I64(vec![v]),
        }
    }

    /// A tensor of zeros (false for `i1`).
    pub fn zeros(elem: ElemType, shape: Vec<usize>) -> KResult<Tensor> {
        let n = num_elements(&shape)?;
        let data = match Storage::of(elem) {
            Storage::F32 => TensorData::F32(vec![0.0; n]),
            Storage::I64 => TensorData::I64(vec![0; n]),
            Storage::Bool => TensorData::Bool(vec![false; n]),
        };
        Ok(Tensor { elem, shape, data })
    }

    pub fn elem(&self) -> ElemType {
        self.elem
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn data(&self) -> &TensorData {
        &self.data
    }

    pub fn into_data(self) -> TensorData {
        self.data
    }

    pub fn storage(&self) -> Storage {
        self.data.storage()
    }

    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            TensorData::F32(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<&[i64]> {
        match &self.data {
            TensorData::I64(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<&[bool]> {
        match &self.data {
            TensorData::Bool(v) => Some(v),
            _ => None,
        }
    }

    /// The static IR type of this tensor.
    pub fn tensor_type(&self) -> TensorType {
        let dims: Vec<u64> = self.shape.iter().map(|&d| d as u64).collect();
        TensorType::static_shape(&dims, self.elem)
    }

    /// The same data under another shape with the same element count.
    pub fn reshaped(self, shape: Vec<usize>) -> KResult<Tensor> {
        if num_elements(&shape)? != self.len() {
            return Err(EvalErrorKind::shape(format!(
                "cannot view shape {:?} as {shape:?}",
                self.shape
            )));
        }
        Ok(Tensor { shape, ..self })
    }

    /// The same values with another element type of the same storage (re-rounded).
    pub fn with_elem(self, elem: ElemType) -> KResult<Tensor> {
        Tensor::new(elem, self.shape, self.data)
    }

    /// Every element widened to `f64` (bools as 0/1).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match &self.data {
            TensorData::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            TensorData::I64(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::Bool(v) => v.iter().map(|&b| f64::from(u8::from(b))).collect(),
        }
    }

    /// Every element as an integer (floats truncated toward zero, bools as 0/1).
    pub fn to_i64_vec(&self) -> Vec<i64> {
        match &self.data {
            TensorData::F32(v) => v.iter().map(|&x| x as i64).collect(),
            TensorData::I64(v) => v.clone(),
            TensorData::Bool(v) => v.iter().map(|&b| i64::from(b)).collect(),
        }
    }

    // ---- conversion from and to IR constants ------------------------------------------------

    /// Decode a little-endian payload of a static tensor type.
    pub fn from_bytes(ty: &TensorType, bytes: &[u8]) -> KResult<Tensor> {
        let shape = static_shape(ty)?;
        let n = num_elements(&shape)?;
        let width = ty.elem.byte_size();
        if n.checked_mul(width) != Some(bytes.len()) {
            return Err(EvalErrorKind::invalid(format!(
                "payload of {} bytes does not fit tensor of shape {shape:?} and type {}",
                bytes.len(),
                ty.elem
            )));
        }
        let chunks = bytes.chunks_exact(width);
        let data = match ty.elem {
            ElemType::F32 | ElemType::F16 | ElemType::BF16 => {
                TensorData::F32(chunks.map(|c| elem_to_f64(ty.elem, c) as f32).collect())
            }
            ElemType::I64 | ElemType::I32 | ElemType::I8 | ElemType::U8 => {
                TensorData::I64(chunks.map(|c| elem_to_i64(ty.elem, c)).collect())
            }
            ElemType::I1 => TensorData::Bool(chunks.map(|c| c[0] != 0).collect()),
        };
        Ok(Tensor {
            elem: ty.elem,
            shape,
            data,
        })
    }

    pub fn from_dense(dense: &DenseAttr) -> KResult<Tensor> {
        Tensor::from_bytes(dense.ty(), dense.bytes())
    }

    /// A tensor from a `dense` or `dense_resource` attribute (resources looked up in `module`).
    pub fn from_attr(attr: &Attribute, module: &Module) -> KResult<Tensor> {
        match attr {
            Attribute::Dense(d) => Tensor::from_dense(d),
            Attribute::DenseResource { name, ty } => {
                let res = module.resources.get(name).ok_or_else(|| {
                    EvalErrorKind::invalid(format!("dense_resource<{name}> is not in the module"))
                })?;
                Tensor::from_bytes(ty, &res.bytes)
            }
            other => Err(EvalErrorKind::invalid(format!(
                "expected a dense tensor attribute, got {}",
                other.kind_name()
            ))),
        }
    }

    /// The little-endian payload in this tensor's element type (`i1` as one byte per element).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len() * self.elem.byte_size());
        match &self.data {
            TensorData::F32(v) => {
                for &x in v {
                    match self.elem {
                        ElemType::F16 => out.extend(f32_to_f16_bits(x).to_le_bytes()),
                        ElemType::BF16 => out.extend(f32_to_bf16_bits(x).to_le_bytes()),
                        _ => out.extend(x.to_le_bytes()),
                    }
                }
            }
            TensorData::I64(v) => {
                for &x in v {
                    match self.elem {
                        ElemType::I32 => out.extend((x as i32).to_le_bytes()),
                        ElemType::I8 => out.push(x as i8 as u8),
                        ElemType::U8 => out.push(x as u8),
                        _ => out.extend(x.to_le_bytes()),
                    }
                }
            }
            TensorData::Bool(v) => out.extend(v.iter().map(|&b| u8::from(b))),
        }
        out
    }

    pub fn to_dense(&self) -> KResult<DenseAttr> {
        DenseAttr::new(self.tensor_type(), self.to_bytes()).ok_or_else(|| {
            EvalErrorKind::invalid(format!("cannot encode tensor of shape {:?}", self.shape))
        })
    }

    /// An `Attribute::Dense` holding this tensor.
    pub fn to_attr(&self) -> KResult<Attribute> {
        Ok(Attribute::Dense(self.to_dense()?))
    }

    /// Whether the tensor fits the declared type: same element type and rank, equal static dims
    /// (dynamic and named dims accept any size).
    pub fn matches_type(&self, declared: &Type) -> bool {
        let Type::Tensor(tt) = declared else {
            return false;
        };
        tt.elem == self.elem()
            && tt.rank() == self.rank()
            && tt
                .dims
                .iter()
                .zip(self.shape())
                .all(|(d, &n)| d.as_static().is_none_or(|s| s == n as u64))
    }
}

/// Decode raw half-precision bits (used by file readers).
pub fn f16_values(bits: impl IntoIterator<Item = u16>) -> Vec<f32> {
    bits.into_iter().map(f16_bits_to_f32).collect()
}

/// Decode raw bfloat16 bits.
pub fn bf16_values(bits: impl IntoIterator<Item = u16>) -> Vec<f32> {
    bits.into_iter().map(bf16_bits_to_f32).collect()
}

fn static_shape(ty: &TensorType) -> KResult<Vec<usize>> {
    ty.dims
        .iter()
        .map(|d| {
            d.as_static()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| EvalErrorKind::invalid("constant tensor type must be static"))
        })
        .collect()
}

/// Round floats to `elem`'s precision and wrap integers into `elem`'s range.
fn normalize(elem: ElemType, data: TensorData) -> TensorData {
    match (elem, data) {
        (ElemType::F16, TensorData::F32(v)) => {
            TensorData::F32(v.into_iter().map(round_to_f16).collect())
        }
        (ElemType::BF16, TensorData::F32(v)) => {
            TensorData::F32(v.into_iter().map(round_to_bf16).collect())
        }
        (ElemType::I32, TensorData::I64(v)) => {
            TensorData::I64(v.into_iter().map(|x| i64::from(x as i32)).collect())
        }
        (ElemType::I8, TensorData::I64(v)) => {
            TensorData::I64(v.into_iter().map(|x| i64::from(x as i8)).collect())
        }
        (ElemType::U8, TensorData::I64(v)) => {
            TensorData::I64(v.into_iter().map(|x| i64::from(x as u8)).collect())
        }
        (_, data) => data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::Resource;

    #[test]
    fn constructor_checks_length_and_storage() {
        assert!(Tensor::from_f32(vec![2, 2], vec![1.0; 3]).is_err());
        assert!(Tensor::new(ElemType::I64, vec![1], TensorData::F32(vec![1.0])).is_err());
        let too_big = Tensor::zeros(ElemType::F32, vec![1 << 16, 1 << 16]);
        assert!(matches!(too_big, Err(EvalErrorKind::TooLarge(_))));
    }

    #[test]
    fn narrow_types_are_rounded_and_wrapped() {
        let t = Tensor::new(ElemType::I8, vec![2], TensorData::I64(vec![130, -1])).unwrap();
        assert_eq!(t.as_i64().unwrap(), &[-126, -1]);
        let t = Tensor::new(ElemType::F16, vec![1], TensorData::F32(vec![0.1])).unwrap();
        assert_eq!(t.as_f32().unwrap(), &[0.099_975_586]);
    }

    #[test]
    fn dense_round_trip_for_every_type() {
        for elem in ElemType::ALL {
            let data = match Storage::of(elem) {
                Storage::F32 => TensorData::F32(vec![1.5, -2.0, 0.25]),
                Storage::I64 => TensorData::I64(vec![3, -4, 5]),
                Storage::Bool => TensorData::Bool(vec![true, false, true]),
            };
            let t = Tensor::new(elem, vec![3], data).unwrap();
            let back = Tensor::from_dense(&t.to_dense().unwrap()).unwrap();
            assert_eq!(back, t, "{elem}");
        }
    }

    #[test]
    fn resources_are_resolved_through_the_module() {
        let mut m = Module::new();
        let bytes: Vec<u8> = [7i64, -8].iter().flat_map(|v| v.to_le_bytes()).collect();
        m.resources.insert(
            "w".into(),
            Resource {
                alignment: 8,
                bytes: bytes::Bytes::from(bytes),
                origin: None,
            },
        );
        let attr = Attribute::DenseResource {
            name: "w".into(),
            ty: TensorType::static_shape(&[2], ElemType::I64),
        };
        let t = Tensor::from_attr(&attr, &m).unwrap();
        assert_eq!(t.as_i64().unwrap(), &[7, -8]);
        let missing = Attribute::DenseResource {
            name: "nope".into(),
            ty: TensorType::static_shape(&[2], ElemType::I64),
        };
        assert!(Tensor::from_attr(&missing, &m).is_err());
    }
}
