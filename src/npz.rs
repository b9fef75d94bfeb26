//! `.npz` reading and writing (numpy's zip of `.npy` arrays) ↔ `BTreeMap<name, Tensor>`.
//!
//! Supported dtypes: float32, float16, int64, int32, int8 and bool, in either byte order, C
//! order only (a Fortran-order array is refused with a clear error rather than silently
//! transposed). Keys are array names without the `.npy` suffix. `bf16` tensors are written as
//! float32 (numpy has no bfloat16); every other type is written as itself.
//!
//! Writing is deterministic and atomic: entries in sorted key order, stored (uncompressed) with
//! a fixed 1980-01-01 timestamp and fixed permissions, into a temporary file in the target's
//! directory that is then renamed over the target.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

use npyz::npz::{NpzArchive, NpzWriter};
use npyz::zip::result::ZipError;
use npyz::zip::write::FileOptions;
use npyz::zip::{CompressionMethod, DateTime};
use npyz::{DType, Endianness, NpyFile, Order, TypeChar, TypeStr, WriterBuilder};
use sofa_ir::eval::tensor::{bf16_values, f16_values};
use sofa_ir::eval::{Tensor, TensorData};
use sofa_ir::ElemType;

#[derive(Debug, thiserror::Error)]
pub enum NpzError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: array '{array}': {msg}")]
    Array {
        path: PathBuf,
        array: String,
        msg: String,
    },
}

/// Read every array of an `.npz` file.
pub fn read_npz(path: &Path) -> Result<BTreeMap<String, Tensor>, NpzError> {
    let io_err = |source| NpzError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    read_npz_from(io::BufReader::new(file)).map_err(|e| e.at(path))
}

/// Read every array from an `.npz` stream (errors carry an empty path; [`read_npz`] fills it).
pub fn read_npz_from<R: Read + Seek>(reader: R) -> Result<BTreeMap<String, Tensor>, NpzError> {
    let io_err = |source| NpzError::Io {
        path: PathBuf::new(),
        source,
    };
    let mut archive = NpzArchive::new(reader).map_err(io_err)?;
    let names: Vec<String> = archive.array_names().map(str::to_string).collect();
    let mut out = BTreeMap::new();
    for name in names {
        // Opened in two steps so that a bad header is told apart from a bad zip entry.
        let entry = match archive.zip_archive().by_name(&format!("{name}.npy")) {
            Ok(entry) => entry,
            Err(ZipError::FileNotFound) => {
                return Err(array_error(&name, "listed but not readable"))
            }
            Err(e) => return Err(array_error(&name, format!("bad zip entry: {e}"))),
        };
        let npy =
            NpyFile::new(entry).map_err(|e| array_error(&name, format!("bad .npy header: {e}")))?;
        let tensor = decode_array(npy, &name)?;
        out.insert(name, tensor);
    }
    Ok(out)
}

fn array_error(array: &str, msg: impl Into<String>) -> NpzError {
    NpzError::Array {
        path: PathBuf::new(),
        array: array.to_string(),
        msg: msg.into(),
    }
}

impl NpzError {
    /// Attach the file path to an error raised on a stream.
    fn at(self, path: &Path) -> NpzError {
        match self {
            NpzError::Io { source, .. } => NpzError::Io {
                path: path.to_path_buf(),
                source,
            },
            NpzError::Array { array, msg, .. } => NpzError::Array {
                path: path.to_path_buf(),
                array,
                msg,
            },
        }
    }
}

/// Element type and byte width of a supported numpy type string.
fn elem_of(ts: &TypeStr) -> Option<(ElemType, usize)> {
    let size = ts.size_field();
    Some(match (ts.type_char(), size) {
        (TypeChar::Float, 4) => (ElemType::F32, 4),
        (TypeChar::Float, 2) => (ElemType::F16, 2),
        (TypeChar::Int, 8) => (ElemType::I64, 8),
        (TypeChar::Int, 4) => (ElemType::I32, 4),
        (TypeChar::Int, 1) => (ElemType::I8, 1),
        (TypeChar::Uint, 1) => (ElemType::U8, 1),
        (TypeChar::Bool, 1) => (ElemType::I1, 1),
        _ => return None,
    })
}

fn decode_array<R: Read>(npy: npyz::NpyFile<R>, name: &str) -> Result<Tensor, NpzError> {
    let DType::Plain(ts) = npy.dtype() else {
        return Err(array_error(
            name,
            "structured or array dtypes are not supported",
        ));
    };
    let (elem, width) = elem_of(&ts).ok_or_else(|| {
        array_error(
            name,
            format!(
                "dtype '{ts}' is not supported (use float32, float16, int64, int32, int8 or bool)"
            ),
        )
    })?;
    if npy.order() == Order::Fortran && npy.shape().len() > 1 {
        return Err(array_error(
            name,
            "Fortran-order arrays are not supported; save it C-contiguous (np.ascontiguousarray)",
        ));
    }
    let shape = npy
        .shape()
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| array_error(name, "dimension too large")))
        .collect::<Result<Vec<usize>, NpzError>>()?;
    let n = sofa_ir::eval::tensor::num_elements(&shape)
        .map_err(|e| array_error(name, e.to_string()))?;
    let big_endian = ts.endianness() == Endianness::Big;
    // Read incrementally: a header claiming a huge shape must not allocate before data arrives.
    let len = n * width;
    let mut bytes = Vec::new();
    npy.into_inner()
        .take(len as u64)
        .read_to_end(&mut bytes)
        .map_err(|e| array_error(name, format!("cannot read data: {e}")))?;
    if bytes.len() != len {
        return Err(array_error(
            name,
            format!("truncated data: {} of {len} bytes", bytes.len()),
        ));
    }
    if big_endian {
        bytes.chunks_exact_mut(width).for_each(<[u8]>::reverse);
    }
    let data = decode_le(elem, &bytes);
    Tensor::new(elem, shape, data).map_err(|e| array_error(name, e.to_string()))
}

