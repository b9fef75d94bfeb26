//! Reading a model: the file is memory-mapped and decoded in place. Byte fields (`raw_data`)
//! decode as `bytes::Bytes` slices of the mapping, and the IR's resources keep those slices:
//! tensor payloads are not copied. Header checks (IR version, `ai.onnx` opset)
//! happen here and turn into warnings returned as data.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use prost::Message;

use super::error::OnnxError;
use super::proto::ModelProto;

/// The `ai.onnx` opsets this importer is written for; others import with a warning.
pub const SUPPORTED_OPSETS: std::ops::RangeInclusive<i64> = 13..=23;
/// Oldest IR version with the semantics we rely on (initializers need not be graph inputs).
pub const MIN_IR_VERSION: i64 = 7;

/// A decoded model plus where it came from.
#[derive(Clone, Debug)]
pub struct LoadedModel {
    pub model: ModelProto,
    /// Directory external-data locations are relative to (`None`: from memory, no file).
    pub base_dir: Option<PathBuf>,
    /// Size of the serialized model in bytes.
    pub file_size: u64,
    /// Version of the default (`ai.onnx`) opset.
    pub opset: i64,
    /// Non-fatal findings (opset or IR version outside what is supported).
    pub warnings: Vec<String>,
}

/// Map a whole file without copying it (an empty file is read instead: it cannot be mapped).
fn map_file(path: &Path) -> Result<Bytes, OnnxError> {
    let io = |source| OnnxError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    sofa_ir::mapped::map(&file).map_err(io)
}

/// Map and decode an `.onnx` file.
pub fn load_model(path: &Path) -> Result<LoadedModel, OnnxError> {
    let bytes = map_file(path)?;
    let base_dir = path
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .map(Path::to_path_buf);
    decode_model(bytes, base_dir)
}

/// Decode a serialized model held in memory. Zero-copy for `Bytes` backed by a mapping.
pub fn decode_model(bytes: Bytes, base_dir: Option<PathBuf>) -> Result<LoadedModel, OnnxError> {
    let file_size = bytes.len() as u64;
    let model = ModelProto::decode(bytes).map_err(|e| OnnxError::Decode(e.to_string()))?;
    if model.graph.is_none() {
        return Err(OnnxError::Model("the model has no graph".into()));
    }
    let opset = default_opset(&model)?;
    let warnings = header_warnings(&model, opset);
    Ok(LoadedModel {
        model,
        base_dir,
        file_size,
        opset,
        warnings,
    })
}

/// True for the default ONNX operator domain.
pub fn is_default_domain(domain: &str) -> bool {
    domain.is_empty() || domain == "ai.onnx"
}

/// The version of the `ai.onnx` opset import.
fn default_opset(model: &ModelProto) -> Result<i64, OnnxError> {
    let versions: Vec<i64> = model
        .opset_import
        .iter()
        .filter(|o| is_default_domain(o.domain()))
        .map(|o| o.version())
        .collect();
    match versions.as_slice() {
        [] => Err(OnnxError::Model(
            "the model imports no ai.onnx opset (opset_import lacks the default domain)".into(),
        )),
        [v] if *v >= 1 => Ok(*v),
        [v] => Err(OnnxError::Model(format!(
            "ai.onnx opset version {v} is invalid"
        ))),
        _ => Err(OnnxError::Model(
            "the ai.onnx opset is imported more than once".into(),
        )),
    }
}

fn header_warnings(model: &ModelProto, opset: i64) -> Vec<String> {
    let mut warnings = Vec::new();
    if !SUPPORTED_OPSETS.contains(&opset) {
        warnings.push(format!(
            "ai.onnx opset {opset} is outside the supported range {}-{}; operators are read with the semantics of the nearest supported opset",
            SUPPORTED_OPSETS.start(),
            SUPPORTED_OPSETS.end()
        ));
    }
    let ir = model.ir_version();
    if ir < MIN_IR_VERSION {
        warnings.push(format!(
            "IR version {ir} is older than {MIN_IR_VERSION}, the oldest supported"
        ));
    }
    warnings
}
