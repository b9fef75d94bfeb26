use super::err;
use crate::text::{parse_module, print_module, MAX_DEPTH};

#[test]
fn syntax_errors_name_what_was_expected_and_found() {
    let (l, c, m) = err("\"t.op\"(%0) -> ()");
    assert_eq!(
        (l, c, m.as_str()),
        (1, 12, "expected ':' after operand list, found '->'")
    );
    let (_, c, m) = err("\"t.op\"() {a = 1 : i64} () -> ()");
    assert_eq!(
        (c, m.as_str()),
        (24, "expected ':' after attributes, found '('")
    );
    let (_, c, m) = err("\"t.op\"( : () -> ()");
    assert_eq!(
        (c, m.as_str()),
        (9, "expected an operand (%name), found ':'")
    );
    let (l, c, m) = err("\"t.a\"() : () -> ()\n  foo");
    assert_eq!(
        (l, c, m.as_str()),
        (
            2,
            3,
            "expected an operation (a quoted op name or '%result ='), found 'foo'"
        )
    );
    let (l, c, m) = err("\"t.r\"() ({\n  \"t.a\"() : () -> ()\n");
    assert_eq!(
        (l, c, m.as_str()),
        (3, 1, "expected '}' to close the region, found end of file")
    );
    let (_, c, m) = err("\"t.op\"() : () -> () loc(\"abc");
    assert_eq!((c, m.as_str()), (25, "unterminated string literal"));
    let (_, _, m) = err("\"t.op\"()[^bb1] : () -> ()");
    assert_eq!(m, "block successors are not supported");
}

#[test]
fn undefined_and_redefined_values() {
    let (l, c, m) = err("\"t.a\"() : () -> ()\n\"t.b\"(%x) : (i1) -> ()\n");
    assert_eq!((l, c, m.as_str()), (2, 7, "use of undefined value '%x'"));
    // Forward references are fine until the region ends without a definition: error at the first use.
    let src =
        "\"t.r\"() ({\n  \"t.b\"(%x#1) : (i1) -> ()\n  \"t.b\"(%x#1) : (i1) -> ()\n}) : () -> ()\n";
    let (l, c, m) = err(src);
    assert_eq!((l, c, m.as_str()), (2, 9, "use of undefined value '%x#1'"));
    let (l, c, m) = err("%a = \"t.a\"() : () -> i1\n%a = \"t.b\"() : () -> i1\n");
    assert_eq!((l, c, m.as_str()), (2, 1, "redefinition of value '%a'"));
    // Inner regions cannot shadow visible names.
    let (l, c, m) = err(
        "%a = \"t.a\"() : () -> i1\n\"t.r\"() ({\n  %a = \"t.b\"() : () -> i1\n}) : () -> ()\n",
    );
    assert_eq!((l, c, m.as_str()), (3, 3, "redefinition of value '%a'"));
    // Names from one sibling region are not visible in the next.
    let (l, c, m) = err("\"t.r\"() ({\n  %a = \"t.b\"() : () -> i1\n}, {\n  \"t.c\"(%a) : (i1) -> ()\n}) : () -> ()\n");
    assert_eq!((l, c, m.as_str()), (4, 9, "use of undefined value '%a'"));
}

#[test]
fn isolated_regions_do_not_see_outer_values() {
    let src = "%a = \"t.a\"() : () -> i1\n\"func.func\"() <{function_type = () -> (), sym_name = \"f\"}> ({\n  \"t.use\"(%a) : (i1) -> ()\n}) : () -> ()\n";
    let (l, c, m) = err(src);
    assert_eq!((l, c, m.as_str()), (3, 11, "use of undefined value '%a'"));
}

#[test]
fn counts_and_types_must_match_the_signature() {
    let (l, c, m) = err("%0, %1 = \"t.a\"() : () -> i32");
    assert_eq!(
        (l, c, m.as_str()),
        (1, 1, "2 result(s) named but the op's type has 1 result(s)")
    );
    let (_, c, m) = err("%0 = \"t.a\"() : () -> i32\n\"t.b\"(%0, %0) : (i32) -> ()");
    assert_eq!(
        (c, m.as_str()),
        (
            17,
            "the op has 2 operand(s) but its type lists 1 operand type(s)"
        )
    );
    let (l, c, m) = err("%0 = \"t.a\"() : () -> i32\n\"t.b\"(%0) : (i64) -> ()");
    assert_eq!(
        (l, c, m.as_str()),
        (2, 7, "'%0' has type i32 but is used as i64")
    );
    let (_, _, m) = err("%0:2 = \"t.a\"() : () -> (i32, i32)\n\"t.b\"(%0#2) : (i32) -> ()");
    assert_eq!(m, "'%0#2' refers to result #2 but '%0' has 2 result(s)");
    let (l, c, m) = err("\"t.b\"(%0) : (i64) -> ()\n%0 = \"t.a\"() : () -> i32\n");
    assert_eq!(
        (l, c, m.as_str()),
        (
            2,
            1,
            "'%0' is defined with type i32 but was used before as i64"
        )
    );
    let (_, _, m) = err("\"t.op\"() : i32");
    assert_eq!(
        m,
        "expected the op's function type '(operands) -> results', found i32"
    );
}

