//! Test helpers shared by the `tests_*` modules, and the whole-ISA smoke tests: every `isa.md`
//! example executes, and the complete example program runs end to end.

use std::collections::BTreeSet;

use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{parse_asm, DType, Instr, Opcode, Program, SramRef, TensorDecl, TensorKind};

use super::data::{load_f32, load_u32, store_f32, store_u32};
use super::{execute, ExecError, ExecOutcome, FunctionalStats};
use crate::sim::memory::Memory;

/// Memories of the default hardware with `dram` bytes of DRAM (one scratch tensor).
pub(super) fn memory(dram: u64) -> Memory {
    memory_on(&HwConfig::default(), dram)
}

/// Memories of `hw` with `dram` bytes of DRAM.
fn memory_on(hw: &HwConfig, dram: u64) -> Memory {
    let p = Program {
        host_ops: Vec::new(),
        config_hash: hw.hash(),
        tensors: vec![TensorDecl {
            name: "scratch".into(),
            kind: TensorKind::Scratch,
            dtype: DType::U8,
            shape: vec![dram],
            dram: 0,
            data: Default::default(),
            weights: None,
        }],
        instrs: vec![Instr::Halt {}],
    };
    Memory::new(&p, hw).expect("memory")
}

pub(super) fn put(mem: &mut Memory, at: SramRef, dt: DType, vals: &[f32]) {
    store_f32(mem, at, dt, vals).expect("store");
}

pub(super) fn get(mem: &Memory, at: SramRef, dt: DType, n: usize) -> Vec<f32> {
    load_f32(mem, at, dt, n).expect("load")
}

pub(super) fn put_u32(mem: &mut Memory, at: SramRef, words: &[u32]) {
    store_u32(mem, at, words).expect("store");
}

pub(super) fn get_u32(mem: &Memory, at: SramRef, n: usize) -> Vec<u32> {
    load_u32(mem, at, n).expect("load")
}

/// An index list `[count][entries…]`.
pub(super) fn put_list(mem: &mut Memory, at: SramRef, entries: &[u32]) {
    let mut w = vec![entries.len() as u32];
    w.extend_from_slice(entries);
    put_u32(mem, at, &w);
}

/// Execute on the default hardware with fresh statistics; panics on `Err`.
pub(super) fn exec(mem: &mut Memory, instr: &Instr) -> ExecOutcome {
    let mut stats = FunctionalStats::default();
    execute(0, instr, mem, &HwConfig::default(), &mut stats).expect("execute")
}

/// Execute and return the error message (panics when it succeeds).
pub(super) fn exec_err(mem: &mut Memory, instr: &Instr) -> ExecError {
    let mut stats = FunctionalStats::default();
    execute(0, instr, mem, &HwConfig::default(), &mut stats).expect_err("should fail")
}

/// `|a − b| ≤ tol` elementwise, with a readable failure.
pub(super) fn assert_close(got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol || (g.is_nan() && w.is_nan()) || g == w,
            "element {i}: got {g}, want {w} (tolerance {tol})\n got {got:?}\nwant {want:?}"
        );
    }
}

