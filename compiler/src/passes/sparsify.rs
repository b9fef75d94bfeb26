//! `sparsify`: turn every `attn.mha` into an `attn.sparse_mha` (SOFA's DLZS → SADS → exact
//! attention on the selected keys; semantics in `sofa_ir::dialect::attn`).
//!
//! Attention ops are numbered in order of appearance (a pre-order walk of the module), counting
//! `attn.sparse_mha` ops already present: that number is the *layer index* a per-layer file
//! refers to. Already-sparse ops keep their attributes.
//!
//! Options (pipeline form `sparsify{keep=0.25 tiles=4}`):
//! - `keep` (default 1): fraction of each query row's valid keys kept. 1 means dense — the op
//!   is still rewritten, but evaluates exactly as `attn.mha` — so sparsity is opt-in.
//! - `tiles` (default 0 = automatic): key-tile count `Tc`. The automatic rule, from the key
//!   length `Sk`: 1 when `Sk ≤ 128` (one tile = whole-row top-k); otherwise the even
//!   `Tc = min(32, 2·⌈Sk/256⌉)`, inside the paper's DSE range 2..=32, which keeps the tile width
//!   `Bc = ⌈Sk/Tc⌉` at most 128 up to `Sk = 4096` (BERT 512 → 4, GPT-2 1024 → 8, Llama 4096 →
//!   32). A symbolic `Sk` gets 4, the paper's SADS example, and a note.
//! - `radius` (default 0 = no clipping): SADS sphere radius in logit units.
//! - `rounding` (`floor` default, or `nearest`): DLZS snapping.
//! - `pred-bits` (default 4): LZ code width of the predicted k (the paper's 4-bit LZ weights).
//! - `layers` (default none): a TOML file of per-layer overrides, read when the pipeline is
//!   built:
//!   ```toml
//!   [[layer]]
//!   index = 0      # required: layer index as defined above
//!   keep = 0.5     # optional overrides of keep, tiles, radius
//!   tiles = 8
//!   radius = 9.0
//!   ```
//!   Unknown keys, repeated indices and out-of-range values are errors naming them; an index
//!   past the module's last attention layer fails the pass. `cct-tile`, which sets a sparse
//!   op's `tiles` to its plan's `Tc`, keeps a layer's `tiles` from the same file only when it
//!   is given it too (`cct-tile{layers=FILE}`). `sofa compile|run --layers FILE` feed the same
//!   overrides to both (`driver::Target::layers`), and `sofa calibrate` writes such files.
//!
//! Statistics: `layers-sparsified` (ops rewritten), `layers-dense` (of those, keep = 1), and one
//! note per rewritten layer with its keep ratio, tiles and radius.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use sofa_ir::dialect::attn::{
    check_keep_ratio, KeepRatioOutOfRange, MhaAttrs, Rounding, SparseMhaAttrs, MHA,
    PRED_BITS_RANGE, SPARSE_MHA,
};
use sofa_ir::pass::{
    OptionKind, OptionLookupError, Pass, PassContext, PassError, PassInfo, PassOption, PassOptions,
    PassOutcome,
};
use sofa_ir::{Module, Op};

pub static INFO: PassInfo = PassInfo {
    name: "sparsify",
    description: "Turn every attn.mha into attn.sparse_mha (keep ratio, key tiles, SADS radius, \
                  DLZS rounding and precision; globally or per layer)",
    options: &[
        PassOption {
            name: "keep",
            kind: OptionKind::Float,
            default: "1",
            help: "fraction of each row's valid keys to keep, in (0, 1]; 1 = dense",
        },
        PassOption {
            name: "tiles",
            kind: OptionKind::UInt,
            default: "0",
            help: "key tiles Tc per row; 0 = automatic from the key length (Bc <= 128)",
        },
        PassOption {
            name: "radius",
            kind: OptionKind::Float,
            default: "0",
            help: "SADS sphere radius in logit units; 0 = no clipping",
        },
        PassOption {
            name: "rounding",
            kind: OptionKind::String,
            default: "floor",
            help: "DLZS power-of-two snapping: floor or nearest",
        },
        PassOption {
            name: "pred-bits",
            kind: OptionKind::UInt,
            default: "4",
            help: "LZ code width of the predicted keys (sign + exponent bits), 2 to 5",
        },
        PassOption {
            name: "layers",
            kind: OptionKind::String,
            default: "",
            help: "TOML file of per-layer overrides ([[layer]] index, keep, tiles, radius)",
        },
    ],
    build: |opts| {
        let config =
            SparsifyConfig::from_options(opts).map_err(sofa_ir::pass::PassBuildError::pass)?;
        Ok(Box::new(Sparsify::new(config)))
    },
};

