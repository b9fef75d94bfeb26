//! Workload specs: paper-scale attention shapes without weights (`sofa compile --workload`).
//!
//! A spec is a small TOML file:
//! ```toml
//! name = "bert-base"
//! source = "BERT-base (Devlin et al. 2019): 12 layers, hidden 768, 12 heads"
//! layers = 12       # at most MAX_LAYERS (4096)
//! hidden = 768
//! heads = 12
//! # kv_heads = 12     (default: heads; GQA when smaller, must divide heads)
//! # head_dim = 64     (default: hidden / heads, which must then divide exactly)
//! seq = 512
//! # batch = 1         (default 1)
//! causal = false      # required: decoders mask the future
//! # window = 4096     (causal only: sliding window, each query sees itself and window − 1
//! #                    keys before it, as Mistral; default: none)
//! # keep_ratio = 1.0  (default 1 = dense; in [f32::MIN_POSITIVE, 1] = [1.2e-38, 1])
//! ```
//! Unknown keys are rejected by name; values are range-checked with the key named; errors of a
//! file name it with the line and column of the offending value (`x.toml:3:10: key 'layers': …`).
//! What the tool can hold is bounded: [`MAX_LAYERS`] per spec, [`MAX_PROGRAM_INSTRS`] per lowered
//! program ([`check_program_size`]), and the layers' tensors must fit the configured DRAM
//! ([`WorkloadSpec::check_dram`]).
//!
//! [`build_module`] turns a spec into attention-only IR. The simplest form that is honest
//! about what it models: `func.func @main` takes, per layer `l`, three arguments `q_l`
//! `[B, H, S, D]`, `k_l` and `v_l` `[B, Hkv, S, D]` (f16, the chip's datapath), applies one `attn.mha` (scale `1/√D`, the
//! spec's causal flag) and returns every layer's output. Layers are independent — the
//! projections, FFNs and norms that would chain them are not attention and have no weights
//! here — so the IR is executable by the interpreter on random inputs for small specs, and
//! lowerable for timing-only simulation at paper scale. The spec's `keep_ratio` is not baked
//! into the IR: the workload pipeline of [`crate::driver`] sparsifies at it.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sofa_ir::dialect::attn::{check_keep_ratio, MhaAttrs, MHA};
use sofa_ir::hw::HwConfig;
use sofa_ir::isa::INSTR_BYTES;
use sofa_ir::module::RETURN_OP;
use sofa_ir::{ElemType, Location, Module, OpSpec, TensorType, Type};

use crate::lower::dram::ALIGN;
use sofa_ir::isa::DType;

/// Largest accepted value of any count in a spec.
const MAX_COUNT: u64 = 1 << 31;

/// Most layers a spec may have. Every layer is materialised — function arguments and an op in
/// the IR, a plan, an entry of `schedule-json`, a `sofa.kernel` for `--emit mlir`, DRAM tensors
/// — so the work of every command grows with the count (`--emit mlir|bin` faster than
/// linearly: ≈ 45 s for 4096 one-head layers of 64 keys). The deepest published transformers
/// have ≈ 100–130 layers; 4096 is 30 times that.
pub const MAX_LAYERS: u64 = 4096;

/// Most instructions a workload's lowered program may have (`sofa compile --emit bin|asm`,
/// and `sofa run --workload` for the layers it simulates). A program holds every instruction in
/// memory (32 B each encoded, about twice that while simulating), so 2²⁷ instructions are
/// ≈ 4 GiB encoded; the largest shipped workload, Llama-13B dense, has 92 M. Larger programs
/// are refused before lowering, from the cost model's count of the instructions it emits.
pub const MAX_PROGRAM_INSTRS: u64 = 1 << 27;

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
    /// Sliding-window width (causal specs only).
    pub window: Option<u64>,
    #[serde(default = "default_keep_ratio")]
    pub keep_ratio: f64,
}

fn default_batch() -> u64 {
    1
}

fn default_keep_ratio() -> f64 {
    1.0
}

/// Where in a spec a problem is: its file, when read from one, and the 1-based line and
/// column (in characters) of the offending value, when the text has it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpecSite {
    pub file: Option<PathBuf>,
    pub line_col: Option<(usize, usize)>,
}

