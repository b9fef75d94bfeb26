//! Score biases in whole models, through the driver: an ONNX-style block
//! (`MatMul(q, kᵀ)` [`· scale`] `+ bias → Softmax → MatMul(v)`) with a T5 position bias or
//! ALiBi under a causal mask is fused (the bias becomes the mask operand), planned, lowered and
//! simulated; its outputs match the reference interpreter on the unfused module (1e-5), as
//! `sofa run --reference` checks. `schedule-json` prices the bias (its tiles' loads and
//! `SUFA.BIAS`) and agrees with a timing-only simulation of the attention segment within the
//! tolerances of `tests/cost_vs_sim.rs`.

mod fuse_attention_util;
mod onnx_common;

use std::collections::BTreeMap;

use fuse_attention_util::{dims, random, G};
use sofa_compiler::driver::{self, Target};
use sofa_ir::attr::{Attribute, DenseAttr};
use sofa_ir::dialect::attn::Schedule;
use sofa_ir::eval::precision::f32_to_f16_bits;
use sofa_ir::eval::Tensor;
use sofa_ir::isa::{Engine, Instr, Opcode, Program};
use sofa_ir::pass::NoInstrumentation;
use sofa_ir::{ElemType, Module, TensorType, Value};
use sofa_runtime::sim::{simulate, Mode, SimOptions};

const SCHEDULES: [Schedule; 3] = [Schedule::Cct, Schedule::Staged, Schedule::Dense];
const CYCLES_TOL: f64 = 0.25;
const BYTES_TOL: f64 = 0.10;

fn perm(p: &[i64]) -> (&'static str, Attribute) {
    ("perm", Attribute::i64_array(p))
}

fn axis(a: i64) -> (&'static str, Attribute) {
    ("axis", Attribute::i64(a))
}

/// T5's bidirectional relative-position bucket (8 buckets, max distance 16).
fn t5_bucket(i: usize, j: usize) -> usize {
    let rel = j as i64 - i as i64;
    let base = if rel > 0 { 4 } else { 0 };
    let rel = rel.abs();
    let bucket = if rel < 2 {
        rel
    } else {
        (2 + ((rel as f64 / 2.0).ln() / 8f64.ln() * 2.0) as i64).min(3)
    };
    (base + bucket) as usize
}

/// A `[1, H, S, S]` bias: T5's per-(head, bucket) values, or ALiBi (−m_h·(i − j)) with the
/// keys after each query at −inf (the causal mask folded into the constant, as exporters do).
fn bias(heads: usize, s: usize, alibi: bool) -> Vec<f32> {
    let table = random(&[heads, 8], 9).to_f64_vec();
    let mut v = Vec::with_capacity(heads * s * s);
    for h in 0..heads {
        let slope = 2f64.powf(-8.0 * (h + 1) as f64 / heads as f64);
        for i in 0..s {
            for j in 0..s {
                v.push(match (alibi, j > i) {
                    (true, true) => f32::NEG_INFINITY,
                    (true, false) => (-slope * (i - j) as f64) as f32,
                    (false, _) => 2.0 * table[h * 8 + t5_bucket(i, j)] as f32,
                });
            }
        }
    }
    v
}

/// The unfused block over inputs q, k, v `[1, H, S, D]` of `elem`: T5 unscaled, ALiBi scaled
/// by 1/√D.
fn block(heads: usize, s: usize, d: usize, elem: ElemType, alibi: bool) -> Module {
    let shape = [1, heads as u64, s as u64, d as u64];
    let ty = TensorType::new(dims(&shape), elem);
    let (mut g, a) = G::with_types(17, vec![ty.clone(), ty.clone(), ty]);
    let kt = g.op("onnx.Transpose", &[a[1]], &[perm(&[0, 1, 3, 2])]);
    let mut scores = g.op("onnx.MatMul", &[a[0], kt], &[]);
    if alibi {
        let scale = constant(&mut g, &[], &[1.0 / (d as f32).sqrt()], elem);
        scores = g.op("onnx.Mul", &[scores, scale], &[]);
    }
    let b = constant(
        &mut g,
        &[1, heads as u64, s as u64, s as u64],
        &bias(heads, s, alibi),
        elem,
    );
    let biased = g.op("onnx.Add", &[scores, b], &[]);
    let p = g.op("onnx.Softmax", &[biased], &[axis(-1)]);
    let o = g.op("onnx.MatMul", &[p, a[2]], &[]);
    let mut m = g.finish(&[o]);
    let func = m.funcs()[0];
    let props = &mut m.op_mut(func).props;
    props.insert("arg_attrs".into(), onnx_names(&["q", "k", "v"]));
    props.insert("res_attrs".into(), onnx_names(&["out"]));
    m
}

