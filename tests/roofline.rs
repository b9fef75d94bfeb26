//! The roofline (`docs/roofline.md`) on real programs: no bound exceeds what a simulated program
//! achieves (a bound above the achieved cycles or bytes would be wrong), `sofa run` and
//! `sofa bench roofline` report the same figures, schedule-json's predictions stay above their
//! bounds, and the bench table of a small set is pinned (insta).

mod common;
use common::*;

use std::collections::BTreeMap;
use std::path::PathBuf;

use sofa_bench::roofline::{
    model_report, run, workload_report, ModelCase, RooflineOptions, ROOFLINE_WORKLOADS,
};
use sofa_compiler::driver::Target;
use sofa_compiler::workload::load_spec;
use sofa_runtime::sim::{Report, RooflineRow};

fn workload(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/workloads")).join(format!("{name}.toml"))
}

/// The recorded inputs' shapes (`.input.npz`): two sequences of 8 tokens, or two 32×32 images.
const RECORDED: [(&str, u64); 2] = [("batch", 2), ("seq", 8)];

/// Every fixture of the models directory, at its recorded shapes.
fn fixtures() -> Vec<ModelCase> {
    let mut names: Vec<String> = std::fs::read_dir(models_dir())
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "onnx").then(|| p.file_stem().unwrap().to_string_lossy().into())
        })
        .collect();
    names.sort();
    let bindings: BTreeMap<String, u64> =
        RECORDED.iter().map(|&(n, v)| (n.to_string(), v)).collect();
    names
        .into_iter()
        .map(|name| ModelCase {
            path: fixture(&name, "onnx"),
            name,
            bindings: bindings.clone(),
        })
        .collect()
}

fn target(keep: f64) -> Target {
    RooflineOptions {
        keep,
        ..RooflineOptions::paper()
    }
    .target()
}

/// Every row of `r`'s roofline: bound ≤ achieved cycles, DRAM lower bound ≤ DRAM bytes.
fn assert_bounded(what: &str, r: &Report) {
    let roof = r
        .roofline
        .as_ref()
        .unwrap_or_else(|| panic!("{what}: no roofline"));
    assert!(!roof.layers.is_empty(), "{what}: no layers");
    let rows: Vec<&RooflineRow> = roof.layers.iter().chain([&roof.program]).collect();
    for row in rows {
        assert!(
            row.bound_cycles <= row.achieved_cycles && row.efficiency <= 1.0,
            "{what} {}: bound {} ({}) above achieved {}",
            row.name,
            row.bound_cycles,
            row.binding,
            row.achieved_cycles
        );
        assert!(
            row.dram_lower_bound.bytes <= row.dram_bytes,
            "{what} {}: DRAM lower bound {} above {} bytes moved",
            row.name,
            row.dram_lower_bound.bytes,
            row.dram_bytes
        );
    }
    assert_eq!(roof.program.achieved_cycles, r.total_cycles, "{what}");
}

#[test]
fn the_recorded_shapes_are_those_of_the_inputs() {
    for case in fixtures() {
        let inputs = sofa::npz::read_npz(&fixture(&case.name, "input.npz")).unwrap();
        for t in inputs.values() {
            assert_eq!(t.shape()[0], 2, "{} batch", case.name);
            if t.shape().len() == 2 {
                assert_eq!(t.shape()[1], 8, "{} seq", case.name);
            }
        }
    }
}

#[test]
fn no_fixture_beats_its_bounds_at_keep_quarter_and_one() {
    for keep in [0.25, 1.0] {
        for case in fixtures() {
            let r = model_report(&case, &target(keep)).unwrap();
            assert_bounded(&format!("{} keep {keep}", case.name), &r);
            let roof = r.roofline.unwrap();
            // The model's GEMMs are in the program's bound, not in the layers'.
            assert!(roof.program.work.gemm_macs > 0, "{}", case.name);
            assert!(roof.layers.iter().all(|l| l.work.gemm_macs == 0));
        }
    }
}

/// One layer of each paper workload (the layers of a spec are identical; the extrapolation is
/// checked field for field in `tests/sim_cli.rs` and below).
#[test]
fn no_workload_layer_beats_its_bounds_at_keep_quarter_and_one() {
    for keep in [0.25, 1.0] {
        for name in ROOFLINE_WORKLOADS {
            let mut spec = load_spec(&workload(name)).unwrap();
            spec.layers = 1;
            let r = workload_report(&spec, &target(keep)).unwrap();
            assert_bounded(&format!("{name} keep {keep}"), &r);
        }
    }
}

