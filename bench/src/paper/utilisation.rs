//! Average PE utilisation (paper §VI: 85.2%) from a timing-only simulator run.
//!
//! The workload's attention IR goes through the driver's workload pipeline (sparsify at the
//! keep ratio, `cct-tile`, `lower-to-sofa`) and lowering with the `cct` schedule, exactly as
//! `sofa run --workload` does; the simulator's report gives each engine's busy cycles over the
//! run's total. Busy is not useful: a `SUFA.T` also fills its pipeline and folds the running
//! partial, so the figure compared with the paper's is the SU-FA array's useful utilisation,
//! the layer's SU-FA roofline bound (the selected pairs' MACs and the divides at the array's
//! peak rate, docs/roofline.md) over the cycles achieved. Layers of a spec are identical, so
//! one layer is simulated (the report is per layer).

use std::collections::BTreeMap;

use sofa_compiler::driver::{self, Target};
use sofa_ir::hw::roofline::efficiency;
use sofa_ir::hw::HwConfig;
use sofa_ir::isa::Engine;
use sofa_runtime::sim::{simulate, Mode, Report, SimOptions};

use super::workload::Workload;
use super::PaperError;

/// Engine utilisations of one timing-only run.
#[derive(Clone, Debug, PartialEq)]
pub struct Utilisation {
    pub workload: String,
    pub instructions: u64,
    pub total_cycles: u64,
    /// (engine name, busy / total), every engine in code order.
    pub engines: Vec<(String, f64)>,
    /// The layer's SU-FA roofline bound in cycles.
    pub sufa_bound: u64,
}

impl Utilisation {
    pub fn of(&self, engine: Engine) -> f64 {
        self.engines
            .iter()
            .find(|(n, _)| n == engine.name())
            .map_or(0.0, |(_, u)| *u)
    }

    /// The SU-FA array's useful utilisation: its roofline bound over the cycles achieved.
    pub fn sufa_useful(&self) -> f64 {
        efficiency(self.sufa_bound, self.total_cycles)
    }
}

/// Lower one layer of `w` (`cct`, its keep ratio) and simulate it timing-only; with the
/// layer's SU-FA roofline bound.
pub fn simulate_layer(hw: &HwConfig, w: &Workload) -> Result<(Report, u64), PaperError> {
    let mut spec = w.spec.clone();
    spec.layers = 1;
    let target = Target {
        hw: hw.clone(),
        ..Target::default()
    };
    let model = |e: driver::DriverError| PaperError::Model(e.to_string());
    let module = driver::compile_workload(&spec, &target).map_err(model)?;
    let work = driver::workload_roofline(&module, &target).map_err(model)?;
    let sufa_bound = work
        .program
        .bounds(hw)
        .map_err(|e| PaperError::Model(e.to_string()))?
        .sufa;
    let program = driver::lower_workload(&module, &target).map_err(model)?;
    program.check(hw).map_err(|e| {
        PaperError::Model(format!(
            "lowered program does not check: {}",
            e.first().map(|x| x.to_string()).unwrap_or_default()
        ))
    })?;
    let opts = SimOptions {
        mode: Mode::TimingOnly,
        ..SimOptions::default()
    };
    simulate(&program, hw, &BTreeMap::new(), &opts)
        .map(|o| (o.report, sufa_bound))
        .map_err(|e| PaperError::Sim(e.to_string()))
}

/// Engine utilisations of one simulated layer of `w`.
pub fn measure(hw: &HwConfig, w: &Workload) -> Result<Utilisation, PaperError> {
    let (r, sufa_bound) = simulate_layer(hw, w)?;
    Ok(Utilisation {
        workload: w.spec.name.clone(),
        instructions: r.instructions,
        total_cycles: r.total_cycles,
        engines: r
            .engines
            .iter()
            .map(|e| (e.engine.clone(), e.utilisation))
            .collect(),
        sufa_bound,
    })
}
