//! `lower_model` on the op families of current LLM exports, op by op: reductions, comparisons and
//! masks, Cos/Sin, GatherND/ScatterND, Tile, Trilu, RMS normalisation (the op and the spelled-out
//! form), SiLU, RoPE (rotate-half spelling and opset-23 `RotaryEmbedding`), and ops evaluated at
//! compile time. Each module runs on the host reference interpreter and, lowered to one SOFA
//! program, on the simulator, at several shapes and on deterministic random inputs; outputs must
//! agree to 1e-5.

mod common;

use std::collections::BTreeMap;

use sofa_ir::eval::Tensor;

fn random(shape: &[usize], seed: u64) -> Tensor {
    let n = shape.iter().product();
    Tensor::from_f32(shape.to_vec(), common::random_values(n, seed)).unwrap()
}

/// Integers in `0..bound`.
fn random_ints(shape: &[usize], bound: i64, seed: u64) -> Tensor {
    let n = shape.iter().product();
    let v = common::random_values(n, seed)
        .into_iter()
        .map(|x| (((x + 1.0) / 2.0) * bound as f32) as i64 % bound)
        .collect();
    Tensor::from_i64(shape.to_vec(), v).unwrap()
}

/// `tensor<AxBxf32>` for a shape.
fn ty(shape: &[usize], elem: &str) -> String {
    if shape.is_empty() {
        return format!("tensor<{elem}>");
    }
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("tensor<{}x{elem}>", dims.join("x"))
}

/// `@main(args) -> results` around `body` at `opset`.
fn module(
    opset: i64,
    args: &[(&str, String)],
    body: &str,
    rets: &[(&str, &str, String)],
) -> String {
    let args: Vec<(&str, &str)> = args.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let rets: Vec<(&str, &str, &str)> = rets.iter().map(|(n, v, t)| (*n, *v, t.as_str())).collect();
    common::ops::module(opset, &args, body, &rets)
}

/// Interpret and simulate `src`; every output within 1e-5 (NaN where the reference has NaN).
/// Returns the program's instruction count per mnemonic.
fn agree(src: &str, inputs: &[(&str, Tensor)]) -> BTreeMap<&'static str, usize> {
    let ran = common::ops::run_both(src, inputs);
    for (k, (g, w)) in &ran.outputs {
        let (gv, wv) = (g.to_f64_vec(), w.to_f64_vec());
        assert_eq!(g.shape(), w.shape(), "'{k}'");
        for (i, (a, b)) in gv.iter().zip(&wv).enumerate() {
            let same_nan = a.is_nan() && b.is_nan();
            assert!(
                same_nan || (a - b).abs() <= 1e-5,
                "'{k}'[{i}]: simulated {a}, reference {b}\n{src}"
            );
        }
    }
    ran.counts
}

/// `v` as a nested MLIR dense literal of `shape` (`[[1, 2], [3, 4]]`).
fn nested<T: std::fmt::Display>(v: &[T], shape: &[usize]) -> String {
    match shape {
        [] => v[0].to_string(),
        [n] => {
            let items: Vec<String> = v[..*n].iter().map(|x| x.to_string()).collect();
            format!("[{}]", items.join(", "))
        }
        [n, rest @ ..] => {
            let inner: usize = rest.iter().product();
            let parts: Vec<String> = (0..*n)
                .map(|i| nested(&v[i * inner..(i + 1) * inner], rest))
                .collect();
            format!("[{}]", parts.join(", "))
        }
    }
}

/// A dense `i64` constant op line.
fn const_i64(name: &str, v: &[i64]) -> String {
    let items: Vec<String> = v.iter().map(|x| x.to_string()).collect();
    format!(
        "    %{name} = \"onnx.Constant\"() {{value = dense<[{}]> : tensor<{}xi64>}} : () -> tensor<{}xi64> loc(\"{name}\")\n",
        items.join(", "),
        v.len(),
        v.len()
    )
}

