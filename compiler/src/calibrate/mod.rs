//! Per-layer keep-ratio and key-tile calibration (`sofa calibrate`): the grid of settings
//! ([`grid`]), the accuracy goal, the predicted latency of every attention layer at every
//! setting, the search, and the per-layer TOML that `sparsify{layers=FILE}` and
//! `--layers FILE` read.
//!
//! The search ([`search::search`]) is told the accuracy of a choice of settings by an
//! [`Accuracy`] the caller provides (the host interpreter lives in `sofa-runtime`, which this
//! crate does not depend on); the latency side is the compiler's own cost model: each grid keep
//! is compiled once, uniformly, every layer's recorded plan priced, and each layer re-planned
//! with each pinned tile count ([`price_grid`]). A layer's plan depends only on its own shape,
//! keep and tile pin (`cct-tile` plans each distinct layer shape, the keep included, on its
//! own), so the latency of any per-layer choice is the sum of table entries.

pub mod grid;
pub mod search;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use sofa_ir::dialect::attn::KeepRatioOutOfRange;
use sofa_ir::pass::NoInstrumentation;
use sofa_ir::Module;

use crate::driver::{model_pipeline, pin, schedule_layers, DriverError, Target};
use crate::passes::lowered_heads::LoweredHeads;
use crate::passes::sparsify::{parse_layers, LayerOverride, LayersError};
use crate::schedule::{plan_module_tiled, Pricer};

pub use grid::{Grid, KeepGrid, Setting, TileGrid};
pub use search::{search, Outcome, Start, UniformPoint};

/// The default keep grid: dense, then halving steps with the midpoints the paper's keep ratios
/// (0.25, 0.125) sit between.
pub const DEFAULT_KEEPS: [f64; 6] = [1.0, 0.75, 0.5, 0.375, 0.25, 0.125];

/// Why calibration could not run.
#[derive(Debug, thiserror::Error)]
pub enum CalibrateError {
    #[error("keep grid: {0}")]
    Keep(#[from] KeepRatioOutOfRange),
    #[error("keep grid: {0} is given twice")]
    RepeatedKeep(f64),
    #[error("keep grid: it must contain 1 (dense), the point the search starts from")]
    NoDense,
    #[error("tile grid: {0}")]
    Tiles(String),
    #[error("target '{0}': expected cosine=C with C in (0, 1], e.g. cosine=0.99")]
    Target(String),
    #[error("the model has no attention layer sofa recognises: there is nothing to calibrate")]
    NoLayers,
    #[error("keep {keep}: the compiled model has {got} attention layer(s), keep 1 has {want}")]
    LayerCount { keep: f64, got: usize, want: usize },
    #[error("keep {keep}: {source}")]
    Price { keep: f64, source: DriverError },
    #[error("keep {keep}, layer {layer} with {tiles} key tiles: {source}")]
    PriceTiles {
        keep: f64,
        layer: usize,
        tiles: u64,
        source: crate::schedule::ScheduleError,
    },
    #[error("dense attention (keep 1 everywhere) itself misses the target: cosine {0}")]
    DenseMisses(f64),
    #[error("{0}")]
    Accuracy(Box<dyn std::error::Error + Send + Sync>),
    #[error("the written layers file does not read back: {0}")]
    RoundTrip(LayersError),
}

/// The accuracy a choice of keeps must keep: the cosine similarity of every model output to
/// the dense one, worst over outputs and inputs, at least `min_cosine`.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Goal {
    pub min_cosine: f64,
}

impl Goal {
    /// `cosine=C`, C in (0, 1].
    pub fn parse(text: &str) -> Result<Goal, CalibrateError> {
        let bad = || CalibrateError::Target(text.to_string());
        let value = text.strip_prefix("cosine=").ok_or_else(bad)?;
        let c: f64 = value.trim().parse().map_err(|_| bad())?;
        if !(c > 0.0 && c <= 1.0) {
            return Err(bad());
        }
        Ok(Goal { min_cosine: c })
    }

    pub fn is_met(&self, cosine: f64) -> bool {
        cosine >= self.min_cosine
    }
}

