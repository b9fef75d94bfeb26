//! Error quality through the real binary (issue 10, item 9: what a mutation campaign found).
//! Each test feeds one kind of bad input to the commands that take it and asserts the whole
//! message: it names the file once, the key or array, and the real reason; exit code 1; no
//! output file is left behind.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod common;
use common::fixture;

const BIN: &str = env!("CARGO_BIN_EXE_sofa");

fn sofa_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the sofa binary runs");
    // The command may fail before reading its input: a closed pipe is fine.
    let _ = child.stdin.take().expect("stdin").write_all(stdin);
    child.wait_with_output().expect("sofa finishes")
}

fn sofa(args: &[&str]) -> Output {
    sofa_with_stdin(args, b"")
}

/// The whole stderr of a command that must fail with exit code 1.
fn failure(args: &[&str]) -> String {
    let out = sofa(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    err
}

/// A fresh directory for one test's files.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sofa-cli-errors-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.display().to_string()
}

fn workload(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("workloads")
        .join(name)
        .display()
        .to_string()
}

/// BERT-base's spec with `from` replaced by `to`.
fn bert_with(from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(workload("bert-base.toml")).unwrap();
    assert!(text.contains(from), "{from}");
    text.replace(from, to)
}

/// The paper's chip with `from` replaced by `to`.
fn chip_with(from: &str, to: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/sofa-28nm.toml");
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from}");
    text.replace(from, to)
}

/// 1-based line of the first line of `text` starting with `prefix`.
fn line_of(text: &str, prefix: &str) -> usize {
    text.lines().position(|l| l.starts_with(prefix)).unwrap() + 1
}

