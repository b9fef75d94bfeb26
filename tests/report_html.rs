//! `sofa run --report-html`: one self-contained page (no script, no external file) with the
//! report's tables and its three charts, the same bytes for the same run, and no file when the
//! run fails. `.ci/browser-check` opens the same page in headless Chromium.

mod common;
use common::cli::sofa;

use std::path::{Path, PathBuf};
use std::process::Output;

const MODEL: &str = "examples/bert/bert_sdpa_ts_op17";

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("sofa-report-html-{}-{name}", std::process::id()))
}

fn run_with_html(path: &Path, expected: Option<(&str, &str)>) -> Output {
    let (onnx, input) = (format!("{MODEL}.onnx"), format!("{MODEL}.input.npz"));
    let html = path.display().to_string();
    let mut args = vec!["run", &onnx, "--inputs", &input, "--report-html", &html];
    if let Some((file, atol)) = expected {
        args.extend(["--expected", file, "--atol", atol]);
    }
    sofa(&args)
}

#[test]
fn the_page_holds_the_tables_and_charts_and_is_deterministic() {
    let (a, b) = (temp("a.html"), temp("b.html"));
    for p in [&a, &b] {
        let out = run_with_html(p, None);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let page = std::fs::read_to_string(&a).unwrap();
    assert_eq!(
        page.as_bytes(),
        std::fs::read(&b).unwrap(),
        "same run, same bytes"
    );
    let _ = (std::fs::remove_file(&a), std::fs::remove_file(&b));
    assert!(page.starts_with("<!DOCTYPE html>") && page.trim_end().ends_with("</html>"));
    assert!(page.contains("<h1>sofa run: examples/bert/bert_sdpa_ts_op17.onnx</h1>"));
    // Engines, DRAM classes, roofline, energy; utilisation, traffic, layers vs bound.
    assert_eq!(page.matches("<table>").count(), 4);
    assert_eq!(page.matches("<svg ").count(), 3);
    assert!(page.contains("<td>kvpe</td>") && page.contains("<td>weights</td>"));
    // The two attention layers of the roofline, named as the model has them.
    assert_eq!(page.matches("/attention/self</td>").count(), 2);
    // Self-contained: nothing to fetch, nothing to run.
    assert!(!page.contains("<script") && !page.contains("src=") && !page.contains("href="));
}

#[test]
fn a_failed_run_writes_no_page() {
    let p = temp("failed.html");
    // The recorded outputs are not within 1e-12 of what the chip computes.
    let expected = format!("{MODEL}.expected.npz");
    let out = run_with_html(&p, Some((&expected, "1e-12")));
    assert!(!out.status.success());
    assert!(!p.exists(), "no page after a failed run");
}