/// The ```` ```text ```` blocks of `isa.md`.
fn isa_examples() -> Vec<String> {
    let doc = include_str!("../../../../ir/src/isa/isa.md");
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        match (&mut current, line.trim()) {
            (None, "```text") => current = Some(String::new()),
            (Some(_), "```") => blocks.push(current.take().unwrap_or_default()),
            (Some(body), _) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn every_isa_example_instruction_executes() {
    // The examples illustrate full-size blocks; 1 MiB SRAMs hold all of them.
    let mut hw = HwConfig::default();
    hw.sram.token_bytes = 1 << 20;
    hw.sram.weight_bytes = 1 << 20;
    hw.sram.temp_bytes = 1 << 20;
    let mut seen = BTreeSet::new();
    for block in isa_examples()
        .iter()
        .filter(|b| !b.contains(".config_hash"))
    {
        let p = parse_asm(&format!(".config_hash 0x0\n{block}")).expect("example parses");
        for instr in &p.instrs {
            if let Instr::Host { op } = instr {
                // HOST needs the program's host-op table: `sim::simulate` runs it (tested in
                // `tests/sim_host.rs`); alone it is an error naming it.
                let mut mem = memory_on(&hw, 1 << 20);
                let r = execute(0, instr, &mut mem, &hw, &mut FunctionalStats::default());
                assert_eq!(r, Err(ExecError::HostOp(*op)));
                seen.insert(instr.opcode());
                continue;
            }
            assert!(check_fits(instr, &hw), "{instr:?}");
            let mut mem = memory_on(&hw, 1 << 20);
            let mut stats = FunctionalStats::default();
            let r = execute(0, instr, &mut mem, &hw, &mut stats);
            assert!(r.is_ok(), "{instr:?}: {r:?}");
            seen.insert(instr.opcode());
        }
    }
    let missing: Vec<&str> = Opcode::ALL
        .iter()
        .filter(|o| !seen.contains(o))
        .map(|o| o.mnemonic())
        .collect();
    assert!(missing.is_empty(), "not executed: {missing:?}");
}

/// Whether every SRAM operand of `instr` lies inside the SRAMs of `hw`.
fn check_fits(instr: &Instr, hw: &HwConfig) -> bool {
    instr
        .operands()
        .expect("operands")
        .iter()
        .all(|o| match o.mem {
            sofa_ir::isa::Mem::Sram(r) => {
                u64::from(r.offset) + o.extent.unwrap_or(0) <= hw.sram_capacity(r.space)
            }
            sofa_ir::isa::Mem::Dram(_) => true,
        })
}

#[test]
fn the_complete_isa_program_runs_and_produces_finite_attention() {
    let hw = HwConfig::default();
    let block = isa_examples()
        .into_iter()
        .find(|b| b.contains(".config_hash") && !b.contains(".host"))
        .expect("complete program");
    let mut p = parse_asm(&block).expect("parses");
    p.config_hash = hw.hash();
    p.check(&hw).expect("passes check");
    let mut mem = Memory::new(&p, &hw).expect("memory");
    // Deterministic small inputs: x8/q16 integers, f16 activations in [-1, 1).
    for (n, t) in p.tensors.iter().enumerate() {
        let len = t.byte_len().expect("len") as usize;
        let bytes: Vec<u8> = match t.dtype {
            DType::F16 => (0..len / 2)
                .flat_map(|i| {
                    let v = (((i * 37 + n * 11) % 64) as f32 - 32.0) / 32.0;
                    sofa_ir::eval::precision::f32_to_f16_bits(v).to_le_bytes()
                })
                .collect(),
            _ => (0..len).map(|i| ((i * 13 + n) % 7) as u8).collect(),
        };
        if t.kind == TensorKind::Input {
            mem.write_tensor(t, &bytes).expect("input");
        }
    }
    let mut stats = FunctionalStats::default();
    let mut gathered = None;
    for (i, instr) in p.instrs.iter().enumerate() {
        let out = execute(i, instr, &mut mem, &hw, &mut stats).expect("runs");
        if matches!(instr, Instr::Gather { .. }) {
            gathered = out.counts.rows;
        }
    }
    // SADS keeps 8 of 32 keys for 128 queries: at least 8 distinct rows are gathered.
    let rows = gathered.expect("gather ran");
    assert!((8..=32).contains(&rows), "{rows}");
    let o = p.tensor("o").expect("o");
    let out = mem.read_tensor(o).expect("read");
    let mut vals = Vec::new();
    super::data::decode_f32(&out, DType::F16, 128 * 64, &mut vals);
    assert!(vals.iter().all(|v| v.is_finite()));
    assert!(
        vals.iter().any(|&v| v != 0.0),
        "attention output is all zero"
    );
    // The SADS read DLZS.S's output directly, so recall was measured: at least the top-1 of
    // every row (the radius may clip the rest), at most 8 per row.
    assert_eq!(stats.recall.len(), 1);
    let r = &stats.recall[0];
    assert!((128..=128 * 8).contains(&r.selected), "{r:?}");
    assert!(r.hits <= r.selected);
}
