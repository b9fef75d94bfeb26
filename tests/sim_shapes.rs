//! Every developer fixture at a shape other than its recorded ones — batch 2 × 64 tokens (the
//! fixtures' longest), ViT at batch 4 — fused, lowered to one SOFA program under `cct` and
//! `staged`, simulated, and compared with the host reference interpreter on the unfused model
//! (what `sofa run --reference` computes) within 1e-4. At 64 tokens the causal and sliding-window
//! masks and the RoPE tables exceed the 1024 elements `canonicalize` folds from weights; they
//! fold as position arithmetic (or lower to the chip when larger).
//!
//! Inputs are generated deterministically: token ids below the vocabulary (1000), an attention
//! mask of ones with the last 3 positions of the last row padded. The padding is shorter than
//! Mistral's 5-token window: with a window made only of padding a query row has no key left,
//! where the reference's finite mask (`finfo.min`) averages every value and the chip's exclusion
//! mask cannot (see the report of issue 11).
//!
//! ViT with K/V gathered is also run under `cct` and `dense`, whose blocks then pack the rows
//! of several heads.

mod common;
use common::*;

use std::collections::BTreeMap;

use sofa_compiler::lower::model::lower_model;
use sofa_compiler::lower::LowerDefaults;
use sofa_compiler::schedule::{KvSource, Schedule};
use sofa_ir::eval::Tensor;
use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{Instr, Program};
use sofa_runtime::sim::{simulate, SimOptions};

const BATCH: usize = 2;
const SEQ: usize = 64;
const VIT_BATCH: usize = 4;
const VOCAB: u64 = 1000;
const PADDING: usize = 3;

/// A small deterministic generator (64-bit LCG, high bits).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    /// Roughly normal values (a sum of uniforms), as image pixels.
    fn normal(&mut self) -> f32 {
        let s: f32 = (0..4).map(|_| (self.next() % 1_000_000) as f32 / 1e6).sum();
        (s - 2.0) * 1.7
    }
}

/// `input_ids` and `attention_mask` for a text model, or `pixel_values` for ViT.
fn inputs(name: &str) -> BTreeMap<String, Tensor> {
    let mut g = Lcg(0x5eed ^ name.len() as u64);
    let mut out = BTreeMap::new();
    if name.starts_with("vit") {
        let n = VIT_BATCH * 3 * 32 * 32;
        let px = (0..n).map(|_| g.normal()).collect();
        out.insert(
            "pixel_values".into(),
            Tensor::from_f32(vec![VIT_BATCH, 3, 32, 32], px).unwrap(),
        );
        return out;
    }
    let ids = (0..BATCH * SEQ)
        .map(|_| (g.next() % VOCAB) as i64)
        .collect();
    let mask = (0..BATCH * SEQ)
        .map(|i| i64::from(i < BATCH * SEQ - PADDING))
        .collect();
    out.insert(
        "input_ids".into(),
        Tensor::from_i64(vec![BATCH, SEQ], ids).unwrap(),
    );
    out.insert(
        "attention_mask".into(),
        Tensor::from_i64(vec![BATCH, SEQ], mask).unwrap(),
    );
    out
}

fn bindings(name: &str) -> String {
    if name.starts_with("vit") {
        format!("batch:{VIT_BATCH}")
    } else {
        format!("batch:{BATCH},seq:{SEQ}")
    }
}

/// Largest |simulated − reference| per output.
fn run(name: &str, schedule: Schedule) -> BTreeMap<String, f64> {
    let opts = LowerDefaults {
        schedule,
        ..LowerDefaults::default()
    };
    run_with(name, &opts).0
}

/// [`run`] lowered with `opts`; and the program.
fn run_with(name: &str, opts: &LowerDefaults) -> (BTreeMap<String, f64>, Program) {
    let schedule = opts.schedule;
    let inputs = inputs(name);
    let want = sofa_runtime::interp::run_function(&import(name), &inputs)
        .unwrap_or_else(|e| panic!("{name}: reference failed: {e}"));
    let mut m = import(name);
    run_pipeline(
        name,
        &mut m,
        &format!(
            "shape-infer{{bind={}}},canonicalize,fuse-attention",
            bindings(name)
        ),
    );
    let hw = HwConfig::default();
    let p = lower_model(&m, &hw, opts).unwrap_or_else(|e| panic!("{name}: {e}"));
    if let Err(errs) = p.check(&hw) {
        panic!("{name}: {}", errs[0]);
    }
    let raw = inputs
        .iter()
        .map(|(k, t)| (k.clone(), t.to_bytes()))
        .collect();
    let got = simulate(&p, &hw, &raw, &SimOptions::default())
        .unwrap_or_else(|e| panic!("{name} {schedule:?}: simulation failed: {e}"));
    let errors = want
        .iter()
        .map(|(k, w)| {
            let g = Tensor::from_bytes(&w.tensor_type(), &got.outputs[k]).unwrap();
            let worst = g
                .to_f64_vec()
                .iter()
                .zip(w.to_f64_vec())
                .map(|(a, b)| (a - b).abs())
                .fold(
                    0.0,
                    |m: f64, d| if d.is_nan() { f64::INFINITY } else { m.max(d) },
                );
            (k.clone(), worst)
        })
        .collect();
    (errors, p)
}

fn check(name: &str) {
    for s in [Schedule::Cct, Schedule::Staged] {
        for (k, e) in run(name, s) {
            eprintln!("{name} {s:?} '{k}': max error {e:e}");
            assert!(e <= TOLERANCE, "{name} {s:?}: '{k}' max error {e:e}");
        }
    }
}

#[test]
fn bert_sdpa_at_2x64() {
    check("bert_sdpa_ts_op17");
}

#[test]
fn bert_eager_at_2x64() {
    check("bert_eager_ts_op17");
}

#[test]
fn gpt2_sdpa_at_2x64() {
    check("gpt2_sdpa_ts_op17");
}

#[test]
fn gpt2_eager_at_2x64() {
    check("gpt2_eager_ts_op17");
}

#[test]
fn qwen2_gqa_rope_at_2x64() {
    check("qwen2_gqa_rope_sdpa_dynamo_op18");
}

#[test]
fn mistral_swa_at_2x64() {
    check("mistral_swa_eager_ts_op17");
}

#[test]
fn vit_sdpa_at_batch_4() {
    check("vit_sdpa_ts_op17");
}

#[test]
fn vit_eager_at_batch_4() {
    check("vit_eager_ts_op17");
}

/// With K and V gathered (not generated on demand), ViT's multi-head, unmasked attention packs
/// the rows of its (batch, head)s into full blocks under `cct` and `dense`: a SUFA.T spans more
/// rows than one head has (17), and the outputs still agree.
#[test]
fn vit_with_gathered_kv_packs_heads_into_blocks() {
    let name = "vit_sdpa_ts_op17";
    for schedule in [Schedule::Cct, Schedule::Dense] {
        let opts = LowerDefaults {
            schedule,
            kv: Some(KvSource::Gathered),
            ..LowerDefaults::default()
        };
        let (errors, p) = run_with(name, &opts);
        let widest = p
            .instrs
            .iter()
            .filter_map(|i| match i {
                Instr::SufaT { rows, .. } => Some(*rows),
                _ => None,
            })
            .max();
        assert_eq!(widest, Some(128), "{schedule:?}");
        for (k, e) in errors {
            eprintln!("{name} {schedule:?} gathered '{k}': max error {e:e}");
            assert!(e <= TOLERANCE, "{name} {schedule:?}: '{k}' max error {e:e}");
        }
    }
}
