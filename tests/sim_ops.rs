//! `lower_model` op by op: small hand-written modules run on the host reference interpreter
//! and, lowered to one SOFA program, on the simulator; outputs must agree to 1e-5. Each case
//! exercises a lowering path the fixtures do not (column broadcasts, materialised operands,
//! batched MatMul, Gemm epilogues, non-contiguous reshapes, gathers, convolution, …).

mod common;

use std::collections::BTreeMap;

use sofa_ir::eval::Tensor;
use sofa_ir::isa::{Instr, SramRef};

/// A deterministic pseudo-random tensor in [-1, 1).
fn random(shape: &[usize], seed: u64) -> Tensor {
    let n = shape.iter().product();
    Tensor::from_f32(shape.to_vec(), common::random_values(n, seed)).unwrap()
}

/// `@main(args) -> results` around `body` at opset 17.
fn module(args: &[(&str, &str)], body: &str, rets: &[(&str, &str, &str)]) -> String {
    common::ops::module(17, args, body, rets)
}

/// Interpret and simulate `src` on `inputs`; every output within 1e-5. Returns the program's
/// instruction count per mnemonic.
fn agree(src: &str, inputs: &[(&str, Tensor)]) -> BTreeMap<&'static str, usize> {
    let ran = common::ops::run_both(src, inputs);
    for (k, (g, w)) in &ran.outputs {
        let (gv, wv) = (g.to_f64_vec(), w.to_f64_vec());
        for (i, (a, b)) in gv.iter().zip(&wv).enumerate() {
            assert!(
                (a - b).abs() <= 1e-5,
                "'{k}'[{i}]: simulated {a}, reference {b}"
            );
        }
    }
    ran.counts
}

const X3: &str = "tensor<2x3x5xf32>";

#[test]
fn broadcasts_pick_row_col_scalar_or_materialise() {
    let body = r#"
    %c = "onnx.Constant"() {value = dense<[0.5, -1.0, 2.0, 1.5, 3.0]> : tensor<5xf32>} : () -> tensor<5xf32> loc("c")
    %two = "onnx.Constant"() {value = dense<2.0> : tensor<f32>} : () -> tensor<f32> loc("two")
    %0 = "onnx.Sub"(%arg0, %arg1) : (tensor<2x3x5xf32>, tensor<3x1xf32>) -> tensor<2x3x5xf32> loc("sub_col")
    %1 = "onnx.Add"(%arg2, %0) : (tensor<5xf32>, tensor<2x3x5xf32>) -> tensor<2x3x5xf32> loc("add_row_swapped")
    %2 = "onnx.Div"(%c, %1) : (tensor<5xf32>, tensor<2x3x5xf32>) -> tensor<2x3x5xf32> loc("div_materialised")
    %3 = "onnx.Sub"(%two, %2) : (tensor<f32>, tensor<2x3x5xf32>) -> tensor<2x3x5xf32> loc("rsub_affine")
    %4 = "onnx.Max"(%3, %arg3) : (tensor<2x3x5xf32>, tensor<2x1x5xf32>) -> tensor<2x3x5xf32> loc("max_full")
    %5 = "onnx.Div"(%two, %arg2) : (tensor<f32>, tensor<5xf32>) -> tensor<5xf32> loc("rdiv")"#;
    let src = module(
        &[
            ("x", X3),
            ("y", "tensor<3x1xf32>"),
            ("b", "tensor<5xf32>"),
            ("z", "tensor<2x1x5xf32>"),
        ],
        body,
        &[("out", "%4", X3), ("r", "%5", "tensor<5xf32>")],
    );
    let c = agree(
        &src,
        &[
            ("x", random(&[2, 3, 5], 1)),
            ("y", random(&[3, 1], 2)),
            ("b", random(&[5], 3)),
            ("z", random(&[2, 1, 5], 4)),
        ],
    );
    assert_eq!(c["VEC.SUB"], 1);
    assert_eq!(c["VEC.AFFINE"], 2, "2 − x and 2 / b's scale");
    assert_eq!(c["VEC.RECIP"], 1);
}