/// Predicted latency (cost-model cycles) of each attention layer at each setting of a
/// [`Grid`]; `None` where the layer has no plan with that setting's pinned tiles, or where the
/// pin is the cost model's own choice (the automatic setting is that same plan).
#[derive(Clone, Debug, PartialEq)]
pub struct LatencyTable {
    /// `cycles[layer][setting index]`.
    cycles: Vec<Vec<Option<u64>>>,
}

impl LatencyTable {
    /// A table of automatic-tile settings only, from its rows (one per layer, one entry per
    /// grid keep).
    pub fn from_rows(cycles: Vec<Vec<u64>>) -> LatencyTable {
        LatencyTable {
            cycles: cycles
                .into_iter()
                .map(|row| row.into_iter().map(Some).collect())
                .collect(),
        }
    }

    /// A table from rows in which some settings are unavailable.
    pub fn from_entries(cycles: Vec<Vec<Option<u64>>>) -> LatencyTable {
        LatencyTable { cycles }
    }

    pub fn layers(&self) -> usize {
        self.cycles.len()
    }

    /// How many grid settings `layer` is priced at.
    pub fn priced_settings(&self, layer: usize) -> usize {
        self.cycles[layer].len()
    }

    /// The layer's cycles at `setting`, `None` when unavailable.
    pub fn entry(&self, layer: usize, setting: usize) -> Option<u64> {
        self.cycles[layer].get(setting).copied().flatten()
    }

    /// The layer's cycles at `setting` (`u64::MAX` when unavailable: never chosen).
    pub fn cycles(&self, layer: usize, setting: usize) -> u64 {
        self.entry(layer, setting).unwrap_or(u64::MAX)
    }

    /// The predicted latency of a choice (a setting index per layer): the layers' sum.
    pub fn total(&self, choice: &[usize]) -> u64 {
        choice.iter().enumerate().fold(0u64, |sum, (layer, &k)| {
            sum.saturating_add(self.cycles(layer, k))
        })
    }
}

/// The accuracy of a choice of settings (one per attention layer), measured by the caller.
pub trait Accuracy {
    /// The worst cosine similarity to the dense outputs with `settings[i]` at layer `i`.
    fn measure(&mut self, settings: &[Setting]) -> Result<f64, CalibrateError>;

    /// The search moved to `settings`: the next measurements change layers of it one at a
    /// time, so work shared with it is worth keeping (and anything else may be dropped).
    fn settle(&mut self, _settings: &[Setting]) {}
}

/// Compile `imported` (an ONNX import with static shapes) once per grid keep, uniformly, price
/// every attention layer's recorded plan, and re-plan each layer with each pinned tile count
/// of the grid: the latency table of the search.
pub fn price_grid(
    imported: &Module,
    target: &Target,
    grid: &Grid,
) -> Result<LatencyTable, CalibrateError> {
    let mut per_setting: Vec<Vec<Option<u64>>> = Vec::with_capacity(grid.len());
    let mut layers = None;
    for &keep in grid.keeps().keeps() {
        let (module, latencies) = price_uniform(imported, target, keep)
            .map_err(|source| CalibrateError::Price { keep, source })?;
        let want = *layers.get_or_insert(latencies.len());
        if latencies.len() != want {
            return Err(CalibrateError::LayerCount {
                keep,
                got: latencies.len(),
                want,
            });
        }
        per_setting.push(latencies.iter().map(|&(cycles, _)| Some(cycles)).collect());
        if keep < 1.0 {
            for &tiles in grid.tiles().counts() {
                per_setting.push(price_pinned(&module, target, (keep, tiles), &latencies)?);
            }
        }
    }
    let layers = layers.unwrap_or(0);
    if layers == 0 {
        return Err(CalibrateError::NoLayers);
    }
    let cycles = (0..layers)
        .map(|l| per_setting.iter().map(|row| row[l]).collect())
        .collect();
    Ok(LatencyTable { cycles })
}

