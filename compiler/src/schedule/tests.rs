//! Cost-model arithmetic against hand-computed figures, and the plan search on real workloads.

use super::*;
use crate::passes::lowered_heads::LoweredHeads;
use crate::workload::{build_module, load_spec};
use sofa_ir::hw::HwConfig;

/// The cost model over the real lowering (as `cct-tile` builds it).
fn pricer(hw: &HwConfig) -> Pricer<'_> {
    Pricer::new(hw, &LoweredHeads)
}

/// The analytical cost with K/V generated on demand.
fn layer_cost(
    hw: &HwConfig,
    s: &LayerShape,
    sched: Schedule,
    abl: Ablation,
    c: Candidate,
) -> Result<LayerCost, ScheduleError> {
    analytical_cost(hw, s, sched, abl, c, KvSource::OnDemand)
}

/// The `cct` plans of a workload with K/V generated on demand (the analytical model).
fn workload(name: &str, keep: f64) -> Vec<PlannedLayer> {
    workload_kv(name, keep, KvSource::OnDemand)
}

fn workload_kv(name: &str, keep: f64, kv: KvSource) -> Vec<PlannedLayer> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../workloads");
    let mut spec = load_spec(&dir.join(format!("{name}.toml"))).unwrap();
    spec.keep_ratio = keep;
    let m = sparse_module(&spec);
    let hw = HwConfig::default();
    plan_module(&m, &pricer(&hw), &pin(Schedule::Cct, kv)).unwrap()
}

fn pin(schedule: Schedule, kv: KvSource) -> Pin {
    Pin {
        kv: Some(kv),
        ..Pin::new(schedule, Ablation::default())
    }
}

fn on_demand_plan(shape: &LayerShape, schedule: Schedule) -> LayerPlan {
    let hw = HwConfig::default();
    let p = pricer(&hw);
    let x = egraph::build(&p, shape)
        .extract(&pin(schedule, KvSource::OnDemand), 0)
        .unwrap();
    choose::plan_of(shape, &x)
}

fn sparse_module(spec: &crate::workload::WorkloadSpec) -> sofa_ir::Module {
    use crate::passes::sparsify::{Sparsify, SparsifyConfig};
    use sofa_ir::pass::{Pass, PassContext};
    let mut m = build_module(spec).unwrap();
    let mut config = SparsifyConfig::default();
    config.global.keep = spec.keep_ratio;
    let dialects = sofa_ir::dialect::DialectRegistry::with_core_dialects();
    let mut cx = PassContext::new(&dialects);
    Sparsify::new(config).run(&mut m, &mut cx).unwrap();
    m
}

fn tiny(causal: bool, seq: u64) -> LayerShape {
    LayerShape {
        batch: 1,
        heads: 1,
        kv_heads: 1,
        seq_q: seq,
        seq_k: seq,
        head_dim: 4,
        hidden: 4,
        causal,
        window: None,
        keep: 0.5,
        bias: false,
    }
}

fn recompute(tc: u64, q_block: u64) -> Candidate {
    Candidate {
        tc,
        q_block,
        khat: KhatPlacement::Recompute,
    }
}

