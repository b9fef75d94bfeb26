//! `--ablate` in the lowering: each ablation alone and all four together swap their mechanism
//! in the program (no DLZS.S but GEMMs under dlzs, one SADS per row block under sads,
//! `SUFA.T mode=fa2` under sufa, `RASS reuse=false` under rass) and still compute exact
//! attention at keep ratio 1 on the simulator (1e-5 against an f64 reference), pass
//! `Program::check` and leave every semaphore at 0 in the replay.
//!
//! Shape: B = 1, H = 2, S = 40, d = 8, `cct` with Tc = 3 (partial last tile), 8-row query
//! blocks; random q, k, v in [−2, 2); the padding mask excludes keys 35..40, whose value rows
//! are poisoned (1000) so an attended masked key shows at any keep ratio.

use std::collections::BTreeMap;

use sofa_compiler::lower::buffers::fit;
use sofa_compiler::lower::dram::DramLayout;
use sofa_compiler::lower::sync::replay_final;
use sofa_compiler::lower::{
    emit_segment, plan_layer, Layer, LowerDefaults, LowerError, MaskRef, SegmentPlan,
};
use sofa_ir::dialect::attn::{Ablation, AttnShape, MhaAttrs, Schedule, MHA};
use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{DType, Instr, Program, SufaMode, TensorKind};
use sofa_ir::module::RETURN_OP;
use sofa_ir::{Attribute, ElemType, Location, Module, OpSpec, TensorType, Type};
use sofa_runtime::sim::{simulate, SimOptions};

const HEADS: u64 = 2;
const SEQ: u64 = 40;
const D: u64 = 8;
const TC: u64 = 3;
const Q_BLOCK: u64 = 8;
const PADDED_FROM: u64 = 35;
const POISON: f32 = 1000.0;

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

fn ablation(text: &str) -> Ablation {
    Ablation::parse(text).unwrap()
}

/// The ablations under test: each alone, then all four.
fn variants() -> Vec<(&'static str, Ablation)> {
    ["dlzs", "sads", "sufa", "rass", "dlzs,sads,sufa,rass"]
        .into_iter()
        .map(|t| (t, ablation(t)))
        .collect()
}

fn layer(schedule: Schedule, ablate: Ablation, keep: f64, causal: bool) -> Layer {
    let tc = if schedule == Schedule::Staged { 1 } else { TC };
    let shape = AttnShape {
        causal,
        scale: 1.0 / (D as f32).sqrt(),
        ..AttnShape::new(1, HEADS, HEADS, SEQ, SEQ, D, DType::F32)
    };
    let plan = SegmentPlan {
        ablate,
        ..SegmentPlan::new(schedule, keep, tc, Q_BLOCK)
    };
    Layer::new("attn", shape, plan)
}

fn bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// softmax(scale·q·kᵀ + padding mask [+ causal]) · v in f64, `[1, H, S, d]`.
fn reference(causal: bool, q: &[f32], k: &[f32], v: &[f32]) -> Vec<f32> {
    let (s, d) = (SEQ as usize, D as usize);
    let scale = f64::from(1.0 / (D as f32).sqrt());
    let mut out = vec![0f32; HEADS as usize * s * d];
    for h in 0..HEADS as usize {
        let base = h * s * d;
        for i in 0..s {
            let visible = |j: usize| (j as u64) < PADDED_FROM && (!causal || j <= i);
            let score = |j: usize| {
                (0..d)
                    .map(|x| f64::from(q[base + i * d + x]) * f64::from(k[base + j * d + x]))
                    .sum::<f64>()
                    * scale
            };
            let m = (0..s)
                .filter(|&j| visible(j))
                .map(score)
                .fold(f64::NEG_INFINITY, f64::max);
            let w: Vec<f64> = (0..s)
                .map(|j| {
                    if visible(j) {
                        (score(j) - m).exp()
                    } else {
                        0.0
                    }
                })
                .collect();
            let l: f64 = w.iter().sum();
            for x in 0..d {
                let o: f64 = (0..s).map(|j| w[j] * f64::from(v[base + j * d + x])).sum();
                out[base + i * d + x] = (o / l) as f32;
            }
        }
    }
    out
}

