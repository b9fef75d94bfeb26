//! Kernel tests with hand-computed values, one file per kernel family.

mod elementwise;
mod fold;
mod index;
mod matmul;
mod nn;
mod quant;
mod shape;

use super::*;
use crate::attr::DenseAttr;
use crate::types::ElemType;

pub(super) fn f32t(shape: &[usize], v: &[f32]) -> Tensor {
    Tensor::from_f32(shape.to_vec(), v.to_vec()).unwrap()
}

pub(super) fn i64t(shape: &[usize], v: &[i64]) -> Tensor {
    Tensor::from_i64(shape.to_vec(), v.to_vec()).unwrap()
}

pub(super) fn boolt(shape: &[usize], v: &[bool]) -> Tensor {
    Tensor::from_bool(shape.to_vec(), v.to_vec()).unwrap()
}

/// Attribute dictionary from `(name, value)` pairs.
pub(super) fn attrs(pairs: &[(&str, Attribute)]) -> AttrDict {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

pub(super) fn ints(v: &[i64]) -> Attribute {
    Attribute::i64_array(v)
}

/// Run an op at opset 17 with all inputs present; panics on error (tests only).
pub(super) fn run(name: &str, a: &[(&str, Attribute)], inputs: &[&Tensor]) -> Vec<Tensor> {
    try_run(name, a, inputs).unwrap_or_else(|e| panic!("{e}"))
}

pub(super) fn try_run(
    name: &str,
    a: &[(&str, Attribute)],
    inputs: &[&Tensor],
) -> Result<Vec<Tensor>, EvalError> {
    let inputs: Vec<Option<&Tensor>> = inputs.iter().map(|&t| Some(t)).collect();
    eval_op(name, &attrs(a), &inputs, 17)
}

/// The single result of an op.
pub(super) fn run1(name: &str, a: &[(&str, Attribute)], inputs: &[&Tensor]) -> Tensor {
    run(name, a, inputs).remove(0)
}

pub(super) fn assert_close(actual: &[f32], expected: &[f32], tol: f32) {
    assert_eq!(actual.len(), expected.len(), "{actual:?} vs {expected:?}");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (a - e).abs() <= tol || (a.is_nan() && e.is_nan()),
            "element {i}: {a} vs {e} (all: {actual:?})"
        );
    }
}

#[test]
fn kernel_table_is_sorted_and_complete() {
    let names: Vec<&str> = supported_ops().collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(names, sorted);
    for required in [
        "Abs",
        "Add",
        "And",
        "Attention",
        "Cast",
        "Concat",
        "Constant",
        "ConstantOfShape",
        "Conv",
        "Cos",
        "Div",
        "Equal",
        "Erf",
        "Exp",
        "Expand",
        "Flatten",
        "Gather",
        "GatherElements",
        "GatherND",
        "Gelu",
        "Gemm",
        "Greater",
        "GreaterOrEqual",
        "Identity",
        "IsNaN",
        "LayerNormalization",
        "Less",
        "LessOrEqual",
        "Log",
        "MatMul",
        "Max",
        "Min",
        "Mul",
        "Neg",
        "Not",
        "Or",
        "Pow",
        "Range",
        "Reciprocal",
        "ReduceMax",
        "ReduceMean",
        "ReduceSum",
        "Relu",
        "Reshape",
        "RMSNormalization",
        "RotaryEmbedding",
        "Shape",
        "Sigmoid",
        "Sin",
        "Slice",
        "Softmax",
        "Split",
        "Sqrt",
        "Squeeze",
        "Sub",
        "Tanh",
        "Tile",
        "Transpose",
        "Trilu",
        "Unsqueeze",
        "Where",
        "NoValue",
    ] {
        assert!(is_supported(required), "{required}");
        assert!(is_supported(&format!("onnx.{required}")));
    }
    assert!(!is_supported("onnx.Loop"));
}

