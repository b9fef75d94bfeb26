//! `TensorProto` → element type, shape and little-endian payload.
//!
//! Every declared size is checked against the bytes actually present before anything is
//! allocated, so a corrupt dim or length gives an error, never a huge allocation. Payloads stay
//! `Bytes` slices of the mapped model (or of a mapped external-data file), into the IR and the
//! program; an external-data payload also records where it lies ([`Tensor::origin`]).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use bytes::Bytes;
use sofa_ir::attr::FileRange;
use sofa_ir::dialect::onnx::shape::MAX_TENSOR_BYTES;
use sofa_ir::{ElemType, TensorType};

use super::proto::TensorProto;

/// A tensor proto that cannot be decoded: its type, its size or its (external) payload.
#[derive(Debug, thiserror::Error)]
pub enum TensorError {
    #[error("element type {} is not supported", dtype_name(*.0))]
    UnsupportedElem(i32),
    #[error("dim {0} is negative")]
    NegativeDim(i64),
    #[error("shape {dims:?} is too large ({count} elements)")]
    TooLarge { dims: Vec<u64>, count: u64 },
    #[error("too many elements")]
    TooManyElements,
    #[error("segmented tensors are not supported")]
    Segmented,
    #[error("raw_data has {len} bytes, the shape needs {expected}")]
    RawData { len: usize, expected: usize },
    /// A typed field (`float_data`, `int32_data`, ...) of the wrong length.
    #[error("{field} has {len} values, the shape needs {expected}")]
    Field {
        field: &'static str,
        len: usize,
        expected: usize,
    },
    #[error("payload does not match the shape")]
    Payload,
    #[error("external data has no location")]
    NoLocation,
    #[error("external data location \"{0}\" must be a relative path inside the model's directory")]
    Location(String),
    #[error(
        "external data path escapes model directory: \"{location}\" resolves to {} (symlinks \
         followed), outside {}",
        resolved.display(),
        dir.display()
    )]
    Escapes {
        location: String,
        resolved: PathBuf,
        dir: PathBuf,
    },
    #[error("external data \"{0}\" needs the model's directory (import from a file)")]
    NoBaseDir(String),
    #[error("external data {key} \"{value}\" is not a non-negative integer")]
    ExternalKey { key: &'static str, value: String },
    #[error("cannot open {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot map {}: {source}", path.display())]
    Map {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("external data offset {offset} is past the end of \"{location}\" ({file_len} bytes)")]
    OffsetPastEnd {
        offset: u64,
        location: String,
        file_len: u64,
    },
    #[error(
        "external data [{offset}, +{length}) runs past the end of \"{location}\" ({file_len} bytes)"
    )]
    RangePastEnd {
        offset: u64,
        length: u64,
        location: String,
        file_len: u64,
    },
    #[error("external data length {length} differs from the {expected} bytes the shape needs")]
    ExternalLength { length: u64, expected: usize },
}

/// ONNX `TensorProto.DataType` codes.
pub mod dtype {
    pub const FLOAT: i32 = 1;
    pub const UINT8: i32 = 2;
    pub const INT8: i32 = 3;
    pub const INT32: i32 = 6;
    pub const INT64: i32 = 7;
    pub const STRING: i32 = 8;
    pub const BOOL: i32 = 9;
    pub const FLOAT16: i32 = 10;
    pub const BFLOAT16: i32 = 16;
}

/// The IR element type of an ONNX data type code.
pub fn elem_type(code: i32) -> Option<ElemType> {
    sofa_ir::dialect::onnx::infer::elem_from_onnx(i64::from(code))
}

/// Human name of an ONNX data type code, for messages.
pub fn dtype_name(code: i32) -> String {
    super::proto::tensor_proto::DataType::try_from(code)
        .map(|d| d.as_str_name().to_string())
        .unwrap_or_else(|_| format!("data type {code}"))
}

/// Bytes per element of an ONNX data type (0 for strings and unknown codes).
pub fn dtype_size(code: i32) -> u64 {
    match code {
        11 | 13 | 7 | 14 => 8,
        1 | 6 | 12 => 4,
        4 | 5 | 10 | 16 => 2,
        2 | 3 | 9 | 17..=20 => 1,
        15 => 16,
        _ => 0,
    }
}

