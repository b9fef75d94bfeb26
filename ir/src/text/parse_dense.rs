//! Parsing dense tensor attributes, `dense_resource` references and the resource section.
//!
//! A dense literal comes before its type (`dense<[1.0, 2.0]> : tensor<2xf32>`), so the elements
//! are first collected as tokens with the literal's shape, then converted once the type is known.
//! Payload sizes are checked arithmetic: an element count that overflows, or a splat that would
//! need more than [`MAX_SPLAT_BYTES`], is an error rather than an allocation.

use std::collections::BTreeMap;

use super::error::{PError, PResult};
use super::float;
use super::lexer::{hex_val, Tok};
use super::parse_attrs::{float_lit_bits, int_lit_value, NumLit};
use super::parser::Parser;
use crate::attr::{Attribute, DenseAttr, Resource};
use crate::types::{ElemType, TensorType, Type};

/// Largest payload a splat may expand to (256 MiB); bigger constants belong in a resource.
pub const MAX_SPLAT_BYTES: usize = 256 << 20;

/// One element literal: a number or `true`/`false`.
#[derive(Copy, Clone)]
enum ElemLit<'s> {
    Num(NumLit<'s>),
    Bool(bool, usize),
}

/// What is between `dense<` and `>`.
enum DenseBody<'s> {
    Empty,
    Hex {
        bytes: Vec<u8>,
        pos: usize,
    },
    /// `shape` is `None` for a bare scalar (a splat).
    Literal {
        shape: Option<Vec<u64>>,
        elems: Vec<ElemLit<'s>>,
    },
}

/// Shape bookkeeping while reading nested lists.
#[derive(Default)]
struct ShapeState {
    /// Length of the lists at each level, known once the first list there closes.
    shape: Vec<Option<u64>>,
    /// Nesting level at which scalars sit, once one has been seen.
    leaf_level: Option<usize>,
}

impl<'s> Parser<'s> {
    /// `dense<...> : tensor<...>`; the current token is `dense`.
    pub fn parse_dense(&mut self) -> PResult<Attribute> {
        self.advance()?;
        self.expect(Tok::Less, "'<' after 'dense'")?;
        let body = match self.tok.kind {
            Tok::Greater => DenseBody::Empty,
            Tok::String => {
                let t = self.tok;
                let bytes = decode_hex_string(&self.string_value(t)?)
                    .map_err(|m| PError::new(t.start, m))?;
                self.advance()?;
                DenseBody::Hex {
                    bytes,
                    pos: t.start,
                }
            }
            _ => {
                let mut st = ShapeState::default();
                let mut elems = Vec::new();
                let bracketed = self.at(Tok::LSquare);
                self.parse_dense_value(0, &mut st, &mut elems)?;
                DenseBody::Literal {
                    shape: bracketed.then(|| st.shape.iter().map(|d| d.unwrap_or(0)).collect()),
                    elems,
                }
            }
        };
        self.expect(Tok::Greater, "'>' to close dense<...>")?;
        self.expect(Tok::Colon, "':' and a tensor type after dense<...>")?;
        let ty_pos = self.tok.start;
        let ty = self.parse_static_tensor(ty_pos, "dense")?;
        let n = ty
            .num_elements()
            .and_then(|n| usize::try_from(n).ok())
            .filter(|&n| n.checked_mul(ty.elem.byte_size()).is_some())
            .ok_or_else(|| PError::new(ty_pos, "tensor element count overflows"))?;
        let bytes = match body {
            DenseBody::Empty if n == 0 => Vec::new(),
            DenseBody::Empty => {
                return Err(PError::new(
                    ty_pos,
                    format!("dense<> needs a type with no elements, but this one has {n}"),
                ))
            }
            DenseBody::Hex { bytes, pos } => {
                hex_payload(bytes, &ty, n).map_err(|m| PError::new(pos, m))?
            }
            DenseBody::Literal { shape, elems } => {
                self.literal_payload(shape, &elems, &ty, n, ty_pos)?
            }
        };
        DenseAttr::new(ty, bytes)
            .map(Attribute::Dense)
            .ok_or_else(|| PError::new(ty_pos, "malformed dense payload"))
    }

    /// `dense_resource<key> : tensor<...>`.
    pub fn parse_dense_resource(&mut self) -> PResult<Attribute> {
        self.advance()?;
        self.expect(Tok::Less, "'<' after 'dense_resource'")?;
        let (name, _) = self.parse_key("a resource key")?;
        self.expect(Tok::Greater, "'>' after the resource key")?;
        self.expect(
            Tok::Colon,
            "':' and a tensor type after dense_resource<...>",
        )?;
        let ty_pos = self.tok.start;
        let ty = self.parse_static_tensor(ty_pos, "dense_resource")?;
        Ok(Attribute::DenseResource { name, ty })
    }

