//! The accuracy side of `sofa calibrate`: the host reference interpreter runs the model with
//! a choice of settings (keep and key tiles per layer) on each input, and every float output
//! is compared with the dense one. The model is the one `sofa compile|run --layers` would
//! build up to its lowering (the front passes, `sparsify` with the choice as per-layer
//! overrides, `cct-tile`, which sets each layer's key tiles to its plan's `Tc`, pinned where
//! the choice pins them), still graph-level IR, so the selection measured is the one the
//! program makes at that input's shapes.
//!
//! Reuse: a choice's activations before attention layer `i` depend only on the settings of
//! layers `0..i`. Each run stops before every attention layer and keeps a checkpoint (the live
//! values there, `sofa_runtime::interp::Checkpoint`) under the settings of the layers before it; a later
//! choice resumes from the checkpoint of its longest cached prefix, so a step that lowers
//! layer `i` recomputes layers `i..` only, and the ops before the first attention layer
//! (embeddings, masks) run once per input. Checkpoints that are not a prefix of the search's
//! current choice are dropped when it moves ([`Accuracy::settle`]), which bounds the memory to
//! one checkpoint per layer for the current choice plus those of the candidates since.

use std::collections::BTreeMap;

use sofa_compiler::calibrate::{layer_override, Accuracy, CalibrateError, Setting};
use sofa_compiler::driver::{front_pipeline, selection_pipeline, DriverError, Target};
use sofa_compiler::dse::PlanAccuracy;
use sofa_compiler::onnx::{import_model, ImportOptions, LoadedModel, OnnxError};
use sofa_compiler::passes::sparsify::attention_layers;
use sofa_ir::dialect::attn::SparseMhaAttrs;
use sofa_ir::eval::Tensor;
use sofa_ir::pass::{NoInstrumentation, PassManagerError};
use sofa_ir::{Module, Op};
use sofa_runtime::interp::{resume, run_capturing, Checkpoint, InterpError};

/// Named arrays (an `.npz`'s contents).
pub type Arrays = BTreeMap<String, Tensor>;

/// One input file: its name (for messages and the report), arrays and dim bindings.
#[derive(Clone, Debug)]
pub struct Case {
    pub name: String,
    pub inputs: Arrays,
    pub bindings: BTreeMap<String, u64>,
}

/// Why the accuracy of a choice could not be measured; names the input.
#[derive(Debug, thiserror::Error)]
pub enum AccuracyError {
    #[error("{case}: import: {source}")]
    Import { case: String, source: OnnxError },
    #[error("{case}: {source}")]
    Front { case: String, source: DriverError },
    #[error("{case}: sparsify, cct-tile: {source}")]
    Selection {
        case: String,
        source: PassManagerError,
    },
    #[error("{case}: reference interpreter: {source}")]
    Interp { case: String, source: InterpError },
    #[error("{case}: the model has {got} attention layer(s) at this input's shapes, {want} at {first}'s")]
    LayerCount {
        case: String,
        got: usize,
        want: usize,
        first: String,
    },
    #[error("{case}: output '{name}' has {got} elements with these settings, {want} dense")]
    OutputSize {
        case: String,
        name: String,
        got: usize,
        want: usize,
    },
    #[error("{case}: the model has no float output to compare with the dense one")]
    NoFloatOutput { case: String },
}

/// How much of the interpretation checkpoints saved.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Reuse {
    /// Runs of one input with one choice of settings (the dense runs included).
    pub runs: u64,
    /// Of those, runs resumed past the first attention layer.
    pub resumed_past_first_layer: u64,
    /// Attention layers not recomputed thanks to a checkpoint, over all runs.
    pub layers_skipped: u64,
    /// Attention layers run, over all runs.
    pub layers_run: u64,
}

/// One input's model, dense outputs and checkpoints.
struct CaseState {
    name: String,
    /// The model after the front passes (`attn.mha` recognised), dims bound to this input.
    front: Module,
    /// Its attention ops, in `sparsify`'s layer order.
    layers: Vec<Op>,
    inputs: Arrays,
    dense: Arrays,
    /// Checkpoint before layer `i`, keyed by the settings of layers `0..i` ([`key`]).
    checkpoints: BTreeMap<Vec<SettingKey>, Checkpoint>,
}

