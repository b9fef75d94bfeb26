use super::{attr_of, attr_text, err, parse_ok};
use crate::attr::{Attribute, DenseAttr, Resource};
use crate::module::{Module, OpSpec};
use crate::text::{parse_module, print_attr, print_module};
use crate::types::{ElemType, TensorType};

fn dense_of(text: &str) -> DenseAttr {
    match attr_of(text) {
        Attribute::Dense(d) => d,
        other => panic!("not dense: {other:?}"),
    }
}

#[test]
fn nested_lists() {
    let text = "dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>";
    let d = dense_of(text);
    assert_eq!(
        d,
        DenseAttr::from_f32(&[2, 2], &[1.0, 2.0, 3.0, 4.0]).unwrap()
    );
    assert_eq!(print_attr(&Attribute::Dense(d)), text);
    assert_eq!(
        attr_text("dense<[1, -2, 3]> : tensor<3xi32>"),
        "dense<[1, -2, 3]> : tensor<3xi32>"
    );
    assert_eq!(
        attr_text("dense<[1.0]> : tensor<1xf32>"),
        "dense<[1.0]> : tensor<1xf32>"
    );
    assert_eq!(
        attr_text("dense<5> : tensor<i64>"),
        "dense<5> : tensor<i64>"
    );
    assert_eq!(
        attr_text("dense<[1, 2]> : tensor<2xf16>"),
        "dense<[1.0, 2.0]> : tensor<2xf16>"
    );
}

#[test]
fn splats_and_empties() {
    let d = dense_of("dense<1.5> : tensor<4xf32>");
    assert_eq!(d.len(), 4);
    assert_eq!(d.get_f64(3), 1.5);
    assert_eq!(
        print_attr(&Attribute::Dense(d)),
        "dense<1.5> : tensor<4xf32>"
    );
    // Equal elements written out print as a splat.
    assert_eq!(
        attr_text("dense<[7, 7, 7]> : tensor<3xi8>"),
        "dense<7> : tensor<3xi8>"
    );
    assert_eq!(
        attr_text("dense<> : tensor<0xf32>"),
        "dense<> : tensor<0xf32>"
    );
    assert_eq!(
        attr_text("dense<[]> : tensor<0xf32>"),
        "dense<> : tensor<0xf32>"
    );
    assert_eq!(
        attr_text("dense<[[], []]> : tensor<2x0xi64>"),
        "dense<> : tensor<2x0xi64>"
    );
}

#[test]
fn booleans() {
    let d = dense_of("dense<[true, false, true]> : tensor<3xi1>");
    assert_eq!(d.bytes(), &[1, 0, 1]);
    assert_eq!(
        print_attr(&Attribute::Dense(d)),
        "dense<[true, false, true]> : tensor<3xi1>"
    );
    assert_eq!(
        attr_text("dense<true> : tensor<2x2xi1>"),
        "dense<true> : tensor<2x2xi1>"
    );
    // MLIR's bit-packed hex form.
    assert_eq!(
        dense_of("dense<\"0x05\"> : tensor<3xi1>").bytes(),
        &[1, 0, 1]
    );
}

#[test]
fn hex_payloads() {
    let d = dense_of("dense<\"0x0000803F00000040\"> : tensor<2xf32>");
    assert_eq!(d, DenseAttr::from_f32(&[2], &[1.0, 2.0]).unwrap());
    assert_eq!(
        print_attr(&Attribute::Dense(d)),
        "dense<[1.0, 2.0]> : tensor<2xf32>"
    );
    // One element of hex data is a splat.
    assert_eq!(
        attr_text("dense<\"0x0000803F\"> : tensor<3xf32>"),
        "dense<1.0> : tensor<3xf32>"
    );
    // Above the threshold the printer switches to hex; below it, lists.
    let values: Vec<f32> = (0..65).map(|i| i as f32 * 0.5).collect();
    let big = DenseAttr::from_f32(&[65], &values).unwrap();
    let text = print_attr(&Attribute::Dense(big.clone()));
    assert!(
        text.starts_with("dense<\"0x000000000000003F0000803F"),
        "{text}"
    );
    assert_eq!(dense_of(&text), big);
    let small = DenseAttr::from_f32(&[64], &values[..64]).unwrap();
    assert!(print_attr(&Attribute::Dense(small)).starts_with("dense<[0.0, 0.5, 1.0"));
}

#[test]
fn special_values_in_lists() {
    let d = DenseAttr::from_f32(&[3], &[f32::NAN, -0.0, 0.1]).unwrap();
    let text = print_attr(&Attribute::Dense(d.clone()));
    assert_eq!(text, "dense<[0x7FC00000, 0x80000000, 0.1]> : tensor<3xf32>");
    assert_eq!(dense_of(&text).bytes(), d.bytes());
}