/// A keep ratio, tile count or radius out of range (in an option or a per-layer entry).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SettingError {
    #[error(transparent)]
    Keep(#[from] KeepRatioOutOfRange),
    #[error("must be at least 1, got {0}")]
    Tiles(i64),
    #[error("must be positive and finite, got {0}")]
    Radius(f64),
}

/// Why `sparsify`'s options are not valid.
#[derive(Debug, thiserror::Error)]
pub enum SparsifyError {
    #[error(transparent)]
    Lookup(#[from] OptionLookupError),
    #[error("option '{key}': {problem}")]
    Setting {
        key: &'static str,
        problem: SettingError,
    },
    #[error("option 'pred-bits': must be in {lo}..={hi}, got {0}", lo = PRED_BITS_RANGE.0, hi = PRED_BITS_RANGE.1)]
    PredBits(i64),
    #[error("option 'rounding': expected floor or nearest, found '{0}'")]
    Rounding(String),
    #[error(transparent)]
    Layers(#[from] LayersFileError),
}

/// Why a per-layer file's text is not valid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LayersError {
    #[error("{0}")]
    Toml(String),
    #[error("layer {index}: key '{key}': {problem}")]
    Setting {
        index: usize,
        key: &'static str,
        problem: SettingError,
    },
    #[error("layer {0}: index given twice")]
    Repeated(usize),
}

/// Why a per-layer file could not be used; names the file.
#[derive(Debug, thiserror::Error)]
pub enum LayersFileError {
    #[error("cannot read layers file '{}': {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("layers file '{}': {source}", path.display())]
    Parse {
        path: std::path::PathBuf,
        source: LayersError,
    },
}

/// Settings applied to one layer.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerSettings {
    pub keep: f64,
    /// `None` = automatic from the key length.
    pub tiles: Option<i64>,
    /// `None` = no clipping.
    pub radius: Option<f64>,
}

/// One `[[layer]]` entry of a per-layer file; absent fields fall back to the global options.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerOverride {
    pub index: usize,
    pub keep: Option<f64>,
    pub tiles: Option<i64>,
    pub radius: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LayerFile {
    #[serde(default)]
    layer: Vec<LayerOverride>,
}

/// Everything `sparsify` needs.
#[derive(Clone, Debug, PartialEq)]
pub struct SparsifyConfig {
    pub global: LayerSettings,
    pub rounding: Rounding,
    pub pred_bits: i64,
    /// Per-layer overrides by layer index.
    pub layers: BTreeMap<usize, LayerOverride>,
}

impl Default for SparsifyConfig {
    fn default() -> Self {
        SparsifyConfig {
            global: LayerSettings {
                keep: 1.0,
                tiles: None,
                radius: None,
            },
            rounding: Rounding::Floor,
            pred_bits: 4,
            layers: BTreeMap::new(),
        }
    }
}

impl SparsifyConfig {
    /// The config a pipeline element describes (reads the `layers` file, if any).
    pub fn from_options(opts: &PassOptions) -> Result<SparsifyConfig, SparsifyError> {
        let tiles = opts.uint("tiles")?;
        let radius = opts.float("radius")?;
        let rounding = opts.string("rounding")?;
        let global = LayerSettings {
            keep: opts.float("keep")?,
            tiles: (tiles > 0).then(|| i64::try_from(tiles).unwrap_or(i64::MAX)),
            radius: (radius != 0.0).then_some(radius),
        };
        check_settings(global.keep, global.tiles, global.radius)
            .map_err(|(key, problem)| SparsifyError::Setting { key, problem })?;
        let pred_bits = i64::try_from(opts.uint("pred-bits")?).unwrap_or(i64::MAX);
        let (lo, hi) = PRED_BITS_RANGE;
        if !(lo..=hi).contains(&pred_bits) {
            return Err(SparsifyError::PredBits(pred_bits));
        }
        let layers = match opts.string("layers")? {
            "" => BTreeMap::new(),
            path => load_layers(Path::new(path))?,
        };
        Ok(SparsifyConfig {
            global,
            rounding: Rounding::parse(rounding)
                .ok_or_else(|| SparsifyError::Rounding(rounding.into()))?,
            pred_bits,
            layers,
        })
    }

