//! `PieceCheck`: a program checked in pieces reports exactly what `Program::check` reports for
//! the whole, wherever the stream is cut, for a valid program and for one broken in each of
//! the rules that span the stream (HALT placement, an unsignalled WAIT, a HOST run twice and
//! one naming no host op, a SUFA.BIAS left dangling), plus a per-instruction fault.

mod isa_common;

use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{DType, Instr, PieceCheck, Program, SramRef};

fn in_pieces(p: &Program, cuts: &[usize]) -> Result<(), Vec<sofa_ir::isa::ProgramError>> {
    let hw = HwConfig::default();
    let mut check = PieceCheck::new(p, &hw);
    let mut from = 0;
    for &c in cuts.iter().chain(std::iter::once(&p.instrs.len())) {
        check.piece(&p.instrs[from..c]);
        from = c;
    }
    check.finish()
}

fn assert_same_everywhere(p: &Program) -> usize {
    let whole = p.check(&HwConfig::default());
    let n = p.instrs.len();
    for cut in 0..=n {
        assert_eq!(in_pieces(p, &[cut]), whole, "cut at {cut}");
    }
    let every: Vec<usize> = (1..n).collect();
    assert_eq!(in_pieces(p, &every), whole, "one instruction a piece");
    whole.err().map_or(0, |e| e.len())
}

#[test]
fn a_valid_program_checks_alike_in_any_pieces() {
    assert_eq!(assert_same_everywhere(&isa_common::program()), 0);
}

#[test]
fn a_broken_program_reports_the_same_problems_in_any_pieces() {
    let mut p = isa_common::program();
    let halt = p.instrs.pop().unwrap();
    let host = p
        .instrs
        .iter()
        .find(|i| matches!(i, Instr::Host { .. }))
        .cloned()
        .expect("the test program runs a host op");
    p.instrs.insert(3, halt);
    p.instrs.push(host);
    p.instrs.push(Instr::Host { op: 999 });
    p.instrs.push(Instr::Wait {
        sem: 30,
        engine: sofa_ir::isa::Engine::Dma,
    });
    p.instrs.push(Instr::SufaBias {
        bias: SramRef::temp(0),
        idx: SramRef::temp(0x100),
        rows: 4,
        sel: 2,
        n: 8,
        base: 0,
        dt: DType::F32,
    });
    p.instrs.push(Instr::Ld {
        dst: SramRef::token(0),
        src: sofa_ir::isa::DramAddr(0),
        rows: 0,
        row_bytes: 4,
        stride: 4,
    });
    let problems = assert_same_everywhere(&p);
    assert!(problems >= 5, "{problems} problems");
}
