//! `cct-tile`: choose each attention layer's plan and record it on the op.
//!
//! For every `attn.mha` / `attn.sparse_mha` (layer index = order of appearance, as in
//! `sparsify`) the pass extracts the plan from the layer shape's e-graph
//! ([`crate::schedule::egraph`]: dense FA-2, staged and CCT dataflows per feasible `Tc`, K̂
//! recomputed or spilled, K/V on demand, preloaded or gathered, the ablation baselines),
//! minimising the cost model ([`crate::schedule::Pricer`] over the real lowering,
//! [`super::lowered_heads`]) under the SRAM capacities, and writes it onto the op as the plan
//! attributes (`sofa_ir::dialect::attn::plan`): `sofa.schedule`, `sofa.tc`, `sofa.q_block`
//! and `sofa.ablate`. A sparse op's `tiles` is set to the tiles the chip selects over (`Tc`
//! under `cct`, 1 where selection takes the whole row: `staged`, or `cct` with SADS ablated),
//! so its semantics match what runs. Where K and V come from is `lower-to-sofa`'s to record
//! (`sofa.kv`); the placement the plan was priced with is in the statistics note.
//!
//! Options (pipeline form `cct-tile{schedule=cct ablate=sads,rass config=hw.toml}`):
//! - `schedule`: `dense`, `staged` or `cct` (default) pin the extraction to that dataflow;
//!   `auto` lets the cost model pick it per layer;
//! - `kv`: `gathered` (default: K/V read from DRAM, what the lowering emits), `on-demand` (the
//!   paper's KVGEN), `preload`, or `auto` (cost model picks);
//! - `ablate`: comma list of `dlzs`, `sads`, `sufa`, `rass` (default none): only alternatives
//!   with exactly those baselines are eligible;
//! - `config`: HwConfig TOML file (default: the paper's chip, `HwConfig::default()`);
//! - `tiles`: key tiles `Tc` every layer must be planned with (default 0: the cost model
//!   picks); a layer on which no plan has that many (not an even count up to 32 within `Sk`,
//!   the lowering's default, or one whose buffers fit the SRAMs) fails, naming the counts it
//!   could take. `staged` has no key tiles and ignores it.
//! - `latency-slack`: the objective (default 3, [`mod@crate::schedule::egraph::extract`]'s module
//!   doc): the plan with the fewest DRAM bytes among those at most this many percent slower
//!   than the fastest; 0 plans for latency alone;
//! - `layers`: the per-layer TOML of `sparsify{layers=FILE}`; a layer's `tiles` there pins that
//!   layer's `Tc` (over `tiles`), so a tile count chosen per layer (by hand or by
//!   `sofa calibrate`) survives planning. Its other keys are `sparsify`'s.
//!
//! Statistics: `layers-planned`; `egraphs-built` (one per distinct layer shape) with their
//! summed `egraph-classes`, `egraph-nodes`, `egraph-iterations` and a `stop-*` counter per stop
//! reason; `winner-dense|staged|cct` per layer; one note per layer naming the winning
//! alternative, its latency and DRAM bytes, the runner-up and its margin in %, and the e-graph
//! (alternatives eligible of all, classes, nodes, iterations, stop reason).

use std::collections::BTreeMap;
use std::path::Path;

use sofa_ir::attr::Attribute;
use sofa_ir::dialect::attn::{Plan, SPARSE_MHA};
use sofa_ir::hw::HwConfig;
use sofa_ir::pass::{
    OptionKind, Pass, PassBuildError, PassContext, PassError, PassInfo, PassOption, PassOptions,
    PassOutcome,
};
use sofa_ir::Module;

use super::lowered_heads::LoweredHeads;
use super::sparsify::{load_layers, LayerOverride};
use crate::schedule::egraph::margin_pct;
use crate::schedule::{
    plan_module_tiled, Ablation, KvSource, Pin, PlannedLayer, PriceCache, Pricer, Schedule,
};