/// The shape with `axes` removed (keepdims 0) or set to 1.
fn reduced(shape: &[usize], axes: &[usize], keep: bool) -> Vec<usize> {
    shape
        .iter()
        .enumerate()
        .filter_map(|(d, &n)| match (axes.contains(&d), keep) {
            (false, _) => Some(n),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect()
}

#[test]
fn reductions_over_any_axes_both_keepdims() {
    let cases: [(&[usize], &[usize]); 4] = [
        (&[2, 3, 5], &[2]),
        (&[4, 64], &[1]),
        (&[3, 6, 7], &[0, 2]),
        (&[2, 5, 4], &[1]),
    ];
    for (seed, (shape, axes)) in cases.iter().enumerate() {
        let axes_i64: Vec<i64> = axes
            .iter()
            .map(|&a| a as i64 - shape.len() as i64)
            .collect();
        let mut body = const_i64("axes", &axes_i64);
        let mut rets = Vec::new();
        let names = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin"];
        for (k, op) in names.iter().enumerate() {
            let keep = k % 2 == 0;
            let out = ty(&reduced(shape, axes, keep), "f32");
            // Opset 18: axes are an operand for every reduction.
            body.push_str(&format!(
                "    %r{k} = \"onnx.{op}\"(%arg0, %axes) {{keepdims = {} : i64}} : ({}, tensor<{}xi64>) -> {out} loc(\"{op}\")\n",
                i64::from(keep),
                ty(shape, "f32"),
                axes.len()
            ));
            rets.push((*op, format!("%r{k}"), out));
        }
        let rets: Vec<(&str, &str, String)> = rets
            .iter()
            .map(|(n, v, t)| (*n, v.as_str(), t.clone()))
            .collect();
        let src = module(18, &[("x", ty(shape, "f32"))], &body, &rets);
        let c = agree(&src, &[("x", random(shape, 100 + seed as u64))]);
        assert_eq!(c["VEC.REDUCE"], 4, "{shape:?} {axes:?}");
    }
}

#[test]
fn reduce_mean_with_axes_attribute_and_a_row_longer_than_the_srams() {
    // Opset 17 ReduceMean takes `axes` as an attribute (Mistral's RMSNorm).
    let body = r#"
    %0 = "onnx.ReduceMean"(%arg0) {axes = [-1 : i64], keepdims = 1 : i64} : (tensor<3x8x16xf32>) -> tensor<3x8x1xf32> loc("mean")"#;
    let src = module(
        17,
        &[("x", ty(&[3, 8, 16], "f32"))],
        body,
        &[("m", "%0", ty(&[3, 8, 1], "f32"))],
    );
    agree(&src, &[("x", random(&[3, 8, 16], 7))]);
    // 70,000 f32 per row (273 KiB) exceed Token SRAM: reduced in pieces.
    let n = 70_000;
    let body = format!(
        r#"
    %a = "onnx.Constant"() {{value = dense<[1]> : tensor<1xi64>}} : () -> tensor<1xi64> loc("axes")
    %0 = "onnx.ReduceSum"(%arg0, %a) {{keepdims = 0 : i64}} : (tensor<2x{n}xf32>, tensor<1xi64>) -> tensor<2xf32> loc("sum")
    %1 = "onnx.ReduceMean"(%arg0, %a) {{keepdims = 1 : i64}} : (tensor<2x{n}xf32>, tensor<1xi64>) -> tensor<2x1xf32> loc("mean")
    %2 = "onnx.ReduceMax"(%arg0, %a) {{keepdims = 0 : i64}} : (tensor<2x{n}xf32>, tensor<1xi64>) -> tensor<2xf32> loc("max")"#
    );
    let src = module(
        18,
        &[("x", ty(&[2, n], "f32"))],
        &body,
        &[
            ("s", "%0", ty(&[2], "f32")),
            ("m", "%1", ty(&[2, 1], "f32")),
            ("mx", "%2", ty(&[2], "f32")),
        ],
    );
    let c = agree(&src, &[("x", random(&[2, n], 8))]);
    assert!(c["VEC.REDUCE"] > 6, "{c:?}");
}

/// Causal and sliding-window masks from run-time positions, as exporters spell them when the
/// arithmetic does not fold: comparisons of broadcast position vectors, `And`, `Where`.
#[test]
fn comparisons_build_masks_at_several_lengths() {
    for (seed, s) in [5usize, 16, 33].into_iter().enumerate() {
        let (row, col, sq) = (ty(&[1, s], "i64"), ty(&[s, 1], "i64"), ty(&[s, s], "i1"));
        let f = ty(&[s, s], "f32");
        let kc = nested(&(0..s as i64).collect::<Vec<_>>(), &[s, 1]);
        let body = format!(
            r#"
    %w = "onnx.Constant"() {{value = dense<4> : tensor<i64>}} : () -> tensor<i64> loc("window")
    %kc = "onnx.Constant"() {{value = dense<{kc}> : {col}}} : () -> {col} loc("key_positions")
    %z = "onnx.Constant"() {{value = dense<0.0> : tensor<f32>}} : () -> tensor<f32> loc("zero")
    %m = "onnx.Constant"() {{value = dense<-3.4028235e38> : tensor<f32>}} : () -> tensor<f32> loc("min")
    %0 = "onnx.LessOrEqual"(%arg0, %arg1) : ({row}, {col}) -> {sq} loc("causal")
    %1 = "onnx.Sub"(%kc, %w) : ({col}, tensor<i64>) -> {col} loc("lo")
    %2 = "onnx.Greater"(%arg0, %1) : ({row}, {col}) -> {sq} loc("window_gt")
    %3 = "onnx.And"(%0, %2) : ({sq}, {sq}) -> {sq} loc("band")
    %4 = "onnx.Where"(%3, %z, %m) : ({sq}, tensor<f32>, tensor<f32>) -> {f} loc("mask")
    %5 = "onnx.Equal"(%arg0, %arg1) : ({row}, {col}) -> {sq} loc("diag")
    %6 = "onnx.Less"(%arg2, %arg3) : ({f}, {f}) -> {sq} loc("lt")
    %7 = "onnx.GreaterOrEqual"(%z, %arg2) : (tensor<f32>, {f}) -> {sq} loc("ge_swapped")
    %8 = "onnx.IsNaN"(%arg3) : ({f}) -> {sq} loc("isnan")"#
        );
        let src = module(
            17,
            &[
                ("q", row.clone()),
                ("k", col.clone()),
                ("a", f.clone()),
                ("b", f.clone()),
            ],
            &body,
            &[
                ("mask", "%4", f.clone()),
                ("diag", "%5", sq.clone()),
                ("lt", "%6", sq.clone()),
                ("ge", "%7", sq.clone()),
                ("nan", "%8", sq.clone()),
            ],
        );
        let pos: Vec<i64> = (0..s as i64).collect();
        let mut b = common::random_values(s * s, 300 + seed as u64);
        b[s + 1] = f32::NAN;
        let c = agree(
            &src,
            &[
                ("q", Tensor::from_i64(vec![1, s], pos.clone()).unwrap()),
                ("k", Tensor::from_i64(vec![s, 1], pos).unwrap()),
                ("a", random(&[s, s], 200 + seed as u64)),
                ("b", Tensor::from_f32(vec![s, s], b).unwrap()),
            ],
        );
        assert_eq!(c["VEC.CMP"], 6, "s = {s}");
    }
}

#[test]
fn cos_sin_trilu_tile_and_rms_normalization() {
    for (seed, (b, s, d)) in [(1usize, 4usize, 8usize), (2, 7, 16), (3, 5, 32)]
        .into_iter()
        .enumerate()
    {
        let x = ty(&[b, s, d], "f32");
        let t = ty(&[b, 2 * s, d], "f32");
        let body = format!(
            r#"
    %g = "onnx.Constant"() {{value = dense<1.5> : tensor<{d}xf32>}} : () -> tensor<{d}xf32> loc("gamma")
    %k = "onnx.Constant"() {{value = dense<-1> : tensor<i64>}} : () -> tensor<i64> loc("k")
    %r = "onnx.Constant"() {{value = dense<[1, 2, 1]> : tensor<3xi64>}} : () -> tensor<3xi64> loc("reps")
    %0 = "onnx.Cos"(%arg0) : ({x}) -> {x} loc("cos")
    %1 = "onnx.Sin"(%arg0) : ({x}) -> {x} loc("sin")
    %2 = "onnx.Trilu"(%0, %k) {{upper = 0 : i64}} : ({x}, tensor<i64>) -> {x} loc("tril")
    %3 = "onnx.Trilu"(%1) : ({x}) -> {x} loc("triu")
    %4 = "onnx.Tile"(%arg0, %r) : ({x}, tensor<3xi64>) -> {t} loc("tile")
    %5 = "onnx.RMSNormalization"(%arg0, %g) {{epsilon = 1.0e-6 : f32}} : ({x}, tensor<{d}xf32>) -> {x} loc("rms")"#
        );
        let src = module(
            23,
            &[("x", x.clone())],
            &body,
            &[
                ("tril", "%2", x.clone()),
                ("triu", "%3", x.clone()),
                ("tile", "%4", t),
                ("rms", "%5", x),
            ],
        );
        let c = agree(&src, &[("x", random(&[b, s, d], 400 + seed as u64))]);
        assert_eq!((c["VEC.COS"], c["VEC.SIN"]), (1, 1));
        assert_eq!((c["VEC.SELECT"], c["VEC.RMSNORM"]), (2, 1));
    }
}

#[test]
fn gather_nd_and_scatter_nd_with_constant_indices() {
    for (seed, (b, s)) in [(2usize, 8usize), (3, 13)].into_iter().enumerate() {
        let mask = ty(&[b, s], "i1");
        // dynamo's padding-mask lookup: (batch, position) pairs, a view.
        let pairs: Vec<i64> = (0..b as i64)
            .flat_map(|i| (0..s as i64).flat_map(move |j| [i, j]))
            .collect();
        // Every other row of x, backwards: a GATHER list.
        let rows: Vec<i64> = (0..s as i64).rev().step_by(2).collect();
        let n = rows.len();
        let x = ty(&[s, 4], "f32");
        let pairs = nested(&pairs, &[b, 1, 1, s, 2]);
        let rows = nested(&rows, &[n, 1]);
        let body = format!(
            r#"
    %p = "onnx.Constant"() {{value = dense<{pairs}> : tensor<{b}x1x1x{s}x2xi64>}} : () -> tensor<{b}x1x1x{s}x2xi64> loc("pairs")
    %i = "onnx.Constant"() {{value = dense<{rows}> : tensor<{n}x1xi64>}} : () -> tensor<{n}x1xi64> loc("rows")
    %c = "onnx.Constant"() {{value = dense<[[1], [0]]> : tensor<2x1xi64>}} : () -> tensor<2x1xi64> loc("cols")
    %0 = "onnx.GatherND"(%arg0, %p) : ({mask}, tensor<{b}x1x1x{s}x2xi64>) -> tensor<{b}x1x1x{s}xi1> loc("lookup")
    %1 = "onnx.GatherND"(%arg1, %i) : ({x}, tensor<{n}x1xi64>) -> tensor<{n}x4xf32> loc("rows_back")
    %2 = "onnx.GatherND"(%arg2, %c) {{batch_dims = 1 : i64}} : (tensor<2x3x4xf32>, tensor<2x1xi64>) -> tensor<2x4xf32> loc("batched")
    %3 = "onnx.ScatterND"(%arg1, %i, %1) : ({x}, tensor<{n}x1xi64>, tensor<{n}x4xf32>) -> {x} loc("scatter_rows")
    %e = "onnx.Constant"() {{value = dense<[[0, 3], [1, 1], [0, 0]]> : tensor<3x2xi64>}} : () -> tensor<3x2xi64> loc("elems")
    %4 = "onnx.ScatterND"(%3, %e, %arg3) : ({x}, tensor<3x2xi64>, tensor<3xf32>) -> {x} loc("scatter_elems")"#
        );
        let src = module(
            18,
            &[
                ("mask", mask),
                ("x", x.clone()),
                ("y", ty(&[2, 3, 4], "f32")),
                ("u", ty(&[3], "f32")),
            ],
            &body,
            &[
                ("lookup", "%0", ty(&[b, 1, 1, s], "i1")),
                ("rows", "%1", ty(&[n, 4], "f32")),
                ("batched", "%2", ty(&[2, 4], "f32")),
                ("scattered", "%4", x),
            ],
        );
        let bools: Vec<bool> = common::random_values(b * s, 500 + seed as u64)
            .iter()
            .map(|&v| v > 0.0)
            .collect();
        agree(
            &src,
            &[
                ("mask", Tensor::from_bool(vec![b, s], bools).unwrap()),
                ("x", random(&[s, 4], 510 + seed as u64)),
                ("y", random(&[2, 3, 4], 520 + seed as u64)),
                ("u", random(&[3], 530 + seed as u64)),
            ],
        );
    }
}

/// Ops with no chip lowering over constants too large for `canonicalize` are evaluated when the
/// program is built.
#[test]
fn constant_only_ops_are_evaluated_at_compile_time() {
    let body = r#"
    %s = "onnx.Constant"() {value = dense<0.0> : tensor<f32>} : () -> tensor<f32> loc("start")
    %l = "onnx.Constant"() {value = dense<3000.0> : tensor<f32>} : () -> tensor<f32> loc("limit")
    %d = "onnx.Constant"() {value = dense<1.0> : tensor<f32>} : () -> tensor<f32> loc("delta")
    %n = "onnx.Constant"() {value = dense<7.0> : tensor<f32>} : () -> tensor<f32> loc("seven")
    %0 = "onnx.Range"(%s, %l, %d) : (tensor<f32>, tensor<f32>, tensor<f32>) -> tensor<3000xf32> loc("range")
    %1 = "onnx.Mod"(%0, %n) {fmod = 1 : i64} : (tensor<3000xf32>, tensor<f32>) -> tensor<3000xf32> loc("mod")
    %2 = "onnx.Add"(%1, %arg0) : (tensor<3000xf32>, tensor<3000xf32>) -> tensor<3000xf32> loc("add")"#;
    let src = module(
        17,
        &[("x", ty(&[3000], "f32"))],
        body,
        &[("y", "%2", ty(&[3000], "f32"))],
    );
    let c = agree(&src, &[("x", random(&[3000], 600))]);
    assert_eq!(c["VEC.ADD"], 1);
}

/// Opset-23 `RotaryEmbedding`: 4-D and 3-D inputs, constant (in order, shuffled) and run-time
/// position ids, caches per batch without ids, partial rotation, interleaved pairs.
#[test]
fn rotary_embedding_op() {
    let (b, h, s, d) = (2usize, 3usize, 6usize, 8usize);
    let max_pos = 10;
    let x4 = ty(&[b, h, s, d], "f32");
    let x3 = ty(&[b, s, h * d], "f32");
    let cache = |r: usize| ty(&[max_pos, r / 2], "f32");
    let ids = ty(&[b, s], "i64");
    let in_order = nested(
        &(0..b * s).map(|i| (i % s) as i64).collect::<Vec<_>>(),
        &[b, s],
    );
    let shuffled = nested(
        &(0..b * s)
            .map(|i| ((i * 7 + 3) % max_pos) as i64)
            .collect::<Vec<_>>(),
        &[b, s],
    );
    let body = format!(
        r#"
    %p0 = "onnx.Constant"() {{value = dense<{in_order}> : {ids}}} : () -> {ids} loc("ids_in_order")
    %p1 = "onnx.Constant"() {{value = dense<{shuffled}> : {ids}}} : () -> {ids} loc("ids_shuffled")
    %0 = "onnx.RotaryEmbedding"(%arg0, %arg1, %arg2, %p0) : ({x4}, {c8}, {c8}, {ids}) -> {x4} loc("static")
    %1 = "onnx.RotaryEmbedding"(%arg0, %arg1, %arg2, %p1) {{interleaved = 1 : i64}} : ({x4}, {c8}, {c8}, {ids}) -> {x4} loc("shuffled")
    %2 = "onnx.RotaryEmbedding"(%arg3, %arg4, %arg5, %arg6) {{num_heads = {h} : i64, rotary_embedding_dim = 4 : i64}} : ({x3}, {c4}, {c4}, {ids}) -> {x3} loc("runtime_partial")
    %3 = "onnx.RotaryEmbedding"(%arg0, %arg7, %arg8) : ({x4}, {bc}, {bc}) -> {x4} loc("batch_caches")"#,
        c8 = cache(d),
        c4 = cache(4),
        bc = ty(&[b, s, d / 2], "f32"),
    );
    let src = module(
        23,
        &[
            ("x", x4.clone()),
            ("cos", cache(d)),
            ("sin", cache(d)),
            ("x3", x3.clone()),
            ("cos4", cache(4)),
            ("sin4", cache(4)),
            ("ids", ids.clone()),
            ("bcos", ty(&[b, s, d / 2], "f32")),
            ("bsin", ty(&[b, s, d / 2], "f32")),
        ],
        &body,
        &[
            ("static", "%0", x4.clone()),
            ("shuffled", "%1", x4.clone()),
            ("partial", "%2", x3),
            ("batched", "%3", x4),
        ],
    );
    let c = agree(
        &src,
        &[
            ("x", random(&[b, h, s, d], 700)),
            ("cos", random(&[max_pos, d / 2], 701)),
            ("sin", random(&[max_pos, d / 2], 702)),
            ("x3", random(&[b, s, h * d], 703)),
            ("cos4", random(&[max_pos, 2], 704)),
            ("sin4", random(&[max_pos, 2], 705)),
            ("ids", random_ints(&[b, s], max_pos as i64, 706)),
            ("bcos", random(&[b, s, d / 2], 707)),
            ("bsin", random(&[b, s, d / 2], 708)),
        ],
    );
    assert!(c["VEC.ROPE"] >= 4, "{c:?}");
    assert!(
        c["GATHER"] >= 2,
        "shuffled and run-time positions gather table rows"
    );
}

/// RMSNorm as Qwen2 (Pow, Reciprocal, scale first), Mistral (identity Casts, Div(1, ·)) and a
/// scale-free `x / √…` spell it: one `VEC.RMSNORM` each. A `x·x` square feeding a second user
/// stays op by op, and so does a mean over another axis.
#[test]
fn rms_norm_spellings_become_one_instruction() {
    for (seed, (b, s, d)) in [(2usize, 8usize, 128usize), (1, 13, 64), (3, 5, 48)]
        .into_iter()
        .enumerate()
    {
        let x = ty(&[b, s, d], "f32");
        let r = ty(&[b, s, 1], "f32");
        let g = ty(&[d], "f32");
        let body = format!(
            r#"
    %two = "onnx.Constant"() {{value = dense<2.0> : tensor<f32>}} : () -> tensor<f32> loc("two")
    %eps = "onnx.Constant"() {{value = dense<1.0e-6> : tensor<f32>}} : () -> tensor<f32> loc("eps")
    %one = "onnx.Constant"() {{value = dense<1.0> : tensor<f32>}} : () -> tensor<f32> loc("one")
    %ax = "onnx.Constant"() {{value = dense<[-1]> : tensor<1xi64>}} : () -> tensor<1xi64> loc("axes")
    %0 = "onnx.Pow"(%arg0, %two) : ({x}, tensor<f32>) -> {x} loc("q_pow")
    %1 = "onnx.ReduceMean"(%0, %ax) {{keepdims = 1 : i64}} : ({x}, tensor<1xi64>) -> {r} loc("q_mean")
    %2 = "onnx.Add"(%1, %eps) : ({r}, tensor<f32>) -> {r} loc("q_add")
    %3 = "onnx.Sqrt"(%2) : ({r}) -> {r} loc("q_sqrt")
    %4 = "onnx.Reciprocal"(%3) : ({r}) -> {r} loc("q_rsqrt")
    %5 = "onnx.Mul"(%arg0, %4) : ({x}, {r}) -> {x} loc("q_mul")
    %6 = "onnx.Mul"(%arg1, %5) : ({g}, {x}) -> {x} loc("q_scale")
    %c = "onnx.Cast"(%6) {{to = 1 : i64}} : ({x}) -> {x} loc("m_cast")
    %10 = "onnx.Pow"(%c, %two) : ({x}, tensor<f32>) -> {x} loc("m_pow")
    %11 = "onnx.ReduceMean"(%10) {{axes = [-1 : i64], keepdims = 1 : i64}} : ({x}) -> {r} loc("m_mean")
    %12 = "onnx.Add"(%eps, %11) : (tensor<f32>, {r}) -> {r} loc("m_add")
    %13 = "onnx.Sqrt"(%12) : ({r}) -> {r} loc("m_sqrt")
    %14 = "onnx.Div"(%one, %13) : (tensor<f32>, {r}) -> {r} loc("m_div")
    %15 = "onnx.Mul"(%6, %14) : ({x}, {r}) -> {x} loc("m_mul")
    %16 = "onnx.Cast"(%15) {{to = 1 : i64}} : ({x}) -> {x} loc("m_cast_back")
    %17 = "onnx.Mul"(%16, %arg1) : ({x}, {g}) -> {x} loc("m_scale")
    %20 = "onnx.Mul"(%17, %17) : ({x}, {x}) -> {x} loc("d_sq")
    %21 = "onnx.ReduceMean"(%20, %ax) {{keepdims = 1 : i64}} : ({x}, tensor<1xi64>) -> {r} loc("d_mean")
    %22 = "onnx.Add"(%21, %eps) : ({r}, tensor<f32>) -> {r} loc("d_add")
    %23 = "onnx.Sqrt"(%22) : ({r}) -> {r} loc("d_sqrt")
    %24 = "onnx.Div"(%17, %23) : ({x}, {r}) -> {x} loc("d_div")
    %30 = "onnx.Mul"(%24, %24) : ({x}, {x}) -> {x} loc("n_sq")
    %31 = "onnx.ReduceMean"(%30, %ax) {{keepdims = 1 : i64}} : ({x}, tensor<1xi64>) -> {r} loc("n_mean")
    %32 = "onnx.Add"(%31, %eps) : ({r}, tensor<f32>) -> {r} loc("n_add")
    %33 = "onnx.Sqrt"(%32) : ({r}) -> {r} loc("n_sqrt")
    %34 = "onnx.Div"(%24, %33) : ({x}, {r}) -> {x} loc("n_div")
    %35 = "onnx.Add"(%34, %30) : ({x}, {x}) -> {x} loc("n_uses_square")"#
        );
        let src = module(
            18,
            &[("x", x.clone()), ("g", g.clone())],
            &body,
            &[("y", "%35", x)],
        );
        let c = agree(
            &src,
            &[
                ("x", random(&[b, s, d], 800 + seed as u64)),
                ("g", random(&[d], 810 + seed as u64)),
            ],
        );
        assert_eq!(c["VEC.RMSNORM"], 3, "{c:?}");
        assert_eq!(c["VEC.REDUCE"], 1, "the square with a second user stays");
    }
}

/// SiLU as `x · Sigmoid(x)` in either order, in a SwiGLU block.
#[test]
fn silu_spelling_becomes_one_instruction() {
    for (seed, shape) in [vec![2usize, 8, 256], vec![3, 17]].into_iter().enumerate() {
        let x = ty(&shape, "f32");
        let body = format!(
            r#"
    %0 = "onnx.Sigmoid"(%arg0) : ({x}) -> {x} loc("sig")
    %1 = "onnx.Mul"(%0, %arg0) : ({x}, {x}) -> {x} loc("silu")
    %2 = "onnx.Mul"(%1, %arg1) : ({x}, {x}) -> {x} loc("glu")"#
        );
        let src = module(
            17,
            &[("x", x.clone()), ("up", x.clone())],
            &body,
            &[("y", "%2", x)],
        );
        let c = agree(
            &src,
            &[
                ("x", random(&shape, 900 + seed as u64)),
                ("up", random(&shape, 910 + seed as u64)),
            ],
        );
        assert_eq!((c["VEC.SILU"], c.get("VEC.SIGMOID")), (1, None));
    }
}

/// HF's rotate-half RoPE with folded cos/sin tables (`[1, 1, S, D]`, halves repeated): one
/// `VEC.ROPE` per (batch, head) block, the table loaded once; a table whose halves differ stays
/// op by op and still agrees.
#[test]
fn rotate_half_rope_becomes_vec_rope() {
    for (seed, (b, h, s, d)) in [
        (2usize, 4usize, 8usize, 32usize),
        (1, 2, 13, 16),
        (2, 1, 64, 64),
    ]
    .into_iter()
    .enumerate()
    {
        let half = d / 2;
        let freqs: Vec<f32> = (0..half)
            .map(|j| 1.0 / 10000f32.powf(2.0 * j as f32 / d as f32))
            .collect();
        let table = |f: fn(f32) -> f32, repeat: bool| -> Vec<f32> {
            (0..s)
                .flat_map(|p| {
                    let freqs = &freqs;
                    (0..d).map(move |j| {
                        let k = if repeat { j % half } else { j / 2 };
                        f(p as f32 * freqs[k])
                    })
                })
                .collect()
        };
        let tt = ty(&[1, 1, s, d], "f32");
        let lit = |v: Vec<f32>| nested(&v, &[1, 1, s, d]);
        let x = ty(&[b, h, s, d], "f32");
        let hx = ty(&[b, h, s, half], "f32");
        let rope = |tag: &str, cos: &str, sin: &str| {
            format!(
                r#"
    %{tag}m1 = "onnx.Mul"(%arg0, %{cos}) : ({x}, {tt}) -> {x} loc("{tag}mul_cos")
    %{tag}lo = "onnx.Slice"(%arg0, %z, %h, %a, %st) : ({x}, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> {hx} loc("{tag}lo")
    %{tag}hi = "onnx.Slice"(%arg0, %h, %big, %a, %st) : ({x}, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> {hx} loc("{tag}hi")
    %{tag}n = "onnx.Neg"(%{tag}hi) : ({hx}) -> {hx} loc("{tag}neg")
    %{tag}c = "onnx.Concat"(%{tag}n, %{tag}lo) {{axis = -1 : i64}} : ({hx}, {hx}) -> {x} loc("{tag}cat")
    %{tag}m2 = "onnx.Mul"(%{tag}c, %{sin}) : ({x}, {tt}) -> {x} loc("{tag}mul_sin")
    %{tag}y = "onnx.Add"(%{tag}m1, %{tag}m2) : ({x}, {x}) -> {x} loc("{tag}add")"#
            )
        };
        let body = format!(
            r#"
    %cos = "onnx.Constant"() {{value = dense<{}> : {tt}}} : () -> {tt} loc("cos")
    %sin = "onnx.Constant"() {{value = dense<{}> : {tt}}} : () -> {tt} loc("sin")
    %cos2 = "onnx.Constant"() {{value = dense<{}> : {tt}}} : () -> {tt} loc("cos_interleaved")
    %z = "onnx.Constant"() {{value = dense<[0]> : tensor<1xi64>}} : () -> tensor<1xi64> loc("zero")
    %h = "onnx.Constant"() {{value = dense<[{half}]> : tensor<1xi64>}} : () -> tensor<1xi64> loc("half")
    %big = "onnx.Constant"() {{value = dense<[9223372036854775807]> : tensor<1xi64>}} : () -> tensor<1xi64> loc("end")
    %a = "onnx.Constant"() {{value = dense<[3]> : tensor<1xi64>}} : () -> tensor<1xi64> loc("axis")
    %st = "onnx.Constant"() {{value = dense<[1]> : tensor<1xi64>}} : () -> tensor<1xi64> loc("step")
{}{}"#,
            lit(table(f32::cos, true)),
            lit(table(f32::sin, true)),
            lit(table(f32::cos, false)),
            rope("r", "cos", "sin"),
            rope("u", "cos2", "sin"),
        );
        let src = module(
            17,
            &[("x", x.clone())],
            &body,
            &[("rope", "%ry", x.clone()), ("other", "%uy", x)],
        );
        let c = agree(&src, &[("x", random(&[b, h, s, d], 1000 + seed as u64))]);
        assert_eq!(c["VEC.ROPE"], b * h, "{c:?}");
    }
}

/// Static positions whose table does not fit Weight SRAM: each tile loads its own table rows.
#[test]
fn rotary_embedding_with_a_table_larger_than_weight_sram() {
    let (s, d) = (1024usize, 32usize);
    let x = ty(&[1, 2, s, d], "f32");
    let c = ty(&[s, d / 2], "f32");
    let ids = ty(&[1, s], "i64");
    let body = format!(
        r#"
    %p = "onnx.Constant"() {{value = dense<{}> : {ids}}} : () -> {ids} loc("ids")
    %0 = "onnx.RotaryEmbedding"(%arg0, %arg1, %arg2, %p) : ({x}, {c}, {c}, {ids}) -> {x} loc("rope")"#,
        nested(&(0..s as i64).collect::<Vec<_>>(), &[1, s])
    );
    let src = module(
        23,
        &[("x", x.clone()), ("cos", c.clone()), ("sin", c)],
        &body,
        &[("y", "%0", x)],
    );
    let counts = agree(
        &src,
        &[
            ("x", random(&[1, 2, s, d], 1100)),
            ("cos", random(&[s, d / 2], 1101)),
            ("sin", random(&[s, d / 2], 1102)),
        ],
    );
    assert!(counts["VEC.ROPE"] > 2, "{counts:?}");
    assert_eq!(
        counts.get("GATHER"),
        None,
        "consecutive positions load table rows"
    );
}
