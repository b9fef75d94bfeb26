//! Parsing types and locations.

use super::error::{PError, PResult};
use super::lexer::Tok;
use super::parser::{Alias, Parser};
use crate::attr::Attribute;
use crate::location::Location;
use crate::types::{Dim, ElemType, FunctionType, TensorType, Type};

impl<'s> Parser<'s> {
    pub fn parse_type(&mut self) -> PResult<Type> {
        let t = self.tok;
        match t.kind {
            Tok::LParen => self.nested(|p| p.parse_function_type().map(Type::Function)),
            Tok::BangId => {
                let ty = match self.alias(t)? {
                    Alias::Type(ty) => ty.clone(),
                    _ => {
                        return Err(PError::new(
                            t.start,
                            format!("'{}' is not a type alias", self.text(t)),
                        ))
                    }
                };
                self.advance()?;
                Ok(ty)
            }
            Tok::BareId => {
                let word = self.text(t);
                let ty = match word {
                    "tensor" => return self.parse_tensor_type().map(Type::Tensor),
                    "index" => Type::Index,
                    "none" => Type::None,
                    w => match ElemType::from_name(w) {
                        Some(e) => Type::Scalar(e),
                        None => return Err(PError::new(t.start, format!("unknown type '{w}'"))),
                    },
                };
                self.advance()?;
                Ok(ty)
            }
            _ => Err(self.expected("a type")),
        }
    }

    /// `(T, T) -> T`, `() -> ()`, `(T) -> (T, T)`.
    fn parse_function_type(&mut self) -> PResult<FunctionType> {
        let inputs = self.parse_type_list()?;
        self.expect(Tok::Arrow, "'->' in a function type")?;
        let results = if self.at(Tok::LParen) {
            self.parse_type_list()?
        } else {
            vec![self.parse_type()?]
        };
        Ok(FunctionType { inputs, results })
    }

    /// `(T, T)`.
    fn parse_type_list(&mut self) -> PResult<Vec<Type>> {
        self.expect(Tok::LParen, "'(' to open a type list")?;
        let mut types = Vec::new();
        if self.eat(Tok::RParen)? {
            return Ok(types);
        }
        loop {
            types.push(self.parse_type()?);
            if !self.eat(Tok::Comma)? {
                break;
            }
        }
        self.expect(Tok::RParen, "',' or ')' in a type list")?;
        Ok(types)
    }

    /// `tensor<2x?x4xf32>` or `tensor<?x4xf32, ["seq"]>`; the current token is `tensor`.
    fn parse_tensor_type(&mut self) -> PResult<TensorType> {
        self.advance()?;
        if !self.at(Tok::Less) {
            return Err(self.expected("'<' after 'tensor'"));
        }
        // The dims are scanned from the raw text: `0x4xf32` must not lex as a hex number.
        let mut dims = self.scan_dims()?;
        self.advance()?;
        if self.at(Tok::Star) {
            return Err(PError::new(
                self.tok.start,
                "unranked tensors are not supported",
            ));
        }
        let elem_tok = self.tok;
        let elem = (elem_tok.kind == Tok::BareId)
            .then(|| ElemType::from_name(self.text(elem_tok)))
            .flatten()
            .ok_or_else(|| match elem_tok.kind {
                Tok::BareId => PError::new(
                    elem_tok.start,
                    format!("unknown element type '{}'", self.text(elem_tok)),
                ),
                _ => self.expected("an element type"),
            })?;
        self.advance()?;
        if self.at(Tok::Comma) {
            self.advance()?;
            let pos = self.tok.start;
            let encoding = self.parse_attr()?;
            apply_dim_names(&mut dims, &encoding).map_err(|msg| PError::new(pos, msg))?;
        }
        self.expect(Tok::Greater, "'>' to close the tensor type")?;
        Ok(TensorType::new(dims, elem))
    }

    /// `2x?x` dims from the raw position after `<`; leaves the lexer at the element type.
    fn scan_dims(&mut self) -> PResult<Vec<Dim>> {
        let bytes = self.lex.src.as_bytes();
        let mut dims = Vec::new();
        loop {
            self.lex.skip_trivia();
            let start = self.lex.pos;
            match bytes.get(start) {
                Some(b'?') => {
                    self.lex.pos += 1;
                    dims.push(Dim::Dynamic);
                }
                Some(b) if b.is_ascii_digit() => {
                    while bytes.get(self.lex.pos).is_some_and(u8::is_ascii_digit) {
                        self.lex.pos += 1;
                    }
                    let n = self.lex.src[start..self.lex.pos]
                        .parse::<u64>()
                        .ok()
                        .filter(|&n| i64::try_from(n).is_ok())
                        .ok_or_else(|| PError::new(start, "dimension size is too large"))?;
                    dims.push(Dim::Static(n));
                }
                _ => return Ok(dims),
            }
            self.lex.skip_trivia();
            if bytes.get(self.lex.pos) != Some(&b'x') {
                self.advance()?;
                return Err(self.expected("'x' after a tensor dimension"));
            }
            self.lex.pos += 1;
        }
    }