#[test]
fn sofa_run_and_the_bench_report_the_same_roofline() {
    let dir = std::env::temp_dir().join(format!("sofa-roofline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let spec = dir.join("w3.toml");
    std::fs::write(
        &spec,
        "name = \"three\"\nsource = \"test\"\nlayers = 3\nhidden = 128\nheads = 2\nseq = 300\n\
         causal = true\nkeep_ratio = 0.25\n",
    )
    .unwrap();
    let report = dir.join("r.json");
    let argv = [
        "sofa",
        "run",
        "--workload",
        spec.to_str().unwrap(),
        "--timing-only",
        "--keep-ratio",
        "0.25",
        "--report",
        report.to_str().unwrap(),
    ];
    assert_eq!(sofa::cli::run_with(argv), 0);
    let cli = std::fs::read_to_string(&report).unwrap();
    let bench = workload_report(&load_spec(&spec).unwrap(), &target(0.25)).unwrap();
    assert_eq!(cli, bench.to_json().unwrap());
    // The table folds identical layers into one line.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sofa"))
        .args(["run", "--workload", spec.to_str().unwrap(), "--timing-only"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("(+2 identical layers, to three/layer2/attention)"),
        "{table}"
    );
    std::fs::remove_dir_all(&dir).ok();
    let back = Report::from_json(&cli).unwrap();
    let roof = back.roofline.unwrap();
    assert_eq!(roof.layers.len(), 3);
    assert_eq!(roof.layers[2].name, "three/layer2/attention");
    // Layers 1 and 2 are the same segment, one layer later.
    let (a, b) = (&roof.layers[1], &roof.layers[2]);
    assert_eq!(a.achieved_cycles, b.achieved_cycles);
    assert_eq!(b.first_instr - a.first_instr, a.end_instr - a.first_instr);
}

#[test]
fn schedule_json_predicts_no_fewer_cycles_than_the_bound() {
    for name in ROOFLINE_WORKLOADS {
        let spec = load_spec(&workload(name)).unwrap();
        let t = target(0.25);
        let m = sofa_compiler::driver::compile_workload(&spec, &t).unwrap();
        let text = sofa_compiler::driver::schedule_json(&m, &t, name).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["version"], 2);
        let total = &doc["totals"]["roofline"];
        let bound = total["bound_cycles"].as_u64().unwrap();
        let predicted = total["predicted_cycles"].as_u64().unwrap();
        assert!(
            bound > 0 && bound <= predicted,
            "{name}: {bound} > {predicted}"
        );
        assert_eq!(
            doc["layers"][0]["roofline"]["predicted_cycles"],
            doc["layers"][0]["latency_cycles"]
        );
    }
}

/// `sofa bench roofline` of every fixture and one BERT-base layer, pinned.
#[test]
fn roofline_table_snapshot() {
    let dir = std::env::temp_dir().join(format!("sofa-roofline-snap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("table.txt");
    let mut only = vec!["bert-base".to_string()];
    only.extend(fixtures().into_iter().map(|c| c.name));
    let only = only.join(",");
    let models = models_dir();
    let argv = [
        "sofa",
        "bench",
        "roofline",
        "--only",
        &only,
        "--layers",
        "1",
        "--models",
        models.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ];
    assert_eq!(sofa::cli::run_with(argv), 0);
    let text = std::fs::read_to_string(&out).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    insta::assert_snapshot!("roofline_table", text);
    // Forcing the cost model labels the row and still bounds it.
    let priced = run(&RooflineOptions {
        workloads: vec![workload("bert-base")],
        layers: Some(1),
        max_sim_instrs: 0,
        ..RooflineOptions::paper()
    })
    .unwrap();
    let row = &priced.rows[0];
    assert_eq!(row.source.name(), "model");
    assert!(row.bound_cycles <= row.achieved_cycles);
    assert!(priced.render_json().contains("\"source\": \"model\""));
}

#[test]
fn the_command_refuses_unknown_rows_and_bad_keep_ratios() {
    let argv = ["sofa", "bench", "roofline", "--only", "no-such-row"];
    assert_eq!(sofa::cli::run_with(argv), 2);
    let argv = ["sofa", "bench", "roofline", "--keep-ratio", "0"];
    assert_eq!(sofa::cli::run_with(argv), 2);
    let dir = std::env::temp_dir().join(format!("sofa-roofline-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("r.json");
    let argv = [
        "sofa",
        "bench",
        "roofline",
        "--only",
        "vit_sdpa_ts_op17",
        "--json",
        "-o",
        out.to_str().unwrap(),
    ];
    assert_eq!(sofa::cli::run_with(argv), 0);
    let json = std::fs::read_to_string(&out).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert!(json.starts_with("{\n  \"format\": \"sofa-bench-roofline\",\n  \"version\": 1,"));
    assert!(json.contains("\"name\": \"vit_sdpa_ts_op17\""));
}
