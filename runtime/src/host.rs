//! The host side of a simulated run: host tensors (`.npz` arrays) to the raw little-endian
//! bytes of a program's input tensors, and output bytes back to host tensors.
//!
//! Conversions are exact where the types allow (f32, i64, bool) and checked otherwise: an
//! integer that does not fit the program's narrower type, or a shape that differs from the
//! tensor table's, is an error naming the tensor.

use std::collections::BTreeMap;

use half::{bf16, f16};
use sofa_ir::eval::{EvalErrorKind, Storage, Tensor, TensorData};
use sofa_ir::isa::{DType, Program, TensorDecl, TensorKind};
use sofa_ir::ElemType;

/// A host tensor that does not fit the program's tensor table, or output bytes that do not
/// form its tensor; every variant names the tensor.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum HostError {
    /// `given` lists the arrays the inputs do hold.
    #[error(
        "the program needs input '{name}' {shape:?} {dtype}, but the inputs hold only [{}]",
        given.join(", ")
    )]
    MissingInput {
        name: String,
        shape: Vec<u64>,
        dtype: DType,
        given: Vec<String>,
    },
    #[error("the simulator returned no bytes for output '{0}'")]
    MissingOutput(String),
    #[error("input '{name}' has shape {shape:?}, the program expects {expected:?}")]
    InputShape {
        name: String,
        shape: Vec<usize>,
        expected: Vec<u64>,
    },
    #[error("input '{name}' holds {held}, which cannot become the program's {dtype}")]
    Unrepresentable {
        name: String,
        held: Held,
        dtype: DType,
    },
    #[error("output '{0}' has an overflowing size")]
    OutputSize(String),
    #[error("output '{name}': {len} bytes, expected {expected}")]
    OutputBytes {
        name: String,
        len: usize,
        expected: u64,
    },
    #[error("output '{name}': {error}")]
    OutputTensor {
        name: String,
        #[source]
        error: EvalErrorKind,
    },
    #[error("output '{name}' is {dtype}, which has no host tensor type")]
    NoHostType { name: String, dtype: DType },
    /// `outputs` lists the program's outputs.
    #[error(
        "expected array '{name}' is not an output of the program (outputs: {})",
        outputs.join(", ")
    )]
    UnknownExpected { name: String, outputs: Vec<String> },
    #[error("expected array '{name}' has shape {shape:?}, the program's output is {expected:?}")]
    ExpectedShape {
        name: String,
        shape: Vec<usize>,
        expected: Vec<u64>,
    },
    #[error("expected array '{name}' holds {elem}, the program's output is {dtype}")]
    ExpectedType {
        name: String,
        elem: ElemType,
        dtype: DType,
    },
}

/// What a host tensor holds that the program's type cannot: one value, or its whole storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Held {
    Value(i64),
    Data(Storage),
}

impl std::fmt::Display for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Held::Value(v) => write!(f, "{v}"),
            Held::Data(s) => write!(f, "{s:?} data"),
        }
    }
}

/// Raw bytes for every input tensor of `program`, taken from `arrays` by name.
pub fn program_inputs(
    program: &Program,
    arrays: &BTreeMap<String, Tensor>,
) -> Result<BTreeMap<String, Vec<u8>>, HostError> {
    let mut out = BTreeMap::new();
    for decl in program
        .tensors
        .iter()
        .filter(|t| t.kind == TensorKind::Input)
    {
        let t = arrays
            .get(&decl.name)
            .ok_or_else(|| HostError::MissingInput {
                name: decl.name.clone(),
                shape: decl.shape.clone(),
                dtype: decl.dtype,
                given: arrays.keys().cloned().collect(),
            })?;
        out.insert(decl.name.clone(), input_bytes(decl, t)?);
    }
    Ok(out)
}

/// Host tensors for every output tensor of `program` from the simulator's raw bytes.
pub fn program_outputs(
    program: &Program,
    bytes: &BTreeMap<String, Vec<u8>>,
) -> Result<BTreeMap<String, Tensor>, HostError> {
    let mut out = BTreeMap::new();
    for decl in program
        .tensors
        .iter()
        .filter(|t| t.kind == TensorKind::Output)
    {
        let b = bytes
            .get(&decl.name)
            .ok_or_else(|| HostError::MissingOutput(decl.name.clone()))?;
        out.insert(decl.name.clone(), output_tensor(decl, b)?);
    }
    Ok(out)
}

