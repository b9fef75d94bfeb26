//! The reference in `isa.md` stays true: every example assembles, every instruction has one,
//! and the complete program passes `Program::check` on the paper's hardware.

use std::collections::BTreeSet;

use super::*;

/// The bodies of the ```` ```text ```` blocks of `isa.md`.
fn doc_blocks() -> Vec<String> {
    let doc = include_str!("isa.md");
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        match (&mut current, line.trim()) {
            (None, "```text") => current = Some(String::new()),
            (Some(body), "```") => {
                blocks.push(std::mem::take(body));
                current = None;
            }
            (Some(body), _) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(current.is_none(), "unterminated code block in isa.md");
    blocks
}

fn parse_block(block: &str) -> Program {
    let text = if block.contains(".config_hash") {
        block.to_string()
    } else {
        format!(".config_hash 0x0\n{block}")
    };
    parse_asm(&text).unwrap_or_else(|e| panic!("isa.md example does not assemble: {e}\n{block}"))
}

#[test]
fn every_instruction_has_an_assembling_example() {
    let mut seen = BTreeSet::new();
    for block in doc_blocks() {
        for i in parse_block(&block).instrs {
            seen.insert(i.opcode());
        }
    }
    let missing: Vec<&str> = Opcode::ALL
        .iter()
        .filter(|o| !seen.contains(o))
        .map(|o| o.mnemonic())
        .collect();
    assert!(missing.is_empty(), "no isa.md example for {missing:?}");
}

#[test]
fn examples_are_canonical_text() {
    // Each single-instruction example line is exactly what the printer produces.
    for block in doc_blocks().iter().filter(|b| !b.contains(".config_hash")) {
        let p = parse_block(block);
        for (line, instr) in block.lines().zip(&p.instrs) {
            assert_eq!(asm::print_instr(instr, &[]), line);
        }
    }
}

#[test]
fn the_complete_program_passes_check_on_the_default_hardware() {
    let hw = HwConfig::default();
    let block = doc_blocks()
        .into_iter()
        .find(|b| b.contains(".config_hash") && !b.contains(".host") && !b.contains(".weights"))
        .expect("isa.md has a complete program");
    let mut p = parse_block(&block);
    assert_eq!(p.instrs.len(), 31);
    assert_eq!(
        p.check(&hw).unwrap_err(),
        vec![ProgramError {
            loc: ProgramLoc::Program,
            message: format!(
                "compiled for hardware config hash 0x0000000000000000, but 'sofa-28nm' hashes \
                 to {:#018x}",
                hw.hash()
            ),
        }]
    );
    p.config_hash = hw.hash();
    assert_eq!(p.check(&hw), Ok(()));
    // The @name operands resolved to the tensors' addresses.
    assert_eq!(
        p.instrs[0],
        Instr::Ld {
            dst: SramRef::token(0),
            src: DramAddr(0),
            rows: 32,
            row_bytes: 256,
            stride: 256
        }
    );
    assert!(matches!(
        p.instrs[29],
        Instr::St {
            dst: DramAddr(0x20000),
            ..
        }
    ));
}

#[test]
fn the_host_op_example_passes_check_and_round_trips() {
    let hw = HwConfig::default();
    let block = doc_blocks()
        .into_iter()
        .find(|b| b.contains(".host"))
        .expect("isa.md has a host-op example");
    let mut p = parse_block(&block);
    p.config_hash = hw.hash();
    assert_eq!(p.check(&hw), Ok(()));
    assert_eq!(p.format_version(), FORMAT_VERSION);
    let bytes = p.encode();
    assert_eq!(&bytes[4..6], &2u16.to_le_bytes());
    let back = Program::decode(&bytes).unwrap();
    assert_eq!(back, p);
    assert_eq!(parse_asm(&print_asm(&back)).unwrap().encode(), bytes);
}