/// The worst cosine to dense over the float outputs of every input, with checkpoint reuse.
pub struct InterpAccuracy {
    cases: Vec<CaseState>,
    /// [`Self::worst_cosine_of_plan`]'s results, by every input's selection.
    by_selection: BTreeMap<Vec<Vec<Option<String>>>, f64>,
    /// The chip and schedule `cct-tile` plans for (its keep and layers are the choice's).
    target: Target,
    layers: usize,
    reuse: Reuse,
}

impl InterpAccuracy {
    /// Import `model` at each case's shapes, run the front passes and the dense model once
    /// (its outputs are the reference, its checkpoints the first ones reused); choices are
    /// planned for `target`'s chip and schedule.
    pub fn new(
        model: &LoadedModel,
        cases: Vec<Case>,
        target: &Target,
    ) -> Result<InterpAccuracy, AccuracyError> {
        let mut states: Vec<CaseState> = Vec::with_capacity(cases.len());
        let mut reuse = Reuse::default();
        for case in cases {
            let state = dense_state(model, case, &mut reuse)?;
            if let Some(first) = states.first() {
                if state.layers.len() != first.layers.len() {
                    return Err(AccuracyError::LayerCount {
                        case: state.name,
                        got: state.layers.len(),
                        want: first.layers.len(),
                        first: first.name.clone(),
                    });
                }
            }
            states.push(state);
        }
        let layers = states.first().map_or(0, |s| s.layers.len());
        Ok(InterpAccuracy {
            cases: states,
            by_selection: BTreeMap::new(),
            target: target.clone(),
            layers,
            reuse,
        })
    }

    /// Attention layers of the model.
    pub fn layers(&self) -> usize {
        self.layers
    }

    /// The inputs' names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.cases.iter().map(|c| c.name.as_str()).collect()
    }

    pub fn reuse(&self) -> Reuse {
        self.reuse
    }

    /// The worst cosine over every input's float outputs with `settings[i]` at layer `i`.
    pub fn worst_cosine(&mut self, settings: &[Setting]) -> Result<f64, AccuracyError> {
        let mut worst = f64::INFINITY;
        for case in &mut self.cases {
            let outputs = run_choice(case, &self.target, settings, &mut self.reuse)?;
            worst = worse(worst, worst_output_cosine(case, &outputs)?);
        }
        Ok(worst)
    }
}

impl InterpAccuracy {
    /// The worst cosine over every input's float outputs with the selection `plan` makes (its
    /// keep or per-layer overrides, schedule and chip, through `sparsify` and `cct-tile`, as
    /// [`Self::worst_cosine`] measures a choice of settings). Plans that select alike — e.g.
    /// chips on which `cct-tile` picks the same tiles — are measured once; a run resumes from
    /// the dense checkpoint before its first sparse layer.
    pub fn worst_cosine_of_plan(&mut self, plan: &Target) -> Result<f64, AccuracyError> {
        let mut modules = Vec::with_capacity(self.cases.len());
        let mut key = Vec::with_capacity(self.cases.len());
        for case in &self.cases {
            let module = selected(case, plan)?;
            key.push(selection(case, &module));
            modules.push(module);
        }
        if let Some(&c) = self.by_selection.get(&key) {
            return Ok(c);
        }
        let mut worst = f64::INFINITY;
        for ((case, module), sel) in self.cases.iter().zip(&modules).zip(&key) {
            let outputs = run_from_dense_prefix(case, module, sel, &mut self.reuse)?;
            worst = worse(worst, worst_output_cosine(case, &outputs)?);
        }
        self.by_selection.insert(key, worst);
        Ok(worst)
    }

    /// How many distinct selections [`Self::worst_cosine_of_plan`] has measured.
    pub fn selections_measured(&self) -> usize {
        self.by_selection.len()
    }
}

/// The outputs of `module` (the case's front module after a selection), resumed from the dense
/// run's checkpoint before the first layer `sel` makes sparse; no checkpoint is kept.
fn run_from_dense_prefix(
    case: &CaseState,
    module: &Module,
    sel: &[Option<String>],
    reuse: &mut Reuse,
) -> Result<Arrays, AccuracyError> {
    let dense_prefix = sel.iter().take_while(|s| s.is_none()).count();
    let start = (0..=dense_prefix)
        .rev()
        .find(|&i| case.checkpoints.contains_key(&dense_key(i)));
    let interp_error = |source| AccuracyError::Interp {
        case: case.name.clone(),
        source,
    };
    let (outputs, _) = match start {
        Some(i) => resume(module, &case.checkpoints[&dense_key(i)], &[]),
        None => run_capturing(module, &case.inputs, &[]),
    }
    .map_err(interp_error)?;
    let first_run = start.unwrap_or(0);
    reuse.runs += 1;
    reuse.resumed_past_first_layer += u64::from(first_run > 0);
    reuse.layers_skipped += first_run as u64;
    reuse.layers_run += (case.layers.len() - first_run) as u64;
    Ok(outputs)
}