impl fmt::Display for SpecSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(p) => write!(f, "{}", p.display())?,
            None => f.write_str("workload spec")?,
        }
        match self.line_col {
            Some((line, col)) => write!(f, ":{line}:{col}"),
            None => Ok(()),
        }
    }
}

/// A spec that could not be read, parsed or validated, or whose work exceeds what the tool
/// can hold.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum WorkloadError {
    /// The file could not be read or is not UTF-8 (the message locates the first bad byte).
    #[error("cannot read workload spec '{}': {message}", path.display())]
    Read { path: PathBuf, message: String },
    /// TOML syntax, a missing or unknown key, or a value of the wrong type; `key` is the key
    /// whose value is wrong, when the text is well-formed TOML.
    #[error(
        "{at}: {}{message}",
        key.as_ref().map_or_else(String::new, |k| format!("key '{k}': "))
    )]
    Parse {
        at: SpecSite,
        key: Option<String>,
        message: String,
    },
    #[error("{at}: key '{key}': {message}")]
    Invalid {
        at: SpecSite,
        key: &'static str,
        message: String,
    },
    /// The inputs and outputs of every layer do not fit the configured DRAM (`None`: more
    /// than 64 bits of bytes).
    #[error(
        "the tensors of its {layers} layer(s) (q, k, v and o) need {} B of DRAM, more than \
         dram.capacity_bytes ({capacity})",
        needed.map_or_else(|| "over 2^64".to_string(), |n| n.to_string())
    )]
    DramCapacity {
        layers: u64,
        needed: Option<u64>,
        capacity: u64,
    },
    /// The lowered program would have more than [`MAX_PROGRAM_INSTRS`] instructions.
    #[error(
        "the program of {layers} layer(s) would have about {instrs} instructions ({} B \
         encoded), more than the {MAX_PROGRAM_INSTRS} (MAX_PROGRAM_INSTRS) the tool holds in \
         memory; lower 'batch', 'heads', 'seq' or 'layers'",
        instrs.saturating_mul(INSTR_BYTES as u64)
    )]
    ProgramTooLarge { layers: u64, instrs: u64 },
}

impl WorkloadError {
    fn invalid(key: &'static str, message: impl Into<String>) -> WorkloadError {
        WorkloadError::Invalid {
            at: SpecSite::default(),
            key,
            message: message.into(),
        }
    }

    /// Locate a parse or validation error in `text` (read from `file`, if any).
    fn located(self, text: &str, file: Option<&Path>) -> WorkloadError {
        let site = |line_col| SpecSite {
            file: file.map(Path::to_path_buf),
            line_col,
        };
        match self {
            WorkloadError::Invalid { key, message, .. } => WorkloadError::Invalid {
                at: site(value_offset(text, key).map(|at| line_col(text, at))),
                key,
                message,
            },
            WorkloadError::Parse { at, key, message } => WorkloadError::Parse {
                at: site(at.line_col),
                key,
                message,
            },
            other => other,
        }
    }
}

/// Byte offset of the value of top-level `key` in `text`, when the text gives it.
fn value_offset(text: &str, key: &str) -> Option<usize> {
    let table = toml::de::DeTable::parse(text).ok()?;
    table
        .get_ref()
        .iter()
        .find(|(k, _)| k.get_ref().as_ref() == key)
        .map(|(_, v)| v.span().start)
}

/// The top-level key whose value spans byte `at` of `text`, when the text is well-formed.
fn key_at(text: &str, at: usize) -> Option<String> {
    let table = toml::de::DeTable::parse(text).ok()?;
    table
        .get_ref()
        .iter()
        .find(|(_, v)| v.span().contains(&at))
        .map(|(k, _)| k.get_ref().to_string())
}

/// 1-based line and character column of byte `at` in `text`.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = text.get(..at).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

/// Parse and validate a spec's text.
pub fn parse_spec(text: &str) -> Result<WorkloadSpec, WorkloadError> {
    parse_located(text, None)
}

