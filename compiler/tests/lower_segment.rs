//! `emit_segment`: one attention op as a self-contained segment, as the whole-model lowering
//! uses it — masks under every schedule, semaphore balance, the segment protocol, GQA with
//! partial tiles and causal skipping, and the instruction mix per schedule.
//!
//! The shape (GQA, partial tiles, Sq ≠ Sk): B = 2, H = 4 over 2 kv heads, Sq = 20, Sk = 23,
//! d = 8, Tc = 2 (Bc = 12: tiles of 12 and 11 keys), 8-row query blocks (8, 8, 4 rows).
//! Causal, top-left: the blocks see 8, 16 and 20 keys: tiles {8}, {12, 4}, {12, 8}; the
//! diagonal ones (needing the causal table) are all but block 2's first: 1 + 2 + 1.
//! `cct` and `dense` blocks stack the two query heads of a KV head (16, 16 and 8 rows), so
//! they run per (batch, KV head) unit; `staged` runs per query head.

use std::collections::BTreeMap;

use sofa_compiler::lower::dram::DramLayout;
use sofa_compiler::lower::sync::{done_sem, go_sem, replay_final, RESERVED};
use sofa_compiler::lower::{emit_segment, Layer, MaskRef, SegmentPlan};
use sofa_ir::dialect::attn::{AttnShape, Schedule};
use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{DType, Engine, Instr, Program, TensorKind};

const HEADS: u64 = 2 * 4;
/// (batch, KV head) pairs, each stacking its group of 2 query heads.
const UNITS: u64 = 2 * 2;
const GROUP: u64 = 2;
const BLOCKS: u64 = 3;
const TILES: u64 = 1 + 2 + 2;
const DIAGONAL: u64 = 1 + 2 + 1;

fn layer(schedule: Schedule, causal: bool, keep: f64) -> Layer {
    let shape = AttnShape {
        causal,
        scale: 0.25,
        ..AttnShape::new(2, 4, 2, 20, 23, 8, DType::F32)
    };
    let tc = if schedule == Schedule::Staged { 1 } else { 2 };
    Layer::new("enc/attn", shape, SegmentPlan::new(schedule, keep, tc, 8))
}

/// Allocates q, k, v, o (and a `[B, 1, 1, Sk]` padding mask when `mask`) and emits `l` as one
/// segment, then HALT.
fn program(mut l: Layer, mask: bool) -> Program {
    let hw = HwConfig::default();
    let mut dram = DramLayout::default();
    let mut add = |name: &str, kind, shape: Vec<u64>| {
        dram.add(name.into(), kind, DType::F32, shape, vec![])
            .unwrap()
    };
    l.dram.q = add("x.q", TensorKind::Input, vec![2, 4, 20, 8]);
    l.dram.k = add("x.k", TensorKind::Input, vec![2, 2, 23, 8]);
    l.dram.v = add("x.v", TensorKind::Input, vec![2, 2, 23, 8]);
    l.dram.o = add("x.out", TensorKind::Output, vec![2, 4, 20, 8]);
    if mask {
        l.dram.mask = Some(MaskRef {
            dram: add("x.mask", TensorKind::Input, vec![2, 1, 1, 23]),
            batch_stride: 23 * 4,
            head_stride: 0,
            row_stride: 0,
        });
    }
    let mut instrs = Vec::new();
    emit_segment(&hw, &l, &mut dram, &mut instrs).unwrap();
    instrs.push(Instr::Halt {});
    Program {
        host_ops: Vec::new(),
        config_hash: hw.hash(),
        tensors: dram.tensors,
        instrs,
    }
}

fn counts(p: &Program) -> BTreeMap<&'static str, u64> {
    let mut c = BTreeMap::new();
    for i in &p.instrs {
        *c.entry(i.opcode().mnemonic()).or_default() += 1;
    }
    c.remove("SIGNAL");
    c.remove("WAIT");
    c.remove("HALT");
    c
}

fn all_cases() -> Vec<(Schedule, bool, bool, f64)> {
    let mut v = Vec::new();
    for s in [Schedule::Dense, Schedule::Staged, Schedule::Cct] {
        for causal in [false, true] {
            for mask in [false, true] {
                for keep in [0.25, 1.0] {
                    v.push((s, causal, mask, keep));
                }
            }
        }
    }
    v
}

