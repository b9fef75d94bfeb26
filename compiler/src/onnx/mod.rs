//! The ONNX frontend: `.onnx` files → `onnx.*` IR (see `notes/onnx-ir-contract.md`).
//!
//! - [`load`]: memory-map and decode (prost over a vendored `onnx.proto`, no `protoc`), header
//!   checks turned into warnings.
//! - [`graph`]: supported-op check (one error listing every missing op type) and topological
//!   order (cycles and undefined inputs name the node).
//! - [`import`]: the graph → `func.func @main`, initializers as constants (large payloads in
//!   module resources, copied once), result types from the dialect's inference hooks refined by
//!   [`symbolic`] shape values and the model's declared shapes.
//! - [`summary`]: what `sofa inspect` prints.
//!
//! Errors ([`OnnxError`]) name the node as `node #index "name" (OpType)` and the cause; bad
//! input never panics.

pub mod attrs;
pub mod error;
pub mod graph;
pub mod import;
pub mod load;
pub mod proto;
pub mod summary;
pub mod symbolic;
pub mod tensor;
pub mod types;

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;
use sofa_ir::Module;

pub use error::{Cause, OnnxError, Site, UnsupportedOp};
pub use import::{import_model, Imported};
pub use load::{decode_model, load_model, LoadedModel};
pub use summary::{model_summary, ModelSummary, ValueSummary};

/// How to import.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Values for named dims (`--shape batch=1,seq=128`): those dims become static.
    pub shape_bindings: BTreeMap<String, u64>,
}

/// Load and import an `.onnx` file (external data resolved next to it).
pub fn import_file(path: &Path, opts: &ImportOptions) -> Result<Module, OnnxError> {
    import_file_with_warnings(path, opts).map(|i| i.module)
}

/// [`import_file`], also returning the warnings (opset outside 13-23, unused bindings, ...).
pub fn import_file_with_warnings(path: &Path, opts: &ImportOptions) -> Result<Imported, OnnxError> {
    import_model(&load_model(path)?, opts)
}

/// Import a serialized model held in memory; `base_dir` resolves external data.
pub fn import_bytes(
    bytes: &[u8],
    base_dir: Option<&Path>,
    opts: &ImportOptions,
) -> Result<Module, OnnxError> {
    let loaded = decode_model(
        Bytes::copy_from_slice(bytes),
        base_dir.map(Path::to_path_buf),
    )?;
    import_model(&loaded, opts).map(|i| i.module)
}
