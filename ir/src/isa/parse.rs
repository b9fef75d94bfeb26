//! The assembly parser (format in [`super::asm`]).
//!
//! Line oriented: one directive or instruction per line, `;` starts a comment outside quotes.
//! Instruction fields are `name=value` pairs, each required exactly once, in any order.
//! DRAM operands may be written `@name` or `@name+offset` against tensors declared earlier.
//! Host ops (`.host`, then its `.operand` and `.result` lines) name tensors declared earlier
//! and need `.version 2` when a `.version` line is given.
//! Errors carry the 1-based `line:col` of the offending token, quote it with control characters
//! escaped (`\u{7}`), and the parser never panics.

use super::fields::{parse_u64, Field, FieldError};
use super::instr::FieldSource;
use super::{
    DType, HostArg, HostOp, Instr, Opcode, Program, TensorDecl, TensorKind, WeightsRef,
    FORMAT_VERSION, FORMAT_VERSION_CHIP_ONLY,
};

/// A syntax or value error in assembly text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{col}: {message}")]
pub struct AsmError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
    pub message: String,
}

/// A whitespace-separated token and its 1-based column.
#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    text: &'a str,
    col: usize,
}

struct Parser {
    config_hash: Option<u64>,
    /// The `.version` given, if any.
    version: Option<u16>,
    /// Whether the previous directive was `.tensor` or `.data` (where `.data` may follow).
    after_tensor: bool,
    program: Program,
    /// The `.data` bytes of each tensor so far (moved into the program at the end).
    data: Vec<Vec<u8>>,
    line: usize,
}

impl Parser {
    fn error<T>(&self, col: usize, message: impl Into<String>) -> Result<T, AsmError> {
        let message: String = message.into();
        Err(AsmError {
            line: self.line,
            col,
            // Messages quote tokens of the input: never pass its control bytes on.
            message: crate::text::escape_controls(&message).into_owned(),
        })
    }
}

/// Parse a whole program.
pub fn parse_asm(text: &str) -> Result<Program, AsmError> {
    let mut p = Parser {
        config_hash: None,
        version: None,
        after_tensor: false,
        program: Program::default(),
        data: Vec::new(),
        line: 0,
    };
    for (i, raw) in text.split('\n').enumerate() {
        p.line = i + 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let tokens = tokenize(raw).or_else(|col| p.error(col, "unterminated string"))?;
        let Some((first, rest)) = tokens.split_first() else {
            continue;
        };
        if first.text.starts_with('.') {
            directive(&mut p, *first, rest)?;
            p.after_tensor = matches!(first.text, ".tensor" | ".data" | ".weights");
        } else {
            let instr = instruction(&p, *first, rest)?;
            p.program.instrs.push(instr);
        }
    }
    match p.config_hash {
        Some(h) => p.program.config_hash = h,
        None => {
            return Err(AsmError {
                line: 1,
                col: 1,
                message: "missing `.config_hash` directive".into(),
            })
        }
    }
    for (t, data) in p.program.tensors.iter_mut().zip(p.data) {
        t.data = data.into();
    }
    Ok(p.program)
}

/// Split a line into tokens; quotes keep whitespace and `;` inside a token. `Err` is the
/// column of an unterminated string.
fn tokenize(line: &str) -> Result<Vec<Token<'_>>, usize> {
    let mut tokens = Vec::new();
    let mut chars = line.char_indices().enumerate().peekable();
    while let Some(&(col0, (start, c))) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if c == ';' {
            break;
        }
        let mut end = line.len();
        let mut in_quotes = false;
        let mut escaped = false;
        while let Some(&(_, (at, c))) = chars.peek() {
            if !in_quotes && (c.is_whitespace() || c == ';') {
                end = at;
                break;
            }
            if in_quotes && escaped {
                escaped = false;
            } else if in_quotes && c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_quotes = !in_quotes;
            }
            chars.next();
        }
        if in_quotes {
            return Err(col0 + 1);
        }
        tokens.push(Token {
            text: line.get(start..end).unwrap_or(""),
            col: col0 + 1,
        });
    }
    Ok(tokens)
}

/// The contents of a `"..."` string with escapes resolved.
pub(crate) fn unquote(text: &str) -> Result<String, FieldError> {
    let inner = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .filter(|_| text.len() >= 2)
        .ok_or_else(|| FieldError::NotQuoted(text.to_string()))?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\\') => out.push('\\'),
                Some('"') => out.push('"'),
                Some('x') => {
                    let hex: String = chars.by_ref().take(2).collect();
                    let code = u8::from_str_radix(&hex, 16)
                        .ok()
                        .filter(|&b| b < 0x80 && hex.len() == 2)
                        .ok_or_else(|| FieldError::Escape(format!("x{hex}")))?;
                    out.push(char::from(code));
                }
                other => {
                    return Err(FieldError::Escape(
                        other.map(String::from).unwrap_or_default(),
                    ))
                }
            },
            '"' => return Err(FieldError::BareQuote),
            c => out.push(c),
        }
    }
    Ok(out)
}

