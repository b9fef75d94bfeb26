//! `sofa bench paper` end to end: every row in the JSON, and a bad workloads folder is an input
//! error (exit 1), not a panic.

use std::path::PathBuf;

fn workloads() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/workloads"))
}

#[test]
fn the_command_prints_every_row() {
    let dir = std::env::temp_dir().join(format!("sofa-bench-paper-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("paper.json");
    let args = ["sofa", "bench", "paper", "--json", "--workloads"];
    let mut argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    argv.push(workloads().display().to_string());
    argv.extend(["-o".to_string(), out.display().to_string()]);
    assert_eq!(sofa::cli::run_with(argv), 0);
    let json = std::fs::read_to_string(&out).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert!(json.starts_with("{\n  \"format\": \"sofa-bench-paper\",\n  \"version\": 1,"));
    for key in [
        "dram.sofa",
        "dram.rass",
        "dram.tiling",
        "complexity.dlzs",
        "complexity.sads",
        "complexity.sufa",
        "sufa.fa2",
        "sufa.ascending",
        "sads.diff",
        "rass.toy",
        "pe.utilisation",
    ] {
        assert!(
            json.contains(&format!("\"key\": \"{key}\"")),
            "missing row {key}"
        );
    }
    assert!(json.contains("\"sofa_text\": \"24 → 16\""));
    // A bad workloads directory is an input error (exit 1), not a panic.
    assert_eq!(
        sofa::cli::run_with(["sofa", "bench", "paper", "--workloads", "/nonexistent"]),
        1
    );
}