/// Emits `l` (with q, k, v, o and the padding mask in DRAM) as one segment and HALT; checks
/// the program and its semaphore replay, simulates it. Returns the program, the output and
/// the reference.
fn run(mut l: Layer, hw: &HwConfig) -> (Program, Vec<f32>, Vec<f32>) {
    let mut dram = DramLayout::default();
    let mut add = |name: &str, kind, shape: Vec<u64>| {
        dram.add(name.into(), kind, DType::F32, shape, vec![])
            .unwrap()
    };
    let shape = vec![1, HEADS, SEQ, D];
    l.dram.q = add("attn.q", TensorKind::Input, shape.clone());
    l.dram.k = add("attn.k", TensorKind::Input, shape.clone());
    l.dram.v = add("attn.v", TensorKind::Input, shape.clone());
    l.dram.o = add("attn.out", TensorKind::Output, shape);
    l.dram.mask = Some(MaskRef {
        dram: add("attn.mask", TensorKind::Input, vec![1, 1, 1, SEQ]),
        batch_stride: SEQ * 4,
        head_stride: 0,
        row_stride: 0,
    });
    let mut rng = Rng(0x5eed_0123_4567_89ab);
    let q = rng.vec(HEADS * SEQ * D);
    let k = rng.vec(HEADS * SEQ * D);
    let mut v = rng.vec(HEADS * SEQ * D);
    for (i, e) in v.iter_mut().enumerate() {
        if (i as u64 / D) % SEQ >= PADDED_FROM {
            *e = POISON;
        }
    }
    let mask: Vec<f32> = (0..SEQ)
        .map(|j| {
            if j >= PADDED_FROM {
                f32::NEG_INFINITY
            } else {
                0.0
            }
        })
        .collect();
    let inputs: BTreeMap<String, Vec<u8>> = [
        ("attn.q".to_string(), bytes(&q)),
        ("attn.k".to_string(), bytes(&k)),
        ("attn.v".to_string(), bytes(&v)),
        ("attn.mask".to_string(), bytes(&mask)),
    ]
    .into();
    let mut instrs = Vec::new();
    emit_segment(hw, &l, &mut dram, &mut instrs).unwrap_or_else(|e| panic!("{e}"));
    instrs.push(Instr::Halt {});
    let p = Program {
        host_ops: Vec::new(),
        config_hash: hw.hash(),
        tensors: dram.tensors,
        instrs,
    };
    if let Err(e) = p.check(hw) {
        panic!("{:?}", &e[..e.len().min(3)]);
    }
    let sems = replay_final(&p).unwrap_or_else(|stuck| panic!("deadlock at {stuck:?}"));
    assert!(sems.values().all(|&c| c == 0), "semaphores left: {sems:?}");
    let got = simulate(&p, hw, &inputs, &SimOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
        .outputs
        .remove("attn.out")
        .unwrap();
    let got = got
        .chunks(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    (p, got, reference(l.shape.causal, &q, &k, &v))
}

fn max_err(got: &[f32], want: &[f32]) -> f32 {
    got.iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(
            0f32,
            |m, e| if e.is_nan() { f32::INFINITY } else { m.max(e) },
        )
}

fn count(p: &Program, f: impl Fn(&Instr) -> bool) -> usize {
    p.instrs.iter().filter(|i| f(i)).count()
}

/// What the program's instruction mix says about each mechanism.
struct Mix {
    dlzs: usize,
    gemm: usize,
    sads: usize,
    rass_reuse: usize,
    rass_in_order: usize,
    sorted: usize,
    fa2: usize,
}

fn mix(p: &Program) -> Mix {
    Mix {
        dlzs: count(p, |i| matches!(i, Instr::DlzsS { .. })),
        gemm: count(p, |i| matches!(i, Instr::Gemm { .. })),
        sads: count(p, |i| matches!(i, Instr::Sads { .. })),
        rass_reuse: count(p, |i| matches!(i, Instr::Rass { reuse: true, .. })),
        rass_in_order: count(p, |i| matches!(i, Instr::Rass { reuse: false, .. })),
        sorted: count(
            p,
            |i| matches!(i, Instr::SufaT { mode, .. } if *mode == SufaMode::Sorted),
        ),
        fa2: count(
            p,
            |i| matches!(i, Instr::SufaT { mode, .. } if *mode == SufaMode::Fa2),
        ),
    }
}

/// Row blocks of the whole-row (Tc = 1) layout of the layer.
fn whole_row_blocks(hw: &HwConfig, l: &Layer) -> usize {
    let mut one = l.clone();
    one.set_tc(1);
    let rows = fit(hw, &one).unwrap().rows_cap.min(Q_BLOCK);
    (HEADS * SEQ.div_ceil(rows)) as usize
}

#[test]
fn each_ablation_is_exact_at_keep_1() {
    let hw = HwConfig::default();
    for (name, a) in variants() {
        for causal in [false, true] {
            let (_, got, want) = run(layer(Schedule::Cct, a, 1.0, causal), &hw);
            let err = max_err(&got, &want);
            assert!(err < 1e-5, "{name} causal={causal}: max error {err}");
        }
    }
}

#[test]
fn ablations_at_keep_quarter_run_and_never_attend_masked_keys() {
    let hw = HwConfig::default();
    for (name, a) in variants() {
        let (_, got, _) = run(layer(Schedule::Cct, a, 0.25, true), &hw);
        let worst = got.iter().fold(0f32, |m, x| m.max(x.abs()));
        assert!(worst <= 2.0, "{name}: |out| reaches {worst}");
    }
}

#[test]
fn the_instruction_mix_shows_each_swap() {
    let hw = HwConfig::default();
    for keep in [1.0, 0.25] {
        let (base, _, _) = run(layer(Schedule::Cct, Ablation::default(), keep, false), &hw);
        let b = mix(&base);
        assert!(
            b.dlzs > 0 && b.sorted > 0 && b.rass_reuse > 0,
            "keep {keep}"
        );
        assert_eq!((b.gemm, b.fa2, b.rass_in_order), (0, 0, 0), "keep {keep}");
        for (name, a) in variants() {
            let l = layer(Schedule::Cct, a, keep, false);
            let blocks = whole_row_blocks(&hw, &l);
            let (p, _, _) = run(l, &hw);
            let m = mix(&p);
            let at = format!("{name} keep {keep}");
            if a.dlzs {
                assert_eq!(m.dlzs, 0, "{at}");
                assert!(m.gemm > 0, "{at}");
            } else {
                assert_eq!((m.dlzs > 0, m.gemm), (true, 0), "{at}");
            }
            if a.sads {
                assert_eq!(m.sads, blocks, "{at}: one SADS per row block");
                assert!(m.sads < b.sads, "{at}");
            } else {
                assert_eq!(m.sads, b.sads, "{at}");
            }
            if a.sufa {
                assert_eq!((m.sorted, m.fa2 > 0), (0, true), "{at}");
            } else {
                assert_eq!((m.sorted > 0, m.fa2), (true, 0), "{at}");
            }
            if a.rass {
                assert_eq!((m.rass_reuse, m.rass_in_order > 0), (0, true), "{at}");
            } else {
                assert_eq!((m.rass_reuse > 0, m.rass_in_order), (true, 0), "{at}");
            }
            if a.dlzs {
                // The GEMMs replace the DLZS.S one for one (per tile, or per row block).
                let predictions = if a.sads { blocks } else { b.dlzs };
                assert_eq!(m.gemm, predictions, "{at}");
            }
        }
    }
}

#[test]
fn in_order_issue_gathers_every_selected_entry() {
    // Without reuse the order list keeps duplicates: each SU-FA tile sees rows·sel slots
    // (more than the tile's keys) where RASS's shared order needs at most the tile.
    let hw = HwConfig::default();
    let (p, _, _) = run(layer(Schedule::Cct, ablation("rass"), 1.0, false), &hw);
    let mut seen = 0;
    for i in &p.instrs {
        if let Instr::SufaT {
            rows, sel, slots, ..
        } = i
        {
            assert_eq!(u32::from(*slots), u32::from(*rows) * u32::from(*sel));
            seen += 1;
        }
    }
    assert!(seen > 0);
    let gathered_more = p.instrs.iter().any(
        |i| matches!(i, Instr::Gather { max_rows, .. } if u64::from(*max_rows) > SEQ.div_ceil(TC)),
    );
    assert!(gathered_more, "no gather beyond one tile's keys");
}

#[test]
fn staged_honours_dlzs_and_rass_exactly() {
    let hw = HwConfig::default();
    let a = ablation("dlzs,rass,sufa,sads");
    let (p, got, want) = run(layer(Schedule::Staged, a, 1.0, true), &hw);
    let err = max_err(&got, &want);
    assert!(err < 1e-5, "staged: max error {err}");
    let m = mix(&p);
    assert_eq!((m.dlzs, m.rass_reuse, m.sorted), (0, 0, 0));
    assert!(m.gemm > 0 && m.rass_in_order > 0 && m.fa2 > 0);
}

#[test]
fn whole_row_selection_too_large_for_temp_sram_is_an_error() {
    let hw = HwConfig::default();
    let mut l = layer(Schedule::Cct, ablation("sads"), 1.0, true);
    l.shape.seq_k = 8192;
    // Per-tile selection fits in 16 tiles of 512 keys; the ablation ignores the tiling.
    l.set_tc(16);
    assert_eq!(l.bc(), 512);
    l.dram.mask = Some(MaskRef::default());
    // One row: 8192 keys × (f32 Â + f32 causal table + f32 mask) = 98304 B > 28 KiB.
    let e = emit_segment(&hw, &l, &mut DramLayout::default(), &mut Vec::new()).unwrap_err();
    match e {
        LowerError::Op { loc, message, .. } => {
            assert_eq!(loc, "attn");
            assert!(message.contains("98304 B"), "{message}");
            assert!(message.contains("sads"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
    // Without the ablation the same layer lowers (per-tile selection).
    l.plan.ablate = Ablation::default();
    emit_segment(&hw, &l, &mut DramLayout::default(), &mut Vec::new()).unwrap();
}

#[test]
fn plan_layer_carries_the_ablation_and_sads_plans_one_tile() {
    let q = Type::Tensor(TensorType::static_shape(&[1, 2, 40, 8], ElemType::F32));
    let mut m = Module::new();
    let (_, entry) = m.add_func("main", vec![q.clone(); 3], vec![q.clone()]);
    let args = m.blocks[entry].args.clone();
    let attrs = MhaAttrs {
        heads: 2,
        kv_heads: 2,
        head_dim: 8,
        scale: 0.35,
        causal: false,
        window: None,
    };
    let mut spec = OpSpec::new(MHA)
        .operands(args)
        .results([q])
        .loc(Location::name("enc/attn"))
        .attr("sofa.tc", Attribute::i64(3));
    for (k, a) in attrs.to_attrs() {
        spec = spec.attr(k, a);
    }
    let op = m.build_at_end(entry, spec);
    let r = m.result(op, 0);
    m.build_at_end(entry, OpSpec::new(RETURN_OP).operands([r]));
    let hw = HwConfig::default();
    let plan = |text: &str| {
        let defaults = LowerDefaults {
            ablate: ablation(text),
            ..LowerDefaults::default()
        };
        plan_layer(&m, op, 0, &hw, &defaults).unwrap()
    };
    let rass = plan("rass,sufa");
    assert_eq!(rass.plan.ablate, ablation("rass,sufa"));
    assert_eq!((rass.plan.tc, rass.bc()), (3, 14));
    let sads = plan("sads");
    assert_eq!((sads.plan.tc, sads.bc(), sads.plan.tc_fixed), (1, 40, true));
}