#[test]
fn every_segment_checks_and_leaves_all_semaphores_at_zero() {
    let hw = HwConfig::default();
    for (s, causal, mask, keep) in all_cases() {
        let what = format!("{s:?} causal={causal} mask={mask} keep={keep}");
        let p = program(layer(s, causal, keep), mask);
        if let Err(e) = p.check(&hw) {
            panic!("{what}: {:?}", &e[..e.len().min(3)]);
        }
        let finals = replay_final(&p).unwrap_or_else(|stuck| panic!("{what}: stuck at {stuck:?}"));
        assert!(finals.values().all(|&c| c == 0), "{what}: {finals:?}");
        // DMA's last instruction is the output's final ST (rows 16..20 of the last head).
        let last_dma = p
            .instrs
            .iter()
            .rev()
            .find(|i| i.engine() == Engine::Dma)
            .unwrap();
        let o = p.tensors.iter().find(|t| t.name == "x.out").unwrap().dram;
        let want = o + ((8 - 1) * 20 + 16) * 8 * 4;
        assert!(
            matches!(last_dma, Instr::St { dst, rows: 4, .. } if dst.0 == want),
            "{what}: {last_dma:?}"
        );
    }
}

#[test]
fn segments_open_and_close_with_the_reserved_handshakes() {
    let limit = HwConfig::default().control.semaphores;
    let p = program(layer(Schedule::Cct, true, 0.25), true);
    let engines = [
        Engine::Dlzs,
        Engine::Sads,
        Engine::Sufa,
        Engine::Vec,
        Engine::Ctrl,
    ];
    // DMA starts every other engine; each engine's first instruction waits for it.
    for e in engines {
        let go = go_sem(limit, e).unwrap();
        let first = p.instrs.iter().find(|i| i.engine() == e).unwrap();
        assert_eq!(first, &Instr::Wait { engine: e, sem: go }, "{e:?}");
        let last = p
            .instrs
            .iter()
            .rev()
            .find(|i| i.engine() == e && **i != Instr::Halt {})
            .unwrap();
        let done = done_sem(limit).unwrap();
        assert_eq!(
            last,
            &Instr::Signal {
                engine: e,
                sem: done
            },
            "{e:?}"
        );
    }
    // Channel semaphores stay below the reserved ones.
    let reserved: Vec<u16> = Engine::ALL
        .iter()
        .filter_map(|&e| go_sem(limit, e))
        .chain(done_sem(limit))
        .collect();
    assert_eq!(reserved.len() as u32, RESERVED);
    for i in &p.instrs {
        if let Instr::Signal { sem, .. } | Instr::Wait { sem, .. } = i {
            assert!(reserved.contains(sem) || u32::from(*sem) < limit - RESERVED);
        }
    }
    assert_eq!(go_sem(limit, Engine::Dma), None);
}

#[test]
fn two_segments_back_to_back_replay_and_get_their_own_spills() {
    let hw = HwConfig::default();
    let mut dram = DramLayout::default();
    let mut l = layer(Schedule::Staged, true, 0.25);
    l.dram.q = dram
        .add(
            "x.q".into(),
            TensorKind::Input,
            DType::F32,
            vec![2, 4, 20, 8],
            vec![],
        )
        .unwrap();
    l.dram.k = dram
        .add(
            "x.k".into(),
            TensorKind::Input,
            DType::F32,
            vec![2, 2, 23, 8],
            vec![],
        )
        .unwrap();
    l.dram.v = l.dram.k;
    l.dram.o = dram
        .add(
            "x.out".into(),
            TensorKind::Output,
            DType::F32,
            vec![2, 4, 20, 8],
            vec![],
        )
        .unwrap();
    let mut instrs = Vec::new();
    emit_segment(&hw, &l, &mut dram, &mut instrs).unwrap();
    emit_segment(&hw, &l, &mut dram, &mut instrs).unwrap();
    instrs.push(Instr::Halt {});
    let p = Program {
        host_ops: Vec::new(),
        config_hash: hw.hash(),
        tensors: dram.tensors,
        instrs,
    };
    p.check(&hw).unwrap();
    assert!(replay_final(&p).unwrap().values().all(|&c| c == 0));
    let names: Vec<&str> = p.tensors.iter().map(|t| t.name.as_str()).collect();
    assert!(names.contains(&"enc/attn.spill.ahat") && names.contains(&"enc/attn#2.spill.ahat"));
}