#[test]
fn layer_counts_beyond_what_the_tool_holds_are_refused_naming_file_and_key() {
    let dir = scratch("layers");
    let out = dir.join("out.json").display().to_string();
    for layers in ["1000000000", "20000000"] {
        let text = bert_with("layers = 12", &format!("layers = {layers}"));
        let spec = write(&dir, "big.toml", &text);
        let want = format!(
            "error: {spec}:{}:10: key 'layers': {layers} is more than 4096, the most a spec may \
             have (every layer is materialised; see MAX_LAYERS)\n",
            line_of(&text, "layers")
        );
        assert_eq!(failure(&["compile", "--workload", &spec, "-o", &out]), want);
        assert_eq!(
            failure(&["run", "--workload", &spec, "--timing-only"]),
            want
        );
        assert!(!Path::new(&out).exists());
    }
    // Within the layer cap, a program too large to hold is refused before it is built, from
    // the plan's instruction count (the DRAM is made large enough not to object first).
    let spec = write(
        &dir,
        "batch.toml",
        bert_with("seq = 512", "seq = 512\nbatch = 1000000"),
    );
    let hw = write(
        &dir,
        "hw.toml",
        chip_with(
            "capacity_bytes = 8589934592",
            "capacity_bytes = 1099511627776000",
        ),
    );
    let bin = dir.join("out.sofabin").display().to_string();
    let err = failure(&[
        "compile",
        "--workload",
        &spec,
        "--config",
        &hw,
        "--emit",
        "bin",
        "-o",
        &bin,
    ]);
    assert!(
        err.starts_with(&format!(
            "error: {spec}: the program of 12 layer(s) would have about "
        )) && err.contains(
            " B encoded), more than the 134217728 (MAX_PROGRAM_INSTRS) the tool holds in \
             memory; lower 'batch', 'heads', 'seq' or 'layers'\n"
        ),
        "{err}"
    );
    assert!(!Path::new(&bin).exists());
    let err = failure(&["run", "--workload", &spec, "--config", &hw, "--timing-only"]);
    assert!(
        err.starts_with(&format!(
            "error: {spec}: the program of 1 layer(s) would have about "
        )),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_keep_ratio_f32_cannot_hold_is_out_of_range_naming_file_and_key() {
    let dir = scratch("keep");
    let text = bert_with("keep_ratio = 1.0", "keep_ratio = 1e-300");
    let spec = write(&dir, "keep.toml", &text);
    let want = format!(
        "error: {spec}:{}:14: key 'keep_ratio': 1e-300 is out of range: must be in \
         [1.1754944e-38, 1] (stored as f32)\n",
        line_of(&text, "keep_ratio")
    );
    assert_eq!(failure(&["compile", "--workload", &spec]), want);
    assert_eq!(
        failure(&["run", "--workload", &spec, "--timing-only"]),
        want
    );
    let out = sofa(&[
        "compile",
        "--workload",
        &workload("bert-base.toml"),
        "--keep-ratio",
        "1e-300",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: --keep-ratio 1e-300 is out of range: must be in [1.1754944e-38, 1] (stored as \
         f32)\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_clock_overflowing_the_cycle_formulas_is_blamed_on_the_clock() {
    let dir = scratch("clock");
    let hw = write(
        &dir,
        "hw.toml",
        chip_with("freq_mhz = 1000", "freq_mhz = 18446744073709551615"),
    );
    let want = format!(
        "error: hardware config '{hw}': invalid hardware configuration:\n  clock.freq_mhz \
         (18446744073709551615) × dram.latency_ns (100) overflows 64 bits in the DMA cycle \
         formula (at this dram.latency_ns, clock.freq_mhz must be <= 184467440737095516)\n"
    );
    let bert = workload("bert-base.toml");
    assert_eq!(
        failure(&["compile", "--config", &hw, "--workload", &bert]),
        want
    );
    assert_eq!(
        failure(&["run", "--config", &hw, "--workload", &bert, "--timing-only"]),
        want
    );
    // Overflow elsewhere in the cost model is reported as overflow, not as an SRAM misfit.
    let hw = write(
        &dir,
        "power.toml",
        chip_with("power_uw = 485120", "power_uw = 18446744073709551615"),
    );
    assert_eq!(
        failure(&["compile", "--config", &hw, "--workload", &bert]),
        format!(
            "error: {bert}: pass 'cct-tile' (#2 in the pipeline) failed: cost model: \
             cycle/energy arithmetic overflows 64 bits (busy energy)\n"
        )
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// An `.npz` whose `input_ids.npy` has `header` (a numpy header dictionary) and `payload`.
fn npz_with_header(header: &str, payload: &[u8]) -> Vec<u8> {
    use npyz::zip::write::FileOptions;
    let mut header = header.to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    npy.extend((header.len() as u16).to_le_bytes());
    npy.extend(header.as_bytes());
    npy.extend(payload);
    let mut zip = npyz::zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file("input_ids.npy", FileOptions::default())
        .unwrap();
    zip.write_all(&npy).unwrap();
    zip.finish().unwrap().into_inner()
}

#[test]
fn npz_errors_name_the_path_once_and_header_errors_the_array() {
    let dir = scratch("npz");
    let model = fixture("bert_sdpa_ts_op17", "onnx").display().to_string();
    let bad = write(
        &dir,
        "in.npz",
        npz_with_header("{'fortran_order': False, 'shape': (2, 8), }", &[0; 128]),
    );
    assert_eq!(
        failure(&["run", &model, "--inputs", &bad]),
        format!("error: {bad}: array 'input_ids': bad .npy header: dict is missing key 'descr'\n")
    );
    let missing = dir.join("missing.npz").display().to_string();
    let err = failure(&["run", &model, "--inputs", &missing]);
    assert_eq!(err.matches(&missing).count(), 1, "{err}");
    let not_zip = write(&dir, "not-zip.npz", b"hello");
    let err = failure(&["run", &model, "--inputs", &not_zip]);
    assert_eq!(err.matches(&not_zip).count(), 1, "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn workload_spec_errors_name_the_file_line_and_key() {
    let dir = scratch("spec");
    let text = bert_with("seq = 512", "seq = -4");
    let spec = write(&dir, "neg.toml", &text);
    let line = line_of(&text, "seq");
    assert_eq!(
        failure(&["compile", "--workload", &spec]),
        format!("error: {spec}:{line}:7: key 'seq': invalid value: integer `-4`, expected u64\n")
    );
    let spec = write(&dir, "zero.toml", bert_with("seq = 512", "seq = 0"));
    assert_eq!(
        failure(&["run", "--workload", &spec, "--timing-only"]),
        format!("error: {spec}:{line}:7: key 'seq': must be at least 1, got 0\n")
    );
    let spec = write(
        &dir,
        "unknown.toml",
        bert_with("seq = 512", "seq = 512\nsequence = 4"),
    );
    let err = failure(&["compile", "--workload", &spec]);
    assert!(
        err.starts_with(&format!(
            "error: {spec}:{}:1: unknown field `sequence`",
            line + 1
        )),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn invalid_utf8_is_located_by_byte_line_and_column() {
    let dir = scratch("utf8");
    let ir = write(
        &dir,
        "bad.mlir",
        b"\"builtin.module\"() ({\n  %0 = \"foo\xff\"() : () -> ()\n}) : () -> ()\n",
    );
    assert_eq!(
        failure(&["opt", &ir]),
        format!("error: cannot read '{ir}': invalid UTF-8 at byte 33 (line 2, column 12)\n")
    );
    let out = sofa_with_stdin(&["asm", "-"], b".config_hash 0\nHALT\xfe\n");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: cannot read standard input: invalid UTF-8 at byte 19 (line 2, column 5)\n"
    );
    let spec = write(&dir, "bad.toml", b"name = \"x\xff\"\n");
    assert_eq!(
        failure(&["compile", "--workload", &spec]),
        format!(
            "error: cannot read workload spec '{spec}': invalid UTF-8 at byte 9 (line 1, \
             column 10)\n"
        )
    );
    let bert = workload("bert-base.toml");
    assert_eq!(
        failure(&["compile", "--config", &spec, "--workload", &bert]),
        format!(
            "error: cannot read hardware config '{spec}': invalid UTF-8 at byte 9 (line 1, \
             column 10)\n"
        )
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn control_characters_of_the_input_are_escaped_in_parser_errors() {
    let dir = scratch("controls");
    let no_raw_controls = |err: &str| !err.chars().any(|c| c.is_control() && c != '\n');
    let ir = write(
        &dir,
        "ctrl.mlir",
        "\"builtin.module\"() ({\n  \u{7}\u{1b}[31m = 3\n}) : () -> ()\n",
    );
    let err = failure(&["opt", &ir]);
    assert_eq!(
        err,
        format!(
            "{ir}:2:3: error: unexpected character '\\u{{7}}'\n    \\u{{7}}\\u{{1b}}[31m = 3\n    \
             ^^^^^\n"
        )
    );
    assert!(no_raw_controls(&err));
    let asm = write(&dir, "ctrl.s", ".config_hash 0\nLD \u{7}\u{1b}[31m\n");
    let err = failure(&["asm", &asm]);
    assert_eq!(
        err,
        format!(
            "error: {asm}:2:4: expected name=value, found '\\u{{7}}\\u{{1b}}[31m'\n  LD \
             \\u{{7}}\\u{{1b}}[31m\n     ^^^^^\n"
        )
    );
    assert!(no_raw_controls(&err));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_dram_too_small_for_the_workload_is_refused_alike_by_compile_and_run() {
    let dir = scratch("dram");
    let hw = write(
        &dir,
        "hw.toml",
        chip_with("capacity_bytes = 8589934592", "capacity_bytes = 1"),
    );
    let bert = workload("bert-base.toml");
    let want = format!(
        "error: {bert}: the tensors of its 12 layer(s) (q, k, v and o) need 37748736 B of DRAM, \
         more than dram.capacity_bytes (1)\n"
    );
    let out = dir.join("s.json").display().to_string();
    let args = ["--workload", &bert, "--config", &hw];
    let compile = failure(
        &[
            &["compile"],
            &args[..],
            &["--emit", "schedule-json", "-o", &out],
        ]
        .concat(),
    );
    assert_eq!(compile, want);
    assert!(!Path::new(&out).exists());
    assert_eq!(
        failure(&[&["run"], &args[..], &["--timing-only"]].concat()),
        want
    );
    assert_eq!(
        failure(&[&["run"], &args[..], &["--timing-only", "--no-extrapolate"]].concat()),
        want
    );
    let _ = std::fs::remove_dir_all(&dir);
}
