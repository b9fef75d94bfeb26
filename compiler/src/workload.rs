//! Workload specs: paper-scale attention shapes without weights (`sofa compile --workload`).
//!
//! A spec is a small TOML file:
//! ```toml
//! name = "bert-base"
//! source = "BERT-base (Devlin et al. 2019): 12 layers, hidden 768, 12 heads"
//! layers = 12
//! hidden = 768
//! heads = 12
//! # kv_heads = 12     (default: heads; GQA when smaller, must divide heads)
//! # head_dim = 64     (default: hidden / heads, which must then divide exactly)
//! seq = 512
//! # batch = 1         (default 1)
//! causal = false      # required: decoders mask the future
//! # keep_ratio = 1.0  (default 1 = dense; in (0, 1])
//! ```
//! Unknown keys are rejected by name; values are range-checked with the key named.
//!
//! [`build_module`] turns a spec into attention-only IR. The simplest form that is honest
//! about what it models: `func.func @main` takes, per layer `l`, three arguments `q_l`
//! `[B, H, S, D]`, `k_l` and `v_l` `[B, Hkv, S, D]` (f16, the chip's datapath), applies one `attn.mha` (scale `1/√D`, the
//! spec's causal flag) and returns every layer's output. Layers are independent — the
//! projections, FFNs and norms that would chain them are not attention and have no weights
//! here — so the IR is executable by the interpreter on random inputs for small specs, and
//! lowerable for timing-only simulation at paper scale. The spec's `keep_ratio` is not baked
//! into the IR: the workload pipeline of [`crate::driver`] sparsifies at it.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sofa_ir::dialect::attn::{MhaAttrs, MHA};
use sofa_ir::module::RETURN_OP;
use sofa_ir::{ElemType, Location, Module, OpSpec, TensorType, Type};

/// Largest accepted value of any count in a spec.
const MAX_COUNT: u64 = 1 << 31;

/// A workload spec (see the module docs for the file format).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    pub name: String,
    /// Citation of the shapes (model card or paper).
    #[serde(default)]
    pub source: String,
    pub layers: u64,
    pub hidden: u64,
    pub heads: u64,
    /// Default: `heads`.
    pub kv_heads: Option<u64>,
    /// Default: `hidden / heads`.
    pub head_dim: Option<u64>,
    pub seq: u64,
    #[serde(default = "default_batch")]
    pub batch: u64,
    pub causal: bool,
    #[serde(default = "default_keep_ratio")]
    pub keep_ratio: f64,
}

fn default_batch() -> u64 {
    1
}

fn default_keep_ratio() -> f64 {
    1.0
}

/// A spec that could not be read, parsed or validated.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum WorkloadError {
    #[error("cannot read workload spec '{path}': {message}")]
    Read { path: PathBuf, message: String },
    /// TOML syntax, a missing or unknown key, or a value of the wrong type (the message names
    /// the key).
    #[error("workload spec: {0}")]
    Parse(String),
    #[error("workload spec: key '{key}': {message}")]
    Invalid { key: &'static str, message: String },
}

impl WorkloadError {
    fn invalid(key: &'static str, message: impl Into<String>) -> WorkloadError {
        WorkloadError::Invalid {
            key,
            message: message.into(),
        }
    }
}

/// Parse and validate a spec's text.
pub fn parse_spec(text: &str) -> Result<WorkloadSpec, WorkloadError> {
    let spec: WorkloadSpec =
        toml::from_str(text).map_err(|e| WorkloadError::Parse(e.to_string().trim().to_string()))?;
    spec.validate()?;
    Ok(spec)
}