/// The compiled module with every layer at `keep`, and each attention layer's predicted
/// latency and key tiles there.
fn price_uniform(
    imported: &Module,
    target: &Target,
    keep: f64,
) -> Result<(Module, Vec<(u64, u64)>), DriverError> {
    let uniform = Target {
        keep: Some(keep),
        layers: BTreeMap::new(),
        ..target.clone()
    };
    let mut module = imported.clone();
    model_pipeline(&uniform, &BTreeMap::new())?.run(&mut module, &mut NoInstrumentation)?;
    let priced = schedule_layers(&module, &uniform)?;
    let latencies = priced
        .iter()
        .map(|l| (l.plan.cost.latency, l.plan.tc))
        .collect();
    Ok((module, latencies))
}

/// Each layer of `module` (compiled at `keep`) re-planned with `tiles` key tiles pinned: its
/// latency, or `None` where no plan has that many tiles or the cost model already chose them
/// (`auto[i]` = the automatic plan's latency and tiles).
fn price_pinned(
    module: &Module,
    target: &Target,
    (keep, tiles): (f64, u64),
    auto: &[(u64, u64)],
) -> Result<Vec<Option<u64>>, CalibrateError> {
    let pricer = Pricer::with_cache(&target.hw, &LoweredHeads, target.prices.clone());
    let base = Target {
        tiles: None,
        ..target.clone()
    };
    let plan = |layers: &mut dyn Iterator<Item = usize>| {
        let pinned: BTreeMap<usize, u64> = layers.map(|l| (l, tiles)).collect();
        plan_module_tiled(module, &pricer, &pin(&base), &pinned)
    };
    let keep_unless_automatic =
        |layer: usize, cycles: u64| (auto[layer].1 != tiles).then_some(cycles);
    // Every layer at once (one e-graph per shape) unless some layer has no such plan.
    if let Ok(planned) = plan(&mut (0..auto.len())) {
        let cycles = planned.iter().map(|l| l.plan.cost.latency);
        return Ok(cycles
            .enumerate()
            .map(|(l, c)| keep_unless_automatic(l, c))
            .collect());
    }
    (0..auto.len())
        .map(|layer| match plan(&mut std::iter::once(layer)) {
            Ok(planned) => Ok(keep_unless_automatic(
                layer,
                planned[layer].plan.cost.latency,
            )),
            Err(crate::schedule::ScheduleError::NoSuchTiles { .. }) => Ok(None),
            Err(source) => Err(CalibrateError::PriceTiles {
                keep,
                layer,
                tiles,
                source,
            }),
        })
        .collect()
}

/// A keep as TOML writes it: always with a decimal point (TOML reads `1` as an integer).
pub fn keep_text(keep: f64) -> String {
    let text = keep.to_string();
    if text.contains(['.', 'e']) {
        text
    } else {
        format!("{text}.0")
    }
}

/// The per-layer TOML of a choice: `header` lines as comments, then one `[[layer]]` entry per
/// layer with its keep and, when pinned, its tiles (the radius stays automatic). Checked to
/// read back to the same settings.
pub fn layers_toml(
    header: &[String],
    grid: &Grid,
    choice: &[usize],
) -> Result<String, CalibrateError> {
    let mut text = String::new();
    for line in header {
        let _ = writeln!(text, "# {line}");
    }
    let settings = grid.settings(choice);
    for (index, s) in settings.iter().enumerate() {
        let _ = write!(
            text,
            "\n[[layer]]\nindex = {index}\nkeep = {}\n",
            keep_text(s.keep)
        );
        if let Some(t) = s.tiles {
            let _ = writeln!(text, "tiles = {t}");
        }
    }
    let back = parse_layers(&text).map_err(CalibrateError::RoundTrip)?;
    let expected: BTreeMap<usize, LayerOverride> = settings
        .iter()
        .enumerate()
        .map(|(index, s)| (index, layer_override(index, *s)))
        .collect();
    if back != expected {
        return Err(CalibrateError::RoundTrip(LayersError::Toml(
            "the settings read back differ from those written".into(),
        )));
    }
    Ok(text)
}

