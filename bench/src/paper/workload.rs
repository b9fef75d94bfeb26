//! The paper's workloads as the cost model sees them: `workloads/*.toml` → one [`LayerShape`]
//! per spec (every layer of a spec has the same shape) at the benchmark's keep ratio.

use std::path::{Path, PathBuf};

use sofa_compiler::passes::lowered_heads::LoweredHeads;
use sofa_compiler::schedule::choose::plan_of;
use sofa_compiler::schedule::{
    egraph, Ablation, KvSource, LayerPlan, LayerShape, Pin, Pricer, Schedule,
};
use sofa_compiler::workload::{load_spec, WorkloadSpec};
use sofa_ir::hw::HwConfig;

use super::PaperError;

/// A loaded spec with its layer shape at the benchmark's keep ratio.
#[derive(Clone, Debug)]
pub struct Workload {
    pub spec: WorkloadSpec,
    pub shape: LayerShape,
}

impl Workload {
    /// Read `<dir>/<name>.toml` and set its keep ratio to `keep`.
    pub fn load(dir: &Path, name: &str, keep: f64) -> Result<Workload, PaperError> {
        let path: PathBuf = dir.join(format!("{name}.toml"));
        let mut spec = load_spec(&path).map_err(|e| PaperError::Workload(e.to_string()))?;
        spec.keep_ratio = keep;
        let shape = layer_shape(&spec);
        Ok(Workload { spec, shape })
    }

    /// The cost model's plan of one layer under `sched` with `abl` (K/V on demand).
    pub fn plan(
        &self,
        hw: &HwConfig,
        sched: Schedule,
        abl: Ablation,
    ) -> Result<LayerPlan, PaperError> {
        // The paper's figures describe its own dataflow: K/V generated on demand from X.
        let pin = Pin {
            kv: Some(KvSource::OnDemand),
            ..Pin::new(sched, abl)
        };
        let pricer = Pricer::new(hw, &LoweredHeads);
        let g = egraph::build(&pricer, &self.shape);
        let x = g
            .extract(&pin, 0)
            .map_err(|e| PaperError::Model(e.to_string()))?;
        Ok(plan_of(&self.shape, &x))
    }
}

/// The shape `LayerShape::of` derives from a spec's IR: X rows
/// are `heads · head_dim` wide, queries and keys both `seq` long.
pub fn layer_shape(spec: &WorkloadSpec) -> LayerShape {
    let head_dim = spec.head_dim();
    LayerShape {
        batch: spec.batch,
        heads: spec.heads,
        kv_heads: spec.kv_heads(),
        seq_q: spec.seq,
        seq_k: spec.seq,
        head_dim,
        hidden: spec.heads.saturating_mul(head_dim),
        causal: spec.causal,
        window: spec.window,
        keep: spec.keep_ratio,
        bias: false,
    }
}