/// Memory-mapped external-data files, by path, so each file is opened once per import.
#[derive(Default)]
pub struct ExternalFiles {
    files: BTreeMap<PathBuf, Bytes>,
}

impl ExternalFiles {
    fn get(&mut self, path: &Path) -> Result<Bytes, TensorError> {
        if let Some(b) = self.files.get(path) {
            return Ok(b.clone());
        }
        let open = |source| TensorError::Open {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(open)?;
        let bytes = sofa_ir::mapped::map(&file).map_err(|source| TensorError::Map {
            path: path.to_path_buf(),
            source,
        })?;
        self.files.insert(path.to_path_buf(), bytes.clone());
        Ok(bytes)
    }
}

/// A decoded tensor: its IR type and little-endian payload (`i1` as 0/1 bytes).
pub struct Tensor {
    pub ty: TensorType,
    pub bytes: Bytes,
    /// Where `bytes` lie in an external-data file, when they are that range unchanged.
    pub origin: Option<FileRange>,
}

/// The static type of a tensor proto, with sizes checked.
fn tensor_type(t: &TensorProto) -> Result<(TensorType, usize), TensorError> {
    let code = t.data_type();
    let elem = elem_type(code).ok_or(TensorError::UnsupportedElem(code))?;
    let mut count: u64 = 1;
    let mut dims = Vec::with_capacity(t.dims.len());
    for &d in &t.dims {
        let d = u64::try_from(d).map_err(|_| TensorError::NegativeDim(d))?;
        count = count.saturating_mul(d);
        dims.push(d);
    }
    let bytes = count.saturating_mul(elem.byte_size() as u64);
    if bytes > MAX_TENSOR_BYTES {
        return Err(TensorError::TooLarge { dims, count });
    }
    let count = usize::try_from(count).map_err(|_| TensorError::TooManyElements)?;
    Ok((TensorType::static_shape(&dims, elem), count))
}

/// Decode a tensor proto. `base_dir` resolves external data; `None` refuses it.
pub fn decode_tensor(
    t: &TensorProto,
    base_dir: Option<&Path>,
    external: &mut ExternalFiles,
) -> Result<Tensor, TensorError> {
    if t.segment.is_some() {
        return Err(TensorError::Segmented);
    }
    let (ty, count) = tensor_type(t)?;
    let expected = count * ty.elem.byte_size();
    let is_external = t.data_location() == super::proto::tensor_proto::DataLocation::External
        || !t.external_data.is_empty();
    let mut origin = None;
    let bytes = if is_external {
        let (bytes, range) = external_bytes(t, base_dir, external, expected)?;
        origin = Some(range);
        bytes
    } else if let Some(raw) = &t.raw_data {
        if raw.len() != expected {
            return Err(TensorError::RawData {
                len: raw.len(),
                expected,
            });
        }
        raw.clone()
    } else {
        Bytes::from(typed_payload(t, ty.elem, count)?)
    };
    if ty.elem == ElemType::I1 && bytes.iter().any(|&b| b > 1) {
        // Normalised to 0/1: no longer the file's bytes.
        let bytes: Vec<u8> = bytes.iter().map(|&b| u8::from(b != 0)).collect();
        return Ok(Tensor {
            ty,
            bytes: bytes.into(),
            origin: None,
        });
    }
    Ok(Tensor { ty, bytes, origin })
}

/// Little-endian bytes from the type-specific repeated fields.
fn typed_payload(t: &TensorProto, elem: ElemType, count: usize) -> Result<Vec<u8>, TensorError> {
    let check = |field: &'static str, len: usize| {
        if len == count {
            Ok(())
        } else {
            Err(TensorError::Field {
                field,
                len,
                expected: count,
            })
        }
    };
    Ok(match elem {
        ElemType::F32 => {
            check("float_data", t.float_data.len())?;
            t.float_data.iter().flat_map(|v| v.to_le_bytes()).collect()
        }
        ElemType::I64 => {
            check("int64_data", t.int64_data.len())?;
            t.int64_data.iter().flat_map(|v| v.to_le_bytes()).collect()
        }
        ElemType::I32 => {
            check("int32_data", t.int32_data.len())?;
            t.int32_data.iter().flat_map(|v| v.to_le_bytes()).collect()
        }
        ElemType::I8 => {
            check("int32_data", t.int32_data.len())?;
            t.int32_data.iter().map(|&v| v as i8 as u8).collect()
        }
        ElemType::U8 => {
            check("int32_data", t.int32_data.len())?;
            t.int32_data.iter().map(|&v| v as u8).collect()
        }
        ElemType::I1 => {
            check("int32_data", t.int32_data.len())?;
            t.int32_data.iter().map(|&v| u8::from(v != 0)).collect()
        }
        // 16-bit floats travel as their bit patterns in int32_data.
        ElemType::F16 | ElemType::BF16 => {
            check("int32_data", t.int32_data.len())?;
            t.int32_data
                .iter()
                .flat_map(|&v| (v as u16).to_le_bytes())
                .collect()
        }
    })
}