/// The `sparsify` override (and `cct-tile` tile pin) of `setting` at layer `index`: what a
/// `--layers` file entry says.
pub fn layer_override(index: usize, setting: Setting) -> LayerOverride {
    LayerOverride {
        index,
        keep: Some(setting.keep),
        tiles: setting.tiles.map(|t| i64::try_from(t).unwrap_or(i64::MAX)),
        radius: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_are_sorted_checked_and_start_dense() {
        let g = KeepGrid::new(vec![0.25, 1.0, 0.5]).unwrap();
        assert_eq!(g.keeps(), [1.0, 0.5, 0.25]);
        let e = KeepGrid::new(vec![0.5, 0.25]).unwrap_err().to_string();
        assert!(e.contains("must contain 1"), "{e}");
        let e = KeepGrid::new(vec![1.0, 0.5, 0.5]).unwrap_err().to_string();
        assert_eq!(e, "keep grid: 0.5 is given twice");
        let e = KeepGrid::new(vec![1.0, 1.5]).unwrap_err().to_string();
        assert!(e.contains("1.5 is out of range"), "{e}");
    }

    #[test]
    fn goals_are_cosines_in_the_unit_interval() {
        assert_eq!(Goal::parse("cosine=0.99").unwrap().min_cosine, 0.99);
        for bad in [
            "cosine=0",
            "cosine=1.5",
            "cos=0.9",
            "cosine=x",
            "cosine=NaN",
        ] {
            let e = Goal::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with(&format!("target '{bad}'")), "{e}");
        }
        assert!(Goal { min_cosine: 0.9 }.is_met(0.9));
    }

    #[test]
    fn the_toml_reads_back_through_the_sparsify_parser() {
        let grid = Grid::new(KeepGrid::default(), TileGrid::new(vec![4, 2]).unwrap());
        // Settings: 1; 0.75, 0.75@2, 0.75@4; 0.5, ...; 0.375 is index 7, 0.125@4 index 15.
        assert_eq!(grid.len(), 16);
        let text = layers_toml(&["made by a test".into()], &grid, &[0, 7, 15]).unwrap();
        assert!(text.starts_with("# made by a test\n"), "{text}");
        assert!(text.contains("index = 0\nkeep = 1.0\n\n"), "{text}");
        assert!(
            text.contains("index = 2\nkeep = 0.125\ntiles = 4\n"),
            "{text}"
        );
        let back = parse_layers(&text).unwrap();
        let keeps: Vec<_> = back.values().map(|o| (o.keep.unwrap(), o.tiles)).collect();
        assert_eq!(keeps, [(1.0, None), (0.375, None), (0.125, Some(4))]);
        assert_eq!(keep_text(0.5), "0.5");
    }

    #[test]
    fn tile_grids_are_sorted_and_checked() {
        assert_eq!(TileGrid::new(vec![8, 2]).unwrap().counts(), [2, 8]);
        let e = TileGrid::new(vec![2, 2]).unwrap_err().to_string();
        assert_eq!(e, "tile grid: 2 is given twice");
        let e = TileGrid::new(vec![0]).unwrap_err().to_string();
        assert_eq!(e, "tile grid: 0 key tiles");
        let g = Grid::new(
            KeepGrid::new(vec![1.0, 0.5]).unwrap(),
            TileGrid::new(vec![2]).unwrap(),
        );
        let s: Vec<_> = (0..g.len()).map(|i| g.setting(i)).collect();
        assert_eq!(
            s,
            [
                Setting {
                    keep: 1.0,
                    tiles: None
                },
                Setting {
                    keep: 0.5,
                    tiles: None
                },
                Setting {
                    keep: 0.5,
                    tiles: Some(2)
                },
            ]
        );
        assert_eq!((g.automatic(1), g.keep_index(2)), (1, 1));
    }

    #[test]
    fn a_choice_costs_the_sum_of_its_layers() {
        let t = LatencyTable::from_rows(vec![vec![10, 8, 7], vec![20, 15, 16]]);
        assert_eq!(t.total(&[0, 0]), 30);
        assert_eq!(t.total(&[2, 1]), 22);
    }
}