#[test]
fn unsupported_and_arity_errors_name_the_op() {
    let x = f32t(&[1], &[1.0]);
    let err = try_run("onnx.Loop", &[], &[&x]).unwrap_err();
    assert_eq!(err.op, "onnx.Loop");
    assert_eq!(err.kind, EvalErrorKind::Unsupported);
    let err = try_run("onnx.Add", &[], &[&x]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("onnx.Add: expected 2 input(s), got 1"),
        "{err}"
    );
    let err = eval_op("onnx.Gather", &AttrDict::new(), &[Some(&x), None], 17).unwrap_err();
    assert_eq!(err.kind, EvalErrorKind::MissingInput { index: 1 });
}

#[test]
fn constant_forms() {
    let dense = DenseAttr::from_i64(&[2], &[4, 5]).unwrap();
    let t = run1("Constant", &[("value", Attribute::Dense(dense))], &[]);
    assert_eq!(t.as_i64().unwrap(), &[4, 5]);
    let t = run1("Constant", &[("value_float", Attribute::f32(2.5))], &[]);
    assert_eq!((t.shape(), t.as_f32().unwrap()), (&[][..], &[2.5f32][..]));
    let t = run1("Constant", &[("value_ints", ints(&[1, 2, 3]))], &[]);
    assert_eq!(t.shape(), &[3]);
    assert_eq!(t.elem(), ElemType::I64);
}

/// Every kernel, fed every combination of odd inputs (scalars, empty tensors, negative and
/// extreme integers, wrong types, absent inputs) under several attribute sets, returns a value
/// or an error: this test fails if any kernel panics.
#[test]
fn no_kernel_panics_on_odd_inputs() {
    let half = Tensor::new(
        ElemType::F16,
        vec![3],
        TensorData::F32(vec![1.0, -2.0, 0.5]),
    )
    .unwrap();
    let pool = [
        Tensor::scalar_f32(f32::NAN),
        f32t(&[2, 3], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]),
        f32t(&[0, 2], &[]),
        i64t(&[2], &[-1, 5]),
        i64t(&[], &[i64::MIN]),
        boolt(&[2, 1], &[true, false]),
        half,
    ];
    let attr_sets = [
        attrs(&[]),
        attrs(&[
            ("axis", Attribute::i64(-1)),
            ("axes", ints(&[0])),
            ("perm", ints(&[1, 0])),
            ("to", Attribute::i64(7)),
            ("split", ints(&[1, 1])),
            ("pads", ints(&[1, 1, 1, 1])),
            (
                "value",
                Attribute::Dense(DenseAttr::from_i64(&[1], &[3]).unwrap()),
            ),
        ]),
        attrs(&[
            ("axis", Attribute::i64(3)),
            ("keepdims", Attribute::i64(0)),
            ("upper", Attribute::i64(0)),
            ("transA", Attribute::i64(1)),
            ("transB", Attribute::i64(1)),
            ("group", Attribute::i64(2)),
            ("num_outputs", Attribute::i64(2)),
            ("q_num_heads", Attribute::i64(2)),
            ("kv_num_heads", Attribute::i64(1)),
            ("num_heads", Attribute::i64(2)),
            ("is_causal", Attribute::i64(1)),
            ("batch_dims", Attribute::i64(1)),
            ("start", Attribute::i64(-9)),
            ("approximate", Attribute::string("tanh")),
        ]),
    ];
    let choices: Vec<Option<&Tensor>> =
        std::iter::once(None).chain(pool.iter().map(Some)).collect();
    let mut calls = 0usize;
    for op in supported_ops() {
        for a in &attr_sets {
            let long = ["Slice", "Attention", "RotaryEmbedding", "attn.mha"].contains(&op);
            for arity in 0..=if long { 5usize } else { 3 } {
                let combos = choices.len().pow(arity as u32);
                for mut code in 0..combos {
                    let inputs: Vec<Option<&Tensor>> = (0..arity)
                        .map(|_| {
                            let c = choices[code % choices.len()];
                            code /= choices.len();
                            c
                        })
                        .collect();
                    let _ = eval_op_n(op, a, &inputs, 17, Some(2));
                    calls += 1;
                }
            }
        }
    }
    assert!(calls > 10_000, "{calls}");
}
