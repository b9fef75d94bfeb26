//! `sofa dse` end to end through the real binary, on `examples/dse/tiny.toml` (8 points:
//! sram.token_bytes × dram.bandwidth_mb_s × keep over a one-layer workload).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_sofa");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn sofa(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(ROOT)
        .output()
        .expect("the sofa binary runs")
}

fn ok(args: &[&str]) -> Output {
    let out = sofa(args);
    assert!(
        out.status.success(),
        "sofa {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sofa-cli-dse-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

const TINY: &str = "examples/dse/tiny.toml";

fn lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_sweep_writes_every_point_and_the_front_deterministically() {
    let dir = scratch("sweep");
    let (a, b) = (dir.join("a.jsonl"), dir.join("b.jsonl"));
    let out = ok(&["dse", TINY, "-o", &s(&a)]);
    ok(&["dse", TINY, "-o", &s(&b), "--quiet"]);
    let text = std::fs::read_to_string(&a).unwrap();
    assert_eq!(
        text.as_bytes(),
        std::fs::read(&b).unwrap(),
        "same spec, same bytes"
    );
    let stdout = ok(&["dse", TINY, "--quiet"]).stdout;
    assert_eq!(stdout, text.as_bytes(), "stdout carries the same bytes");

    let v = lines(&text);
    assert_eq!(v.len(), 1 + 8);
    assert_eq!(v[0]["points"], 8);
    assert_eq!(v[0]["axes"][2], "keep");
    for (i, p) in v[1..].iter().enumerate() {
        assert_eq!(p["index"], i as u64);
    }
    // Point 6: token SRAM 192 KB (the paper's), 512 GB/s, keep 0.25. Its area is the
    // paper's chip (Table III's 5.694 mm²) plus the vector unit (0.219 mm²).
    let p6 = &v[7];
    assert_eq!(p6["values"]["sram.token_bytes"], 196_608);
    assert_eq!(p6["values"]["keep"], 0.25);
    assert_eq!(p6["area_um2"], 5_694_000 + 218_750);
    // Half the token SRAM: 96 KB less at 1.536 µm² per byte.
    assert_eq!(v[1]["area_um2"], 5_912_750 - 150_987);
    // The latency is the cost model's: what schedule-json reports for the same chip and keep.
    let json = ok(&[
        "compile",
        "--workload",
        "examples/dse/tiny-workload.toml",
        "--keep-ratio",
        "0.25",
    ])
    .stdout;
    let sched: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(p6["latency_cycles"], sched["totals"]["latency_cycles"]);
    assert_eq!(p6["energy_fj"], sched["totals"]["energy_fj"]);
    assert_eq!(
        p6["latency_ns"], p6["latency_cycles"],
        "1 GHz: one cycle is 1 ns"
    );
    // Sparse attention is faster than dense on this layer.
    assert!(v[7]["latency_cycles"].as_u64() < v[8]["latency_cycles"].as_u64());

    // The front: at keep 0.25 and 512 GB/s, the smaller SRAM is smaller and spends less
    // energy, the larger one is faster; every other point is dominated.
    let front = std::fs::read_to_string(dir.join("a.pareto.jsonl")).unwrap();
    let f = lines(&front);
    assert_eq!(f[0], v[0]);
    let idx: Vec<u64> = f[1..]
        .iter()
        .map(|p| p["index"].as_u64().unwrap())
        .collect();
    assert_eq!(idx, vec![2, 6]);
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.starts_with(
            "Pareto front of 'tiny' over latency, energy, area: 2 of 8 points (0 infeasible)\n"
        ),
        "{table}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("8 points of 8 evaluated"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_specs_are_named_errors() {
    let dir = scratch("errors");
    let spec = dir.join("s.toml");
    let write = |text: &str| {
        std::fs::write(&spec, text).unwrap();
    };
    let workload = format!("{ROOT}/examples/dse/tiny-workload.toml");
    let head = format!("objectives = [\"area\"]\n[target]\nworkload = \"{workload}\"\n");
    write(&format!(
        "{head}[[axis]]\nkey = \"dram.bandwith_mb_s\"\nvalues = [1]\n"
    ));
    let out = sofa(&["dse", &s(&spec)]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("s.toml:5:7: unknown axis key 'dram.bandwith_mb_s'"),
        "{err}"
    );
    // A value the config accepts alone but whose chip breaks a rule: an infeasible point.
    write(&format!(
        "{head}[[axis]]\nkey = \"sram.temp_bytes\"\nvalues = [0, 28672]\n"
    ));
    let out = ok(&["dse", &s(&spec), "--quiet"]);
    let v = lines(&String::from_utf8(out.stdout).unwrap());
    assert!(
        v[1]["error"].as_str().unwrap().contains("sram.temp_bytes"),
        "{}",
        v[1]
    );
    assert!(v[1].get("area_um2").is_none());
    assert!(v[2]["area_um2"].is_u64());
    // Usage errors.
    assert_eq!(
        sofa(&["dse", TINY, "--shard", "4/4"]).status.code(),
        Some(2)
    );
    assert_eq!(sofa(&["dse"]).status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}
