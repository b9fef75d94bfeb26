//! `plan_layer`: one attention op of a model module read into a `Layer` — activation type and
//! scale from the op, keep-1 exactness, the mask operand's effect on the plan, and errors that
//! name the op.

use sofa_compiler::lower::{plan_layer, LowerDefaults, LowerError};
use sofa_ir::dialect::attn::{Ablation, MhaAttrs, Schedule, MHA};
use sofa_ir::hw::HwConfig;
use sofa_ir::isa::DType;
use sofa_ir::module::RETURN_OP;
use sofa_ir::{Attribute, ElemType, Location, Module, Op, OpSpec, TensorType, Type};

fn tensor(dims: &[u64], elem: ElemType) -> Type {
    Type::Tensor(TensorType::static_shape(dims, elem))
}

/// `@main(q, k, v[, mask])` returning `attn.mha(q, k, v[, mask])` (q `[1, 4, 20, 8]`, k and v
/// `[1, 2, 23, v_dim]`), plus extra attributes.
fn module(
    elem: ElemType,
    v_dim: u64,
    mask: bool,
    extra: &[(&'static str, Attribute)],
) -> (Module, Op) {
    let q = tensor(&[1, 4, 20, 8], elem);
    let kv = tensor(&[1, 2, 23, 8], elem);
    let v = tensor(&[1, 2, 23, v_dim], elem);
    let mut inputs = vec![q.clone(), kv, v];
    if mask {
        inputs.push(tensor(&[1, 1, 1, 23], ElemType::F32));
    }
    let mut m = Module::new();
    let (_, entry) = m.add_func("main", inputs, vec![q.clone()]);
    let args = m.blocks[entry].args.clone();
    let attrs = MhaAttrs {
        heads: 4,
        kv_heads: 2,
        head_dim: 8,
        scale: 0.3,
        causal: true,
        window: None,
    };
    let mut spec = OpSpec::new(MHA)
        .operands(args)
        .results([q])
        .loc(Location::name("enc/attn"));
    for (k, a) in attrs.to_attrs().into_iter().chain(extra.iter().cloned()) {
        spec = spec.attr(k, a);
    }
    let op = m.build_at_end(entry, spec);
    let r = m.result(op, 0);
    m.build_at_end(entry, OpSpec::new(RETURN_OP).operands([r]));
    (m, op)
}

#[test]
fn type_scale_and_shapes_come_from_the_op() {
    let hw = HwConfig::default();
    let (m, op) = module(ElemType::F32, 8, false, &[]);
    let l = plan_layer(&m, op, 0, &hw, &LowerDefaults::default()).unwrap();
    assert_eq!(l.name, "enc/attn");
    assert_eq!(
        (l.shape.dt, l.shape.scale, l.dram.mask),
        (DType::F32, 0.3, None)
    );
    assert_eq!(
        (
            l.shape.batch,
            l.shape.heads,
            l.shape.kv_heads,
            l.shape.seq_q,
            l.shape.seq_k,
            l.shape.head_dim
        ),
        (1, 4, 2, 20, 23, 8)
    );
    assert_eq!((l.dram.q, l.dram.k, l.dram.v, l.dram.o), (0, 0, 0, 0));
    // Default plan: one tile of all 23 keys, the whole 20 rows as one block, exact.
    assert_eq!(
        (l.plan.tc, l.bc(), l.plan.q_block, l.plan.keep),
        (1, 23, 20, 1.0)
    );
    assert_eq!(l.plan.schedule, Schedule::Cct);
    let (m16, op16) = module(ElemType::F16, 8, false, &[]);
    let l16 = plan_layer(&m16, op16, 0, &hw, &LowerDefaults::default()).unwrap();
    assert_eq!(l16.shape.dt, DType::F16);
}

#[test]
fn the_plan_comes_from_the_attributes_and_defaults_fill_only_the_gaps() {
    let hw = HwConfig::default();
    let extra = [
        ("sofa.schedule", Attribute::String("dense".into())),
        ("sofa.tc", Attribute::i64(3)),
        ("sofa.q_block", Attribute::i64(8)),
    ];
    let (m, op) = module(ElemType::F32, 8, true, &extra);
    let rass = Ablation::parse("rass").unwrap();
    let defaults = LowerDefaults {
        schedule: Schedule::Staged,
        ablate: rass,
        kv: None,
        host_fallback: false,
        weights_by_reference: false,
    };
    let l = plan_layer(&m, op, 0, &hw, &defaults).unwrap();
    // Schedule, Tc and query block from the op; the ablations (absent there) by default; the
    // keep ratio is the op's semantics (attn.mha keeps every key).
    assert_eq!(
        (
            l.plan.schedule,
            l.plan.tc,
            l.bc(),
            l.plan.q_block,
            l.plan.keep,
            l.plan.tc_fixed
        ),
        (Schedule::Dense, 3, 8, 8, 1.0, true)
    );
    assert_eq!(l.plan.ablate, rass);
    // Without plan attributes the defaults decide.
    let (bare, bare_op) = module(ElemType::F32, 8, false, &[]);
    let l = plan_layer(&bare, bare_op, 0, &hw, &defaults).unwrap();
    assert_eq!((l.plan.schedule, l.plan.tc), (Schedule::Staged, 1));
    // A plan attribute that does not read as a plan is an error naming the op.
    let (m, op) = module(
        ElemType::F32,
        8,
        false,
        &[("sofa.schedule", Attribute::String("fast".into()))],
    );
    match plan_layer(&m, op, 0, &hw, &defaults) {
        Err(LowerError::Op { loc, message, .. }) => {
            assert_eq!(loc, "enc/attn");
            assert_eq!(
                message,
                "unknown schedule 'fast' (expected dense, staged or cct)"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unsupported_ops_are_errors_naming_the_op() {
    let hw = HwConfig::default();
    // SU-FA needs the value width to be the head dim.
    let (m, op) = module(ElemType::F32, 16, false, &[]);
    match plan_layer(&m, op, 0, &hw, &LowerDefaults::default()) {
        Err(LowerError::Op { op, loc, message }) => {
            assert_eq!((op.as_str(), loc.as_str()), (MHA, "enc/attn"));
            assert!(message.contains("value width"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // Integer operands are not attention data.
    let (m, op) = module(ElemType::I32, 8, false, &[]);
    let e = plan_layer(&m, op, 0, &hw, &LowerDefaults::default()).unwrap_err();
    assert!(e.to_string().contains("float [B, H, S, D]"), "{e}");
    // Not an attention op at all.
    let ret = m.all_ops().into_iter().last().unwrap();
    let e = plan_layer(&m, ret, 0, &hw, &LowerDefaults::default()).unwrap_err();
    assert!(e.to_string().contains("not an attention op"), "{e}");
}