pub static INFO: PassInfo = PassInfo {
    name: "cct-tile",
    description: "Choose per attention layer the dataflow, key tiles Tc, K̂ and K/V placement by \
                  e-graph extraction with the analytical cost model under the SRAM capacities",
    options: &[
        PassOption {
            name: "schedule",
            kind: OptionKind::String,
            default: "cct",
            help: "dense (FA-2, no prediction), staged (Â and A through DRAM), cct, or auto \
                   (the cost model picks)",
        },
        PassOption {
            name: "kv",
            kind: OptionKind::String,
            default: "gathered",
            help: "K/V placement: gathered (K/V read from DRAM as the lowering emits them), \
                   on-demand (KVGEN of the selected rows), preload (projected once, read in \
                   order) or auto (the cost model picks)",
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
        PassOption {
            name: "tiles",
            kind: OptionKind::Int,
            default: "0",
            help: "key tiles Tc every layer is planned with; 0 = the cost model picks",
        },
        PassOption {
            name: "latency-slack",
            kind: OptionKind::Int,
            default: "3",
            help: "percent a plan may be slower than the fastest and still win by fewer DRAM \
                   bytes (3 = the cost model's accuracy); 0 = latency alone",
        },
        PassOption {
            name: "layers",
            kind: OptionKind::String,
            default: "",
            help: "TOML file of per-layer overrides (sparsify's); a layer's tiles pins its Tc",
        },
    ],
    build: |opts| Ok(Box::new(CctTile::from_options(opts)?)),
};

/// The `cct-tile` pass.
#[derive(Clone, Debug)]
pub struct CctTile {
    pub hw: HwConfig,
    /// Extraction pin: schedule, K/V placement (`None` = the cost model picks), ablations.
    pub pin: Pin,
    /// Per-layer `Tc` pins by attention-layer index (over `pin.tc`).
    pub layer_tiles: BTreeMap<usize, u64>,
    /// Prices shared with other compiles of the same command.
    pub prices: PriceCache,
}

impl CctTile {
    /// `--schedule schedule --ablate ablate`, K/V gathered (what the lowering emits).
    pub fn new(hw: HwConfig, schedule: Schedule, ablate: Ablation) -> CctTile {
        CctTile::pinned(hw, Pin::new(schedule, ablate))
    }

    /// Plan under an explicit pin.
    pub fn pinned(hw: HwConfig, pin: Pin) -> CctTile {
        CctTile {
            hw,
            pin,
            layer_tiles: BTreeMap::new(),
            prices: PriceCache::default(),
        }
    }

    /// Pin the `Tc` of every layer whose override sets `tiles` (a `--layers` file).
    pub fn with_layer_tiles(mut self, layers: &BTreeMap<usize, LayerOverride>) -> CctTile {
        self.layer_tiles = layer_tiles(layers);
        self
    }

    fn from_options(opts: &PassOptions) -> Result<CctTile, PassBuildError> {
        let schedule = match opts.string("schedule")? {
            "auto" => None,
            s => Some(Schedule::parse(s).map_err(PassBuildError::pass)?),
        };
        let kv = match opts.string("kv")? {
            "auto" => None,
            k => Some(KvSource::parse(k).map_err(PassBuildError::pass)?),
        };
        let ablate = Ablation::parse(opts.string("ablate")?).map_err(PassBuildError::pass)?;
        let hw = match opts.string("config")? {
            "" => HwConfig::default(),
            path => HwConfig::load(Path::new(path)).map_err(PassBuildError::pass)?,
        };
        let tc = match opts.int("tiles")? {
            0 => None,
            t => Some(u64::try_from(t).map_err(|_| {
                PassBuildError::pass(format!("tiles = {t}: give a count ≥ 1, or 0 for automatic"))
            })?),
        };
        let latency_slack_pct = u64::try_from(opts.int("latency-slack")?).map_err(|_| {
            PassBuildError::pass("latency-slack: give a percentage ≥ 0".to_string())
        })?;
        let pin = Pin {
            schedule,
            kv,
            ablate,
            tc,
            latency_slack_pct,
        };
        let layers = match opts.string("layers")? {
            "" => BTreeMap::new(),
            path => load_layers(Path::new(path)).map_err(PassBuildError::pass)?,
        };
        Ok(CctTile::pinned(hw, pin).with_layer_tiles(&layers))
    }
}

/// The `tiles` of each override that sets one (`sparsify` checked them ≥ 1).
fn layer_tiles(layers: &BTreeMap<usize, LayerOverride>) -> BTreeMap<usize, u64> {
    layers
        .iter()
        .filter_map(|(&i, o)| Some((i, u64::try_from(o.tiles?).ok()?)))
        .collect()
}

/// Write each layer's plan onto its op (see the module doc).
pub fn annotate(m: &mut Module, layers: &[PlannedLayer]) {
    for l in layers {
        let p = &l.plan;
        let ablate = l.choice.winner.ablate;
        let whole_row = ablate.whole_row(p.schedule);
        let tc = if whole_row { 1 } else { p.tc };
        let plan = Plan {
            schedule: Some(p.schedule),
            tc: Some(tc),
            q_block: Some(p.q_block),
            ablate: Some(ablate),
            kv: None,
        };
        let is_sparse = m.op(l.op).name == SPARSE_MHA;
        let attrs = &mut m.op_mut(l.op).attrs;
        plan.to_attrs(attrs);
        if is_sparse && p.schedule != Schedule::Dense {
            attrs.insert(
                "tiles".into(),
                Attribute::i64(i64::try_from(tc).unwrap_or(i64::MAX)),
            );
        }
    }
}

fn winner_counter(s: Schedule) -> &'static str {
    match s {
        Schedule::Dense => "winner-dense",
        Schedule::Staged => "winner-staged",
        Schedule::Cct => "winner-cct",
    }
}

