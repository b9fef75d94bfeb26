//! `lower_model` on the six ONNX fixtures: every program passes `Program::check`, replays
//! without deadlock under every schedule, names its tensors by the contract (ONNX inputs and
//! outputs, `.q/.k/.v/.out/.mask` per attention layer) and uses the instructions each model's
//! ops need. Plus the error paths: unsupported ops name the op; a general additive mask lowers
//! with SU-FA's bias prefix.

mod onnx_common;

use std::collections::BTreeMap;

use onnx_common::{fixture_path, FIXTURES};
use sofa_compiler::lower::model::lower_model;
use sofa_compiler::lower::sync::replay;
use sofa_compiler::lower::{LowerDefaults, LowerError};
use sofa_compiler::onnx::{import_file, ImportOptions};
use sofa_compiler::schedule::Schedule;
use sofa_ir::attr::{Attribute, DenseAttr};
use sofa_ir::dialect::DialectRegistry;
use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{Program, TensorKind};
use sofa_ir::module::RETURN_OP;
use sofa_ir::pass::{NoInstrumentation, PassManager};
use sofa_ir::{ElemType, Location, Module, OpSpec, Type};

/// The fixtures' first recorded case: batch 2, sequence 8 (ViT: 17 tokens from the image).
fn pipeline(name: &str) -> String {
    let bind = if name.starts_with("vit") {
        "batch:2"
    } else {
        "batch:2,seq:8"
    };
    format!("shape-infer{{bind={bind}}},canonicalize,fuse-attention")
}

fn fused(name: &str) -> Module {
    fused_with(name, "")
}

/// [`fused`] with more passes after `fuse-attention`.
fn fused_with(name: &str, tail: &str) -> Module {
    let mut m = import_file(&fixture_path(name), &ImportOptions::default())
        .unwrap_or_else(|e| panic!("{name}: import failed: {e}"));
    let mut pm = PassManager::from_pipeline(
        DialectRegistry::with_core_dialects(),
        &sofa_compiler::passes::registry(),
        &format!("{}{tail}", pipeline(name)),
    )
    .unwrap();
    pm.run(&mut m, &mut NoInstrumentation)
        .unwrap_or_else(|e| panic!("{name}: pipeline failed: {e}"));
    m
}

fn lower(m: &Module, schedule: Schedule) -> Result<Program, LowerError> {
    let defaults = LowerDefaults {
        schedule,
        ..LowerDefaults::default()
    };
    lower_model(m, &HwConfig::default(), &defaults)
}

fn counts(p: &Program) -> BTreeMap<&'static str, usize> {
    let mut c = BTreeMap::new();
    for i in &p.instrs {
        *c.entry(i.opcode().mnemonic()).or_default() += 1;
    }
    c
}

fn check(name: &str, p: &Program) {
    if let Err(errs) = p.check(&HwConfig::default()) {
        let shown: Vec<String> = errs.iter().take(10).map(|e| e.to_string()).collect();
        panic!("{name}: {} check errors:\n{}", errs.len(), shown.join("\n"));
    }
    replay(p).unwrap_or_else(|stuck| panic!("{name}: deadlock at {stuck:?}"));
}

fn tensors_ending(p: &Program, suffix: &str) -> usize {
    p.tensors
        .iter()
        .filter(|t| t.name.ends_with(suffix))
        .count()
}

