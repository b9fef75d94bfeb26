//! `cargo bench --bench import_fuse`: import + attention fusion time per fixture, next to the model
//! size, against a baseline measured in the same run (decoding the protobuf alone).
//!
//! Target (issue: ONNX frontend): import + fuse of each fixture under 50 ms in release mode.
//! Each figure is the median of `RUNS` runs.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use sofa_compiler::onnx::{import_model, load_model, ImportOptions};
use sofa_ir::dialect::DialectRegistry;
use sofa_ir::pass::{NoInstrumentation, PassManager};

const RUNS: usize = 21;
const PIPELINE: &str = sofa_compiler::driver::FRONT;
const TARGET: Duration = Duration::from_millis(50);
const FIXTURES: [&str; 9] = [
    "bert_sdpa_ts_op17",
    "bert_eager_ts_op17",
    "gpt2_sdpa_ts_op17",
    "gpt2_eager_ts_op17",
    "vit_sdpa_ts_op17",
    "vit_eager_ts_op17",
    "qwen2_gqa_rope_sdpa_dynamo_op18",
    "mistral_swa_eager_ts_op17",
    "bert_int8dyn_ts_op17",
];

fn models_dir() -> PathBuf {
    std::env::var_os("SOFA_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/models"
            ))
        })
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

/// (decode, import, fuse) medians for one model.
fn measure(path: &std::path::Path) -> (Duration, Duration, Duration) {
    let passes = sofa_compiler::passes::registry();
    let (mut decode, mut import, mut fuse) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let t = Instant::now();
        let loaded = load_model(path).expect("fixture loads");
        decode.push(t.elapsed());
        let t = Instant::now();
        let mut m = import_model(&loaded, &ImportOptions::default())
            .expect("fixture imports")
            .module;
        import.push(t.elapsed() + decode[decode.len() - 1]);
        let mut pm =
            PassManager::from_pipeline(DialectRegistry::with_core_dialects(), &passes, PIPELINE)
                .expect("pipeline");
        let t = Instant::now();
        pm.run(&mut m, &mut NoInstrumentation)
            .expect("pipeline runs");
        fuse.push(t.elapsed());
    }
    (median(decode), median(import), median(fuse))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let dir = models_dir();
    println!("import + fuse ('{PIPELINE}', verifier after each pass), median of {RUNS} runs");
    println!(
        "{:<32} {:>8} {:>11} {:>11} {:>9} {:>10} {:>12}  target",
        "fixture", "MB", "decode ms", "import ms", "fuse ms", "total ms", "x decode"
    );
    let mut worst = Duration::ZERO;
    for name in FIXTURES {
        let path = dir.join(format!("{name}.onnx"));
        let mb = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
        let (decode, import, fuse) = measure(&path);
        let total = import + fuse;
        worst = worst.max(total);
        println!(
            "{name:<32} {mb:>8.2} {:>11.3} {:>11.3} {:>9.3} {:>10.3} {:>12.1}  {}",
            ms(decode),
            ms(import),
            ms(fuse),
            ms(total),
            total.as_secs_f64() / decode.as_secs_f64().max(1e-9),
            if total < TARGET {
                "ok (< 50 ms)"
            } else {
                "MISSED (>= 50 ms)"
            }
        );
    }
    println!(
        "worst total: {:.3} ms ({:.1}% of the 50 ms target)",
        ms(worst),
        100.0 * worst.as_secs_f64() / TARGET.as_secs_f64()
    );
}