/// The `onnx.name`s of a signature, as the importer records them.
fn onnx_names(names: &[&str]) -> Attribute {
    Attribute::Array(
        names
            .iter()
            .map(|n| {
                let mut d = sofa_ir::AttrDict::new();
                d.insert("onnx.name".into(), Attribute::string(*n));
                Attribute::Dict(d)
            })
            .collect(),
    )
}

fn constant(g: &mut G, shape: &[u64], v: &[f32], elem: ElemType) -> Value {
    let d = match elem {
        ElemType::F16 => {
            let bytes: Vec<u8> = v
                .iter()
                .flat_map(|&x| f32_to_f16_bits(x).to_le_bytes())
                .collect();
            DenseAttr::new(TensorType::static_shape(shape, elem), bytes)
        }
        _ => DenseAttr::from_f32(shape, v),
    };
    g.constant(d.expect("valid constant"))
}

fn target(schedule: Schedule, keep: f64) -> Target {
    Target {
        keep: Some(keep),
        schedule,
        ..Target::default()
    }
}

/// `m` through the driver's model pipeline.
fn compiled(m: &Module, t: &Target) -> Module {
    let mut c = m.clone();
    driver::model_pipeline(t, &Default::default())
        .unwrap()
        .run(&mut c, &mut NoInstrumentation)
        .unwrap_or_else(|e| panic!("{e}"));
    c
}

fn count(p: &Program, op: Opcode) -> usize {
    p.instrs.iter().filter(|i| i.opcode() == op).count()
}

#[test]
fn biased_blocks_match_the_reference_under_every_schedule() {
    for alibi in [false, true] {
        let m = block(2, 21, 8, ElemType::F32, alibi);
        let inputs: BTreeMap<String, Tensor> = ["q", "k", "v"]
            .iter()
            .zip(40..)
            .map(|(n, seed)| (n.to_string(), random(&[1, 2, 21, 8], seed)))
            .collect();
        let want = sofa_runtime::interp::run_function(&m, &inputs).unwrap();
        for s in SCHEDULES {
            let t = target(s, 1.0);
            let c = compiled(&m, &t);
            let attn: Vec<_> = c
                .all_ops()
                .into_iter()
                .filter(|&o| sofa_ir::dialect::sofa::attention_kind(&c, o).is_some())
                .collect();
            assert_eq!(attn.len(), 1, "alibi={alibi}: fused into one attention op");
            let shape = sofa_ir::dialect::attn::AttnShape::of(&c, attn[0]).unwrap();
            assert!(shape.bias, "alibi={alibi}: the mask is a bias");
            let (p, _) = driver::lower_model(&c, &t).unwrap_or_else(|e| panic!("{e}"));
            p.check(&t.hw).unwrap_or_else(|e| panic!("{}", e[0]));
            assert!(count(&p, Opcode::SufaBias) > 0, "{s:?}");
            let raw = inputs
                .iter()
                .map(|(k, v)| (k.clone(), v.to_bytes()))
                .collect();
            let got = simulate(&p, &t.hw, &raw, &SimOptions::default()).unwrap();
            for (name, w) in &want {
                let g = Tensor::from_bytes(&w.tensor_type(), &got.outputs[name]).unwrap();
                let err = g
                    .to_f64_vec()
                    .iter()
                    .zip(w.to_f64_vec())
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f64, f64::max);
                assert!(err < 1e-5, "alibi={alibi} {s:?}: max error {err}");
            }
        }
    }
}

/// The instruction range of the program's attention segment: from its opening `go`
/// handshakes (the copies of q, k and v before it are DMA only) to its final `ST`, right
/// after DMA's last `WAIT done`.
fn attention_region(p: &Program, semaphores: u32) -> std::ops::Range<usize> {
    let start = p
        .instrs
        .iter()
        .position(|i| matches!(i, Instr::Signal { .. }))
        .expect("a segment with handshakes");
    let done = u16::try_from(semaphores - 1).unwrap();
    let last_wait = p
        .instrs
        .iter()
        .rposition(|i| {
            *i == Instr::Wait {
                engine: Engine::Dma,
                sem: done,
            }
        })
        .expect("closing handshakes");
    start..last_wait + 2
}