fn directive(p: &mut Parser, first: Token<'_>, rest: &[Token<'_>]) -> Result<(), AsmError> {
    match first.text {
        ".version" => {
            let v = single_arg(p, first, rest)?;
            let known = FORMAT_VERSION_CHIP_ONLY..=FORMAT_VERSION;
            match parse_u64(v.text).ok().and_then(|n| u16::try_from(n).ok()) {
                Some(n) if known.contains(&n) && p.version.is_none() => {
                    if n < FORMAT_VERSION && !p.program.host_ops.is_empty() {
                        return p
                            .error(v.col, format!("host ops need `.version {FORMAT_VERSION}`"));
                    }
                    p.version = Some(n);
                    Ok(())
                }
                Some(_) if p.version.is_some() => p.error(first.col, "duplicate `.version`"),
                _ => p.error(
                    v.col,
                    format!(
                        "unsupported version '{}' (expected {FORMAT_VERSION_CHIP_ONLY} or \
                         {FORMAT_VERSION})",
                        v.text
                    ),
                ),
            }
        }
        ".config_hash" => {
            let v = single_arg(p, first, rest)?;
            if p.config_hash.is_some() {
                return p.error(first.col, "duplicate `.config_hash`");
            }
            let h = parse_u64(v.text).or_else(|e| p.error(v.col, e.to_string()))?;
            p.config_hash = Some(h);
            Ok(())
        }
        ".tensor" => {
            let t = tensor_decl(p, first, rest)?;
            p.program.tensors.push(t);
            p.data.push(Vec::new());
            Ok(())
        }
        ".data" => data_line(p, first, rest),
        ".weights" => weights_line(p, first, rest),
        ".host" => {
            if p.version.is_some_and(|v| v < FORMAT_VERSION) {
                return p.error(
                    first.col,
                    format!("host ops need `.version {FORMAT_VERSION}`"),
                );
            }
            let h = host_decl(p, first, rest)?;
            p.program.host_ops.push(h);
            Ok(())
        }
        ".operand" | ".result" => host_arg_line(p, first, rest),
        other => p.error(
            first.col,
            format!(
                "unknown directive '{other}' (expected .version, .config_hash, .tensor, .data, \
                 .weights, .host, .operand or .result)"
            ),
        ),
    }
}

fn single_arg<'a>(p: &Parser, first: Token<'_>, rest: &[Token<'a>]) -> Result<Token<'a>, AsmError> {
    match rest {
        [v] => Ok(*v),
        [] => p.error(first.col, format!("`{}` needs a value", first.text)),
        [_, extra, ..] => p.error(extra.col, "unexpected extra token"),
    }
}

fn tensor_decl(p: &Parser, first: Token<'_>, rest: &[Token<'_>]) -> Result<TensorDecl, AsmError> {
    let Some((name_tok, args)) = rest.split_first() else {
        return p.error(first.col, "`.tensor` needs a quoted name");
    };
    let name = unquote(name_tok.text).or_else(|e| p.error(name_tok.col, e.to_string()))?;
    let mut args = Args::collect(p, args)?;
    let kind = args.value(p, first.col, "kind", |s| {
        TensorKind::from_name(s).ok_or_else(|| FieldError::EnumName {
            what: "kind",
            text: s.to_string(),
            expected: TensorKind::names(),
        })
    })?;
    let dtype = args.value(p, first.col, "dtype", |s| {
        DType::from_name(s).ok_or_else(|| FieldError::EnumName {
            what: "dtype",
            text: s.to_string(),
            expected: DType::names(),
        })
    })?;
    let shape = args.value(p, first.col, "shape", parse_shape)?;
    let dram = args.value(p, first.col, "dram", parse_u64)?;
    args.finish(p, ".tensor", &["kind", "dtype", "shape", "dram"])?;
    Ok(TensorDecl::new(name, kind, dtype, shape, dram))
}

fn parse_shape(text: &str) -> Result<Vec<u64>, FieldError> {
    let inner = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or_else(|| FieldError::NotShape(text.to_string()))?;
    if inner.is_empty() {
        return Ok(Vec::new());
    }
    inner.split(',').map(parse_u64).collect()
}

