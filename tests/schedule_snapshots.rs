//! insta snapshots of `sofa compile --emit schedule-json` for every workload spec in
//! `workloads/` at keep 0.25 under the default hardware, plus the CLI's determinism and its
//! refusal of unknown emits, missing models and unknown ablations.

use std::path::PathBuf;
use std::process::Command;

fn workloads() -> Vec<PathBuf> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/workloads"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

fn compile(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sofa"))
        .arg("compile")
        .args(args)
        .output()
        .unwrap()
}

fn schedule_json(path: &std::path::Path) -> String {
    let out = compile(&[
        "--workload",
        path.to_str().unwrap(),
        "--keep-ratio",
        "0.25",
        "--emit",
        "schedule-json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn schedule_json_of_every_workload() {
    let files = workloads();
    assert_eq!(files.len(), 8);
    for path in files {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = schedule_json(&path);
        assert_eq!(text, schedule_json(&path), "{name}: two runs differ");
        insta::assert_snapshot!(format!("schedule_{name}"), text);
    }
}

#[test]
fn unknown_emits_missing_models_and_bad_ablations_are_refused_with_a_reason() {
    let w = concat!(env!("CARGO_MANIFEST_DIR"), "/workloads/gpt2.toml");
    let out = compile(&["--workload", w, "--emit", "sofabin"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("possible values: bin, asm, mlir, schedule-json"),
        "{err}"
    );
    let out = compile(&["no-such-model.onnx"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-model.onnx"));
    let out = compile(&["m.onnx", "--workload", w]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a model and a workload conflict"
    );
    let out = compile(&["--workload", w, "--ablate", "sads,foo"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown ablation 'foo'"));
}
