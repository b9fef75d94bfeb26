//! A model lowered into an `InstrSink` and simulated timing-only piece by piece
//! (`simulate_timing_pieces`, what `sofa run MODEL.onnx --timing-only` runs) reports exactly
//! what the whole program reports, roofline layers included, with one piece per lowered op;
//! and on the command line the streamed run's report file equals the in-memory run's (the one
//! `--trace` takes).

mod common;
use common::cli::{ok, s, scratch};
use common::*;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

use sofa_compiler::driver::{self, Target};
use sofa_compiler::lower::model::InstrSink;
use sofa_ir::isa::Instr;
use sofa_runtime::sim::{
    simulate, simulate_timing_pieces, Mode, RooflineRequest, SimError, SimOptions,
};

/// Every hand-on of the lowering as its own piece.
#[derive(Default)]
struct Pieces(Vec<Vec<Instr>>);

impl InstrSink for Pieces {
    fn take(&mut self, instrs: &[Instr]) -> std::io::Result<()> {
        self.0.push(instrs.to_vec());
        Ok(())
    }

    fn batch(&self) -> usize {
        1
    }
}

fn options(work: RooflineRequest) -> SimOptions {
    SimOptions {
        mode: Mode::TimingOnly,
        trace: false,
        regions: Vec::new(),
        roofline: Some(work),
    }
}

#[test]
fn piecewise_timing_equals_the_whole_program() {
    for name in [
        "gpt2_sdpa_ts_op17",
        "qwen2_gqa_rope_sdpa_dynamo_op18",
        "bert_int8dyn_ts_op17",
    ] {
        let target = Target {
            keep: Some(0.25),
            ..Target::default()
        };
        let bindings = BTreeMap::from([("batch".to_string(), 2), ("seq".to_string(), 64)]);
        let module = driver::compile_onnx(&fixture(name, "onnx"), &bindings, &target).unwrap();
        let whole = driver::lower_model_mapped(&module, &target).unwrap();
        let mut sink = Pieces::default();
        let streamed = driver::lower_model_streamed(&module, &target, &mut sink).unwrap();
        assert_eq!(streamed.count, whole.program.instrs.len(), "{name}");
        assert_eq!(streamed.layer_instrs, whole.layer_instrs, "{name}");
        assert!(sink.0.len() > 10, "{name}: {} pieces", sink.0.len());
        let request = |l: &driver::Lowered| RooflineRequest {
            work: l.roofline.clone(),
            layer_instrs: l.layer_instrs.clone(),
        };
        let want = simulate(
            &whole.program,
            &target.hw,
            &BTreeMap::new(),
            &options(request(&whole)),
        )
        .unwrap()
        .report;
        let mut pieces = sink.0.into_iter();
        let mut next = || Ok::<_, SimError>(pieces.next());
        let got = simulate_timing_pieces(
            &streamed.head,
            streamed.count,
            &target.hw,
            &options(request(&whole)),
            &mut next,
            &AtomicU64::new(0),
        )
        .unwrap()
        .report;
        assert_eq!(got, want, "{name}");
        assert!(got.roofline.is_some(), "{name}");
    }
}

#[test]
fn the_streamed_run_reports_what_the_in_memory_run_does() {
    let dir = scratch("sim-pieces", "cli");
    let (streamed, whole, trace) = (dir.join("s.json"), dir.join("w.json"), dir.join("t.json"));
    let model = s(&fixture("qwen2_gqa_rope_sdpa_dynamo_op18", "onnx"));
    let run = |extra: &[&str]| {
        let mut args = vec!["run", &model, "--shape", "batch=2,seq=64", "--timing-only"];
        args.extend(["--keep-ratio", "0.25"]);
        args.extend(extra);
        ok(&args);
    };
    run(&["--report", &s(&streamed)]);
    // --trace needs a slot per instruction: that run holds the whole program.
    run(&["--report", &s(&whole), "--trace", &s(&trace)]);
    let (a, b) = (
        std::fs::read(&streamed).unwrap(),
        std::fs::read(&whole).unwrap(),
    );
    assert!(a == b, "the two reports differ");
    assert!(String::from_utf8(a).unwrap().contains("\"roofline\""));
}