fn data_line(p: &mut Parser, first: Token<'_>, rest: &[Token<'_>]) -> Result<(), AsmError> {
    if p.program.tensors.is_empty() {
        return p.error(first.col, "`.data` before any `.tensor`");
    }
    if !p.after_tensor {
        return p.error(
            first.col,
            "`.data` must follow its `.tensor` (or another `.data`)",
        );
    }
    if p.program
        .tensors
        .last()
        .is_some_and(|t| t.weights.is_some())
    {
        return p.error(first.col, "a tensor has `.data` or `.weights`, not both");
    }
    let mut bytes = Vec::new();
    for tok in rest {
        let hex = tok.text.as_bytes();
        if hex.len() % 2 != 0 {
            return p.error(tok.col, "odd number of hex digits");
        }
        for (i, pair) in hex.chunks(2).enumerate() {
            let byte = std::str::from_utf8(pair)
                .ok()
                .and_then(|s| u8::from_str_radix(s, 16).ok());
            match byte {
                Some(b) => bytes.push(b),
                None => return p.error(tok.col + 2 * i, "invalid hex digit"),
            }
        }
    }
    if let Some(data) = p.data.last_mut() {
        data.extend_from_slice(&bytes);
    }
    Ok(())
}

/// A directive's first token: a quoted, non-empty `what`; and the tokens after it.
fn quoted_head<'t, 'a>(
    p: &Parser,
    first: Token<'_>,
    rest: &'t [Token<'a>],
    what: &str,
) -> Result<(String, &'t [Token<'a>]), AsmError> {
    let Some((tok, args)) = rest.split_first() else {
        return p.error(first.col, format!("`{}` needs a quoted {what}", first.text));
    };
    let text = unquote(tok.text).or_else(|e| p.error(tok.col, e.to_string()))?;
    if text.is_empty() {
        return p.error(tok.col, format!("empty {what}"));
    }
    Ok((text, args))
}

/// `.weights "file" offset=N checksum=N`, right after its `.tensor`.
fn weights_line(p: &mut Parser, first: Token<'_>, rest: &[Token<'_>]) -> Result<(), AsmError> {
    let follows_tensor = p.after_tensor && p.data.last().is_some_and(Vec::is_empty);
    let Some(t) = p.program.tensors.last().filter(|_| follows_tensor) else {
        return p.error(first.col, "`.weights` must follow its `.tensor` directly");
    };
    if t.weights.is_some() {
        return p.error(first.col, "duplicate `.weights` for one tensor");
    }
    let (file, args) = quoted_head(p, first, rest, "weights file name")?;
    let mut args = Args::collect(p, args)?;
    let offset = args.value(p, first.col, "offset", parse_u64)?;
    let checksum = args.value(p, first.col, "checksum", parse_u64)?;
    args.finish(p, ".weights", &["offset", "checksum"])?;
    if let Some(t) = p.program.tensors.last_mut() {
        t.weights = Some(WeightsRef {
            file,
            offset,
            checksum,
        });
    }
    Ok(())
}

/// `.host "op" name="node" opset=N attrs="{...}"`.
fn host_decl(p: &Parser, first: Token<'_>, rest: &[Token<'_>]) -> Result<HostOp, AsmError> {
    let (op, args) = quoted_head(p, first, rest, "op name")?;
    let mut args = Args::collect(p, args)?;
    let name = args.value(p, first.col, "name", unquote)?;
    let opset = args.value(p, first.col, "opset", |s| u16::parse(s, &[]))?;
    let attrs = args.value(p, first.col, "attrs", |s| {
        Ok(HostOp::parse_attrs(&unquote(s)?)?)
    })?;
    args.finish(p, ".host", &["name", "opset", "attrs"])?;
    Ok(HostOp {
        op,
        name,
        opset,
        attrs,
        operands: Vec::new(),
        results: Vec::new(),
    })
}