/// Check expected outputs against the program before running it: every array names an output
/// tensor and has its shape and element type (outputs without an array are not compared).
pub fn check_expected(
    program: &Program,
    expected: &BTreeMap<String, Tensor>,
) -> Result<(), HostError> {
    let outputs: Vec<&TensorDecl> = program
        .tensors
        .iter()
        .filter(|t| t.kind == TensorKind::Output)
        .collect();
    for (name, t) in expected {
        let Some(decl) = outputs.iter().find(|d| &d.name == name) else {
            return Err(HostError::UnknownExpected {
                name: name.clone(),
                outputs: outputs.iter().map(|d| d.name.clone()).collect(),
            });
        };
        let same = t.shape().len() == decl.shape.len()
            && t.shape()
                .iter()
                .zip(&decl.shape)
                .all(|(&a, &b)| a as u64 == b);
        if !same {
            return Err(HostError::ExpectedShape {
                name: name.clone(),
                shape: t.shape().to_vec(),
                expected: decl.shape.clone(),
            });
        }
        if decl.dtype.to_elem() != Some(t.elem()) {
            return Err(HostError::ExpectedType {
                name: name.clone(),
                elem: t.elem(),
                dtype: decl.dtype,
            });
        }
    }
    Ok(())
}

/// The bytes of `t` as tensor `decl` (same shape; values converted to `decl.dtype`).
pub fn input_bytes(decl: &TensorDecl, t: &Tensor) -> Result<Vec<u8>, HostError> {
    let want: Vec<usize> = decl.shape.iter().map(|&d| d as usize).collect();
    if t.shape() != want.as_slice() {
        return Err(HostError::InputShape {
            name: decl.name.clone(),
            shape: t.shape().to_vec(),
            expected: decl.shape.clone(),
        });
    }
    let bad = |held: Held| HostError::Unrepresentable {
        name: decl.name.clone(),
        held,
        dtype: decl.dtype,
    };
    let mut out = Vec::with_capacity(t.len() * (decl.dtype.bits() as usize).div_ceil(8));
    match (t.data(), decl.dtype) {
        (TensorData::F32(v), DType::F32) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
        (TensorData::F32(v), DType::F16) => v
            .iter()
            .for_each(|&x| out.extend(f16::from_f32(x).to_le_bytes())),
        (TensorData::F32(v), DType::BF16) => v
            .iter()
            .for_each(|&x| out.extend(bf16::from_f32(x).to_le_bytes())),
        (TensorData::I64(v), DType::I64) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
        (TensorData::I64(v), DType::I32) => {
            for &x in v {
                let n = i32::try_from(x).map_err(|_| bad(Held::Value(x)))?;
                out.extend(n.to_le_bytes());
            }
        }
        (TensorData::I64(v), DType::I8) => {
            for &x in v {
                let n = i8::try_from(x).map_err(|_| bad(Held::Value(x)))?;
                out.extend(n.to_le_bytes());
            }
        }
        (TensorData::Bool(v), DType::I1) => v.iter().for_each(|&b| out.push(u8::from(b))),
        (d, _) => return Err(bad(Held::Data(d.storage()))),
    }
    Ok(out)
}