#[test]
fn dense_errors() {
    let wrap = |a: &str| format!("\"t.op\"() {{a = {a}}} : () -> ()");
    let (_, c, m) = err(&wrap("dense<[1.0, 2.0, 3.0]> : tensor<2xf32>"));
    assert_eq!(
        (c, m.as_str()),
        (
            40,
            "dense literal has shape [3] but the type is tensor<2xf32>"
        )
    );
    let (_, c, m) = err(&wrap("dense<\"0x0000803F0000\"> : tensor<2xf32>"));
    assert_eq!(
        (c, m.as_str()),
        (
            21,
            "dense hex payload has 6 bytes but 2 elements of f32 need 8"
        )
    );
    let (_, _, m) = err(&wrap("dense<[[1], [2, 3]]> : tensor<2x2xi64>"));
    assert_eq!(m, "dense literal has sub-lists of different lengths");
    let (_, _, m) = err(&wrap("dense<[[1], 2]> : tensor<2x1xi64>"));
    assert_eq!(m, "dense literal has inconsistent nesting");
    let (_, _, m) = err(&wrap("dense<[1.5]> : tensor<1xi32>"));
    assert_eq!(m, "expected an integer literal for i32, found '1.5'");
    let (_, _, m) = err(&wrap("dense<1.0> : tensor<100000000000xf32>"));
    assert!(m.contains("exceeds the 256 MiB inline limit"), "{m}");
    let (_, _, m) = err(&wrap("dense<1.0> : tensor<4611686018427387904x4xf32>"));
    assert_eq!(m, "tensor element count overflows");
    let (_, _, m) = err(&wrap("dense<[1.0]> : tensor<?xf32>"));
    assert_eq!(
        m,
        "dense needs a statically shaped tensor type, found tensor<?xf32>"
    );
    let (_, _, m) = err(&wrap("dense<> : tensor<2xf32>"));
    assert_eq!(
        m,
        "dense<> needs a type with no elements, but this one has 2"
    );
    let (_, _, m) = err(&wrap("dense<\"0x0G\"> : tensor<1xi8>"));
    assert_eq!(m, "invalid hex digit at offset 3");
}

#[test]
fn dense_resources_and_the_resource_section() {
    let mut m = Module::new();
    let body = m.body().unwrap();
    let ty = TensorType::static_shape(&[2], ElemType::F32);
    m.build_at_end(
        body,
        OpSpec::new("onnx.Constant").attr(
            "value",
            Attribute::DenseResource {
                name: "w0".into(),
                ty: ty.clone(),
            },
        ),
    );
    let blob: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    m.resources.insert(
        "w0".into(),
        Resource {
            alignment: 4,
            bytes: blob.clone().into(),
            origin: None,
        },
    );
    m.resources.insert(
        "a.b".into(),
        Resource {
            alignment: 16,
            bytes: vec![0xAB].into(),
            origin: None,
        },
    );
    let text = print_module(&m);
    assert!(
        text.contains("{value = dense_resource<w0> : tensor<2xf32>}"),
        "{text}"
    );
    assert!(text.ends_with(
        "\n{-#\n  dialect_resources: {\n    builtin: {\n      a.b: \"0x10000000AB\",\n      w0: \"0x040000000000803F00000040\"\n    }\n  }\n#-}\n"
    ), "{text}");
    let (back, again) = parse_ok(&text);
    assert_eq!(again, text);
    assert_eq!(back.resources["w0"].alignment, 4);
    assert_eq!(&back.resources["w0"].bytes[..], &blob[..]);
    assert_eq!(back.resources["a.b"].alignment, 16);
}

#[test]
fn resource_section_tolerates_other_dialects_and_rejects_bad_blobs() {
    let src = "\"t.op\"() : () -> ()\n{-#\n  dialect_resources: {\n    other: { k: \"0x01\" },\n    builtin: { k: \"0x0100000007\" }\n  },\n  external_resources: { x: { flag: true } }\n#-}\n";
    let m = parse_module(src).unwrap();
    assert_eq!(m.resources.len(), 1);
    assert_eq!(&m.resources["k"].bytes[..], &[7]);
    let (l, c, m) = err("{-# dialect_resources: { builtin: { k: \"0x01\" } } #-}");
    assert_eq!(
        (l, c, m.as_str()),
        (1, 40, "a resource blob needs a 4-byte alignment header")
    );
    let (_, c, m) =
        err("{-# dialect_resources: { builtin: { k: \"0x01000000\", k: \"0x01000000\" } } #-}");
    assert_eq!((c, m.as_str()), (54, "duplicate resource key 'k'"));
}
