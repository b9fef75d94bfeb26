//! DSE specs: what `sofa dse SPEC.toml` sweeps (the format is documented in `docs/dse.md`).
//!
//! ```toml
//! name = "bert-base-small"            # optional, default: the file stem
//! objectives = ["latency", "energy", "area"]   # and "accuracy" for a model target
//!
//! [target]
//! workload = "../../workloads/bert-base.toml"   # relative to this file; or an ONNX model:
//! # model = "m.onnx"  with  inputs = ["a.npz", ...]  and optionally  shape = { seq = 512 }
//! # hardware = "../../configs/sofa-28nm.toml"   # the base chip; default: the paper's
//!
//! [[axis]]
//! key = "sram.token_bytes"                      # any leaf key of the hardware TOML
//! values = [98304, 196608, 393216]
//!
//! [[axis]]
//! key = "keep"                                  # plan axes: keep, schedule, tiles
//! values = [0.25, 0.5, 1.0]
//!
//! # [area]  overrides of the area model's constants (`AreaModel`)
//!
//! # [search]  which points are evaluated (`super::search`): method = "exhaustive" (default),
//! # "random" or "tpe", with budget = N and seed = S for the last two
//! ```
//!
//! Points are the Cartesian product of the axes in the order they are listed, the last axis
//! varying fastest; point `i`'s value indices are the mixed-radix digits of `i`. The spec's
//! hash ([`DseSpec::hash`]) covers the spec's text, the workload's and the base hardware
//! file's, and sofa's version, so outputs of different inputs are never mixed.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sofa_ir::dialect::attn::Schedule;
use sofa_ir::hw::{fnv1a64, HwConfig, HwConfigError};
use toml::Spanned;

use super::area::AreaModel;
use super::axis::{hardware_axis, keep_axis, schedule_axis, tiles_axis};
use super::search::{RawSearch, Search};
use super::target::{self, RawTarget, Subject};
use super::{DseError, Objective};

/// Most points a spec may have.
pub const MAX_POINTS: u64 = 1 << 20;

/// The version of the output format, written in every header.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    name: Option<String>,
    objectives: Spanned<Vec<Spanned<String>>>,
    target: Spanned<RawTarget>,
    #[serde(default)]
    axis: Vec<Spanned<RawAxis>>,
    #[serde(default)]
    area: AreaModel,
    search: Option<Spanned<RawSearch>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAxis {
    key: Spanned<String>,
    values: Spanned<Vec<Spanned<toml::Value>>>,
}

/// What an axis sets.
#[derive(Clone, Debug, PartialEq)]
pub enum AxisKind {
    /// A leaf of the hardware config, as a JSON pointer (`/sram/token_bytes`).
    Hardware(String),
    /// The keep ratio the workload is sparsified at.
    Keep(Vec<f64>),
    /// The attention schedule `cct-tile` plans under.
    Schedule(Vec<Schedule>),
    /// The key-tile count `cct-tile` must plan every layer with.
    Tiles(Vec<u64>),
}

/// One axis: its dotted key, its values as written to the output, and what it sets.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    pub key: String,
    pub values: Vec<serde_json::Value>,
    pub kind: AxisKind,
}

/// A parsed, checked DSE spec with the files it names loaded.
#[derive(Clone, Debug)]
pub struct DseSpec {
    pub name: String,
    /// The workload spec or ONNX model the points are compiled from.
    pub subject: Subject,
    /// The base chip every point starts from.
    pub hardware: HwConfig,
    base_json: serde_json::Value,
    pub axes: Vec<Axis>,
    pub objectives: Vec<Objective>,
    pub area: AreaModel,
    /// Which points are evaluated (`[search]`; default: all of them).
    pub search: Search,
    /// FNV-1a over sofa's version and the bytes of the spec, the workload (or the model and
    /// its inputs) and the hardware file.
    pub hash: u64,
    /// The number of points (the product of the axes' lengths; 1 without axes).
    pub points: u64,
}

/// One point's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct PointSettings {
    pub hw: HwConfig,
    pub keep: Option<f64>,
    pub schedule: Schedule,
    /// Forced key tiles; `None`: `cct-tile` chooses.
    pub tiles: Option<u64>,
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

