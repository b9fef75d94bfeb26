//! Every developer fixture (the eight float ones and the int8 one) runs on the chip: compiled
//! as `sofa run` compiles it (host fallback allowed), at least 99% of its multiply-accumulates
//! run on the chip, and in fact no op is left to the host.

mod common;
use common::*;

use std::collections::BTreeMap;

use sofa_compiler::driver::{compile_onnx, lower_model, Target};
use sofa_runtime::sim::{simulate, Mode, SimOptions};

/// The fixture's recorded first case: batch 2, 8 tokens (ViT: batch 2 of 32×32 images).
fn bindings(name: &str) -> BTreeMap<String, u64> {
    let mut b = BTreeMap::from([("batch".to_string(), 2)]);
    if !name.starts_with("vit") {
        b.insert("seq".into(), 8);
    }
    b
}

#[test]
fn every_fixture_runs_its_macs_on_the_chip() {
    let target = Target::default();
    let names = FIXTURES.iter().copied().chain(["bert_int8dyn_ts_op17"]);
    for name in names {
        let m = compile_onnx(&fixture(name, "onnx"), &bindings(name), &target)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let (p, _) = lower_model(&m, &target).unwrap_or_else(|e| panic!("{name}: {e}"));
        let opts = SimOptions {
            mode: Mode::TimingOnly,
            ..SimOptions::default()
        };
        let r = simulate(&p, &target.hw, &BTreeMap::new(), &opts)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .report;
        assert!(r.macs.chip > 0, "{name}: no MACs counted on the chip");
        assert!(
            r.macs.chip_share >= 0.99,
            "{name}: {:.4} of the MACs on the chip",
            r.macs.chip_share
        );
        assert_eq!(r.host.ops, 0, "{name}: host ops {:?}", r.host.op_types);
    }
}
