//! The filetest driver: runs every `tests/filetests/**/*.mlir` file, dispatching on its first line
//! (`// test roundtrip`, `// test verify`, `// RUN-PIPELINE: <pipeline>`); see
//! `tests/filetests/README.md` for the formats. Every file is checked before the test fails, and
//! each failure names its file and shows a line diff. `SOFA_BLESS=1` rewrites the expected output
//! of pipeline files from the current behaviour.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sofa::cli::diag::{is_op_start, OpLines};
use sofa_ir::dialect::DialectRegistry;
use sofa_ir::pass::{NoInstrumentation, PassManager};
use sofa_ir::text::{parse_module, print_module};
use sofa_ir::verify::{verify, VerifierError};

const CHECK_OUTPUT: &str = "// CHECK-OUTPUT:";
const RUN_PIPELINE: &str = "// RUN-PIPELINE:";
const ERROR_ANNOTATION: &str = "// error:";

#[test]
fn filetests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/filetests");
    let mut files = Vec::new();
    collect_mlir_files(&root, &mut files);
    files.sort();
    let bless = std::env::var_os("SOFA_BLESS").is_some();
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for file in &files {
        let result = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read: {e}"))
            .and_then(|text| run_file(file, &text, bless, &mut kinds));
        if let Err(message) = result {
            let rel = file.strip_prefix(&root).unwrap_or(file);
            failures.push(format!("--- {} ---\n{message}", rel.display()));
        }
    }
    assert!(
        kinds.get("verify").copied().unwrap_or(0) >= 2
            && kinds.get("pipeline").copied().unwrap_or(0) >= 3,
        "too few filetests found under {}: {kinds:?}",
        root.display()
    );
    assert!(
        failures.is_empty(),
        "{} of {} filetests failed:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}

fn collect_mlir_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_mlir_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "mlir") {
            out.push(path);
        }
    }
}

fn run_file(
    file: &Path,
    text: &str,
    bless: bool,
    kinds: &mut BTreeMap<&'static str, usize>,
) -> Result<(), String> {
    let first = text.lines().next().unwrap_or("").trim_end();
    let kind = match first {
        "// test roundtrip" => "roundtrip",
        "// test verify" => "verify",
        _ if first.starts_with(RUN_PIPELINE) => "pipeline",
        _ => {
            return Err(format!(
                "unknown test kind on the first line: '{first}' (expected '// test roundtrip', \
                 '// test verify' or '{RUN_PIPELINE} <pipeline>')"
            ))
        }
    };
    *kinds.entry(kind).or_default() += 1;
    match kind {
        "roundtrip" => check_roundtrip(text),
        "verify" => check_verify(text),
        _ => check_pipeline(file, text, first[RUN_PIPELINE.len()..].trim(), bless),
    }
}

fn parse(text: &str) -> Result<sofa_ir::Module, String> {
    parse_module(text).map_err(|e| e.render("input", text))
}

// ---- roundtrip ------------------------------------------------------------------------------

/// The file minus its leading `//` comment lines.
fn body_after_leading_comments(text: &str) -> String {
    let mut rest = text;
    while rest.starts_with("//") {
        rest = rest.split_once('\n').map_or("", |(_, r)| r);
    }
    rest.to_string()
}

fn check_roundtrip(text: &str) -> Result<(), String> {
    let body = body_after_leading_comments(text);
    let printed = print_module(&parse(&body)?);
    expect_equal(&body, &printed)
}

// ---- verify ---------------------------------------------------------------------------------

/// An `// error:` annotation: its line, the op-start line it belongs to, the expected substring.
struct Annotation {
    line: usize,
    op_line: usize,
    text: String,
}

