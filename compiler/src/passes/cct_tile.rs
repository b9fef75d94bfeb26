//! `cct-tile`: choose each attention layer's schedule plan and record it on the op.
//!
//! For every `attn.mha` / `attn.sparse_mha` (layer index = order of appearance, as in
//! `sparsify`) the pass runs [`crate::schedule::plan_module`]'s search — key tiles `Tc`, query
//! block, K̂ placement, minimising the analytical cost under the SRAM capacities — and writes
//! `sofa.tc`, `sofa.bc`, `sofa.q_block` (i64), `sofa.khat` (`recompute`|`spill`|`none`) and
//! `sofa.schedule` (the schedule costed). Under `cct`, a sparse op's `tiles` is set to the
//! chosen `Tc` so the op's semantics (SADS per tile) match what the hardware will run.
//!
//! Options (pipeline form `cct-tile{schedule=cct ablate=sads,rass config=hw.toml}`):
//! - `schedule`: `dense`, `staged` or `cct` (default);
//! - `ablate`: comma list of `dlzs`, `sads`, `sufa`, `rass` (default none);
//! - `config`: HwConfig TOML file (default: the paper's chip, `HwConfig::default()`).
//!
//! Statistics: `layers-planned`; one note per layer with its plan and predicted latency/bytes.

use sofa_ir::attr::Attribute;
use sofa_ir::dialect::attn::SPARSE_MHA;
use sofa_ir::hw::HwConfig;
use sofa_ir::pass::{
    OptionKind, Pass, PassContext, PassError, PassInfo, PassOption, PassOptions, PassOutcome,
};
use sofa_ir::Module;

use crate::schedule::{plan_module, Ablation, PlannedLayer, Schedule};

pub static INFO: PassInfo = PassInfo {
    name: "cct-tile",
    description: "Choose per attention layer the key tiles Tc, query block and K̂ placement by \
                  minimising the analytical cost model under the SRAM capacities",
    options: &[
        PassOption {
            name: "schedule",
            kind: OptionKind::String,
            default: "cct",
            help: "dense (FA-2, no prediction), staged (Â and A through DRAM) or cct",
        },
        PassOption {
            name: "ablate",
            kind: OptionKind::String,
            default: "",
            help: "comma list of mechanisms replaced by their baseline: dlzs,sads,sufa,rass",
        },
        PassOption {
            name: "config",
            kind: OptionKind::String,
            default: "",
            help: "hardware configuration TOML; empty = the paper's chip",
        },
    ],
    build: |opts| Ok(Box::new(CctTile::from_options(opts)?)),
};

/// The `cct-tile` pass.
#[derive(Clone, Debug)]
pub struct CctTile {
    pub hw: HwConfig,
    pub schedule: Schedule,
    pub ablate: Ablation,
}

impl CctTile {
    pub fn new(hw: HwConfig, schedule: Schedule, ablate: Ablation) -> CctTile {
        CctTile {
            hw,
            schedule,
            ablate,
        }
    }

    fn from_options(opts: &PassOptions) -> Result<CctTile, String> {
        let schedule = Schedule::parse(opts.string("schedule")?).map_err(|e| e.to_string())?;
        let ablate = Ablation::parse(opts.string("ablate")?).map_err(|e| e.to_string())?;
        let hw = match opts.string("config")? {
            "" => HwConfig::default(),
            path => load_config(path)?,
        };
        Ok(CctTile::new(hw, schedule, ablate))
    }
}

/// Read and validate a HwConfig TOML; errors name the file.
pub fn load_config(path: &str) -> Result<HwConfig, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read hardware config '{path}': {e}"))?;
    HwConfig::from_toml_str(&text).map_err(|e| format!("hardware config '{path}': {e}"))
}

