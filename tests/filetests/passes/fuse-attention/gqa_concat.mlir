// RUN-PIPELINE: fuse-attention
// GQA with K and V repeated from 2 to 4 heads by a Concat of unsqueezed heads: Unsqueeze(2) →
// Concat([u, u], axis 2) → Reshape (the other spelling of transformers' repeat_kv); otherwise as
// gqa_dynamo.mlir. The Concat of copies is the Expand the rules know, so one attn.mha reads the
// un-repeated K and V: heads = 4, kv_heads = 2, causal = true; the repetition is gone.
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<1x4x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> tensor<1x4x4x8xf32>, sym_name = "main"}> ({
  ^bb0(%q: tensor<1x4x4x8xf32> loc("q"), %k: tensor<1x2x4x8xf32> loc("k"), %v: tensor<1x2x4x8xf32> loc("v")):
    %ax2 = "onnx.Constant"() {value = dense<[2]> : tensor<1xi64>} : () -> tensor<1xi64> loc("ax2")
    %s4 = "onnx.Constant"() {value = dense<[1, 4, 4, 8]> : tensor<4xi64>} : () -> tensor<4xi64> loc("repeat_shape")
    %ku = "onnx.Unsqueeze"(%k, %ax2) : (tensor<1x2x4x8xf32>, tensor<1xi64>) -> tensor<1x2x1x4x8xf32> loc("k_unsqueeze")
    %ke = "onnx.Concat"(%ku, %ku) {axis = 2 : i64} : (tensor<1x2x1x4x8xf32>, tensor<1x2x1x4x8xf32>) -> tensor<1x2x2x4x8xf32> loc("k_concat")
    %kr = "onnx.Reshape"(%ke, %s4) : (tensor<1x2x2x4x8xf32>, tensor<4xi64>) -> tensor<1x4x4x8xf32> loc("k_repeat")
    %vu = "onnx.Unsqueeze"(%v, %ax2) : (tensor<1x2x4x8xf32>, tensor<1xi64>) -> tensor<1x2x1x4x8xf32> loc("v_unsqueeze")
    %ve = "onnx.Concat"(%vu, %vu) {axis = -3 : i64} : (tensor<1x2x1x4x8xf32>, tensor<1x2x1x4x8xf32>) -> tensor<1x2x2x4x8xf32> loc("v_concat")
    %vr = "onnx.Reshape"(%ve, %s4) : (tensor<1x2x2x4x8xf32>, tensor<4xi64>) -> tensor<1x4x4x8xf32> loc("v_repeat")
    %flat = "onnx.Constant"() {value = dense<[-1, 4, 8]> : tensor<3xi64>} : () -> tensor<3xi64> loc("flat_shape")
    %kf = "onnx.Reshape"(%kr, %flat) : (tensor<1x4x4x8xf32>, tensor<3xi64>) -> tensor<4x4x8xf32> loc("k_flat")
    %kt3 = "onnx.Transpose"(%kf) {perm = [0, 2, 1]} : (tensor<4x4x8xf32>) -> tensor<4x8x4xf32> loc("k_transpose")
    %back = "onnx.Constant"() {value = dense<[1, 4, 8, 4]> : tensor<4xi64>} : () -> tensor<4xi64> loc("back_shape")
    %kt = "onnx.Reshape"(%kt3, %back) : (tensor<4x8x4xf32>, tensor<4xi64>) -> tensor<1x4x8x4xf32> loc("k_back")
    %c = "onnx.Constant"() {value = dense<0.59460354> : tensor<f32>} : () -> tensor<f32> loc("quarter_scale")
    %qs = "onnx.Mul"(%q, %c) : (tensor<1x4x4x8xf32>, tensor<f32>) -> tensor<1x4x4x8xf32> loc("q_scaled")
    %ks = "onnx.Mul"(%kt, %c) : (tensor<1x4x8x4xf32>, tensor<f32>) -> tensor<1x4x8x4xf32> loc("kt_scaled")
    %s = "onnx.MatMul"(%qs, %ks) : (tensor<1x4x4x8xf32>, tensor<1x4x8x4xf32>) -> tensor<1x4x4x4xf32> loc("scores")
    %keep = "onnx.Constant"() {value = dense<[[true, false, false, false], [true, true, false, false], [true, true, true, false], [true, true, true, true]]> : tensor<4x4xi1>} : () -> tensor<4x4xi1> loc("causal_keep")
    %zero = "onnx.Constant"() {value = dense<0.0> : tensor<f32>} : () -> tensor<f32> loc("zero")
    %ninf = "onnx.Constant"() {value = dense<0xFF800000> : tensor<f32>} : () -> tensor<f32> loc("ninf")
    %mask = "onnx.Where"(%keep, %zero, %ninf) : (tensor<4x4xi1>, tensor<f32>, tensor<f32>) -> tensor<4x4xf32> loc("mask")
    %sm = "onnx.Add"(%s, %mask) : (tensor<1x4x4x4xf32>, tensor<4x4xf32>) -> tensor<1x4x4x4xf32> loc("masked")
    %p = "onnx.Softmax"(%sm) {axis = -1 : i64} : (tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32> loc("softmax")
    %o = "onnx.MatMul"(%p, %vr) : (tensor<1x4x4x4xf32>, tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32> loc("context")
    "func.return"(%o) : (tensor<1x4x4x8xf32>) -> ()
  }) : () -> ()
}) {onnx.opset = 18 : i64} : () -> ()
// CHECK-OUTPUT:
// "builtin.module"() ({
//   "func.func"() <{function_type = (tensor<1x4x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> tensor<1x4x4x8xf32>, sym_name = "main"}> ({
//   ^bb0(%arg0: tensor<1x4x4x8xf32> loc("q"), %arg1: tensor<1x2x4x8xf32> loc("k"), %arg2: tensor<1x2x4x8xf32> loc("v")):
//     %0 = "attn.mha"(%arg0, %arg1, %arg2) {causal = true, head_dim = 8 : i64, heads = 4 : i64, kv_heads = 2 : i64, scale = 0.35355335 : f32} : (tensor<1x4x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> tensor<1x4x4x8xf32> loc(fused["softmax", "context"])
//     "func.return"(%0) : (tensor<1x4x4x8xf32>) -> () loc(unknown)
//   }) : () -> () loc(unknown)
// }) {onnx.opset = 18 : i64} : () -> () loc(unknown)
