//! The compile pipelines, in one place: what `sofa compile`, `sofa run`, `sofa inspect`, the
//! benches and `sofa bench paper` run for each kind of input.
//!
//! | input | passes (each verified after it runs) | then |
//! |---|---|---|
//! | ONNX model ([`model_pipeline`]) | `shape-infer`, `canonicalize`, `fuse-attention` ([`FRONT`]) on the graph's named dims, then (with `--shape` bindings) `shape-infer{bind}`, `canonicalize`, `fuse-attention` again, `sparsify{keep, layers}`, `cct-tile{schedule, ablate}`, `lower-to-sofa{kv}` | [`lower_model`]: the whole model as one program |
//! | workload spec ([`workload_pipeline`]) | `sparsify{keep, layers}`, `cct-tile`, `lower-to-sofa` on the spec's attention-only IR | [`lower_workload`]: one segment per layer |
//!
//! A [`Target`] fixes the chip and the choices a user makes (keep ratio, schedule, ablations,
//! K/V source); the passes record the resulting plan on each attention op and the lowering
//! reads it from there (`sofa_ir::dialect::attn::plan`), so the program is the plan the IR
//! shows. [`schedule_layers`] prices the recorded plans for `schedule-json`. Callers that want
//! instrumentation (dumps, timing, statistics) run the returned [`PassManager`] themselves; the
//! `compile_*` helpers run it silently.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use sofa_ir::dialect::attn::{Ablation, KvSource, Schedule};
use sofa_ir::dialect::DialectRegistry;
use sofa_ir::hw::roofline::RooflineWork;
use sofa_ir::hw::HwConfig;
use sofa_ir::isa::Program;
use sofa_ir::pass::{NoInstrumentation, PassManager, PassManagerError, PipelineError};
use sofa_ir::Module;

use crate::lower::model::{
    lower_model_explained, lower_model_mapped as lower_model_ranges, InstrSink,
};
use crate::lower::{lower_attention, lower_attention_mapped, LowerDefaults, LowerError};
use crate::onnx::{import_file, ImportOptions, OnnxError};
use crate::passes::canonicalize::Canonicalize;
use crate::passes::cct_tile::CctTile;
use crate::passes::fuse_attention::{FuseAttention, Limits};
use crate::passes::lower_to_sofa::LowerToSofa;
use crate::passes::lowered_heads::LoweredHeads;
use crate::passes::registry;
use crate::passes::shape_infer::ShapeInfer;
use crate::passes::sparsify::{LayerOverride, Sparsify, SparsifyConfig};
use crate::roofline::{self, RooflineError};
pub use crate::schedule::egraph::extract::DEFAULT_LATENCY_SLACK_PCT;
use crate::schedule::price::{price_module, PricedLayer};
use crate::schedule::{Pin, PriceCache, Pricer, ScheduleError};
use crate::workload::{build_module, check_program_size, WorkloadError, WorkloadSpec};

/// The passes that recognise attention in an imported model.
pub const FRONT: &str = "shape-infer,canonicalize,fuse-attention";

/// The chip and the user's choices.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub hw: HwConfig,
    /// Fraction of each query's visible keys kept; `None`: the input's own (a workload spec's
    /// `keep_ratio`, 1 for ONNX models).
    pub keep: Option<f64>,
    /// Per-layer `sparsify` overrides by attention-layer index (a `--layers` file, the format
    /// of `sparsify{layers=FILE}`): they win over `keep` for the layers they name.
    pub layers: BTreeMap<usize, LayerOverride>,
    pub schedule: Schedule,
    pub ablate: Ablation,
    /// Key tiles `cct-tile` must plan every attention layer with (`sofa dse`'s `tiles` axis);
    /// `None`: the cost model chooses.
    pub tiles: Option<u64>,
    /// `cct-tile`'s objective: the fewest DRAM bytes among plans at most this many percent
    /// slower than the fastest ([`Pin::latency_slack_pct`]).
    pub latency_slack_pct: u64,
    /// Where model attention ops take K and V from; `None` = auto. Workload specs gather.
    pub kv: Option<KvSource>,
    /// Run ops without a chip lowering on the host (`HOST`) instead of failing; on by default,
    /// off with `--no-host-fallback`.
    pub host_fallback: bool,
    /// The program will be written (`sofa compile`): it references the model's external data
    /// (file, offset, checksum) instead of holding it. Off for in-process runs, which never
    /// read the weights to checksum them.
    pub weights_by_reference: bool,
    /// Plans priced so far on `hw`, shared by every compile made for this target.
    pub prices: PriceCache,
}