/// Little-endian payload to tensor storage.
fn decode_le(elem: ElemType, b: &[u8]) -> TensorData {
    match elem {
        ElemType::F32 => TensorData::F32(
            b.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        ElemType::F16 => TensorData::F32(f16_values(
            b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])),
        )),
        ElemType::BF16 => TensorData::F32(bf16_values(
            b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])),
        )),
        ElemType::I64 => TensorData::I64(
            b.chunks_exact(8)
                .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect(),
        ),
        ElemType::I32 => TensorData::I64(
            b.chunks_exact(4)
                .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
        ),
        ElemType::I8 => TensorData::I64(b.iter().map(|&x| i64::from(x as i8)).collect()),
        ElemType::U8 => TensorData::I64(b.iter().map(|&x| i64::from(x)).collect()),
        ElemType::I1 => TensorData::Bool(b.iter().map(|&x| x != 0).collect()),
    }
}

/// Write `tensors` to `path` atomically (temporary file + rename) and deterministically; a
/// device or FIFO (`/dev/null`) is written in place, never replaced.
pub fn write_npz(path: &Path, tensors: &BTreeMap<String, Tensor>) -> Result<(), NpzError> {
    let io_err = |source| NpzError::Io {
        path: path.to_path_buf(),
        source,
    };
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        let mut bytes = io::Cursor::new(Vec::new());
        write_npz_to(&mut bytes, tensors).map_err(|e| e.at(path))?;
        return std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|mut f| f.write_all(bytes.get_ref()))
            .map_err(io_err);
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .ok_or_else(|| io_err(io::Error::other("not a file path")))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let result = File::create(&tmp)
        .map_err(io_err)
        .and_then(|f| {
            let mut w = BufWriter::new(f);
            write_npz_to(&mut w, tensors).map_err(|e| e.at(path))?;
            let f = w.into_inner().map_err(|e| io_err(e.into_error()))?;
            f.sync_all().map_err(io_err)
        })
        .and_then(|()| std::fs::rename(&tmp, path).map_err(io_err));
    if result.is_err() {
        // Best effort: the temporary file is garbage either way.
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The bytes of the `.npz` file [`write_npz`] would write (`path` names it in errors).
pub fn npz_bytes(path: &Path, tensors: &BTreeMap<String, Tensor>) -> Result<Vec<u8>, NpzError> {
    let mut out = io::Cursor::new(Vec::new());
    write_npz_to(&mut out, tensors).map_err(|e| e.at(path))?;
    Ok(out.into_inner())
}

/// Write `tensors` as an `.npz` stream, in key order.
pub fn write_npz_to<W: Write + Seek>(
    writer: W,
    tensors: &BTreeMap<String, Tensor>,
) -> Result<(), NpzError> {
    let io_err = |source| NpzError::Io {
        path: PathBuf::new(),
        source,
    };
    let options = FileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .last_modified_time(DateTime::default())
        .unix_permissions(0o644);
    let mut npz = NpzWriter::new(writer);
    for (name, t) in tensors {
        let (descr, payload) = encode(t);
        let dtype = DType::Plain(
            descr
                .parse::<TypeStr>()
                .map_err(|e| array_error(name, e.to_string()))?,
        );
        let shape: Vec<u64> = t.shape().iter().map(|&d| d as u64).collect();
        let out = npz
            .array::<u8>(name, options)
            .and_then(|b| b.dtype(dtype).shape(&shape).write_header_only())
            .map_err(io_err)?;
        out.write_all(&payload).map_err(io_err)?;
    }
    npz.zip_writer().finish().map_err(|e| io_err(e.into()))?;
    Ok(())
}

/// numpy type string and little-endian payload of a tensor (bf16 widened to float32).
fn encode(t: &Tensor) -> (&'static str, Vec<u8>) {
    match t.elem() {
        ElemType::BF16 => {
            let values = t.as_f32().unwrap_or_default();
            ("<f4", values.iter().flat_map(|x| x.to_le_bytes()).collect())
        }
        ElemType::F32 => ("<f4", t.to_bytes()),
        ElemType::F16 => ("<f2", t.to_bytes()),
        ElemType::I64 => ("<i8", t.to_bytes()),
        ElemType::I32 => ("<i4", t.to_bytes()),
        ElemType::I8 => ("|i1", t.to_bytes()),
        ElemType::U8 => ("|u1", t.to_bytes()),
        ElemType::I1 => ("|b1", t.to_bytes()),
    }
}

#[cfg(test)]
mod tests;