    fn parse_static_tensor(&mut self, pos: usize, what: &str) -> PResult<TensorType> {
        match self.parse_type()? {
            Type::Tensor(t) if t.static_dims().is_some() => Ok(t),
            other => Err(PError::new(
                pos,
                format!(
                    "{what} needs a statically shaped tensor type, found {}",
                    super::print_type(&other)
                ),
            )),
        }
    }

    /// A scalar or a (nested) list at nesting `level`, appending scalars to `elems`.
    fn parse_dense_value(
        &mut self,
        level: usize,
        st: &mut ShapeState,
        elems: &mut Vec<ElemLit<'s>>,
    ) -> PResult<()> {
        let pos = self.tok.start;
        if !self.at(Tok::LSquare) {
            if st.leaf_level.is_some_and(|l| l != level) || st.shape.len() > level {
                return Err(PError::new(pos, "dense literal has inconsistent nesting"));
            }
            st.leaf_level = Some(level);
            elems.push(self.parse_elem_lit()?);
            return Ok(());
        }
        if st.leaf_level.is_some_and(|l| l <= level) {
            return Err(PError::new(pos, "dense literal has inconsistent nesting"));
        }
        if st.shape.len() <= level {
            st.shape.resize(level + 1, None);
        }
        self.nested(|p| {
            p.advance()?;
            let mut count = 0u64;
            if !p.at(Tok::RSquare) {
                loop {
                    p.parse_dense_value(level + 1, st, elems)?;
                    count += 1;
                    if !p.eat(Tok::Comma)? {
                        break;
                    }
                }
            }
            p.expect(Tok::RSquare, "',' or ']' in a dense literal")?;
            match st.shape[level] {
                None => st.shape[level] = Some(count),
                Some(n) if n == count => {}
                Some(_) => {
                    return Err(PError::new(
                        pos,
                        "dense literal has sub-lists of different lengths",
                    ))
                }
            }
            Ok(())
        })
    }

    fn parse_elem_lit(&mut self) -> PResult<ElemLit<'s>> {
        let t = self.tok;
        if t.kind == Tok::BareId && matches!(self.text(t), "true" | "false") {
            self.advance()?;
            return Ok(ElemLit::Bool(self.text(t) == "true", t.start));
        }
        Ok(ElemLit::Num(self.parse_num_lit("a dense element")?))
    }

    fn literal_payload(
        &self,
        shape: Option<Vec<u64>>,
        elems: &[ElemLit<'s>],
        ty: &TensorType,
        n: usize,
        ty_pos: usize,
    ) -> PResult<Vec<u8>> {
        let w = ty.elem.byte_size();
        let Some(shape) = shape else {
            // A bare scalar: a splat over every element.
            let total = n * w;
            if total > MAX_SPLAT_BYTES {
                return Err(PError::new(
                    ty_pos,
                    format!(
                        "dense splat of {n} elements exceeds the {} MiB inline limit",
                        MAX_SPLAT_BYTES >> 20
                    ),
                ));
            }
            let Some(&lit) = elems.first() else {
                return Err(PError::new(ty_pos, "empty dense literal"));
            };
            let bits = elem_bits(lit, ty.elem)?;
            return Ok(bits.to_le_bytes()[..w].repeat(n));
        };
        let want = ty.static_dims().unwrap_or_default();
        if shape != want {
            return Err(PError::new(
                ty_pos,
                format!(
                    "dense literal has shape {shape:?} but the type is {}",
                    super::print_type(&Type::Tensor(ty.clone()))
                ),
            ));
        }
        let mut out = Vec::with_capacity(n * w);
        for &e in elems {
            out.extend_from_slice(&elem_bits(e, ty.elem)?.to_le_bytes()[..w]);
        }
        Ok(out)
    }

    /// `{-# dialect_resources: { builtin: { key: "0x..." } } #-}`. Entries of other dialects or
    /// sections are read and dropped; blobs are committed only if the whole section parses.
    pub fn parse_resource_section(&mut self) -> PResult<()> {
        self.expect(Tok::MetaStart, "'{-#'")?;
        let mut found = BTreeMap::new();
        while !self.at(Tok::MetaEnd) {
            let (section, _) = self.parse_key("a section name such as 'dialect_resources'")?;
            self.expect(Tok::Colon, "':' after the section name")?;
            self.parse_resource_groups(section == "dialect_resources", &mut found)?;
            if !self.eat(Tok::Comma)? {
                break;
            }
        }
        self.expect(Tok::MetaEnd, "'#-}' to close the resource section")?;
        for (key, (res, pos)) in found {
            if self.resources.contains_key(&key) {
                return Err(PError::new(pos, format!("duplicate resource key '{key}'")));
            }
            self.resources.insert(key, res);
        }
        Ok(())
    }

    fn parse_resource_groups(
        &mut self,
        dialect_resources: bool,
        found: &mut BTreeMap<String, (Resource, usize)>,
    ) -> PResult<()> {
        self.expect(Tok::LBrace, "'{' after the section name")?;
        while !self.at(Tok::RBrace) {
            let (group, _) = self.parse_key("a dialect name")?;
            let keep = dialect_resources && group == "builtin";
            self.expect(Tok::Colon, "':' after the dialect name")?;
            self.expect(Tok::LBrace, "'{' after the dialect name")?;
            while !self.at(Tok::RBrace) {
                let (key, pos) = self.parse_key("a resource key")?;
                self.expect(Tok::Colon, "':' after the resource key")?;
                let t = self.tok;
                if t.kind == Tok::String {
                    if keep {
                        let res = resource_blob(&self.string_value(t)?)
                            .map_err(|m| PError::new(t.start, m))?;
                        if found.insert(key.clone(), (res, pos)).is_some() {
                            return Err(PError::new(
                                pos,
                                format!("duplicate resource key '{key}'"),
                            ));
                        }
                    }
                } else if !self.at_keyword("true") && !self.at_keyword("false") {
                    return Err(self.expected("a resource value (a hex string)"));
                }
                self.advance()?;
                if !self.eat(Tok::Comma)? {
                    break;
                }
            }
            self.expect(Tok::RBrace, "',' or '}' after a resource entry")?;
            if !self.eat(Tok::Comma)? {
                break;
            }
        }
        self.expect(Tok::RBrace, "',' or '}' after a resource group")?;
        Ok(())
    }
}

