//! Robustness of the text format: thousands of deterministic mutations of every filetest input
//! (byte flips, deletions, insertions, truncations, swapped tokens, duplicated lines) go through
//! the parser and, when they parse, the verifier and the printer. Nothing may panic, anything
//! that parses must print to text that parses again, and what does not parse gets an error that
//! echoes no raw control character.
//!
//! Each case has its own seed (printed on failure), so one case can be replayed alone by setting
//! `SOFA_ROBUSTNESS_CASE=<index>`; `SOFA_ROBUSTNESS_CASES=<n>` runs a longer campaign.

use std::panic;
use std::path::{Path, PathBuf};

use sofa_ir::dialect::DialectRegistry;
use sofa_ir::text::{parse_module, print_module};
use sofa_ir::verify::verify;

const SEED: u64 = 0x50fa_2024_1bad_5eed;
const CASES: usize = 12_000;
/// Bytes that matter to the grammar, so mutations often produce near-valid input.
const INTERESTING: &[u8] = b"{}()[]<>%#^@!\":,=-+?*x0123456789.e \n\\";

/// xorshift64* (Vigna): small, fast and deterministic.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-enough in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn byte(&mut self) -> u8 {
        if self.below(2) == 0 {
            INTERESTING[self.below(INTERESTING.len())]
        } else {
            (self.next() & 0xff) as u8
        }
    }
}

fn case_seed(index: usize) -> u64 {
    SEED ^ (index as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

fn filetests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/filetests")
}

/// Every `.mlir` file under `dir`, recursively, in sorted order.
fn collect_inputs(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_inputs(&path, out);
        } else if path.extension().is_some_and(|x| x == "mlir") {
            let text = std::fs::read_to_string(&path).expect("readable filetest");
            out.push((path, text));
        }
    }
}

/// Spans of maximal non-whitespace runs.
fn token_spans(b: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        spans.push((start, i));
    }
    spans
}

/// Apply one random mutation; returns its description.
fn mutate_once(b: &mut Vec<u8>, rng: &mut Rng) -> String {
    if b.is_empty() {
        b.push(rng.byte());
        return "insert into empty".into();
    }
    let at = rng.below(b.len());
    match rng.below(6) {
        0 => {
            let byte = rng.byte();
            b[at] = byte;
            format!("flip byte {at} to {byte:#04x}")
        }
        1 => {
            b.remove(at);
            format!("delete byte {at}")
        }
        2 => {
            let byte = rng.byte();
            b.insert(at, byte);
            format!("insert {byte:#04x} at {at}")
        }
        3 => {
            b.truncate(at);
            format!("truncate at {at}")
        }
        4 => {
            let spans = token_spans(b);
            let (i, j) = (rng.below(spans.len()), rng.below(spans.len()));
            let (first, second) = (spans[i.min(j)], spans[i.max(j)]);
            if first == second {
                return "swap a token with itself".into();
            }
            let mut out = Vec::with_capacity(b.len());
            out.extend_from_slice(&b[..first.0]);
            out.extend_from_slice(&b[second.0..second.1]);
            out.extend_from_slice(&b[first.1..second.0]);
            out.extend_from_slice(&b[first.0..first.1]);
            out.extend_from_slice(&b[second.1..]);
            *b = out;
            format!("swap tokens at {} and {}", first.0, second.0)
        }
        _ => {
            let start = b[..at]
                .iter()
                .rposition(|&c| c == b'\n')
                .map_or(0, |p| p + 1);
            let end = b[at..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |p| at + p + 1);
            let line = b[start..end].to_vec();
            b.splice(start..start, line);
            format!("duplicate line at byte {start}")
        }
    }
}

/// Mutate `src` for case `index`: one mutation, sometimes two or three.
fn mutated(src: &str, index: usize) -> (String, String) {
    let mut rng = Rng::new(case_seed(index));
    let mut bytes = src.as_bytes().to_vec();
    let rounds = 1 + usize::from(rng.below(4) == 0) + usize::from(rng.below(8) == 0);
    let desc: Vec<String> = (0..rounds)
        .map(|_| mutate_once(&mut bytes, &mut rng))
        .collect();
    (
        desc.join("; "),
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

/// Parse; if that works, verify and check the printed form parses again. `Ok(true)` = parsed.
/// A rejection's rendered error must not pass on the input's control characters.
fn check(input: &str, registry: &DialectRegistry) -> Result<bool, String> {
    let module = match parse_module(input) {
        Ok(m) => m,
        Err(e) => {
            let shown = e.render("input", input);
            if shown
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t')
            {
                return Err(format!("raw control character in the error: {shown:?}"));
            }
            return Ok(false);
        }
    };
    let _ = verify(&module, registry);
    let printed = print_module(&module);
    match parse_module(&printed) {
        Ok(_) => Ok(true),
        Err(e) => Err(format!(
            "re-printed module does not parse:\n{}",
            e.render("printed", &printed)
        )),
    }
}

fn excerpt(s: &str) -> String {
    match s.char_indices().nth(3000) {
        Some((cut, _)) => format!("{}\n[... {} more bytes]", &s[..cut], s.len() - cut),
        None => s.to_string(),
    }
}

#[test]
fn mutated_filetests_never_panic_and_reparse() {
    let mut inputs = Vec::new();
    collect_inputs(&filetests_dir(), &mut inputs);
    assert!(
        inputs.len() >= 8,
        "expected the filetest corpus, found {} files",
        inputs.len()
    );
    let registry = DialectRegistry::with_core_dialects();
    let env = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
    };
    let only = env("SOFA_ROBUSTNESS_CASE");
    let cases = env("SOFA_ROBUSTNESS_CASES").unwrap_or(CASES);

    // Silence panic messages from this thread only; failures are reported below.
    let this_thread = std::thread::current().id();
    let default_hook = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if std::thread::current().id() != this_thread {
            default_hook(info);
        }
    }));

    let mut failures = Vec::new();
    let (mut parsed, mut rejected) = (0usize, 0usize);
    for index in (0..cases.max(only.map_or(0, |o| o + 1))).filter(|i| only.is_none_or(|o| o == *i))
    {
        let (path, src) = &inputs[index % inputs.len()];
        let (desc, input) = mutated(src, index);
        let outcome = panic::catch_unwind(|| check(&input, &registry));
        let problem = match outcome {
            Ok(Ok(true)) => {
                parsed += 1;
                None
            }
            Ok(Ok(false)) => {
                rejected += 1;
                None
            }
            Ok(Err(msg)) => Some(msg),
            Err(payload) => Some(format!(
                "panicked: {}",
                payload
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| payload.downcast_ref::<&str>().copied())
                    .unwrap_or("<non-string payload>")
            )),
        };
        if let Some(msg) = problem {
            failures.push(format!(
                "case {index} (seed {:#x}) of {}: {desc}\n{msg}\n--- input ---\n{}",
                case_seed(index),
                path.display(),
                excerpt(&input)
            ));
        }
    }
    let _ = panic::take_hook();

    assert!(
        failures.is_empty(),
        "{} of {cases} mutated inputs failed; the first ones:\n\n{}",
        failures.len(),
        failures
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n\n")
    );
    if only.is_none() {
        // Both outcomes must occur, or the mutator is not exercising the parser.
        assert!(parsed > cases / 50, "only {parsed} mutated inputs parsed");
        assert!(
            rejected > cases / 4,
            "only {rejected} mutated inputs were rejected"
        );
    }
}