#[test]
fn unary_pow_cast_and_logic() {
    let body = r#"
    %h = "onnx.Constant"() {value = dense<0.5> : tensor<f32>} : () -> tensor<f32> loc("half")
    %three = "onnx.Constant"() {value = dense<3.0> : tensor<f32>} : () -> tensor<f32> loc("three")
    %one = "onnx.Constant"() {value = dense<1.0> : tensor<f32>} : () -> tensor<f32> loc("one")
    %ninf = "onnx.Constant"() {value = dense<-4.0> : tensor<f32>} : () -> tensor<f32> loc("m4")
    %0 = "onnx.Mul"(%arg0, %arg0) : (tensor<2x3x5xf32>, tensor<2x3x5xf32>) -> tensor<2x3x5xf32> loc("sq")
    %1 = "onnx.Add"(%0, %one) : (tensor<2x3x5xf32>, tensor<f32>) -> tensor<2x3x5xf32> loc("plus1")
    %2 = "onnx.Pow"(%1, %h) : (tensor<2x3x5xf32>, tensor<f32>) -> tensor<2x3x5xf32> loc("sqrt")
    %3 = "onnx.Pow"(%arg0, %three) : (tensor<2x3x5xf32>, tensor<f32>) -> tensor<2x3x5xf32> loc("cube")
    %4 = "onnx.Sigmoid"(%3) : (tensor<2x3x5xf32>) -> tensor<2x3x5xf32> loc("sig")
    %5 = "onnx.Relu"(%arg0) : (tensor<2x3x5xf32>) -> tensor<2x3x5xf32> loc("relu")
    %6 = "onnx.Cast"(%5) {to = 9 : i64} : (tensor<2x3x5xf32>) -> tensor<2x3x5xi1> loc("pos")
    %7 = "onnx.Not"(%6) : (tensor<2x3x5xi1>) -> tensor<2x3x5xi1> loc("nonpos")
    %8 = "onnx.Or"(%7, %arg1) : (tensor<2x3x5xi1>, tensor<3x1xi1>) -> tensor<2x3x5xi1> loc("or")
    %9 = "onnx.Where"(%8, %2, %ninf) : (tensor<2x3x5xi1>, tensor<2x3x5xf32>, tensor<f32>) -> tensor<2x3x5xf32> loc("where")
    %10 = "onnx.Cast"(%8) {to = 1 : i64} : (tensor<2x3x5xi1>) -> tensor<2x3x5xf32> loc("as_float")
    %11 = "onnx.Add"(%9, %4) : (tensor<2x3x5xf32>, tensor<2x3x5xf32>) -> tensor<2x3x5xf32> loc("sum")
    %12 = "onnx.Reciprocal"(%1) : (tensor<2x3x5xf32>) -> tensor<2x3x5xf32> loc("recip")
    %13 = "onnx.Neg"(%12) : (tensor<2x3x5xf32>) -> tensor<2x3x5xf32> loc("neg")"#;
    let src = module(
        &[("x", X3), ("m", "tensor<3x1xi1>")],
        body,
        &[("s", "%11", X3), ("f", "%10", X3), ("n", "%13", X3)],
    );
    let m = Tensor::from_bool(vec![3, 1], vec![true, false, false]).unwrap();
    let c = agree(&src, &[("x", random(&[2, 3, 5], 7)), ("m", m)]);
    assert_eq!(c["VEC.SELECT"], 3, "Not, Or, Where");
    assert_eq!(c["VEC.SQRT"], 1);
    assert_eq!(c["VEC.CVT"], 2);
}

