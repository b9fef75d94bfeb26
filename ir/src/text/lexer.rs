//! The lexer: MLIR's token set, produced on demand. Tokens are byte ranges into the source; the
//! parser reads their text and unescapes strings only when it needs the value. Tensor dimension
//! lists (`2x?x4xf32`) do not fit ordinary tokens (`0x4` would be a hex number), so the parser
//! scans them itself from the raw position (see `Parser::parse_tensor_type`).

use std::borrow::Cow;

use super::error::{PError, PResult};

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Tok {
    Eof,
    /// `[A-Za-z_][A-Za-z0-9_$.]*`: keywords, type names, attribute keys.
    BareId,
    /// `%name`, `%0`.
    PercentId,
    /// `^bb0`.
    CaretId,
    /// `#loc1` (attribute / location alias).
    HashId,
    /// `!alias` (type alias).
    BangId,
    /// `@sym` or `@"sym"`.
    AtId,
    String,
    Int,
    HexInt,
    Float,
    LParen,
    RParen,
    LBrace,
    RBrace,
    LSquare,
    RSquare,
    Less,
    Greater,
    Colon,
    Comma,
    Equal,
    Arrow,
    Question,
    Star,
    Minus,
    Plus,
    /// `{-#`, opening the file metadata (resources) section.
    MetaStart,
    /// `#-}`.
    MetaEnd,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) struct Token {
    pub kind: Tok,
    pub start: usize,
    pub end: usize,
}

#[derive(Clone)]
pub(super) struct Lexer<'s> {
    pub src: &'s str,
    pub pos: usize,
}

pub(super) fn is_bare_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

pub(super) fn is_bare_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b == b'.'
}

/// Characters of MLIR's `suffix-id` (after `%`, `^`, `#`, `!`, `@`).
pub(super) fn is_suffix_char(b: u8) -> bool {
    is_bare_char(b) || b == b'-'
}

/// True when `s` is a valid bare identifier (printed unquoted as a key).
pub(super) fn is_bare_id(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty() && is_bare_start(b[0]) && b.iter().all(|&c| is_bare_char(c))
}

/// True when `s` can follow a sigil unquoted (`@name`).
pub(super) fn is_suffix_id(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() {
        return false;
    }
    if b[0].is_ascii_digit() {
        return b.iter().all(u8::is_ascii_digit);
    }
    b.iter().all(|&c| is_suffix_char(c))
}

impl<'s> Lexer<'s> {
    pub fn new(src: &'s str) -> Self {
        Lexer { src, pos: 0 }
    }