#[test]
fn duplicate_keys_and_blocks() {
    let (l, c, m) = err("\"t.op\"() {a = 1 : i64, a = 2 : i64} : () -> ()");
    assert_eq!((l, c, m.as_str()), (1, 24, "duplicate attribute key 'a'"));
    let (l, c, m) = err("\"t.r\"() ({\n^a:\n^a:\n}) : () -> ()");
    assert_eq!((l, c, m.as_str()), (3, 1, "redefinition of block '^a'"));
}

#[test]
fn nesting_is_capped_instead_of_overflowing() {
    let deep_attr = format!("\"t.op\"() {{a = {}}} : () -> ()", "[".repeat(100_000));
    let (_, c, m) = err(&deep_attr);
    assert_eq!(m, format!("nesting deeper than {MAX_DEPTH} levels"));
    assert_eq!(c as usize, 15 + MAX_DEPTH as usize);
    let deep_type = format!("\"t.op\"() : {}", "(".repeat(100_000));
    assert!(err(&deep_type).2.starts_with("nesting deeper"));
    let deep_loc = format!("\"t.op\"() : () -> () loc({}", "fused[".repeat(100_000));
    assert!(err(&deep_loc).2.starts_with("nesting deeper"));
    let deep_dense = format!("\"t.op\"() {{a = dense<{}", "[".repeat(100_000));
    assert!(err(&deep_dense).2.starts_with("nesting deeper"));
}

#[test]
fn deep_regions_are_capped_and_the_maximum_still_parses() {
    let nest = |n: usize| {
        let mut s = String::new();
        for _ in 0..n {
            s.push_str("\"t.r\"() ({\n");
        }
        for _ in 0..n {
            s.push_str("}) : () -> ()\n");
        }
        s
    };
    // Regions and the innermost op's function type share the budget.
    let ok = nest(MAX_DEPTH as usize - 1);
    let m = parse_module(&ok).unwrap();
    assert_eq!(parse_module(&print_module(&m)).map(|_| ()), Ok(()));
    let (l, _, m) = err(&nest(MAX_DEPTH as usize + 1));
    assert_eq!(m, format!("nesting deeper than {MAX_DEPTH} levels"));
    assert_eq!(l, MAX_DEPTH + 1);
}

#[test]
fn render_shows_line_and_caret() {
    let src = "\"t.a\"() : () -> ()\n\"t.b\"(%x) : (i1) -> ()\n";
    let e = parse_module(src).unwrap_err();
    assert_eq!(
        e.render("in.mlir", src),
        "in.mlir:2:7: error: use of undefined value '%x'\n  \"t.b\"(%x) : (i1) -> ()\n        ^"
    );
}

#[test]
fn every_prefix_of_a_valid_file_fails_cleanly() {
    let src = r#""builtin.module"() ({
  "func.func"() <{function_type = (tensor<2xf32>) -> tensor<2xf32>, sym_name = "main"}> ({
  ^bb0(%arg0: tensor<2xf32> loc("x")):
    %0:2 = "t.two"(%arg0) {d = dense<[1.0, 0x7FC00000]> : tensor<2xf32>, s = "a\"b"} : (tensor<2xf32>) -> (tensor<2xf32>, i1) loc(fused["a", "f":1:2])
    "func.return"(%0#0) : (tensor<2xf32>) -> () loc(#loc1)
  }) : () -> () loc(unknown)
}) : () -> () loc(unknown)
#loc1 = loc("r")
{-#
  dialect_resources: {
    builtin: {
      w: "0x0400000001020304"
    }
  }
#-}
"#;
    assert!(parse_module(src).is_ok());
    for cut in (0..src.len()).filter(|&i| src.is_char_boundary(i)) {
        let prefix = &src[..cut];
        if let Ok(m) = parse_module(prefix) {
            // Only prefixes that end between top-level items can parse.
            assert!(parse_module(&print_module(&m)).is_ok(), "prefix {cut}");
        }
    }
}
