//! Textual IR: one printer and one parser, in MLIR's *generic* operation syntax.
//!
//! Real MLIR (unregistered dialects allowed, func dialect loaded) parses what we print, and we
//! parse what MLIR prints in generic form with debug info (location aliases and resource blobs at
//! the end of the file). `print_module(parse_module(text)?)` is a fixed point: printing, parsing
//! and printing again gives identical bytes.
//!
//! # Grammar (EBNF-ish)
//!
//! ```text
//! file        ::= (op | alias-def | resources)*          // several top ops: wrapped in a module
//! alias-def   ::= '#' id '=' (location | attr) | '!' id '=' type
//! op          ::= [result (',' result)* '='] string '(' [use (',' use)*] ')'
//!                 ['<' attr-dict '>'] ['(' region (',' region)* ')'] [attr-dict]
//!                 ':' function-type [location]
//! result      ::= '%' id [':' int]                        // %0, %0:2 (a group of 2)
//! use         ::= '%' id ['#' int]                        // %0, %0#1
//! region      ::= '{' [block-ops] block* '}'
//! block       ::= '^' id ['(' arg (',' arg)* ')'] ':' block-ops
//! arg         ::= '%' id ':' type [location]
//! type        ::= 'f32' | 'f16' | 'bf16' | 'i64' | 'i32' | 'i8' | 'i1' | 'index' | 'none'
//!               | 'tensor' '<' (dim 'x')* elem [',' '[' string (',' string)* ']'] '>'
//!               | function-type | '!' id
//! dim         ::= int | '?'
//! function-type ::= '(' [type (',' type)*] ')' '->' (type | '(' [type (',' type)*] ')')
//! attr        ::= int [':' type] | ['-'] float [':' type] | hex ':' float-type
//!               | 'true' | 'false' | 'unit' | string | '@' id | type | '#' id
//!               | '[' [attr (',' attr)*] ']' | attr-dict
//!               | 'dense' '<' [dense-elems | string] '>' ':' tensor-type
//!               | 'dense_resource' '<' key '>' ':' tensor-type
//! attr-dict   ::= '{' [key ['=' attr] (',' key ['=' attr])*] '}'   // bare key = unit
//! location    ::= 'loc' '(' loc ')'
//! loc         ::= 'unknown' | string | string ':' int ':' int | 'fused' ['<' attr '>'] '[' loc,* ']'
//!               | '#' id | string '(' loc ')' | 'callsite' '(' loc 'at' loc ')'
//! resources   ::= '{-#' 'dialect_resources' ':' '{' 'builtin' ':' '{' (key ':' string),* '}' '}' '#-}'
//! ```
//! `//` starts a comment to the end of the line. Reading follows MLIR's semantics where our IR is
//! narrower: an untyped integer is `i64`, an untyped float `f32` (there is no f64); an `i1`
//! integer is the bool (`1 : i1` reads as `true`); fused locations are normalized like MLIR's
//! (`Location::fused`: flattened, no unknowns or duplicates, one element unwrapped). Tolerated
//! forms are simplified: `"a"("b")` keeps `"a"`, `callsite(a at b)` keeps `a`, fused metadata and
//! line ranges are dropped, and resource entries of dialects other than `builtin` are ignored.
//! Not supported (errors): block successors, unranked tensors, element types other than ours,
//! dialect attributes and types (`#d.x<..>`, `!d.t`) except top-level aliases.
//!
//! # Canonical printing
//!
//! - Values are renamed in text order: results `%0, %1, ...`, block arguments `%arg0, ...`; both
//!   counters restart inside `IsolatedFromAbove` ops. A multi-result op prints `%0:2`, uses `%0#1`.
//! - Two spaces per nesting level; block labels sit at their op's indentation. The entry block's
//!   label is printed only when it has arguments, is empty, or the region has several blocks.
//! - Props `<{..}>` and attrs `{..}` only when non-empty, sorted by key; keys that are not bare
//!   identifiers are quoted. Every op and block argument carries `loc(...)`.
//! - Integers always carry their type (`4 : i64`, `4 : index`; `i1` prints `true`/`false`);
//!   floats are the shortest decimal that reads back to the same bits, hex for NaN, infinities
//!   and -0.0 (see `float.rs`). Strings use `\"`, `\\`, `\n`, `\t`, `\XX` for other control
//!   characters, and raw UTF-8 otherwise.
//! - Dense: `dense<>` when empty, a splat when all of several elements are equal, MLIR's hex
//!   string when there are more than [`DENSE_HEX_THRESHOLD`] elements (not for `i1`), nested
//!   lists otherwise. Resources print as MLIR's `dialect_resources` section, sorted by key.
//!
//! # Errors
//!
//! Errors carry the 1-based `line:col` of the offending token ([`ParseError::render`] adds the
//! line and a caret); input they quote has its control characters escaped ([`escape_controls`]). Besides syntax, the parser checks what only it can see: undefined values
//! (at the first use; forward references within a region are allowed), redefinitions, result
//! and operand counts against the type signature, value types against their uses, unknown element
//! types, dense payload sizes, undefined aliases and duplicate keys. It never panics, caps
//! nesting at 256 levels and uses checked arithmetic for sizes.