impl PlanAccuracy for InterpAccuracy {
    fn loss(&mut self, plan: &Target) -> Result<f64, String> {
        let c = self.worst_cosine_of_plan(plan).map_err(|e| e.to_string())?;
        if c.is_nan() {
            return Err("an output is NaN with this plan".into());
        }
        // A cosine rounded above 1 is no loss.
        Ok((1.0 - c).max(0.0))
    }
}

impl Accuracy for InterpAccuracy {
    fn measure(&mut self, settings: &[Setting]) -> Result<f64, CalibrateError> {
        self.worst_cosine(settings)
            .map_err(|e| CalibrateError::Accuracy(Box::new(e)))
    }

    fn settle(&mut self, settings: &[Setting]) {
        let settled = key(settings);
        for case in &mut self.cases {
            case.checkpoints
                .retain(|prefix, _| settled.starts_with(prefix));
        }
    }
}

/// A setting as a map key: the keep's bits and the pinned tiles (0: the cost model's).
type SettingKey = (u64, u64);

fn key(settings: &[Setting]) -> Vec<SettingKey> {
    settings
        .iter()
        .map(|s| (s.keep.to_bits(), s.tiles.unwrap_or(0)))
        .collect()
}

/// The key of `layers` dense layers.
fn dense_key(layers: usize) -> Vec<SettingKey> {
    let dense = Setting {
        keep: 1.0,
        tiles: None,
    };
    key(&vec![dense; layers])
}

/// Import and front passes at the case's shapes, then the dense run, stopping before every
/// attention layer.
fn dense_state(
    model: &LoadedModel,
    case: Case,
    reuse: &mut Reuse,
) -> Result<CaseState, AccuracyError> {
    let name = case.name;
    let opts = ImportOptions {
        shape_bindings: case.bindings,
    };
    let mut front = import_model(model, &opts)
        .map_err(|source| AccuracyError::Import {
            case: name.clone(),
            source,
        })?
        .module;
    front_pipeline()
        .and_then(|mut pm| Ok(pm.run(&mut front, &mut NoInstrumentation)?))
        .map_err(|source| AccuracyError::Front {
            case: name.clone(),
            source,
        })?;
    let layers = attention_layers(&front);
    let (dense, stops) =
        run_capturing(&front, &case.inputs, &layers).map_err(|source| AccuracyError::Interp {
            case: name.clone(),
            source,
        })?;
    reuse.runs += 1;
    reuse.layers_run += layers.len() as u64;
    // The dense prefix of layer i: i dense settings.
    let checkpoints = stops
        .into_iter()
        .filter_map(|c| {
            let i = layers.iter().position(|&l| l == c.at())?;
            Some((dense_key(i), c))
        })
        .collect();
    Ok(CaseState {
        name,
        front,
        layers,
        inputs: case.inputs,
        dense,
        checkpoints,
    })
}

/// The outputs of one input with `settings`, resumed from the longest cached prefix; the
/// checkpoints of the layers it runs are cached under their prefixes.
fn run_choice(
    case: &mut CaseState,
    target: &Target,
    settings: &[Setting],
    reuse: &mut Reuse,
) -> Result<Arrays, AccuracyError> {
    let key = key(settings);
    let start = (0..=case.layers.len().min(key.len()))
        .rev()
        .find(|&i| case.checkpoints.contains_key(&key[..i]));
    let module = sparsified(case, target, settings)?;
    let interp_error = |source| AccuracyError::Interp {
        case: case.name.clone(),
        source,
    };
    let (outputs, stops) = match start {
        Some(i) => {
            let later = &case.layers[i.saturating_add(1).min(case.layers.len())..];
            resume(&module, &case.checkpoints[&key[..i]], later).map_err(interp_error)?
        }
        None => run_capturing(&module, &case.inputs, &case.layers).map_err(interp_error)?,
    };
    let first_run = start.unwrap_or(0);
    reuse.runs += 1;
    reuse.resumed_past_first_layer += u64::from(first_run > 0);
    reuse.layers_skipped += first_run as u64;
    reuse.layers_run += (case.layers.len() - first_run) as u64;
    for checkpoint in stops {
        if let Some(i) = case.layers.iter().position(|&l| l == checkpoint.at()) {
            case.checkpoints.insert(key[..i].to_vec(), checkpoint);
        }
    }
    Ok(outputs)
}

