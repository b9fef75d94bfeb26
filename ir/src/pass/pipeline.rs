//! Pipeline strings: `canonicalize,cse{aggressive=true},sparsify{keep=0.25 tiles=64,128}`.
//!
//! Grammar (MLIR's textual pass pipeline, without nesting):
//! ```text
//! pipeline := element (',' element)*      | (empty)
//! element  := name options?
//! name     := [A-Za-z0-9_.-]+
//! options  := '{' (option (ws option)*)? '}'
//! option   := key ('=' value)?            // a bare key means `true` for bool options
//! value    := '"' [^"]* '"' | [^ \t\n}]+  // commas belong to the value, as in MLIR
//! ```
//! Whitespace is allowed around names and separators. Errors carry the 1-based column of the
//! offending character so the CLI can draw a caret under it.

use std::fmt;

/// One pass in a pipeline string, with its options as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PipelineElement {
    pub name: String,
    /// 1-based column of the name.
    pub col: usize,
    pub options: Vec<RawOption>,
}

/// `key=value` (or bare `key`) as written inside `{...}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawOption {
    pub key: String,
    pub value: Option<String>,
    /// 1-based column of the key.
    pub col: usize,
}

/// A malformed pipeline, an unknown pass or a bad option.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at column {col})")]
pub struct PipelineError {
    /// 1-based column of the offending text.
    pub col: usize,
    /// Length of the offending text (at least 1), for the caret.
    pub len: usize,
    pub message: String,
}

impl PipelineError {
    pub fn new(col: usize, len: usize, message: impl Into<String>) -> PipelineError {
        let message: String = message.into();
        PipelineError {
            col,
            len: len.max(1),
            // Messages quote the pipeline text: never pass its control characters on.
            message: crate::text::escape_controls(&message).into_owned(),
        }
    }

    /// The pipeline text with carets under the offending part:
    /// ```text
    ///   canonicalize,foo
    ///                ^^^
    /// ```
    pub fn render_snippet(&self, pipeline: &str) -> String {
        crate::text::caret_snippet(pipeline, self.col, self.len)
    }
}

/// Split a pipeline string into elements. Pass names and options are not checked here (the
/// registry does that); only the syntax is.
pub fn parse_pipeline(text: &str) -> Result<Vec<PipelineElement>, PipelineError> {
    let mut p = Cursor {
        chars: text.chars().collect(),
        pos: 0,
    };
    let mut out = Vec::new();
    p.skip_ws();
    if p.at_end() {
        return Ok(out);
    }
    loop {
        out.push(p.element()?);
        p.skip_ws();
        match p.peek() {
            None => return Ok(out),
            Some(',') => {
                p.pos += 1;
                p.skip_ws();
            }
            Some(c) => return Err(p.error(1, format!("expected ',' between passes, found '{c}'"))),
        }
    }
}

struct Cursor {
    chars: Vec<char>,
    pos: usize,
}

impl Cursor {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn col(&self) -> usize {
        self.pos + 1
    }

