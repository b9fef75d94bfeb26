//! `cargo bench --bench sim_throughput`: how fast the SOFA simulator runs.
//!
//! Two runs, each reporting instructions per second of wall time and the ratio of simulated
//! chip time to wall time:
//! 1. **Fixture, functional**: `bert_sdpa_ts_op17.onnx` (a 2-layer BERT, from
//!    `$SOFA_MODELS_DIR`, else the repository's copy `tests/fixtures/models`) with its
//!    recorded inputs, compiled as `sofa run MODEL --keep-ratio 0.25` does (import with the
//!    inputs' dims bound, the driver's model pipeline, `lower_model`) and simulated on data.
//!    Median of `RUNS` simulations.
//! 2. **Llama-7B, timing-only**: `workloads/llama-7b.toml` at keep 0.25 compiled and lowered
//!    as `sofa run --workload` does (the driver's workload pipeline) and simulated without
//!    data, as
//!    `sofa run --workload workloads/llama-7b.toml --timing-only --keep-ratio 0.25`. One run
//!    (about 4.5·10⁷ instructions, several GB of memory); `SOFA_BENCH_LAYERS=N` simulates only
//!    the first N layers.
//!
//! 3. **Llama-7B as `sofa run --workload … --timing-only`** does it: lower and simulate one and two
//!    layers, extrapolate to 32 (`sofa_runtime::sim::extrapolate_layers`); wall time end to end
//!    against the 2 s target, and the cct vs staged DRAM bytes and cycles of the result.
//!
//! Exit code 1 when a step fails (the message names it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sofa::npz::read_npz;
use sofa_compiler::driver::{self, Target};
use sofa_compiler::onnx::{import_file, ImportOptions};
use sofa_compiler::schedule::Schedule;
use sofa_compiler::workload::{load_spec, WorkloadSpec};
use sofa_ir::eval::Tensor;
use sofa_ir::hw::HwConfig;
use sofa_ir::isa::Program;
use sofa_ir::{Dim, Location, Module};
use sofa_runtime::host::program_inputs;
use sofa_runtime::sim::{extrapolate_layers, simulate, Mode, Report, SimOptions};

const RUNS: usize = 21;
const KEEP: f64 = 0.25;
const FIXTURE: &str = "bert_sdpa_ts_op17";

type Fallible<T> = Result<T, String>;
/// A named benchmark step.
type Step = (&'static str, fn(&HwConfig) -> Fallible<()>);

fn main() {
    let hw = HwConfig::default();
    let steps: [Step; 3] = [
        ("fixture (functional)", fixture_run),
        ("llama-7b as sofa run (extrapolated)", llama_cli_run),
        ("llama-7b (timing-only, every layer)", llama_run),
    ];
    for (name, step) in steps {
        if let Err(e) = step(&hw) {
            eprintln!("sim_throughput: {name}: {e}");
            std::process::exit(1);
        }
    }
}

/// `$SOFA_MODELS_DIR`, the repository's fixture copy or the bundled example, whichever has it.
fn fixture_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        std::env::var_os("SOFA_MODELS_DIR").map(PathBuf::from),
        Some(root.join("tests/fixtures/models")),
        Some(root.join("examples/bert")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|d| d.join(format!("{FIXTURE}.onnx")).is_file())
        .unwrap_or_else(|| root.join("examples/bert"))
}

/// Named dims of `@main`'s arguments bound to the sizes of the same axes of `arrays`.
fn bindings(m: &Module, arrays: &BTreeMap<String, Tensor>) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let Some(func) = m.funcs().into_iter().next() else {
        return out;
    };
    let Some(entry) = m.entry_block(func) else {
        return out;
    };
    let block = &m.blocks[entry];
    for (&arg, loc) in block.args.iter().zip(&block.arg_locs) {
        let (Location::Name(name), Some(t)) = (loc, m.value_type(arg).as_tensor()) else {
            continue;
        };
        let Some(x) = arrays.get(name) else { continue };
        for (d, &size) in t.dims.iter().zip(x.shape()) {
            if let Dim::Named(n) = d {
                out.insert(n.clone(), size as u64);
            }
        }
    }
    out
}

fn target(hw: &HwConfig, schedule: Schedule) -> Target {
    Target {
        hw: hw.clone(),
        keep: Some(KEEP),
        schedule,
        ..Target::default()
    }
}

/// Import with the inputs' dims bound, run the driver's model pipeline, lower to one program.
fn compile_fixture(
    hw: &HwConfig,
    onnx: &Path,
    arrays: &BTreeMap<String, Tensor>,
) -> Fallible<Program> {
    let probe = import_file(onnx, &ImportOptions::default()).map_err(|e| e.to_string())?;
    let t = target(hw, Schedule::Cct);
    let m = driver::compile_onnx(onnx, &bindings(&probe, arrays), &t).map_err(|e| e.to_string())?;
    let (p, _) = driver::lower_model(&m, &t).map_err(|e| e.to_string())?;
    p.check(hw)
        .map_err(|e| format!("{} check errors, first: {}", e.len(), e[0]))?;
    Ok(p)
}

/// A workload spec compiled and lowered as `sofa run --workload` does.
fn workload_program(hw: &HwConfig, spec: &WorkloadSpec, schedule: Schedule) -> Fallible<Program> {
    let t = target(hw, schedule);
    let m = driver::compile_workload(spec, &t).map_err(|e| e.to_string())?;
    driver::lower_workload(&m, &t).map_err(|e| e.to_string())
}