#[test]
fn cct_cost_matches_hand_computed_figures() {
    let hw = HwConfig::default();
    let c = layer_cost(
        &hw,
        &tiny(false, 8),
        Schedule::Cct,
        Ablation::default(),
        recompute(2, 8),
    )
    .unwrap();
    // DMA: W (40 B), Q (64 B), O (64 B), and per tile LD X + GATHER (16 B each): 101 cycles each.
    // DLZS: per tile K̂ (rows 4) and Â (rows 8), each 1·1·4 + 160 = 164.
    // SADS: 1·1·1 + 4 = 5 per tile; RASS: 1·2 + 4 + min(16, 4) = 10 per tile.
    // KVGEN: 1·1·4 + 132 = 136, twice per tile; SUFA.T: 1·(2·2 + 2) + 2 = 8, and 2 more for
    // the second tile's merge into the running partials; SUFA.SYNC: 1·(2 + 1) + 4 + 2 = 9.
    let want: PerEngine = [
        ("ctrl", 20),
        ("dlzs", 656),
        ("dma", 707),
        ("kvpe", 544),
        ("sads", 10),
        ("sufa", 27),
    ]
    .into_iter()
    .collect();
    assert_eq!(c.cycles, want);
    assert_eq!(c.latency, 707);
    let bytes: Vec<(&str, u64, u64)> = c
        .dram
        .iter()
        .map(|(k, t)| (*k, t.read, t.written))
        .collect();
    assert_eq!(
        bytes,
        [
            ("k_x", 64, 0),
            ("o", 0, 64),
            ("q", 64, 0),
            ("weights", 40, 0)
        ]
    );
    assert_eq!(c.dram_bytes(), 232);
    assert_eq!(c.energy["dram_device"], 232 * 32_107);
    assert_eq!(c.energy["dram_interface"], 232 * 8_863);
    // 707 DMA cycles have no busy power; 27 SU-FA cycles at 485.12 mW and 1 GHz.
    assert_eq!((c.energy["dma"], c.energy["sufa"]), (0, 27 * 485_120));
    assert_eq!(c.instrs["KVGEN"], 4);
    assert_eq!(c.causal_tiles_skipped, 0);
}

#[test]
fn causal_blocks_skip_future_tiles_and_ragged_tiles_are_counted() {
    let mut hw = HwConfig::default();
    hw.block.query_rows = 4;
    // S = 10 over Tc = 4 gives Bc = 3: tiles of 3, 3, 3, 1 keys. Blocks of 4, 4, 2 queries see
    // 4, 8, 10 keys, i.e. 2, 3, 4 tiles: 2 + 1 tiles skipped, 9 tiles processed.
    let c = layer_cost(
        &hw,
        &tiny(true, 10),
        Schedule::Cct,
        Ablation::default(),
        recompute(4, 4),
    )
    .unwrap();
    assert_eq!(c.causal_tiles_skipped, 3);
    assert_eq!(c.instrs["DLZS.S"], 9);
    assert_eq!(c.instrs["SUFA.SYNC"], 3);
    // X rows loaded: 4 + 8 + 10 visible keys of 4 bytes each, plus the gathered rows.
    assert_eq!(c.dram["k_x"].read, 2 * (4 + 8 + 10) * 4);
}

#[test]
fn ablations_switch_engines_and_modes() {
    let hw = HwConfig::default();
    let shape = tiny(false, 8);
    let dlzs = Ablation::parse("dlzs").unwrap();
    let c = layer_cost(&hw, &shape, Schedule::Cct, dlzs, recompute(2, 8)).unwrap();
    assert!(!c.cycles.contains_key("dlzs"));
    assert_eq!(c.instrs["GEMM"], 4);
    let rass = Ablation::parse("rass").unwrap();
    let c = layer_cost(&hw, &shape, Schedule::Cct, rass, recompute(2, 8)).unwrap();
    // Without reuse every query's 2 keys are fetched: 16 rows per tile instead of 4.
    assert_eq!(c.dram["k_x"].read, 2 * (16 + 16 * 4));
    assert_eq!(
        Ablation::parse(" sads,sufa ").unwrap().to_list(),
        "sads,sufa"
    );
    assert!(Ablation::parse("dlzs,nope").is_err());
    assert!(Schedule::parse("fast").is_err());
}

#[test]
fn one_query_block_recomputes_khat_and_many_spill_it() {
    let plan = on_demand_plan(&tiny(false, 8), Schedule::Cct);
    assert_eq!(
        (plan.tc, plan.bc, plan.khat),
        (2, 4, KhatPlacement::Recompute)
    );
    let layers = workload("llama-7b", 0.25);
    let p = &layers[0].plan;
    assert_eq!((p.tc, p.bc, p.q_block, p.query_blocks), (32, 128, 128, 32));
    assert_eq!(p.khat, KhatPlacement::Spill);
}