fn parse_located(text: &str, file: Option<&Path>) -> Result<WorkloadSpec, WorkloadError> {
    let spec: WorkloadSpec = toml::from_str(text).map_err(|e| {
        // In well-formed TOML a missing key is reported at 0..0: that locates nothing.
        let unlocated =
            |s: &std::ops::Range<usize>| *s == (0..0) && toml::de::DeTable::parse(text).is_ok();
        let start = e.span().filter(|s| !unlocated(s)).map(|s| s.start);
        WorkloadError::Parse {
            at: SpecSite {
                file: None,
                line_col: start.map(|at| line_col(text, at)),
            },
            key: start.and_then(|at| key_at(text, at)),
            message: e.message().trim().to_string(),
        }
        .located(text, file)
    })?;
    spec.validate().map_err(|e| e.located(text, file))?;
    Ok(spec)
}

/// Read, parse and validate a spec file; errors name the file (and the line and column of the
/// offending value).
pub fn load_spec(path: &Path) -> Result<WorkloadSpec, WorkloadError> {
    let read_error = |message: String| WorkloadError::Read {
        path: path.to_path_buf(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| read_error(e.to_string()))?;
    let text = sofa_ir::text::decode_utf8(bytes).map_err(|e| read_error(e.to_string()))?;
    parse_located(&text, Some(path))
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
            ("window", self.window),
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
        if self.layers > MAX_LAYERS {
            return Err(WorkloadError::invalid(
                "layers",
                format!(
                    "{} is more than {MAX_LAYERS}, the most a spec may have (every layer is \
                     materialised; see MAX_LAYERS)",
                    self.layers
                ),
            ));
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
        if self.window.is_some() && !self.causal {
            return Err(WorkloadError::invalid(
                "window",
                "a sliding window needs causal = true (it bounds how far back a query sees)",
            ));
        }
        check_keep_ratio(self.keep_ratio)
            .map_err(|e| WorkloadError::invalid("keep_ratio", e.to_string()))?;
        Ok(())
    }

    /// Bytes of DRAM the program of this spec holds for its inputs and outputs: `q`, `k`, `v`
    /// and `o` of every layer at the workload's activation type, each aligned like the
    /// lowering's tensor table (spills come on top; the lowering checks those). `None` beyond
    /// 64 bits.
    pub fn dram_bytes(&self) -> Option<u64> {
        let tensor = |heads: u64| -> Option<u64> {
            let elems = self
                .batch
                .checked_mul(heads)?
                .checked_mul(self.seq)?
                .checked_mul(self.head_dim())?;
            DType::from_elem(ELEM)
                .bytes_for(elems)?
                .checked_next_multiple_of(ALIGN)
        };
        let (q, kv) = (tensor(self.heads)?, tensor(self.kv_heads())?);
        let layer = q.checked_mul(2)?.checked_add(kv.checked_mul(2)?)?;
        layer.checked_mul(self.layers)
    }

    /// The one DRAM-capacity check of a workload, shared by every command that takes a spec
    /// (`schedule-json` prices a program that must fit, as `run` and `--emit bin` lower it).
    pub fn check_dram(&self, hw: &HwConfig) -> Result<(), WorkloadError> {
        let needed = self.dram_bytes();
        if needed.is_some_and(|n| n <= hw.dram.capacity_bytes) {
            return Ok(());
        }
        Err(WorkloadError::DramCapacity {
            layers: self.layers,
            needed,
            capacity: hw.dram.capacity_bytes,
        })
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
            window: self.window.and_then(|w| i64::try_from(w).ok()),
        }
    }
}

/// Refuse to lower a program of `layers` layers and `instrs` instructions (the cost model's
/// count of what the lowering emits, so this runs before anything is materialised) when it
/// would exceed [`MAX_PROGRAM_INSTRS`].
pub fn check_program_size(layers: u64, instrs: u64) -> Result<(), WorkloadError> {
    if instrs <= MAX_PROGRAM_INSTRS {
        return Ok(());
    }
    Err(WorkloadError::ProgramTooLarge { layers, instrs })
}

fn as_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The element type of workload IR: f16, as the chip computes in 16 bit (paper §VI); the
/// lowering keeps the IR's element type.
const ELEM: ElemType = ElemType::F16;

fn f16_tensor(dims: [u64; 4]) -> Type {
    Type::Tensor(TensorType::static_shape(&dims, ELEM))
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
