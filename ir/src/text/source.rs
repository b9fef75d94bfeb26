//! Echoing input in diagnostics: every error that quotes a token or a source line goes through
//! here, so input bytes never reach a terminal raw (a stray ESC or BEL in a file must not recolour
//! or beep the user's terminal), and text that is not UTF-8 is located by its first bad byte.

use std::borrow::Cow;

/// `s` with control characters written as Rust escapes (`\u{7}`, `\u{1b}`). Tabs are kept: they
/// are harmless and the caret padding of [`caret_snippet`] relies on them.
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if needs_escape(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control() && c != '\t'
}

/// Columns a character takes once escaped (tab counts as one: it is copied into the padding).
fn escaped_width(c: char) -> usize {
    if needs_escape(c) {
        c.escape_unicode().count()
    } else {
        1
    }
}

/// The source `line` (controls escaped) and `len` carets under its 1-based character column
/// `col`, each indented by two spaces:
/// ```text
///   LD \u{7}x
///      ^
/// ```
/// The padding copies tabs, so the caret lines up however tabs are displayed.
pub fn caret_snippet(line: &str, col: usize, len: usize) -> String {
    let skip = col.saturating_sub(1);
    let pad: String = line
        .chars()
        .take(skip)
        .flat_map(|c| {
            let fill = if c == '\t' { '\t' } else { ' ' };
            std::iter::repeat_n(fill, escaped_width(c))
        })
        .collect();
    let marked: usize = line.chars().skip(skip).take(len).map(escaped_width).sum();
    format!(
        "  {}\n  {pad}{}",
        escape_controls(line),
        "^".repeat(marked.max(1))
    )
}

/// Input that is not UTF-8, located at its first invalid byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid UTF-8 at byte {offset} (line {line}, column {col})")]
pub struct InvalidUtf8 {
    /// 0-based byte offset of the first byte that is not part of valid UTF-8.
    pub offset: usize,
    /// 1-based line of that byte.
    pub line: usize,
    /// 1-based column, in characters (the valid ones before it on its line, plus one).
    pub col: usize,
}

/// `bytes` as a `String`, or where the first invalid byte is.
pub fn decode_utf8(bytes: Vec<u8>) -> Result<String, InvalidUtf8> {
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        // The prefix up to `offset` is valid UTF-8 by definition.
        let valid = std::str::from_utf8(&e.as_bytes()[..offset]).unwrap_or_default();
        let line_start = valid.rfind('\n').map_or(0, |i| i + 1);
        InvalidUtf8 {
            offset,
            line: valid.matches('\n').count() + 1,
            col: valid[line_start..].chars().count() + 1,
        }
    })
}

/// [`decode_utf8`] with the error as an [`std::io::Error`] of kind `InvalidData`, for readers
/// whose errors are IO errors.
pub fn decode_utf8_io(bytes: Vec<u8>) -> std::io::Result<String> {
    decode_utf8(bytes).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_and_tabs_kept() {
        assert_eq!(escape_controls("plain é"), "plain é");
        assert_eq!(
            escape_controls("a\u{7}b\u{1b}[31m\tc"),
            "a\\u{7}b\\u{1b}[31m\tc"
        );
        assert_eq!(
            escape_controls("\r\n\u{7f}\u{85}"),
            "\\u{d}\\u{a}\\u{7f}\\u{85}"
        );
    }

    #[test]
    fn carets_move_past_escapes() {
        assert_eq!(caret_snippet("LD \u{7}x", 4, 1), "  LD \\u{7}x\n     ^^^^^");
        assert_eq!(
            caret_snippet("\u{7}x y", 3, 1),
            format!("  \\u{{7}}x y\n  {}^", " ".repeat(6))
        );
        assert_eq!(caret_snippet("\tab", 2, 2), "  \tab\n  \t^^");
        assert_eq!(caret_snippet("", 1, 0), "  \n  ^");
    }

    #[test]
    fn invalid_utf8_is_located() {
        assert_eq!(decode_utf8(b"ok".to_vec()).unwrap(), "ok");
        let e = decode_utf8(b"ab\n\xc3\xa9x\xffy".to_vec()).unwrap_err();
        assert_eq!((e.offset, e.line, e.col), (6, 2, 3));
        assert_eq!(e.to_string(), "invalid UTF-8 at byte 6 (line 2, column 3)");
        // A truncated sequence at the end points at its first byte.
        let e = decode_utf8(b"x\xe2\x82".to_vec()).unwrap_err();
        assert_eq!((e.offset, e.line, e.col), (1, 1, 2));
    }
}