#[test]
fn schedule_json_prices_the_bias_as_the_simulator_times_it() {
    // The cost model prices at the chip's 16-bit type: an f16 T5 block, H = 2, S = 256.
    let m = block(2, 256, 64, ElemType::F16, false);
    let mut bad = Vec::new();
    for keep in [0.25, 1.0] {
        for s in SCHEDULES {
            let t = target(s, keep);
            let c = compiled(&m, &t);
            let json = driver::schedule_json(&c, &t, "t5").unwrap();
            let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
            let layer = &doc["layers"][0];
            assert!(
                layer["instrs"]["SUFA.BIAS"].as_u64().unwrap_or(0) > 0,
                "{s:?}: {}",
                layer["instrs"]
            );
            assert!(
                layer["dram"]["mask"]["read"].as_u64().unwrap_or(0) > 0,
                "{s:?}"
            );
            let (pc, pb) = (
                doc["totals"]["latency_cycles"].as_u64().unwrap(),
                doc["totals"]["dram_bytes"].as_u64().unwrap(),
            );
            let (p, _) = driver::lower_model(&c, &t).unwrap();
            let region = attention_region(&p, t.hw.control.semaphores);
            let opts = SimOptions {
                mode: Mode::TimingOnly,
                regions: vec![("attn".into(), region)],
                ..SimOptions::default()
            };
            let r = simulate(&p, &t.hw, &BTreeMap::new(), &opts).unwrap().report;
            let a = &r.regions[0];
            let (sc, sb) = (
                a.end_cycle - a.start_cycle,
                a.dram_read_bytes + a.dram_written_bytes,
            );
            let rel = |x: u64, y: u64| (x as f64 - y as f64) / y as f64;
            let (ec, eb) = (rel(pc, sc), rel(pb, sb));
            eprintln!(
                "keep {keep} {}: cycles {pc} vs {sc} ({:+.1}%), bytes {pb} vs {sb} ({:+.1}%)",
                s.name(),
                100.0 * ec,
                100.0 * eb
            );
            if ec.abs() > CYCLES_TOL || eb.abs() > BYTES_TOL {
                bad.push(format!("keep {keep} {}", s.name()));
            }
        }
    }
    assert!(bad.is_empty(), "{bad:?}");
}

/// The T5 block as an ONNX file (the position bias an initializer), compiled from the file by
/// the driver as `sofa run model.onnx` does, against the reference interpreter on the imported
/// model as `sofa run --reference` runs it.
#[test]
fn an_onnx_t5_model_runs_like_its_reference() {
    use onnx_common::{encode, ints_attr, model, node, value_info, D};
    use sofa_compiler::onnx::proto::GraphProto;
    use sofa_compiler::onnx::{import_file, ImportOptions};
    let (h, s, d) = (2usize, 13usize, 8usize);
    let qkv = |n: &str| {
        value_info(
            n,
            1,
            &[D::N(1), D::N(h as i64), D::N(s as i64), D::N(d as i64)],
        )
    };
    let dims = [1, h as i64, s as i64, s as i64];
    let mut softmax = node("Softmax", "softmax", &["biased"], &["p"]);
    softmax.attribute.push(onnx_common::int_attr("axis", -1));
    let mut transpose = node("Transpose", "kt", &["k"], &["kt"]);
    transpose.attribute.push(ints_attr("perm", &[0, 1, 3, 2]));
    let g = GraphProto {
        node: vec![
            transpose,
            node("MatMul", "scores", &["q", "kt"], &["s"]),
            node("Add", "bias", &["s", "position_bias"], &["biased"]),
            softmax,
            node("MatMul", "out", &["p", "v"], &["o"]),
        ],
        input: vec![qkv("q"), qkv("k"), qkv("v")],
        output: vec![qkv("o")],
        initializer: vec![onnx_common::f32_tensor_raw(
            "position_bias",
            &dims,
            &bias(h, s, false),
        )],
        ..GraphProto::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t5.onnx");
    std::fs::write(&path, encode(&model(17, g))).unwrap();
    let reference = import_file(&path, &ImportOptions::default()).unwrap();
    let inputs: BTreeMap<String, Tensor> = ["q", "k", "v"]
        .iter()
        .zip(60..)
        .map(|(n, seed)| (n.to_string(), random(&[1, h, s, d], seed)))
        .collect();
    let want = sofa_runtime::interp::run_function(&reference, &inputs).unwrap();
    for sched in SCHEDULES {
        let t = target(sched, 1.0);
        let m = driver::compile_onnx(&path, &BTreeMap::new(), &t).unwrap();
        let (p, _) = driver::lower_model(&m, &t).unwrap();
        p.check(&t.hw).unwrap_or_else(|e| panic!("{}", e[0]));
        assert!(count(&p, Opcode::SufaBias) > 0, "{sched:?}");
        let raw = inputs
            .iter()
            .map(|(k, v)| (k.clone(), v.to_bytes()))
            .collect();
        let got = simulate(&p, &t.hw, &raw, &SimOptions::default()).unwrap();
        let w = &want["o"];
        let g = Tensor::from_bytes(&w.tensor_type(), &got.outputs["o"]).unwrap();
        let err = g
            .to_f64_vec()
            .iter()
            .zip(w.to_f64_vec())
            .map(|(a, b)| (a - b).abs())
            .fold(0f64, f64::max);
        assert!(err < 1e-5, "{sched:?}: max error {err}");
    }
}
