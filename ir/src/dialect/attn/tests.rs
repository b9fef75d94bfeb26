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
