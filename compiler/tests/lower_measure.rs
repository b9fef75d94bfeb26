//! Paper-scale instruction counts (ignored; run with `--ignored --nocapture`).
use sofa_compiler::lower::{lower_attention, LowerOptions};
use sofa_compiler::schedule::Schedule;
use sofa_compiler::workload::{build_module, load_spec};
use sofa_ir::hw::HwConfig;

#[test]
#[ignore]
fn llama_7b_counts() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../workloads/llama-7b.toml");
    let m = build_module(&load_spec(&dir).unwrap()).unwrap();
    let hw = HwConfig::default();
    for (schedule, keep) in [
        (Schedule::Cct, 1.0),
        (Schedule::Cct, 0.25),
        (Schedule::Dense, 1.0),
        (Schedule::Staged, 0.25),
    ] {
        let opts = LowerOptions {
            schedule,
            keep_ratio: Some(keep),
            q_block: None,
        };
        let p = lower_attention(&m, &hw, &opts).unwrap();
        eprintln!(
            "llama-7b {schedule:?} keep {keep}: {} instructions",
            p.instrs.len()
        );
    }
}

#[test]
#[ignore]
fn llama_fit() {
    use sofa_compiler::lower::buffers::{default_tiles, fit};
    use sofa_compiler::lower::Layer;
    let hw = HwConfig::default();
    for (schedule, keep) in [
        (Schedule::Cct, 1.0),
        (Schedule::Cct, 0.25),
        (Schedule::Dense, 1.0),
    ] {
        let mut l = Layer {
            name: "l".into(),
            schedule,
            batch: 1,
            heads: 32,
            kv_heads: 32,
            seq_q: 4096,
            seq_k: 4096,
            d: 128,
            causal: true,
            keep,
            tc: 32,
            tc_fixed: false,
            bc: 128,
            q_block: 128,
            radius: f32::INFINITY,
            dt: sofa_ir::isa::DType::F16,
            scale: 1.0,
            mask: None,
            q: 0,
            k: 0,
            v: 0,
            o: 0,
            spill_ahat: 0,
            spill_a: 0,
        };
        default_tiles(&hw, &mut l, false);
        let f = fit(&hw, &l).unwrap();
        eprintln!(
            "{schedule:?} keep {keep}: tc {} bc {} rows {} depth {} merge {:?}",
            l.tc, l.bc, f.rows_cap, f.depth, f.merge
        );
        for tc in [16u64, 32, 64] {
            let mut c = l.clone();
            c.tc = tc;
            c.bc = 4096 / tc;
            let f = fit(&hw, &c).unwrap();
            eprintln!(
                "   tc {tc}: rows {} depth {} merge {:?}",
                f.rows_cap, f.depth, f.merge
            );
        }
    }
}
