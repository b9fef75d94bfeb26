//! Per-layer keep-ratio calibration (`sofa calibrate`): the keep grid, the accuracy goal, the
//! predicted latency of every attention layer at every keep of the grid, the search, and the
//! per-layer TOML that `sparsify{layers=FILE}` and `--layers FILE` read.
//!
//! The search ([`search::search`]) is told the accuracy of a choice of keeps by an
//! [`Accuracy`] the caller provides (the host interpreter lives in `sofa-runtime`, which this
//! crate does not depend on); the latency side is the compiler's own cost model: each grid keep
//! is compiled once, uniformly, and every layer's recorded plan priced ([`price_grid`]). A
//! layer's plan depends only on its own shape and keep (`cct-tile` plans each distinct layer
//! shape, the keep included, on its own), so the latency of any per-layer choice is the sum of
//! table entries.

pub mod search;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use sofa_ir::dialect::attn::{check_keep_ratio, KeepRatioOutOfRange};
use sofa_ir::pass::NoInstrumentation;
use sofa_ir::Module;

use crate::driver::{model_pipeline, schedule_layers, DriverError, Target};
use crate::passes::sparsify::{parse_layers, LayerOverride, LayersError};

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
    #[error("target '{0}': expected cosine=C with C in (0, 1], e.g. cosine=0.99")]
    Target(String),
    #[error("the model has no attention layer sofa recognises: there is nothing to calibrate")]
    NoLayers,
    #[error("keep {keep}: the compiled model has {got} attention layer(s), keep 1 has {want}")]
    LayerCount { keep: f64, got: usize, want: usize },
    #[error("keep {keep}: {source}")]
    Price { keep: f64, source: DriverError },
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

/// The keeps a layer may take, from 1 (dense, index 0) down.
#[derive(Clone, Debug, PartialEq)]
pub struct KeepGrid(Vec<f64>);

impl KeepGrid {
    /// Sorted from 1 down; every keep range-checked, none repeated, 1 present.
    pub fn new(mut keeps: Vec<f64>) -> Result<KeepGrid, CalibrateError> {
        for &k in &keeps {
            check_keep_ratio(k)?;
        }
        keeps.sort_by(|a, b| b.total_cmp(a));
        if let Some(w) = keeps.windows(2).find(|w| w[0] == w[1]) {
            return Err(CalibrateError::RepeatedKeep(w[0]));
        }
        if keeps.first() != Some(&1.0) {
            return Err(CalibrateError::NoDense);
        }
        Ok(KeepGrid(keeps))
    }

    pub fn keeps(&self) -> &[f64] {
        &self.0
    }

    pub fn keep(&self, index: usize) -> f64 {
        self.0[index]
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `1,0.75,0.5`: the form `--keeps` takes.
impl std::fmt::Display for KeepGrid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keeps: Vec<String> = self.0.iter().map(f64::to_string).collect();
        f.write_str(&keeps.join(","))
    }
}

impl Default for KeepGrid {
    fn default() -> KeepGrid {
        KeepGrid(DEFAULT_KEEPS.to_vec())
    }
}

/// Predicted latency (cost-model cycles) of each attention layer at each keep of a grid.
#[derive(Clone, Debug, PartialEq)]
pub struct LatencyTable {
    /// `cycles[layer][grid index]`.
    cycles: Vec<Vec<u64>>,
}

impl LatencyTable {
    /// A table from its rows (one per layer, one entry per grid keep).
    pub fn from_rows(cycles: Vec<Vec<u64>>) -> LatencyTable {
        LatencyTable { cycles }
    }

    pub fn layers(&self) -> usize {
        self.cycles.len()
    }

    /// How many grid keeps `layer` is priced at.
    pub fn priced_keeps(&self, layer: usize) -> usize {
        self.cycles[layer].len()
    }

    pub fn cycles(&self, layer: usize, keep: usize) -> u64 {
        self.cycles[layer][keep]
    }

    /// The predicted latency of a choice (a grid index per layer): the layers' sum.
    pub fn total(&self, choice: &[usize]) -> u64 {
        choice.iter().enumerate().fold(0u64, |sum, (layer, &k)| {
            sum.saturating_add(self.cycles(layer, k))
        })
    }
}

