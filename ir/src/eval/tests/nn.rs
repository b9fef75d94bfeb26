//! Softmax, normalisations, Gelu, Attention and RotaryEmbedding.

use super::*;
use std::f32::consts::FRAC_1_SQRT_2;

#[test]
fn softmax_values_axis_and_infinite_rows() {
    let x = f32t(&[3], &[1.0, 2.0, 3.0]);
    assert_close(
        run1("Softmax", &[], &[&x]).as_f32().unwrap(),
        &[0.090_030_6, 0.244_728_5, 0.665_241],
        1e-6,
    );
    let x = f32t(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let y = run1("Softmax", &[("axis", Attribute::i64(0))], &[&x]);
    assert_close(
        y.as_f32().unwrap(),
        &[0.119_203, 0.119_203, 0.880_797, 0.880_797],
        1e-6,
    );
    // A partly masked row keeps its mass on the finite entries; a fully masked row is NaN.
    let inf = f32::NEG_INFINITY;
    let x = f32t(&[2, 2], &[0.0, inf, inf, inf]);
    let y = run1("Softmax", &[], &[&x]);
    assert_eq!(y.as_f32().unwrap()[..2], [1.0, 0.0]);
    assert!(y.as_f32().unwrap()[2..].iter().all(|v| v.is_nan()));
    let ls = run1("LogSoftmax", &[], &[&f32t(&[2], &[0.0, 0.0])]);
    assert_close(ls.as_f32().unwrap(), &[-std::f32::consts::LN_2; 2], 1e-6);
}

#[test]
fn softmax_before_opset_13_coerces_to_2d() {
    let x = f32t(&[1, 2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let inputs = [Some(&x)];
    let a = attrs(&[("axis", Attribute::i64(1))]);
    let old = eval_op("Softmax", &a, &inputs, 11).unwrap().remove(0);
    assert_close(
        old.as_f32().unwrap(),
        &[0.032_058_6, 0.087_144_3, 0.236_882_8, 0.643_914_2],
        1e-6,
    );
    let new = eval_op("Softmax", &a, &inputs, 13).unwrap().remove(0);
    assert_close(
        new.as_f32().unwrap(),
        &[0.119_203, 0.119_203, 0.880_797, 0.880_797],
        1e-6,
    );
}

#[test]
fn layer_norm_with_scale_bias_and_stats() {
    let x = f32t(&[1, 4], &[1.0, 2.0, 3.0, 4.0]);
    let scale = f32t(&[4], &[1.0, 2.0, 1.0, 2.0]);
    let bias = f32t(&[4], &[0.0, 0.0, 1.0, 1.0]);
    let out = run("LayerNormalization", &[], &[&x, &scale, &bias]);
    assert_close(
        out[0].as_f32().unwrap(),
        &[-1.341_641, -0.894_427, 1.447_214, 3.683_282],
        1e-4,
    );
    assert_eq!(
        (out[1].shape(), out[1].as_f32().unwrap()),
        (&[1, 1][..], &[2.5][..])
    );
    assert_close(out[2].as_f32().unwrap(), &[0.894_427], 1e-4);
    // Normalising over both dims (axis 0) with a broadcast scalar scale, no bias.
    let x = f32t(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let y = run1(
        "LayerNormalization",
        &[
            ("axis", Attribute::i64(0)),
            ("epsilon", Attribute::f32(0.0)),
        ],
        &[&x, &f32t(&[1], &[1.0])],
    );
    assert_close(
        y.as_f32().unwrap(),
        &[-1.341_641, -0.447_214, 0.447_214, 1.341_641],
        1e-5,
    );
    assert!(try_run("LayerNormalization", &[], &[&x, &f32t(&[3], &[1.0; 3])]).is_err());
}

#[test]
fn rms_norm_and_gelu() {
    let x = f32t(&[1, 2], &[3.0, 4.0]);
    let y = run1("RMSNormalization", &[], &[&x, &f32t(&[2], &[1.0, 2.0])]);
    assert_close(y.as_f32().unwrap(), &[0.848_528, 2.262_742], 1e-5);
    let x = f32t(&[3], &[-1.0, 0.0, 1.0]);
    assert_close(
        run1("Gelu", &[], &[&x]).as_f32().unwrap(),
        &[-0.158_655_3, 0.0, 0.841_344_7],
        1e-6,
    );
    let t = run1("Gelu", &[("approximate", Attribute::string("tanh"))], &[&x]);
    assert_close(t.as_f32().unwrap(), &[-0.158_808, 0.0, 0.841_192], 1e-6);
}

fn qkv() -> (Tensor, Tensor, Tensor) {
    (
        f32t(&[1, 1, 2, 2], &[1.0, 0.0, 0.0, 1.0]),
        f32t(&[1, 1, 2, 2], &[1.0, 0.0, 0.0, 1.0]),
        f32t(&[1, 1, 2, 2], &[1.0, 2.0, 3.0, 4.0]),
    )
}

/// softmax([1/sqrt(2), 0]) = [0.669762, 0.330238] weights rows of V.
const FULL: [f32; 4] = [1.660_476, 2.660_476, 2.339_524, 3.339_524];

#[test]
fn attention_plain_causal_and_masks() {
    let (q, k, v) = qkv();
    assert_close(
        run1("Attention", &[], &[&q, &k, &v]).as_f32().unwrap(),
        &FULL,
        1e-5,
    );
    let causal = [1.0, 2.0, 2.339_524, 3.339_524];
    let y = run1(
        "Attention",
        &[("is_causal", Attribute::i64(1))],
        &[&q, &k, &v],
    );
    assert_close(y.as_f32().unwrap(), &causal, 1e-5);
    let bool_mask = boolt(&[2, 2], &[true, false, true, true]);
    assert_close(
        run1("Attention", &[], &[&q, &k, &v, &bool_mask])
            .as_f32()
            .unwrap(),
        &causal,
        1e-5,
    );
    let add_mask = f32t(&[2, 2], &[0.0, f32::NEG_INFINITY, 0.0, 0.0]);
    assert_close(
        run1("Attention", &[], &[&q, &k, &v, &add_mask])
            .as_f32()
            .unwrap(),
        &causal,
        1e-5,
    );
    let capped = run1(
        "Attention",
        &[("softcap", Attribute::f32(0.5))],
        &[&q, &k, &v],
    );
    assert_close(&capped.as_f32().unwrap()[..2], &[1.781_49, 2.781_49], 1e-4);
    let scaled = run1(
        "Attention",
        &[("scale", Attribute::f32(0.0))],
        &[&q, &k, &v],
    );
    assert_close(scaled.as_f32().unwrap(), &[2.0, 3.0, 2.0, 3.0], 1e-6);
    let outs = run("Attention", &[], &[&q, &k, &v]);
    assert_eq!(outs.len(), 4);
    assert_close(
        outs[3].as_f32().unwrap(),
        &[FRAC_1_SQRT_2, 0.0, 0.0, FRAC_1_SQRT_2],
        1e-6,
    );
}

#[test]
fn attention_gqa_3d_and_past() {
    let (_, k, v) = qkv();
    // Two query heads share the single KV head; head 1 has its rows swapped.
    let q = f32t(&[1, 2, 2, 2], &[1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0]);
    let y = run1("Attention", &[], &[&q, &k, &v]);
    let mut want = FULL.to_vec();
    want.extend_from_slice(&[FULL[2], FULL[3], FULL[0], FULL[1]]);
    assert_close(y.as_f32().unwrap(), &want, 1e-5);
    // The same problem in 3-D form [B, S, H*D].
    let q3 = f32t(&[1, 2, 4], &[1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0]);
    let k3 = f32t(&[1, 2, 2], &[1.0, 0.0, 0.0, 1.0]);
    let v3 = f32t(&[1, 2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let heads = [
        ("q_num_heads", Attribute::i64(2)),
        ("kv_num_heads", Attribute::i64(1)),
    ];
    let y3 = run1("Attention", &heads, &[&q3, &k3, &v3]);
    assert_eq!(y3.shape(), &[1, 2, 4]);
    let w = &want;
    assert_close(
        y3.as_f32().unwrap(),
        &[w[0], w[1], w[4], w[5], w[2], w[3], w[6], w[7]],
        1e-5,
    );
    assert!(
        try_run("Attention", &[], &[&q3, &k3, &v3]).is_err(),
        "3-D needs head counts"
    );
    // A cached past: causal offset lets the new query see the past key.
    let q1 = f32t(&[1, 1, 1, 2], &[1.0, 0.0]);
    let (k1, v1) = (
        f32t(&[1, 1, 1, 2], &[1.0, 0.0]),
        f32t(&[1, 1, 1, 2], &[1.0, 2.0]),
    );
    let (pk, pv) = (
        f32t(&[1, 1, 1, 2], &[0.0, 0.0]),
        f32t(&[1, 1, 1, 2], &[10.0, 10.0]),
    );
    let inputs = [Some(&q1), Some(&k1), Some(&v1), None, Some(&pk), Some(&pv)];
    let out = eval_op(
        "Attention",
        &attrs(&[("is_causal", Attribute::i64(1))]),
        &inputs,
        23,
    )
    .unwrap();
    assert_close(out[0].as_f32().unwrap(), &[3.972_142, 4.641_904], 1e-5);
    assert_eq!(out[1].shape(), &[1, 1, 2, 2]);
    assert_eq!(out[2].as_f32().unwrap(), &[10.0, 10.0, 1.0, 2.0]);
}

#[test]
fn rotary_embedding_halves_interleaved_and_partial() {
    let x = f32t(&[1, 1, 1, 4], &[1.0, 2.0, 3.0, 4.0]);
    let cos = f32t(&[2, 2], &[1.0, 1.0, 0.0, 1.0]);
    let sin = f32t(&[2, 2], &[0.0, 0.0, 1.0, 0.0]);
    let pos = i64t(&[1, 1], &[1]);
    let y = run1("RotaryEmbedding", &[], &[&x, &cos, &sin, &pos]);
    assert_eq!(y.as_f32().unwrap(), &[-3.0, 2.0, 1.0, 4.0]);
    let y = run1(
        "RotaryEmbedding",
        &[("interleaved", Attribute::i64(1))],
        &[&x, &cos, &sin, &pos],
    );
    assert_eq!(y.as_f32().unwrap(), &[-2.0, 1.0, 3.0, 4.0]);
    // Partial rotation without position ids: caches are [B, S, rot/2].
    let (c1, s1) = (f32t(&[1, 1, 1], &[0.0]), f32t(&[1, 1, 1], &[1.0]));
    let part = [("rotary_embedding_dim", Attribute::i64(2))];
    let y = run1("RotaryEmbedding", &part, &[&x, &c1, &s1]);
    assert_eq!(y.as_f32().unwrap(), &[-2.0, 1.0, 3.0, 4.0]);
    // 3-D input with two heads of size 2.
    let x3 = f32t(&[1, 1, 4], &[1.0, 2.0, 3.0, 4.0]);
    let y = run1(
        "RotaryEmbedding",
        &[("num_heads", Attribute::i64(2))],
        &[&x3, &c1, &s1],
    );
    assert_eq!(y.as_f32().unwrap(), &[-2.0, 1.0, -4.0, 3.0]);
    let far = i64t(&[1, 1], &[2]);
    assert!(try_run("RotaryEmbedding", &[], &[&x, &cos, &sin, &far]).is_err());
}