    /// The settings of layer `index`: its overrides on top of the global ones.
    pub fn layer(&self, index: usize) -> LayerSettings {
        let g = &self.global;
        match self.layers.get(&index) {
            None => g.clone(),
            Some(o) => LayerSettings {
                keep: o.keep.unwrap_or(g.keep),
                tiles: o.tiles.or(g.tiles),
                radius: o.radius.or(g.radius),
            },
        }
    }
}

/// Range checks shared by options and per-layer entries: `Err((key, problem))`.
fn check_settings(
    keep: f64,
    tiles: Option<i64>,
    radius: Option<f64>,
) -> Result<(), (&'static str, SettingError)> {
    if let Err(e) = check_keep_ratio(keep) {
        return Err(("keep", e.into()));
    }
    if let Some(t) = tiles.filter(|&t| t < 1) {
        return Err(("tiles", SettingError::Tiles(t)));
    }
    if let Some(r) = radius.filter(|r| !(r.is_finite() && *r > 0.0)) {
        return Err(("radius", SettingError::Radius(r)));
    }
    Ok(())
}

/// Parse a per-layer file's text: unknown keys, repeated indices and bad values are errors.
pub fn parse_layers(text: &str) -> Result<BTreeMap<usize, LayerOverride>, LayersError> {
    let file: LayerFile =
        toml::from_str(text).map_err(|e| LayersError::Toml(e.to_string().trim().to_string()))?;
    let mut out = BTreeMap::new();
    for entry in file.layer {
        let index = entry.index;
        check_settings(entry.keep.unwrap_or(1.0), entry.tiles, entry.radius).map_err(
            |(key, problem)| LayersError::Setting {
                index,
                key,
                problem,
            },
        )?;
        if out.insert(index, entry).is_some() {
            return Err(LayersError::Repeated(index));
        }
    }
    Ok(out)
}

/// Read and parse a per-layer file; errors name the file.
pub fn load_layers(path: &Path) -> Result<BTreeMap<usize, LayerOverride>, LayersFileError> {
    let text = std::fs::read(path)
        .and_then(sofa_ir::text::decode_utf8_io)
        .map_err(|source| LayersFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    parse_layers(&text).map_err(|source| LayersFileError::Parse {
        path: path.to_path_buf(),
        source,
    })
}

/// The automatic key-tile count for a key length (see the module docs).
pub fn auto_tiles(kv_len: Option<u64>) -> i64 {
    match kv_len {
        None => 4,
        Some(s) if s <= 128 => 1,
        Some(s) => {
            let pairs = i64::try_from(s.div_ceil(256)).unwrap_or(i64::MAX);
            pairs.saturating_mul(2).min(32)
        }
    }
}

/// The `sparsify` pass.
#[derive(Clone, Debug, Default)]
pub struct Sparsify {
    pub config: SparsifyConfig,
}

impl Sparsify {
    pub fn new(config: SparsifyConfig) -> Sparsify {
        Sparsify { config }
    }
}

impl Pass for Sparsify {
    fn info(&self) -> &'static PassInfo {
        &INFO
    }

    fn run(&mut self, m: &mut Module, cx: &mut PassContext<'_>) -> Result<PassOutcome, PassError> {
        let layers = attention_layers(m);
        if let Some((&index, _)) = self.config.layers.range(layers.len()..).next() {
            return Err(PassError::new(format!(
                "per-layer settings name layer {index}, but the module has {} attention layer(s)",
                layers.len()
            )));
        }
        let mut rewritten = 0;
        for (index, op) in layers.into_iter().enumerate() {
            if m.op(op).name != MHA {
                continue;
            }
            let attrs = sparsify_op(m, op, index, &self.config)?;
            cx.stat("layers-sparsified", 1);
            cx.stat("layers-dense", u64::from(attrs.is_dense()));
            cx.note(layer_note(index, &attrs, kv_len(m, op)));
            rewritten += 1;
        }
        cx.stat("layers-sparsified", 0);
        cx.stat("layers-dense", 0);
        Ok(PassOutcome::from_changed(rewritten > 0))
    }
}

