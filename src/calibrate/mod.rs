//! `sofa calibrate`'s work, apart from its flags and files: price every attention layer at
//! every grid keep with the compiler's cost model (`sofa_compiler::calibrate::price_grid`),
//! measure choices of keeps on the calibration inputs with the reference interpreter
//! ([`accuracy`]), search (`sofa_compiler::calibrate::search`), measure the uniform and the
//! per-layer result on the held-out inputs, and render the report ([`report`]) and the
//! per-layer TOML.

pub mod accuracy;
pub mod report;

use std::collections::BTreeMap;

use crate::progress::Progress;
use sofa_compiler::calibrate::{
    layers_toml, price_grid, search, Accuracy, CalibrateError, Goal, Grid, LatencyTable, Outcome,
    Setting,
};
use sofa_compiler::driver::Target;
use sofa_compiler::onnx::{import_model, ImportOptions, LoadedModel, OnnxError};

pub use accuracy::{AccuracyError, Case, InterpAccuracy, Reuse};

/// Why calibration failed.
#[derive(Debug, thiserror::Error)]
pub enum CalibrationError {
    #[error(transparent)]
    Accuracy(#[from] AccuracyError),
    #[error(transparent)]
    Calibrate(#[from] CalibrateError),
    #[error("import at the priced shapes: {0}")]
    Import(#[from] OnnxError),
    #[error(
        "the cost model sees {priced} attention layer(s) at the priced shapes, the interpreter \
         {measured} at the calibration inputs' shapes"
    )]
    LayerCount { priced: usize, measured: usize },
}

/// What to calibrate, and how.
pub struct Request<'a> {
    pub model: &'a LoadedModel,
    pub calibration: Vec<Case>,
    /// Inputs measured after the search only (may be empty).
    pub holdout: Vec<Case>,
    /// The dims the latency is priced at (static).
    pub priced_at: BTreeMap<String, u64>,
    pub target: &'a Target,
    pub grid: Grid,
    pub goal: Goal,
    /// Show the search's progress on a terminal ([`crate::progress`]).
    pub progress: bool,
}

/// The held-out inputs' accuracy of the best uniform and of the per-layer choice.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Holdout {
    pub uniform: f64,
    pub per_layer: f64,
}

/// Everything the report and the TOML are made of.
#[derive(Clone, Debug)]
pub struct Calibration {
    pub grid: Grid,
    pub goal: Goal,
    pub table: LatencyTable,
    pub outcome: Outcome,
    pub calibration: Vec<String>,
    pub holdout_names: Vec<String>,
    /// `None` without held-out inputs.
    pub holdout: Option<Holdout>,
    /// Checkpoint reuse on the calibration inputs (the search).
    pub reuse: Reuse,
}

/// Price, search, and measure the held-out inputs.
pub fn calibrate(req: Request<'_>) -> Result<Calibration, CalibrationError> {
    let opts = ImportOptions {
        shape_bindings: req.priced_at.clone(),
    };
    let priced = import_model(req.model, &opts)?.module;
    let table = price_grid(&priced, req.target, &req.grid)?;
    let mut calibration = InterpAccuracy::new(req.model, req.calibration, req.target)?;
    if calibration.layers() != table.layers() {
        return Err(CalibrationError::LayerCount {
            priced: table.layers(),
            measured: calibration.layers(),
        });
    }
    let outcome = {
        let mut ticking = Ticking {
            inner: &mut calibration,
            progress: Progress::new(None, "sofa calibrate: choices measured", !req.progress),
        };
        search(&table, &req.grid, req.goal, &mut ticking)?
    };
    let calibration_names = calibration.names().iter().map(|n| n.to_string()).collect();
    let reuse = calibration.reuse();
    let holdout_names: Vec<String> = req.holdout.iter().map(|c| c.name.clone()).collect();
    let holdout = match req.holdout.is_empty() {
        true => None,
        false => Some(measure_holdout(
            (req.model, req.target),
            req.holdout,
            &req.grid,
            &outcome,
        )?),
    };
    Ok(Calibration {
        grid: req.grid,
        goal: req.goal,
        table,
        outcome,
        calibration: calibration_names,
        holdout_names,
        holdout,
        reuse,
    })
}

/// An [`Accuracy`] that counts its measurements on a progress line.
struct Ticking<'a, A: Accuracy> {
    inner: &'a mut A,
    progress: Progress,
}

impl<A: Accuracy> Accuracy for Ticking<'_, A> {
    fn measure(&mut self, settings: &[Setting]) -> Result<f64, CalibrateError> {
        let cosine = self.inner.measure(settings);
        self.progress.inc();
        cosine
    }

    fn settle(&mut self, settings: &[Setting]) {
        self.inner.settle(settings);
    }
}

/// The best uniform and the per-layer choice on inputs the search never saw.
fn measure_holdout(
    (model, target): (&LoadedModel, &Target),
    cases: Vec<Case>,
    grid: &Grid,
    outcome: &Outcome,
) -> Result<Holdout, AccuracyError> {
    let mut held = InterpAccuracy::new(model, cases, target)?;
    let uniform = grid.settings(&vec![
        grid.automatic(outcome.uniform_best);
        outcome.choice.len()
    ]);
    let per_layer = grid.settings(&outcome.choice);
    Ok(Holdout {
        uniform: held.worst_cosine(&uniform)?,
        per_layer: held.worst_cosine(&per_layer)?,
    })
}

impl Calibration {
    /// The per-layer TOML (`sparsify{layers=FILE}`, `--layers FILE`), with a comment header
    /// saying where it comes from.
    pub fn toml(&self, model: &str) -> Result<String, CalibrateError> {
        let out = &self.outcome;
        let uniform = &out.uniform[out.uniform_best];
        let header = [
            format!("Per-layer keep ratios for {model}, written by `sofa calibrate`."),
            format!(
                "Target cosine >= {} on {}; held out: {}.",
                self.goal.min_cosine,
                self.calibration.join(", "),
                report::list_or_none(&self.holdout_names)
            ),
            format!(
                "Predicted attention cycles: {} per-layer, {} at the best uniform keep {}, {} dense.",
                self.table.total(&out.choice),
                uniform.cycles,
                self.grid.keeps().keep(uniform.keep),
                out.uniform[0].cycles
            ),
            "Use: sofa compile|run MODEL --layers FILE, or sparsify{layers=FILE}.".to_string(),
        ];
        layers_toml(&header, &self.grid, &out.choice)
    }
}
