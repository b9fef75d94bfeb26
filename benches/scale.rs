//! `cargo bench --bench scale`: a model at real size (issue 13) against onnxruntime on the same
//! files. Each step runs as its own process; the bench prints its wall time and its peak
//! memory (the resident-set high-water mark `wait4` reports for the child), and the ratio of
//! each to onnxruntime's session creation:
//! - onnxruntime: session creation alone; session creation and one run at the input's length;
//! - `sofa compile --shape batch=1,seq=S -o PROG.sofabin`;
//! - `sofa run --timing-only --shape batch=1,seq=S`;
//! - `sofa run --inputs input.npz --expected expected.npz --rtol 1e-4 --atol 1e-4` (functional,
//!   at the generator's input length; skipped without `expected.npz`).
//!
//! The model is a random-weight Llama-style export with external data written by
//! `scripts/gen-llama.py` (deterministic). Environment:
//! - `SOFA_SCALE_PRESET` (default `1b`; `gpt2-medium`, `tiny`): the generator's preset;
//! - `SOFA_SCALE_DIR` (default `target/scale/<preset>`): where the model is, generated there
//!   when `model.onnx` is missing (needs python3 with numpy, onnx and onnxruntime);
//! - `SOFA_SCALE_SEQ` (default 4096; 1024 for `gpt2-medium`): `S` above;
//! - `SOFA_SCALE_INPUT_SEQ` (default 16; 128 for `gpt2-medium`): the functional run's tokens,
//!   used when the model is generated;
//! - `SOFA_SCALE_CONFIG`: a hardware TOML for the sofa steps (`--config`), e.g. one with a
//!   larger `dram.capacity_bytes` where the program's tensors do not fit the paper's 8 GiB.
//!
//! The model's files are read once before the first step, so every step finds them in the page
//! cache. Not run by `cargo test`. Generating the 1B model writes about 5 GB.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sofa");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Session creation, then (with an input) one run; prints both times in seconds.
const ORT: &str = "import sys, time, numpy as np, onnxruntime as ort
t0 = time.perf_counter()
s = ort.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider'])
t1 = time.perf_counter()
if len(sys.argv) > 2:
    s.run(None, {'input_ids': np.load(sys.argv[2])['input_ids']})
print(f'{t1 - t0:.3f} {time.perf_counter() - t1:.3f}')";

/// One measured process.
struct Step {
    what: String,
    wall: Duration,
    peak_bytes: u64,
    ok: bool,
    stdout: String,
    stderr: String,
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// Runs `cmd` to completion, its output in temporary files (no pipe to fill), and reads its
/// peak resident set from `wait4`.
// The child is reaped by `wait4`, which std's `Child::wait` cannot replace (no rusage).
#[allow(clippy::zombie_processes)]
fn measure(what: &str, cmd: &mut Command, scratch: &Path) -> Step {
    let (out_path, err_path) = (scratch.join("stdout"), scratch.join("stderr"));
    let start = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).expect("scratch file"))
        .stderr(File::create(&err_path).expect("scratch file"))
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own child, not yet waited for; status and usage outlive the call.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert_eq!(rc, pid, "{what}: wait4 failed");
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    Step {
        what: what.to_string(),
        wall,
        // Linux reports ru_maxrss in KiB.
        peak_bytes: u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024,
        ok: libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        stdout: read(&out_path),
        stderr: read(&err_path),
    }
}

fn generate(dir: &Path, preset: &str, input_seq: &str, scratch: &Path) {
    eprintln!("scale: generating the {preset} model in {}", dir.display());
    let script = Path::new(ROOT).join("scripts/gen-llama.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script)
        .arg(dir)
        .args(["--preset", preset, "--seq", input_seq]);
    let s = measure("generate", &mut cmd, scratch);
    assert!(s.ok, "gen-llama failed:\n{}{}", s.stdout, s.stderr);
    eprint!("{}", s.stdout);
}

fn gib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1u32 << 30)
}

/// Read `path` once, so that it is in the page cache.
fn warm_page_cache(path: &Path) {
    if let Ok(mut f) = File::open(path) {
        let _ = std::io::copy(&mut f, &mut std::io::sink());
    }
}