/// Read, parse and validate a spec file.
pub fn load_spec(path: &Path) -> Result<WorkloadSpec, WorkloadError> {
    let text = std::fs::read_to_string(path).map_err(|e| WorkloadError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    parse_spec(&text)
}

impl WorkloadSpec {
    /// Range and consistency checks; the error names the offending key.
    pub fn validate(&self) -> Result<(), WorkloadError> {
        if self.name.trim().is_empty() {
            return Err(WorkloadError::invalid("name", "must not be empty"));
        }
        let counts = [
            ("layers", Some(self.layers)),
            ("hidden", Some(self.hidden)),
            ("heads", Some(self.heads)),
            ("kv_heads", self.kv_heads),
            ("head_dim", self.head_dim),
            ("seq", Some(self.seq)),
            ("batch", Some(self.batch)),
        ];
        for (key, value) in counts {
            match value {
                Some(0) => return Err(WorkloadError::invalid(key, "must be at least 1, got 0")),
                Some(v) if v > MAX_COUNT => {
                    return Err(WorkloadError::invalid(
                        key,
                        format!("{v} is larger than {MAX_COUNT}"),
                    ))
                }
                _ => {}
            }
        }
        if self.head_dim.is_none() && self.hidden.checked_rem(self.heads) != Some(0) {
            return Err(WorkloadError::invalid(
                "heads",
                format!(
                    "{} heads do not divide hidden {} (give head_dim explicitly otherwise)",
                    self.heads, self.hidden
                ),
            ));
        }
        if self.heads.checked_rem(self.kv_heads()) != Some(0) {
            return Err(WorkloadError::invalid(
                "kv_heads",
                format!(
                    "{} kv heads do not divide {} heads",
                    self.kv_heads(),
                    self.heads
                ),
            ));
        }
        if !(self.keep_ratio > 0.0 && self.keep_ratio <= 1.0) {
            return Err(WorkloadError::invalid(
                "keep_ratio",
                format!("must be in (0, 1], got {}", self.keep_ratio),
            ));
        }
        Ok(())
    }

    /// Key/value heads (GQA groups); `heads` unless given.
    pub fn kv_heads(&self) -> u64 {
        self.kv_heads.unwrap_or(self.heads)
    }

    /// Per-head size; `hidden / heads` unless given.
    pub fn head_dim(&self) -> u64 {
        self.head_dim
            .unwrap_or_else(|| self.hidden / self.heads.max(1))
    }

    /// The MHA attributes every layer gets.
    pub fn mha_attrs(&self) -> MhaAttrs {
        let head_dim = self.head_dim();
        MhaAttrs {
            heads: as_i64(self.heads),
            kv_heads: as_i64(self.kv_heads()),
            head_dim: as_i64(head_dim),
            scale: f64::from(1.0 / (head_dim as f32).sqrt()),
            causal: self.causal,
        }
    }
}

fn as_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Activations are f16: the chip computes in 16 bit (paper §VI), and the lowering keeps the
/// IR's element type.
fn f16_tensor(dims: [u64; 4]) -> Type {
    Type::Tensor(TensorType::static_shape(&dims, ElemType::F16))
}

/// Attention-only IR for `spec` (validated first): see the module docs for its form.
pub fn build_module(spec: &WorkloadSpec) -> Result<Module, WorkloadError> {
    spec.validate()?;
    let (b, h, hkv, s, d) = (
        spec.batch,
        spec.heads,
        spec.kv_heads(),
        spec.seq,
        spec.head_dim(),
    );
    let (q_ty, kv_ty) = (f16_tensor([b, h, s, d]), f16_tensor([b, hkv, s, d]));
    let layers = usize::try_from(spec.layers).unwrap_or(usize::MAX);
    let inputs: Vec<Type> = (0..layers)
        .flat_map(|_| [q_ty.clone(), kv_ty.clone(), kv_ty.clone()])
        .collect();
    let results = vec![q_ty.clone(); layers];
    let mut m = Module::new();
    let (_, entry) = m.add_func("main", inputs, results);
    let attrs = spec.mha_attrs().to_attrs();
    let mut outs = Vec::with_capacity(layers);
    for l in 0..layers {
        let args: Vec<_> = m.blocks[entry].args[3 * l..3 * l + 3].to_vec();
        for (i, what) in ["q", "k", "v"].iter().enumerate() {
            m.blocks[entry].arg_locs[3 * l + i] = Location::name(format!("layer{l}.{what}"));
        }
        let mut op = OpSpec::new(MHA)
            .operands(args)
            .results([q_ty.clone()])
            .loc(Location::name(format!("{}/layer{l}/attention", spec.name)));
        for (key, value) in &attrs {
            op = op.attr(*key, value.clone());
        }
        let op = m.build_at_end(entry, op);
        outs.push(m.result(op, 0));
    }
    m.build_at_end(entry, OpSpec::new(RETURN_OP).operands(outs));
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: &str = "name = \"tiny\"\nlayers = 2\nhidden = 16\nheads = 4\nkv_heads = 2\n\
                        seq = 8\ncausal = true\n";

    #[test]
    fn defaults_are_derived() {
        let s = parse_spec(TINY).unwrap();
        assert_eq!((s.kv_heads(), s.head_dim(), s.batch), (2, 4, 1));
        assert_eq!(s.keep_ratio, 1.0);
        assert_eq!(s.mha_attrs().scale, 0.5);
    }

    #[test]
    fn explicit_head_dim_need_not_divide_hidden() {
        let text = TINY.replace("hidden = 16", "hidden = 18\nhead_dim = 8");
        let s = parse_spec(&text).unwrap();
        assert_eq!(s.head_dim(), 8);
    }
}
