//! `plan_layer`: one attention op of a model module read into a `Layer` — activation type and
//! scale from the op, keep-1 exactness, the mask operand's effect on the plan, and errors that
//! name the op.

use sofa_compiler::lower::{plan_layer, LowerError, LowerOptions};
use sofa_compiler::schedule::Schedule;
use sofa_ir::dialect::attn::{MhaAttrs, MHA};
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
    let l = plan_layer(&m, op, 0, &hw, &LowerOptions::default()).unwrap();
    assert_eq!(l.name, "enc/attn");
    assert_eq!((l.dt, l.scale, l.mask), (DType::F32, 0.3, None));
    assert_eq!(
        (l.batch, l.heads, l.kv_heads, l.seq_q, l.seq_k, l.d),
        (1, 4, 2, 20, 23, 8)
    );
    assert_eq!((l.q, l.k, l.v, l.o), (0, 0, 0, 0));
    // Default plan: one tile of all 23 keys, the whole 20 rows as one block, exact.
    assert_eq!((l.tc, l.bc, l.q_block, l.keep), (1, 23, 20, 1.0));
    assert_eq!(l.schedule, Schedule::Cct);
    let (m16, op16) = module(ElemType::F16, 8, false, &[]);
    let l16 = plan_layer(&m16, op16, 0, &hw, &LowerOptions::default()).unwrap();
    assert_eq!(l16.dt, DType::F16);
}

#[test]
fn plan_attributes_and_options_are_honoured() {
    let hw = HwConfig::default();
    let extra = [
        ("sofa.schedule", Attribute::String("dense".into())),
        ("sofa.tc", Attribute::i64(3)),
        ("sofa.q_block", Attribute::i64(8)),
    ];
    let (m, op) = module(ElemType::F32, 8, true, &extra);
    let opts = LowerOptions {
        schedule: Schedule::Staged,
        keep_ratio: Some(0.5),
        q_block: None,
        ..LowerOptions::default()
    };
    let l = plan_layer(&m, op, 0, &hw, &opts).unwrap();
    assert_eq!(
        (l.schedule, l.tc, l.bc, l.q_block, l.keep, l.tc_fixed),
        (Schedule::Dense, 3, 8, 8, 0.5, true)
    );
    let bad = LowerOptions {
        keep_ratio: Some(1.5),
        ..LowerOptions::default()
    };
    assert!(matches!(
        plan_layer(&m, op, 0, &hw, &bad),
        Err(LowerError::Module(msg)) if msg.contains("keep ratio")
    ));
}

#[test]
fn unsupported_ops_are_errors_naming_the_op() {
    let hw = HwConfig::default();
    // SU-FA needs the value width to be the head dim.
    let (m, op) = module(ElemType::F32, 16, false, &[]);
    match plan_layer(&m, op, 0, &hw, &LowerOptions::default()) {
        Err(LowerError::Op { op, loc, message }) => {
            assert_eq!((op.as_str(), loc.as_str()), (MHA, "enc/attn"));
            assert!(message.contains("value width"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // Integer operands are not attention data.
    let (m, op) = module(ElemType::I32, 8, false, &[]);
    let e = plan_layer(&m, op, 0, &hw, &LowerOptions::default()).unwrap_err();
    assert!(e.to_string().contains("float [B, H, S, D]"), "{e}");
    // Not an attention op at all.
    let ret = m.all_ops().into_iter().last().unwrap();
    let e = plan_layer(&m, ret, 0, &hw, &LowerOptions::default()).unwrap_err();
    assert!(e.to_string().contains("not an attention op"), "{e}");
}
