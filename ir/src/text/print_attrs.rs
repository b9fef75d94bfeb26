//! Printing of the leaves of the syntax: types, attributes, locations, strings and dense payloads.
//! Everything appends to a `String`; the public `print_*` wrappers live in `mod.rs`.

use std::fmt::Write;

use super::float;
use super::lexer::{is_bare_id, is_suffix_id};
use crate::attr::{Attribute, DenseAttr};
use crate::location::Location;
use crate::types::{Dim, ElemType, FunctionType, TensorType, Type};

/// Dense payloads with more elements than this (and not splats, not `i1`) print as MLIR's hex
/// string `dense<"0x...">`: compact and exact for large constants, readable lists for small ones.
pub const DENSE_HEX_THRESHOLD: usize = 64;

const HEX: &[u8; 16] = b"0123456789ABCDEF";

pub(super) fn write_type(out: &mut String, ty: &Type) {
    match ty {
        Type::Scalar(e) => out.push_str(e.name()),
        Type::Index => out.push_str("index"),
        Type::None => out.push_str("none"),
        Type::Tensor(t) => write_tensor_type(out, t),
        Type::Function(f) => write_function_type(out, f),
    }
}

pub(super) fn write_tensor_type(out: &mut String, t: &TensorType) {
    out.push_str("tensor<");
    for d in &t.dims {
        match d {
            Dim::Static(n) => {
                let _ = write!(out, "{n}");
            }
            Dim::Dynamic | Dim::Named(_) => out.push('?'),
        }
        out.push('x');
    }
    out.push_str(t.elem.name());
    let names = t.dim_names();
    if !names.is_empty() {
        out.push_str(", [");
        for (i, n) in names.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            write_string(out, n);
        }
        out.push(']');
    }
    out.push('>');
}

pub(super) fn write_function_type(out: &mut String, f: &FunctionType) {
    write_type_list(out, &f.inputs);
    out.push_str(" -> ");
    match f.results.as_slice() {
        [single] if !matches!(single, Type::Function(_)) => write_type(out, single),
        results => write_type_list(out, results),
    }
}

/// `(T, T)`.
pub(super) fn write_type_list<'a>(out: &mut String, types: impl IntoIterator<Item = &'a Type>) {
    out.push('(');
    for (i, t) in types.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_type(out, t);
    }
    out.push(')');
}

/// A string literal with MLIR escapes. Non-ASCII characters stay as UTF-8 (MLIR reads them).
pub(super) fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for &b in c.encode_utf8(&mut buf).as_bytes() {
                    out.push('\\');
                    out.push(HEX[usize::from(b >> 4)] as char);
                    out.push(HEX[usize::from(b & 15)] as char);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// An attribute-dictionary key or resource key: bare when it can be, quoted otherwise.
pub(super) fn write_key(out: &mut String, key: &str) {
    if is_bare_id(key) {
        out.push_str(key);
    } else {
        write_string(out, key);
    }
}

/// `{a = 1 : i64, flag}`; unit-valued entries print as the bare key.
pub(super) fn write_attr_dict<'a>(
    out: &mut String,
    entries: impl IntoIterator<Item = (&'a String, &'a Attribute)>,
) {
    out.push('{');
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_key(out, k);
        if *v != Attribute::Unit {
            out.push_str(" = ");
            write_attr(out, v);
        }
    }
    out.push('}');
}

pub(super) fn write_attr(out: &mut String, a: &Attribute) {
    match a {
        Attribute::Unit => out.push_str("unit"),
        Attribute::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        // MLIR's i1 integer attribute is its bool: print it the way MLIR (and our parser) reads it.
        Attribute::Int {
            value,
            ty: Some(ElemType::I1),
        } => out.push_str(if *value != 0 { "true" } else { "false" }),
        Attribute::Int { value, ty } => {
            let _ = write!(out, "{value} : {}", ty.map_or("index", ElemType::name));
        }
        Attribute::Float { value, ty } => {
            out.push_str(&float_attr_text(*value, *ty));
            out.push_str(" : ");
            out.push_str(ty.name());
        }
        Attribute::String(s) => write_string(out, s),
        Attribute::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_attr(out, item);
            }
            out.push(']');
        }
        Attribute::Dict(d) => write_attr_dict(out, d),
        Attribute::Dense(d) => write_dense(out, d),
        Attribute::DenseResource { name, ty } => {
            out.push_str("dense_resource<");
            write_key(out, name);
            out.push_str("> : ");
            write_tensor_type(out, ty);
        }
        Attribute::SymbolRef(s) => {
            out.push('@');
            if is_suffix_id(s) {
                out.push_str(s);
            } else {
                write_string(out, s);
            }
        }
        Attribute::Type(t) => write_type(out, t),
    }
}

