//! Additive score biases inside attention (T5's relative position bias, ALiBi, any finite
//! mask): prediction selects on the biased Â and SU-FA adds the bias to the selected keys'
//! exact scores (`SUFA.BIAS`). Attention ops with a bias mask are lowered by `lower_model`,
//! simulated, and compared with the reference interpreter (1e-5, f32) under `cct`, `staged`
//! and `dense`, at shapes whose key count is no multiple of the tile width and with Sq ≠ Sk;
//! at keep 0.25 a bias that favours a few keys per tile must get exactly those attended, as the
//! reference `attn.sparse_mha` (which selects on biased scores too) does. A mask of exclusions
//! only still lowers without `SUFA.BIAS`.

mod fuse_attention_util;

use std::collections::BTreeMap;

use fuse_attention_util::{dims, random, G};
use sofa_compiler::lower::model::lower_model;
use sofa_compiler::lower::sync::replay;
use sofa_compiler::lower::LowerDefaults;
use sofa_ir::attr::{AttrDict, Attribute};
use sofa_ir::dialect::attn::{
    Ablation, MhaAttrs, Plan, Rounding, Schedule, SparseMhaAttrs, MHA, SPARSE_MHA,
};
use sofa_ir::eval::Tensor;
use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{Instr, Opcode, Program};
use sofa_ir::Module;
use sofa_runtime::sim::{simulate, Mode, SimOptions};

const SCHEDULES: [Schedule; 3] = [Schedule::Cct, Schedule::Staged, Schedule::Dense];

/// (Sq, Sk): square, more keys than queries, more queries than keys; none a multiple of the
/// tile width (Tc = 3).
const SHAPES: [(u64, u64); 3] = [(20, 20), (12, 29), (33, 17)];

#[derive(Clone, Copy)]
struct Case {
    heads: u64,
    kv_heads: u64,
    sq: u64,
    sk: u64,
    d: u64,
    tc: u64,
    q_block: u64,
    causal: bool,
    scale: f64,
    keep: f64,
}

fn case(sq: u64, sk: u64) -> Case {
    Case {
        heads: 2,
        kv_heads: 2,
        sq,
        sk,
        d: 8,
        tc: 3,
        q_block: 8,
        causal: false,
        scale: 1.0,
        keep: 1.0,
    }
}

/// T5's bidirectional relative-position bucket of key `j` for query `i` (8 buckets, max
/// distance 16).
fn t5_bucket(i: u64, j: u64) -> usize {
    let (buckets, max_distance) = (8i64, 16f64);
    let rel = j as i64 - i as i64;
    let half = buckets / 2;
    let base = if rel > 0 { half } else { 0 };
    let (rel, exact) = (rel.abs(), half / 2);
    let bucket = if rel < exact {
        rel
    } else {
        let log = (rel as f64 / exact as f64).ln() / (max_distance / exact as f64).ln();
        (exact + (log * (half - exact) as f64) as i64).min(half - 1)
    };
    (base + bucket) as usize
}

/// A T5 position bias `[1, H, Sq, Sk]`: one learned value per (head, bucket).
fn t5_bias(c: &Case) -> Vec<f32> {
    let table = random(&[c.heads as usize, 8], 77).to_f64_vec();
    every(c, |h, i, j| {
        2.0 * table[h as usize * 8 + t5_bucket(i, j)] as f32
    })
}

/// ALiBi `[1, H, Sq, Sk]`: −m_h·(i − j) with the slopes 2^(−8(h+1)/H).
fn alibi_bias(c: &Case) -> Vec<f32> {
    every(c, |h, i, j| {
        let m = 2f64.powf(-8.0 * (h + 1) as f64 / c.heads as f64);
        (-m * (i as f64 - j as f64)) as f32
    })
}

/// The two keys of `tile` (of `width` keys) that query `i` of head `h` favours.
fn favoured(h: u64, i: u64, tile: u64, width: u64) -> [u64; 2] {
    let a = (i * 5 + h * 3 + tile) % width;
    let b = (a + 1 + (i + h) % (width - 1)) % width;
    [a, b]
}

