//! End-to-end tests of `sofa opt`, running the real binary: output streams, instrumentation
//! flags, dump files, exit codes and diagnostics.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_sofa");

fn filetest(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/filetests")
        .join(rel)
        .display()
        .to_string()
}

fn sofa(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the sofa binary runs");
    let mut pipe = child.stdin.take().expect("stdin is piped");
    pipe.write_all(stdin.unwrap_or("").as_bytes())
        .expect("write stdin");
    drop(pipe);
    child.wait_with_output().expect("sofa finishes")
}

fn out(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("stdout is UTF-8")
}

fn err(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("stderr is UTF-8")
}

fn assert_code(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        out(o),
        err(o)
    );
    assert!(!err(o).contains("panicked"), "{}", err(o));
}

/// A fresh, empty scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sofa-cli-opt-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

const DUMP_AFTER_CANON: &str = "// -----// IR Dump After Canonicalize (canonicalize) //----- //";
const DUMP_AFTER_CSE: &str = "// -----// IR Dump After Cse (cse) //----- //";

#[test]
fn print_ir_after_all_dumps_each_pass_to_stderr_and_the_result_to_stdout() {
    let input = filetest("passes/canonicalize.mlir");
    let o = sofa(
        &[
            "opt",
            &input,
            "--pass-pipeline",
            "canonicalize,cse",
            "--print-ir-after-all",
        ],
        None,
    );
    assert_code(&o, 0);
    let (stdout, stderr) = (out(&o), err(&o));
    assert!(stdout.starts_with("\"builtin.module\"()"), "{stdout}");
    assert!(!stdout.contains("IR Dump"));
    let canon = stderr.find(DUMP_AFTER_CANON).expect("canonicalize dump");
    let cse = stderr.find(DUMP_AFTER_CSE).expect("cse dump");
    assert!(canon < cse, "dumps in pipeline order:\n{stderr}");
    let last_dump = &stderr[cse + DUMP_AFTER_CSE.len() + 1..];
    assert_eq!(
        last_dump,
        format!("{stdout}\n"),
        "last dump is the final IR"
    );
}

#[test]
fn piping_sofa_opt_into_itself_is_the_identity_on_every_filetest() {
    let mut files = Vec::new();
    collect(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/filetests"),
        &mut files,
    );
    assert!(files.len() >= 5, "found {files:?}");
    for file in files {
        let path = file.display().to_string();
        // Verify filetests are invalid on purpose.
        let first = sofa(&["opt", &path, "--no-verify-each"], None);
        assert_code(&first, 0);
        let second = sofa(&["opt", "-", "--no-verify-each"], Some(&out(&first)));
        assert_code(&second, 0);
        assert_eq!(out(&first), out(&second), "{path}");
    }
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("filetests dir").flatten() {
        let p = entry.path();
        if p.is_dir() {
            collect(&p, files);
        } else if p.extension().is_some_and(|e| e == "mlir") {
            files.push(p);
        }
    }
}

#[test]
fn malformed_input_exits_1_with_line_col_and_caret() {
    let dir = scratch("malformed");
    let cases = [
        ("unclosed.mlir", "\"builtin.module\"() ({\n  \"func.func\"() ({\n", 3),
        (
            "badtype.mlir",
            "\"builtin.module\"() ({\n  %0 = \"onnx.Constant\"() : () -> tensor<2xq9>\n}) : () -> ()\n",
            2,
        ),
        ("garbage.mlir", "this is not IR\n", 1),
    ];
    for (name, text, line) in cases {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let o = sofa(&["opt", &path.display().to_string()], None);
        assert_code(&o, 1);
        let stderr = err(&o);
        let prefix = format!("{}:{line}:", path.display());
        assert!(stderr.starts_with(&prefix), "{name}: {stderr}");
        assert!(stderr.contains(": error: "), "{name}: {stderr}");
        assert!(
            stderr.trim_end().ends_with('^'),
            "{name}: caret missing:\n{stderr}"
        );
        assert!(out(&o).is_empty());
    }
    let o = sofa(&["opt", "-"], Some("\"onnx.Relu\"(%x"));
    assert_code(&o, 1);
    assert!(err(&o).starts_with("<stdin>:1:"), "{}", err(&o));
}

#[test]
fn invalid_input_exits_1_pointing_at_each_offending_op() {
    let o = sofa(&["opt", &filetest("verify/structure.mlir")], None);
    assert_code(&o, 1);
    let stderr = err(&o);
    assert!(
        stderr.contains("structure.mlir:6:5: error: 'onnx.Relu' op: operand #0"),
        "{stderr}"
    );
    assert!(stderr.contains("structure.mlir:9:5: error: 'mystery.op' op: unregistered operation"));
    assert!(
        stderr.contains("the input does not verify (4 error(s))"),
        "{stderr}"
    );
}

#[test]
fn missing_input_file_exits_1() {
    let o = sofa(&["opt", "/nonexistent/dir/x.mlir"], None);
    assert_code(&o, 1);
    assert!(err(&o).contains("cannot read '/nonexistent/dir/x.mlir'"));
}