    pub fn text(&self, t: Token) -> &'s str {
        &self.src[t.start..t.end]
    }

    fn peek_byte(&self, offset: usize) -> Option<u8> {
        self.src.as_bytes().get(self.pos + offset).copied()
    }

    /// Skip whitespace and `//` comments.
    pub fn skip_trivia(&mut self) {
        let bytes = self.src.as_bytes();
        while let Some(&b) = bytes.get(self.pos) {
            if b.is_ascii_whitespace() {
                self.pos += 1;
            } else if b == b'/' && bytes.get(self.pos + 1) == Some(&b'/') {
                while self.pos < bytes.len() && bytes[self.pos] != b'\n' {
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    pub fn next_token(&mut self) -> PResult<Token> {
        self.skip_trivia();
        let start = self.pos;
        let Some(b) = self.peek_byte(0) else {
            return Ok(Token {
                kind: Tok::Eof,
                start,
                end: start,
            });
        };
        let kind = match b {
            b'(' => self.punct(Tok::LParen, 1),
            b')' => self.punct(Tok::RParen, 1),
            b'{' if self.peek_byte(1) == Some(b'-') && self.peek_byte(2) == Some(b'#') => {
                self.punct(Tok::MetaStart, 3)
            }
            b'{' => self.punct(Tok::LBrace, 1),
            b'}' => self.punct(Tok::RBrace, 1),
            b'[' => self.punct(Tok::LSquare, 1),
            b']' => self.punct(Tok::RSquare, 1),
            b'<' => self.punct(Tok::Less, 1),
            b'>' => self.punct(Tok::Greater, 1),
            b':' => self.punct(Tok::Colon, 1),
            b',' => self.punct(Tok::Comma, 1),
            b'=' => self.punct(Tok::Equal, 1),
            b'?' => self.punct(Tok::Question, 1),
            b'*' => self.punct(Tok::Star, 1),
            b'+' => self.punct(Tok::Plus, 1),
            b'-' if self.peek_byte(1) == Some(b'>') => self.punct(Tok::Arrow, 2),
            b'-' => self.punct(Tok::Minus, 1),
            b'#' if self.peek_byte(1) == Some(b'-') && self.peek_byte(2) == Some(b'}') => {
                self.punct(Tok::MetaEnd, 3)
            }
            b'#' => self.sigil_id(Tok::HashId)?,
            b'%' => self.sigil_id(Tok::PercentId)?,
            b'^' => self.sigil_id(Tok::CaretId)?,
            b'!' => self.sigil_id(Tok::BangId)?,
            b'@' if self.peek_byte(1) == Some(b'"') => {
                self.pos += 1;
                self.string()?;
                Tok::AtId
            }
            b'@' => self.sigil_id(Tok::AtId)?,
            b'"' => self.string()?,
            b'0'..=b'9' => self.number(),
            _ if is_bare_start(b) => {
                while self.peek_byte(0).is_some_and(is_bare_char) {
                    self.pos += 1;
                }
                Tok::BareId
            }
            _ => {
                let c = self.src[start..].chars().next().unwrap_or('?');
                return Err(PError::new(start, format!("unexpected character '{c}'")));
            }
        };
        Ok(Token {
            kind,
            start,
            end: self.pos,
        })
    }

    fn punct(&mut self, kind: Tok, len: usize) -> Tok {
        self.pos += len;
        kind
    }

    /// `%`, `^`, `#`, `!` or `@` followed by a suffix-id: digits, or id characters.
    fn sigil_id(&mut self, kind: Tok) -> PResult<Tok> {
        let start = self.pos;
        self.pos += 1;
        let first = self.peek_byte(0);
        if first.is_some_and(|b| b.is_ascii_digit()) {
            while self.peek_byte(0).is_some_and(|b| b.is_ascii_digit()) {
                self.pos += 1;
            }
        } else if first.is_some_and(is_suffix_char) {
            while self.peek_byte(0).is_some_and(is_suffix_char) {
                self.pos += 1;
            }
        } else {
            let sigil = &self.src[start..start + 1];
            return Err(PError::new(
                start,
                format!("expected an identifier after '{sigil}'"),
            ));
        }
        Ok(kind)
    }

    /// A string literal; escapes are validated here and decoded by [`unescape`].
    fn string(&mut self) -> PResult<Tok> {
        let start = self.pos;
        let bytes = self.src.as_bytes();
        self.pos += 1;
        loop {
            // Jump over plain bytes in one tight scan (hex blobs are megabytes long).
            self.pos += bytes[self.pos..]
                .iter()
                .position(|&b| matches!(b, b'"' | b'\\' | b'\n' | b'\r'))
                .unwrap_or(bytes.len() - self.pos);
            match bytes.get(self.pos) {
                None | Some(b'\n') | Some(b'\r') => {
                    return Err(PError::new(start, "unterminated string literal"));
                }
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Tok::String);
                }
                Some(b'\\') => {
                    let next = bytes.get(self.pos + 1).copied();
                    match next {
                        Some(b'"' | b'\\' | b'n' | b't') => self.pos += 2,
                        Some(h) if h.is_ascii_hexdigit() => {
                            if !bytes.get(self.pos + 2).is_some_and(u8::is_ascii_hexdigit) {
                                return Err(PError::new(
                                    self.pos,
                                    "expected two hex digits after '\\' in string",
                                ));
                            }
                            self.pos += 3;
                        }
                        _ => return Err(PError::new(self.pos, "unknown escape in string literal")),
                    }
                }
                Some(_) => self.pos += 1,
            }
        }
    }

    /// Decimal integer, `0x` hex integer, or float `1.5`, `1.`, `2.0e-3`.
    fn number(&mut self) -> Tok {
        let bytes = self.src.as_bytes();
        if bytes[self.pos] == b'0'
            && self.peek_byte(1) == Some(b'x')
            && self.peek_byte(2).is_some_and(|b| b.is_ascii_hexdigit())
        {
            self.pos += 2;
            while self.peek_byte(0).is_some_and(|b| b.is_ascii_hexdigit()) {
                self.pos += 1;
            }
            return Tok::HexInt;
        }
        self.skip_digits();
        if self.peek_byte(0) != Some(b'.') {
            return Tok::Int;
        }
        self.pos += 1;
        self.skip_digits();
        if matches!(self.peek_byte(0), Some(b'e' | b'E')) {
            let exp_digit_at = if matches!(self.peek_byte(1), Some(b'+' | b'-')) {
                2
            } else {
                1
            };
            if self
                .peek_byte(exp_digit_at)
                .is_some_and(|b| b.is_ascii_digit())
            {
                self.pos += exp_digit_at;
                self.skip_digits();
            }
        }
        Tok::Float
    }

    fn skip_digits(&mut self) {
        while self.peek_byte(0).is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
    }
}

/// Decode the escapes of a string token's text (quotes included). Borrowed when there are none.
pub(super) fn unescape(token_text: &str) -> Result<Cow<'_, str>, &'static str> {
    let inner = &token_text[1..token_text.len() - 1];
    if !inner.contains('\\') {
        return Ok(Cow::Borrowed(inner));
    }
    let bytes = inner.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        // The lexer validated the escape, so the bytes are there.
        match bytes[i + 1] {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'"' => out.push(b'"'),
            b'\\' => out.push(b'\\'),
            h => {
                out.push(hex_val(h) << 4 | hex_val(bytes[i + 2]));
                i += 1;
            }
        }
        i += 2;
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| "string literal is not valid UTF-8")
}

