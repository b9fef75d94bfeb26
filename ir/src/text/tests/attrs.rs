use super::{attr_of, attr_text, err};
use crate::attr::Attribute;
use crate::text::print_attr;
use crate::types::{ElemType, FunctionType, TensorType, Type};

fn float(value: f64, ty: ElemType) -> Attribute {
    Attribute::Float { value, ty }
}

#[test]
fn integers_keep_their_type() {
    assert_eq!(attr_of("4 : i64"), Attribute::i64(4));
    assert_eq!(attr_of("4"), Attribute::i64(4));
    assert_eq!(attr_of("4 : index"), Attribute::Int { value: 4, ty: None });
    assert_eq!(
        print_attr(&Attribute::Int { value: 4, ty: None }),
        "4 : index"
    );
    assert_eq!(attr_text("-3 : i8"), "-3 : i8");
    assert_eq!(attr_text("255 : i8"), "-1 : i8");
    // MLIR's only i1 integer attribute is the bool.
    assert_eq!(attr_of("1 : i1"), Attribute::Bool(true));
    let i1 = |value| Attribute::Int {
        value,
        ty: Some(ElemType::I1),
    };
    assert_eq!(print_attr(&i1(0)), "false");
    assert_eq!(print_attr(&i1(1)), "true");
    assert_eq!(attr_text("0x10 : i32"), "16 : i32");
    assert_eq!(
        attr_text("-9223372036854775808 : i64"),
        "-9223372036854775808 : i64"
    );
    assert_eq!(attr_text("18446744073709551615 : i64"), "-1 : i64");
}

#[test]
fn integer_range_errors() {
    let (_, c, m) = err("\"t.op\"() {a = 256 : i8} : () -> ()");
    assert_eq!(
        (c, m.as_str()),
        (15, "integer literal 256 does not fit in i8")
    );
    let (_, _, m) = err("\"t.op\"() {a = 99999999999999999999} : () -> ()");
    assert_eq!(m, "integer literal '99999999999999999999' is too large");
    let (_, _, m) = err("\"t.op\"() {a = 1.5 : i32} : () -> ()");
    assert_eq!(m, "expected an integer literal for i32, found '1.5'");
    let (_, _, m) = err("\"t.op\"() {a = 2 : f32} : () -> ()");
    assert!(m.starts_with("expected a float literal for f32"), "{m}");
}

#[test]
fn floats_are_bit_exact() {
    assert_eq!(attr_of("1.5 : f32"), Attribute::f32(1.5));
    assert_eq!(attr_text("0.1 : f32"), "0.1 : f32");
    assert_eq!(attr_of("0.1 : f32"), Attribute::f32(0.1));
    assert_eq!(attr_text("1.0e-12 : f32"), "1.0e-12 : f32");
    assert_eq!(attr_of("1.0e-12 : f32"), Attribute::f32(1e-12));
    // MLIR's own spellings.
    assert_eq!(attr_text("1.000000e+00 : f32"), "1.0 : f32");
    assert_eq!(attr_text("9.99999974E-6 : f32"), "0.00001 : f32");
    assert_eq!(attr_text("0x3F800000 : f32"), "1.0 : f32");
    assert_eq!(attr_of("1.5"), Attribute::f32(1.5));
    for v in [
        f32::MIN_POSITIVE,
        f32::from_bits(1),
        f32::from_bits(0x0040_0001),
        f32::MAX,
    ] {
        let text = print_attr(&Attribute::f32(v));
        assert_eq!(attr_of(&text), Attribute::f32(v), "{text}");
    }
}