/// Every leaf key of `v` (a serialised `HwConfig`) in dotted form.
fn leaf_keys(v: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaf_keys(v, &key, out);
            }
        }
        _ => out.push(prefix.to_string()),
    }
}

/// Reads a file named by a spec.
fn read_text(what: &'static str, path: &Path) -> Result<String, DseError> {
    let read_error = |message: String| DseError::Read {
        what,
        path: path.to_path_buf(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| read_error(e.to_string()))?;
    sofa_ir::text::decode_utf8(bytes).map_err(|e| read_error(e.to_string()))
}

impl DseSpec {
    /// Read and check a spec file and the files it names (relative to its directory).
    pub fn load(path: &Path) -> Result<DseSpec, DseError> {
        let text = read_text("DSE spec", path)?;
        DseSpec::parse(&text, path)
    }

    /// Check a spec's `text`, read from `path` (for messages and relative paths).
    pub fn parse(text: &str, path: &Path) -> Result<DseSpec, DseError> {
        let at = |span: std::ops::Range<usize>| {
            let (l, c) = line_col(text, span.start);
            format!("{}:{l}:{c}", path.display())
        };
        let err = |span: std::ops::Range<usize>, message: String| DseError::Spec {
            at: at(span),
            message,
        };
        let raw: RawSpec = toml::from_str(text).map_err(|e| DseError::Spec {
            // In well-formed TOML a missing key is reported at 0..0: that locates nothing.
            at: match e.span() {
                Some(s) if s != (0..0) || toml::de::DeTable::parse(text).is_err() => at(s),
                _ => path.display().to_string(),
            },
            message: e.message().trim().to_string(),
        })?;
        let dir = path.parent().unwrap_or(Path::new(""));
        let target_span = raw.target.span();
        let target = raw.target.into_inner();
        let (subject, subject_bytes) =
            target::subject(&target, (dir, path, target_span.clone()), &err)?;
        let (hardware, hardware_text) = match &target.hardware {
            Some(h) => {
                let file: PathBuf = dir.join(h.get_ref());
                let text = read_text("hardware config", &file)?;
                let hw = HwConfig::load(&file).map_err(|e| DseError::Target {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })?;
                (hw, text)
            }
            None => (HwConfig::default(), String::new()),
        };
        let base_json = serde_json::to_value(&hardware).map_err(|e| DseError::Spec {
            at: path.display().to_string(),
            message: format!("cannot serialise the base hardware config: {e}"),
        })?;

        let mut objectives = Vec::new();
        for o in raw.objectives.get_ref() {
            let obj = Objective::parse(o.get_ref()).ok_or_else(|| {
                err(
                    o.span(),
                    format!(
                        "unknown objective '{}'; objectives are latency, energy, area and \
                         accuracy",
                        o.get_ref()
                    ),
                )
            })?;
            if objectives.contains(&obj) {
                return Err(err(
                    o.span(),
                    format!("objective '{}' listed twice", obj.name()),
                ));
            }
            if obj == Objective::Accuracy && subject.model().is_none() {
                return Err(err(
                    o.span(),
                    "objective 'accuracy' needs a model target ('model = \"M.onnx\"' with \
                     'inputs'): a workload spec has no weights to measure it with"
                        .into(),
                ));
            }
            objectives.push(obj);
        }
        if objectives.is_empty() {
            return Err(err(
                raw.objectives.span(),
                "give at least one objective (latency, energy, area, accuracy)".into(),
            ));
        }

        let mut known = Vec::new();
        leaf_keys(&base_json, "", &mut known);
        let mut axes: Vec<Axis> = Vec::new();
        let mut points: u64 = 1;
        for a in &raw.axis {
            let a = a.get_ref();
            let key = a.key.get_ref().as_str();
            if axes.iter().any(|x| x.key == key) {
                return Err(err(a.key.span(), format!("axis '{key}' listed twice")));
            }
            let values = a.values.get_ref();
            if values.is_empty() {
                return Err(err(a.values.span(), format!("axis '{key}' has no values")));
            }
            let axis = match key {
                "keep" => keep_axis(values, &err)?,
                "schedule" => schedule_axis(values, &err)?,
                "tiles" => tiles_axis(values, &err)?,
                _ if known.iter().any(|k| k == key) => {
                    hardware_axis(key, values, &base_json, &err)?
                }
                _ => {
                    return Err(err(
                        a.key.span(),
                        format!(
                            "unknown axis key '{key}': axes are 'keep', 'schedule', 'tiles' or a \
                             key of the hardware TOML ({})",
                            known.join(", ")
                        ),
                    ))
                }
            };
            for (i, v) in axis.values.iter().enumerate() {
                if axis.values[..i].contains(v) {
                    return Err(err(
                        values[i].span(),
                        format!("axis '{key}' lists the value {v} twice"),
                    ));
                }
            }
            points = points
                .checked_mul(axis.values.len() as u64)
                .filter(|&p| p <= MAX_POINTS)
                .ok_or_else(|| {
                    err(
                        a.key.span(),
                        format!("the spec has more than {MAX_POINTS} points (MAX_POINTS)"),
                    )
                })?;
            axes.push(Axis {
                key: key.to_string(),
                ..axis
            });
        }

        let search = Search::parse(raw.search, points, &err)?;
        let mut hashed = Vec::new();
        let texts = [
            "sofa-dse".as_bytes(),
            env!("CARGO_PKG_VERSION").as_bytes(),
            text.as_bytes(),
        ];
        let files = subject_bytes.iter().map(Vec::as_slice);
        for part in texts
            .into_iter()
            .chain(files)
            .chain([hardware_text.as_bytes()])
        {
            hashed.extend_from_slice(part);
            hashed.push(0);
        }
        let name = raw.name.unwrap_or_else(|| {
            path.file_stem()
                .map_or_else(|| "dse".into(), |s| s.to_string_lossy().into_owned())
        });
        Ok(DseSpec {
            name,
            subject,
            hardware,
            base_json,
            axes,
            objectives,
            area: raw.area,
            search,
            hash: fnv1a64(&hashed),
            points,
        })
    }

    /// The spec hash as written in outputs (16 hex digits).
    pub fn hash_hex(&self) -> String {
        format!("{:016x}", self.hash)
    }

    /// The value index of each axis at point `index` (the last axis varies fastest).
    pub fn digits(&self, index: u64) -> Vec<usize> {
        let mut rest = index;
        let mut digits = vec![0; self.axes.len()];
        for (d, axis) in digits.iter_mut().zip(&self.axes).rev() {
            let n = axis.values.len() as u64;
            *d = (rest % n) as usize;
            rest /= n;
        }
        digits
    }

    /// The point whose value index of each axis is `digits` (the inverse of [`Self::digits`]).
    pub fn index_of(&self, digits: &[usize]) -> u64 {
        self.axes
            .iter()
            .zip(digits)
            .fold(0, |i, (axis, &d)| i * axis.values.len() as u64 + d as u64)
    }

    /// The settings of point `index`; an `Err` is why the point's chip is not a valid
    /// configuration (an infeasible point, not a spec error).
    pub fn settings(&self, index: u64) -> Result<PointSettings, InvalidChip> {
        let mut json = self.base_json.clone();
        let mut keep = None;
        let mut schedule = Schedule::Cct;
        let mut tiles = None;
        for (axis, d) in self.axes.iter().zip(self.digits(index)) {
            match &axis.kind {
                AxisKind::Hardware(pointer) => {
                    if let Some(slot) = json.pointer_mut(pointer) {
                        *slot = axis.values[d].clone();
                    }
                }
                AxisKind::Keep(v) => keep = Some(v[d]),
                AxisKind::Schedule(v) => schedule = v[d],
                AxisKind::Tiles(v) => tiles = Some(v[d]),
            }
        }
        let hw: HwConfig = serde_json::from_value(json).map_err(InvalidChip::Value)?;
        hw.validate()?;
        Ok(PointSettings {
            hw,
            keep,
            schedule,
            tiles,
        })
    }
}

/// Why a point's axis values do not make a valid chip.
#[derive(Debug, thiserror::Error)]
pub enum InvalidChip {
    /// A value of the wrong type or range for its key.
    #[error("{0}")]
    Value(serde_json::Error),
    /// The chip breaks a rule of the hardware table.
    #[error(transparent)]
    Rules(#[from] HwConfigError),
}

pub(super) type ErrAt<'a> = dyn Fn(std::ops::Range<usize>, String) -> DseError + 'a;

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// `text` as `dir/s.toml`, beside a one-layer workload `w.toml` it may target.
    pub(in crate::dse) fn spec_in(dir: &Path, text: &str) -> Result<DseSpec, DseError> {
        std::fs::write(
            dir.join("w.toml"),
            "name = \"w\"\nlayers = 1\nhidden = 128\nheads = 2\nseq = 256\ncausal = false\n",
        )
        .unwrap();
        DseSpec::parse(text, &dir.join("s.toml"))
    }

    const HEAD: &str = "objectives = [\"latency\", \"area\"]\n[target]\nworkload = \"w.toml\"\n";

    #[test]
    fn points_are_the_product_with_the_last_axis_fastest() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "{HEAD}[[axis]]\nkey = \"sram.token_bytes\"\nvalues = [65536, 131072]\n\
             [[axis]]\nkey = \"keep\"\nvalues = [0.25, 0.5, 1]\n"
        );
        let spec = spec_in(dir.path(), &text).unwrap();
        assert_eq!(spec.points, 6);
        assert_eq!(spec.digits(4), vec![1, 1]);
        assert!((0..6).all(|i| spec.index_of(&spec.digits(i)) == i));
        let s = spec.settings(4).unwrap();
        assert_eq!((s.hw.sram.token_bytes, s.keep), (131_072, Some(0.5)));
        assert_eq!(spec.axes[1].values[2].to_string(), "1.0");
        // Same text, same hash; another text, another hash.
        assert_eq!(spec_in(dir.path(), &text).unwrap().hash, spec.hash);
        let other = spec_in(dir.path(), &text.replace("0.25", "0.125")).unwrap();
        assert_ne!(other.hash, spec.hash);
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let e = spec_in(
            dir.path(),
            &format!("{HEAD}[[axis]]\nkey = \"sram.token_byte\"\nvalues = [1]\n"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("s.toml:5:7: unknown axis key 'sram.token_byte'"),
            "{e}"
        );
        assert!(e.contains("sram.token_bytes"), "{e}");
        let e = spec_in(
            dir.path(),
            &format!("{HEAD}[[axis]]\nkey = \"sufa.cols\"\nvalues = [4, -2]\n"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("s.toml:6:14: axis 'sufa.cols': the value -2 does not fit"),
            "{e}"
        );
        let e = spec_in(
            dir.path(),
            &format!("{HEAD}[[axis]]\nkey = \"keep\"\nvalues = [0]\n"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("s.toml:6:11: axis 'keep'"), "{e}");
        let e = spec_in(
            dir.path(),
            &format!("{HEAD}[[axis]]\nkey = \"tiles\"\nvalues = [4, 0]\n"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("s.toml:6:14: axis 'tiles': expected a key-tile count"),
            "{e}"
        );
        let e = spec_in(
            dir.path(),
            "objectives = [\"speed\"]\n[target]\nworkload = \"w.toml\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("s.toml:1:15: unknown objective 'speed'"), "{e}");
        let e = spec_in(
            dir.path(),
            "objectives = [\"area\"]\n[target]\nmodel = \"m.onnx\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("s.toml:2:1: a model target needs 'inputs"),
            "{e}"
        );
        let e = spec_in(
            dir.path(),
            "objectives = [\"accuracy\"]\n[target]\nworkload = \"w.toml\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("s.toml:1:15: objective 'accuracy' needs a model"),
            "{e}"
        );
        let e = spec_in(
            dir.path(),
            "objectives = [\"area\"]\n[target]\nworkload = \"w.toml\"\ninputs = [\"a.npz\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("s.toml:4:10: 'inputs' is for a model target"),
            "{e}"
        );
        std::fs::write(dir.path().join("bad.toml"), "name = \"b\"\nlayers = 0\n").unwrap();
        let e = DseSpec::parse(
            "objectives = [\"area\"]\n[target]\nworkload = \"bad.toml\"\n",
            &dir.path().join("s.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("s.toml: [target]: ") && e.contains("bad.toml"),
            "{e}"
        );
        let e = spec_in(dir.path(), "[target]\nworkload = \"w.toml\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.ends_with("s.toml: missing field `objectives`"), "{e}");
        let e = spec_in(dir.path(), &format!("{HEAD}colour = 1\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("s.toml:4:1") && e.contains("colour"), "{e}");
    }
}
