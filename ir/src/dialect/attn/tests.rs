//! Tests of the attn dialect's verify and infer hooks and attribute views.

use super::*;
use crate::module::OpSpec;
use crate::types::ElemType;

fn t(dims: &[u64]) -> Type {
    Type::Tensor(TensorType::static_shape(dims, ElemType::F32))
}

fn mha_attrs(heads: i64, kv: i64) -> MhaAttrs {
    MhaAttrs {
        heads,
        kv_heads: kv,
        head_dim: 16,
        scale: 0.25,
        causal: false,
        window: None,
    }
}

fn build_op(name: &str, attrs: Vec<(&'static str, Attribute)>, k_shape: &[u64]) -> (Module, Op) {
    let mut m = Module::new();
    let inputs = vec![t(&[1, 8, 5, 16]), t(k_shape), t(k_shape)];
    let (_, entry) = m.add_func("main", inputs, vec![]);
    let args = m.blocks[entry].args.clone();
    let mut spec = OpSpec::new(name)
        .operands(args)
        .results([t(&[1, 8, 5, 16])]);
    for (k, a) in attrs {
        spec = spec.attr(k, a);
    }
    let op = m.build_at_end(entry, spec);
    (m, op)
}

fn build(heads: i64, kv: i64, k_shape: &[u64]) -> (Module, Op) {
    build_op(MHA, mha_attrs(heads, kv).to_attrs(), k_shape)
}

fn errors(m: &Module, op: Op) -> Vec<String> {
    let mut e = Vec::new();
    verify_mha(m, op, &mut e);
    e
}

fn sparse(keep_ratio: f64, tiles: i64, radius: Option<f64>, pred_bits: i64) -> SparseMhaAttrs {
    SparseMhaAttrs {
        mha: mha_attrs(8, 2),
        keep_ratio,
        tiles,
        radius,
        rounding: Rounding::Nearest,
        pred_bits,
    }
}

fn sparse_errors(attrs: Vec<(&'static str, Attribute)>) -> Vec<String> {
    let (m, op) = build_op(SPARSE_MHA, attrs, &[1, 2, 7, 16]);
    let mut e = Vec::new();
    verify_sparse_mha(&m, op, &mut e);
    e
}

#[test]
fn gqa_shapes_verify_and_infer() {
    let (m, op) = build(8, 2, &[1, 2, 7, 16]);
    assert_eq!(errors(&m, op), Vec::<String>::new());
    assert_eq!(infer_mha(&m, op, &[]).unwrap(), vec![t(&[1, 8, 5, 16])]);
    assert_eq!(MhaAttrs::of(&m, op).unwrap().kv_heads, 2);
}

#[test]
fn inconsistent_heads_are_reported() {
    let (m, op) = build(8, 3, &[1, 2, 7, 16]);
    let e = errors(&m, op);
    assert!(
        e.iter().any(|s| s.contains("multiple of kv_heads")),
        "{e:?}"
    );
    assert!(e.iter().any(|s| s.contains("k's head count is 2")), "{e:?}");
}

#[test]
fn sparse_attributes_round_trip_and_verify() {
    let a = sparse(0.25, 4, Some(8.0), 4);
    let (m, op) = build_op(SPARSE_MHA, a.to_attrs(), &[1, 2, 7, 16]);
    assert_eq!(SparseMhaAttrs::of(&m, op), Some(a.clone()));
    assert!(!a.is_dense() && sparse(1.0, 1, None, 4).is_dense());
    assert_eq!(sparse_errors(a.to_attrs()), Vec::<String>::new());
    let no_radius = sparse(0.5, 2, None, 4).to_attrs();
    assert!(no_radius.iter().all(|(k, _)| *k != "radius"));
    assert_eq!(sparse_errors(no_radius), Vec::<String>::new());
    assert_eq!(infer_mha(&m, op, &[]).unwrap(), vec![t(&[1, 8, 5, 16])]);
}

#[test]
fn sparse_attribute_ranges_are_reported_by_name() {
    let cases = [
        (
            sparse(0.0, 4, None, 4),
            "keep_ratio 0.0 is out of range: must be in [1.1754944e-38, 1] (stored as f32)",
        ),
        (
            sparse(1.5, 4, None, 4),
            "keep_ratio 1.5 is out of range: must be in [1.1754944e-38, 1] (stored as f32)",
        ),
        (sparse(0.5, 0, None, 4), "tiles must be at least 1, got 0"),
        (
            sparse(0.5, 2, Some(-1.0), 4),
            "radius must be a positive finite float",
        ),
        (sparse(0.5, 2, None, 6), "pred_bits must be in 2..=5, got 6"),
    ];
    for (a, want) in cases {
        let e = sparse_errors(a.to_attrs());
        assert!(e.iter().any(|s| s.contains(want)), "{want}: {e:?}");
    }
    let mut bad = sparse(0.5, 2, None, 4).to_attrs();
    bad.retain(|(k, _)| *k != "rounding");
    bad.push(("rounding", Attribute::string("ceil")));
    let e = sparse_errors(bad);
    assert!(e.iter().any(|s| s.contains("rounding must be")), "{e:?}");
    // Shape checks are shared with attn.mha.
    let mut wrong_heads = sparse(0.5, 2, None, 4);
    wrong_heads.mha.kv_heads = 4;
    let e = sparse_errors(wrong_heads.to_attrs());
    assert!(e.iter().any(|s| s.contains("k's head count is 2")), "{e:?}");
}

/// An `attn.mha` over [1, 2, 3, 16] q, k, v whose mask operand is `mask(m, entry)`.
fn masked_shape(mask: impl FnOnce(&mut Module, crate::Block) -> crate::Value) -> AttnShape {
    let mut m = Module::new();
    let qkv = t(&[1, 2, 3, 16]);
    let (_, entry) = m.add_func("main", vec![qkv.clone(), qkv.clone(), qkv.clone()], vec![]);
    let mut operands = m.blocks[entry].args.clone();
    operands.push(mask(&mut m, entry));
    let mut spec = OpSpec::new(MHA).operands(operands).results([qkv]);
    for (k, a) in mha_attrs(2, 2).to_attrs() {
        spec = spec.attr(k, a);
    }
    let op = m.build_at_end(entry, spec);
    AttnShape::of(&m, op).unwrap()
}

fn constant(m: &mut Module, entry: crate::Block, shape: &[u64], v: &[f32]) -> crate::Value {
    let d = crate::attr::DenseAttr::from_f32(shape, v).unwrap();
    let ty = Type::Tensor(d.ty().clone());
    let op = m.build_at_end(
        entry,
        OpSpec::new("onnx.Constant")
            .attr("value", Attribute::Dense(d))
            .results([ty]),
    );
    m.result(op, 0)
}

#[test]
fn masks_of_zeros_and_exclusions_are_no_bias_anything_else_is() {
    let exclusion =
        masked_shape(|m, e| constant(m, e, &[1, 1, 1, 3], &[0.0, -1e38, f32::NEG_INFINITY]));
    assert!(exclusion.masked && !exclusion.bias);
    let finite =
        masked_shape(|m, e| constant(m, e, &[1, 1, 1, 3], &[0.0, -0.5, f32::NEG_INFINITY]));
    assert!(finite.masked && finite.bias);
    // A float mask fed at run time: its values are unknown, so it is a bias.
    let fed = masked_shape(|m, e| m.add_block_arg(e, t(&[1, 1, 3, 3]), crate::Location::Unknown));
    assert!(fed.bias);
    // The exporters' Where(cond, 0, lowest) form and a bool mask exclude only.
    let where_form = masked_shape(|m, e| {
        let bool_ty = Type::Tensor(TensorType::static_shape(&[1, 1, 3, 3], ElemType::I1));
        let cond = m.add_block_arg(e, bool_ty, crate::Location::Unknown);
        let zero = constant(m, e, &[], &[0.0]);
        let low = constant(m, e, &[], &[f32::MIN]);
        let op = m.build_at_end(
            e,
            OpSpec::new("onnx.Where")
                .operands([cond, zero, low])
                .results([t(&[1, 1, 3, 3])]),
        );
        m.result(op, 0)
    });
    assert!(where_form.masked && !where_form.bias);
    let boolean = masked_shape(|m, e| {
        m.add_block_arg(
            e,
            Type::Tensor(TensorType::static_shape(&[1, 1, 1, 3], ElemType::I1)),
            crate::Location::Unknown,
        )
    });
    assert!(!boolean.bias);
    assert!(!AttnShape::new(1, 1, 1, 2, 2, 4, crate::isa::DType::F32).bias);
}
