//! Bridge to real MLIR (through melior), compiled only with the `mlir` feature.
//!
//! Our textual IR is MLIR generic syntax, so real MLIR can act as an independent judge of it:
//! [`roundtrip`] parses a module with MLIR (unregistered dialects allowed, only `builtin` and
//! `func` loaded so MLIR neither rejects our ops nor adds default properties of dialects we do
//! not use), verifies it, and prints it back in generic form with locations. [`verify_module`]
//! closes the loop for `sofa opt --verify-with-mlir`: our print goes through MLIR, MLIR's print
//! comes back through our parser, and our print of that must equal the original print.
//!
//! MLIR reports problems through diagnostics rather than return values; a handler collects
//! them (with their locations) into the error instead of letting MLIR write to stderr.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use melior::diagnostic::{Diagnostic, DiagnosticSeverity};
use melior::dialect::DialectHandle;
use melior::ir::operation::{OperationLike, OperationPrintingFlags};
use melior::ir::Module;
use melior::Context;
use sofa_ir::text::{parse_module, print_module};
use sofa_ir::Module as SofaModule;

/// The LLVM/MLIR major version melior `=0.27.8` (mlir-sys 220) links against.
pub const MLIR_MAJOR_VERSION: u32 = 22;

/// One MLIR diagnostic: severity, location and message, with its attached notes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MlirDiagnostic {
    /// `error`, `warning`, `note` or `remark`.
    pub severity: &'static str,
    /// The location as MLIR prints it, e.g. `loc("-":3:7)` or `loc("attn0")`.
    pub location: String,
    /// MLIR's message.
    pub message: String,
    /// Notes MLIR attached to this diagnostic (e.g. "see current operation: ...").
    pub notes: Vec<MlirDiagnostic>,
}

impl fmt::Display for MlirDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.location, self.severity, self.message)?;
        for note in &self.notes {
            write!(f, "\n  {note}")?;
        }
        Ok(())
    }
}

/// The diagnostics MLIR emitted during one step, in emission order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<MlirDiagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(MLIR gave no diagnostic)");
        }
        for (i, diagnostic) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

/// Why MLIR did not accept a module.
#[derive(Debug, thiserror::Error)]
pub enum MlirBridgeError {
    /// MLIR takes a C string; the text has a NUL byte at this byte offset.
    #[error("input has a NUL byte at byte offset {0}; MLIR cannot read it")]
    NulByte(usize),
    /// MLIR's parser rejected the text.
    #[error("MLIR rejected the module:\n{0}")]
    Parse(Diagnostics),
    /// MLIR's verifier rejected the module (MLIR verifies while parsing, and again after).
    #[error("MLIR verification failed:\n{0}")]
    Verify(Diagnostics),
    /// MLIR's printer produced text that is not UTF-8.
    #[error("MLIR printed invalid UTF-8: {0}")]
    Print(String),
    /// Our parser rejected MLIR's print (rendered with line, column and caret).
    #[error("sofa cannot parse MLIR's output:\n{0}")]
    Reparse(String),
    /// MLIR accepted the module, but reading its print back gives a different module.
    #[error("the MLIR round trip changed the module at line {line}:\n  before: {before}\n  after:  {after}")]
    Changed {
        /// 1-based line of the first difference in our print.
        line: usize,
        /// That line of our print of the original module (empty past the end).
        before: String,
        /// That line of our print of the module read back from MLIR (empty past the end).
        after: String,
    },
}

/// Checks `module` with real MLIR: MLIR must parse and verify our print of it, and our parse of
/// MLIR's print must print exactly as `module` does. Returns MLIR's print on success.
pub fn verify_module(module: &SofaModule) -> Result<String, MlirBridgeError> {
    let ours = print_module(module);
    let mlir = roundtrip(&ours)?;
    let reparsed = parse_module(&mlir)
        .map_err(|error| MlirBridgeError::Reparse(error.render("<MLIR output>", &mlir)))?;
    match first_difference(&ours, &print_module(&reparsed)) {
        None => Ok(mlir),
        Some((line, before, after)) => Err(MlirBridgeError::Changed {
            line,
            before: before.to_owned(),
            after: after.to_owned(),
        }),
    }
}

/// The 1-based number and contents of the first line where `a` and `b` differ.
fn first_difference<'t>(a: &'t str, b: &'t str) -> Option<(usize, &'t str, &'t str)> {
    if a == b {
        return None;
    }
    let (mut left, mut right) = (a.lines(), b.lines());
    let mut line = 1;
    loop {
        match (left.next(), right.next()) {
            (Some(x), Some(y)) if x == y => line += 1,
            // Same lines, different line endings.
            (None, None) => return Some((line, "", "")),
            (x, y) => return Some((line, x.unwrap_or(""), y.unwrap_or(""))),
        }
    }
}

