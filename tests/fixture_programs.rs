//! Every ONNX fixture compiles (`sofa compile`, the real binary) to a `.sofabin` under each
//! schedule and keep ratio; the program fits the paper's chip, and its assembly reads back to
//! the same bytes. The assembly and the schedule-json of each fixture (cct, keep 0.25) are insta
//! snapshots (initializer bytes replaced by their hash so the assembly stays readable).

mod common;
use common::*;

use std::process::Command;

use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{parse_asm, print_asm, Program};

const BIN: &str = env!("CARGO_BIN_EXE_sofa");
/// The recorded cases' shapes (`.input.npz`): one sequence of 16 tokens, or one 32×32 image.
const SHAPE: &str = "batch=1,seq=16";

fn compile(name: &str, schedule: &str, keep: &str) -> Vec<u8> {
    let out = std::env::temp_dir().join(format!(
        "sofa-fixture-{}-{name}-{schedule}-{keep}.sofabin",
        std::process::id()
    ));
    let model = fixture(name, "onnx");
    let run = Command::new(BIN)
        .args(["compile", &model.display().to_string(), "--shape", SHAPE])
        .args(["--schedule", schedule, "--keep-ratio", keep, "-o"])
        .arg(&out)
        .output()
        .expect("sofa runs");
    assert!(
        run.status.success(),
        "{name} {schedule} {keep}: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let bytes = std::fs::read(&out).expect("the program was written");
    let _ = std::fs::remove_file(&out);
    bytes
}

#[test]
fn every_fixture_compiles_under_every_schedule_and_keep_ratio_and_round_trips() {
    let hw = HwConfig::default();
    for name in FIXTURES {
        for schedule in ["cct", "staged", "dense"] {
            for keep in ["1", "0.25"] {
                let bytes = compile(name, schedule, keep);
                let p = Program::decode(&bytes).expect("decodes");
                if let Err(errs) = p.check(&hw) {
                    panic!("{name} {schedule} {keep}: {}", errs[0]);
                }
                let again = parse_asm(&print_asm(&p)).expect("its assembly parses");
                assert!(
                    again.encode() == bytes,
                    "{name} {schedule} {keep}: asm round trip differs"
                );
                let sufa = p
                    .instrs
                    .iter()
                    .filter(|i| i.opcode().mnemonic() == "SUFA.T")
                    .count();
                assert!(sufa > 0, "{name} {schedule} {keep}: no SU-FA work");
            }
        }
    }
}

#[test]
fn disasm_piped_into_asm_reproduces_the_binary() {
    let bytes = compile("gpt2_sdpa_ts_op17", "cct", "0.25");
    let file =
        std::env::temp_dir().join(format!("sofa-fixture-pipe-{}.sofabin", std::process::id()));
    std::fs::write(&file, &bytes).unwrap();
    let asm = Command::new(BIN)
        .arg("disasm")
        .arg(&file)
        .output()
        .expect("disasm runs");
    assert!(asm.status.success());
    let mut child = Command::new(BIN)
        .args(["asm", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("asm runs");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &asm.stdout).unwrap();
    let back = child.wait_with_output().unwrap();
    let _ = std::fs::remove_file(&file);
    assert!(back.status.success());
    assert!(
        back.stdout == bytes,
        "disasm | asm - differs from the binary"
    );
}

#[test]
fn assembly_snapshots_of_every_fixture_cct_keep_quarter() {
    for name in FIXTURES {
        let p = Program::decode(&compile(name, "cct", "0.25")).expect("decodes");
        let text = asm_with_hashed_data(&p);
        assert_eq!(
            asm_with_hashed_data(&Program::decode(&compile(name, "cct", "0.25")).unwrap()),
            text,
            "{name}: compiling twice gives different programs"
        );
        insta::assert_snapshot!(format!("asm_{name}"), text);
    }
}

#[test]
fn schedule_json_snapshots_of_every_fixture_cct_keep_quarter() {
    for name in FIXTURES {
        let model = fixture(name, "onnx");
        let run = Command::new(BIN)
            .args(["compile", &model.display().to_string(), "--shape", SHAPE])
            .args(["--keep-ratio", "0.25", "--emit", "schedule-json"])
            .output()
            .expect("sofa runs");
        assert!(
            run.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        let text = String::from_utf8(run.stdout).expect("UTF-8 JSON");
        let doc: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(
            doc["layers"].as_array().map(Vec::len),
            Some(2),
            "{name}: two layers"
        );
        insta::assert_snapshot!(format!("schedule_{name}"), text);
    }
}
