//! The parser core: token cursor, nesting guard, the two passes and the top level.
//!
//! Pass 1 skims the file at bracket depth 0 and reads only the alias definitions (`#loc1 = ...`,
//! `!t = ...`) and the resource section, because MLIR prints location aliases and resources at
//! the *end* of the file while ops refer to them earlier. Pass 2 parses the ops with every alias
//! known, skipping what pass 1 already read. Ops are built straight into the [`Module`]; value
//! names are resolved by the scopes in `scope.rs`.

use std::collections::{BTreeMap, HashMap};

use super::error::{PError, PResult};
use super::lexer::{unescape, Lexer, Tok, Token};
use crate::attr::{Attribute, Resource};
use crate::entity::{EntityRef, PrimaryMap};
use crate::location::Location;
use crate::module::{Module, Op, OpSpec, MODULE_OP};
use crate::types::Type;

use super::scope::Scope;

/// Deepest nesting of regions, brackets, types and locations; deeper input is an error rather
/// than a stack overflow.
pub const MAX_DEPTH: u32 = 256;

/// The value of a top-level alias definition.
#[derive(Clone, Debug)]
pub(super) enum Alias {
    Attr(Attribute),
    Loc(Location),
    Type(Type),
}

pub(super) struct Parser<'s> {
    pub lex: Lexer<'s>,
    /// The current (lookahead) token.
    pub tok: Token,
    depth: u32,
    pub aliases: HashMap<&'s str, Alias>,
    pub resources: BTreeMap<String, Resource>,
    pub m: Module,
    pub scopes: Vec<Scope<'s>>,
    /// Pass 1's reads, by start offset: pass 2 jumps to the token after them.
    skip: HashMap<usize, Token>,
}

/// Parse a whole file into a module.
pub(super) fn parse(src: &str) -> PResult<Module> {
    let mut p = Parser::new(src);
    let pass1 = p.collect_definitions().err();
    let pass2 = p.restart().and_then(|()| p.parse_top_level());
    match (pass2, pass1) {
        (Ok(()), None) => Ok(p.m),
        (Ok(()), Some(e1)) => Err(e1),
        (Err(e2), None) => Err(e2),
        // Report whichever comes first in the file, unless the pass-2 error is a missing alias
        // that pass 1 never got to define.
        (Err(e2), Some(e1)) if e2.undefined_alias || e1.pos <= e2.pos => Err(e1),
        (Err(e2), Some(_)) => Err(e2),
    }
}

/// Parse exactly one attribute (no aliases, nothing after it but trivia).
pub(super) fn parse_single_attr(src: &str) -> PResult<Attribute> {
    let mut p = Parser::new(src);
    p.advance()?;
    let attr = p.parse_attr()?;
    if !p.at(Tok::Eof) {
        return Err(p.expected("the end of the attribute"));
    }
    Ok(attr)
}

fn empty_module() -> Module {
    Module {
        ops: PrimaryMap::new(),
        values: PrimaryMap::new(),
        blocks: PrimaryMap::new(),
        regions: PrimaryMap::new(),
        top: Op::new(0),
        resources: BTreeMap::new(),
    }
}

impl<'s> Parser<'s> {
    fn new(src: &'s str) -> Self {
        Parser {
            lex: Lexer::new(src),
            tok: Token {
                kind: Tok::Eof,
                start: 0,
                end: 0,
            },
            depth: 0,
            aliases: HashMap::new(),
            resources: BTreeMap::new(),
            m: empty_module(),
            scopes: Vec::new(),
            skip: HashMap::new(),
        }
    }

    fn restart(&mut self) -> PResult<()> {
        self.lex.pos = 0;
        self.depth = 0;
        self.advance()
    }

    // ---- token helpers --------------------------------------------------------------------

    pub fn advance(&mut self) -> PResult<()> {
        self.tok = self.lex.next_token()?;
        Ok(())
    }

    pub fn at(&self, kind: Tok) -> bool {
        self.tok.kind == kind
    }

    pub fn at_keyword(&self, kw: &str) -> bool {
        self.tok.kind == Tok::BareId && self.text(self.tok) == kw
    }

