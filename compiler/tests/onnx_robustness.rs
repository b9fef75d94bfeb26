//! Robustness: 1,200 deterministic mutations of the fixture files (byte flips in the graph
//! structure and anywhere, truncations, overwritten length prefixes) go through `import_bytes`
//! under `catch_unwind`: every one must return (Ok or a typed error), none may panic.

mod onnx_common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use onnx_common::{fixture_path, FIXTURES};
use sofa_compiler::onnx::{import_bytes, ImportOptions};

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A byte offset biased towards the graph structure: torch writes the nodes first and the
/// inputs, outputs and value_info last, with the weights in between.
fn structural_offset(rng: &mut Rng, len: usize) -> usize {
    let window = len.min(48 * 1024);
    match rng.below(3) {
        0 => rng.below(window),
        1 => len - 1 - rng.below(window),
        _ => rng.below(len),
    }
}

fn mutate(rng: &mut Rng, original: &[u8]) -> Vec<u8> {
    let mut bytes = original.to_vec();
    let len = bytes.len();
    match rng.below(4) {
        // Flip a few bits.
        0 | 1 => {
            for _ in 0..1 + rng.below(4) {
                let at = structural_offset(rng, len);
                bytes[at] ^= 1 << rng.below(8);
            }
        }
        // Truncate.
        2 => bytes.truncate(rng.below(len)),
        // Overwrite a run with 0xff (huge varints / lengths) or random bytes.
        _ => {
            let at = structural_offset(rng, len);
            let run = (1 + rng.below(10)).min(len - at);
            let ff = rng.below(2) == 0;
            for b in &mut bytes[at..at + run] {
                *b = if ff { 0xff } else { rng.next() as u8 };
            }
        }
    }
    bytes
}

#[test]
fn two_hundred_mutations_of_each_fixture_never_panic() {
    let mut rng = Rng(0x5eed_50fa_0000_0001);
    let (mut ok, mut errors, mut panics) = (0usize, 0usize, Vec::new());
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for (f, name) in FIXTURES.iter().enumerate() {
        let original = std::fs::read(fixture_path(name)).expect("fixture");
        for i in 0..200 {
            let bytes = mutate(&mut rng, &original);
            let result = catch_unwind(AssertUnwindSafe(|| {
                import_bytes(&bytes, None, &ImportOptions::default()).map(|m| m.num_ops())
            }));
            match result {
                Ok(Ok(_)) => ok += 1,
                Ok(Err(e)) => {
                    assert!(!e.to_string().is_empty());
                    errors += 1;
                }
                Err(_) => panics.push(format!("{name} mutation #{i} (fixture {f})")),
            }
        }
    }
    std::panic::set_hook(default_hook);
    assert!(panics.is_empty(), "{} panics: {:?}", panics.len(), panics);
    assert_eq!(ok + errors, 200 * FIXTURES.len());
    // The mutations must actually exercise the error paths, not only flip weight bits.
    assert!(
        errors > 400,
        "only {errors} of 1200 mutations were rejected"
    );
}
