//! The paper benchmark (`sofa_bench::paper`): each measurement against a stated threshold.
//! Thresholds are on the figures, never on timing. The command itself: `tests/cli_bench.rs`.

use std::path::PathBuf;

use sofa_bench::paper::complexity::{self, VARIANTS};
use sofa_bench::paper::selection;
use sofa_bench::paper::synth::Synthetic;
use sofa_bench::paper::workload::Workload;
use sofa_bench::paper::{dram, rass, utilisation, PaperOptions};
use sofa_compiler::schedule::Schedule;
use sofa_ir::hw::HwConfig;
use sofa_ir::isa::Engine;

fn workloads() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../workloads"))
}

fn load(name: &str) -> Workload {
    Workload::load(&workloads(), name, 0.25).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn rass_toy_is_24_to_16_loads() {
    let toy = rass::measure(&HwConfig::default()).unwrap();
    assert_eq!(toy.naive, 24, "paper's naive order (queries in pairs)");
    assert_eq!(
        toy.rass, 16,
        "RASS on the simulator: 8 distinct keys, K + V each"
    );
    assert_eq!(
        toy.no_reuse, 32,
        "reuse=false issues all 16 (query, key) pairs"
    );
    let mut keys = toy.order.clone();
    keys.sort_unstable();
    assert_eq!(keys, (0..8).collect::<Vec<u32>>());
    // Keys shared by three queries (k2, k3, k4, k7) are issued first.
    let mut first: Vec<u32> = toy.order[..4].to_vec();
    first.sort_unstable();
    assert_eq!(first, vec![2, 3, 4, 7]);
}

#[test]
fn cct_moves_less_dram_than_staged() {
    let hw = HwConfig::default();
    for name in ["bert-base", "llama-7b"] {
        let f = dram::measure(&hw, &load(name)).unwrap();
        assert!(
            f.cct < f.rass_only,
            "{name}: cct {} ≥ staged {}",
            f.cct,
            f.rass_only
        );
        if let Ok(vanilla) = f.vanilla {
            assert!(
                f.rass_only < vanilla,
                "{name}: RASS does not reduce staged traffic"
            );
        }
    }
    // BERT-base's no-RASS baseline is priced; cct saves more than half of it.
    let f = dram::measure(&hw, &load("bert-base")).unwrap();
    assert!(f.cct_change().unwrap() < -50.0, "{:?}", f.cct_change());
    assert!(
        f.cct_vs_staged() < -5.0,
        "cct vs staged {}",
        f.cct_vs_staged()
    );
}

#[test]
fn complexity_falls_with_each_mechanism() {
    let hw = HwConfig::default();
    for name in ["bert-base", "gpt2", "pvt"] {
        let f = complexity::measure(&hw, &load(name)).unwrap();
        let totals: Vec<f64> = f.variants.iter().map(|(_, c)| c.total()).collect();
        for i in 1..totals.len() {
            assert!(
                totals[i] < totals[i - 1],
                "{name}: {} ({}) not below {} ({})",
                VARIANTS[i].0,
                totals[i],
                VARIANTS[i - 1].0,
                totals[i - 1]
            );
        }
        // Every reduction is real but stays a reduction of the three stages, not of K/V work.
        let all = f.change_pct(3);
        assert!(
            (-80.0..-5.0).contains(&all),
            "{name}: DLZS+SADS+SU-FA {all}%"
        );
        assert!(f.change_with_kvgen_pct(3) > all);
    }
    // BERT-base, the paper's main encoder: DLZS alone within 10 points of the paper's −18%.
    let f = complexity::measure(&hw, &load("bert-base")).unwrap();
    assert!(
        (f.change_pct(1) + 18.0).abs() < 10.0,
        "DLZS {}",
        f.change_pct(1)
    );
}

#[test]
fn complexity_walk_issues_the_cost_models_instructions() {
    let hw = HwConfig::default();
    for name in ["bert-base", "gpt2"] {
        let w = load(name);
        let heads = w.shape.batch * w.shape.heads;
        for (label, abl) in VARIANTS {
            let plan = w.plan(&hw, Schedule::Cct, abl).unwrap();
            let c = complexity::layer_complexity(&hw, &w.shape, &plan, abl, complexity::WEIGHTS);
            for (mnemonic, &n) in &c.instrs {
                let model = plan.cost.instrs.get(mnemonic).copied().unwrap_or(0);
                assert_eq!(n * heads, model, "{name} {label}: {mnemonic}");
            }
        }
    }
}

#[test]
fn sads_and_sufa_on_synthetic_rows() {
    let data = Synthetic::generate(64, 1024, 64, 7);
    let s = selection::measure(&data, 4, 0.25);
    // Paper ≈3% (S = 1024, n = 4, keep 25%); position-free scores give about 3.7%.
    assert!(
        s.sads_exact_pct > 0.5 && s.sads_exact_pct < 10.0,
        "{}",
        s.sads_exact_pct
    );
    assert!(s.sads_predicted_pct < 25.0, "{}", s.sads_predicted_pct);
    // Same attention from every update order; descending does the least bookkeeping.
    assert!(s.max_output_diff < 1e-9, "{}", s.max_output_diff);
    let (f, a, d) = (
        s.fa2.scalar.total(),
        s.ascending.scalar.total(),
        s.descending.scalar.total(),
    );
    assert!(d < f && d < a, "descending {d}, FA-2 {f}, ascending {a}");
    let cut = 100.0 * (f - d) as f64 / f as f64;
    assert!((10.0..40.0).contains(&cut), "descending vs FA-2 −{cut}%");
    // Ascending rescales at every key but a tile's first; descending only on max-assurance events.
    assert_eq!(s.ascending.rescales, 64 * 256 - 64 * 4);
    assert!(
        s.descending.rescales < 64 * 256 / 20,
        "{}",
        s.descending.rescales
    );
    // Deterministic: the same seed gives the same figures.
    assert_eq!(
        selection::measure(&Synthetic::generate(64, 1024, 64, 7), 4, 0.25),
        s
    );
}

#[test]
fn pe_utilisation_from_a_timing_only_run() {
    let u = utilisation::measure(&HwConfig::default(), &load("bert-base")).unwrap();
    let sufa = u.of(Engine::Sufa);
    assert!(sufa > 0.3 && sufa <= 1.0, "SU-FA utilisation {sufa}");
    assert!(u.instructions > 1000 && u.total_cycles > 0);
    // One BERT-base layer at keep 0.25: 12 heads × 512 rows × 128 keys × 32 cycles over
    // 128 lanes, plus 12 × 512 × 64 divides over the divide units.
    assert_eq!(u.sufa_bound, 199_680);
    let useful = u.sufa_useful();
    assert!(
        useful > 0.3 && useful <= sufa,
        "useful {useful}, busy {sufa}"
    );
}

#[test]
fn options_are_the_papers() {
    let o = PaperOptions::paper(workloads());
    assert_eq!((o.keep, o.seq, o.tiles, o.head_dim), (0.25, 1024, 4, 64));
    assert_eq!(o.hw, HwConfig::default());
}