fn main() {
    let preset = env_or("SOFA_SCALE_PRESET", "1b");
    let medium = preset == "gpt2-medium";
    let seq = env_or("SOFA_SCALE_SEQ", if medium { "1024" } else { "4096" });
    let input_seq = env_or("SOFA_SCALE_INPUT_SEQ", if medium { "128" } else { "16" });
    let dir = PathBuf::from(env_or(
        "SOFA_SCALE_DIR",
        &format!("{ROOT}/target/scale/{preset}"),
    ));
    let scratch = std::env::temp_dir().join(format!("sofa-scale-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let model = dir.join("model.onnx");
    if !model.exists() {
        generate(&dir, &preset, &input_seq, &scratch);
    }
    let (input, expected) = (dir.join("input.npz"), dir.join("expected.npz"));
    let data = dir.join("model.onnx.data");
    let file_bytes = std::fs::metadata(&data).map_or(0, |m| m.len());
    let shape = format!("batch=1,seq={seq}");
    let prog = scratch.join("model.sofabin");

    // Every step then reads the model from the page cache: the first one measured would
    // otherwise pay the disk for all of them.
    for f in [&model, &data] {
        warm_page_cache(f);
    }
    let mut steps = Vec::new();
    let py = |args: &[&Path]| {
        let mut c = Command::new("python3");
        c.arg("-c").arg(ORT).args(args);
        c
    };
    steps.push(measure(
        "onnxruntime: session",
        &mut py(&[&model]),
        &scratch,
    ));
    steps.push(measure(
        &format!("onnxruntime: session + run ({input_seq} tokens)"),
        &mut py(&[&model, &input]),
        &scratch,
    ));
    let config = std::env::var("SOFA_SCALE_CONFIG").ok();
    let sofa = |args: &[&str]| {
        let mut c = Command::new(BIN);
        c.args(args);
        if let Some(path) = &config {
            c.args(["--config", path]);
        }
        c
    };
    let m = model.display().to_string();
    steps.push(measure(
        &format!("sofa compile --shape {shape}"),
        &mut sofa(&[
            "compile",
            &m,
            "--shape",
            &shape,
            "-o",
            &prog.display().to_string(),
        ]),
        &scratch,
    ));
    steps.push(measure(
        &format!("sofa run --timing-only --shape {shape}"),
        &mut sofa(&["run", &m, "--timing-only", "--shape", &shape]),
        &scratch,
    ));
    if expected.exists() {
        let (i, e) = (input.display().to_string(), expected.display().to_string());
        steps.push(measure(
            &format!("sofa run functional ({input_seq} tokens, rtol/atol 1e-4)"),
            &mut sofa(&[
                "run",
                &m,
                "--inputs",
                &i,
                "--expected",
                &e,
                "--rtol",
                "1e-4",
                "--atol",
                "1e-4",
            ]),
            &scratch,
        ));
    }
    let _ = std::fs::remove_dir_all(&scratch);

    let session = steps[0].wall.as_secs_f64();
    println!(
        "scale: {} ({:.2} GiB of external data), on this machine's {} cores{}",
        model.display(),
        gib(file_bytes),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        config.map_or(String::new(), |c| format!(", sofa --config {c}"))
    );
    println!(
        "{:<62} {:>9} {:>11} {:>10} {:>9}",
        "step", "wall s", "vs session", "peak GiB", "vs file"
    );
    for s in &steps {
        println!(
            "{:<62} {:>9.2} {:>10.2}x {:>10.2} {:>8.2}x{}",
            s.what,
            s.wall.as_secs_f64(),
            s.wall.as_secs_f64() / session,
            gib(s.peak_bytes),
            s.peak_bytes as f64 / file_bytes.max(1) as f64,
            if s.ok { "" } else { "  FAILED" }
        );
    }
    for s in steps
        .iter()
        .filter(|s| !s.ok || s.what.contains("functional"))
    {
        let tail: Vec<&str> = s.stderr.lines().chain(s.stdout.lines()).collect();
        let from = tail.len().saturating_sub(3);
        println!("-- {}:\n{}", s.what, tail[from..].join("\n"));
    }
}
