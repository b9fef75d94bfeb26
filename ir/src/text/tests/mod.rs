//! Unit tests of the text format, one file per syntax area. Helpers parse small snippets and
//! check both the structure and the printed text (and that printing is a fixed point).

mod attrs;
mod dense;
mod errors;
mod locations;
mod ops;
mod types;

use super::{parse_module, print_module};
use crate::attr::Attribute;
use crate::module::Module;

/// Parse `src` (panicking with a rendered error), check print → parse → print is stable, and
/// return the module and its text.
fn parse_ok(src: &str) -> (Module, String) {
    let m = parse_module(src).unwrap_or_else(|e| panic!("{}", e.render("test", src)));
    let text = print_module(&m);
    let again = parse_module(&text).unwrap_or_else(|e| panic!("{}", e.render("printed", &text)));
    assert_eq!(print_module(&again), text, "printing is not a fixed point");
    (m, text)
}

/// The `a` attribute of a lone op `"t.op"() {a = <text>}`.
fn attr_of(text: &str) -> Attribute {
    let src = format!("\"t.op\"() {{a = {text}}} : () -> ()");
    let (m, _) = parse_ok(&src);
    let body = m.body().expect("wrapper module has a body");
    let op = m.blocks[body].ops[0];
    m.ops[op].attrs["a"].clone()
}

/// Print an attribute through a full module round trip and return its canonical text.
fn attr_text(text: &str) -> String {
    super::print_attr(&attr_of(text))
}

/// `(line, col, message)` of the error parsing `src`.
fn err(src: &str) -> (u32, u32, String) {
    let e = parse_module(src).expect_err("input should not parse");
    (e.line, e.col, e.message)
}
