//! E-graph extraction against a brute-force minimum over the same candidates, for every
//! workload in `workloads/` (keep 0.25 and 1) and several pins.
//!
//! The brute force enumerates what the former direct search did — `Tc` candidates, query
//! blocks, K̂ placements per schedule, K/V placements, the pin's ablations — keeps the
//! candidates whose buffers fit and costs each with `Pricer::cost`. Of those at most the pin's
//! latency slack slower than the fastest it takes the minimum of (DRAM bytes, latency, energy,
//! the larger query block, Tc, K̂, K/V, schedule). Extraction must return that plan with the same figures.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sofa_compiler::driver::{self, Target};
use sofa_compiler::passes::lowered_heads::LoweredHeads;
use sofa_compiler::passes::sparsify::{Sparsify, SparsifyConfig};
use sofa_compiler::schedule::egraph::rules::gathered_plans;
use sofa_compiler::schedule::shape::{effective, fits, q_block, q_block_candidates, tc_candidates};
use sofa_compiler::schedule::{
    plan_module, Ablation, Candidate, KhatPlacement, KvSource, LayerCost, LayerPlan, LayerShape,
    Pin, PlannedLayer, Pricer, Schedule,
};
use sofa_compiler::workload::{build_module, load_spec};
use sofa_ir::hw::HwConfig;
use sofa_ir::pass::{Pass, PassContext};

fn workloads() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../workloads");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

fn module(path: &Path, keep: f64) -> sofa_ir::Module {
    let mut spec = load_spec(path).unwrap();
    spec.keep_ratio = keep;
    let mut m = build_module(&spec).unwrap();
    let mut config = SparsifyConfig::default();
    config.global.keep = keep;
    let dialects = sofa_ir::dialect::DialectRegistry::with_core_dialects();
    Sparsify::new(config)
        .run(&mut m, &mut PassContext::new(&dialects))
        .unwrap();
    m
}

/// DRAM bytes, latency, energy, the larger query block, then the plan: `Tc`, K̂, K/V,
/// schedule.
type Key = (
    u64,
    u64,
    u64,
    Reverse<u64>,
    u64,
    KhatPlacement,
    KvSource,
    Schedule,
);

/// `(Tc, query block)`.
type Plan = (u64, u64);

/// The schedules, plans and K̂ placements enumerated for `sched` under K/V
/// placement `kv`: gathered K/V run the pinned schedule at every keep ratio, over the plans the
/// lowering can lay out, K̂ being the K tile read per block (`spill`).
fn space(
    pricer: &Pricer<'_>,
    s: &LayerShape,
    pin: &Pin,
    kv: KvSource,
) -> Vec<(Schedule, Vec<Plan>, Vec<KhatPlacement>)> {
    let gathered = kv == KvSource::Gathered;
    let schedules: Vec<Schedule> = match pin.schedule {
        Some(p) if gathered => vec![p],
        Some(p) => vec![effective(p, s)],
        None if s.keep >= 1.0 && !gathered => vec![Schedule::Dense],
        None => vec![Schedule::Dense, Schedule::Staged, Schedule::Cct],
    };
    schedules
        .into_iter()
        .map(|sched| {
            let tcs: Vec<Plan> = match sched {
                Schedule::Staged => vec![(1, q_block(pricer.hw, s))],
                _ if gathered => gathered_plans(pricer, s, sched)
                    .into_iter()
                    .map(|t| (t.tc, t.q_block))
                    .collect(),
                _ => q_block_candidates(pricer.hw, s)
                    .into_iter()
                    .flat_map(|q| tc_candidates(s.seq_k).into_iter().map(move |tc| (tc, q)))
                    .collect(),
            };
            let khats = match sched {
                Schedule::Dense => vec![KhatPlacement::None],
                Schedule::Staged => vec![KhatPlacement::Spill],
                Schedule::Cct if gathered => vec![KhatPlacement::Spill],
                Schedule::Cct => vec![KhatPlacement::Recompute, KhatPlacement::Spill],
            };
            (sched, tcs, khats)
        })
        .collect()
}

/// The winning candidate under `pin`, by enumeration (`None`: no plan lowers).
fn brute_force(pricer: &Pricer<'_>, s: &LayerShape, pin: &Pin) -> Option<(Key, LayerCost)> {
    let hw = pricer.hw;
    let kvs: Vec<KvSource> = match pin.kv {
        Some(k) => vec![k],
        None => vec![KvSource::OnDemand, KvSource::Preload, KvSource::Gathered],
    };
    let mut all: Vec<(Key, LayerCost)> = Vec::new();
    for &kv in &kvs {
        for (sched, tcs, khats) in space(pricer, s, pin, kv) {
            for &(tc, q) in &tcs {
                for &khat in &khats {
                    let c = Candidate {
                        tc,
                        q_block: q,
                        khat,
                    };
                    let gathered = kv == KvSource::Gathered;
                    if !gathered && !fits(hw, s, sched, &c) {
                        continue;
                    }
                    // A gathered plan the lowering cannot emit is no candidate.
                    let Ok(cost) = pricer.cost(s, sched, pin.ablate, c, kv) else {
                        assert!(gathered, "{sched:?} Tc {tc} {kv:?}");
                        continue;
                    };
                    let key = (
                        cost.dram_bytes(),
                        cost.latency,
                        cost.energy_total(),
                        Reverse(q),
                        tc,
                        khat,
                        kv,
                        sched,
                    );
                    all.push((key, cost));
                }
            }
        }
    }
    let fastest = all.iter().map(|(k, _)| k.1).min()?;
    let within = fastest + fastest * pin.latency_slack_pct / 100;
    all.into_iter()
        .filter(|(k, _)| k.1 <= within)
        .min_by(|a, b| a.0.cmp(&b.0))
}

