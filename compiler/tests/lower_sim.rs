//! Attention segments run on the simulator against a naive f64 softmax attention: at keep
//! ratio 1 every schedule must be exact (1e-5), with a padding mask, causal masking, GQA,
//! partial tiles and spilled partials.
//!
//! Shape: B = 1, H = 2, S = 20, d = 8 unless a case says otherwise; random q, k, v in [−2, 2);
//! the padding mask excludes keys 17..20.

use std::collections::BTreeMap;

use sofa_compiler::lower::dram::DramLayout;
use sofa_compiler::lower::{emit_segment, Layer, MaskRef, SegmentPlan};
use sofa_ir::dialect::attn::{AttnShape, Schedule};
use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{DType, Instr, Program, TensorKind};
use sofa_runtime::sim::{simulate, SimOptions};

const PADDED_FROM: u64 = 17;

/// xorshift64*: deterministic test data without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40;
        (bits as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
    }

    fn vec(&mut self, n: u64) -> Vec<f32> {
        (0..n).map(|_| self.next()).collect()
    }
}

#[derive(Clone, Copy)]
struct Case {
    schedule: Schedule,
    heads: u64,
    kv_heads: u64,
    /// Query rows and keys.
    queries: u64,
    seq: u64,
    d: u64,
    tc: u64,
    q_block: u64,
    causal: bool,
    /// Sliding window (with `causal`): a query sees itself and the `w − 1` keys before it.
    window: Option<u64>,
    mask: bool,
    keep: f64,
    /// With the mask: keys below this are excluded too (left padding).
    left_pad: u64,
    /// Value rows of the padded keys set to this (a masked key that leaks shows at once).
    poison: Option<f32>,
}

fn case(schedule: Schedule) -> Case {
    Case {
        schedule,
        heads: 2,
        kv_heads: 2,
        queries: 20,
        seq: 20,
        d: 8,
        tc: 3,
        q_block: 8,
        causal: false,
        window: None,
        mask: true,
        keep: 1.0,
        left_pad: 0,
        poison: None,
    }
}

fn layer(c: &Case) -> Layer {
    let tc = if c.schedule == Schedule::Staged {
        1
    } else {
        c.tc
    };
    let shape = AttnShape {
        causal: c.causal,
        window: c.window,
        scale: 1.0 / (c.d as f32).sqrt(),
        ..AttnShape::new(1, c.heads, c.kv_heads, c.queries, c.seq, c.d, DType::F32)
    };
    Layer::new(
        "attn",
        shape,
        SegmentPlan::new(c.schedule, c.keep, tc, c.q_block),
    )
}

/// Whether the padding mask excludes key `j`.
fn padded(c: &Case, j: u64) -> bool {
    j >= PADDED_FROM || j < c.left_pad
}

fn bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The reference: softmax(scale·q·kᵀ + mask [causal, top-left]) · v in f64, `[1, H, Sq, d]`.
fn reference(c: &Case, q: &[f32], k: &[f32], v: &[f32]) -> Vec<f32> {
    let (sq, s, d) = (c.queries as usize, c.seq as usize, c.d as usize);
    let group = (c.heads / c.kv_heads) as usize;
    let scale = f64::from(1.0 / (c.d as f32).sqrt());
    let mut out = vec![0f32; c.heads as usize * sq * d];
    for h in 0..c.heads as usize {
        let (qh, kh) = (h * sq * d, (h / group) * s * d);
        for i in 0..sq {
            let in_band =
                |j: usize| !c.causal || (j <= i && c.window.is_none_or(|w| j + w as usize > i));
            let visible = |j: usize| (!c.mask || !padded(c, j as u64)) && in_band(j);
            let scores: Vec<f64> = (0..s)
                .map(|j| {
                    (0..d)
                        .map(|x| f64::from(q[qh + i * d + x]) * f64::from(k[kh + j * d + x]))
                        .sum::<f64>()
                        * scale
                })
                .collect();
            let m = (0..s)
                .filter(|&j| visible(j))
                .map(|j| scores[j])
                .fold(f64::NEG_INFINITY, f64::max);
            let w: Vec<f64> = (0..s)
                .map(|j| {
                    if visible(j) {
                        (scores[j] - m).exp()
                    } else {
                        0.0
                    }
                })
                .collect();
            let l: f64 = w.iter().sum();
            for x in 0..d {
                let o: f64 = (0..s).map(|j| w[j] * f64::from(v[kh + j * d + x])).sum();
                // A row without any visible key gives zeros (attn.mha).
                out[qh + i * d + x] = if l > 0.0 { (o / l) as f32 } else { 0.0 };
            }
        }
    }
    out
}

