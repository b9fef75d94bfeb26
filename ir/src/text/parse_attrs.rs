//! Parsing attributes: scalars, strings, arrays, dictionaries, symbols, types as attributes and
//! alias references (dense payloads are in `parse_dense.rs`).

use super::error::{PError, PResult};
use super::float;
use super::lexer::{Tok, Token};
use super::parser::{Alias, Parser};
use crate::attr::{AttrDict, Attribute};
use crate::types::{ElemType, Type};

/// A numeric literal as written: sign, token and text.
#[derive(Copy, Clone)]
pub(super) struct NumLit<'s> {
    pub neg: bool,
    pub tok: Token,
    pub text: &'s str,
}

impl<'s> Parser<'s> {
    pub fn parse_attr(&mut self) -> PResult<Attribute> {
        let t = self.tok;
        match t.kind {
            Tok::String => {
                let s = self.string_value(t)?;
                self.advance()?;
                Ok(Attribute::String(s))
            }
            Tok::LSquare => self.nested(Self::parse_array),
            Tok::LBrace => self.nested(|p| p.parse_attr_dict().map(Attribute::Dict)),
            Tok::AtId => {
                let text = self.text(t);
                let sym = if text.starts_with("@\"") {
                    super::lexer::unescape(&text[1..])
                        .map(|s| s.into_owned())
                        .map_err(|m| PError::new(t.start, m))?
                } else {
                    text[1..].to_string()
                };
                self.advance()?;
                Ok(Attribute::SymbolRef(sym))
            }
            Tok::HashId => {
                let a = match self.alias(t)? {
                    Alias::Attr(a) => a.clone(),
                    Alias::Loc(_) | Alias::Type(_) => {
                        return Err(PError::new(
                            t.start,
                            format!("'{}' is not an attribute alias", self.text(t)),
                        ))
                    }
                };
                self.advance()?;
                Ok(a)
            }
            Tok::Minus | Tok::Int | Tok::HexInt | Tok::Float => self.parse_number_attr(),
            Tok::LParen | Tok::BangId => Ok(Attribute::Type(self.parse_type()?)),
            Tok::BareId => self.parse_keyword_attr(),
            _ => Err(self.expected("an attribute")),
        }
    }

    fn parse_keyword_attr(&mut self) -> PResult<Attribute> {
        let word = self.text(self.tok);
        let simple = match word {
            "unit" => Some(Attribute::Unit),
            "true" => Some(Attribute::Bool(true)),
            "false" => Some(Attribute::Bool(false)),
            _ => None,
        };
        if let Some(a) = simple {
            self.advance()?;
            return Ok(a);
        }
        match word {
            "dense" => self.parse_dense(),
            "dense_resource" => self.parse_dense_resource(),
            "tensor" | "index" | "none" => Ok(Attribute::Type(self.parse_type()?)),
            w if ElemType::from_name(w).is_some() => Ok(Attribute::Type(self.parse_type()?)),
            _ => Err(self.expected("an attribute")),
        }
    }

    fn parse_array(&mut self) -> PResult<Attribute> {
        self.expect(Tok::LSquare, "'['")?;
        let mut items = Vec::new();
        if !self.eat(Tok::RSquare)? {
            loop {
                items.push(self.parse_attr()?);
                if !self.eat(Tok::Comma)? {
                    break;
                }
            }
            self.expect(Tok::RSquare, "',' or ']' in an array")?;
        }
        Ok(Attribute::Array(items))
    }

    /// `{key = attr, flag}`; a bare key means `unit`. Duplicate keys are errors.
    pub fn parse_attr_dict(&mut self) -> PResult<AttrDict> {
        self.expect(Tok::LBrace, "'{' to open an attribute dictionary")?;
        let mut dict = AttrDict::new();
        if self.eat(Tok::RBrace)? {
            return Ok(dict);
        }
        loop {
            let (key, pos) = self.parse_key("an attribute name")?;
            let value = if self.eat(Tok::Equal)? {
                self.parse_attr()?
            } else {
                Attribute::Unit
            };
            if dict.contains_key(&key) {
                return Err(PError::new(pos, format!("duplicate attribute key '{key}'")));
            }
            dict.insert(key, value);
            if !self.eat(Tok::Comma)? {
                break;
            }
        }
        self.expect(Tok::RBrace, "',' or '}' in an attribute dictionary")?;
        Ok(dict)
    }