fn stop_counter(stop: &str) -> &'static str {
    match stop {
        "saturated" => "stop-saturated",
        "iteration-limit" => "stop-iteration-limit",
        "node-limit" => "stop-node-limit",
        _ => "stop-other",
    }
}

/// The note of one layer: winner, runner-up and margin, e-graph size.
pub fn choice_note(l: &PlannedLayer) -> String {
    let (p, c) = (&l.plan, &l.choice);
    let runner = match &c.runner_up {
        Some(r) => format!(
            "runner-up {}: {:+.2}% latency, {:+.2}% DRAM bytes",
            r.alt.describe(),
            margin_pct(p.cost.latency, r.cost.latency),
            margin_pct(p.cost.dram_bytes(), r.cost.dram_bytes())
        ),
        None => "no runner-up".to_string(),
    };
    let shared = match c.shared_with {
        Some(first) => format!(" (shared with layer {first})"),
        None => String::new(),
    };
    format!(
        "layer {} ({}): winner {} (Bc {}, q_block {}): {} cycles, {} DRAM bytes; {}; {} of {} \
         alternatives eligible; e-graph{}: {} classes, {} nodes, {} iterations, {}",
        l.index,
        l.name,
        c.winner.describe(),
        p.bc,
        p.q_block,
        p.cost.latency,
        p.cost.dram_bytes(),
        runner,
        c.eligible,
        c.alternatives,
        shared,
        c.size.classes,
        c.size.nodes,
        c.size.iterations,
        c.size.stop
    )
}

/// Counters and one note per layer.
fn record(cx: &mut PassContext<'_>, layers: &[PlannedLayer]) {
    cx.stat("layers-planned", layers.len() as u64);
    for l in layers {
        let size = l.choice.size;
        if l.choice.shared_with.is_none() {
            cx.stat("egraphs-built", 1);
            cx.stat("egraph-classes", size.classes as u64);
            cx.stat("egraph-nodes", size.nodes as u64);
            cx.stat("egraph-iterations", size.iterations as u64);
            cx.stat(stop_counter(size.stop), 1);
        }
        cx.stat(winner_counter(l.plan.schedule), 1);
        cx.note(choice_note(l));
    }
}

