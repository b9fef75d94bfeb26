//! Parse errors. Inside the parser a position is a byte offset ([`PError`]); only when an error
//! leaves the parser is it turned into a 1-based `line:col` ([`ParseError`]), so the hot path never
//! tracks lines.

/// A syntax or semantic error in IR text, at the offending token.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{line}:{col}: {message}")]
pub struct ParseError {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub col: u32,
    pub message: String,
}

impl ParseError {
    /// `file:L:C: error: msg`, then the source line and a caret under the column (control
    /// characters of the line escaped, see [`super::caret_snippet`]).
    pub fn render(&self, filename: &str, src: &str) -> String {
        let line_text = src
            .split('\n')
            .nth(self.line.saturating_sub(1) as usize)
            .unwrap_or("")
            .trim_end_matches('\r');
        format!(
            "{filename}:{}:{}: error: {}\n{}",
            self.line,
            self.col,
            self.message,
            super::caret_snippet(line_text, self.col as usize, 1)
        )
    }
}

/// An error at a byte offset, before line/column are known.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct PError {
    pub pos: usize,
    pub msg: String,
    /// A reference to an alias that is not (yet) defined: possibly a consequence of an earlier
    /// failure to read the alias definitions, which is then the better error to report.
    pub undefined_alias: bool,
}

impl PError {
    /// Boxed, so `PResult` stays one word on the error side: parser frames stay small, which
    /// matters for deep nesting in debug builds.
    pub fn new(pos: usize, msg: impl Into<String>) -> Box<PError> {
        Box::new(PError {
            pos,
            msg: msg.into(),
            undefined_alias: false,
        })
    }

    /// Convert the byte offset into a 1-based line and character column.
    pub fn into_parse_error(self, src: &str) -> ParseError {
        let mut pos = self.pos.min(src.len());
        while !src.is_char_boundary(pos) {
            pos -= 1;
        }
        let before = &src[..pos];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
        let col = before[line_start..].chars().count() + 1;
        ParseError {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            col: u32::try_from(col).unwrap_or(u32::MAX),
            // Messages quote input (tokens, keys, names): never pass its control bytes on.
            message: super::escape_controls(&self.msg).into_owned(),
        }
    }
}

pub(super) type PResult<T> = Result<T, Box<PError>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_line_and_char_column() {
        let src = "ab\n  é x\n";
        let e = PError::new(8, "bad").into_parse_error(src);
        assert_eq!((e.line, e.col), (2, 5));
        assert_eq!(e.to_string(), "2:5: bad");
    }

    #[test]
    fn render_puts_caret_under_column() {
        let src = "first\n\tsecond line\n";
        let e = ParseError {
            line: 2,
            col: 3,
            message: "expected ')'".into(),
        };
        assert_eq!(
            e.render("f.mlir", src),
            "f.mlir:2:3: error: expected ')'\n  \tsecond line\n  \t ^"
        );
    }

    #[test]
    fn control_characters_are_escaped_in_message_and_line() {
        let src = "x = \u{7}\u{1b}[31m\n";
        let e = PError::new(4, "unexpected character '\u{7}'").into_parse_error(src);
        assert_eq!(e.message, "unexpected character '\\u{7}'");
        assert_eq!(
            e.render("f.mlir", src),
            "f.mlir:1:5: error: unexpected character '\\u{7}'\n  x = \\u{7}\\u{1b}[31m\n      ^^^^^"
        );
    }

    #[test]
    fn render_at_end_of_file_has_empty_line() {
        let e = PError::new(4, "eof").into_parse_error("abc\n");
        assert_eq!((e.line, e.col), (2, 1));
        assert_eq!(e.render("x", "abc\n"), "x:2:1: error: eof\n  \n  ^");
    }
}