#[test]
fn llama_7b_cct_moves_less_dram_than_staged_in_every_layer() {
    let layers = workload("llama-7b", 0.25);
    assert_eq!(layers.len(), 32);
    for l in &layers {
        let (ours, staged) = (l.plan.cost.dram_bytes(), l.staged.dram_bytes());
        assert!(ours < staged, "layer {}: {ours} >= {staged}", l.index);
        assert_eq!(json::saving_pct(ours, staged), PCT, "layer {}", l.index);
    }
    // All layers share one shape: the Â (2 × 276.8 MB) and A (2 × 138.4 MB) round trips are the gap.
    let l0 = &layers[0];
    assert_eq!(
        (l0.plan.cost.dram_bytes(), l0.staged.dram_bytes()),
        (CCT_BYTES, STAGED_BYTES)
    );
    assert_eq!(STAGED_BYTES - CCT_BYTES, 2 * 276_824_064 + 2 * 138_412_032);
}

const PCT: f64 = 6.96;
const CCT_BYTES: u64 = 11_098_128_384;
const STAGED_BYTES: u64 = 11_928_600_576;

#[test]
fn keep_one_runs_dense() {
    let layers = workload("bert-base", 1.0);
    assert!(layers.iter().all(|l| l.plan.schedule == Schedule::Dense));
    assert!(layers.iter().all(|l| l.plan.khat == KhatPlacement::None));
}

#[test]
fn gathered_keep_one_runs_the_pinned_schedule_selecting_every_key() {
    // As the lowering does: `cct` at keep 1 predicts and selects whole tiles (sel = width).
    let layers = workload_kv("bert-base", 1.0, KvSource::Gathered);
    let p = &layers[0].plan;
    assert_eq!((p.schedule, p.kv), (Schedule::Cct, KvSource::Gathered));
    // 12 heads × 4 blocks × Tc tiles, each SUFA.T over its whole tile; 512-key rows.
    let c = &p.cost;
    assert_eq!(c.instrs["SUFA.T"], 12 * 4 * p.tc);
    assert_eq!(c.instrs["SADS"], c.instrs["SUFA.T"]);
    // Every key of every tile is gathered: K and V of 512 keys per block, 64 f16 each.
    assert_eq!(c.dram["v"].read, 12 * 4 * 512 * 128);
}

#[test]
fn the_default_pin_gathers_kv_as_the_lowering_does() {
    let layers = workload_kv("bert-base", 0.25, KvSource::Gathered);
    let via_default = {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../workloads");
        let mut spec = load_spec(&dir.join("bert-base.toml")).unwrap();
        spec.keep_ratio = 0.25;
        let hw = HwConfig::default();
        plan_module(
            &sparse_module(&spec),
            &pricer(&hw),
            &Pin::new(Schedule::Cct, Ablation::default()),
        )
        .unwrap()
    };
    assert_eq!(layers, via_default);
    let p = &layers[0].plan;
    assert_eq!((p.tc, p.bc, p.khat), (4, 128, KhatPlacement::Spill));
    let c = &p.cost;
    // Per head and block: Q 16 KiB, 4 K tiles holding the 512 keys (64 KiB), K and V gathers
    // of the expected distinct keys (128 queries × 32 of 128 keys: all of them), O 16 KiB.
    let per_block = 16_384 * (1 + 4 + 4 + 4 + 1);
    assert_eq!(c.dram_bytes(), 12 * 4 * per_block);
    // The critical path exceeds the busiest engine (the tile chain stalls on its rings).
    let busiest = c.cycles.values().copied().max().unwrap();
    assert!(c.latency > busiest, "{} <= {busiest}", c.latency);
}

fn llama_shape() -> LayerShape {
    workload("llama-7b", 0.25)[0].shape.clone()
}