    /// `loc(...)` if present, else `loc(unknown)`.
    pub fn parse_trailing_loc(&mut self) -> PResult<Location> {
        if self.at_keyword("loc") {
            self.parse_loc()
        } else {
            Ok(Location::Unknown)
        }
    }

    /// `loc(...)`.
    pub fn parse_loc(&mut self) -> PResult<Location> {
        self.expect_keyword("loc")?;
        self.expect(Tok::LParen, "'(' after 'loc'")?;
        let loc = self.parse_loc_inner()?;
        self.expect(Tok::RParen, "')' to close the location")?;
        Ok(loc)
    }

    /// The inside of `loc(...)`: `unknown`, `"name"`, `"file":L:C`, `fused[...]`, `#alias`;
    /// tolerated and simplified: `"name"(child)`, `fused<meta>[...]`, `callsite(a at b)`,
    /// `"file":L:C to L:C`. Fused locations are normalized with [`Location::fused`], as MLIR does.
    fn parse_loc_inner(&mut self) -> PResult<Location> {
        self.nested(|p| {
            let t = p.tok;
            match t.kind {
                Tok::String => p.parse_named_or_file_loc(),
                Tok::HashId => {
                    let loc = match p.alias(t)? {
                        Alias::Loc(l) => l.clone(),
                        _ => {
                            return Err(PError::new(
                                t.start,
                                format!("'{}' is not a location alias", p.text(t)),
                            ))
                        }
                    };
                    p.advance()?;
                    Ok(loc)
                }
                Tok::BareId => match p.text(t) {
                    "unknown" => {
                        p.advance()?;
                        Ok(Location::Unknown)
                    }
                    "fused" => p.parse_fused_loc(),
                    "callsite" => {
                        p.advance()?;
                        p.expect(Tok::LParen, "'(' after 'callsite'")?;
                        let callee = p.parse_loc_inner()?;
                        p.expect_keyword("at")?;
                        p.parse_loc_inner()?;
                        p.expect(Tok::RParen, "')' to close 'callsite'")?;
                        Ok(callee)
                    }
                    _ => Err(p.expected("a location")),
                },
                _ => Err(p.expected("a location")),
            }
        })
    }

    fn parse_named_or_file_loc(&mut self) -> PResult<Location> {
        let name = self.string_value(self.tok)?;
        self.advance()?;
        if self.eat(Tok::LParen)? {
            self.parse_loc_inner()?;
            self.expect(Tok::RParen, "')' after the child location")?;
            return Ok(Location::Name(name));
        }
        if !self.eat(Tok::Colon)? {
            return Ok(Location::Name(name));
        }
        let line = self.parse_u32("a line number")?;
        let col = if self.eat(Tok::Colon)? {
            self.parse_u32("a column number")?
        } else {
            0
        };
        if self.at_keyword("to") {
            self.advance()?;
            if self.at(Tok::Int) {
                self.parse_u32("a line number")?;
            }
            if self.eat(Tok::Colon)? {
                self.parse_u32("a column number")?;
            }
        }
        Ok(Location::FileLineCol {
            file: name,
            line,
            col,
        })
    }

    fn parse_fused_loc(&mut self) -> PResult<Location> {
        self.advance()?;
        if self.eat(Tok::Less)? {
            self.parse_attr()?; // metadata: not kept
            self.expect(Tok::Greater, "'>' after fused location metadata")?;
        }
        self.expect(Tok::LSquare, "'[' after 'fused'")?;
        let mut locs = Vec::new();
        if !self.eat(Tok::RSquare)? {
            loop {
                locs.push(self.parse_loc_inner()?);
                if !self.eat(Tok::Comma)? {
                    break;
                }
            }
            self.expect(Tok::RSquare, "',' or ']' in a fused location")?;
        }
        // MLIR's canonical form: flattened, without unknowns or duplicates, a single element
        // unwrapped (metadata, which would keep a fused loc distinct, is not kept).
        Ok(Location::fused(locs))
    }

    pub fn parse_u32(&mut self, what: &str) -> PResult<u32> {
        let t = self.expect(Tok::Int, what)?;
        self.text(t)
            .parse::<u32>()
            .map_err(|_| PError::new(t.start, format!("{what} is too large")))
    }
}

/// Turn the dynamic dims named by a tensor encoding `["batch", ""]` into `Dim::Named`.
fn apply_dim_names(dims: &mut [Dim], encoding: &Attribute) -> Result<(), String> {
    let dynamic = dims.iter().filter(|d| **d == Dim::Dynamic).count();
    let names: Option<Vec<&str>> = encoding
        .as_array()
        .map(|items| items.iter().map(Attribute::as_str).collect())
        .unwrap_or(None);
    let names = names.filter(|n| n.len() == dynamic).ok_or_else(|| {
        format!("tensor encoding must be an array of {dynamic} dim name string(s), one per '?' dim")
    })?;
    let mut it = names.into_iter();
    for d in dims.iter_mut().filter(|d| **d == Dim::Dynamic) {
        match it.next() {
            Some("") | None => {}
            Some(n) => *d = Dim::Named(n.to_string()),
        }
    }
    Ok(())
}
