//! Attention-only layers whose SRAM layouts the fixtures never reach, simulated functionally
//! and compared with the reference interpreter on the same module: heads of 128 (f16, as
//! workloads compute), where the second scaled-Q entry fits only with each block's output rows
//! written over its Q (`buffers::Rings::out_in_q`), causal and not, and non-causal heads whose
//! blocks pack the rows of several heads. Keep 1, so every schedule computes exact attention.

mod common;

use std::collections::BTreeMap;

use sofa_compiler::lower::sync::replay_final;
use sofa_compiler::lower::{lower_attention, LowerDefaults};
use sofa_compiler::workload::{build_module, parse_spec};
use sofa_ir::eval::Tensor;
use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{Instr, Program, TensorKind};
use sofa_ir::types::ElemType;
use sofa_ir::Module;
use sofa_runtime::sim::{simulate, SimOptions};

/// f16 inputs and outputs (outputs below 1 in magnitude): one f16 step at 1 is 9.8e-4; the
/// chip rounds at every f16 store, the reference once.
const TOLERANCE: f64 = 1e-3;

/// The module of `spec` planned by `cct-tile` at keep 1 under `schedule`.
fn planned(spec: &str, schedule: &str) -> Module {
    let mut m = build_module(&parse_spec(spec).unwrap()).unwrap();
    let pipeline = format!("sparsify{{keep=1}},cct-tile{{schedule={schedule}}}");
    common::run_pipeline(schedule, &mut m, &pipeline);
    m
}

/// Deterministic f16 inputs in [-1, 1) for every input tensor of the program.
fn inputs(p: &Program) -> BTreeMap<String, Tensor> {
    let inputs = p.tensors.iter().filter(|t| t.kind == TensorKind::Input);
    inputs
        .enumerate()
        .map(|(seed, t)| {
            let shape: Vec<usize> = t.shape.iter().map(|&d| d as usize).collect();
            let data = common::random_values(shape.iter().product(), seed as u64);
            let t32 = Tensor::from_f32(shape, data).unwrap();
            (t.name.clone(), t32.with_elem(ElemType::F16).unwrap())
        })
        .collect()
}

/// Simulates the lowered `m` and returns the largest |simulated − reference| and the program,
/// whose engines must drain with every semaphore back at 0.
fn worst_error(m: &Module) -> (f64, Program) {
    let hw = HwConfig::default();
    let p = lower_attention(m, &hw, &LowerDefaults::default()).unwrap();
    let sems = replay_final(&p).unwrap_or_else(|stuck| panic!("deadlock at {stuck:?}"));
    assert!(sems.values().all(|&c| c == 0), "{sems:?}");
    let inputs = inputs(&p);
    // `@main`'s arguments are q, k, v in that order; the program names them `layer0.q`, ...
    let args = ["q", "k", "v"].iter().enumerate().map(|(i, x)| {
        let t = inputs[&format!("layer0.{x}")].clone();
        (format!("arg{i}"), t)
    });
    let want = sofa_runtime::interp::run_function(m, &args.collect()).unwrap();
    let raw = inputs
        .iter()
        .map(|(k, t)| (k.clone(), t.to_bytes()))
        .collect();
    let got = simulate(&p, &hw, &raw, &SimOptions::default()).unwrap();
    let (Some(w), Some(g)) = (want.values().next(), got.outputs.values().next()) else {
        panic!("no output");
    };
    let g = Tensor::from_bytes(&w.tensor_type(), g).unwrap();
    let worst = g
        .to_f64_vec()
        .iter()
        .zip(w.to_f64_vec())
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    (worst, p)
}

/// Whether every SUFA.SYNC writes where a VEC.AFFINE scaled a block's Q.
fn output_over_q(p: &Program) -> bool {
    let scaled: Vec<_> = p
        .instrs
        .iter()
        .filter_map(|i| match i {
            Instr::VecAffine { dst, .. } => Some(*dst),
            _ => None,
        })
        .collect();
    let mut syncs = p.instrs.iter().filter_map(|i| match i {
        Instr::SufaSync { dst, .. } => Some(*dst),
        _ => None,
    });
    syncs.all(|d| scaled.contains(&d))
}

const WIDE: &str = "name = \"t\"\nlayers = 1\nhidden = 256\nheads = 2\nseq = 256\n";

#[test]
fn heads_of_128_write_their_output_over_q_and_agree() {
    for causal in [true, false] {
        for schedule in ["cct", "dense"] {
            let spec = format!("{WIDE}causal = {causal}\n");
            let (worst, p) = worst_error(&planned(&spec, schedule));
            let what = format!("{schedule} causal={causal}");
            assert!(output_over_q(&p), "{what}: an output buffer of its own");
            eprintln!("{what}: max error {worst:e}");
            assert!(worst <= TOLERANCE, "{what}: max error {worst:e}");
        }
    }
}

#[test]
fn packed_heads_agree() {
    // ViT-B/16's attention: 12 heads of 64 over 197 tokens.
    let spec = "name = \"t\"\nlayers = 1\nhidden = 768\nheads = 12\nseq = 197\ncausal = false\n";
    for schedule in ["cct", "dense"] {
        let (worst, p) = worst_error(&planned(spec, schedule));
        let rows = p.instrs.iter().filter_map(|i| match i {
            Instr::SufaT { rows, .. } => Some(*rows),
            _ => None,
        });
        assert_eq!(rows.max(), Some(128), "{schedule}: blocks pack heads");
        eprintln!("packed {schedule}: max error {worst:e}");
        assert!(worst <= TOLERANCE, "{schedule}: max error {worst:e}");
    }
}
