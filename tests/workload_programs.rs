//! The SOFA-ISA program of every workload spec (`workloads/*.toml`, cct, keep 0.25), as
//! `sofa run --workload` lowers it (the cct-tile plan, through `sofa.kernel`s), as an insta
//! snapshot. Paper-scale programs have up to millions of instructions per layer, so the
//! snapshot is a digest of a one-layer copy of each spec (all layers of a spec are identical):
//! the tensor table (initializer bytes as their hash), the instruction count per opcode, the FNV-1a hash of the encoded binary
//! and the first instructions in full. Any change to the emitted program changes the hash.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use sofa_compiler::driver::{self, Target};
use sofa_compiler::workload::load_spec;
use sofa_ir::hw::{fnv1a64, HwConfig};
use sofa_ir::isa::Program;

mod common;
use common::asm_with_hashed_data;

/// Instructions printed in full at the head of each digest.
const HEAD: usize = 80;

fn workloads() -> Vec<PathBuf> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/workloads"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// What `sofa run --workload` lowers: the driver's workload pipeline (the spec planned by
/// `cct-tile`, taken to `sofa.kernel`s by `lower-to-sofa`, 16-bit activations), then the ISA.
fn one_layer_program(path: &std::path::Path) -> Program {
    let mut spec = load_spec(path).unwrap();
    spec.layers = 1;
    let target = Target {
        keep: Some(0.25),
        ..Target::default()
    };
    let module = driver::compile_workload(&spec, &target).unwrap();
    driver::lower_workload(&module, &target).unwrap()
}

fn digest(p: &Program) -> String {
    let mut out = String::new();
    let bytes = p.encode();
    let _ = writeln!(
        out,
        "{} instructions, {} bytes, fnv1a64 {:016x}",
        p.instrs.len(),
        bytes.len(),
        fnv1a64(&bytes)
    );
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for i in &p.instrs {
        *counts.entry(i.opcode().mnemonic()).or_default() += 1;
    }
    for (op, n) in &counts {
        let _ = writeln!(out, "  {op:<10} {n}");
    }
    let asm = asm_with_hashed_data(p);
    let body: Vec<&str> = asm.lines().collect();
    let first = body.iter().position(|l| l.is_empty()).map_or(0, |i| i + 1);
    for line in &body[..first] {
        let _ = writeln!(out, "{line}");
    }
    for line in body[first..].iter().take(HEAD) {
        let _ = writeln!(out, "{line}");
    }
    if body.len() > first + HEAD {
        let _ = writeln!(out, "; ... {} more instructions", body.len() - first - HEAD);
    }
    out
}

#[test]
fn program_digest_of_every_workload_cct_keep_quarter() {
    let files = workloads();
    assert_eq!(files.len(), 8);
    for path in files {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let p = one_layer_program(&path);
        if let Err(errs) = p.check(&HwConfig::default()) {
            panic!("{name}: {}", errs[0]);
        }
        let text = digest(&p);
        assert_eq!(
            text,
            digest(&one_layer_program(&path)),
            "{name}: not deterministic"
        );
        insta::assert_snapshot!(format!("program_{name}"), text);
    }
}
