use super::{err, parse_ok};
use crate::location::Location;
use crate::module::Module;
use crate::text::print_location;

/// The location of the single op in `"t.op"() : () -> () <loc>`.
fn loc_of(loc: &str) -> Location {
    let (m, _) = parse_ok(&format!("\"t.op\"() : () -> () {loc}"));
    first_op_loc(&m)
}

fn first_op_loc(m: &Module) -> Location {
    let body = m.body().unwrap();
    m.ops[m.blocks[body].ops[0]].loc.clone()
}

fn name(s: &str) -> Location {
    Location::name(s)
}

#[test]
fn location_forms() {
    assert_eq!(loc_of("loc(unknown)"), Location::Unknown);
    assert_eq!(loc_of(""), Location::Unknown);
    assert_eq!(loc_of("loc(\"n\")"), name("n"));
    let flc = Location::FileLineCol {
        file: "model.onnx".into(),
        line: 3,
        col: 7,
    };
    assert_eq!(loc_of("loc(\"model.onnx\":3:7)"), flc);
    assert_eq!(print_location(&flc), "loc(\"model.onnx\":3:7)");
    let fused = Location::Fused(vec![name("a"), name("b"), flc.clone()]);
    let text = "loc(fused[\"a\", \"b\", \"model.onnx\":3:7])";
    assert_eq!(print_location(&fused), text);
    assert_eq!(loc_of(text), fused);
    assert_eq!(print_location(&Location::Unknown), "loc(unknown)");
}

#[test]
fn fused_locations_are_normalized_like_mlir() {
    let nested = Location::Fused(vec![name("a"), Location::Fused(vec![name("b")])]);
    assert_eq!(print_location(&nested), "loc(fused[\"a\", fused[\"b\"]])");
    assert_eq!(
        loc_of("loc(fused[\"a\", fused[\"b\", \"a\"], unknown])"),
        Location::Fused(vec![name("a"), name("b")])
    );
    assert_eq!(loc_of("loc(fused[\"a\", \"a\"])"), name("a"));
    assert_eq!(loc_of("loc(fused[])"), Location::Unknown);
}

#[test]
fn tolerated_mlir_forms_are_simplified() {
    assert_eq!(loc_of("loc(\"outer\"(\"inner\"))"), name("outer"));
    assert_eq!(
        loc_of("loc(fused<\"meta\">[\"a\", \"b\"])"),
        Location::Fused(vec![name("a"), name("b")])
    );
    assert_eq!(
        loc_of("loc(callsite(\"callee\" at \"caller\"))"),
        name("callee")
    );
    let flc = Location::FileLineCol {
        file: "f".into(),
        line: 1,
        col: 2,
    };
    assert_eq!(loc_of("loc(\"f\":1:2 to 3:4)"), flc);
    assert_eq!(loc_of("loc(\"f\":1:2 to :9)"), flc);
}

#[test]
fn location_aliases_at_the_end_resolve() {
    // As MLIR prints with debug info: aliases after the ops that use them.
    let src = r#""builtin.module"() ({
  "t.op"() : () -> () loc(#loc3)
}) : () -> () loc(#loc)
#loc = loc(unknown)
#loc1 = loc("a")
#loc2 = loc("f.py":4:2)
#loc3 = loc(fused[#loc1, #loc2])
"#;
    let (m, text) = parse_ok(src);
    let expected = Location::Fused(vec![
        name("a"),
        Location::FileLineCol {
            file: "f.py".into(),
            line: 4,
            col: 2,
        },
    ]);
    assert_eq!(first_op_loc(&m), expected);
    assert_eq!(
        text,
        "\"builtin.module\"() ({\n  \"t.op\"() : () -> () loc(fused[\"a\", \"f.py\":4:2])\n}) : () -> () loc(unknown)\n"
    );
}

#[test]
fn alias_errors() {
    let (l, c, m) = err("\"t.op\"() : () -> () loc(#loc9)\n#loc1 = loc(\"a\")\n");
    assert_eq!((l, c, m.as_str()), (1, 25, "undefined alias '#loc9'"));
    let (l, c, m) = err("#a = loc(\"x\")\n#a = loc(\"y\")\n");
    assert_eq!((l, c, m.as_str()), (2, 1, "redefinition of alias '#a'"));
    // An alias defined later that refers to a still later one.
    let (l, c, m) = err("#b = loc(#c)\n#c = loc(\"y\")\n");
    assert_eq!((l, c, m.as_str()), (1, 10, "undefined alias '#c'"));
    let (_, _, m) = err("#n = 3 : i64\n\"t.op\"() : () -> () loc(#n)\n");
    assert_eq!(m, "'#n' is not a location alias");
    // A broken alias definition late in the file is reported even though ops use it earlier.
    let (l, c, m) = err("\"t.op\"() : () -> () loc(#late)\n#late = loc(\"x\"\n");
    assert_eq!(
        (l, c, m.as_str()),
        (
            3,
            1,
            "expected ')' to close the location, found end of file"
        )
    );
}