/// Every `attn.mha` / `attn.sparse_mha`, in order of appearance.
pub fn attention_layers(m: &Module) -> Vec<Op> {
    m.all_ops()
        .into_iter()
        .filter(|&op| matches!(m.op(op).name.as_str(), MHA | SPARSE_MHA))
        .collect()
}

/// The static key length of an attention op (dim 2 of k).
fn kv_len(m: &Module, op: Op) -> Option<u64> {
    let k = *m.op(op).operands.get(1)?;
    m.value_type(k).as_tensor()?.dims.get(2)?.as_static()
}

/// Rewrite one `attn.mha` in place (operands, results and location stay).
fn sparsify_op(
    m: &mut Module,
    op: Op,
    index: usize,
    config: &SparsifyConfig,
) -> Result<SparseMhaAttrs, PassError> {
    let mha = MhaAttrs::of(m, op).ok_or_else(|| {
        PassError::new(format!(
            "layer {index}: attn.mha at {:?} lacks its heads/kv_heads/head_dim/scale/causal",
            m.op(op).loc
        ))
    })?;
    let settings = config.layer(index);
    let attrs = SparseMhaAttrs {
        mha,
        keep_ratio: settings.keep,
        tiles: settings.tiles.unwrap_or_else(|| auto_tiles(kv_len(m, op))),
        radius: settings.radius,
        rounding: config.rounding,
        pred_bits: config.pred_bits,
    };
    let data = m.op_mut(op);
    data.name = SPARSE_MHA.to_string();
    for (key, value) in attrs.to_attrs() {
        data.attrs.insert(key.to_string(), value);
    }
    Ok(attrs)
}

fn layer_note(index: usize, a: &SparseMhaAttrs, kv_len: Option<u64>) -> String {
    let width = kv_len.map_or_else(
        || "unknown: symbolic key length".to_string(),
        |s| s.div_ceil(a.tiles.max(1) as u64).to_string(),
    );
    let radius = a
        .radius
        .map_or_else(|| "none".to_string(), |r| r.to_string());
    format!(
        "layer {index}: keep {}, tiles {} (Bc {width}), radius {radius}",
        a.keep_ratio, a.tiles
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn automatic_tiles_keep_tile_width_at_most_128() {
        let cases = [
            (None, 4),
            (Some(8), 1),
            (Some(128), 1),
            (Some(197), 2),
            (Some(512), 4),
            (Some(1024), 8),
            (Some(2048), 16),
            (Some(3192), 26),
            (Some(4096), 32),
            (Some(100_000), 32),
        ];
        for (sk, want) in cases {
            assert_eq!(auto_tiles(sk), want, "Sk = {sk:?}");
            if let Some(s) = sk.filter(|&s| s <= 4096) {
                assert!(s.div_ceil(want as u64) <= 128, "Sk = {s}");
            }
        }
    }

    #[test]
    fn layer_files_merge_over_globals_and_reject_bad_entries() {
        let layers =
            parse_layers("[[layer]]\nindex = 1\nkeep = 0.5\n\n[[layer]]\nindex = 3\ntiles = 8\n")
                .unwrap();
        let config = SparsifyConfig {
            layers,
            ..SparsifyConfig::default()
        };
        assert_eq!(config.layer(0), config.global);
        assert_eq!(config.layer(1).keep, 0.5);
        assert_eq!(
            (config.layer(3).keep, config.layer(3).tiles),
            (1.0, Some(8))
        );
        let e = parse_layers("[[layer]]\nindex = 0\nkepp = 0.5\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("kepp"), "{e}");
        let e = parse_layers("[[layers]]\nindex = 0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("layers"), "{e}");
        let e = parse_layers("[[layer]]\nindex = 2\nkeep = 1.5\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "layer 2: key 'keep': 1.5 is out of range: must be in [1.1754944e-38, 1] (stored as f32)"
        );
        let e = parse_layers("[[layer]]\nindex = 2\n[[layer]]\nindex = 2\n").unwrap_err();
        assert_eq!(e, LayersError::Repeated(2));
        let e = parse_layers("[[layer]]\nkeep = 0.5\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("index"), "{e}");
    }
}