impl Default for Target {
    fn default() -> Target {
        Target {
            hw: HwConfig::default(),
            keep: None,
            layers: BTreeMap::new(),
            schedule: Schedule::Cct,
            ablate: Ablation::default(),
            tiles: None,
            latency_slack_pct: DEFAULT_LATENCY_SLACK_PCT,
            kv: None,
            host_fallback: true,
            weights_by_reference: false,
            prices: PriceCache::default(),
        }
    }
}

impl Target {
    /// Whether some attention layer keeps fewer than all of its keys (globally or by a
    /// per-layer override).
    pub fn is_sparse(&self) -> bool {
        let sparse = |k: f64| k < 1.0;
        self.keep.is_some_and(sparse) || self.layers.values().any(|o| o.keep.is_some_and(sparse))
    }
}

/// Why a pipeline could not be built or run.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("pipeline '{pipeline}': {source}")]
    Pipeline {
        pipeline: &'static str,
        source: PipelineError,
    },
    #[error(transparent)]
    Pass(#[from] PassManagerError),
    #[error(transparent)]
    Import(#[from] OnnxError),
    #[error(transparent)]
    Workload(#[from] WorkloadError),
    #[error(transparent)]
    Lower(#[from] LowerError),
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    #[error(transparent)]
    Roofline(#[from] RooflineError),
}

/// The lowering's defaults for ops the passes left without a plan (none in these pipelines).
fn defaults(target: &Target) -> LowerDefaults {
    LowerDefaults {
        schedule: target.schedule,
        ablate: target.ablate,
        kv: target.kv,
        host_fallback: target.host_fallback,
        weights_by_reference: target.weights_by_reference,
    }
}

/// `sparsify{keep, layers}`, `cct-tile`, `lower-to-sofa` appended to `pm`.
fn add_planning(pm: &mut PassManager, target: &Target, keep: f64, kv: Option<KvSource>) {
    add_selection(pm, target, keep);
    let lower = LowerDefaults {
        kv,
        ..defaults(target)
    };
    pm.add(Box::new(LowerToSofa::new(target.hw.clone(), lower)));
}

/// `sparsify{keep, layers}` and `cct-tile` appended to `pm`: what fixes each attention op's
/// semantics (its keep, and the key tiles it selects over, which `cct-tile` sets to the plan's
/// `Tc`).
fn add_selection(pm: &mut PassManager, target: &Target, keep: f64) {
    let mut sparsify = SparsifyConfig::default();
    sparsify.global.keep = keep;
    sparsify.layers = target.layers.clone();
    pm.add(Box::new(Sparsify::new(sparsify)));
    let mut cct_tile =
        CctTile::pinned(target.hw.clone(), pin(target)).with_layer_tiles(&target.layers);
    cct_tile.prices = target.prices.clone();
    pm.add(Box::new(cct_tile));
}

/// The middle of [`model_pipeline`], for a module the front passes have run on:
/// `sparsify{keep, layers}` and `cct-tile`. Its result is still graph-level IR
/// (`attn.sparse_mha` with the plan's attributes), so the host interpreter runs exactly the
/// selection the compiled program makes; `sofa calibrate` measures accuracy on it.
pub fn selection_pipeline(target: &Target) -> PassManager {
    let mut pm = PassManager::new(dialects());
    add_selection(&mut pm, target, target.keep.unwrap_or(1.0));
    pm
}

fn dialects() -> DialectRegistry {
    DialectRegistry::with_core_dialects()
}

/// The passes that recognise attention, alone (`sofa inspect`).
pub fn front_pipeline() -> Result<PassManager, DriverError> {
    PassManager::from_pipeline(dialects(), &registry(), FRONT).map_err(|source| {
        DriverError::Pipeline {
            pipeline: FRONT,
            source,
        }
    })
}

/// The compile pipeline of an ONNX model imported with its named dims (see the module doc).
/// Attention is recognised on the graph as exported, where a mask built from the sequence
/// length is still a function of positions that `fuse-attention` evaluates at small probe
/// sizes (so a causal mask is recognised at any length, not only while it folds); then
/// `shape-infer` binds `bindings`, and `canonicalize` and `fuse-attention` run again over the
/// static graph (for what only folds at the bound sizes).
pub fn model_pipeline(
    target: &Target,
    bindings: &BTreeMap<String, u64>,
) -> Result<PassManager, DriverError> {
    let mut pm = front_pipeline()?;
    if !bindings.is_empty() {
        pm.add(Box::new(ShapeInfer {
            bindings: bindings.clone(),
        }));
        pm.add(Box::new(Canonicalize::default()));
        pm.add(Box::new(FuseAttention::new(Limits::default())));
    }
    add_planning(&mut pm, target, target.keep.unwrap_or(1.0), target.kv);
    Ok(pm)
}

/// The compile pipeline of a workload spec's attention IR (see the module doc); K and V are
/// always gathered (the IR carries them, not the layer input they are projected from).
pub fn workload_pipeline(target: &Target, spec: &WorkloadSpec) -> PassManager {
    let mut pm = PassManager::new(dialects());
    let keep = target.keep.unwrap_or(spec.keep_ratio);
    add_planning(&mut pm, target, keep, Some(KvSource::Gathered));
    pm
}

/// Import `path` (named dims kept) and run [`model_pipeline`] with `bindings` silently.
pub fn compile_onnx(
    path: &Path,
    bindings: &BTreeMap<String, u64>,
    target: &Target,
) -> Result<Module, DriverError> {
    let mut module = import_file(path, &ImportOptions::default())?;
    model_pipeline(target, bindings)?.run(&mut module, &mut NoInstrumentation)?;
    Ok(module)
}

/// A workload spec's attention IR, refused when its layers' tensors do not fit the DRAM
/// ([`WorkloadSpec::check_dram`], whatever the command), before the passes run.
pub fn workload_module(spec: &WorkloadSpec, target: &Target) -> Result<Module, DriverError> {
    spec.check_dram(&target.hw)?;
    Ok(build_module(spec)?)
}

/// A workload spec's attention IR ([`workload_module`]) through [`workload_pipeline`],
/// silently.
pub fn compile_workload(spec: &WorkloadSpec, target: &Target) -> Result<Module, DriverError> {
    let mut module = workload_module(spec, target)?;
    workload_pipeline(target, spec).run(&mut module, &mut NoInstrumentation)?;
    Ok(module)
}

/// A compiled model as one SOFA-ISA program, with a note per attention op on where it takes K
/// and V from.
pub fn lower_model(
    module: &Module,
    target: &Target,
) -> Result<(Program, Vec<String>), DriverError> {
    Ok(lower_model_explained(
        module,
        &target.hw,
        &defaults(target),
    )?)
}

/// A model lowered into an [`InstrSink`] ([`lower_model_streamed`]): [`Lowered`] without
/// the instructions (and without the roofline work, [`model_roofline`], which only a run
/// reports).
#[derive(Clone, Debug, PartialEq)]
pub struct StreamedLowered {
    /// The program's tensor and host-op tables; no instructions.
    pub head: Program,
    /// How many instructions the sink took.
    pub count: usize,
    pub notes: Vec<String>,
    /// Each attention layer's instruction range (aligned with [`model_roofline`]'s layers).
    pub layer_instrs: Vec<Range<usize>>,
}

/// [`lower_model_mapped`] handing the instructions to `sink` as they are lowered, at op
/// boundaries, so that they are never all in memory.
pub fn lower_model_streamed(
    module: &Module,
    target: &Target,
    sink: &mut dyn InstrSink,
) -> Result<StreamedLowered, DriverError> {
    let (head, count, notes, ranges) =
        crate::lower::model::lower_model_streamed(module, &target.hw, &defaults(target), sink)?;
    Ok(StreamedLowered {
        layer_instrs: roofline::layer_ranges(module, &ranges),
        head,
        count,
        notes,
    })
}

/// The roofline work of a compiled model whose program (its tables: the host ops are not the
/// chip's work) is `head`.
pub fn model_roofline(
    module: &Module,
    head: &Program,
    target: &Target,
) -> Result<RooflineWork, DriverError> {
    Ok(roofline::model_work(module, head, &target.hw)?)
}

/// A compiled workload as one SOFA-ISA program, unless its plan shows the program would be
/// too large to hold ([`check_program_size`]).
pub fn lower_workload(module: &Module, target: &Target) -> Result<Program, DriverError> {
    check_workload_size(module, target)?;
    Ok(lower_attention(module, &target.hw, &defaults(target))?)
}

/// Refuse a workload whose planned program would be too large to hold.
fn check_workload_size(module: &Module, target: &Target) -> Result<(), DriverError> {
    let layers = schedule_layers(module, target)?;
    let instrs = layers
        .iter()
        .flat_map(|l| l.plan.cost.instrs.values())
        .fold(1u64, |sum, &n| sum.saturating_add(n)); // + the final HALT
    Ok(check_program_size(layers.len() as u64, instrs)?)
}

/// A lowered program with its roofline inputs: the work of each attention layer and of the
/// whole program (`sofa_ir::hw::roofline`), and each layer's instruction range (aligned with
/// `roofline.layers`; the simulator reports each layer's achieved cycles over it).
#[derive(Clone, Debug, PartialEq)]
pub struct Lowered {
    pub program: Program,
    /// Where each attention op takes K and V from, host ops (models only).
    pub notes: Vec<String>,
    pub roofline: RooflineWork,
    pub layer_instrs: Vec<Range<usize>>,
}

/// [`lower_workload`] with its roofline inputs.
pub fn lower_workload_mapped(module: &Module, target: &Target) -> Result<Lowered, DriverError> {
    check_workload_size(module, target)?;
    let (program, ranges) = lower_attention_mapped(module, &target.hw, &defaults(target))?;
    Ok(Lowered {
        program,
        notes: Vec::new(),
        roofline: workload_roofline(module, target)?,
        layer_instrs: roofline::layer_ranges(module, &ranges),
    })
}

/// [`lower_model`] with its roofline inputs.
pub fn lower_model_mapped(module: &Module, target: &Target) -> Result<Lowered, DriverError> {
    let (program, notes, ranges) = lower_model_ranges(module, &target.hw, &defaults(target))?;
    let roofline = roofline::model_work(module, &program, &target.hw)?;
    Ok(Lowered {
        layer_instrs: roofline::layer_ranges(module, &ranges),
        program,
        notes,
        roofline,
    })
}

/// The roofline work of a compiled workload (its attention layers), without lowering it.
pub fn workload_roofline(module: &Module, target: &Target) -> Result<RooflineWork, DriverError> {
    Ok(roofline::workload_work(module, &target.hw)?)
}

/// The plan every attention op of a compiled module records, priced (what `schedule-json`
/// reports).
pub fn schedule_layers(module: &Module, target: &Target) -> Result<Vec<PricedLayer>, DriverError> {
    let pricer = Pricer::with_cache(&target.hw, &LoweredHeads, target.prices.clone());
    Ok(price_module(module, &pricer)?)
}

/// The `schedule-json` text of a compiled module.
pub fn schedule_json(module: &Module, target: &Target, name: &str) -> Result<String, DriverError> {
    let layers = schedule_layers(module, target)?;
    let work = layers
        .iter()
        .map(|l| Ok(roofline::attention_work(module, l.op)?.work(&target.hw)?))
        .collect::<Result<Vec<_>, RooflineError>>()?;
    let text = crate::schedule::json::render(
        &target.hw,
        name,
        target.schedule,
        target.ablate,
        &layers,
        &work,
    )
    .map_err(RooflineError::from)?;
    Ok(text)
}

/// The extraction pin `cct-tile` plans under for `target`.
pub fn pin(target: &Target) -> Pin {
    Pin {
        tc: target.tiles,
        latency_slack_pct: target.latency_slack_pct,
        ..Pin::new(target.schedule, target.ablate)
    }
}
