//! Every ONNX fixture compiles (`sofa compile`, the real binary) to a `.sofabin` under each
//! schedule and keep ratio; the program fits the paper's chip, and its assembly reads back to
//! the same bytes. The assembly of each fixture (cct, keep 0.25) is an insta snapshot, with
//! initializer bytes replaced by their hash so the snapshot stays readable.

mod common;
use common::*;

use std::process::Command;

use sofa_ir::hw::{fnv1a64, HwConfig};
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

/// The assembly with each tensor's `.data` lines replaced by one line with their FNV-1a hash.
fn snapshot_text(p: &Program) -> String {
    let mut out = String::new();
    let mut data = Vec::new();
    for line in print_asm(p).lines() {
        if let Some(hex) = line.strip_prefix(".data ") {
            data.extend_from_slice(hex.as_bytes());
            continue;
        }
        if !data.is_empty() {
            out.push_str(&format!(
                "; .data {} hex chars, fnv1a64 {:016x}\n",
                data.len(),
                fnv1a64(&data)
            ));
            data.clear();
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[test]
fn assembly_snapshots_of_every_fixture_cct_keep_quarter() {
    for name in FIXTURES {
        let p = Program::decode(&compile(name, "cct", "0.25")).expect("decodes");
        let text = snapshot_text(&p);
        assert_eq!(
            snapshot_text(&Program::decode(&compile(name, "cct", "0.25")).unwrap()),
            text,
            "{name}: compiling twice gives different programs"
        );
        insta::assert_snapshot!(format!("asm_{name}"), text);
    }
}