/// Two keys per key tile biased by a small value, every other key by −10⁴: at keep 0.25 the
/// quota of each tile (4 of 10 keys with Sk = 37, Tc = 3) holds the favoured keys only when
/// selection sees the bias, and the others weigh nothing once SU-FA adds it.
fn favouring_bias(c: &Case) -> Vec<f32> {
    let bc = c.sk.div_ceil(c.tc);
    let noise = random(&[(c.heads * c.sq * c.sk) as usize], 5).to_f64_vec();
    every(c, |h, i, j| {
        let (tile, width) = (j / bc, bc.min(c.sk - j / bc * bc));
        if favoured(h, i, tile, width).contains(&(j % bc)) {
            0.5 * noise[((h * c.sq + i) * c.sk + j) as usize] as f32
        } else {
            -1e4
        }
    })
}

fn every(c: &Case, f: impl Fn(u64, u64, u64) -> f32) -> Vec<f32> {
    let mut v = Vec::new();
    for h in 0..c.heads {
        for i in 0..c.sq {
            for j in 0..c.sk {
                v.push(f(h, i, j));
            }
        }
    }
    v
}

/// How the bias reaches the op.
#[derive(Clone, Copy, PartialEq)]
enum Feed {
    /// An `onnx.Constant` operand.
    Constant,
    /// A function input (values known only at run time).
    Input,
}

/// `@main(q, k, v[, bias])` with one attention op over `bias` (`[1, H, Sq, Sk]`), planned as
/// `schedule` with `Tc`, the query block (and keep ratio) of `c`.
fn module(c: &Case, schedule: Schedule, bias: &[f32], feed: Feed) -> Module {
    let mut shapes = vec![
        dims(&[1, c.heads, c.sq, c.d]),
        dims(&[1, c.kv_heads, c.sk, c.d]),
        dims(&[1, c.kv_heads, c.sk, c.d]),
    ];
    if feed == Feed::Input {
        shapes.push(dims(&[1, c.heads, c.sq, c.sk]));
    }
    let (mut g, a) = G::new(17, &shapes);
    let mask = match feed {
        Feed::Constant => g.f32s(&[1, c.heads, c.sq, c.sk], bias),
        Feed::Input => a[3],
    };
    let mha = MhaAttrs {
        heads: c.heads as i64,
        kv_heads: c.kv_heads as i64,
        head_dim: c.d as i64,
        scale: c.scale,
        causal: c.causal,
        window: None,
    };
    let (name, mut attrs) = if c.keep < 1.0 {
        let sparse = SparseMhaAttrs {
            mha,
            keep_ratio: c.keep,
            tiles: c.tc as i64,
            radius: None,
            rounding: Rounding::Floor,
            pred_bits: 4,
        };
        (SPARSE_MHA, sparse.to_attrs())
    } else {
        (MHA, mha.to_attrs())
    };
    let mut plan = AttrDict::new();
    Plan {
        schedule: Some(schedule),
        tc: Some(c.tc),
        q_block: Some(c.q_block),
        ablate: None,
        kv: None,
    }
    .to_attrs(&mut plan);
    attrs.extend(plan.iter().map(|(k, v)| (k.as_str(), v.clone())));
    let o = g.op(name, &[a[0], a[1], a[2], mask], &attrs);
    let mut m = g.finish(&[o]);
    let func = m.funcs()[0];
    let props = &mut m.op_mut(func).props;
    props.insert(
        "arg_attrs".into(),
        names(&["q", "k", "v", "bias"][..shapes.len()]),
    );
    props.insert("res_attrs".into(), names(&["out"]));
    m
}

/// ONNX names for a function signature.
fn names(names: &[&str]) -> Attribute {
    Attribute::Array(
        names
            .iter()
            .map(|n| {
                let mut d = AttrDict::new();
                d.insert("onnx.name".into(), Attribute::string(*n));
                Attribute::Dict(d)
            })
            .collect(),
    )
}