/// A float attribute's literal; a float stored with an integer type (invalid IR) still prints.
fn float_attr_text(value: f64, ty: ElemType) -> String {
    if ty.is_float() {
        float::format_value(value, ty)
    } else {
        format!("{value:?}")
    }
}

pub(super) fn write_loc(out: &mut String, loc: &Location) {
    out.push_str("loc(");
    write_loc_inner(out, loc);
    out.push(')');
}

fn write_loc_inner(out: &mut String, loc: &Location) {
    match loc {
        Location::Unknown => out.push_str("unknown"),
        Location::Name(n) => write_string(out, n),
        Location::FileLineCol { file, line, col } => {
            write_string(out, file);
            let _ = write!(out, ":{line}:{col}");
        }
        Location::Fused(locs) => {
            out.push_str("fused[");
            for (i, l) in locs.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_loc_inner(out, l);
            }
            out.push(']');
        }
    }
}

/// `dense<...> : tensor<...>`: `dense<>` when empty, a splat when every element is equal (and
/// there are several), hex above [`DENSE_HEX_THRESHOLD`] elements, nested lists otherwise.
pub(super) fn write_dense(out: &mut String, d: &DenseAttr) {
    let elem = d.ty().elem;
    out.push_str("dense<");
    let n = d.len();
    if n == 0 {
        // nothing between the brackets
    } else if d.is_splat() && n > 1 {
        write_dense_elem(out, d, 0);
    } else if n > DENSE_HEX_THRESHOLD && elem != ElemType::I1 {
        write_hex_string(out, &[], d.bytes());
    } else {
        let dims: Vec<usize> = d
            .ty()
            .dims
            .iter()
            .map(|dim| dim.as_static().map_or(0, |x| x as usize))
            .collect();
        let mut next = 0;
        write_dense_level(out, d, &dims, &mut next);
    }
    out.push_str("> : ");
    write_tensor_type(out, d.ty());
}

fn write_dense_level(out: &mut String, d: &DenseAttr, dims: &[usize], next: &mut usize) {
    let Some((&len, rest)) = dims.split_first() else {
        write_dense_elem(out, d, *next);
        *next += 1;
        return;
    };
    out.push('[');
    for i in 0..len {
        if i > 0 {
            out.push_str(", ");
        }
        write_dense_level(out, d, rest, next);
    }
    out.push(']');
}

fn write_dense_elem(out: &mut String, d: &DenseAttr, i: usize) {
    let elem = d.ty().elem;
    let w = elem.byte_size();
    let Some(b) = d.bytes().get(i * w..(i + 1) * w) else {
        return;
    };
    match elem {
        ElemType::I1 => out.push_str(if b[0] != 0 { "true" } else { "false" }),
        e if e.is_float() => {
            let bits = b.iter().rev().fold(0u64, |acc, &x| acc << 8 | u64::from(x));
            out.push_str(&float::format_bits(bits, e));
        }
        _ => {
            let _ = write!(out, "{}", d.get_i64(i));
        }
    }
}

/// `"0x" + header + payload` in uppercase hex, as MLIR prints blobs.
pub(super) fn write_hex_string(out: &mut String, header: &[u8], bytes: &[u8]) {
    out.reserve(4 + 2 * (header.len() + bytes.len()));
    out.push_str("\"0x");
    for &b in header.iter().chain(bytes) {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 15)] as char);
    }
    out.push('"');
}