impl Pass for CctTile {
    fn info(&self) -> &'static PassInfo {
        &INFO
    }

    fn run(&mut self, m: &mut Module, cx: &mut PassContext<'_>) -> Result<PassOutcome, PassError> {
        let pricer = Pricer::with_cache(&self.hw, &LoweredHeads, self.prices.clone());
        let layers = plan_module_tiled(m, &pricer, &self.pin, &self.layer_tiles)
            .map_err(|e| PassError::new(e.to_string()))?;
        annotate(m, &layers);
        record(cx, &layers);
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
        let auto = run("sparsify{keep=0.25},cct-tile{schedule=auto kv=auto}").unwrap();
        assert_eq!(auto.matches("sofa.schedule = ").count(), 2, "{auto}");
        let dense = run("cct-tile{schedule=staged kv=on-demand}").unwrap();
        // Keep 1 (no sparsify) has nothing to predict: dense, K̂ nowhere (the analytical
        // placements; gathered K/V run the pinned schedule selecting every key, as lowered).
        let gathered = run("cct-tile{schedule=staged}").unwrap();
        assert_eq!(gathered.matches("sofa.schedule = \"staged\"").count(), 2);
        assert_eq!(
            dense.matches("sofa.schedule = \"dense\"").count(),
            2,
            "{dense}"
        );
    }

    /// Run `sparsify{keep=0.25}` then `cct_tile` on SPEC; the pass's statistics.
    fn stats_of(pass: &mut super::CctTile) -> sofa_ir::pass::Statistics {
        use crate::passes::sparsify::{Sparsify, SparsifyConfig};
        use sofa_ir::pass::{Pass, PassContext};
        let mut m = build_module(&parse_spec(SPEC).unwrap()).unwrap();
        let dialects = DialectRegistry::with_core_dialects();
        let mut config = SparsifyConfig::default();
        config.global.keep = 0.25;
        Sparsify::new(config)
            .run(&mut m, &mut PassContext::new(&dialects))
            .unwrap();
        let mut cx = PassContext::new(&dialects);
        pass.run(&mut m, &mut cx).unwrap();
        cx.stats
    }

    #[test]
    fn statistics_name_the_winner_the_runner_up_and_the_margin() {
        use super::{CctTile, Schedule};
        use crate::schedule::{Ablation, Pin};
        use sofa_ir::hw::HwConfig;
        let hw = HwConfig::default();
        let stats = stats_of(&mut CctTile::new(
            hw.clone(),
            Schedule::Cct,
            Ablation::default(),
        ));
        // Both layers have one shape: one e-graph, two winners.
        let counters: Vec<(&str, u64)> = stats.iter().collect();
        assert_eq!(stats.get("egraphs-built"), 1, "{counters:?}");
        assert_eq!(stats.get("stop-saturated"), 1, "{counters:?}");
        assert_eq!(stats.get("winner-cct"), 2, "{counters:?}");
        let notes = stats.notes();
        assert_eq!(notes.len(), 2);
        let n0 = &notes[0];
        assert!(
            n0.starts_with("layer 0 (t/layer0/attention): winner cct Tc "),
            "{n0}"
        );
        assert!(n0.contains("kv gathered"), "{n0}");
        assert!(n0.contains("; runner-up cct Tc "), "{n0}");
        assert!(n0.contains("% latency, "), "{n0}");
        assert!(n0.contains("alternatives eligible; e-graph: "), "{n0}");
        assert!(n0.ends_with("saturated"), "{n0}");
        assert!(
            notes[1].contains("e-graph (shared with layer 0):"),
            "{}",
            notes[1]
        );
        // The margin printed is the runner-up's latency over the winner's, in %.
        let margin: f64 = n0
            .split("runner-up ")
            .nth(1)
            .and_then(|r| r.split(": ").nth(1))
            .and_then(|r| r.split('%').next())
            .and_then(|m| m.parse().ok())
            .unwrap();
        assert!(margin >= 0.0, "{n0}");
        // Unpinned, the cost model also chooses the dataflow and the K/V placement.
        let free = stats_of(&mut CctTile::pinned(hw, Pin::any(Ablation::default())));
        let won: u64 = ["winner-dense", "winner-staged", "winner-cct"]
            .iter()
            .map(|c| free.get(c))
            .sum();
        assert_eq!(won, 2);
    }

    /// `tiles=T` forces every layer's `Tc` (and the sparse op's `tiles`); a count no plan has
    /// fails naming those it could take.
    #[test]
    fn a_tiles_option_forces_the_key_tiles() {
        let text = run("sparsify{keep=0.25},cct-tile{tiles=6}").unwrap();
        assert_eq!(text.matches("sofa.tc = 6 : i64").count(), 2, "{text}");
        assert_eq!(text.matches("tiles = 6 : i64").count(), 2, "{text}");
        let e = run("sparsify{keep=0.25},cct-tile{tiles=7}").unwrap_err();
        assert!(
            e.contains("layer 0: no plan has 7 key tiles (Sk 300;"),
            "{e}"
        );
        let e = run("cct-tile{tiles=-1}").unwrap_err();
        assert!(e.contains("tiles = -1: give a count ≥ 1"), "{e}");
    }

    /// A layers file's per-layer `tiles` pins that layer only, over `tiles=T`; the plan's `Tc`
    /// and the op's `tiles` then agree with what `sparsify` read from the same file.
    #[test]
    fn a_layers_file_pins_the_tiles_of_the_layers_it_names() {
        let dir = std::env::temp_dir().join(format!("sofa-cct-layers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("layers.toml");
        std::fs::write(&file, "[[layer]]\nindex = 1\ntiles = 10\n").unwrap();
        let f = file.display();
        let text = run(&format!(
            "sparsify{{keep=0.25 layers={f}}},cct-tile{{tiles=6 layers={f}}}"
        ))
        .unwrap();
        let tcs: Vec<&str> = text
            .match_indices("sofa.tc = ")
            .map(|(i, _)| text[i..].split(" : ").next().unwrap())
            .collect();
        assert_eq!(tcs, ["sofa.tc = 6", "sofa.tc = 10"], "{text}");
        assert_eq!(text.matches("tiles = 10 : i64").count(), 1, "{text}");
        std::fs::write(&file, "[[layer]]\nindex = 0\ntiles = 7\n").unwrap();
        let e = run(&format!("cct-tile{{layers={f}}}")).unwrap_err();
        assert!(e.contains("layer 0: no plan has 7 key tiles"), "{e}");
        let e = run("cct-tile{layers=/nonexistent/layers.toml}").unwrap_err();
        assert!(e.contains("/nonexistent/layers.toml"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_options_fail_the_pipeline_with_the_reason() {
        let e = run("cct-tile{schedule=fast}").unwrap_err();
        assert!(e.contains("unknown schedule 'fast'"), "{e}");
        let e = run("cct-tile{ablate=dlzs,nope}").unwrap_err();
        assert!(e.contains("unknown ablation 'nope'"), "{e}");
        let e = run("cct-tile{kv=later}").unwrap_err();
        assert!(e.contains("unknown K/V source 'later'"), "{e}");
        let e = run("cct-tile{config=/nonexistent/hw.toml}").unwrap_err();
        assert!(e.contains("cannot read hardware config"), "{e}");
    }
}
