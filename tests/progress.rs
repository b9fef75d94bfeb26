//! Progress on long work (`src/progress.rs`) through the real binary: a `sofa dse` sweep that
//! runs longer than a second draws its bar on a terminal (a pseudo-terminal from util-linux's
//! `script`), and draws nothing when stderr is a pipe or under `--quiet`.

mod common;
use common::cli::BIN;

use std::path::PathBuf;
use std::process::Command;

fn spec() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples/dse/bert-base.toml")
        .display()
        .to_string()
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("sofa-progress-{}-{name}", std::process::id()))
}

/// What a terminal shows of `sofa dse SPEC -o OUT [extra]` (`script` runs it on a pty).
fn on_terminal(extra: &str) -> String {
    let (out, log) = (
        temp(&format!("out{extra}.jsonl")),
        temp(&format!("tty{extra}.txt")),
    );
    let cmd = format!("{BIN} dse {} -o {} {extra}", spec(), out.display());
    let status = Command::new("script")
        .args(["-qec", &cmd])
        .arg(&log)
        .output()
        .expect("util-linux `script` runs (Debian: bsdutils)");
    assert!(status.status.success(), "{status:?}");
    let text = String::from_utf8_lossy(&std::fs::read(&log).unwrap()).into_owned();
    let _ = std::fs::remove_file(&log);
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_file(out.with_extension("pareto.jsonl"));
    text
}

#[test]
fn a_long_sweep_draws_its_bar_on_a_terminal_only() {
    // 256 points take about 3 s in release builds, longer in debug ones.
    let tty = on_terminal("");
    assert!(tty.contains("sofa dse: points ["), "{tty}");
    assert!(tty.contains("/256"), "{tty}");
    let quiet = on_terminal("--quiet");
    assert!(!quiet.contains("sofa dse: points"), "{quiet}");
    // Stderr a pipe: no bar, only the summary line.
    let out = temp("piped.jsonl");
    let piped = Command::new(BIN)
        .args(["dse", &spec(), "-o", &out.display().to_string()])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_file(out.with_extension("pareto.jsonl"));
    let err = String::from_utf8_lossy(&piped.stderr);
    assert!(piped.status.success(), "{err}");
    assert!(!err.contains("points ["), "{err}");
    assert!(err.contains("256 points of 256 evaluated"), "{err}");
}