    /// Consume the current token if it is `kind`.
    pub fn eat(&mut self, kind: Tok) -> PResult<bool> {
        if self.at(kind) {
            self.advance()?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// Consume a `kind` token or fail with "expected {what}, found ...".
    pub fn expect(&mut self, kind: Tok, what: &str) -> PResult<Token> {
        if !self.at(kind) {
            return Err(self.expected(what));
        }
        let t = self.tok;
        self.advance()?;
        Ok(t)
    }

    pub fn expect_keyword(&mut self, kw: &str) -> PResult<()> {
        if !self.at_keyword(kw) {
            return Err(self.expected(&format!("'{kw}'")));
        }
        self.advance()
    }

    /// The token after the current one, without consuming anything.
    pub fn peek(&self) -> PResult<Token> {
        self.lex.clone().next_token()
    }

    pub fn text(&self, t: Token) -> &'s str {
        self.lex.text(t)
    }

    pub fn expected(&self, what: &str) -> Box<PError> {
        PError::new(
            self.tok.start,
            format!("expected {what}, found {}", self.describe(self.tok)),
        )
    }

    pub fn describe(&self, t: Token) -> String {
        if t.kind == Tok::Eof {
            return "end of file".into();
        }
        let text = self.text(t);
        match text.char_indices().nth(24) {
            Some((cut, _)) => format!("'{}...'", &text[..cut]),
            None => format!("'{text}'"),
        }
    }

    /// The decoded value of a string token.
    pub fn string_value(&self, t: Token) -> PResult<String> {
        unescape(self.text(t))
            .map(|s| s.into_owned())
            .map_err(|msg| PError::new(t.start, msg))
    }

    /// A key: bare identifier or string (attribute names, resource keys).
    pub fn parse_key(&mut self, what: &str) -> PResult<(String, usize)> {
        let t = self.tok;
        let key = match t.kind {
            Tok::BareId => self.text(t).to_string(),
            Tok::String => self.string_value(t)?,
            _ => return Err(self.expected(what)),
        };
        self.advance()?;
        Ok((key, t.start))
    }

    /// Run `f` one nesting level deeper, failing past [`MAX_DEPTH`].
    pub fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> PResult<T>) -> PResult<T> {
        if self.depth >= MAX_DEPTH {
            return Err(PError::new(
                self.tok.start,
                format!("nesting deeper than {MAX_DEPTH} levels"),
            ));
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    // ---- pass 1 ---------------------------------------------------------------------------

    /// Read alias definitions and resource sections at depth 0; skim over everything else.
    fn collect_definitions(&mut self) -> PResult<()> {
        self.advance()?;
        let mut depth = 0usize;
        loop {
            match self.tok.kind {
                Tok::Eof => return Ok(()),
                Tok::HashId | Tok::BangId if depth == 0 && self.peek()?.kind == Tok::Equal => {
                    let start = self.tok.start;
                    self.parse_alias_def()?;
                    self.skip.insert(start, self.tok);
                    continue;
                }
                Tok::MetaStart if depth == 0 => {
                    let start = self.tok.start;
                    self.parse_resource_section()?;
                    self.skip.insert(start, self.tok);
                    continue;
                }
                Tok::LParen | Tok::LBrace | Tok::LSquare | Tok::Less => depth += 1,
                Tok::RParen | Tok::RBrace | Tok::RSquare | Tok::Greater => {
                    depth = depth.saturating_sub(1);
                }
                _ => {}
            }
            self.advance()?;
        }
    }

    /// `#name = loc(...)`, `#name = attr` or `!name = type`.
    fn parse_alias_def(&mut self) -> PResult<()> {
        let name_tok = self.tok;
        let name = self.text(name_tok);
        self.advance()?;
        self.expect(Tok::Equal, "'=' in alias definition")?;
        let value = if name_tok.kind == Tok::BangId {
            Alias::Type(self.parse_type()?)
        } else if self.at_keyword("loc") {
            Alias::Loc(self.parse_loc()?)
        } else {
            Alias::Attr(self.parse_attr()?)
        };
        if self.aliases.insert(name, value).is_some() {
            return Err(PError::new(
                name_tok.start,
                format!("redefinition of alias '{name}'"),
            ));
        }
        Ok(())
    }

    // ---- pass 2 ---------------------------------------------------------------------------

    fn parse_top_level(&mut self) -> PResult<()> {
        self.push_scope(true);
        let mut ops = Vec::new();
        loop {
            if let Some(&next) = self.skip.get(&self.tok.start) {
                self.tok = next;
                self.lex.pos = next.end;
                continue;
            }
            match self.tok.kind {
                Tok::Eof => break,
                Tok::HashId | Tok::BangId if self.peek()?.kind == Tok::Equal => {
                    self.parse_alias_def()?;
                }
                Tok::MetaStart => self.parse_resource_section()?,
                _ => ops.push(self.parse_op()?),
            }
        }
        self.pop_scope()?;
        self.install_top(ops);
        self.m.resources = std::mem::take(&mut self.resources);
        Ok(())
    }

    /// A lone top-level `builtin.module` is the module; anything else is wrapped in one.
    fn install_top(&mut self, ops: Vec<Op>) {
        if let [single] = ops[..] {
            if self.m.ops[single].name == MODULE_OP {
                self.m.top = single;
                return;
            }
        }
        let top = self.m.create_op(OpSpec::new(MODULE_OP).regions(1));
        let region = self.m.ops[top].regions[0];
        let body = self.m.add_block(region, Vec::new());
        for op in ops {
            self.m.append_op(body, op);
        }
        self.m.top = top;
    }

    /// Look up an alias by its token; `#` aliases must hold an attribute or location, `!` a type.
    pub fn alias(&self, t: Token) -> PResult<&Alias> {
        let name = self.text(t);
        self.aliases.get(name).ok_or_else(|| {
            Box::new(PError {
                pos: t.start,
                msg: format!("undefined alias '{name}'"),
                undefined_alias: true,
            })
        })
    }
}