#[test]
fn bad_pipelines_and_flags_are_usage_errors() {
    let input = filetest("passes/dce.mlir");
    let o = sofa(&["opt", &input, "--pass-pipeline", "dce,nope"], None);
    assert_code(&o, 2);
    let stderr = err(&o);
    assert!(
        stderr.contains("error: invalid --pass-pipeline: unknown pass 'nope'; known passes: "),
        "{stderr}"
    );
    assert!(stderr.contains("  dce,nope\n      ^^^^"), "{stderr}");

    let o = sofa(
        &["opt", &input, "--pass-pipeline", "cse{aggressive=perhaps}"],
        None,
    );
    assert_code(&o, 2);
    assert!(
        err(&o).contains("expected bool value, found 'perhaps'"),
        "{}",
        err(&o)
    );

    let o = sofa(&["opt", &input, "--print-ir-after", "nope"], None);
    assert_code(&o, 2);
    assert!(err(&o).contains("unknown pass 'nope' in --print-ir-after"));

    assert_code(&sofa(&["opt", &input, "--no-such-flag"], None), 2);
    assert_code(&sofa(&["opt"], None), 2);
    assert_code(&sofa(&["frobnicate"], None), 2);
    assert_code(&sofa(&["opt", "--help"], None), 0);
}

#[test]
fn list_passes_shows_descriptions_and_options() {
    let o = sofa(&["opt", "--list-passes"], None);
    assert_code(&o, 0);
    let stdout = out(&o);
    for name in ["canonicalize", "cse", "dce"] {
        assert!(
            stdout.contains(&format!("\n  {name}\n")),
            "{name} missing:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("max-iterations=<uint>  (default: 10)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("aggressive=<bool>  (default: false)"),
        "{stdout}"
    );
    assert!(stdout.contains("Merge identical side-effect-free ops"));
}

#[test]
fn ir_dump_dir_gets_one_numbered_file_per_pass() {
    let dir = scratch("dumps").join("nested");
    let dir_arg = dir.display().to_string();
    let input = filetest("passes/cse.mlir");
    let pipeline = "canonicalize,cse,dce";
    let o = sofa(
        &[
            "opt",
            &input,
            "--pass-pipeline",
            pipeline,
            "--ir-dump-dir",
            &dir_arg,
        ],
        None,
    );
    assert_code(&o, 0);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "01-canonicalize.after.mlir",
            "02-cse.after.mlir",
            "03-dce.after.mlir"
        ]
    );
    let last = std::fs::read_to_string(dir.join("03-dce.after.mlir")).unwrap();
    let (header, body) = last.split_once('\n').unwrap();
    assert_eq!(header, "// -----// IR Dump After Dce (dce) //----- //");
    assert_eq!(body, out(&o));
    // A dump file is valid input again.
    let again = sofa(
        &[
            "opt",
            &dir.join("01-canonicalize.after.mlir").display().to_string(),
        ],
        None,
    );
    assert_code(&again, 0);
}

#[test]
fn pass_timing_and_statistics_reports_go_to_stderr() {
    let input = filetest("passes/canonicalize.mlir");
    let o = sofa(
        &[
            "opt",
            &input,
            "--pass-pipeline",
            "canonicalize,cse",
            "--pass-timing",
            "--pass-statistics",
        ],
        None,
    );
    assert_code(&o, 0);
    let stderr = err(&o);
    assert!(stderr.contains("... Execution time report ..."), "{stderr}");
    for row in [
        "Parser",
        "Canonicalize",
        "Cse",
        "Verifier",
        "Output",
        "Total",
    ] {
        assert!(
            stderr.contains(&format!("%)  {row}\n")),
            "row {row} missing:\n{stderr}"
        );
    }
    assert!(stderr.contains("'canonicalize' (Canonicalize, #1 in the pipeline)"));
    // constant, Mul and Softmax of the second chain; the dead Neg is erased.
    assert!(stderr.contains("(S)      3 ops-merged"), "{stderr}");
    assert!(stderr.contains("(S)      1 ops-erased"), "{stderr}");
    assert!(
        stderr.contains("(S)      0 ops-merged"),
        "cse has nothing left:\n{stderr}"
    );
    assert!(!out(&o).contains("Execution time"));
}

#[test]
fn print_ir_before_and_after_change_select_passes() {
    // dce finds nothing dead in the CSE test; cse merges.
    let input = filetest("passes/cse.mlir");
    let o = sofa(
        &[
            "opt",
            &input,
            "--pass-pipeline",
            "dce,cse",
            "--print-ir-after-change",
            "--print-ir-before",
            "cse",
        ],
        None,
    );
    assert_code(&o, 0);
    let stderr = err(&o);
    assert!(!stderr.contains("IR Dump After Dce"), "{stderr}");
    assert!(stderr.contains(DUMP_AFTER_CSE));
    assert_eq!(stderr.matches("IR Dump Before").count(), 1);
    assert!(stderr.starts_with("// -----// IR Dump Before Cse (cse) //----- //\n"));
}

#[test]
fn output_file_is_written_instead_of_stdout() {
    let dir = scratch("output");
    let target = dir.join("out.mlir");
    let input = filetest("passes/dce.mlir");
    let expected = out(&sofa(&["opt", &input, "--pass-pipeline", "dce"], None));
    let o = sofa(
        &[
            "opt",
            &input,
            "--pass-pipeline",
            "dce",
            "-o",
            &target.display().to_string(),
        ],
        None,
    );
    assert_code(&o, 0);
    assert!(out(&o).is_empty());
    assert_eq!(std::fs::read_to_string(&target).unwrap(), expected);
    let leftovers = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(leftovers, 1, "no temporary file is left behind");
}