/// The accuracy of a choice of keeps (one per attention layer), measured by the caller.
pub trait Accuracy {
    /// The worst cosine similarity to the dense outputs with `keeps[i]` at layer `i`.
    fn measure(&mut self, keeps: &[f64]) -> Result<f64, CalibrateError>;

    /// The search moved to `keeps`: the next measurements change layers of it one at a time,
    /// so work shared with it is worth keeping (and anything else may be dropped).
    fn settle(&mut self, _keeps: &[f64]) {}
}

/// Compile `imported` (an ONNX import with static shapes) once per grid keep, uniformly, and
/// price every attention layer's recorded plan: the latency table of the search.
pub fn price_grid(
    imported: &Module,
    target: &Target,
    grid: &KeepGrid,
) -> Result<LatencyTable, CalibrateError> {
    let mut per_keep = Vec::with_capacity(grid.len());
    for &keep in grid.keeps() {
        let latencies = price_uniform(imported, target, keep)
            .map_err(|source| CalibrateError::Price { keep, source })?;
        if let Some(first) = per_keep.first().map(Vec::len) {
            if latencies.len() != first {
                return Err(CalibrateError::LayerCount {
                    keep,
                    got: latencies.len(),
                    want: first,
                });
            }
        }
        per_keep.push(latencies);
    }
    let layers = per_keep.first().map_or(0, Vec::len);
    if layers == 0 {
        return Err(CalibrateError::NoLayers);
    }
    let cycles = (0..layers)
        .map(|l| per_keep.iter().map(|row| row[l]).collect())
        .collect();
    Ok(LatencyTable { cycles })
}

/// Each attention layer's predicted latency with every layer at `keep`.
fn price_uniform(imported: &Module, target: &Target, keep: f64) -> Result<Vec<u64>, DriverError> {
    let uniform = Target {
        keep: Some(keep),
        layers: BTreeMap::new(),
        ..target.clone()
    };
    let mut module = imported.clone();
    model_pipeline(&uniform, &BTreeMap::new())?.run(&mut module, &mut NoInstrumentation)?;
    let priced = schedule_layers(&module, &uniform)?;
    Ok(priced.iter().map(|l| l.plan.cost.latency).collect())
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
/// layer with its keep (tiles and radius stay automatic). Checked to read back to the same
/// keeps.
pub fn layers_toml(
    header: &[String],
    grid: &KeepGrid,
    choice: &[usize],
) -> Result<String, CalibrateError> {
    let mut text = String::new();
    for line in header {
        let _ = writeln!(text, "# {line}");
    }
    for (index, &k) in choice.iter().enumerate() {
        let _ = write!(
            text,
            "\n[[layer]]\nindex = {index}\nkeep = {}\n",
            keep_text(grid.keep(k))
        );
    }
    let back = parse_layers(&text).map_err(CalibrateError::RoundTrip)?;
    let expected: BTreeMap<usize, LayerOverride> = choice
        .iter()
        .enumerate()
        .map(|(index, &k)| {
            let entry = LayerOverride {
                index,
                keep: Some(grid.keep(k)),
                tiles: None,
                radius: None,
            };
            (index, entry)
        })
        .collect();
    if back != expected {
        return Err(CalibrateError::RoundTrip(LayersError::Toml(
            "the keeps read back differ from those written".into(),
        )));
    }
    Ok(text)
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
        let grid = KeepGrid::default();
        let text = layers_toml(&["made by a test".into()], &grid, &[0, 3, 5]).unwrap();
        assert!(text.starts_with("# made by a test\n"), "{text}");
        assert!(text.contains("index = 0\nkeep = 1.0\n"), "{text}");
        let back = parse_layers(&text).unwrap();
        let keeps: Vec<_> = back.values().map(|o| o.keep.unwrap()).collect();
        assert_eq!(keeps, [1.0, 0.375, 0.125]);
        assert_eq!(keep_text(0.5), "0.5");
    }

    #[test]
    fn a_choice_costs_the_sum_of_its_layers() {
        let t = LatencyTable::from_rows(vec![vec![10, 8, 7], vec![20, 15, 16]]);
        assert_eq!(t.total(&[0, 0]), 30);
        assert_eq!(t.total(&[2, 1]), 22);
    }
}
