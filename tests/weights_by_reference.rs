//! A program compiled from a model with ONNX external data references the weights file rather
//! than copying it (`tests/fixtures/llama_tiny`): the binary holds no weight bytes, runs to
//! the same figures as the in-process run, survives `disasm | asm`, and a moved, shortened or
//! changed weights file is a clear error.

mod common;
use common::cli::{ok, s, scratch, sofa};

use std::path::{Path, PathBuf};
use std::process::Output;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/llama_tiny")
        .join(name)
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The model copied to `root/model/`, compiled to `root/out/p.sofabin`.
fn compiled(root: &Path) -> (PathBuf, PathBuf) {
    let model = root.join("model");
    std::fs::create_dir_all(&model).unwrap();
    std::fs::create_dir_all(root.join("out")).unwrap();
    for f in ["model.onnx", "model.onnx.data"] {
        std::fs::copy(fixture(f), model.join(f)).unwrap();
    }
    let prog = root.join("out/p.sofabin");
    ok(&[
        "compile",
        &s(&model.join("model.onnx")),
        "--shape",
        "batch=1,seq=16",
        "-o",
        &s(&prog),
    ]);
    (model.join("model.onnx.data"), prog)
}

fn run(prog: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["run".to_string(), s(prog)];
    args.extend(extra.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    sofa(&args)
}

fn functional(prog: &Path) -> Output {
    run(
        prog,
        &[
            "--inputs",
            &s(&fixture("input.npz")),
            "--expected",
            &s(&fixture("expected.npz")),
            "--atol",
            "1e-4",
            "--rtol",
            "1e-4",
        ],
    )
}

fn cycles(o: &Output) -> String {
    let all = text(o);
    // "642 instructions, 25841 cycles = 25.841 us"
    let line = all
        .lines()
        .find(|l| l.contains(" instructions, "))
        .unwrap_or("");
    line.split_whitespace().nth(2).unwrap_or("").to_string()
}

#[test]
fn the_program_references_the_weights_and_runs_like_the_model() {
    let root = scratch("weights_by_reference", "runs");
    let (data, prog) = compiled(&root);
    let weights = std::fs::read(&data).unwrap();
    let bin = std::fs::read(&prog).unwrap();
    // The embedding table (at 0x20000 in the data file) is nowhere in the binary.
    let embedding = &weights[0x20000..0x20040];
    assert!(!bin.windows(64).any(|w| w == embedding));
    let asm = text(&ok(&["disasm", &s(&prog)]));
    let refs = asm.lines().filter(|l| l.starts_with(".weights ")).count();
    assert!(
        asm.contains(".weights \"../model/model.onnx.data\" offset=0x20000 "),
        "{asm}"
    );
    assert!(refs >= 10, "{refs} referenced tensors");

    let from_file = functional(&prog);
    assert!(from_file.status.success(), "{}", text(&from_file));
    assert!(text(&from_file).contains("all 1 output(s) within tolerance"));
    let in_process = sofa(&[
        "run",
        &s(&root.join("model/model.onnx")),
        "--inputs",
        &s(&fixture("input.npz")),
    ]);
    assert!(in_process.status.success(), "{}", text(&in_process));
    assert_eq!(cycles(&from_file), cycles(&in_process));
    assert!(!cycles(&from_file).is_empty());

    // disasm | asm gives the same bytes, references included.
    std::fs::write(root.join("p.s"), asm.as_bytes()).unwrap();
    let again = root.join("out/again.sofabin");
    ok(&["asm", &s(&root.join("p.s")), "-o", &s(&again)]);
    assert_eq!(std::fs::read(&again).unwrap(), bin);
}

#[test]
fn a_missing_short_or_changed_weights_file_is_an_error() {
    let root = scratch("weights_by_reference", "errors");
    let (data, prog) = compiled(&root);

    // Moved away from the model: the relative reference no longer resolves.
    let moved = root.join("p.sofabin");
    std::fs::copy(&prog, &moved).unwrap();
    let out = run(&moved, &["--timing-only"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("cannot open its weights file")
            && text(&out).contains("model.onnx.data"),
        "{}",
        text(&out)
    );

    // Changed, same size: the functional run refuses the values; timing needs none.
    let original = std::fs::read(&data).unwrap();
    let mut changed = original.clone();
    changed[0x20005] ^= 0x40; // inside the embedding table
    std::fs::write(&data, &changed).unwrap();
    let out = functional(&prog);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("changed since the program was compiled"),
        "{}",
        text(&out)
    );
    assert!(run(&prog, &["--timing-only"]).status.success());

    // Shortened: even a timing-only run refuses it.
    std::fs::write(&data, &original[..original.len() / 2]).unwrap();
    let out = run(&prog, &["--timing-only"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("run past the end of"), "{}", text(&out));
}

/// Only a program that will be written references (and so checksums) its weights: the
/// lowering an in-process run uses leaves every tensor without a reference, so nothing reads
/// the weights before an instruction needs their values (a timing-only run never does).
#[test]
fn only_a_written_program_references_its_weights() {
    use sofa_compiler::driver::{self, Target};
    let bindings = [("batch".to_string(), 1), ("seq".to_string(), 16)].into();
    let refs = |weights_by_reference: bool| {
        let target = Target {
            weights_by_reference,
            ..Target::default()
        };
        let m = driver::compile_onnx(&fixture("model.onnx"), &bindings, &target).unwrap();
        let (p, _) = driver::lower_model(&m, &target).unwrap();
        p.tensors.iter().filter(|t| t.weights.is_some()).count()
    };
    assert_eq!(refs(false), 0);
    assert!(refs(true) > 0);
}