#[test]
fn matmuls_batched_vectors_and_gemm_epilogues() {
    let body = r#"
    %cb = "onnx.Constant"() {value = dense<[0.1, 0.2, 0.3, 0.4, 0.5]> : tensor<5xf32>} : () -> tensor<5xf32> loc("bias")
    %0 = "onnx.MatMul"(%arg0, %arg1) : (tensor<2x3x4x6xf32>, tensor<2x1x6x5xf32>) -> tensor<2x3x4x5xf32> loc("batched")
    %1 = "onnx.MatMul"(%arg2, %arg1) : (tensor<6xf32>, tensor<2x1x6x5xf32>) -> tensor<2x1x5xf32> loc("vec_mat")
    %2 = "onnx.Gemm"(%arg3, %arg4, %arg5) {alpha = 0.5 : f32, transA = 1 : i64, transB = 1 : i64} : (tensor<6x4xf32>, tensor<5x6xf32>, tensor<4x5xf32>) -> tensor<4x5xf32> loc("gemm")
    %3 = "onnx.MatMul"(%2, %arg6) : (tensor<4x5xf32>, tensor<5x5xf32>) -> tensor<4x5xf32> loc("proj")
    %4 = "onnx.Add"(%cb, %3) : (tensor<5xf32>, tensor<4x5xf32>) -> tensor<4x5xf32> loc("proj_bias")
    %5 = "onnx.Add"(%4, %2) : (tensor<4x5xf32>, tensor<4x5xf32>) -> tensor<4x5xf32> loc("residual")"#;
    let src = module(
        &[
            ("a", "tensor<2x3x4x6xf32>"),
            ("b", "tensor<2x1x6x5xf32>"),
            ("v", "tensor<6xf32>"),
            ("ga", "tensor<6x4xf32>"),
            ("gb", "tensor<5x6xf32>"),
            ("gc", "tensor<4x5xf32>"),
            ("w", "tensor<5x5xf32>"),
        ],
        body,
        &[
            ("batched", "%0", "tensor<2x3x4x5xf32>"),
            ("vm", "%1", "tensor<2x1x5xf32>"),
            ("res", "%5", "tensor<4x5xf32>"),
        ],
    );
    let c = agree(
        &src,
        &[
            ("a", random(&[2, 3, 4, 6], 11)),
            ("b", random(&[2, 1, 6, 5], 12)),
            ("v", random(&[6], 13)),
            ("ga", random(&[6, 4], 14)),
            ("gb", random(&[5, 6], 15)),
            ("gc", random(&[4, 5], 16)),
            ("w", random(&[5, 5], 17)),
        ],
    );
    // 6 batched products, 2 vector products, the Gemm, the projection (bias and residual
    // folded into its GEMM and epilogue).
    assert_eq!(c["GEMM"], 6 + 2 + 1 + 1);
    assert_eq!(c["VEC.ADD"], 2, "Gemm's C and the residual");
}

/// Products of several tiles are software-pipelined: two copies of the A rows (DMA loads the
/// next step's while the PE array works), and with an epilogue the vector unit relays every
/// step's end to DMA. Outputs agree with the reference all the same.
#[test]
fn products_of_many_tiles_double_buffer_their_inputs() {
    let body = r#"
    %0 = "onnx.MatMul"(%arg0, %arg1) : (tensor<384x128xf32>, tensor<128x512xf32>) -> tensor<384x512xf32> loc("wide")
    %1 = "onnx.Gemm"(%arg0, %arg2, %arg3) {alpha = 0.5 : f32} : (tensor<384x128xf32>, tensor<128x256xf32>, tensor<384x256xf32>) -> tensor<384x256xf32> loc("epilogue")"#;
    let src = module(
        &[
            ("x", "tensor<384x128xf32>"),
            ("w", "tensor<128x512xf32>"),
            ("g", "tensor<128x256xf32>"),
            ("c", "tensor<384x256xf32>"),
        ],
        body,
        &[
            ("wide", "%0", "tensor<384x512xf32>"),
            ("ep", "%1", "tensor<384x256xf32>"),
        ],
    );
    let ran = common::ops::run_both(
        &src,
        &[
            ("x", random(&[384, 128], 21)),
            ("w", random(&[128, 512], 22)),
            ("g", random(&[128, 256], 23)),
            ("c", random(&[384, 256], 24)),
        ],
    );
    for (k, (g, w)) in &ran.outputs {
        for (i, (a, b)) in g.to_f64_vec().iter().zip(&w.to_f64_vec()).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4,
                "'{k}'[{i}]: simulated {a}, reference {b}"
            );
        }
    }
    let gemms: Vec<(SramRef, SramRef)> = ran
        .program
        .instrs
        .iter()
        .filter_map(|i| match i {
            Instr::Gemm { a, dst, .. } => Some((*a, *dst)),
            _ => None,
        })
        .collect();
    // 384 rows × 512 columns and 384 × 256, K = 128 in one step: 160 steps.
    assert_eq!(gemms.len(), 160);
    // Consecutive steps read the other copy of A, except where one product hands over to the
    // next.
    let same_copy = gemms.windows(2).filter(|w| w[0].0 == w[1].0).count();
    assert!(
        same_copy <= 1,
        "{same_copy} steps reuse the A copy of the step before"
    );
    // Two copies of the result, so the next step's GEMM need not wait for the store.
    let results: std::collections::BTreeSet<SramRef> = gemms.iter().map(|g| g.1).collect();
    assert_eq!(results.len(), 2);
    assert_eq!(
        ran.counts["VEC.AFFINE"], 32,
        "alpha on each of the Gemm's result tiles"
    );
}

