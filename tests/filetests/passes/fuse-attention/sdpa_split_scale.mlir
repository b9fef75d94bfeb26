// RUN-PIPELINE: fuse-attention
// TorchScript SDPA: the scale split as Mul(Q, 8^-1/4) and Mul(Kᵀ, 8^-1/4), a bool padding mask
// turned additive by Where(keep, 0, -inf), and the IsNaN/Where(nan → 0) guard after Softmax:
// one attn.mha with scale 0.35355335 (the f32 product 0.59460354², one ulp below 1/√8),
// causal = false, the Where as mask; the guard and the two Muls are gone (fully masked rows give
// 0 in attn.mha, so the guard is a no-op).
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x1x1x4xi1>) -> tensor<1x2x4x8xf32>, sym_name = "main"}> ({
  ^bb0(%q: tensor<1x2x4x8xf32> loc("q"), %k: tensor<1x2x4x8xf32> loc("k"), %v: tensor<1x2x4x8xf32> loc("v"), %keep: tensor<1x1x1x4xi1> loc("keep")):
    %zero = "onnx.Constant"() {value = dense<0.0> : tensor<f32>} : () -> tensor<f32> loc("zero")
    %ninf = "onnx.Constant"() {value = dense<0xFF800000> : tensor<f32>} : () -> tensor<f32> loc("ninf")
    %mask = "onnx.Where"(%keep, %zero, %ninf) : (tensor<1x1x1x4xi1>, tensor<f32>, tensor<f32>) -> tensor<1x1x1x4xf32> loc("mask")
    %kt = "onnx.Transpose"(%k) {perm = [0, 1, 3, 2]} : (tensor<1x2x4x8xf32>) -> tensor<1x2x8x4xf32> loc("k_transpose")
    %c = "onnx.Constant"() {value = dense<0.59460354> : tensor<f32>} : () -> tensor<f32> loc("quarter_scale")
    %qs = "onnx.Mul"(%q, %c) : (tensor<1x2x4x8xf32>, tensor<f32>) -> tensor<1x2x4x8xf32> loc("q_scaled")
    %ks = "onnx.Mul"(%kt, %c) : (tensor<1x2x8x4xf32>, tensor<f32>) -> tensor<1x2x8x4xf32> loc("kt_scaled")
    %s = "onnx.MatMul"(%qs, %ks) : (tensor<1x2x4x8xf32>, tensor<1x2x8x4xf32>) -> tensor<1x2x4x4xf32> loc("scores")
    %sm = "onnx.Add"(%s, %mask) : (tensor<1x2x4x4xf32>, tensor<1x1x1x4xf32>) -> tensor<1x2x4x4xf32> loc("masked")
    %p = "onnx.Softmax"(%sm) {axis = -1 : i64} : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> loc("softmax")
    %nan = "onnx.IsNaN"(%p) : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xi1> loc("isnan")
    %pg = "onnx.Where"(%nan, %zero, %p) : (tensor<1x2x4x4xi1>, tensor<f32>, tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> loc("nan_guard")
    %o = "onnx.MatMul"(%pg, %v) : (tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> loc("context")
    "func.return"(%o) : (tensor<1x2x4x8xf32>) -> ()
  }) : () -> ()
}) {onnx.opset = 17 : i64} : () -> ()
// CHECK-OUTPUT:
// "builtin.module"() ({
//   "func.func"() <{function_type = (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x1x1x4xi1>) -> tensor<1x2x4x8xf32>, sym_name = "main"}> ({
//   ^bb0(%arg0: tensor<1x2x4x8xf32> loc("q"), %arg1: tensor<1x2x4x8xf32> loc("k"), %arg2: tensor<1x2x4x8xf32> loc("v"), %arg3: tensor<1x1x1x4xi1> loc("keep")):
//     %0 = "onnx.Constant"() {value = dense<0.0> : tensor<f32>} : () -> tensor<f32> loc("zero")
//     %1 = "onnx.Constant"() {value = dense<0xFF800000> : tensor<f32>} : () -> tensor<f32> loc("ninf")
//     %2 = "onnx.Where"(%arg3, %0, %1) : (tensor<1x1x1x4xi1>, tensor<f32>, tensor<f32>) -> tensor<1x1x1x4xf32> loc("mask")
//     %3 = "attn.mha"(%arg0, %arg1, %arg2, %2) {causal = false, head_dim = 8 : i64, heads = 2 : i64, kv_heads = 2 : i64, scale = 0.35355335 : f32} : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x1x1x4xf32>) -> tensor<1x2x4x8xf32> loc(fused["softmax", "context"])
//     "func.return"(%3) : (tensor<1x2x4x8xf32>) -> () loc(unknown)
//   }) : () -> () loc(unknown)
// }) {onnx.opset = 17 : i64} : () -> () loc(unknown)