    fn error(&self, len: usize, message: impl Into<String>) -> PipelineError {
        PipelineError::new(self.col(), len, message)
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn take_while(&mut self, pred: impl Fn(char) -> bool) -> String {
        let start = self.pos;
        while self.peek().is_some_and(&pred) {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    fn element(&mut self) -> Result<PipelineElement, PipelineError> {
        let col = self.col();
        let name = self.take_while(is_name_char);
        if name.is_empty() {
            return Err(match self.peek() {
                None => self.error(1, "expected a pass name after ','"),
                Some(c) => self.error(1, format!("expected a pass name, found '{c}'")),
            });
        }
        self.skip_ws();
        let options = if self.peek() == Some('{') {
            self.options()?
        } else {
            Vec::new()
        };
        Ok(PipelineElement { name, col, options })
    }

    fn options(&mut self) -> Result<Vec<RawOption>, PipelineError> {
        let open = self.col();
        self.pos += 1; // '{'
        let mut out = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                None => return Err(PipelineError::new(open, 1, "unclosed '{' in pass options")),
                Some('}') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(_) => out.push(self.option()?),
            }
        }
    }

    fn option(&mut self) -> Result<RawOption, PipelineError> {
        let col = self.col();
        let key = self.take_while(is_name_char);
        if key.is_empty() {
            let c = self.peek().unwrap_or(' ');
            return Err(self.error(1, format!("expected an option name, found '{c}'")));
        }
        let value = if self.peek() == Some('=') {
            self.pos += 1;
            Some(self.value(&key)?)
        } else {
            None
        };
        match self.peek() {
            None | Some('}') => {}
            Some(c) if c.is_whitespace() => {}
            Some(c) => {
                return Err(self.error(
                    1,
                    format!("expected '=', a space or '}}' after option '{key}', found '{c}'"),
                ))
            }
        }
        Ok(RawOption { key, value, col })
    }

    fn value(&mut self, key: &str) -> Result<String, PipelineError> {
        if self.peek() == Some('"') {
            let open = self.col();
            self.pos += 1;
            let v = self.take_while(|c| c != '"');
            if self.at_end() {
                return Err(PipelineError::new(
                    open,
                    1,
                    "unterminated '\"' in option value",
                ));
            }
            self.pos += 1;
            return Ok(v);
        }
        let v = self.take_while(|c| !c.is_whitespace() && c != '}');
        if v.is_empty() {
            return Err(self.error(1, format!("option '{key}' has an empty value")));
        }
        Ok(v)
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

impl fmt::Display for PipelineElement {
    /// Canonical text of the element: `name{k=v k2=v2}` (options as written).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if self.options.is_empty() {
            return Ok(());
        }
        let opts: Vec<String> = self
            .options
            .iter()
            .map(|o| match &o.value {
                Some(v) if v.contains(char::is_whitespace) => format!("{}=\"{v}\"", o.key),
                Some(v) => format!("{}={v}", o.key),
                None => o.key.clone(),
            })
            .collect();
        write!(f, "{{{}}}", opts.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<String> {
        parse_pipeline(text)
            .unwrap()
            .into_iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn parses_names_options_and_whitespace() {
        assert_eq!(names(""), Vec::<String>::new());
        assert_eq!(names("  "), Vec::<String>::new());
        assert_eq!(
            names(" canonicalize , cse{aggressive=true},sparsify{keep=0.25  tiles=64,128}"),
            vec![
                "canonicalize",
                "cse{aggressive=true}",
                "sparsify{keep=0.25 tiles=64,128}"
            ]
        );
        let els = parse_pipeline("dce,cse{ aggressive }").unwrap();
        assert_eq!(els[1].col, 5);
        assert_eq!(els[1].options[0].col, 10);
        assert_eq!(els[1].options[0].value, None);
        let els = parse_pipeline("p{msg=\"a b\"}").unwrap();
        assert_eq!(els[0].options[0].value.as_deref(), Some("a b"));
    }

    #[test]
    fn errors_name_the_column() {
        let e = parse_pipeline("dce,,cse").unwrap_err();
        assert_eq!(e.col, 5);
        assert!(e.message.contains("expected a pass name, found ','"));
        let e = parse_pipeline("dce,").unwrap_err();
        assert_eq!(
            (e.col, e.message.as_str()),
            (5, "expected a pass name after ','")
        );
        let e = parse_pipeline("cse{aggressive=true").unwrap_err();
        assert_eq!(
            (e.col, e.message.as_str()),
            (4, "unclosed '{' in pass options")
        );
        let e = parse_pipeline("cse{x=}").unwrap_err();
        assert_eq!(e.col, 7);
        let e = parse_pipeline("dce cse").unwrap_err();
        assert_eq!(e.col, 5);
        assert!(e.message.contains("expected ','"));
        let e = parse_pipeline("cse{a=\"x}").unwrap_err();
        assert!(e.message.contains("unterminated"));
    }

    #[test]
    fn snippet_puts_the_caret_under_the_column() {
        let e = PipelineError::new(14, 3, "unknown pass 'foo'");
        assert_eq!(
            e.render_snippet("canonicalize,foo"),
            "  canonicalize,foo\n               ^^^"
        );
    }
}