/// `target` with `settings[i]` at layer `i` as per-layer overrides (what `--layers` feeds).
fn with_settings(target: &Target, settings: &[Setting]) -> Target {
    let layers = settings
        .iter()
        .enumerate()
        .map(|(index, &s)| (index, layer_override(index, s)))
        .collect();
    Target {
        keep: None,
        layers,
        ..target.clone()
    }
}

/// The case's front module through `sparsify` with `settings[i]` at layer `i` and `cct-tile`:
/// the selection the compiled program makes at this input's shapes.
fn sparsified(
    case: &CaseState,
    target: &Target,
    settings: &[Setting],
) -> Result<Module, AccuracyError> {
    selected(case, &with_settings(target, settings))
}

/// The case's front module through `sparsify` and `cct-tile` for `plan` (its keep or
/// per-layer overrides, its schedule and chip), which sets each layer's key tiles to the
/// plan's `Tc`.
fn selected(case: &CaseState, plan: &Target) -> Result<Module, AccuracyError> {
    let mut module = case.front.clone();
    selection_pipeline(plan)
        .run(&mut module, &mut NoInstrumentation)
        .map_err(|source| AccuracyError::Selection {
            case: case.name.clone(),
            source,
        })?;
    Ok(module)
}

/// What each attention layer of a selected module computes: `None` for a dense layer (an
/// `attn.mha`, or an `attn.sparse_mha` that keeps every key, which evaluates exactly as one),
/// else its semantic attributes. Equal selections give equal outputs.
fn selection(case: &CaseState, module: &Module) -> Vec<Option<String>> {
    case.layers
        .iter()
        .map(|&op| {
            let attrs = SparseMhaAttrs::of(module, op)?;
            (attrs.keep_ratio < 1.0).then(|| format!("{attrs:?}"))
        })
        .collect()
}

/// The least cosine similarity to dense over the case's float outputs.
fn worst_output_cosine(case: &CaseState, outputs: &Arrays) -> Result<f64, AccuracyError> {
    let mut worst: Option<f64> = None;
    for (name, want) in &case.dense {
        let (Some(want), Some(got)) = (want.as_f32(), outputs.get(name).and_then(Tensor::as_f32))
        else {
            continue;
        };
        if got.len() != want.len() {
            return Err(AccuracyError::OutputSize {
                case: case.name.clone(),
                name: name.clone(),
                got: got.len(),
                want: want.len(),
            });
        }
        let c = cosine(got, want);
        worst = Some(worst.map_or(c, |w| worse(w, c)));
    }
    worst.ok_or_else(|| AccuracyError::NoFloatOutput {
        case: case.name.clone(),
    })
}

/// The lower of two cosines; NaN (a NaN output) is the worst of all.
fn worse(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

/// Cosine similarity in f64; exactly 1 for equal outputs (dense against itself meets even
/// `cosine=1`, which rounding in the formula would miss), 0 when only one is all zeros, NaN
/// with a NaN.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    if a == b {
        return 1.0;
    }
    let (mut dot, mut na, mut nb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    match (na == 0.0, nb == 0.0) {
        (true, true) => 1.0,
        (true, false) | (false, true) => 0.0,
        _ => dot / (na.sqrt() * nb.sqrt()),
    }
}

#[cfg(test)]
mod tests {
    use super::cosine;

    #[test]
    fn cosine_of_parallel_orthogonal_and_zero_vectors() {
        assert!((cosine(&[1.0, 2.0], &[2.0, 4.0]) - 1.0).abs() < 1e-12);
        assert_eq!(cosine(&[1.0, 0.0], &[0.0, 3.0]), 0.0);
        assert_eq!(cosine(&[0.0; 3], &[0.0; 3]), 1.0);
        assert_eq!(cosine(&[0.0; 2], &[1.0, 1.0]), 0.0);
        assert!(cosine(&[f32::NAN], &[1.0]).is_nan());
        assert!(cosine(&[f32::NAN], &[f32::NAN]).is_nan());
        let v = [0.1f32, 0.7, -2.3, 1e-3];
        assert_eq!(cosine(&v, &v), 1.0);
    }
}
