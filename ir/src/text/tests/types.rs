use super::{attr_of, attr_text, err};
use crate::attr::Attribute;
use crate::text::print_type;
use crate::types::{Dim, ElemType, FunctionType, TensorType, Type};

fn ty_of(text: &str) -> Type {
    match attr_of(text) {
        Attribute::Type(t) => t,
        other => panic!("not a type attribute: {other:?}"),
    }
}

#[test]
fn scalar_and_special_types() {
    for e in ElemType::ALL {
        assert_eq!(ty_of(e.name()), Type::Scalar(e));
        assert_eq!(print_type(&Type::Scalar(e)), e.name());
    }
    assert_eq!(ty_of("index"), Type::Index);
    assert_eq!(ty_of("none"), Type::None);
    assert_eq!(print_type(&Type::None), "none");
}

#[test]
fn tensor_types_with_static_dynamic_and_zero_dims() {
    let t = ty_of("tensor<1x?x128xf32>");
    assert_eq!(
        t,
        Type::tensor(
            vec![Dim::Static(1), Dim::Dynamic, Dim::Static(128)],
            ElemType::F32
        )
    );
    assert_eq!(print_type(&t), "tensor<1x?x128xf32>");
    // `0x4` is two dims, not a hex number.
    assert_eq!(
        ty_of("tensor<0x4xi8>"),
        Type::Tensor(TensorType::static_shape(&[0, 4], ElemType::I8))
    );
    assert_eq!(attr_text("tensor<f32>"), "tensor<f32>");
    let big = 1u64 << 62;
    assert_eq!(
        attr_text(&format!("tensor<{big}x2xbf16>")),
        format!("tensor<{big}x2xbf16>")
    );
}

#[test]
fn named_dims_live_in_the_encoding() {
    let t = ty_of(r#"tensor<?x?x128xf32, ["batch", "seq"]>"#);
    let dims = &t.as_tensor().unwrap().dims;
    assert_eq!(dims[0], Dim::Named("batch".into()));
    assert_eq!(dims[1], Dim::Named("seq".into()));
    assert_eq!(print_type(&t), r#"tensor<?x?x128xf32, ["batch", "seq"]>"#);
    let t = ty_of(r#"tensor<?x4x?xi64, ["", "seq"]>"#);
    assert_eq!(t.as_tensor().unwrap().dims[0], Dim::Dynamic);
    assert_eq!(print_type(&t), r#"tensor<?x4x?xi64, ["", "seq"]>"#);
    // All anonymous: no encoding is printed.
    assert_eq!(attr_text(r#"tensor<?xf32, [""]>"#), "tensor<?xf32>");
}

#[test]
fn function_types() {
    let t2 = Type::Tensor(TensorType::static_shape(&[2], ElemType::F32));
    let f =
        |inputs: Vec<Type>, results: Vec<Type>| Type::Function(FunctionType { inputs, results });
    let cases = [
        (
            f(vec![t2.clone(), t2.clone()], vec![t2.clone()]),
            "(tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>",
        ),
        (f(vec![], vec![]), "() -> ()"),
        (
            f(vec![t2.clone()], vec![t2.clone(), t2.clone()]),
            "(tensor<2xf32>) -> (tensor<2xf32>, tensor<2xf32>)",
        ),
        (f(vec![], vec![f(vec![], vec![])]), "() -> (() -> ())"),
    ];
    for (ty, text) in cases {
        assert_eq!(print_type(&ty), text);
        assert_eq!(ty_of(text), ty, "{text}");
    }
    // A single parenthesised result is the same type as the bare one.
    assert_eq!(attr_text("(i1) -> (i1)"), "(i1) -> i1");
}

#[test]
fn type_errors() {
    let (l, c, m) = err("\"t.op\"() {a = tensor<2xf64>} : () -> ()");
    assert_eq!((l, c, m.as_str()), (1, 24, "unknown element type 'f64'"));
    let (_, c, m) = err("\"t.op\"() {a = tensor<2x3>} : () -> ()");
    assert_eq!(
        (c, m.as_str()),
        (25, "expected 'x' after a tensor dimension, found '>'")
    );
    let (_, c, m) = err("\"t.op\"() {a = tensor<99999999999999999999xf32>} : () -> ()");
    assert_eq!((c, m.as_str()), (22, "dimension size is too large"));
    let (_, _, m) = err("\"t.op\"() {a = tensor<*xf32>} : () -> ()");
    assert_eq!(m, "unranked tensors are not supported");
    let (_, c, m) = err("\"t.op\"() : () -> memref<2xf32>");
    assert_eq!((c, m.as_str()), (18, "unknown type 'memref'"));
    let (_, _, m) = err(r#""t.op"() {a = tensor<?xf32, ["a", "b"]>} : () -> ()"#);
    assert!(m.contains("one per '?' dim"), "{m}");
}