#[test]
fn llama_7b_egraph_holds_every_feasible_alternative() {
    use egraph::rules::{feasible_plans, gathered_plans, Tiling};
    let hw = HwConfig::default();
    let shape = llama_shape();
    let at = |plans: &[Tiling], q: u64| -> Vec<u64> {
        plans
            .iter()
            .filter(|t| t.q_block == q)
            .map(|t| t.tc)
            .collect()
    };
    // Token SRAM: 32 KiB Q + 64 KiB partials + 512·Bc (K and V tiles) <= 192 KiB: Bc <= 192,
    // so Tc >= 22. Temp SRAM (cct only): 128·Bc + 256·⌈1024/Tc⌉ <= 28 KiB from Tc = 28 on.
    let dense = feasible_plans(&hw, &shape, Schedule::Dense);
    let cct = feasible_plans(&hw, &shape, Schedule::Cct);
    assert_eq!(at(&dense, 128), [22, 24, 26, 28, 30, 32]);
    assert_eq!(at(&cct, 128), [28, 30, 32]);
    // Half the rows: 16 KiB Q + 32 KiB partials + 512·Bc <= 192 KiB: Bc <= 288, Tc >= 16.
    assert_eq!(at(&dense, 64), [16, 18, 20, 22, 24, 26, 28, 30, 32]);
    let staged = feasible_plans(&hw, &shape, Schedule::Staged);
    assert_eq!(
        staged,
        [Tiling {
            tc: 1,
            q_block: 128
        }]
    );
    // Gathered K/V: the Tc the lowering can lay out (it shrinks the row block or spills the
    // partials rather than fail), from the searched even counts plus its own default (32).
    let p = pricer(&hw);
    let gd = gathered_plans(&p, &shape, Schedule::Dense);
    let gc = gathered_plans(&p, &shape, Schedule::Cct);
    assert_eq!(at(&gd, 128), GATHERED_DENSE);
    assert_eq!(at(&gc, 128), GATHERED_CCT);
    let g = egraph::build(&p, &shape);
    let alts = g.alternatives();
    let count = |s: Schedule| alts.iter().filter(|a| a.schedule == s).count();
    // dense: feasible plans × 2 K/V + gathered plans; staged: 3 K/V × 4 ablation sets of
    // {dlzs, rass}; cct: feasible plans × 2 K̂ × 2 K/V × 16 ablation sets + gathered plans ×
    // 16 ablation sets.
    let (n_dense, n_cct) = (2 * dense.len() + gd.len(), 64 * cct.len() + 16 * gc.len());
    assert_eq!(
        (
            count(Schedule::Dense),
            count(Schedule::Staged),
            count(Schedule::Cct)
        ),
        (n_dense, 12, n_cct)
    );
    assert_eq!(alts.len(), n_dense + 12 + n_cct);
    assert_eq!(g.size.stop, "saturated");
    let x = g
        .extract(&Pin::new(Schedule::Cct, Ablation::default()), 0)
        .unwrap();
    assert_eq!((x.eligible, x.alternatives), (gc.len(), alts.len()));
    let x = g
        .extract(&pin(Schedule::Cct, KvSource::OnDemand), 0)
        .unwrap();
    assert_eq!(x.eligible, 2 * cct.len());
}

const GATHERED_DENSE: [u64; 12] = [12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 64];
const GATHERED_CCT: [u64; 15] = [6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 64];

#[test]
fn pins_filter_the_extraction() {
    let hw = HwConfig::default();
    let shape = llama_shape();
    let p = pricer(&hw);
    let g = egraph::build(&p, &shape);
    let x = g
        .extract(&Pin::new(Schedule::Staged, Ablation::default()), 0)
        .unwrap();
    let staged = choose::plan_of(&shape, &x);
    assert_eq!(
        (staged.schedule, staged.tc, staged.khat, staged.kv),
        (
            Schedule::Staged,
            1,
            KhatPlacement::Spill,
            KvSource::Gathered
        )
    );
    let abl = Ablation::parse("sads,dlzs").unwrap();
    // The lowering cannot emit the sads ablation of 4096-key rows (one whole-row K̂ tile of
    // 1 MiB): with gathered K/V there is no such plan, as `sofa run` would fail too.
    let gathered = g.extract(&Pin::new(Schedule::Cct, abl), 0);
    assert!(
        matches!(gathered, Err(ScheduleError::NoFit { .. })),
        "{gathered:?}"
    );
    let on_demand = Pin {
        kv: Some(KvSource::OnDemand),
        ..Pin::new(Schedule::Cct, abl)
    };
    let x = g.extract(&on_demand, 0).unwrap();
    assert_eq!(
        (x.winner.alt.schedule, x.winner.alt.ablate),
        (Schedule::Cct, abl)
    );
    // Staged has no per-tile sort to ablate: its eligible baseline is dlzs only.
    let x = g.extract(&Pin::new(Schedule::Staged, abl), 0).unwrap();
    assert_eq!(x.winner.alt.ablate, Ablation::parse("dlzs").unwrap());
    let preload = Pin {
        kv: Some(KvSource::Preload),
        ..Pin::new(Schedule::Dense, Ablation::default())
    };
    let x = g.extract(&preload, 0).unwrap();
    assert_eq!(
        (x.winner.alt.schedule, x.winner.alt.kv),
        (Schedule::Dense, KvSource::Preload)
    );
    // One per dense plan that fits: 6 Tc at 128 rows, 9 at 64.
    let plans = egraph::rules::feasible_plans(&hw, &shape, Schedule::Dense);
    assert_eq!((x.eligible, plans.len()), (15, 15));
}