#[test]
fn layout_ops_views_and_copies() {
    let body = r#"
    %0 = "onnx.Transpose"(%arg0) {perm = [0 : i64, 2 : i64, 1 : i64]} : (tensor<2x3x5xf32>) -> tensor<2x5x3xf32> loc("t")
    %s = "onnx.Constant"() {value = dense<[10, 3]> : tensor<2xi64>} : () -> tensor<2xi64> loc("shape")
    %1 = "onnx.Reshape"(%0, %s) : (tensor<2x5x3xf32>, tensor<2xi64>) -> tensor<10x3xf32> loc("r")
    %sp = "onnx.Constant"() {value = dense<[1, 2, 2]> : tensor<3xi64>} : () -> tensor<3xi64> loc("sizes")
    %2:3 = "onnx.Split"(%arg0, %sp) {axis = 2 : i64} : (tensor<2x3x5xf32>, tensor<3xi64>) -> (tensor<2x3x1xf32>, tensor<2x3x2xf32>, tensor<2x3x2xf32>) loc("split")
    %3 = "onnx.Concat"(%2#2, %2#0, %2#1) {axis = 2 : i64} : (tensor<2x3x2xf32>, tensor<2x3x1xf32>, tensor<2x3x2xf32>) -> tensor<2x3x5xf32> loc("cat")
    %st = "onnx.Constant"() {value = dense<[0, 1]> : tensor<2xi64>} : () -> tensor<2xi64> loc("starts")
    %en = "onnx.Constant"() {value = dense<[3, 5]> : tensor<2xi64>} : () -> tensor<2xi64> loc("ends")
    %ax = "onnx.Constant"() {value = dense<[1, 2]> : tensor<2xi64>} : () -> tensor<2xi64> loc("axes")
    %sd = "onnx.Constant"() {value = dense<[2, 3]> : tensor<2xi64>} : () -> tensor<2xi64> loc("steps")
    %4 = "onnx.Slice"(%3, %st, %en, %ax, %sd) : (tensor<2x3x5xf32>, tensor<2xi64>, tensor<2xi64>, tensor<2xi64>, tensor<2xi64>) -> tensor<2x2x2xf32> loc("slice")
    %es = "onnx.Constant"() {value = dense<[2, 2, 2, 2]> : tensor<4xi64>} : () -> tensor<4xi64> loc("eshape")
    %5 = "onnx.Expand"(%4, %es) : (tensor<2x2x2xf32>, tensor<4xi64>) -> tensor<2x2x2x2xf32> loc("expand")
    %6 = "onnx.Tanh"(%5) : (tensor<2x2x2x2xf32>) -> tensor<2x2x2x2xf32> loc("tanh")"#;
    let src = module(
        &[("x", X3)],
        body,
        &[
            ("r", "%1", "tensor<10x3xf32>"),
            ("e", "%6", "tensor<2x2x2x2xf32>"),
            ("x_again", "%arg0", X3),
            ("r_again", "%1", "tensor<10x3xf32>"),
        ],
    );
    let c = agree(&src, &[("x", random(&[2, 3, 5], 21))]);
    // The transposed copy before the reshape: one VEC.TRANSPOSE per 3 x 5 block.
    assert_eq!(c["VEC.TRANSPOSE"], 2);
}

#[test]
fn gathers_by_view_list_copies_and_runtime_ids() {
    let body = r#"
    %i0 = "onnx.Constant"() {value = dense<[3, 0, 3, 1]> : tensor<4xi64>} : () -> tensor<4xi64> loc("rows")
    %0 = "onnx.Gather"(%arg0, %i0) {axis = 0 : i64} : (tensor<5x6xf32>, tensor<4xi64>) -> tensor<4x6xf32> loc("g_list")
    %i1 = "onnx.Constant"() {value = dense<[5, -6, 2]> : tensor<3xi64>} : () -> tensor<3xi64> loc("cols")
    %1 = "onnx.Gather"(%arg0, %i1) {axis = 1 : i64} : (tensor<5x6xf32>, tensor<3xi64>) -> tensor<5x3xf32> loc("g_cols")
    %i2 = "onnx.Constant"() {value = dense<[1, 3, 5]> : tensor<3xi64>} : () -> tensor<3xi64> loc("odd")
    %2 = "onnx.Gather"(%arg0, %i2) {axis = 1 : i64} : (tensor<5x6xf32>, tensor<3xi64>) -> tensor<5x3xf32> loc("g_view")
    %3 = "onnx.Gather"(%arg0, %arg1) {axis = 0 : i64} : (tensor<5x6xf32>, tensor<2x3xi64>) -> tensor<2x3x6xf32> loc("g_ids")
    %4 = "onnx.Add"(%1, %2) : (tensor<5x3xf32>, tensor<5x3xf32>) -> tensor<5x3xf32> loc("add")"#;
    let src = module(
        &[("t", "tensor<5x6xf32>"), ("ids", "tensor<2x3xi64>")],
        body,
        &[
            ("list", "%0", "tensor<4x6xf32>"),
            ("cols", "%4", "tensor<5x3xf32>"),
            ("ids_out", "%3", "tensor<2x3x6xf32>"),
        ],
    );
    let ids = Tensor::from_i64(vec![2, 3], vec![4, 0, 2, 2, 1, 3]).unwrap();
    let c = agree(&src, &[("t", random(&[5, 6], 31)), ("ids", ids)]);
    assert_eq!(c["GATHER"], 2, "the constant list and the ids");
}

#[test]
fn norms_softmax_and_patch_convolution() {
    let body = r#"
    %g = "onnx.Constant"() {value = dense<[[1.0, 0.5, 2.0], [1.5, 1.0, 0.25]]> : tensor<2x3xf32>} : () -> tensor<2x3xf32> loc("gamma")
    %0 = "onnx.LayerNormalization"(%arg0, %g) {axis = -2 : i64, epsilon = 1.0e-5 : f32} : (tensor<4x2x3xf32>, tensor<2x3xf32>) -> tensor<4x2x3xf32> loc("ln")
    %1 = "onnx.Softmax"(%arg0) {axis = -1 : i64} : (tensor<4x2x3xf32>) -> tensor<4x2x3xf32> loc("sm")
    %2 = "onnx.Conv"(%arg1, %arg2, %arg3) {kernel_shape = [4 : i64, 4 : i64], strides = [4 : i64, 4 : i64], pads = [0 : i64, 0 : i64, 0 : i64, 0 : i64]} : (tensor<2x2x8x8xf32>, tensor<3x2x4x4xf32>, tensor<3xf32>) -> tensor<2x3x2x2xf32> loc("conv")"#;
    let src = module(
        &[
            ("x", "tensor<4x2x3xf32>"),
            ("img", "tensor<2x2x8x8xf32>"),
            ("w", "tensor<3x2x4x4xf32>"),
            ("cb", "tensor<3xf32>"),
        ],
        body,
        &[
            ("ln", "%0", "tensor<4x2x3xf32>"),
            ("sm", "%1", "tensor<4x2x3xf32>"),
            ("conv", "%2", "tensor<2x3x2x2xf32>"),
        ],
    );
    let c = agree(
        &src,
        &[
            ("x", random(&[4, 2, 3], 41)),
            ("img", random(&[2, 2, 8, 8], 42)),
            ("w", random(&[3, 2, 4, 4], 43)),
            ("cb", random(&[3], 44)),
        ],
    );
    assert_eq!((c["VEC.LAYERNORM"], c["VEC.SOFTMAX"], c["GEMM"]), (1, 1, 2));
}