fn check_verify(text: &str) -> Result<(), String> {
    let m = parse(text)?;
    let errors = match verify(&m, &DialectRegistry::with_core_dialects()) {
        Ok(()) => Vec::new(),
        Err(e) => e.0,
    };
    let lines: Vec<&str> = text.lines().collect();
    let annotations = annotations(&lines)?;
    let op_lines = OpLines::new(text, m.all_ops().len())
        .ok_or("cannot match op-start lines to ops; write one op per line in generic syntax")?;
    let line_of = |e: &VerifierError| op_lines.line_of(e.op_index);
    let mut problems = Vec::new();
    let mut matched = vec![false; annotations.len()];
    for e in &errors {
        let op_line = line_of(e);
        let rendered = e.to_string();
        let mut found = false;
        for (a, hit) in annotations.iter().zip(&mut matched) {
            if Some(a.op_line) == op_line && rendered.contains(&a.text) {
                *hit = true;
                found = true;
            }
        }
        if !found {
            let at = op_line.map_or("the implicit module".into(), |l| format!("line {}", l + 1));
            problems.push(format!("unexpected error at {at}: {rendered}"));
        }
    }
    for (a, hit) in annotations.iter().zip(&matched) {
        if !hit {
            let reported: Vec<String> = errors
                .iter()
                .filter(|e| line_of(e) == Some(a.op_line))
                .map(|e| format!("\n    {e}"))
                .collect();
            problems.push(format!(
                "line {}: expected an error containing '{}' for the op on line {}; reported for \
                 that op:{}",
                a.line + 1,
                a.text,
                a.op_line + 1,
                if reported.is_empty() {
                    " nothing".into()
                } else {
                    reported.concat()
                }
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

fn annotations(lines: &[&str]) -> Result<Vec<Annotation>, String> {
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(text) = line.trim_start().strip_prefix(ERROR_ANNOTATION) else {
            continue;
        };
        let mut j = i;
        while j > 0 && lines[j - 1].trim_start().starts_with(ERROR_ANNOTATION) {
            j -= 1;
        }
        if j == 0 || !is_op_start(lines[j - 1]) {
            return Err(format!(
                "line {}: an '{ERROR_ANNOTATION}' annotation must follow the line where an op starts",
                i + 1
            ));
        }
        out.push(Annotation {
            line: i,
            op_line: j - 1,
            text: text.trim().to_string(),
        });
    }
    Ok(out)
}

// ---- pipelines ------------------------------------------------------------------------------

fn check_pipeline(file: &Path, text: &str, pipeline: &str, bless: bool) -> Result<(), String> {
    let (input, expected) = match text.split_once(&format!("\n{CHECK_OUTPUT}\n")) {
        Some((input, expected)) => (format!("{input}\n"), Some(uncomment(expected))),
        None => (text.to_string(), None),
    };
    let dialects = DialectRegistry::with_core_dialects();
    let mut m = parse(&input)?;
    verify(&m, &dialects).map_err(|e| format!("the input does not verify:\n{e}"))?;
    let registry = sofa_compiler::passes::registry();
    let mut pm = PassManager::from_pipeline(dialects, &registry, pipeline)
        .map_err(|e| format!("bad pipeline '{pipeline}': {e}"))?;
    pm.run(&mut m, &mut NoInstrumentation)
        .map_err(|e| format!("pipeline '{pipeline}' failed: {e}"))?;
    let actual = print_module(&m);
    if bless {
        let blessed = format!("{input}{CHECK_OUTPUT}\n{}", comment(&actual));
        return std::fs::write(file, blessed).map_err(|e| format!("cannot bless: {e}"));
    }
    match expected {
        Some(expected) => expect_equal(&expected, &actual),
        None => Err(format!(
            "no '{CHECK_OUTPUT}' section; run with SOFA_BLESS=1 to add one. Actual output:\n{actual}"
        )),
    }
}

/// Strip the `// ` (or bare `//`) prefix of every expected-output line.
fn uncomment(expected: &str) -> String {
    let mut out = String::new();
    for line in expected.lines() {
        let l = line.strip_prefix("// ").or_else(|| line.strip_prefix("//"));
        out.push_str(l.unwrap_or(line));
        out.push('\n');
    }
    out
}

fn comment(actual: &str) -> String {
    let mut out = String::new();
    for line in actual.lines() {
        if line.is_empty() {
            out.push_str("//\n");
        } else {
            let _ = writeln!(out, "// {line}");
        }
    }
    out
}

// ---- diffs ----------------------------------------------------------------------------------

fn expect_equal(expected: &str, actual: &str) -> Result<(), String> {
    if expected == actual {
        return Ok(());
    }
    let diff = similar::TextDiff::from_lines(expected, actual);
    let mut out = String::from("output differs (-expected +actual):\n");
    for change in diff.iter_all_changes() {
        let sign = match change.tag() {
            similar::ChangeTag::Delete => '-',
            similar::ChangeTag::Insert => '+',
            similar::ChangeTag::Equal => ' ',
        };
        let _ = write!(out, "{sign}{change}");
        if change.missing_newline() {
            out.push_str("\n\\ no newline at end\n");
        }
    }
    Err(out)
}

#[test]
fn annotations_attach_to_the_op_above() {
    let lines = [
        r#"  %0 = "a.b"() : () -> f32"#,
        "  // error: one",
        "  // error: two",
    ];
    let a = annotations(&lines).unwrap();
    assert_eq!((a[1].op_line, a[1].text.as_str()), (0, "two"));
    assert!(annotations(&["// error: orphan"]).is_err());
    assert!(annotations(&["  }) : () -> ()", "// error: after a closing line"]).is_err());
    assert_eq!(uncomment("// a\n//\n// b\n"), "a\n\nb\n");
    assert_eq!(comment("a\n\nb\n"), "// a\n//\n// b\n");
}