/// Write each layer's plan onto its op.
pub fn annotate(m: &mut Module, layers: &[PlannedLayer]) {
    for l in layers {
        let p = &l.plan;
        let is_sparse = m.op(l.op).name == SPARSE_MHA;
        let attrs = &mut m.op_mut(l.op).attrs;
        let int = |v: u64| Attribute::i64(i64::try_from(v).unwrap_or(i64::MAX));
        attrs.insert("sofa.tc".into(), int(p.tc));
        attrs.insert("sofa.bc".into(), int(p.bc));
        attrs.insert("sofa.q_block".into(), int(p.q_block));
        attrs.insert("sofa.khat".into(), Attribute::string(p.khat.name()));
        attrs.insert("sofa.schedule".into(), Attribute::string(p.schedule.name()));
        if is_sparse && p.schedule == Schedule::Cct {
            attrs.insert("tiles".into(), int(p.tc));
        }
    }
}

impl Pass for CctTile {
    fn info(&self) -> &'static PassInfo {
        &INFO
    }

    fn run(&mut self, m: &mut Module, cx: &mut PassContext<'_>) -> Result<PassOutcome, PassError> {
        let layers = plan_module(m, &self.hw, self.schedule, self.ablate)
            .map_err(|e| PassError::new(e.to_string()))?;
        annotate(m, &layers);
        cx.stat("layers-planned", layers.len() as u64);
        for l in &layers {
            let p = &l.plan;
            cx.note(format!(
                "layer {}: {} Tc {} Bc {} q_block {} khat {}: {} cycles, {} DRAM bytes",
                l.index,
                p.schedule.name(),
                p.tc,
                p.bc,
                p.q_block,
                p.khat.name(),
                p.cost.latency,
                p.cost.dram_bytes()
            ));
        }
        Ok(PassOutcome::from_changed(!layers.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use sofa_ir::dialect::DialectRegistry;
    use sofa_ir::pass::{NoInstrumentation, PassManager};
    use sofa_ir::text::{parse_module, print_module};

    use crate::passes::registry;
    use crate::workload::{build_module, parse_spec};

    const SPEC: &str = "name = \"t\"\nlayers = 2\nhidden = 64\nheads = 2\nseq = 300\n\
                        causal = true\n";

    fn run(pipeline: &str) -> Result<String, String> {
        let mut m = build_module(&parse_spec(SPEC).unwrap()).unwrap();
        let dialects = DialectRegistry::with_core_dialects();
        let mut pm = PassManager::from_pipeline(dialects, &registry(), pipeline)
            .map_err(|e| e.to_string())?;
        pm.run(&mut m, &mut NoInstrumentation)
            .map_err(|e| e.to_string())?;
        Ok(print_module(&m))
    }

    #[test]
    fn plans_are_written_verified_and_reparse() {
        let text = run("sparsify{keep=0.25},cct-tile").unwrap();
        // S = 300: query blocks of 128, 128 and 44 rows; the search picks Tc.
        assert_eq!(text.matches("sofa.schedule = \"cct\"").count(), 2, "{text}");
        assert_eq!(text.matches("sofa.q_block = 128").count(), 2, "{text}");
        let m = parse_module(&text).unwrap();
        assert_eq!(print_module(&m), text);
        let dense = run("cct-tile{schedule=staged}").unwrap();
        // Keep 1 (no sparsify) has nothing to predict: dense, K̂ nowhere.
        assert_eq!(dense.matches("sofa.khat = \"none\"").count(), 2, "{dense}");
    }

    #[test]
    fn bad_options_fail_the_pipeline_with_the_reason() {
        let e = run("cct-tile{schedule=fast}").unwrap_err();
        assert!(e.contains("unknown schedule 'fast'"), "{e}");
        let e = run("cct-tile{ablate=dlzs,nope}").unwrap_err();
        assert!(e.contains("unknown ablation 'nope'"), "{e}");
        let e = run("cct-tile{config=/nonexistent/hw.toml}").unwrap_err();
        assert!(e.contains("cannot read hardware config"), "{e}");
    }
}