#[test]
fn cct_gqa_partial_tiles_causal_and_mask_counts() {
    let p = program(layer(Schedule::Cct, true, 0.25), true);
    let per_unit = |pairs: &[(&'static str, u64)]| -> BTreeMap<&'static str, u64> {
        pairs.iter().map(|&(k, v)| (k, v * UNITS)).collect()
    };
    // Per block: LD Q and ST O per stacked head, one VEC.AFFINE and SUFA.SYNC. Per tile: LD
    // K̂ and the broadcast mask row (one stride-0 LD for both heads), DLZS.S, VEC.ADD of the
    // mask, SADS, RASS, 2 GATHER, SUFA.T; diagonal tiles add the causal table (one LD per
    // head + VEC.ADD).
    let want = per_unit(&[
        ("LD", GROUP * BLOCKS + 2 * TILES + GROUP * DIAGONAL),
        ("VEC.AFFINE", BLOCKS),
        ("DLZS.S", TILES),
        ("VEC.ADD", TILES + DIAGONAL),
        ("SADS", TILES),
        ("RASS", TILES),
        ("GATHER", 2 * TILES),
        ("SUFA.T", TILES),
        ("SUFA.SYNC", BLOCKS),
        ("ST", GROUP * BLOCKS),
    ]);
    assert_eq!(counts(&p), want);
    // Tile widths of head 0: 8 | 12, 4 | 12, 8 (the last tile of a row is partial).
    let widths: Vec<u32> = p
        .instrs
        .iter()
        .filter_map(|i| match i {
            Instr::DlzsS { n, .. } => Some(*n),
            _ => None,
        })
        .take(5)
        .collect();
    assert_eq!(widths, [8, 12, 4, 12, 8]);
    // GQA: query heads 0, 1 share kv head 0 and heads 2, 3 kv head 1 (batch 1: kv rows 2, 3):
    // block 0's K̂ load (8 keys from key 0) reads each kv head's rows once.
    let k = p.tensors.iter().find(|t| t.name == "x.k").unwrap().dram;
    let first_khat: Vec<u64> = p
        .instrs
        .iter()
        .filter_map(|i| match i {
            Instr::Ld { src, rows: 8, .. }
                if src.0 >= k && src.0 < k + 4 * 23 * 32 && (src.0 - k) % (23 * 32) == 0 =>
            {
                Some((src.0 - k) / (23 * 32))
            }
            _ => None,
        })
        .collect();
    assert_eq!(first_khat, [0, 1, 2, 3]);
    // The 16 stacked rows of a block: Q rows 0..8 of heads 0 and 1 into consecutive halves.
    let q = p.tensors.iter().find(|t| t.name == "x.q").unwrap().dram;
    let q_loads: Vec<(u64, u32, u32)> = p
        .instrs
        .iter()
        .filter_map(|i| match i {
            Instr::Ld { src, dst, rows, .. } if src.0 >= q && src.0 < q + HEADS * 20 * 32 => {
                Some((src.0 - q, dst.offset, *rows))
            }
            _ => None,
        })
        .take(2)
        .collect();
    assert_eq!(q_loads[0].0 + 20 * 32, q_loads[1].0);
    assert_eq!(q_loads[0].1 + 8 * 32, q_loads[1].1);
    assert_eq!((q_loads[0].2, q_loads[1].2), (8, 8));
    // The padding mask is broadcast over rows: stride-0 loads of batch b's row at k0.
    let m = p.tensors.iter().find(|t| t.name == "x.mask").unwrap().dram;
    let mask_loads: Vec<(u64, u32, u32)> = p
        .instrs
        .iter()
        .filter_map(|i| match i {
            Instr::Ld {
                src,
                row_bytes,
                stride,
                ..
            } if src.0 >= m && src.0 < m + 2 * 92 => Some((src.0 - m, *row_bytes, *stride)),
            _ => None,
        })
        .collect();
    assert_eq!(mask_loads.len() as u64, TILES * UNITS);
    assert_eq!(&mask_loads[..3], &[(0, 32, 0), (0, 48, 0), (48, 16, 0)]);
    assert_eq!(mask_loads[5 * 2], (92, 32, 0));
}

#[test]
fn dense_has_no_prediction_and_selects_whole_mask_tiles() {
    let p = program(layer(Schedule::Dense, true, 0.25), true);
    let c = counts(&p);
    assert_eq!(c.get("DLZS.S"), None);
    assert_eq!(c.get("RASS"), None);
    assert_eq!(c.get("GATHER"), None);
    // One SADS per tile over the combined mask: every column, base 0, no radius, f32.
    let sads: Vec<(u32, u16, u32, f32)> = p
        .instrs
        .iter()
        .filter_map(|i| match i {
            Instr::Sads {
                n,
                sel,
                base,
                radius,
                dt: DType::F32,
                ..
            } => Some((*n, *sel, *base, *radius)),
            _ => None,
        })
        .collect();
    assert_eq!(sads.len() as u64, TILES * UNITS);
    assert!(sads
        .iter()
        .all(|&(n, sel, base, r)| u32::from(sel) == n && base == 0 && r == f32::INFINITY));
    // VEC: the Q scale per block, the combined mask per tile (ADD on diagonal tiles, a copy
    // elsewhere); LD: Q per stacked head, K, V, the broadcast mask row once and the causal
    // table per stacked head on diagonal tiles.
    assert_eq!(c["VEC.ADD"], DIAGONAL * UNITS);
    assert_eq!(c["VEC.AFFINE"], (BLOCKS + TILES - DIAGONAL) * UNITS);
    assert_eq!(
        c["LD"],
        (GROUP * BLOCKS + 3 * TILES + GROUP * DIAGONAL) * UNITS
    );
    // Without a mask: the constant slot tables (per stacked head) instead, no selection.
    let plain = counts(&program(layer(Schedule::Dense, true, 0.25), false));
    assert_eq!(plain.get("SADS"), None);
    assert_eq!(plain["LD"], (GROUP * BLOCKS + (2 + GROUP) * TILES) * UNITS);
}

#[test]
fn staged_spills_the_predicted_scores_and_partials() {
    let p = program(layer(Schedule::Staged, true, 0.25), true);
    let addr = |name: &str| p.tensors.iter().find(|t| t.name == name).unwrap().dram;
    let (ahat, a) = (addr("enc/attn.spill.ahat"), addr("enc/attn.spill.a"));
    let st_to = |at: u64| {
        p.instrs
            .iter()
            .filter(|i| matches!(i, Instr::St { dst, .. } if dst.0 == at))
            .count() as u64
    };
    assert_eq!(st_to(ahat), BLOCKS * HEADS);
    assert_eq!(st_to(a), BLOCKS * HEADS);
    // Â is f32 (masked scores), one row of the 23 keys per query.
    let t = p
        .tensors
        .iter()
        .find(|t| t.name == "enc/attn.spill.ahat")
        .unwrap();
    assert_eq!((t.dtype, &t.shape[..]), (DType::F32, &[8, 23][..]));
    // One whole-row selection per block over its visible keys: 8, 16, 20.
    let sels: Vec<(u32, u16)> = p
        .instrs
        .iter()
        .filter_map(|i| match i {
            Instr::Sads { n, sel, .. } => Some((*n, *sel)),
            _ => None,
        })
        .take(3)
        .collect();
    assert_eq!(sels, [(8, 2), (16, 4), (20, 5)]);
}

#[test]
fn keep_one_selects_every_visible_key_and_scale_comes_from_the_op() {
    for s in [Schedule::Cct, Schedule::Staged] {
        let p = program(layer(s, true, 1.0), true);
        for i in &p.instrs {
            if let Instr::Sads { n, sel, radius, .. } = i {
                assert_eq!((u32::from(*sel), *radius), (*n, f32::INFINITY), "{s:?}");
            }
            if let Instr::VecAffine { mul, .. } = i {
                assert_eq!(*mul, 0.25, "{s:?}");
            }
        }
        let f32_scores = p.instrs.iter().all(|i| match i {
            Instr::DlzsS { qt, kt, ot, .. } => {
                (*qt, *kt, *ot) == (DType::F32, DType::F32, DType::F32)
            }
            _ => true,
        });
        assert!(f32_scores, "{s:?}");
    }
}