/// Parses `text` with MLIR, verifies it, and returns MLIR's generic print with debug info.
///
/// Debug info is printed in the plain (non-pretty) form, which is valid MLIR again: op locations
/// become `loc(#locN)` with `#locN = loc(...)` definitions after the module (those also used by
/// block arguments before it), and resource blobs follow in a `{-# dialect_resources #-}` section.
pub fn roundtrip(text: &str) -> Result<String, MlirBridgeError> {
    if let Some(offset) = text.find('\0') {
        return Err(MlirBridgeError::NulByte(offset));
    }
    let context = new_context();
    let collected = Rc::new(RefCell::new(Vec::new()));
    let sink = Rc::clone(&collected);
    let handler = context.attach_diagnostic_handler(move |diagnostic| {
        sink.borrow_mut().push(convert(&diagnostic));
        // Handled: MLIR must not fall back to printing on stderr.
        true
    });
    let result = parse_verify_print(&context, text, &collected);
    context.detach_diagnostic_handler(handler);
    result
}

/// A context that accepts our dialects as unregistered ops and knows only `builtin` + `func`.
fn new_context() -> Context {
    // Parsing and verifying one module gains nothing from MLIR's thread pool.
    let context = Context::new_with_threading(false);
    context.set_allow_unregistered_dialects(true);
    DialectHandle::func().load_dialect(&context);
    context
}

fn parse_verify_print(
    context: &Context,
    text: &str,
    collected: &Rc<RefCell<Vec<MlirDiagnostic>>>,
) -> Result<String, MlirBridgeError> {
    let take = || Diagnostics(collected.borrow_mut().drain(..).collect());
    // `Module::parse` runs the verifier too; its failures are told apart by their note.
    let Some(module) = Module::parse(context, text) else {
        let diagnostics = take();
        return Err(if from_verifier(&diagnostics) {
            MlirBridgeError::Verify(diagnostics)
        } else {
            MlirBridgeError::Parse(diagnostics)
        });
    };
    // Warnings or remarks during parsing are not failures; drop them before verifying.
    collected.borrow_mut().clear();
    if !module.as_operation().verify() {
        return Err(MlirBridgeError::Verify(take()));
    }
    let flags = OperationPrintingFlags::new()
        .print_generic_operation_form()
        .enable_debug_info(true, false);
    module
        .as_operation()
        .to_string_with_flags(flags)
        .map_err(|error| MlirBridgeError::Print(error.to_string()))
}

/// MLIR attaches "see current operation" to errors an existing op reports (verifiers); the
/// parser's own errors point at a source position and carry no such note.
fn from_verifier(diagnostics: &Diagnostics) -> bool {
    diagnostics.0.iter().any(|diagnostic| {
        diagnostic.severity == "error"
            && diagnostic
                .notes
                .iter()
                .any(|note| note.message.starts_with("see current operation"))
    })
}

fn convert(diagnostic: &Diagnostic) -> MlirDiagnostic {
    let notes = (0..diagnostic.note_count())
        .filter_map(|index| diagnostic.note(index).ok())
        .map(|note| convert(&note))
        .collect();
    MlirDiagnostic {
        severity: severity_name(diagnostic.severity()),
        location: diagnostic.location().to_string(),
        message: diagnostic.to_string(),
        notes,
    }
}

fn severity_name(severity: DiagnosticSeverity) -> &'static str {
    match severity {
        DiagnosticSeverity::Error => "error",
        DiagnosticSeverity::Warning => "warning",
        DiagnosticSeverity::Note => "note",
        DiagnosticSeverity::Remark => "remark",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_difference_names_the_line_and_both_sides() {
        assert_eq!(first_difference("a\nb\n", "a\nb\n"), None);
        assert_eq!(first_difference("a\nb\n", "a\nc\n"), Some((2, "b", "c")));
        assert_eq!(
            first_difference("a\n", "a\nextra\n"),
            Some((2, "", "extra"))
        );
        assert_eq!(first_difference("a\n", "a"), Some((2, "", "")));
    }

    #[test]
    fn verifier_failures_are_told_apart_by_their_note() {
        let note = |message: &str| MlirDiagnostic {
            severity: "note",
            location: "loc(unknown)".into(),
            message: message.into(),
            notes: Vec::new(),
        };
        let error = |notes| MlirDiagnostic {
            severity: "error",
            location: "loc(unknown)".into(),
            message: "m".into(),
            notes,
        };
        let op_error = Diagnostics(vec![error(vec![note("see current operation: x")])]);
        let syntax_error = Diagnostics(vec![error(vec![note("something else")])]);
        assert!(from_verifier(&op_error));
        assert!(!from_verifier(&syntax_error));
        assert_eq!(
            op_error.to_string(),
            "loc(unknown): error: m\n  loc(unknown): note: see current operation: x"
        );
    }
}
