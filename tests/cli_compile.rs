//! `sofa compile --workload` end to end through the real binary: a small attention workload lowered
//! to a SOFA-ISA program, and `sofa disasm X | sofa asm -` reproducing X byte for byte.

use std::io::Write;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_sofa");

fn sofa(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the sofa binary runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    child.wait_with_output().expect("sofa finishes")
}

const SPEC: &str = "name = \"small\"\nsource = \"test\"\nlayers = 2\nhidden = 64\nheads = 2\n\
                    seq = 300\ncausal = true\nkeep_ratio = 0.25\n";

#[test]
fn workload_lowers_to_a_program_that_disassembles_and_reassembles_identically() {
    let dir = std::env::temp_dir().join(format!("sofa-cli-compile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let spec = dir.join("small.toml");
    std::fs::write(&spec, SPEC).unwrap();
    let spec = spec.display().to_string();
    for schedule in ["cct", "staged", "dense"] {
        let bin = sofa(
            &[
                "compile",
                "--workload",
                &spec,
                "--schedule",
                schedule,
                "--emit",
                "bin",
            ],
            b"",
        );
        assert!(
            bin.status.success(),
            "{}",
            String::from_utf8_lossy(&bin.stderr)
        );
        assert_eq!(&bin.stdout[..4], b"SOFA", "{schedule}: magic");
        let asm = sofa(&["disasm", "-"], &bin.stdout);
        let asm = if asm.status.success() {
            asm
        } else {
            let file = dir.join(format!("{schedule}.sofabin"));
            std::fs::write(&file, &bin.stdout).unwrap();
            sofa(&["disasm", &file.display().to_string()], b"")
        };
        assert!(
            asm.status.success(),
            "{}",
            String::from_utf8_lossy(&asm.stderr)
        );
        let again = sofa(&["asm", "-"], &asm.stdout);
        assert!(
            again.status.success(),
            "{}",
            String::from_utf8_lossy(&again.stderr)
        );
        assert!(
            again.stdout == bin.stdout,
            "{schedule}: disasm | asm changed the program"
        );
        let text = String::from_utf8_lossy(&asm.stdout);
        assert!(text.contains("HALT"), "{schedule}: the program ends");
        assert_eq!(
            text.contains("SADS"),
            schedule != "dense",
            "{schedule}: selection only when sparse"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_model_with_unbound_dims_names_them_and_the_flag() {
    let model = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/bert/bert_sdpa_ts_op17.onnx"
    );
    let o = sofa(&["compile", model], b"");
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("'batch'") && err.contains("'seq'") && err.contains("--shape"),
        "{err}"
    );
    let o = sofa(
        &[
            "compile",
            model,
            "--shape",
            "batch=2,seq=8",
            "--emit",
            "asm",
        ],
        b"",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let asm = String::from_utf8_lossy(&o.stdout);
    assert!(asm.contains(".tensor \"input_ids\" kind=input dtype=i64 shape=[2,8]"));
    assert!(asm.trim_end().ends_with("HALT"));
}