/// The bit pattern of one element literal in type `elem` (integers two's complement).
fn elem_bits(lit: ElemLit<'_>, elem: ElemType) -> PResult<u64> {
    Ok(match (lit, elem) {
        (ElemLit::Bool(b, _), ElemType::I1) => u64::from(b),
        (ElemLit::Bool(_, pos), _) => {
            return Err(PError::new(
                pos,
                format!("'true'/'false' in a dense literal of {}", elem.name()),
            ))
        }
        (ElemLit::Num(n), e) if e.is_float() && n.tok.kind == Tok::Int => {
            let text = if n.neg {
                format!("-{}", n.text)
            } else {
                n.text.to_string()
            };
            float::parse_decimal(&text, e)
                .ok_or_else(|| PError::new(n.tok.start, "malformed float literal"))?
        }
        (ElemLit::Num(n), e) if e.is_float() => float_lit_bits(n, e)?,
        (ElemLit::Num(n), e) => int_lit_value(n, Some(e))? as u64,
    })
}

/// `0x...` to bytes (case-insensitive), in linear time.
fn decode_hex_string(s: &str) -> Result<Vec<u8>, String> {
    let hex = s
        .strip_prefix("0x")
        .ok_or("a hex payload must start with '0x'")?
        .as_bytes();
    if hex.len() % 2 != 0 {
        return Err("a hex payload needs an even number of digits".into());
    }
    if let Some(bad) = hex.iter().position(|b| !b.is_ascii_hexdigit()) {
        return Err(format!("invalid hex digit at offset {}", bad + 2));
    }
    Ok(hex
        .chunks_exact(2)
        .map(|p| hex_val(p[0]) << 4 | hex_val(p[1]))
        .collect())
}

/// A blob: a 4-byte little-endian alignment, then the data.
fn resource_blob(s: &str) -> Result<Resource, String> {
    let bytes = decode_hex_string(s)?;
    if bytes.len() < 4 {
        return Err("a resource blob needs a 4-byte alignment header".into());
    }
    let alignment = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    Ok(Resource {
        alignment,
        bytes: bytes::Bytes::copy_from_slice(&bytes[4..]),
        origin: None,
    })
}

/// The payload of `dense<"0x...">`: all elements, or one element as a splat. `i1` data is
/// bit-packed, as MLIR stores it.
fn hex_payload(bytes: Vec<u8>, ty: &TensorType, n: usize) -> Result<Vec<u8>, String> {
    let w = ty.elem.byte_size();
    let splat_limit = || {
        if n * w > MAX_SPLAT_BYTES {
            Err(format!(
                "dense splat of {n} elements exceeds the {} MiB inline limit",
                MAX_SPLAT_BYTES >> 20
            ))
        } else {
            Ok(())
        }
    };
    if ty.elem == ElemType::I1 {
        if bytes.len() == n.div_ceil(8) {
            return Ok((0..n).map(|i| (bytes[i / 8] >> (i % 8)) & 1).collect());
        }
        if bytes.len() == 1 && matches!(bytes[0], 0 | 0xff) {
            splat_limit()?;
            return Ok(vec![bytes[0] & 1; n]);
        }
    } else if bytes.len() == n * w {
        return Ok(bytes);
    } else if bytes.len() == w && n > 0 {
        splat_limit()?;
        return Ok(bytes.repeat(n));
    }
    Err(format!(
        "dense hex payload has {} bytes but {} elements of {} need {}",
        bytes.len(),
        n,
        ty.elem.name(),
        n * w
    ))
}
