//! Error rendering for the CLI: one error type carrying the finished diagnostic text and the exit
//! code class it belongs to.
//!
//! Diagnostics are rendered where the context is (source text for parse errors, the pipeline
//! string for pipeline errors) and carried here as text, so `main` only prints and exits.

use std::fmt;
use std::path::Path;

use sofa_ir::pass::PipelineError;
use sofa_ir::text::{caret_snippet, escape_controls};
use sofa_ir::verify::VerifierErrors;

/// A failed command: the rendered message and whether it is an input or a usage problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CliError {
    /// Bad input data or a failing transformation: exit code 1.
    Input(String),
    /// A malformed command line (beyond what clap checks): exit code 2.
    Usage(String),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Input(_) => 1,
            CliError::Usage(_) => 2,
        }
    }

    /// `error: <message>` as an input error.
    pub fn input(message: impl fmt::Display) -> CliError {
        CliError::Input(format!("error: {message}"))
    }

    /// `error: <message>` as a usage error.
    pub fn usage(message: impl fmt::Display) -> CliError {
        CliError::Usage(format!("error: {message}"))
    }

    /// The error with `path: ` before its message, for errors raised where the file is not
    /// known (planning or lowering a workload spec).
    pub fn in_file(self, path: &Path) -> CliError {
        let at = |s: String| {
            let message = s.strip_prefix("error: ").unwrap_or(&s);
            format!("error: {}: {message}", path.display())
        };
        match self {
            CliError::Input(s) => CliError::Input(at(s)),
            CliError::Usage(s) => CliError::Usage(at(s)),
        }
    }

    /// An IO failure on `path`.
    pub fn io(what: &str, path: &Path, err: &std::io::Error) -> CliError {
        CliError::input(format!("cannot {what} '{}': {err}", path.display()))
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Input(s) | CliError::Usage(s) => f.write_str(s),
        }
    }
}

/// A pipeline error as a usage error, with the pipeline text and a caret under the culprit.
pub fn pipeline_error(flag: &str, pipeline: &str, err: &PipelineError) -> CliError {
    CliError::Usage(format!(
        "error: invalid {flag}: {}\n{}",
        err.message,
        err.render_snippet(pipeline)
    ))
}

/// Verifier errors on the input, each pointing at the source line where its op starts (with a
/// caret under the op) when the ops can be matched to lines; otherwise as the verifier words them.
pub fn verifier_errors(name: &str, src: &str, errors: &VerifierErrors, num_ops: usize) -> CliError {
    let lines: Vec<&str> = src.lines().collect();
    let map = OpLines::new(src, num_ops);
    let mut out = Vec::new();
    for e in &errors.0 {
        match map.as_ref().and_then(|m| m.line_of(e.op_index)) {
            Some(l) => {
                let text = lines.get(l).copied().unwrap_or("");
                let col = text.chars().count() - text.trim_start().chars().count();
                out.push(format!(
                    "{name}:{}:{}: error: '{}' op: {}\n{}",
                    l + 1,
                    col + 1,
                    escape_controls(&e.op_name),
                    escape_controls(&e.message),
                    caret_snippet(text, col + 1, 1)
                ));
            }
            None => out.push(format!(
                "{name}: error: {}",
                escape_controls(&e.to_string())
            )),
        }
    }
    out.push(format!(
        "{name}: the input does not verify ({} error(s))",
        errors.0.len()
    ));
    CliError::Input(out.join("\n"))
}

/// Where each op of a parsed file starts in its source text.
///
/// Ops are numbered in pre-order, which is their order of appearance in the text, and in generic
/// syntax each op starts a line with `"name"(` or `%results = "name"(`. When the file has no
/// explicit top-level `builtin.module`, op #0 is the implicit module and has no line.
pub struct OpLines {
    lines: Vec<usize>,
    implicit_top: bool,
}

impl OpLines {
    /// `None` when the op-start lines cannot be matched to `num_ops` ops (e.g. two ops on a line).
    pub fn new(src: &str, num_ops: usize) -> Option<OpLines> {
        let lines: Vec<usize> = src
            .lines()
            .enumerate()
            .filter(|(_, l)| is_op_start(l))
            .map(|(i, _)| i)
            .collect();
        let implicit_top = match num_ops.checked_sub(lines.len())? {
            0 => false,
            1 => true,
            _ => return None,
        };
        Some(OpLines {
            lines,
            implicit_top,
        })
    }

    /// The 0-based source line of pre-order op `index`.
    pub fn line_of(&self, index: usize) -> Option<usize> {
        let i = index.checked_sub(usize::from(self.implicit_top))?;
        self.lines.get(i).copied()
    }
}

/// True for a line where an op starts in generic syntax: `"name"(` or `%r... = "name"(`.
pub fn is_op_start(line: &str) -> bool {
    let t = line.trim_start();
    let t = match t.strip_prefix('%') {
        Some(rest) => match rest.split_once('=') {
            Some((_, after)) => after.trim_start(),
            None => return false,
        },
        None => t,
    };
    t.strip_prefix('"')
        .and_then(|r| r.split_once('"'))
        .is_some_and(|(name, after)| !name.is_empty() && after.starts_with('('))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_start_lines_are_recognised() {
        assert!(is_op_start(r#"    %0 = "onnx.Add"(%a, %b) : (...) -> ..."#));
        assert!(is_op_start(r#"  %0:2 = "onnx.Split"(%a) : (...) -> ..."#));
        assert!(is_op_start(r#""func.return"(%0) : (tensor<2xf32>) -> ()"#));
        assert!(!is_op_start(r#"  }) : () -> ()"#));
        assert!(!is_op_start(r#"  ^bb0(%arg0: tensor<2xf32>):"#));
        assert!(!is_op_start(r#"// "x"(..."#));
        let src = "\"a.b\"() : () -> ()\n// c\n  %0 = \"a.c\"() : () -> f32\n";
        let explicit = OpLines::new(src, 2).unwrap();
        assert_eq!(
            (explicit.line_of(0), explicit.line_of(1)),
            (Some(0), Some(2))
        );
        let implicit = OpLines::new(src, 3).unwrap();
        assert_eq!((implicit.line_of(0), implicit.line_of(2)), (None, Some(2)));
        assert!(OpLines::new(src, 5).is_none());
    }

    #[test]
    fn pipeline_errors_are_usage_errors_with_a_caret() {
        let err = PipelineError::new(5, 3, "unknown pass 'foo'");
        let e = pipeline_error("--pass-pipeline", "dce,foo", &err);
        assert_eq!(e.exit_code(), 2);
        assert_eq!(
            e.to_string(),
            "error: invalid --pass-pipeline: unknown pass 'foo'\n  dce,foo\n      ^^^"
        );
        assert_eq!(CliError::input("x").exit_code(), 1);
    }
}
