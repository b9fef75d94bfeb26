//! `cargo bench --bench compile_workload`: time to produce the schedule-json of Llama-7B (32
//! layers, S = 4096, keep 0.25): IR build, sparsify, the per-layer plan search and rendering.
//!
//! Target (issue 4): under 1 s in release mode. The figure is the median of `RUNS` runs.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use sofa_compiler::schedule::json::workload_schedule_json;
use sofa_compiler::schedule::{Ablation, Schedule};
use sofa_compiler::workload::load_spec;
use sofa_ir::hw::HwConfig;

const RUNS: usize = 11;
const TARGET: Duration = Duration::from_secs(1);

fn main() {
    let path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/workloads/llama-7b.toml"
    ));
    let spec = match load_spec(&path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let hw = HwConfig::default();
    let mut times = Vec::with_capacity(RUNS);
    let mut bytes = 0;
    for _ in 0..RUNS {
        let t = Instant::now();
        match workload_schedule_json(&spec, &hw, Some(0.25), Schedule::Cct, Ablation::default()) {
            Ok(text) => bytes = text.len(),
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        }
        times.push(t.elapsed());
    }
    times.sort();
    let median = times[RUNS / 2];
    let verdict = if median < TARGET { "ok" } else { "OVER TARGET" };
    println!(
        "llama-7b schedule-json ({bytes} bytes): median {:.3} ms over {RUNS} runs, target {} ms: {verdict}",
        median.as_secs_f64() * 1e3,
        TARGET.as_millis()
    );
}