fn pins() -> Vec<(&'static str, Pin)> {
    let none = Ablation::default();
    let preload = Pin {
        kv: Some(KvSource::Preload),
        ..Pin::new(Schedule::Cct, none)
    };
    let kv_free = Pin {
        kv: None,
        ..Pin::new(Schedule::Cct, none)
    };
    let latency_only = Pin {
        kv: None,
        latency_slack_pct: 0,
        ..Pin::new(Schedule::Cct, none)
    };
    vec![
        ("default", Pin::new(Schedule::Cct, none)),
        ("latency only", latency_only),
        ("staged", Pin::new(Schedule::Staged, none)),
        ("dense", Pin::new(Schedule::Dense, none)),
        ("cct preload", preload),
        ("cct kv free", kv_free),
        (
            "sads,sufa",
            Pin::new(Schedule::Cct, Ablation::parse("sads,sufa").unwrap()),
        ),
        (
            "dlzs staged",
            Pin::new(Schedule::Staged, Ablation::parse("dlzs").unwrap()),
        ),
        ("nothing pinned", Pin::any(none)),
    ]
}

fn check(what: &str, l: &PlannedLayer, key: &Key, cost: &LayerCost) {
    let p: &LayerPlan = &l.plan;
    let (.., Reverse(q), tc, khat, kv, sched) = *key;
    assert_eq!(
        (p.schedule, p.tc, p.q_block, p.khat, p.kv),
        (sched, tc, q, khat, kv),
        "{what} layer {}",
        l.index
    );
    assert_eq!(&p.cost, cost, "{what} layer {}", l.index);
}

#[test]
fn schedule_extraction_equals_the_brute_force_minimum_for_every_workload_and_pin() {
    let hw = HwConfig::default();
    let pricer = Pricer::new(&hw, &LoweredHeads);
    let files = workloads();
    assert_eq!(files.len(), 8);
    for path in &files {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        for keep in [0.25, 1.0] {
            let m = module(path, keep);
            for (pin_name, pin) in pins() {
                let what = format!("{name} keep {keep} {pin_name}");
                let planned = plan_module(&m, &pricer, &pin);
                let shape0 = LayerShape::of(
                    &m,
                    sofa_compiler::passes::sparsify::attention_layers(&m)[0],
                    0,
                )
                .unwrap();
                if brute_force(&pricer, &shape0, &pin).is_none() {
                    // Nothing lowers (e.g. the sads ablation of long rows): no plan either.
                    assert!(planned.is_err(), "{what}");
                    continue;
                }
                let layers = planned.unwrap();
                assert!(!layers.is_empty(), "{what}");
                // Layers of one shape share a plan: brute-force each shape once.
                let mut seen = BTreeMap::new();
                for l in &layers {
                    let (key, cost, staged): &mut (Key, LayerCost, LayerCost) =
                        seen.entry(l.shape.key()).or_insert_with(|| {
                            let (key, cost) = brute_force(&pricer, &l.shape, &pin).unwrap();
                            let staged_pin = Pin {
                                schedule: Some(Schedule::Staged),
                                ..pin
                            };
                            let staged = brute_force(&pricer, &l.shape, &staged_pin).unwrap();
                            (key, cost, staged.1)
                        });
                    check(&what, l, key, cost);
                    assert_eq!(&l.staged, staged, "{what}");
                }
            }
        }
    }
}

#[test]
fn schedule_default_entry_points_pin_cct_with_kv_gathered() {
    let hw = HwConfig::default();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../workloads/gpt2.toml");
    let m = module(&path, 0.25);
    let pin = driver::pin(&Target::default());
    assert_eq!(pin, Pin::new(Schedule::Cct, Ablation::default()));
    let via_plan = plan_module(&m, &Pricer::new(&hw, &LoweredHeads), &pin).unwrap();
    assert!(via_plan
        .iter()
        .all(|l| (l.plan.schedule, l.plan.kv) == (Schedule::Cct, KvSource::Gathered)));
    // Every layer after the first reuses layer 0's e-graph (one shape).
    assert!(via_plan[1..]
        .iter()
        .all(|l| l.choice.shared_with == Some(0)));
    assert_eq!(via_plan[0].choice.shared_with, None);
}