fn inputs(c: &Case, bias: &[f32], feed: Feed) -> BTreeMap<String, Tensor> {
    let mut m = BTreeMap::from([
        (
            "q".to_string(),
            random(&[1, c.heads as usize, c.sq as usize, c.d as usize], 1),
        ),
        (
            "k".to_string(),
            random(&[1, c.kv_heads as usize, c.sk as usize, c.d as usize], 2),
        ),
        (
            "v".to_string(),
            random(&[1, c.kv_heads as usize, c.sk as usize, c.d as usize], 3),
        ),
    ]);
    if feed == Feed::Input {
        let shape = vec![1, c.heads as usize, c.sq as usize, c.sk as usize];
        m.insert(
            "bias".into(),
            Tensor::from_f32(shape, bias.to_vec()).unwrap(),
        );
    }
    m
}

/// Lower `m`, check and replay it, simulate it on `ins`; (program, max |sim − reference|).
fn run(m: &Module, ins: &BTreeMap<String, Tensor>, schedule: Schedule) -> (Program, f64) {
    run_on(&HwConfig::default(), m, ins, schedule)
}

/// [`run`] on `hw`.
fn run_on(
    hw: &HwConfig,
    m: &Module,
    ins: &BTreeMap<String, Tensor>,
    schedule: Schedule,
) -> (Program, f64) {
    let want = sofa_runtime::interp::run_function(m, ins).unwrap();
    let defaults = LowerDefaults {
        schedule,
        ..LowerDefaults::default()
    };
    let p = lower_model(m, hw, &defaults).unwrap_or_else(|e| panic!("{e}"));
    if let Err(e) = p.check(hw) {
        panic!("{schedule:?}: {}", e[0]);
    }
    replay(&p).unwrap_or_else(|stuck| panic!("{schedule:?}: deadlock at {stuck:?}"));
    let raw = ins.iter().map(|(k, t)| (k.clone(), t.to_bytes())).collect();
    let got = simulate(&p, hw, &raw, &SimOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let mut worst = 0f64;
    for (name, w) in &want {
        let g = Tensor::from_bytes(&w.tensor_type(), &got.outputs[name]).unwrap();
        for (a, b) in g.to_f64_vec().iter().zip(w.to_f64_vec()) {
            let e = (a - b).abs();
            worst = if e.is_nan() {
                f64::INFINITY
            } else {
                worst.max(e)
            };
        }
    }
    (p, worst)
}

fn count(p: &Program, op: Opcode) -> usize {
    p.instrs.iter().filter(|i| i.opcode() == op).count()
}

#[test]
fn t5_position_bias_is_exact_under_every_schedule() {
    for s in SCHEDULES {
        for (sq, sk) in SHAPES {
            let c = case(sq, sk);
            let bias = t5_bias(&c);
            let (p, err) = run(
                &module(&c, s, &bias, Feed::Constant),
                &inputs(&c, &bias, Feed::Constant),
                s,
            );
            assert!(err < 1e-5, "{s:?} {sq}x{sk}: max error {err}");
            assert!(count(&p, Opcode::SufaBias) > 0, "{s:?}: no SUFA.BIAS");
            assert_eq!(
                count(&p, Opcode::SufaBias),
                count(&p, Opcode::SufaT),
                "{s:?}"
            );
        }
    }
}

#[test]
fn alibi_with_causal_masking_and_gqa_is_exact_under_every_schedule() {
    for s in SCHEDULES {
        for (sq, sk) in SHAPES {
            let c = Case {
                heads: 4,
                kv_heads: 2,
                causal: true,
                scale: 1.0 / 8f64.sqrt(),
                ..case(sq, sk)
            };
            let bias = alibi_bias(&c);
            let (_, err) = run(
                &module(&c, s, &bias, Feed::Constant),
                &inputs(&c, &bias, Feed::Constant),
                s,
            );
            assert!(err < 1e-5, "{s:?} {sq}x{sk}: max error {err}");
        }
    }
}

#[test]
fn a_bias_fed_at_run_time_is_loaded_in_place_and_exact() {
    for s in SCHEDULES {
        let c = Case {
            causal: true,
            ..case(12, 29)
        };
        let bias = t5_bias(&c);
        let m = module(&c, s, &bias, Feed::Input);
        let (p, err) = run(&m, &inputs(&c, &bias, Feed::Input), s);
        assert!(err < 1e-5, "{s:?}: max error {err}");
        assert!(
            !p.tensors.iter().any(|t| t.name.ends_with(".mask")),
            "{s:?}: a dense f32 input needs no copy"
        );
    }
}

#[test]
fn selection_at_keep_a_quarter_sees_the_bias() {
    for s in SCHEDULES {
        let c = Case {
            keep: 0.25,
            scale: 0.5,
            ..case(16, 37)
        };
        let bias = favouring_bias(&c);
        let (_, err) = run(
            &module(&c, s, &bias, Feed::Constant),
            &inputs(&c, &bias, Feed::Constant),
            s,
        );
        assert!(err < 1e-5, "{s:?}: max error {err}");
    }
}

#[test]
fn staged_sub_lists_read_their_rows_of_the_bias() {
    // SRAMs so small that staged attends each row's 40 keys in several sub-lists: each
    // SUFA.BIAS reads its row of the chunk's reloaded bias, at the list's offset into that
    // row's SADS output.
    let c = Case {
        causal: true,
        ..case(16, 40)
    };
    // T5's bias: ALiBi's rows differ by a constant, which the softmax would not notice.
    let bias = t5_bias(&c);
    let m = module(&c, Schedule::Staged, &bias, Feed::Constant);
    let defaults = LowerDefaults {
        schedule: Schedule::Staged,
        ..LowerDefaults::default()
    };
    let one_row_lists = |p: &Program| {
        p.instrs
            .iter()
            .filter(|i| matches!(i, sofa_ir::isa::Instr::SufaBias { rows: 1, .. }))
            .count() as u64
    };
    // A chunk of several rows, each in several lists: a list's bias row is not the chunk's
    // first.
    let merges_rows_of_lists = |p: &Program| {
        p.instrs.iter().any(|i| {
            matches!(i, sofa_ir::isa::Instr::SufaSync { rows, tiles, .. } if *rows > 1 && *tiles > 1)
        })
    };
    let hw = (4..256)
        .map(|n| {
            let mut hw = HwConfig::default();
            hw.sram.token_bytes = n * 64;
            hw.sram.weight_bytes = n * 64;
            hw.sram.temp_bytes = n * 64;
            hw
        })
        .find(|hw| {
            lower_model(&m, hw, &defaults)
                .is_ok_and(|p| one_row_lists(&p) > c.sq && merges_rows_of_lists(&p))
        })
        .expect("no SRAM size makes staged cut its lists");
    let (p, err) = run_on(
        &hw,
        &m,
        &inputs(&c, &bias, Feed::Constant),
        Schedule::Staged,
    );
    assert!(err < 1e-5, "max error {err}");
    assert_eq!(count(&p, Opcode::SufaBias), count(&p, Opcode::SufaT));
}

#[test]
fn biased_tiles_merge_into_running_partials_with_small_srams() {
    // SRAMs that only fit short row blocks: every tile after a block's first merges its biased
    // partials into the running ones (SUFA.T acc after its SUFA.BIAS).
    for s in [Schedule::Cct, Schedule::Dense] {
        let c = Case {
            tc: 5,
            q_block: 40,
            causal: true,
            ..case(40, 40)
        };
        let bias = t5_bias(&c);
        let m = module(&c, s, &bias, Feed::Constant);
        let mut hw = HwConfig::default();
        hw.sram.token_bytes = 4096;
        hw.sram.weight_bytes = 4096;
        hw.sram.temp_bytes = 4096;
        let defaults = LowerDefaults {
            schedule: s,
            ..LowerDefaults::default()
        };
        let p = lower_model(&m, &hw, &defaults).unwrap_or_else(|e| panic!("{s:?}: {e}"));
        let merged = p
            .instrs
            .iter()
            .filter(|i| matches!(i, Instr::SufaT { acc: true, .. }))
            .count();
        assert!(merged > 0, "{s:?}: no tile merged into running partials");
        let (_, err) = run_on(&hw, &m, &inputs(&c, &bias, Feed::Constant), s);
        assert!(err < 1e-5, "{s:?}: max error {err}");
    }
}

#[test]
fn every_ablation_keeps_the_bias_exact() {
    // dlzs: GEMM predicts; sads: one whole-row tile; sufa: the FA-2 update; rass: every
    // query's keys issued apart (SUFA.BIAS's entries follow the slots either way).
    let c = Case {
        causal: true,
        ..case(20, 29)
    };
    let bias = t5_bias(&c);
    let ablations = [
        Ablation {
            dlzs: true,
            ..Ablation::default()
        },
        Ablation {
            sads: true,
            ..Ablation::default()
        },
        Ablation {
            sufa: true,
            ..Ablation::default()
        },
        Ablation {
            rass: true,
            ..Ablation::default()
        },
    ];
    for a in ablations {
        let mut m = module(&c, Schedule::Cct, &bias, Feed::Constant);
        let op = m
            .all_ops()
            .into_iter()
            .find(|&o| m.op(o).name == MHA)
            .unwrap();
        Plan {
            ablate: Some(a),
            ..Plan::default()
        }
        .to_attrs(&mut m.op_mut(op).attrs);
        let (_, err) = run(&m, &inputs(&c, &bias, Feed::Constant), Schedule::Cct);
        assert!(err < 1e-5, "{a:?}: max error {err}");
    }
}

#[test]
fn exclusion_masks_need_no_bias_prefix() {
    // 0 / −inf (and float32's lowest) only: SADS never selects the excluded keys, so SU-FA's
    // exact scores need nothing added.
    for s in SCHEDULES {
        let c = case(20, 20);
        let mask = every(&c, |h, i, j| match (h + i + j) % 5 {
            0 => f32::NEG_INFINITY,
            1 => f32::MIN,
            _ => 0.0,
        });
        let (p, err) = run(
            &module(&c, s, &mask, Feed::Constant),
            &inputs(&c, &mask, Feed::Constant),
            s,
        );
        assert!(err < 1e-5, "{s:?}: max error {err}");
        assert_eq!(count(&p, Opcode::SufaBias), 0, "{s:?}");
    }
}

#[test]
fn timing_only_runs_charge_the_bias_prefixes_to_su_fa() {
    // The same program without its SUFA.BIAS prefixes is valid too (every SUFA.T then goes
    // unbiased); the difference in SU-FA busy cycles, ops and Temp SRAM reads is theirs.
    let c = case(20, 20);
    let bias = t5_bias(&c);
    let hw = HwConfig::default();
    let p = lower_model(
        &module(&c, Schedule::Cct, &bias, Feed::Constant),
        &hw,
        &LowerDefaults::default(),
    )
    .unwrap();
    let mut bare = p.clone();
    bare.instrs.retain(|i| i.opcode() != Opcode::SufaBias);
    let opts = SimOptions {
        mode: Mode::TimingOnly,
        ..SimOptions::default()
    };
    let report = |p: &Program| simulate(p, &hw, &BTreeMap::new(), &opts).unwrap().report;
    let (with, without) = (report(&p), report(&bare));
    let sufa = |r: &sofa_runtime::sim::Report| {
        let e = r.engines.iter().find(|e| e.engine == "sufa").unwrap();
        (e.instructions, e.busy_cycles)
    };
    let prefixes: Vec<_> = p
        .instrs
        .iter()
        .filter(|i| i.opcode() == Opcode::SufaBias)
        .collect();
    let cycles: u64 = prefixes.iter().map(|i| i.cycles(&hw).unwrap()).sum();
    let (n, busy) = sufa(&with);
    let (n0, busy0) = sufa(&without);
    assert_eq!((n - n0, busy - busy0), (prefixes.len() as u64, cycles));
    let entries: u64 = prefixes
        .iter()
        .map(|i| match i {
            sofa_ir::isa::Instr::SufaBias { rows, sel, .. } => u64::from(*rows) * u64::from(*sel),
            _ => 0,
        })
        .sum();
    assert_eq!(with.ops.executed - without.ops.executed, entries);
    // Each entry reads its index word and fetches one f32 bias value.
    let temp_read =
        |r: &sofa_runtime::sim::Report| r.sram.iter().map(|t| t.read_bytes).sum::<u64>();
    assert_eq!(temp_read(&with) - temp_read(&without), entries * 8);
}
