// RUN-PIPELINE: fuse-attention
// BERT's eager spelling (head split by Reshape + Transpose, Kᵀ in one Transpose(0,2,3,1),
// MatMul(Q,Kᵀ) → Mul(1/√8) → Add(padding mask) → Softmax → MatMul(V)) becomes one attn.mha with
// heads = kv_heads = 2, head_dim = 8, scale = 0.35355338, causal = false and the mask as 4th operand.
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<1x4x16xf32>, tensor<1x4x16xf32>, tensor<1x4x16xf32>, tensor<1x1x1x4xf32>) -> tensor<1x4x16xf32>, sym_name = "main"}> ({
  ^bb0(%q: tensor<1x4x16xf32> loc("q"), %k: tensor<1x4x16xf32> loc("k"), %v: tensor<1x4x16xf32> loc("v"), %mask: tensor<1x1x1x4xf32> loc("mask")):
    %split = "onnx.Constant"() {value = dense<[1, 4, 2, 8]> : tensor<4xi64>} : () -> tensor<4xi64> loc("split_shape")
    %q4 = "onnx.Reshape"(%q, %split) : (tensor<1x4x16xf32>, tensor<4xi64>) -> tensor<1x4x2x8xf32> loc("q_reshape")
    %qh = "onnx.Transpose"(%q4) {perm = [0, 2, 1, 3]} : (tensor<1x4x2x8xf32>) -> tensor<1x2x4x8xf32> loc("q_transpose")
    %k4 = "onnx.Reshape"(%k, %split) : (tensor<1x4x16xf32>, tensor<4xi64>) -> tensor<1x4x2x8xf32> loc("k_reshape")
    %kt = "onnx.Transpose"(%k4) {perm = [0, 2, 3, 1]} : (tensor<1x4x2x8xf32>) -> tensor<1x2x8x4xf32> loc("k_transpose")
    %v4 = "onnx.Reshape"(%v, %split) : (tensor<1x4x16xf32>, tensor<4xi64>) -> tensor<1x4x2x8xf32> loc("v_reshape")
    %vh = "onnx.Transpose"(%v4) {perm = [0, 2, 1, 3]} : (tensor<1x4x2x8xf32>) -> tensor<1x2x4x8xf32> loc("v_transpose")
    %s = "onnx.MatMul"(%qh, %kt) : (tensor<1x2x4x8xf32>, tensor<1x2x8x4xf32>) -> tensor<1x2x4x4xf32> loc("scores")
    %c = "onnx.Constant"() {value = dense<0.35355338> : tensor<f32>} : () -> tensor<f32> loc("scale")
    %ss = "onnx.Mul"(%s, %c) : (tensor<1x2x4x4xf32>, tensor<f32>) -> tensor<1x2x4x4xf32> loc("scaled")
    %sm = "onnx.Add"(%ss, %mask) : (tensor<1x2x4x4xf32>, tensor<1x1x1x4xf32>) -> tensor<1x2x4x4xf32> loc("masked")
    %p = "onnx.Softmax"(%sm) {axis = -1 : i64} : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> loc("softmax")
    %o = "onnx.MatMul"(%p, %vh) : (tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> loc("context")
    %ot = "onnx.Transpose"(%o) {perm = [0, 2, 1, 3]} : (tensor<1x2x4x8xf32>) -> tensor<1x4x2x8xf32> loc("out_transpose")
    %merge = "onnx.Constant"() {value = dense<[1, 4, 16]> : tensor<3xi64>} : () -> tensor<3xi64> loc("merge_shape")
    %out = "onnx.Reshape"(%ot, %merge) : (tensor<1x4x2x8xf32>, tensor<3xi64>) -> tensor<1x4x16xf32> loc("out_reshape")
    "func.return"(%out) : (tensor<1x4x16xf32>) -> ()
  }) : () -> ()
}) {onnx.opset = 17 : i64} : () -> ()
// CHECK-OUTPUT:
// "builtin.module"() ({
//   "func.func"() <{function_type = (tensor<1x4x16xf32>, tensor<1x4x16xf32>, tensor<1x4x16xf32>, tensor<1x1x1x4xf32>) -> tensor<1x4x16xf32>, sym_name = "main"}> ({
//   ^bb0(%arg0: tensor<1x4x16xf32> loc("q"), %arg1: tensor<1x4x16xf32> loc("k"), %arg2: tensor<1x4x16xf32> loc("v"), %arg3: tensor<1x1x1x4xf32> loc("mask")):
//     %0 = "onnx.Constant"() {value = dense<[1, 4, 2, 8]> : tensor<4xi64>} : () -> tensor<4xi64> loc("split_shape")
//     %1 = "onnx.Reshape"(%arg0, %0) : (tensor<1x4x16xf32>, tensor<4xi64>) -> tensor<1x4x2x8xf32> loc("q_reshape")
//     %2 = "onnx.Transpose"(%1) {perm = [0 : i64, 2 : i64, 1 : i64, 3 : i64]} : (tensor<1x4x2x8xf32>) -> tensor<1x2x4x8xf32> loc("q_transpose")
//     %3 = "onnx.Reshape"(%arg1, %0) : (tensor<1x4x16xf32>, tensor<4xi64>) -> tensor<1x4x2x8xf32> loc("k_reshape")
//     %4 = "onnx.Reshape"(%arg2, %0) : (tensor<1x4x16xf32>, tensor<4xi64>) -> tensor<1x4x2x8xf32> loc("v_reshape")
//     %5 = "onnx.Transpose"(%4) {perm = [0 : i64, 2 : i64, 1 : i64, 3 : i64]} : (tensor<1x4x2x8xf32>) -> tensor<1x2x4x8xf32> loc("v_transpose")
//     %6 = "onnx.Transpose"(%3) {perm = [0 : i64, 2 : i64, 1 : i64, 3 : i64]} : (tensor<1x4x2x8xf32>) -> tensor<1x2x4x8xf32> loc(fused["softmax", "context"])
//     %7 = "attn.mha"(%2, %6, %5, %arg3) {causal = false, head_dim = 8 : i64, heads = 2 : i64, kv_heads = 2 : i64, scale = 0.35355338 : f32} : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x1x1x4xf32>) -> tensor<1x2x4x8xf32> loc(fused["softmax", "context"])
//     %8 = "onnx.Transpose"(%7) {perm = [0 : i64, 2 : i64, 1 : i64, 3 : i64]} : (tensor<1x2x4x8xf32>) -> tensor<1x4x2x8xf32> loc("out_transpose")
//     %9 = "onnx.Constant"() {value = dense<[1, 4, 16]> : tensor<3xi64>} : () -> tensor<3xi64> loc("merge_shape")
//     %10 = "onnx.Reshape"(%8, %9) : (tensor<1x4x2x8xf32>, tensor<3xi64>) -> tensor<1x4x16xf32> loc("out_reshape")
//     "func.return"(%10) : (tensor<1x4x16xf32>) -> () loc(unknown)
//   }) : () -> () loc(unknown)
// }) {onnx.opset = 17 : i64} : () -> () loc(unknown)
