// RUN-PIPELINE: fuse-attention
// The opset-23 Attention op is mapped directly. @three_d: 3-D [B, S, H·D] inputs with
// q_num_heads = 4, kv_num_heads = 2 and is_causal = 1 → Reshape [0, 0, H, D] + Transpose around an
// attn.mha (heads 4, kv_heads 2, head_dim 8, default scale 1/√8, causal) and the inverse pair on
// the result. @four_d: 4-D inputs, an explicit scale and a bool keep-mask kept as the 4th operand.
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<1x4x32xf32>, tensor<1x4x16xf32>, tensor<1x4x16xf32>) -> tensor<1x4x32xf32>, sym_name = "three_d"}> ({
  ^bb0(%q: tensor<1x4x32xf32> loc("q"), %k: tensor<1x4x16xf32> loc("k"), %v: tensor<1x4x16xf32> loc("v")):
    %y = "onnx.Attention"(%q, %k, %v) {is_causal = 1 : i64, kv_num_heads = 2 : i64, q_num_heads = 4 : i64} : (tensor<1x4x32xf32>, tensor<1x4x16xf32>, tensor<1x4x16xf32>) -> tensor<1x4x32xf32> loc("attention")
    "func.return"(%y) : (tensor<1x4x32xf32>) -> ()
  }) : () -> ()
  "func.func"() <{function_type = (tensor<1x2x4x8xf32>, tensor<1x2x6x8xf32>, tensor<1x2x6x8xf32>, tensor<4x6xi1>) -> tensor<1x2x4x8xf32>, sym_name = "four_d"}> ({
  ^bb0(%q: tensor<1x2x4x8xf32> loc("q"), %k: tensor<1x2x6x8xf32> loc("k"), %v: tensor<1x2x6x8xf32> loc("v"), %keep: tensor<4x6xi1> loc("keep")):
    %y = "onnx.Attention"(%q, %k, %v, %keep) {scale = 0.125 : f32} : (tensor<1x2x4x8xf32>, tensor<1x2x6x8xf32>, tensor<1x2x6x8xf32>, tensor<4x6xi1>) -> tensor<1x2x4x8xf32> loc("attention")
    "func.return"(%y) : (tensor<1x2x4x8xf32>) -> ()
  }) : () -> ()
}) {onnx.opset = 23 : i64} : () -> ()
// CHECK-OUTPUT:
// "builtin.module"() ({
//   "func.func"() <{function_type = (tensor<1x4x32xf32>, tensor<1x4x16xf32>, tensor<1x4x16xf32>) -> tensor<1x4x32xf32>, sym_name = "three_d"}> ({
//   ^bb0(%arg0: tensor<1x4x32xf32> loc("q"), %arg1: tensor<1x4x16xf32> loc("k"), %arg2: tensor<1x4x16xf32> loc("v")):
//     %0 = "onnx.Constant"() {value = dense<[0, 0, 4, 8]> : tensor<4xi64>} : () -> tensor<4xi64> loc("attention")
//     %1 = "onnx.Reshape"(%arg0, %0) : (tensor<1x4x32xf32>, tensor<4xi64>) -> tensor<1x4x4x8xf32> loc("attention")
//     %2 = "onnx.Transpose"(%1) {perm = [0 : i64, 2 : i64, 1 : i64, 3 : i64]} : (tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32> loc("attention")
//     %3 = "onnx.Constant"() {value = dense<[0, 0, 2, 8]> : tensor<4xi64>} : () -> tensor<4xi64> loc("attention")
//     %4 = "onnx.Reshape"(%arg1, %3) : (tensor<1x4x16xf32>, tensor<4xi64>) -> tensor<1x4x2x8xf32> loc("attention")
//     %5 = "onnx.Transpose"(%4) {perm = [0 : i64, 2 : i64, 1 : i64, 3 : i64]} : (tensor<1x4x2x8xf32>) -> tensor<1x2x4x8xf32> loc("attention")
//     %6 = "onnx.Constant"() {value = dense<[0, 0, 2, 8]> : tensor<4xi64>} : () -> tensor<4xi64> loc("attention")
//     %7 = "onnx.Reshape"(%arg2, %6) : (tensor<1x4x16xf32>, tensor<4xi64>) -> tensor<1x4x2x8xf32> loc("attention")
//     %8 = "onnx.Transpose"(%7) {perm = [0 : i64, 2 : i64, 1 : i64, 3 : i64]} : (tensor<1x4x2x8xf32>) -> tensor<1x2x4x8xf32> loc("attention")
//     %9 = "attn.mha"(%2, %5, %8) {causal = true, head_dim = 8 : i64, heads = 4 : i64, kv_heads = 2 : i64, scale = 0.35355338 : f32} : (tensor<1x4x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> tensor<1x4x4x8xf32> loc("attention")
//     %10 = "onnx.Transpose"(%9) {perm = [0 : i64, 2 : i64, 1 : i64, 3 : i64]} : (tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32> loc("attention")
//     %11 = "onnx.Constant"() {value = dense<[0, 0, 32]> : tensor<3xi64>} : () -> tensor<3xi64> loc("attention")
//     %12 = "onnx.Reshape"(%10, %11) : (tensor<1x4x4x8xf32>, tensor<3xi64>) -> tensor<1x4x32xf32> loc("attention")
//     "func.return"(%12) : (tensor<1x4x32xf32>) -> () loc(unknown)
//   }) : () -> () loc(unknown)
//   "func.func"() <{function_type = (tensor<1x2x4x8xf32>, tensor<1x2x6x8xf32>, tensor<1x2x6x8xf32>, tensor<4x6xi1>) -> tensor<1x2x4x8xf32>, sym_name = "four_d"}> ({
//   ^bb0(%arg0: tensor<1x2x4x8xf32> loc("q"), %arg1: tensor<1x2x6x8xf32> loc("k"), %arg2: tensor<1x2x6x8xf32> loc("v"), %arg3: tensor<4x6xi1> loc("keep")):
//     %0 = "attn.mha"(%arg0, %arg1, %arg2, %arg3) {causal = false, head_dim = 8 : i64, heads = 2 : i64, kv_heads = 2 : i64, scale = 0.125 : f32} : (tensor<1x2x4x8xf32>, tensor<1x2x6x8xf32>, tensor<1x2x6x8xf32>, tensor<4x6xi1>) -> tensor<1x2x4x8xf32> loc("attention")
//     "func.return"(%0) : (tensor<1x2x4x8xf32>) -> () loc(unknown)
//   }) : () -> () loc(unknown)
// }) {onnx.opset = 23 : i64} : () -> () loc(unknown)