/// The host tensor of output `decl` from its bytes.
pub fn output_tensor(decl: &TensorDecl, bytes: &[u8]) -> Result<Tensor, HostError> {
    let shape: Vec<usize> = decl.shape.iter().map(|&d| d as usize).collect();
    let expected = decl
        .byte_len()
        .ok_or_else(|| HostError::OutputSize(decl.name.clone()))?;
    if bytes.len() as u64 != expected {
        return Err(HostError::OutputBytes {
            name: decl.name.clone(),
            len: bytes.len(),
            expected,
        });
    }
    let err = |error| HostError::OutputTensor {
        name: decl.name.clone(),
        error,
    };
    match decl.dtype {
        DType::F32 => Tensor::from_f32(shape, chunks(bytes, f32::from_le_bytes)).map_err(err),
        DType::F16 => {
            let v = chunks(bytes, |b: [u8; 2]| f16::from_le_bytes(b).to_f32());
            Tensor::new(ElemType::F16, shape, TensorData::F32(v)).map_err(err)
        }
        DType::BF16 => {
            let v = chunks(bytes, |b: [u8; 2]| bf16::from_le_bytes(b).to_f32());
            Tensor::new(ElemType::BF16, shape, TensorData::F32(v)).map_err(err)
        }
        DType::I64 => Tensor::from_i64(shape, chunks(bytes, i64::from_le_bytes)).map_err(err),
        DType::I32 => {
            let v = chunks(bytes, |b: [u8; 4]| i64::from(i32::from_le_bytes(b)));
            Tensor::new(ElemType::I32, shape, TensorData::I64(v)).map_err(err)
        }
        DType::I1 => Tensor::from_bool(shape, bytes.iter().map(|&b| b != 0).collect()).map_err(err),
        dtype => Err(HostError::NoHostType {
            name: decl.name.clone(),
            dtype,
        }),
    }
}

/// Decode little-endian fixed-size elements.
fn chunks<const N: usize, T>(bytes: &[u8], f: impl Fn([u8; N]) -> T) -> Vec<T> {
    bytes
        .chunks_exact(N)
        .map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            f(a)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decl(name: &str, kind: TensorKind, dtype: DType, shape: Vec<u64>) -> TensorDecl {
        TensorDecl {
            name: name.into(),
            kind,
            dtype,
            shape,
            dram: 0,
            data: Default::default(),
            weights: None,
        }
    }

    #[test]
    fn f32_and_i64_round_trip_exactly() {
        let d = decl("x", TensorKind::Output, DType::F32, vec![2]);
        let t = Tensor::from_f32(vec![2], vec![1.5, -0.25]).unwrap();
        let b = input_bytes(&d, &t).unwrap();
        assert_eq!(b, [1.5f32.to_le_bytes(), (-0.25f32).to_le_bytes()].concat());
        assert_eq!(output_tensor(&d, &b).unwrap(), t);
        let d = decl("ids", TensorKind::Input, DType::I64, vec![1, 2]);
        let t = Tensor::from_i64(vec![1, 2], vec![7, -3]).unwrap();
        assert_eq!(input_bytes(&d, &t).unwrap().len(), 16);
    }

    #[test]
    fn narrowing_and_shape_mismatches_are_named_errors() {
        let d = decl("ids", TensorKind::Input, DType::I32, vec![1]);
        let t = Tensor::from_i64(vec![1], vec![1 << 40]).unwrap();
        assert_eq!(
            input_bytes(&d, &t).unwrap_err().to_string(),
            "input 'ids' holds 1099511627776, which cannot become the program's i32"
        );
        let t = Tensor::from_i64(vec![2], vec![1, 2]).unwrap();
        assert_eq!(
            input_bytes(&d, &t).unwrap_err(),
            HostError::InputShape {
                name: "ids".into(),
                shape: vec![2],
                expected: vec![1]
            }
        );
    }

    #[test]
    fn f16_inputs_round_to_nearest() {
        let d = decl("q", TensorKind::Input, DType::F16, vec![1]);
        let t = Tensor::from_f32(vec![1], vec![1.0 + 1.0 / 4096.0]).unwrap();
        // 1 + 2^-12 is below half an f16 ulp (2^-11) above 1: rounds to 1.0 = 0x3c00.
        assert_eq!(input_bytes(&d, &t).unwrap(), vec![0x00, 0x3c]);
    }

    #[test]
    fn a_missing_input_lists_what_was_given() {
        let p = Program {
            host_ops: Vec::new(),
            config_hash: 0,
            tensors: vec![decl("ids", TensorKind::Input, DType::I64, vec![1])],
            instrs: vec![],
        };
        let mut arrays = BTreeMap::new();
        arrays.insert(
            "mask".to_string(),
            Tensor::from_i64(vec![1], vec![1]).unwrap(),
        );
        let e = program_inputs(&p, &arrays).unwrap_err().to_string();
        assert!(e.contains("'ids'") && e.contains("[mask]"), "{e}");
    }
}