mod error;
mod float;
mod lexer;
mod parse_attrs;
mod parse_dense;
mod parse_ops;
mod parse_types;
mod parser;
mod print_attrs;
mod printer;
mod scope;
mod source;

#[cfg(test)]
mod tests;

use std::sync::OnceLock;

pub use error::ParseError;
pub use parse_dense::MAX_SPLAT_BYTES;
pub use parser::MAX_DEPTH;
pub use print_attrs::DENSE_HEX_THRESHOLD;
pub use source::{caret_snippet, decode_utf8, decode_utf8_io, escape_controls, InvalidUtf8};

use crate::attr::Attribute;
use crate::dialect::{DialectRegistry, Trait};
use crate::location::Location;
use crate::module::{Module, Op};
use crate::types::Type;

/// The whole module, ending with a newline (and the resource section, if any).
pub fn print_module(m: &Module) -> String {
    printer::module_text(m)
}

/// One op with its regions, no trailing newline. Value names match [`print_module`]'s.
pub fn print_op(m: &Module, op: Op) -> String {
    printer::op_text(m, op)
}

/// Parse a file in MLIR generic syntax.
pub fn parse_module(src: &str) -> Result<Module, ParseError> {
    parser::parse(src).map_err(|e| e.into_parse_error(src))
}

/// Parse one attribute in the syntax [`print_attr`] prints (`{axis = 1 : i64}`,
/// `dense<1.0> : tensor<2xf32>`, ...); aliases are not available, and nothing may follow.
pub fn parse_attribute(src: &str) -> Result<Attribute, ParseError> {
    parser::parse_single_attr(src).map_err(|e| e.into_parse_error(src))
}

/// `tensor<2x?xf32>`, `(f32) -> i1`, ...
pub fn print_type(ty: &Type) -> String {
    let mut s = String::new();
    print_attrs::write_type(&mut s, ty);
    s
}

/// `4 : i64`, `dense<1.0> : tensor<4xf32>`, ...
pub fn print_attr(a: &Attribute) -> String {
    let mut s = String::new();
    print_attrs::write_attr(&mut s, a);
    s
}

/// `loc("name")`, `loc(fused["a", "b"])`, ...
pub fn print_location(loc: &Location) -> String {
    let mut s = String::new();
    print_attrs::write_loc(&mut s, loc);
    s
}

/// Whether an op's regions start a fresh value namespace (functions, modules). Printer and parser
/// must agree on this, so both ask here.
fn is_isolated(name: &str) -> bool {
    static REGISTRY: OnceLock<DialectRegistry> = OnceLock::new();
    REGISTRY
        .get_or_init(DialectRegistry::with_core_dialects)
        .has_trait(name, Trait::IsolatedFromAbove)
}