    /// `[-]` then an integer, hex or float token.
    pub fn parse_num_lit(&mut self, what: &str) -> PResult<NumLit<'s>> {
        let neg = self.eat(Tok::Minus)?;
        if !matches!(self.tok.kind, Tok::Int | Tok::HexInt | Tok::Float) {
            return Err(self.expected(what));
        }
        let tok = self.tok;
        self.advance()?;
        Ok(NumLit {
            neg,
            tok,
            text: self.text(tok),
        })
    }

    /// `4 : i64`, `4 : index`, `4` (i64), `1.5 : f32`, `1.5` (f32), `0x7FC00000 : f32`.
    fn parse_number_attr(&mut self) -> PResult<Attribute> {
        let lit = self.parse_num_lit("a number")?;
        let ty = if self.eat(Tok::Colon)? {
            let pos = self.tok.start;
            match self.parse_type()? {
                Type::Scalar(e) => Some(e),
                Type::Index => None,
                other => {
                    return Err(PError::new(
                        pos,
                        format!(
                            "expected an integer, float or index type, found {}",
                            super::print_type(&other)
                        ),
                    ))
                }
            }
        } else if lit.tok.kind == Tok::Float {
            Some(ElemType::F32)
        } else {
            Some(ElemType::I64)
        };
        match ty {
            Some(e) if e.is_float() => {
                let bits = float_lit_bits(lit, e)?;
                Ok(Attribute::Float {
                    value: float::value_of_bits(bits, e),
                    ty: e,
                })
            }
            // MLIR has a single i1 integer attribute and spells it `true`/`false`.
            Some(ElemType::I1) => Ok(Attribute::Bool(int_lit_value(lit, ty)? != 0)),
            _ => Ok(Attribute::Int {
                value: int_lit_value(lit, ty)?,
                ty,
            }),
        }
    }
}

/// The bits of a float literal in type `ty`: a decimal float, or a hex bit pattern.
pub(super) fn float_lit_bits(lit: NumLit<'_>, ty: ElemType) -> PResult<u64> {
    let pos = lit.tok.start;
    match lit.tok.kind {
        Tok::HexInt => {
            let width = float::float_width(ty);
            let bits = parse_hex_u64(lit.text)
                .filter(|&b| b >> width == 0)
                .ok_or_else(|| {
                    PError::new(pos, format!("hex literal does not fit in {} bits", width))
                })?;
            if lit.neg {
                return Err(PError::new(pos, "hex float literals cannot be negative"));
            }
            Ok(bits)
        }
        Tok::Float => {
            let text = if lit.neg {
                format!("-{}", lit.text)
            } else {
                lit.text.to_string()
            };
            float::parse_decimal(&text, ty)
                .ok_or_else(|| PError::new(pos, format!("malformed float literal '{text}'")))
        }
        _ => Err(PError::new(
            pos,
            format!(
                "expected a float literal for {}, found integer '{}' (write '{}.0')",
                ty.name(),
                lit.text,
                lit.text
            ),
        )),
    }
}

/// The value of an integer literal of type `ty` (`None` = index). Values must fit the width
/// signed or unsigned; they are stored sign-extended (`255 : i8` is -1), `i1` as 0 or 1.
pub(super) fn int_lit_value(lit: NumLit<'_>, ty: Option<ElemType>) -> PResult<i64> {
    let pos = lit.tok.start;
    let name = ty.map_or("index", ElemType::name);
    let magnitude = match lit.tok.kind {
        Tok::Int => lit.text.parse::<u64>().ok(),
        Tok::HexInt => parse_hex_u64(lit.text),
        _ => {
            return Err(PError::new(
                pos,
                format!(
                    "expected an integer literal for {name}, found '{}'",
                    lit.text
                ),
            ))
        }
    }
    .ok_or_else(|| PError::new(pos, format!("integer literal '{}' is too large", lit.text)))?;
    let v = if lit.neg {
        -i128::from(magnitude)
    } else {
        i128::from(magnitude)
    };
    let bits = ty.map_or(64, ElemType::bit_width);
    let min = -(1i128 << (bits - 1));
    let max = if ty.is_none() {
        i128::from(i64::MAX)
    } else {
        (1i128 << bits) - 1
    };
    if v < min || v > max {
        return Err(PError::new(
            pos,
            format!("integer literal {v} does not fit in {name}"),
        ));
    }
    if bits == 1 {
        return Ok((v & 1) as i64);
    }
    // Sign-extend from `bits`.
    let shift = 128 - bits;
    Ok(((v << shift) >> shift) as i64)
}

fn parse_hex_u64(text: &str) -> Option<u64> {
    u64::from_str_radix(text.strip_prefix("0x")?, 16).ok()
}