#[test]
fn the_runner_up_is_the_next_plan_in_rank_order() {
    let hw = HwConfig::default();
    let p = pricer(&hw);
    let g = egraph::build(&p, &llama_shape());
    let on_demand = pin(Schedule::Cct, KvSource::OnDemand);
    let x = g.extract(&on_demand, 0).unwrap();
    let (w, r) = (&x.winner, x.runner_up.as_ref().unwrap());
    assert_eq!((w.alt.tc, w.alt.khat), (32, KhatPlacement::Spill));
    let key = |c: &LayerCost| (c.latency, c.dram_bytes(), c.energy_total());
    assert!(key(&w.cost) < key(&r.cost), "{w:?} vs {r:?}");
    // Every other eligible plan ranks at or after the runner-up.
    for alt in g.alternatives() {
        let pin = on_demand;
        if alt == w.alt || !pin.admits(&alt, &g.shape) {
            continue;
        }
        let c = egraph::extract::alternative_cost(&g, &alt).unwrap();
        assert!(key(&c) >= key(&r.cost), "{alt:?}");
    }
    assert_eq!(egraph::margin_pct(200, 250), 25.0);
    assert_eq!(egraph::margin_pct(0, 5), 0.0);
}

#[test]
fn preload_reads_kv_in_order_instead_of_kvgen_per_block() {
    let hw = HwConfig::default();
    let shape = tiny(false, 8);
    let c = analytical_cost(
        &hw,
        &shape,
        Schedule::Cct,
        Ablation::default(),
        recompute(2, 8),
        KvSource::Preload,
    )
    .unwrap();
    // Projection: per tile of 4 keys, LD X (4 × 4 B), KVGEN ×2, ST K and ST V (4 × 8 B each).
    // Per block tile: LD X + DLZS.K (K̂), LD K and LD V of the whole 4-key tile (4 × 8 B each).
    assert_eq!(c.instrs["KVGEN"], 4);
    assert!(!c.instrs.contains_key("GATHER"));
    assert_eq!((c.dram["v"].read, c.dram["v"].written), (32 * 2, 32 * 2));
    assert_eq!(c.dram["k_x"].read, 2 * 16 + 2 * 16 + 2 * 32);
    assert_eq!(c.dram["k_x"].written, 2 * 32);
}

#[test]
fn the_objective_takes_the_fewest_dram_bytes_within_the_latency_slack() {
    use egraph::extract::Objective;
    let cost = |latency: u64, bytes: u64| LayerCost {
        latency,
        dram: [(
            "q",
            Traffic {
                read: bytes,
                written: 0,
            },
        )]
        .into(),
        ..LayerCost::default()
    };
    let alt = |tc: u64| Alternative {
        tc,
        q_block: 128,
        khat: KhatPlacement::Spill,
        kv: KvSource::Gathered,
        schedule: Schedule::Cct,
        ablate: Ablation::default(),
    };
    // (latency, DRAM bytes) of Tc 2, 4, 8.
    let plans = [
        (2, cost(1000, 900)),
        (4, cost(1030, 500)),
        (8, cost(1031, 100)),
    ];
    let winner = |slack_pct: u64| {
        let o = Objective::new(1000, slack_pct);
        plans
            .iter()
            .min_by_key(|(tc, c)| o.key(c, alt(*tc)))
            .unwrap()
            .0
    };
    // 0 %: the fastest; 3 %: up to 1030 cycles, so Tc 4's 500 bytes; 4 %: Tc 8's 100 bytes.
    assert_eq!((winner(0), winner(3), winner(4)), (2, 4, 8));
    assert_eq!(Objective::new(u64::MAX, 3).within, u64::MAX);
}
