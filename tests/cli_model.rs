//! End-to-end tests of the model-level commands (`inspect`, `import`, `run --reference`), running
//! the real binary on the fixtures: figures on stdout, exit codes, errors naming what is wrong.

mod common;
use common::*;

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_sofa");

fn sofa(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("the sofa binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn inspect_reports_the_attention_blocks() {
    let o = sofa(&["inspect", &path(&fixture("gpt2_sdpa_ts_op17", "onnx"))]);
    let out = text(&o.stdout);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(out.contains("producer: pytorch 2.15.0"), "{out}");
    assert!(out.contains("opsets: ai.onnx 17"), "{out}");
    assert!(out.contains("  Softmax 2\n"), "{out}");
    assert!(out.contains("attention blocks: 2\n"), "{out}");
    let blocks: Vec<&str> = out.lines().filter(|l| l.contains("heads=4")).collect();
    assert_eq!(blocks.len(), 2, "{out}");
    for b in blocks {
        assert!(b.contains("kv_heads=4 head_dim=32 scale=0.1767767 "), "{b}");
        assert!(b.contains("causal=true"), "{b}");
    }
}

/// The decoders' attention as their configs have it: Qwen2 4 query / 2 KV heads, causal;
/// Mistral 4 / 1 with a sliding window of 5 tokens.
#[test]
fn inspect_reports_kv_heads_and_windows_of_the_decoders() {
    let cases = [
        (
            "qwen2_gqa_rope_sdpa_dynamo_op18",
            "kv_heads=2 ",
            "causal=true mask",
        ),
        (
            "mistral_swa_eager_ts_op17",
            "kv_heads=1 ",
            "causal=true window=5 mask",
        ),
    ];
    for (name, heads, band) in cases {
        let o = sofa(&["inspect", &path(&fixture(name, "onnx"))]);
        let out = text(&o.stdout);
        assert!(o.status.success(), "{}", text(&o.stderr));
        let blocks: Vec<&str> = out.lines().filter(|l| l.contains("  #")).collect();
        assert_eq!(blocks.len(), 2, "{out}");
        for b in blocks {
            assert!(b.contains(heads) && b.contains(band), "{name}: {b}");
        }
    }
}

#[test]
fn run_reference_matches_onnxruntime_and_fails_above_tolerance() {
    let (model, inputs, expected) = (
        path(&fixture("vit_eager_ts_op17", "onnx")),
        path(&fixture("vit_eager_ts_op17", "input2.npz")),
        path(&fixture("vit_eager_ts_op17", "expected2.npz")),
    );
    let args = [
        "run",
        &model,
        "--reference",
        "--inputs",
        &inputs,
        "--expected",
        &expected,
    ];
    let o = sofa(&[&args[..], &["--pass-pipeline", FUSE_PIPELINE]].concat());
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("all 2 output(s) within tolerance 1e-4"));

    let o = sofa(&[&args[..], &["--tolerance", "0"]].concat());
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("differ from the expected values"));
}

#[test]
fn run_tolerances_follow_numpy_allclose_and_name_the_worst_elements() {
    let (model, inputs, expected) = (
        path(&fixture("vit_eager_ts_op17", "onnx")),
        path(&fixture("vit_eager_ts_op17", "input2.npz")),
        path(&fixture("vit_eager_ts_op17", "expected2.npz")),
    );
    let args = [
        "run",
        &model,
        "--reference",
        "--inputs",
        &inputs,
        "--expected",
        &expected,
        "--pass-pipeline",
        FUSE_PIPELINE,
    ];
    // The interpreter is off by up to ~2.4e-6: an absolute 2e-6 alone fails ...
    let o = sofa(&[&args[..], &["--atol", "2e-6"]].concat());
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    let out = text(&o.stdout);
    assert!(
        out.contains("FAIL last_hidden_state: max abs error"),
        "{out}"
    );
    assert!(
        out.contains("elements outside atol 2e-6 + rtol 0e0·|want|"),
        "{out}"
    );
    assert!(
        out.contains("worst abs error") && out.contains("worst rel error"),
        "{out}"
    );
    assert!(out.contains("flat index"), "{out}");
    assert!(
        text(&o.stderr).contains("differ from the expected values by more than 2e-6"),
        "{}",
        text(&o.stderr)
    );
    // ... and passes with a relative part scaled by |want|.
    let o = sofa(&[&args[..], &["--atol", "2e-6", "--rtol", "1e-4"]].concat());
    assert!(o.status.success(), "{}", text(&o.stdout));
    assert!(text(&o.stdout).contains("all 2 output(s) within tolerance 2e-6 + 1e-4·|want|"));
    // --tolerance is the old name of --atol: the same flag, so not both.
    let o = sofa(&[&args[..], &["--tolerance", "2e-6", "--rtol", "1e-4"]].concat());
    assert!(o.status.success(), "{}", text(&o.stdout));
    let o = sofa(&[&args[..], &["--tolerance", "1", "--atol", "1"]].concat());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    for bad in [["--rtol=-1"], ["--atol=nan"]] {
        let o = sofa(&[&args[..], &bad[..]].concat());
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", text(&o.stderr));
        assert!(text(&o.stderr).contains("must be a non-negative number"));
    }
    // The defaults are documented.
    let help = text(&sofa(&["run", "--help"]).stdout);
    assert!(
        help.contains("--rtol <R>") && help.contains("[default: 0]"),
        "{help}"
    );
    assert!(
        help.contains("[alias: --tolerance]") && help.contains("[default: 0.0001]"),
        "{help}"
    );
}