#[test]
fn every_fixture_lowers_to_a_valid_program_with_the_expected_instructions() {
    for name in FIXTURES {
        let p = lower(&fused(name), Schedule::Dense).unwrap_or_else(|e| panic!("{name}: {e}"));
        check(name, &p);
        let c = counts(&p);
        let has = |op: &str| c.get(op).copied().unwrap_or(0) > 0;
        // Qwen2 and Mistral: RMSNorm, rotary embeddings and SwiGLU, each one instruction.
        let llm = name.starts_with("qwen2") || name.starts_with("mistral");
        let family: &[&str] = if llm {
            &["VEC.RMSNORM", "VEC.ROPE", "VEC.SILU"]
        } else {
            &["VEC.LAYERNORM"]
        };
        for &op in ["LD", "ST", "GEMM", "SUFA.T", "SUFA.SYNC"]
            .iter()
            .chain(family)
        {
            assert!(has(op), "{name}: no {op} in {c:?}");
        }
        assert_eq!(c["HALT"], 1, "{name}");
        // Two attention layers, each with its contract-named operands and output.
        for suffix in [".q", ".k", ".v", ".out"] {
            assert_eq!(tensors_ending(&p, suffix), 2, "{name}: {suffix} tensors");
        }
        let kind = |n: &str| p.tensor(n).map(|t| t.kind);
        if name.starts_with("vit") {
            assert_eq!(kind("pixel_values"), Some(TensorKind::Input), "{name}");
            assert!(
                !has("GATHER"),
                "{name}: the CLS pooler is a view, not a gather"
            );
            assert!(has("VEC.ERF"), "{name}: exact GELU");
            // Patch tokens [B, 128, 16] → [B, 16, 128]: one transpose per image.
            assert_eq!(c.get("VEC.TRANSPOSE"), Some(&2), "{name}");
            assert_eq!(tensors_ending(&p, ".mask"), 0, "{name}: ViT has no mask");
        } else {
            assert_eq!(kind("input_ids"), Some(TensorKind::Input), "{name}");
            assert_eq!(kind("attention_mask"), Some(TensorKind::Input), "{name}");
            // Token ids: i64 → u32 index lists, then the embedding gather.
            assert!(has("GATHER") && has("VEC.CVT"), "{name}: {c:?}");
            // The shared padding (and causal) mask is built once.
            assert!(has("VEC.SELECT"), "{name}");
            assert_eq!(tensors_ending(&p, ".mask"), 1, "{name}");
        }
        if name.starts_with("gpt2") {
            assert_eq!(kind("logits"), Some(TensorKind::Output), "{name}");
            assert!(
                has("VEC.TANH") && has("VEC.MUL"),
                "{name}: tanh GELU with Pow 3"
            );
        } else {
            assert_eq!(
                kind("last_hidden_state"),
                Some(TensorKind::Output),
                "{name}"
            );
            if !llm {
                assert_eq!(kind("pooler_output"), Some(TensorKind::Output), "{name}");
                assert!(has("VEC.TANH"), "{name}: pooler");
            }
        }
    }
}

#[test]
fn every_schedule_gives_valid_programs() {
    for name in [
        "bert_sdpa_ts_op17",
        "gpt2_eager_ts_op17",
        "vit_sdpa_ts_op17",
    ] {
        let m = fused(name);
        for s in [Schedule::Cct, Schedule::Staged] {
            let p = lower(&m, s).unwrap_or_else(|e| panic!("{name} {s:?}: {e}"));
            check(name, &p);
            assert!(counts(&p).contains_key("SUFA.T"), "{name} {s:?}");
        }
    }
}

