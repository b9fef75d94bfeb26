//! Seeded mutations of a valid `.sofabin` and of its assembly text: decoding and parsing never
//! panic, every failure is an error with a byte offset or a `line:col` inside the input (and no
//! raw control character of the input in its message), and
//! whatever is accepted is canonical (it re-encodes / re-prints to an equal program). Accepted
//! programs also go through `check` and the cycle formulas, which must not panic either.

mod isa_common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{parse_asm, print_asm, Program};

const MUTATIONS: usize = 2000;

/// SplitMix64: small, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate_bytes(rng: &mut Rng, src: &[u8]) -> Vec<u8> {
    let mut b = src.to_vec();
    let rounds = 1 + rng.below(3);
    for _ in 0..rounds {
        let at = rng.below(b.len() + 1);
        match rng.below(7) {
            0 if !b.is_empty() => {
                let i = at.min(b.len() - 1);
                b[i] ^= 1 << rng.below(8);
            }
            1 if !b.is_empty() => {
                let i = at.min(b.len() - 1);
                b[i] = rng.next() as u8;
            }
            2 => b.truncate(at),
            3 => {
                let n = 1 + rng.below(40);
                let extra: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                b.splice(at..at, extra);
            }
            4 => {
                let end = (at + 1 + rng.below(40)).min(b.len());
                b.drain(at.min(end)..end);
            }
            5 if b.len() >= at + 4 => {
                // A length or count field gone wild.
                let v = [u32::MAX, 0x7fff_ffff, 1 << 20, 0][rng.below(4)];
                b[at..at + 4].copy_from_slice(&v.to_le_bytes());
            }
            _ => {
                let end = (at + 1 + rng.below(64)).min(b.len());
                let chunk = b[at.min(end)..end].to_vec();
                b.splice(at..at, chunk);
            }
        }
    }
    b
}

const ALPHABET: &[&str] = &[
    "0",
    "1",
    "9",
    "x",
    "f",
    "=",
    "[",
    "]",
    ";",
    "\"",
    "\\",
    "@",
    "+",
    "-",
    ".",
    " ",
    "\t",
    "\n",
    "\r",
    "e",
    "inf",
    "nan",
    "token",
    "temp[",
    "none",
    "0xffffffffffffffff",
    "é",
    "😀",
    "\u{7}",
    "\u{1b}[31m",
    "99999999999999999999",
    ",",
    "LD",
    "HALT",
    ".data",
    ".tensor",
];

fn mutate_text(rng: &mut Rng, src: &str) -> String {
    let mut chars: Vec<char> = src.chars().collect();
    let rounds = 1 + rng.below(3);
    for _ in 0..rounds {
        let at = rng.below(chars.len() + 1);
        match rng.below(5) {
            0 if !chars.is_empty() => {
                let i = at.min(chars.len() - 1);
                let piece: Vec<char> = ALPHABET[rng.below(ALPHABET.len())].chars().collect();
                chars.splice(i..=i, piece);
            }
            1 => {
                let piece: Vec<char> = ALPHABET[rng.below(ALPHABET.len())].chars().collect();
                chars.splice(at..at, piece);
            }
            2 => {
                let end = (at + 1 + rng.below(20)).min(chars.len());
                chars.drain(at.min(end)..end);
            }
            3 => chars.truncate(at),
            _ => {
                // Duplicate a stretch (often whole lines or fields).
                let end = (at + 1 + rng.below(80)).min(chars.len());
                let chunk = chars[at.min(end)..end].to_vec();
                chars.splice(at..at, chunk);
            }
        }
    }
    chars.into_iter().collect()
}

/// `check` and every cycle formula run on an accepted program without panicking.
fn exercise(p: &Program, hw: &HwConfig) {
    let _ = p.check(hw);
    for i in &p.instrs {
        let _ = i.cycles(hw);
        let _ = i.operands();
    }
}

#[test]
fn mutated_binaries_give_errors_with_offsets_never_panics() {
    let hw = HwConfig::default();
    let base = isa_common::program().encode();
    let mut rng = Rng(0x50fa_b1e5);
    let (mut rejected, mut accepted) = (0, 0);
    for n in 0..MUTATIONS {
        let m = mutate_bytes(&mut rng, &base);
        let result = catch_unwind(AssertUnwindSafe(|| {
            let decoded = Program::decode(&m);
            if let Ok(p) = &decoded {
                exercise(p, &hw);
            }
            decoded
        }));
        match result {
            Err(_) => panic!("mutation #{n} made the decoder panic: {m:02x?}"),
            Ok(Err(e)) => {
                rejected += 1;
                assert!(
                    e.offset <= m.len(),
                    "#{n}: offset {} past {} bytes",
                    e.offset,
                    m.len()
                );
                assert!(!e.message.is_empty());
            }
            Ok(Ok(p)) => {
                accepted += 1;
                assert_eq!(p.encode(), m, "#{n}: an accepted binary is not canonical");
                let text = print_asm(&p);
                assert_eq!(parse_asm(&text).map(|q| q.encode()), Ok(m.clone()), "#{n}");
            }
        }
    }
    assert_eq!(rejected + accepted, MUTATIONS);
    assert!(rejected > MUTATIONS / 2, "only {rejected} rejected");
    assert!(
        accepted > 20,
        "only {accepted} accepted: the canonical check barely ran"
    );
}

#[test]
fn mutated_assembly_gives_errors_with_line_and_column_never_panics() {
    let hw = HwConfig::default();
    let base = print_asm(&isa_common::program());
    let mut rng = Rng(0xa55e_b1e5);
    let (mut rejected, mut accepted) = (0, 0);
    for n in 0..MUTATIONS {
        let m = mutate_text(&mut rng, &base);
        let result = catch_unwind(AssertUnwindSafe(|| {
            let parsed = parse_asm(&m);
            if let Ok(p) = &parsed {
                exercise(p, &hw);
            }
            parsed
        }));
        match result {
            Err(_) => panic!("mutation #{n} made the parser panic:\n{m}"),
            Ok(Err(e)) => {
                rejected += 1;
                let lines = m.split('\n').count();
                assert!(
                    e.line >= 1 && e.line <= lines,
                    "#{n}: line {} of {lines}",
                    e.line
                );
                let width = m
                    .split('\n')
                    .nth(e.line - 1)
                    .map_or(0, |l| l.chars().count());
                assert!(
                    e.col >= 1 && e.col <= width + 1,
                    "#{n}: col {} of {width}: {e}",
                    e.col
                );
                assert!(
                    !e.message.chars().any(|c| c.is_control() && c != '\t'),
                    "#{n}: raw control character in {:?}",
                    e.message
                );
            }
            Ok(Ok(p)) => {
                accepted += 1;
                let reprinted = print_asm(&p);
                assert_eq!(
                    parse_asm(&reprinted).as_ref(),
                    Ok(&p),
                    "#{n}: print/parse differ"
                );
                assert_eq!(Program::decode(&p.encode()).as_ref(), Ok(&p), "#{n}");
            }
        }
    }
    assert_eq!(rejected + accepted, MUTATIONS);
    assert!(rejected > MUTATIONS / 4, "only {rejected} rejected");
    assert!(
        accepted > 20,
        "only {accepted} accepted: the canonical check barely ran"
    );
}