#[test]
fn run_writes_outputs_that_compare_equal() {
    let dir = std::env::temp_dir().join(format!("sofa-cli-model-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("out.npz");
    let model = path(&fixture("bert_eager_ts_op17", "onnx"));
    let inputs = path(&fixture("bert_eager_ts_op17", "input.npz"));
    let o = sofa(&[
        "run",
        &model,
        "--reference",
        "--inputs",
        &inputs,
        "-o",
        &path(&out),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let again = sofa(&[
        "run",
        &model,
        "--reference",
        "--inputs",
        &inputs,
        "--expected",
        &path(&out),
        "--tolerance",
        "0",
    ]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn import_binds_shapes_and_refuses_corrupt_models() {
    let model = fixture("bert_sdpa_ts_op17", "onnx");
    let o = sofa(&["import", &path(&model), "--shape", "batch=1,seq=16"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let ir = text(&o.stdout);
    assert!(
        ir.contains("(tensor<1x16xi64>, tensor<1x16xi64>) -> (tensor<1x16x128xf32>"),
        "signature"
    );

    let dir = std::env::temp_dir().join(format!("sofa-cli-corrupt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bytes = std::fs::read(&model).unwrap();
    let truncated = dir.join("truncated.onnx");
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    let o = sofa(&["import", &path(&truncated)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("truncated.onnx"),
        "{}",
        text(&o.stderr)
    );

    let o = sofa(&["import", &path(&model), "--shape", "seq"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "usage error for a malformed --shape"
    );
    let o = sofa(&["run", &path(&model), "--inputs", "missing.npz"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "a missing inputs file is an input error"
    );
    assert!(
        text(&o.stderr).contains("missing.npz"),
        "{}",
        text(&o.stderr)
    );
    let o = sofa(&[
        "run",
        &path(&model),
        "--pass-pipeline",
        "dce",
        "--inputs",
        "x.npz",
    ]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "--pass-pipeline needs --reference"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--help` gives each command's long description (its arguments' `long_about`), `-h` the
/// one-line summary that `sofa --help` lists.
#[test]
fn every_command_explains_itself_under_help() {
    let cases: [(&[&str], &str, &str); 10] = [
        (
            &["opt"],
            "Parse IR, run a pass pipeline",
            "Parse IR, verify it",
        ),
        (
            &["inspect"],
            "Describe an ONNX model and",
            "producer, IR and opset",
        ),
        (&["import"], "Import an ONNX model into", "opset 13-23"),
        (
            &["run"],
            "Execute a model on .npz inputs",
            "on the SOFA simulator",
        ),
        (
            &["asm"],
            "Assemble SOFA assembly text",
            "into a .sofabin binary",
        ),
        (&["disasm"], "Print a .sofabin program", "assembles back"),
        (
            &["compile"],
            "Compile an ONNX model or workload",
            "--emit bin writes",
        ),
        (
            &["bench", "paper"],
            "Reproduce the paper's ablations",
            "with sofa's cost model",
        ),
        (
            &["bench", "roofline"],
            "against its roofline",
            "docs/roofline.md defines",
        ),
        (
            &["calibrate"],
            "Search per-layer keep ratios",
            "greedy descent",
        ),
    ];
    let top = text(&sofa(&["--help"]).stdout);
    for (cmd, summary, long) in cases {
        let short = text(&sofa(&[cmd, &["-h"]].concat()).stdout);
        let full = text(&sofa(&[cmd, &["--help"]].concat()).stdout);
        assert!(
            short.contains(summary) && !short.contains(long),
            "{cmd:?} -h: {short}"
        );
        assert!(full.contains(long), "{cmd:?} --help: {full}");
        if cmd.len() == 1 {
            assert!(top.contains(summary), "sofa --help lacks {cmd:?}: {top}");
        }
    }
}