/// Value of an `external_data` key.
fn ext_key<'a>(t: &'a TensorProto, key: &str) -> Option<&'a str> {
    t.external_data
        .iter()
        .find(|e| e.key() == key)
        .map(|e| e.value())
}

fn parse_u64(t: &TensorProto, key: &'static str) -> Result<Option<u64>, TensorError> {
    ext_key(t, key)
        .map(|v| {
            v.trim()
                .parse::<u64>()
                .map_err(|_| TensorError::ExternalKey {
                    key,
                    value: v.to_string(),
                })
        })
        .transpose()
}

/// A relative location that stays inside the model's directory.
fn checked_location(location: &str) -> Result<&Path, TensorError> {
    let path = Path::new(location);
    let escapes = path
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
    if location.is_empty() || escapes {
        return Err(TensorError::Location(location.to_string()));
    }
    Ok(path)
}

/// `base/rel` with every symlink resolved, refused when it leaves `base` (also resolved), as
/// onnxruntime refuses it: a symlink inside the model's folder may not lead out of it.
fn inside_dir(base: &Path, rel: &Path, location: &str) -> Result<PathBuf, TensorError> {
    let joined = base.join(rel);
    let canonical = |p: &Path| {
        std::fs::canonicalize(p).map_err(|source| TensorError::Open {
            path: p.to_path_buf(),
            source,
        })
    };
    let dir = canonical(base)?;
    let resolved = canonical(&joined)?;
    if !resolved.starts_with(&dir) {
        return Err(TensorError::Escapes {
            location: location.to_string(),
            resolved,
            dir,
        });
    }
    Ok(resolved)
}

fn external_bytes(
    t: &TensorProto,
    base_dir: Option<&Path>,
    external: &mut ExternalFiles,
    expected: usize,
) -> Result<(Bytes, FileRange), TensorError> {
    let location = ext_key(t, "location").ok_or(TensorError::NoLocation)?;
    let rel = checked_location(location)?;
    let base = base_dir.ok_or_else(|| TensorError::NoBaseDir(location.to_string()))?;
    let path = inside_dir(base, rel, location)?;
    let file = external.get(&path)?;
    let offset = parse_u64(t, "offset")?.unwrap_or(0);
    let file_len = file.len() as u64;
    if offset > file_len {
        return Err(TensorError::OffsetPastEnd {
            offset,
            location: location.to_string(),
            file_len,
        });
    }
    let length = parse_u64(t, "length")?.unwrap_or(file_len - offset);
    let end = offset
        .checked_add(length)
        .filter(|&e| e <= file_len)
        .ok_or_else(|| TensorError::RangePastEnd {
            offset,
            length,
            location: location.to_string(),
            file_len,
        })?;
    if length != expected as u64 {
        return Err(TensorError::ExternalLength { length, expected });
    }
    let bytes = file.slice(offset as usize..end as usize);
    Ok((bytes, FileRange { path, offset }))
}
