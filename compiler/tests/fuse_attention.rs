//! `fuse-attention` on the exported fixtures (exact `attn.mha` counts and attributes, no Softmax
//! left, same numbers before and after) and on hand-built IR for the spellings we have no
//! export of: Div by √d, T5 (no scale, position bias), Llama (RoPE, GQA through
//! Unsqueeze/Expand/Reshape, causal constant mask), cross attention, opset-23 Attention, and
//! candidates that must be left alone with a reason.

mod onnx_common;
#[path = "fuse_attention_util/mod.rs"]
mod util;

use std::time::Instant;

use onnx_common::{models_dir, FIXTURES};
use sofa_compiler::onnx::{import_file, ImportOptions};
use sofa_compiler::passes::fuse_attention::{fuse_attention, FuseReport, Limits};
use sofa_compiler::passes::registry;
use sofa_ir::attr::Attribute;
use sofa_ir::dialect::attn::MhaAttrs;
use sofa_ir::dialect::DialectRegistry;
use sofa_ir::eval::Tensor;
use sofa_ir::pass::PassContext;
use sofa_ir::{Dim, ElemType, Location, Module, TensorType, Type};
use util::{count, dims, fixture_feeds, interpret, max_diff, mhas, random, G};

fn import(name: &str) -> Module {
    let path = models_dir().join(format!("{name}.onnx"));
    import_file(&path, &ImportOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The acceptance pipeline (shape-infer only when some helper has registered it).
fn pipeline() -> &'static str {
    if registry().lookup("shape-infer").is_some() {
        "shape-infer,canonicalize,fuse-attention"
    } else {
        "canonicalize,fuse-attention"
    }
}

fn run_pipeline(m: &mut Module, pipeline: &str) {
    let dialects = DialectRegistry::with_core_dialects();
    for mut p in registry().build(pipeline).expect("pipeline builds") {
        let mut cx = PassContext::new(&dialects);
        p.run(m, &mut cx).expect("pass runs");
    }
    sofa_ir::verify::verify(m, &dialects).expect("valid IR after the pipeline");
}

/// Run the fusion directly and verify the result.
fn fuse(m: &mut Module) -> FuseReport {
    let dialects = DialectRegistry::with_core_dialects();
    let report = fuse_attention(m, &dialects, &Limits::default());
    if let Err(e) = sofa_ir::verify::verify(m, &dialects) {
        panic!("invalid IR after fuse-attention: {e:?}");
    }
    report
}

fn attrs(m: &Module) -> Vec<MhaAttrs> {
    mhas(m)
        .into_iter()
        .map(|op| MhaAttrs::of(m, op).expect("attrs"))
        .collect()
}

/// Feeds for a fixture: batch 2, sequence 7, token ids in the 1000-word vocabulary, the last
/// row's mask right-padded, random pixels.
fn fixture_inputs(m: &Module) -> Vec<Tensor> {
    let dim = |d: &Dim| match d {
        Dim::Static(n) => *n as usize,
        Dim::Named(n) if n == "batch" => 2,
        _ => 7,
    };
    fixture_feeds(m, dim, 2, random)
}

#[test]
fn every_fixture_block_becomes_one_mha() {
    for name in FIXTURES {
        let mut m = import(name);
        run_pipeline(&mut m, pipeline());
        assert_eq!(count(&m, "attn.mha"), 2, "{name}: attention blocks fused");
        assert_eq!(count(&m, "onnx.Softmax"), 0, "{name}: Softmax left");
        // What the models' configs say (tests/fixtures/models/README.md).
        let (kv_heads, causal, window) = match name {
            n if n.starts_with("qwen2") => (2, true, None),
            n if n.starts_with("mistral") => (1, true, Some(5)),
            n => (4, n.starts_with("gpt2"), None),
        };
        for a in attrs(&m) {
            assert_eq!(
                (a.heads, a.kv_heads, a.head_dim),
                (4, kv_heads, 32),
                "{name}"
            );
            assert!(
                (a.scale - 0.176_776_69).abs() < 1e-6,
                "{name}: scale {}",
                a.scale
            );
            assert_eq!(
                (a.causal, a.window),
                (causal, window),
                "{name}: causal band"
            );
        }
    }
}

/// The decoder fixtures with RoPE keep their K/V head layout and mask band through fusion:
/// Qwen2 (dynamo SDPA: repeat_kv through an `allowzero` Reshape, Kᵀ through a flattened swap)
/// has 2 kv heads; Mistral (eager) has 1 kv head and a sliding window of 5 keys.
#[test]
fn rope_fixtures_fuse_with_kv_heads_and_window() {
    let cases = [
        ("qwen2_gqa_rope_sdpa_dynamo_op18", 2, None),
        ("mistral_swa_eager_ts_op17", 1, Some(5)),
    ];
    for (name, kv_heads, window) in cases {
        let mut m = import(name);
        run_pipeline(&mut m, pipeline());
        assert_eq!(count(&m, "attn.mha"), 2, "{name}: attention blocks fused");
        for a in attrs(&m) {
            assert_eq!(
                (a.heads, a.kv_heads, a.head_dim),
                (4, kv_heads, 32),
                "{name}"
            );
            assert!(a.causal, "{name}: causal");
            assert_eq!(a.window, window, "{name}: window");
        }
    }
}

#[test]
fn fused_fixtures_compute_the_same_outputs() {
    for name in FIXTURES {
        let original = import(name);
        let mut fused = original.clone();
        run_pipeline(&mut fused, pipeline());
        let inputs = fixture_inputs(&original);
        let want = interpret(&original, &inputs);
        let got = interpret(&fused, &inputs);
        for (w, g) in want.iter().zip(&got) {
            let d = max_diff(w, g);
            assert!(d < 1e-4, "{name}: max |diff| {d}");
        }
    }
}

#[test]
fn fixtures_import_and_fuse_quickly() {
    // Release builds must stay well under 50 ms; debug builds get a looser bound.
    let bound_ms = if cfg!(debug_assertions) { 2000 } else { 50 };
    for name in FIXTURES {
        let start = Instant::now();
        let mut m = import(name);
        let report = fuse(&mut m);
        let ms = start.elapsed().as_millis();
        assert_eq!(report.fused, 2, "{name}");
        assert!(ms < bound_ms, "{name}: import + fuse took {ms} ms");
        assert_eq!(
            report.stops.get("stop-saturated"),
            Some(&2),
            "{name}: {report:?}"
        );
        assert!(
            report.egraph_nodes_max < 500,
            "{name}: e-graph of {} nodes",
            report.egraph_nodes_max
        );
    }
}

// ---- hand-built spellings ---------------------------------------------------------------

fn perm(p: &[i64]) -> (&'static str, Attribute) {
    ("perm", Attribute::i64_array(p))
}

fn axis(a: i64) -> (&'static str, Attribute) {
    ("axis", Attribute::i64(a))
}

/// Fuse, check nothing else changed numerically on random inputs, return the report.
fn fuse_and_compare(m: &Module, inputs: &[Tensor]) -> (Module, FuseReport) {
    let mut fused = m.clone();
    let report = fuse(&mut fused);
    let (want, got) = (interpret(m, inputs), interpret(&fused, inputs));
    for (w, g) in want.iter().zip(&got) {
        let d = max_diff(w, g);
        assert!(d < 1e-5, "max |diff| {d}");
    }
    (fused, report)
}

#[test]
fn div_by_sqrt_spelling() {
    let (mut g, a) = G::new(
        17,
        &[
            dims(&[2, 2, 5, 8]),
            dims(&[2, 2, 5, 8]),
            dims(&[2, 2, 5, 8]),
        ],
    );
    let kt = g.op("onnx.Transpose", &[a[1]], &[perm(&[0, 1, 3, 2])]);
    let s = g.op("onnx.MatMul", &[a[0], kt], &[]);
    let eight = g.scalar(8.0);
    let root = g.op("onnx.Sqrt", &[eight], &[]);
    let d = g.op("onnx.Div", &[s, root], &[]);
    let p = g.op("onnx.Softmax", &[d], &[axis(-1)]);
    let o = g.op("onnx.MatMul", &[p, a[2]], &[]);
    let m = g.finish(&[o]);
    let inputs: Vec<Tensor> = (0..3).map(|i| random(&[2, 2, 5, 8], i)).collect();
    let (f, report) = fuse_and_compare(&m, &inputs);
    assert_eq!((report.fused, count(&f, "onnx.Softmax")), (1, 0));
    let a = &attrs(&f)[0];
    assert_eq!(
        (a.heads, a.kv_heads, a.head_dim, a.causal),
        (2, 2, 8, false)
    );
    assert!((a.scale - 1.0 / 8f64.sqrt()).abs() < 1e-6, "{}", a.scale);
    // K is the transposed operand's input: no new op needed.
    assert_eq!(f.op(mhas(&f)[0]).operands.len(), 3);
}

#[test]
fn t5_unscaled_with_position_bias() {
    let (mut g, a) = G::new(
        17,
        &[
            dims(&[1, 4, 6, 16]),
            dims(&[1, 4, 6, 16]),
            dims(&[1, 4, 6, 16]),
            dims(&[1, 4, 6, 6]),
        ],
    );
    let kt = g.op("onnx.Transpose", &[a[1]], &[perm(&[0, 1, 3, 2])]);
    let s = g.op("onnx.MatMul", &[a[0], kt], &[]);
    let biased = g.op("onnx.Add", &[a[3], s], &[]);
    let p = g.op("onnx.Softmax", &[biased], &[axis(3)]);
    let o = g.op("onnx.MatMul", &[p, a[2]], &[]);
    let m = g.finish(&[o]);
    let inputs: Vec<Tensor> = (0..4)
        .map(|i| random(&[1, 4, 6, if i == 3 { 6 } else { 16 }], i))
        .collect();
    let (f, report) = fuse_and_compare(&m, &inputs);
    assert_eq!(report.fused, 1);
    let op = mhas(&f)[0];
    let a = MhaAttrs::of(&f, op).unwrap();
    assert_eq!((a.scale, a.causal, a.heads), (1.0, false, 4));
    let bias = f.blocks[f.entry_block(f.funcs()[0]).unwrap()].args[3];
    assert_eq!(
        f.op(op).operands[3],
        bias,
        "the position bias is the mask operand"
    );
}

/// `x` [1, S, 64] projected and split into `heads` heads of 8, then rotated (RoPE as
/// Slice/Neg/Concat/Mul/Add).
fn llama_heads(
    g: &mut G,
    x: sofa_ir::Value,
    heads: i64,
    seed: u64,
    cos: sofa_ir::Value,
    sin: sofa_ir::Value,
) -> sofa_ir::Value {
    let w = random(&[64, (heads * 8) as usize], seed);
    let w = g.f32s(&[64, heads as u64 * 8], w.as_f32().unwrap());
    let p = g.op("onnx.MatMul", &[x, w], &[]);
    let shape = g.i64s(&[1, 6, heads, 8]);
    let r = g.op("onnx.Reshape", &[p, shape], &[]);
    let t = g.op("onnx.Transpose", &[r], &[perm(&[0, 2, 1, 3])]);
    let (lo, mid, hi, ax) = (g.i64s(&[0]), g.i64s(&[4]), g.i64s(&[8]), g.i64s(&[3]));
    let x1 = g.op("onnx.Slice", &[t, lo, mid, ax], &[]);
    let x2 = g.op("onnx.Slice", &[t, mid, hi, ax], &[]);
    let n2 = g.op("onnx.Neg", &[x2], &[]);
    let rot = g.op("onnx.Concat", &[n2, x1], &[axis(-1)]);
    let a = g.op("onnx.Mul", &[t, cos], &[]);
    let b = g.op("onnx.Mul", &[rot, sin], &[]);
    g.op("onnx.Add", &[a, b], &[])
}

/// GQA as transformers' `repeat_kv`: Unsqueeze(2) → Expand → Reshape.
fn repeat_kv(g: &mut G, x: sofa_ir::Value, n: i64) -> sofa_ir::Value {
    let two = g.i64s(&[2]);
    let u = g.op("onnx.Unsqueeze", &[x, two], &[]);
    let s5 = g.i64s(&[1, 2, n, 6, 8]);
    let e = g.op("onnx.Expand", &[u, s5], &[]);
    let s4 = g.i64s(&[1, 2 * n, 6, 8]);
    g.op("onnx.Reshape", &[e, s4], &[])
}

/// A Llama-style block: 8 query heads, `kv` kv heads repeated by `repeat`, RoPE, and a
/// constant additive `[1, 1, 6, 6]` mask hiding key j from query i unless `visible(i, j)`.
fn llama_block_with(
    visible: impl Fn(usize, usize) -> bool,
    kv: i64,
    repeat: fn(&mut G, sofa_ir::Value, i64, i64) -> sofa_ir::Value,
) -> Module {
    let (mut g, a) = G::new(17, &[dims(&[1, 6, 64])]);
    let angles: Vec<f32> = (0..48).map(|i| (i as f32 * 0.37).sin()).collect();
    let cos_v: Vec<f32> = angles.iter().map(|x| x.cos()).collect();
    let sin_v: Vec<f32> = angles.iter().map(|x| x.sin()).collect();
    let cos = g.f32s(&[6, 8], &cos_v);
    let sin = g.f32s(&[6, 8], &sin_v);
    let q = llama_heads(&mut g, a[0], 8, 1, cos, sin);
    let k = llama_heads(&mut g, a[0], kv, 2, cos, sin);
    let v = {
        let w = random(&[64, kv as usize * 8], 3);
        let w = g.f32s(&[64, kv as u64 * 8], w.as_f32().unwrap());
        let p = g.op("onnx.MatMul", &[a[0], w], &[]);
        let shape = g.i64s(&[1, 6, kv, 8]);
        let r = g.op("onnx.Reshape", &[p, shape], &[]);
        g.op("onnx.Transpose", &[r], &[perm(&[0, 2, 1, 3])])
    };
    let n = 8 / kv;
    let (k4, v4) = (repeat(&mut g, k, kv, n), repeat(&mut g, v, kv, n));
    let kt = g.op("onnx.Transpose", &[k4], &[perm(&[0, 1, 3, 2])]);
    let s = g.op("onnx.MatMul", &[q, kt], &[]);
    let scale = g.scalar(1.0 / 8f32.sqrt());
    let scaled = g.op("onnx.Mul", &[s, scale], &[]);
    let mask: Vec<f32> = (0..36)
        .map(|x| if visible(x / 6, x % 6) { 0.0 } else { f32::MIN })
        .collect();
    let mask = g.f32s(&[1, 1, 6, 6], &mask);
    let masked = g.op("onnx.Add", &[scaled, mask], &[]);
    let p = g.op("onnx.Softmax", &[masked], &[axis(-1)]);
    let o = g.op("onnx.MatMul", &[p, v4], &[]);
    g.finish(&[o])
}

/// [`llama_block_with`] 2 kv heads repeated as transformers' `repeat_kv` does.
fn llama_block(visible: impl Fn(usize, usize) -> bool) -> Module {
    llama_block_with(visible, 2, |g, x, _, n| repeat_kv(g, x, n))
}

/// The repetition spellings other than Unsqueeze/Expand/Reshape: `Tile` of the unsqueezed
/// heads, and for one kv head `Tile`, `Expand` or `Concat` along the head axis. Each keeps the
/// kv head count.
#[test]
fn tile_concat_and_single_head_repetitions_keep_kv_heads() {
    type Repeat = fn(&mut G, sofa_ir::Value, i64, i64) -> sofa_ir::Value;
    let tile_unsqueezed: Repeat = |g, x, kv, n| {
        let two = g.i64s(&[2]);
        let u = g.op("onnx.Unsqueeze", &[x, two], &[]);
        let reps = g.i64s(&[1, 1, n, 1, 1]);
        let t = g.op("onnx.Tile", &[u, reps], &[]);
        let s4 = g.i64s(&[1, kv * n, 6, 8]);
        g.op("onnx.Reshape", &[t, s4], &[])
    };
    let tile_heads: Repeat = |g, x, _, n| {
        let reps = g.i64s(&[1, n, 1, 1]);
        g.op("onnx.Tile", &[x, reps], &[])
    };
    let expand_heads: Repeat = |g, x, _, n| {
        let shape = g.i64s(&[1, n, 6, 8]);
        g.op("onnx.Expand", &[x, shape], &[])
    };
    let concat_heads: Repeat = |g, x, _, n| {
        let copies = vec![x; n as usize];
        g.op("onnx.Concat", &copies, &[axis(1)])
    };
    let cases: [(&str, i64, Repeat); 4] = [
        ("tile of unsqueezed heads", 2, tile_unsqueezed),
        ("tile of one head", 1, tile_heads),
        ("expand of one head", 1, expand_heads),
        ("concat of one head", 1, concat_heads),
    ];
    for (name, kv, repeat) in cases {
        let m = llama_block_with(|i, j| j <= i, kv, repeat);
        let (f, report) = fuse_and_compare(&m, &[random(&[1, 6, 64], 9)]);
        assert_eq!(report.fused, 1, "{name}: {:?}", report.unfused_lines());
        let a = MhaAttrs::of(&f, mhas(&f)[0]).unwrap();
        assert_eq!((a.heads, a.kv_heads), (8, kv), "{name}");
    }
}

#[test]
fn llama_gqa_rope_and_causal_constant_mask() {
    let m = llama_block(|i, j| j <= i);
    let (f, report) = fuse_and_compare(&m, &[random(&[1, 6, 64], 9)]);
    assert_eq!(report.fused, 1, "{:?}", report.unfused_lines());
    let op = mhas(&f)[0];
    let a = MhaAttrs::of(&f, op).unwrap();
    assert_eq!((a.heads, a.kv_heads, a.head_dim, a.causal), (8, 2, 8, true));
    assert_eq!(a.window, None);
    assert_eq!(
        f.op(op).operands.len(),
        3,
        "a purely causal mask is dropped"
    );
    assert_eq!(
        count(&f, "onnx.Expand"),
        0,
        "the KV repetition died with the chain"
    );
}

/// Mistral's sliding window as a constant band (each query sees itself and the 2 keys before
/// it) becomes `window = 3`; the mask goes, and the fused op computes what the band did.
#[test]
fn sliding_window_band_becomes_the_window_attribute() {
    let m = llama_block(|i, j| j <= i && i < j + 3);
    let (f, report) = fuse_and_compare(&m, &[random(&[1, 6, 64], 9)]);
    assert_eq!(report.fused, 1, "{:?}", report.unfused_lines());
    let op = mhas(&f)[0];
    let a = MhaAttrs::of(&f, op).unwrap();
    assert_eq!((a.kv_heads, a.causal, a.window), (2, true, Some(3)));
    assert_eq!(f.op(op).operands.len(), 3, "the band mask is dropped");
}

/// A band that is not causal (keys after the query visible) is no window: the mask stays.
#[test]
fn a_non_causal_band_keeps_its_mask() {
    let m = llama_block(|i, j| j + 2 >= i && j <= i + 1);
    let (f, report) = fuse_and_compare(&m, &[random(&[1, 6, 64], 9)]);
    assert_eq!(report.fused, 1, "{:?}", report.unfused_lines());
    let op = mhas(&f)[0];
    let a = MhaAttrs::of(&f, op).unwrap();
    assert_eq!((a.causal, a.window), (false, None));
    assert_eq!(f.op(op).operands.len(), 4, "the mask stays an operand");
}

#[test]
fn dynamo_sdpa_spelling_with_flattened_key_transpose_and_causal_mask() {
    let (mut g, a) = G::new(
        18,
        &[
            dims(&[2, 4, 6, 8]),
            dims(&[2, 4, 6, 8]),
            dims(&[2, 4, 6, 8]),
        ],
    );
    // torchlib: Kᵀ through a flattened batch, sqrt(scale) on Q and on Kᵀ.
    let c = g.scalar(1.0 / 8f32.sqrt());
    let root = g.op("onnx.Sqrt", &[c], &[]);
    let qs = g.op("onnx.Mul", &[a[0], root], &[]);
    let flat = g.i64s(&[-1, 6, 8]);
    let kr = g.op("onnx.Reshape", &[a[1], flat], &[]);
    let kt3 = g.op("onnx.Transpose", &[kr], &[perm(&[0, 2, 1])]);
    let back = g.i64s(&[2, 4, 8, 6]);
    let kt = g.op("onnx.Reshape", &[kt3, back], &[]);
    let kts = g.op("onnx.Mul", &[kt, root], &[]);
    let s = g.op("onnx.MatMul", &[qs, kts], &[]);
    // The causal mask from the query length: Trilu(ones) → Where(== 0, -inf, 0).
    let shape = g.op("onnx.Shape", &[a[0]], &[]);
    let two = g.i64s(&[2]);
    let len = g.op("onnx.Gather", &[shape, two], &[axis(0)]);
    let sq = g.op("onnx.Concat", &[len, len], &[axis(0)]);
    let one = Attribute::Dense(sofa_ir::attr::DenseAttr::from_f32(&[1], &[1.0]).unwrap());
    let ones = g.op("onnx.ConstantOfShape", &[sq], &[("value", one)]);
    let tri = g.op("onnx.Trilu", &[ones], &[("upper", Attribute::i64(0))]);
    let zero = g.scalar(0.0);
    let hidden = g.op("onnx.Equal", &[tri, zero], &[]);
    let ninf = g.scalar(f32::NEG_INFINITY);
    let mask = g.op("onnx.Where", &[hidden, ninf, zero], &[]);
    let masked = g.op("onnx.Add", &[s, mask], &[]);
    let p = g.op("onnx.Softmax", &[masked], &[axis(-1)]);
    let o = g.op("onnx.MatMul", &[p, a[2]], &[]);
    let m = g.finish(&[o]);
    let inputs: Vec<Tensor> = (0..3).map(|i| random(&[2, 4, 6, 8], 20 + i)).collect();
    let (f, report) = fuse_and_compare(&m, &inputs);
    assert_eq!(report.fused, 1, "{:?}", report.unfused_lines());
    let op = mhas(&f)[0];
    let a = MhaAttrs::of(&f, op).unwrap();
    assert_eq!((a.heads, a.head_dim, a.causal), (4, 8, true));
    assert!((a.scale - 1.0 / 8f64.sqrt()).abs() < 1e-6, "{}", a.scale);
    assert_eq!(
        f.op(op).operands.len(),
        3,
        "the mask is exactly causal and dropped"
    );
    assert_eq!(
        f.op(op).operands[1],
        f.blocks[f.entry_block(f.funcs()[0]).unwrap()].args[1]
    );
}

#[test]
fn cross_attention_with_different_lengths() {
    let (mut g, a) = G::new(
        17,
        &[
            dims(&[2, 4, 3, 16]),
            dims(&[2, 4, 7, 16]),
            dims(&[2, 4, 7, 12]),
            dims(&[2, 1, 1, 7]),
        ],
    );
    let kt = g.op("onnx.Transpose", &[a[1]], &[perm(&[0, 1, 3, 2])]);
    let s = g.op("onnx.MatMul", &[a[0], kt], &[]);
    let c = g.scalar(0.25);
    let scaled = g.op("onnx.Mul", &[c, s], &[]);
    let masked = g.op("onnx.Add", &[scaled, a[3]], &[]);
    let p = g.op("onnx.Softmax", &[masked], &[axis(-1)]);
    let o = g.op("onnx.MatMul", &[p, a[2]], &[]);
    let m = g.finish(&[o]);
    let inputs = vec![
        random(&[2, 4, 3, 16], 1),
        random(&[2, 4, 7, 16], 2),
        random(&[2, 4, 7, 12], 3),
        random(&[2, 1, 1, 7], 4),
    ];
    let (f, report) = fuse_and_compare(&m, &inputs);
    assert_eq!(report.fused, 1);
    let op = mhas(&f)[0];
    let a = MhaAttrs::of(&f, op).unwrap();
    assert_eq!(
        (a.heads, a.head_dim, a.scale, a.causal),
        (4, 16, 0.25, false)
    );
    assert_eq!(
        f.value_type(f.result(op, 0)),
        &Type::Tensor(TensorType::static_shape(&[2, 4, 3, 12], ElemType::F32))
    );
}

#[test]
fn opset23_attention_with_3d_inputs_is_mapped_directly() {
    let mut types: Vec<TensorType> = [[2, 5, 32], [2, 7, 16], [2, 7, 16]]
        .iter()
        .map(|d| TensorType::static_shape(d, ElemType::F32))
        .collect();
    types.push(TensorType::static_shape(&[5, 7], ElemType::I1));
    let (mut g, a) = G::with_types(23, types);
    let heads = [
        ("q_num_heads", Attribute::i64(4)),
        ("kv_num_heads", Attribute::i64(2)),
    ];
    let y = g.op_n("onnx.Attention", &a, &heads, 1)[0];
    let m = g.finish(&[y]);
    let keep: Vec<bool> = (0..35).map(|i| i % 7 == 0 || i % 3 != 0).collect();
    let inputs = vec![
        random(&[2, 5, 32], 1),
        random(&[2, 7, 16], 2),
        random(&[2, 7, 16], 3),
        Tensor::from_bool(vec![5, 7], keep).unwrap(),
    ];
    let (f, report) = fuse_and_compare(&m, &inputs);
    assert_eq!((report.fused, count(&f, "onnx.Attention")), (1, 0));
    let a = &attrs(&f)[0];
    assert_eq!(
        (a.heads, a.kv_heads, a.head_dim, a.causal),
        (4, 2, 8, false)
    );
    assert!((a.scale - 1.0 / 8f64.sqrt()).abs() < 1e-6);
    assert_eq!(
        (count(&f, "onnx.Reshape"), count(&f, "onnx.Transpose")),
        (4, 4)
    );
}

/// Causality that the opset-23 op carries in `attn_mask` rather than `is_causal`: a constant
/// top-left pattern gives `causal`, a band gives the window too, and the mask goes.
#[test]
fn opset23_attention_reads_causality_and_windows_from_attn_mask() {
    for (window, want) in [(None, None), (Some(3), Some(3))] {
        let types: Vec<TensorType> = [[1, 4, 6, 8], [1, 2, 6, 8], [1, 2, 6, 8]]
            .iter()
            .map(|d| TensorType::static_shape(d, ElemType::F32))
            .collect();
        let (mut g, a) = G::with_types(23, types);
        let visible = |i: usize, j: usize| j <= i && window.is_none_or(|w| i < j + w);
        let mask: Vec<f32> = (0..36)
            .map(|x| {
                if visible(x / 6, x % 6) {
                    0.0
                } else {
                    f32::NEG_INFINITY
                }
            })
            .collect();
        let mask = g.f32s(&[6, 6], &mask);
        let y = g.op_n("onnx.Attention", &[a[0], a[1], a[2], mask], &[], 1)[0];
        let m = g.finish(&[y]);
        let inputs = vec![
            random(&[1, 4, 6, 8], 1),
            random(&[1, 2, 6, 8], 2),
            random(&[1, 2, 6, 8], 3),
        ];
        let (f, report) = fuse_and_compare(&m, &inputs);
        assert_eq!(report.fused, 1);
        let op = mhas(&f)[0];
        let a = MhaAttrs::of(&f, op).unwrap();
        assert_eq!(
            (a.kv_heads, a.causal, a.window),
            (2, true, want),
            "{window:?}"
        );
        assert_eq!(
            f.op(op).operands.len(),
            3,
            "{window:?}: the mask is dropped"
        );
    }
}

// ---- left alone, with a reason ---------------------------------------------------------------

/// Build scores → Softmax → MatMul(V) from `scores_of(g, q, k)` and check the candidate is
/// refused with `kind`, leaving the IR as it was.
fn assert_refused(
    v_heads: u64,
    kind: &str,
    scores_of: impl Fn(&mut G, &[sofa_ir::Value]) -> (sofa_ir::Value, i64),
) {
    let (mut g, a) = G::new(
        17,
        &[
            dims(&[1, 4, 5, 8]),
            dims(&[1, 1, 5, 8]),
            dims(&[1, v_heads, 5, 8]),
            dims(&[1]),
        ],
    );
    let (s, ax) = scores_of(&mut g, &a);
    let p = g.op("onnx.Softmax", &[s], &[axis(ax)]);
    let o = g.op("onnx.MatMul", &[p, a[2]], &[]);
    let m = g.finish(&[o]);
    let before = sofa_ir::text::print_module(&m);
    let mut f = m.clone();
    let report = fuse(&mut f);
    assert_eq!(report.fused, 0);
    assert_eq!(report.unfused.len(), 1);
    assert_eq!(report.unfused[0].kind, kind, "{:?}", report.unfused_lines());
    assert!(
        matches!(&report.unfused[0].anchor, Location::Name(n) if n.starts_with("onnx.Softmax"))
    );
    let line = &report.unfused_lines()[0];
    assert!(
        line.starts_with("onnx.Softmax_") && line.ends_with(&format!("({kind})")),
        "{line}"
    );
    assert_eq!(
        sofa_ir::text::print_module(&f),
        before,
        "a refused candidate is left untouched"
    );
}

fn qkt(g: &mut G, a: &[sofa_ir::Value]) -> sofa_ir::Value {
    let kt = g.op("onnx.Transpose", &[a[1]], &[perm(&[0, 1, 3, 2])]);
    g.op("onnx.MatMul", &[a[0], kt], &[])
}

#[test]
fn softmax_over_another_axis_is_refused() {
    assert_refused(4, "unfused-softmax-axis", |g, a| (qkt(g, a), 1));
}

#[test]
fn non_constant_scale_is_refused() {
    assert_refused(4, "unfused-scale", |g, a| {
        let s = qkt(g, a);
        (g.op("onnx.Mul", &[s, a[3]], &[]), -1)
    });
}

#[test]
fn mismatched_head_counts_are_refused() {
    // K broadcasts one head over Q's four, but V has four: no single kv_heads describes it.
    assert_refused(4, "unfused-shapes", |g, a| (qkt(g, a), -1));
}

#[test]
fn statistics_report_sizes_and_stop_reasons() {
    let mut m = import("bert_eager_ts_op17");
    let dialects = DialectRegistry::with_core_dialects();
    let mut pass = registry()
        .build("fuse-attention{max-iterations=2}")
        .unwrap()
        .remove(0);
    let mut cx = PassContext::new(&dialects);
    pass.run(&mut m, &mut cx).unwrap();
    assert_eq!(cx.stats.get("blocks-found"), 2);
    assert_eq!(cx.stats.get("stop-iteration-limit"), 2, "{:?}", cx.stats);
    assert!(cx.stats.get("egraph-nodes") > 0 && cx.stats.get("egraph-classes") > 0);
    assert_eq!(cx.stats.get("egraph-iterations"), 4);
    assert_eq!(
        cx.stats.get("blocks-fused") + cx.stats.get("blocks-unfused"),
        2
    );
}