#[test]
fn sparsified_and_tiled_models_use_the_prediction_engines() {
    for name in [
        "bert_sdpa_ts_op17",
        "gpt2_eager_ts_op17",
        "vit_eager_ts_op17",
    ] {
        let m = fused_with(name, ",sparsify{keep=0.25},cct-tile");
        let p = lower_model(&m, &HwConfig::default(), &LowerDefaults::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        check(name, &p);
        let c = counts(&p);
        for op in ["DLZS.S", "SADS", "RASS", "SUFA.T", "GEMM"] {
            assert!(c.contains_key(op), "{name}: no {op} in {c:?}");
        }
    }
}

#[test]
fn lowering_is_deterministic() {
    let m = fused("gpt2_sdpa_ts_op17");
    let a = lower(&m, Schedule::Cct).unwrap();
    let b = lower(&m, Schedule::Cct).unwrap();
    assert_eq!(a.encode(), b.encode());
}

/// `@main(x: [2, 3] f32) -> op(x)` with `op` at location `node`.
fn single_op(op: &str, extra: Option<(&str, Attribute)>) -> Module {
    let ty = Type::tensor(
        vec![sofa_ir::Dim::Static(2), sofa_ir::Dim::Static(3)],
        ElemType::F32,
    );
    let mut m = Module::new();
    let (_, entry) = m.add_func("main", vec![ty.clone()], vec![ty.clone()]);
    let x = m.blocks[entry].args[0];
    let mut spec = OpSpec::new(op)
        .operands([x])
        .results([ty])
        .loc(Location::name("node"));
    if let Some((k, v)) = extra {
        spec = spec.attr(k, v);
    }
    let o = m.build_at_end(entry, spec);
    let y = m.result(o, 0);
    m.build_at_end(entry, OpSpec::new(RETURN_OP).operands([y]));
    m
}

#[test]
fn unsupported_ops_name_the_op_and_its_location() {
    let m = single_op("onnx.Floor", None);
    let err = lower(&m, Schedule::Dense).unwrap_err();
    match err {
        LowerError::NoChipLowering(ops) => {
            let named: Vec<(&str, &str)> = ops
                .iter()
                .map(|o| (o.op.as_str(), o.name.as_str()))
                .collect();
            assert_eq!(named, [("onnx.Floor", "node")]);
        }
        other => panic!("{other:?}"),
    }
    // With host fallback the op is one HOST between the chip's (empty) segments.
    let defaults = LowerDefaults {
        host_fallback: true,
        ..LowerDefaults::default()
    };
    let p = lower_model(&m, &HwConfig::default(), &defaults).unwrap();
    check("floor", &p);
    assert_eq!(counts(&p)["HOST"], 1);
    assert_eq!(p.host_ops[0].op, "onnx.Floor");
    // A supported op lowers: Tanh is one VEC.TANH between a load and a store.
    let p = lower(&single_op("onnx.Tanh", None), Schedule::Dense).unwrap();
    check("tanh", &p);
    let c = counts(&p);
    assert_eq!((c["LD"], c["VEC.TANH"], c["ST"]), (1, 1, 1), "{c:?}");
    assert_eq!(p.tensors.len(), 2);
    assert_eq!(p.tensors[1].kind, TensorKind::Output);
}

#[test]
fn general_additive_masks_lower_with_a_bias_prefix() {
    let mut m = fused("bert_eager_ts_op17");
    // Replace the shared mask by a constant with a value that is neither 0 nor -inf: a score
    // bias, which SU-FA adds to every selected key's exact score.
    let attn: Vec<_> = m
        .all_ops()
        .into_iter()
        .filter(|&o| m.op(o).name == "attn.mha")
        .collect();
    let mask = m.op(attn[0]).operands[3];
    let shape: Vec<u64> = m
        .value_type(mask)
        .as_tensor()
        .unwrap()
        .static_dims()
        .unwrap();
    let n: u64 = shape.iter().product();
    let values: Vec<f32> = (0..n)
        .map(|i| if i % 3 == 0 { -5.0 } else { 0.0 })
        .collect();
    let dense = DenseAttr::from_f32(&shape, &values).unwrap();
    let c = m.create_op(
        OpSpec::new("onnx.Constant")
            .attr("value", Attribute::Dense(dense))
            .results([m.value_type(mask).clone()])
            .loc(Location::name("odd_mask")),
    );
    m.insert_before(attn[0], c);
    let cv = m.result(c, 0);
    for &a in &attn {
        m.op_mut(a).operands[3] = cv;
    }
    for s in [Schedule::Dense, Schedule::Cct, Schedule::Staged] {
        let p = lower(&m, s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
        check(&format!("odd mask {s:?}"), &p);
        let c = counts(&p);
        assert_eq!(c["SUFA.BIAS"], c["SUFA.T"], "{s:?}: {c:?}");
    }
}

/// Collects what a streamed lowering hands on, one op at a time (`batch` 1: a hand-on at every
/// op boundary), and how often.
#[derive(Default)]
struct Collect {
    instrs: Vec<sofa_ir::isa::Instr>,
    hand_ons: usize,
}

impl sofa_compiler::lower::model::InstrSink for Collect {
    fn take(&mut self, instrs: &[sofa_ir::isa::Instr]) -> std::io::Result<()> {
        self.instrs.extend_from_slice(instrs);
        self.hand_ons += 1;
        Ok(())
    }

    fn batch(&self) -> usize {
        1
    }
}

/// A streamed lowering hands on exactly the instructions of the whole-program lowering, in
/// order, and returns the same tensor and host-op tables without instructions; its binary
/// (head, then the instructions) is the whole program's byte for byte.
#[test]
fn a_streamed_lowering_hands_on_the_same_program() {
    for name in FIXTURES {
        let m = fused_with(name, ",sparsify{keep=0.25},cct-tile");
        let whole = lower(&m, Schedule::Cct).unwrap();
        let mut sink = Collect::default();
        let (head, count, _, _) = sofa_compiler::lower::model::lower_model_streamed(
            &m,
            &HwConfig::default(),
            &LowerDefaults::default(),
            &mut sink,
        )
        .unwrap();
        assert!(head.instrs.is_empty(), "{name}");
        assert_eq!(count, whole.instrs.len(), "{name}");
        assert_eq!(sink.instrs, whole.instrs, "{name}");
        assert!(sink.hand_ons > 10, "{name}: {} hand-ons", sink.hand_ons);
        assert_eq!(
            (&head.tensors, &head.host_ops),
            (&whole.tensors, &whole.host_ops)
        );
        let mut bytes = Vec::new();
        head.encode_head_to(count, &mut bytes).unwrap();
        Program::encode_instrs_to(&sink.instrs, &mut bytes).unwrap();
        let mut want = Vec::new();
        whole.encode_to(&mut want).unwrap();
        assert!(bytes == want, "{name}: the binaries differ");
    }
}
