//! What a sweep runs on (`[target]`): a workload spec (attention layers by shape, priced by the
//! cost model) or an ONNX model with calibration inputs (priced the same way at the first
//! input's dims, and measured for accuracy on every input by the caller, who can read `.npz`
//! files and run the reference interpreter).

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::spec::ErrAt;
use super::DseError;
use crate::workload::{load_spec, WorkloadSpec};

/// `[target]` as written in the spec.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTarget {
    workload: Option<Spanned<String>>,
    pub(super) hardware: Option<Spanned<String>>,
    model: Option<Spanned<String>>,
    inputs: Option<Spanned<Vec<Spanned<String>>>>,
    shape: Option<Spanned<BTreeMap<String, Spanned<i64>>>>,
}

/// An ONNX model target: the files are read by whoever measures its accuracy.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelTarget {
    pub model: PathBuf,
    /// The calibration inputs (`.npz`, arrays keyed by graph-input name), in order; each is
    /// measured at its own dims, and the first one's dims are those priced.
    pub inputs: Vec<PathBuf>,
    /// Dims priced at instead of the first input's (`shape = { seq = 512 }`).
    pub shape: BTreeMap<String, u64>,
}

/// What the points are compiled from.
#[derive(Clone, Debug)]
pub enum Subject {
    Workload(WorkloadSpec),
    Model(ModelTarget),
}

impl Subject {
    pub fn model(&self) -> Option<&ModelTarget> {
        match self {
            Subject::Model(m) => Some(m),
            Subject::Workload(_) => None,
        }
    }
}

/// The target's subject and the bytes of the files it names (for the spec hash). `dir` is the
/// spec's directory, `path` the spec (for messages), `span` the `[target]` table's.
pub(super) fn subject(
    raw: &RawTarget,
    (dir, path, span): (&Path, &Path, Range<usize>),
    err: &ErrAt<'_>,
) -> Result<(Subject, Vec<Vec<u8>>), DseError> {
    match (&raw.workload, &raw.model) {
        (Some(_), Some(m)) => Err(err(
            m.span(),
            "give either 'workload' or 'model' in [target], not both".into(),
        )),
        (None, None) => Err(err(
            span,
            "[target] needs 'workload = \"W.toml\"' (a workload spec) or 'model = \"M.onnx\"' \
             with 'inputs = [\"IN.npz\", ...]'"
                .into(),
        )),
        (Some(w), None) => {
            if let Some((key, s)) = model_only_key(raw) {
                return Err(err(
                    s,
                    format!("'{key}' is for a model target; a workload spec has its own shapes"),
                ));
            }
            let file = dir.join(w.get_ref());
            let text = read_bytes("workload spec", &file)?;
            // Parsed from the file, so that its errors name it with line and column.
            let spec = load_spec(&file).map_err(|e| DseError::Target {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
            Ok((Subject::Workload(spec), vec![text]))
        }
        (None, Some(m)) => model(raw, m, (dir, span), err),
    }
}

fn model_only_key(raw: &RawTarget) -> Option<(&'static str, Range<usize>)> {
    let inputs = raw.inputs.as_ref().map(|i| ("inputs", i.span()));
    inputs.or_else(|| raw.shape.as_ref().map(|s| ("shape", s.span())))
}

fn model(
    raw: &RawTarget,
    m: &Spanned<String>,
    (dir, span): (&Path, Range<usize>),
    err: &ErrAt<'_>,
) -> Result<(Subject, Vec<Vec<u8>>), DseError> {
    let inputs =
        match &raw.inputs {
            Some(i) if !i.get_ref().is_empty() => i.get_ref(),
            Some(i) => return Err(err(i.span(), "'inputs' lists no file".into())),
            None => return Err(err(
                span,
                "a model target needs 'inputs = [\"IN.npz\", ...]': the inputs its accuracy is \
                 measured on (the first one's dims are priced)"
                    .into(),
            )),
        };
    let mut shape = BTreeMap::new();
    for (name, size) in raw.shape.iter().flat_map(|s| s.get_ref()) {
        let n = u64::try_from(*size.get_ref())
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| {
                err(
                    size.span(),
                    format!("shape: dim '{name}' = {}: give a size ≥ 1", size.get_ref()),
                )
            })?;
        shape.insert(name.clone(), n);
    }
    let model = dir.join(m.get_ref());
    let mut hashed = vec![read_bytes("ONNX model", &model)?];
    let mut files = Vec::with_capacity(inputs.len());
    for i in inputs {
        let file = dir.join(i.get_ref());
        hashed.push(read_bytes("input file", &file)?);
        files.push(file);
    }
    let target = ModelTarget {
        model,
        inputs: files,
        shape,
    };
    Ok((Subject::Model(target), hashed))
}

/// Reads a file named by a spec.
pub(super) fn read_bytes(what: &'static str, path: &Path) -> Result<Vec<u8>, DseError> {
    std::fs::read(path).map_err(|e| DseError::Read {
        what,
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}