#[test]
fn special_floats_print_as_hex() {
    assert_eq!(print_attr(&Attribute::f32(-0.0)), "0x80000000 : f32");
    assert_eq!(
        print_attr(&Attribute::f32(f32::INFINITY)),
        "0x7F800000 : f32"
    );
    let nan = attr_of("0x7FC00001 : f32");
    assert!(nan.as_float().unwrap().is_nan());
    assert_eq!(print_attr(&nan), "0x7FC00001 : f32");
    assert_eq!(attr_text("-0.0 : f32"), "0x80000000 : f32");
    let neg_zero = attr_of("0x80000000 : f32").as_float().unwrap();
    assert!(neg_zero == 0.0 && neg_zero.is_sign_negative());
}

#[test]
fn half_precision_floats() {
    assert_eq!(attr_of("0x3C00 : f16"), float(1.0, ElemType::F16));
    assert_eq!(attr_text("0.1 : f16"), "0.1 : f16");
    assert_eq!(attr_of("0.1 : f16"), float(0.0999755859375, ElemType::F16));
    assert_eq!(attr_text("0.1 : bf16"), "0.1 : bf16");
    assert_eq!(attr_text("0x7E00 : f16"), "0x7E00 : f16");
    let (_, _, m) = err("\"t.op\"() {a = 0x10000 : f16} : () -> ()");
    assert_eq!(m, "hex literal does not fit in 16 bits");
}

#[test]
fn bools_units_strings_symbols() {
    assert_eq!(attr_of("true"), Attribute::Bool(true));
    assert_eq!(attr_of("false"), Attribute::Bool(false));
    assert_eq!(attr_of("unit"), Attribute::Unit);
    let s = attr_of(r#""a\"b\\c\nd\te\01f""#);
    assert_eq!(s, Attribute::string("a\"b\\c\nd\te\u{1}f"));
    assert_eq!(print_attr(&s), r#""a\"b\\c\nd\te\01f""#);
    assert_eq!(attr_text("\"/model/层.0\""), "\"/model/层.0\"");
    assert_eq!(attr_of("@main"), Attribute::SymbolRef("main".into()));
    assert_eq!(attr_text(r#"@"two words""#), r#"@"two words""#);
}

#[test]
fn arrays_and_dicts() {
    assert_eq!(attr_of("[0, 2, 1]"), Attribute::i64_array(&[0, 2, 1]));
    assert_eq!(attr_text("[0, 2]"), "[0 : i64, 2 : i64]");
    assert_eq!(attr_text("[]"), "[]");
    assert_eq!(attr_text("[[], [unit, \"x\"]]"), "[[], [unit, \"x\"]]");
    assert_eq!(
        attr_text("{z = 1 : i32, b, \"a-b\" = \"q\", a = {}}"),
        "{a = {}, \"a-b\" = \"q\", b, z = 1 : i32}"
    );
    let Attribute::Dict(d) = attr_of("{flag, n = 2 : i64}") else {
        panic!("not a dict");
    };
    assert_eq!(d["flag"], Attribute::Unit);
    assert_eq!(d["n"], Attribute::i64(2));
}

#[test]
fn types_as_attributes() {
    let t2 = Type::Tensor(TensorType::static_shape(&[2], ElemType::F32));
    let fty = Type::Function(FunctionType {
        inputs: vec![t2.clone()],
        results: vec![t2.clone()],
    });
    assert_eq!(
        attr_of("(tensor<2xf32>) -> tensor<2xf32>"),
        Attribute::Type(fty)
    );
    assert_eq!(attr_of("tensor<2xf32>"), Attribute::Type(t2));
    assert_eq!(attr_of("i1"), Attribute::Type(Type::Scalar(ElemType::I1)));
}

#[test]
fn attribute_aliases_resolve() {
    let src = "#big = 7 : i32\n\"t.op\"() {a = #big, b = [#big]} : () -> ()\n";
    let (_, text) = super::parse_ok(src);
    assert!(text.contains("{a = 7 : i32, b = [7 : i32]}"), "{text}");
    let (l, c, m) = err("\"t.op\"() {a = #nope} : () -> ()");
    assert_eq!((l, c, m.as_str()), (1, 15, "undefined alias '#nope'"));
}