/// Lowers the case as one segment, simulates it; returns the program, the output and the max
/// |sim − reference| (infinite on NaN).
fn run(c: &Case, hw: &HwConfig) -> (Program, Vec<f32>, f32) {
    let mut l = layer(c);
    let (sq, s, d) = (c.queries, c.seq, c.d);
    let mut dram = DramLayout::default();
    let mut add = |name: &str, kind, shape: Vec<u64>| {
        dram.add(name.into(), kind, DType::F32, shape, vec![])
            .unwrap()
    };
    l.dram.q = add("attn.q", TensorKind::Input, vec![1, c.heads, sq, d]);
    l.dram.k = add("attn.k", TensorKind::Input, vec![1, c.kv_heads, s, d]);
    l.dram.v = add("attn.v", TensorKind::Input, vec![1, c.kv_heads, s, d]);
    l.dram.o = add("attn.out", TensorKind::Output, vec![1, c.heads, sq, d]);
    let mut rng = Rng(0x5eed_0123_4567_89ab);
    let q = rng.vec(c.heads * sq * d);
    let k = rng.vec(c.kv_heads * s * d);
    let mut v = rng.vec(c.kv_heads * s * d);
    if let Some(x) = c.poison {
        for (i, e) in v.iter_mut().enumerate() {
            if (i as u64 / d) % s >= PADDED_FROM {
                *e = x;
            }
        }
    }
    let mut inputs: BTreeMap<String, Vec<u8>> = [
        ("attn.q".to_string(), bytes(&q)),
        ("attn.k".to_string(), bytes(&k)),
        ("attn.v".to_string(), bytes(&v)),
    ]
    .into();
    if c.mask {
        l.dram.mask = Some(MaskRef {
            dram: add("attn.mask", TensorKind::Input, vec![1, 1, 1, s]),
            batch_stride: s * 4,
            head_stride: 0,
            row_stride: 0,
        });
        let row: Vec<f32> = (0..s)
            .map(|j| if padded(c, j) { f32::NEG_INFINITY } else { 0.0 })
            .collect();
        inputs.insert("attn.mask".into(), bytes(&row));
    }
    let mut instrs = Vec::new();
    emit_segment(hw, &l, &mut dram, &mut instrs).unwrap();
    instrs.push(Instr::Halt {});
    let p = Program {
        host_ops: Vec::new(),
        config_hash: hw.hash(),
        tensors: dram.tensors,
        instrs,
    };
    if let Err(e) = p.check(hw) {
        panic!(
            "{:?} {}x{} w={:?} keep {}: {:?}",
            c.schedule,
            c.queries,
            c.seq,
            c.window,
            c.keep,
            &e[..e.len().min(3)]
        );
    }
    let got = simulate(&p, hw, &inputs, &SimOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
        .outputs
        .remove("attn.out")
        .unwrap();
    let got: Vec<f32> = got
        .chunks(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let want = reference(c, &q, &k, &v);
    let err = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(
            0f32,
            |m, e| if e.is_nan() { f32::INFINITY } else { m.max(e) },
        );
    (p, got, err)
}

const SCHEDULES: [Schedule; 3] = [Schedule::Dense, Schedule::Staged, Schedule::Cct];

#[test]
fn padding_mask_is_exact_under_every_schedule() {
    let hw = HwConfig::default();
    for s in SCHEDULES {
        let (_, _, err) = run(&case(s), &hw);
        assert!(err < 1e-5, "{s:?}: max error {err}");
    }
}

#[test]
fn causal_gqa_and_partial_tiles_are_exact() {
    let hw = HwConfig::default();
    for s in SCHEDULES {
        // Sq = Sk = 20, then 12 queries over 20 keys and 20 queries over 13 keys.
        for (queries, seq) in [(20, 20), (12, 20), (20, 13)] {
            for mask in [false, true] {
                let c = Case {
                    heads: 4,
                    kv_heads: 2,
                    queries,
                    seq,
                    causal: true,
                    mask: mask && seq > PADDED_FROM,
                    ..case(s)
                };
                let (_, _, err) = run(&c, &hw);
                assert!(
                    err < 1e-5,
                    "{s:?} {queries}x{seq} mask={mask}: max error {err}"
                );
            }
        }
    }
}

#[test]
fn sliding_windows_are_exact_under_every_schedule() {
    let hw = HwConfig::default();
    for s in SCHEDULES {
        // Windows narrower than a key tile, spanning tiles, and wider than the block.
        for (queries, seq, window) in [(20, 20, 2), (20, 20, 5), (12, 20, 9), (20, 13, 4)] {
            for keep in [1.0, 0.5] {
                let c = Case {
                    heads: 4,
                    kv_heads: 1,
                    queries,
                    seq,
                    q_block: 4,
                    causal: true,
                    window: Some(window),
                    mask: seq > PADDED_FROM,
                    keep,
                    ..case(s)
                };
                let (_, got, err) = run(&c, &hw);
                if keep == 1.0 {
                    assert!(
                        err < 1e-5,
                        "{s:?} {queries}x{seq} w={window}: max error {err}"
                    );
                } else {
                    assert!(
                        got.iter().all(|x| x.is_finite()),
                        "{s:?} w={window} keep {keep}"
                    );
                }
            }
        }
    }
}

/// A window of 8 over 64 keys in tiles of 8 and blocks of 8 queries: block b touches tiles
/// b−1 and b only (1 + 7·2 = 15 per head) instead of the causal 1 + 2 + … + 8 = 36.
#[test]
fn windows_skip_key_tiles_behind_the_band() {
    let hw = HwConfig::default();
    let predictions = |window| {
        let c = Case {
            queries: 64,
            seq: 64,
            tc: 8,
            q_block: 8,
            causal: true,
            window,
            mask: false,
            keep: 0.5,
            ..case(Schedule::Cct)
        };
        let (p, _, _) = run(&c, &hw);
        let dlzs = p.instrs.iter().filter(|i| matches!(i, Instr::DlzsS { .. }));
        dlzs.count()
    };
    assert_eq!(predictions(None), 2 * 36);
    assert_eq!(predictions(Some(8)), 2 * 15);
}

/// Eight tiles per row merge into one running partial (`SUFA.T acc`) and one SYNC per block
/// divides it: exact, with small SRAMs (shorter blocks) as with the paper's.
#[test]
fn running_partials_over_many_tiles_are_exact() {
    for s in [Schedule::Dense, Schedule::Cct] {
        let c = Case {
            queries: 64,
            seq: 64,
            tc: 8,
            q_block: 64,
            causal: true,
            ..case(s)
        };
        for bytes in [3072, 196_608] {
            let mut hw = HwConfig::default();
            hw.sram.token_bytes = bytes;
            hw.sram.weight_bytes = bytes;
            hw.sram.temp_bytes = bytes;
            let (p, _, err) = run(&c, &hw);
            assert!(err < 1e-5, "{s:?} {bytes} B: max error {err}");
            let (mut firsts, mut merged) = (0, 0);
            for i in &p.instrs {
                match i {
                    Instr::SufaT { acc: false, .. } => firsts += 1,
                    Instr::SufaT { acc: true, .. } => merged += 1,
                    Instr::SufaSync { tiles, .. } => assert_eq!(*tiles, 1, "{s:?}"),
                    _ => {}
                }
            }
            let syncs = p
                .instrs
                .iter()
                .filter(|i| matches!(i, Instr::SufaSync { .. }))
                .count();
            // One first tile and one SYNC per block; the causal tiles merge.
            assert_eq!(firsts, syncs, "{s:?} {bytes} B");
            assert!(merged > firsts, "{s:?} {bytes} B: {merged} merged tiles");
        }
    }
}

#[test]
fn masked_keys_are_never_attended_at_any_keep_ratio() {
    // Padded keys carry v = 1000: attending one would move an output far beyond the range
    // [−2, 2) of the other values.
    let hw = HwConfig::default();
    for s in SCHEDULES {
        for keep in [0.25, 1.0] {
            let c = Case {
                keep,
                poison: Some(1000.0),
                causal: true,
                ..case(s)
            };
            let (_, got, _) = run(&c, &hw);
            let worst = got.iter().fold(0f32, |m, x| m.max(x.abs()));
            assert!(worst <= 2.0, "{s:?} keep {keep}: |out| reaches {worst}");
        }
    }
}

#[test]
fn rows_without_a_visible_key_give_zeros() {
    // Left padding of 3 keys and causal masking: queries 0..3 see no key at all.
    let hw = HwConfig::default();
    for s in SCHEDULES {
        let c = Case {
            causal: true,
            left_pad: 3,
            ..case(s)
        };
        let (_, got, err) = run(&c, &hw);
        assert!(err < 1e-5, "{s:?}: max error {err}");
        assert!(got[..3 * 8].iter().all(|&x| x == 0.0), "{s:?}");
    }
}
