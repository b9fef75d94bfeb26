//! `cargo bench --bench compile_workload`: time to produce the schedule-json of Llama-7B (32
//! layers, S = 4096, keep 0.25) as `sofa compile --workload --emit schedule-json` does: IR
//! build, the driver's workload pipeline (sparsify, the per-layer plan search of cct-tile,
//! lower-to-sofa's kernels), pricing the recorded plans and rendering.
//!
//! Target (issue 4): under 1 s in release mode. The figure is the median of `RUNS` runs.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use sofa_compiler::driver::{self, Target};
use sofa_compiler::workload::load_spec;

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
    let target = Target {
        keep: Some(0.25),
        ..Target::default()
    };
    let mut times = Vec::with_capacity(RUNS);
    let mut bytes = 0;
    for _ in 0..RUNS {
        let t = Instant::now();
        let json = driver::compile_workload(&spec, &target)
            .and_then(|m| driver::schedule_json(&m, &target, &spec.name));
        match json {
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