pub(super) fn hex_val(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(Tok, &str)> {
        let mut lx = Lexer::new(src);
        let mut out = Vec::new();
        loop {
            let t = lx.next_token().unwrap();
            if t.kind == Tok::Eof {
                return out;
            }
            out.push((t.kind, lx.text(t)));
        }
    }

    #[test]
    fn lexes_mlir_tokens() {
        let toks = kinds(
            "%0:2 = \"a.b\"(%arg0, %1#1) -> ^bb1 #loc3 @f @\"x y\" {-# #-} // c\n 1.5e-3 0x1F 7",
        );
        let k: Vec<Tok> = toks.iter().map(|t| t.0).collect();
        use Tok::*;
        assert_eq!(
            k,
            vec![
                PercentId, Colon, Int, Equal, String, LParen, PercentId, Comma, PercentId, HashId,
                RParen, Arrow, CaretId, HashId, AtId, AtId, MetaStart, MetaEnd, Float, HexInt, Int
            ]
        );
        assert_eq!(toks[8].1, "%1");
        assert_eq!(toks[9].1, "#1");
    }

    #[test]
    fn float_needs_a_dot() {
        assert_eq!(kinds("1.0e5"), vec![(Tok::Float, "1.0e5")]);
        assert_eq!(kinds("1."), vec![(Tok::Float, "1.")]);
        assert_eq!(kinds("1e5"), vec![(Tok::Int, "1"), (Tok::BareId, "e5")]);
    }

    #[test]
    fn strings_unescape() {
        let src = r#""a\"b\\c\n\t\41""#;
        assert_eq!(kinds(src)[0].0, Tok::String);
        assert_eq!(unescape(src).unwrap(), "a\"b\\c\n\tA");
        assert_eq!(
            unescape("\"\\FF\"").unwrap_err(),
            "string literal is not valid UTF-8"
        );
    }

    #[test]
    fn lexer_errors_have_positions() {
        let mut lx = Lexer::new("  \"abc\n\"");
        assert_eq!(lx.next_token().unwrap_err().pos, 2);
        let mut lx = Lexer::new("a & b");
        lx.next_token().unwrap();
        let e = lx.next_token().unwrap_err();
        assert_eq!((e.pos, e.msg.as_str()), (2, "unexpected character '&'"));
        let mut lx = Lexer::new("\"\\q\"");
        assert_eq!(
            lx.next_token().unwrap_err().msg,
            "unknown escape in string literal"
        );
    }

    #[test]
    fn identifier_classes() {
        assert!(is_bare_id("sym_name") && is_bare_id("a.b$c") && !is_bare_id("1a"));
        assert!(!is_bare_id("a-b") && !is_bare_id(""));
        assert!(is_suffix_id("main") && is_suffix_id("12") && is_suffix_id("a-b"));
        assert!(!is_suffix_id("1a") && !is_suffix_id("a b") && !is_suffix_id(""));
    }
}