/// One line: instructions per second and simulated time against wall time.
fn print_rate(what: &str, r: &Report, wall: Duration) {
    let secs = wall.as_secs_f64().max(1e-9);
    let simulated = r.time_us * 1e-6;
    println!(
        "{what}: {} instructions, {} simulated cycles ({:.3} ms of chip time) in {:.3} ms wall: \
         {:.2} M instructions/s, simulated/wall time {:.3e} (wall = {:.2}× simulated)",
        r.instructions,
        r.total_cycles,
        simulated * 1e3,
        secs * 1e3,
        r.instructions as f64 / secs / 1e6,
        simulated / secs,
        secs / simulated.max(1e-12)
    );
}

fn fixture_run(hw: &HwConfig) -> Fallible<()> {
    let dir = fixture_dir();
    let onnx = dir.join(format!("{FIXTURE}.onnx"));
    let arrays = read_npz(&dir.join(format!("{FIXTURE}.input.npz"))).map_err(|e| e.to_string())?;
    let t = Instant::now();
    let program = compile_fixture(hw, &onnx, &arrays)?;
    let compile = t.elapsed();
    let inputs = program_inputs(&program, &arrays).map_err(|e| e.to_string())?;
    let opts = SimOptions::default();
    let mut times = Vec::with_capacity(RUNS);
    let mut report = None;
    for _ in 0..RUNS {
        let t = Instant::now();
        let out = simulate(&program, hw, &inputs, &opts).map_err(|e| e.to_string())?;
        times.push(t.elapsed());
        report = Some(out.report);
    }
    times.sort();
    let report = report.ok_or("no run")?;
    println!(
        "{}, keep {KEEP}: compiled in {:.1} ms; median of {RUNS} functional runs:",
        onnx.display(),
        compile.as_secs_f64() * 1e3
    );
    print_rate("  functional", &report, times[RUNS / 2]);
    Ok(())
}

fn llama_run(hw: &HwConfig) -> Fallible<()> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("workloads/llama-7b.toml");
    let mut spec = load_spec(&path).map_err(|e| e.to_string())?;
    spec.keep_ratio = KEEP;
    if let Some(n) = std::env::var("SOFA_BENCH_LAYERS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        spec.layers = spec.layers.min(n);
    }
    let t = Instant::now();
    let program = workload_program(hw, &spec, Schedule::Cct)?;
    let lowered = t.elapsed();
    let opts = SimOptions {
        mode: Mode::TimingOnly,
        ..SimOptions::default()
    };
    let t = Instant::now();
    let out = simulate(&program, hw, &BTreeMap::new(), &opts).map_err(|e| e.to_string())?;
    let wall = t.elapsed();
    println!(
        "{} ({} layers), keep {KEEP}: lowered in {:.2} s; one timing-only run:",
        path.display(),
        spec.layers,
        lowered.as_secs_f64()
    );
    print_rate("  timing-only", &out.report, wall);
    Ok(())
}

/// `sofa run --workload workloads/llama-7b.toml --timing-only` for one schedule: lower and
/// simulate 1 and 2 layers, extrapolate to all.
fn llama_extrapolated(hw: &HwConfig, schedule: Schedule) -> Fallible<Report> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("workloads/llama-7b.toml");
    let spec = load_spec(&path).map_err(|e| e.to_string())?;
    let opts = SimOptions {
        mode: Mode::TimingOnly,
        ..SimOptions::default()
    };
    let mut reports = Vec::new();
    for layers in [1, 2] {
        let mut short = spec.clone();
        short.layers = layers;
        let program = workload_program(hw, &short, schedule)?;
        let out = simulate(&program, hw, &BTreeMap::new(), &opts).map_err(|e| e.to_string())?;
        reports.push(out.report);
    }
    extrapolate_layers(&reports[0], &reports[1], spec.layers).map_err(|e| e.to_string())
}

fn llama_cli_run(hw: &HwConfig) -> Fallible<()> {
    let t = Instant::now();
    let cct = llama_extrapolated(hw, Schedule::Cct)?;
    let wall = t.elapsed();
    println!(
        "llama-7b (32 layers, S=4096, keep {KEEP}) as `sofa run --workload --timing-only`: \
         {:.2} s wall (target 2 s, {:.2}x of it); {} instructions, {} simulated cycles",
        wall.as_secs_f64(),
        wall.as_secs_f64() / 2.0,
        cct.instructions,
        cct.total_cycles
    );
    match llama_extrapolated(hw, Schedule::Staged) {
        Ok(staged) => {
            let bytes = |r: &Report| r.dram.read_bytes + r.dram.written_bytes;
            println!(
                "  cct vs staged: DRAM {} vs {} bytes ({:+.1}%), cycles {} vs {} ({:+.1}%)",
                bytes(&cct),
                bytes(&staged),
                pct(bytes(&cct), bytes(&staged)),
                cct.total_cycles,
                staged.total_cycles,
                pct(cct.total_cycles, staged.total_cycles)
            );
        }
        Err(e) => println!("  staged does not lower at this size: {e}"),
    }
    Ok(())
}

fn pct(ours: u64, base: u64) -> f64 {
    if base == 0 {
        0.0
    } else {
        (ours as f64 / base as f64 - 1.0) * 100.0
    }
}