/// `.operand "tensor" shape=[..]`, `.operand none` or `.result "tensor" shape=[..]`, appended
/// to the last `.host`.
fn host_arg_line(p: &mut Parser, first: Token<'_>, rest: &[Token<'_>]) -> Result<(), AsmError> {
    if p.program.host_ops.is_empty() {
        return p.error(first.col, format!("`{}` before any `.host`", first.text));
    }
    let Some((tensor_tok, args)) = rest.split_first() else {
        return p.error(
            first.col,
            format!("`{}` needs a quoted tensor name", first.text),
        );
    };
    let result = first.text == ".result";
    let arg = if tensor_tok.text == "none" && !result {
        if let Some(extra) = args.first() {
            return p.error(extra.col, "unexpected extra token");
        }
        None
    } else {
        let name = unquote(tensor_tok.text).or_else(|e| p.error(tensor_tok.col, e.to_string()))?;
        let Some(index) = p.program.tensors.iter().position(|t| t.name == name) else {
            return p.error(tensor_tok.col, FieldError::UnknownTensor(name).to_string());
        };
        let mut args = Args::collect(p, args)?;
        let shape = args.value(p, first.col, "shape", parse_shape)?;
        args.finish(p, first.text, &["shape"])?;
        let tensor =
            u32::try_from(index).or_else(|_| p.error(tensor_tok.col, "too many tensors"))?;
        Some(HostArg { tensor, shape })
    };
    if let Some(h) = p.program.host_ops.last_mut() {
        match arg {
            Some(a) if result => h.results.push(a),
            a => h.operands.push(a),
        }
    }
    Ok(())
}

/// `name=value` arguments of one line, each used exactly once.
struct Args<'a> {
    items: Vec<(&'a str, Token<'a>)>,
    used: Vec<bool>,
}

impl<'a> Args<'a> {
    fn collect(p: &Parser, tokens: &[Token<'a>]) -> Result<Args<'a>, AsmError> {
        let mut items: Vec<(&'a str, Token<'a>)> = Vec::with_capacity(tokens.len());
        for tok in tokens {
            let Some((name, value)) = tok.text.split_once('=') else {
                return p.error(
                    tok.col,
                    format!("expected name=value, found '{}'", tok.text),
                );
            };
            if items.iter().any(|(n, _)| *n == name) {
                return p.error(tok.col, format!("duplicate field `{name}`"));
            }
            let value_col = tok.col + name.chars().count() + 1;
            items.push((
                name,
                Token {
                    text: value,
                    col: value_col,
                },
            ));
        }
        let used = vec![false; items.len()];
        Ok(Args { items, used })
    }

    /// Parse field `name` with `f`; `col` locates a "missing field" error.
    fn value<T>(
        &mut self,
        p: &Parser,
        col: usize,
        name: &str,
        f: impl FnOnce(&str) -> Result<T, FieldError>,
    ) -> Result<T, AsmError> {
        let Some(i) = self.items.iter().position(|(n, _)| *n == name) else {
            return p.error(col, format!("missing field `{name}`"));
        };
        if let Some(u) = self.used.get_mut(i) {
            *u = true;
        }
        let tok = self.items[i].1;
        f(tok.text).or_else(|m| p.error(tok.col, format!("field `{name}`: {m}")))
    }

    fn finish(&self, p: &Parser, what: &str, expected: &[&str]) -> Result<(), AsmError> {
        match self.used.iter().position(|u| !u) {
            Some(i) => {
                let (name, tok) = self.items[i];
                p.error(
                    tok.col.saturating_sub(name.chars().count() + 1),
                    format!(
                        "unknown field `{name}` for {what} (fields: {})",
                        expected.join(" ")
                    ),
                )
            }
            None => Ok(()),
        }
    }
}

/// Feeds the generated `Instr::parse_fields` from one line's arguments.
struct LineFields<'p, 'a> {
    parser: &'p Parser,
    args: Args<'a>,
    mnemonic_col: usize,
    op: Opcode,
}

impl FieldSource for LineFields<'_, '_> {
    type Error = AsmError;
    fn take<T: Field>(&mut self, name: &'static str) -> Result<T, AsmError> {
        if !self.args.items.iter().any(|(n, _)| *n == name) {
            let op = self.op;
            return self.parser.error(
                self.mnemonic_col,
                format!(
                    "{} is missing field `{name}` (fields: {})",
                    op.mnemonic(),
                    op.field_names().join(" ")
                ),
            );
        }
        let tensors = &self.parser.program.tensors;
        self.args.value(self.parser, self.mnemonic_col, name, |s| {
            T::parse(s, tensors)
        })
    }
}

fn instruction(p: &Parser, first: Token<'_>, rest: &[Token<'_>]) -> Result<Instr, AsmError> {
    let Some(op) = Opcode::from_mnemonic(first.text) else {
        return p.error(first.col, format!("unknown instruction '{}'", first.text));
    };
    let args = Args::collect(p, rest)?;
    let mut src = LineFields {
        parser: p,
        args,
        mnemonic_col: first.col,
        op,
    };
    let instr = Instr::parse_fields(op, &mut src)?;
    src.args.finish(p, op.mnemonic(), op.field_names())?;
    Ok(instr)
}
