// RUN-PIPELINE: fuse-attention
// Div(scores, Sqrt(8)) and a constant lower-triangular additive mask (float32 lowest above the
// diagonal, as eager exports fold it): causal = true, scale = 1/√8, and the mask is dropped (it
// says nothing beyond causality), so attn.mha has three operands.
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>, sym_name = "main"}> ({
  ^bb0(%q: tensor<1x2x4x8xf32> loc("q"), %k: tensor<1x2x4x8xf32> loc("k"), %v: tensor<1x2x4x8xf32> loc("v")):
    %kt = "onnx.Transpose"(%k) {perm = [0, 1, 3, 2]} : (tensor<1x2x4x8xf32>) -> tensor<1x2x8x4xf32> loc("k_transpose")
    %s = "onnx.MatMul"(%q, %kt) : (tensor<1x2x4x8xf32>, tensor<1x2x8x4xf32>) -> tensor<1x2x4x4xf32> loc("scores")
    %eight = "onnx.Constant"() {value = dense<8.0> : tensor<f32>} : () -> tensor<f32> loc("eight")
    %root = "onnx.Sqrt"(%eight) : (tensor<f32>) -> tensor<f32> loc("sqrt")
    %ss = "onnx.Div"(%s, %root) : (tensor<1x2x4x4xf32>, tensor<f32>) -> tensor<1x2x4x4xf32> loc("scaled")
    %mask = "onnx.Constant"() {value = dense<[[[[0.0, -3.4028235e38, -3.4028235e38, -3.4028235e38], [0.0, 0.0, -3.4028235e38, -3.4028235e38], [0.0, 0.0, 0.0, -3.4028235e38], [0.0, 0.0, 0.0, 0.0]]]]> : tensor<1x1x4x4xf32>} : () -> tensor<1x1x4x4xf32> loc("causal_mask")
    %sm = "onnx.Add"(%ss, %mask) : (tensor<1x2x4x4xf32>, tensor<1x1x4x4xf32>) -> tensor<1x2x4x4xf32> loc("masked")
    %p = "onnx.Softmax"(%sm) {axis = -1 : i64} : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> loc("softmax")
    %o = "onnx.MatMul"(%p, %v) : (tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> loc("context")
    "func.return"(%o) : (tensor<1x2x4x8xf32>) -> ()
  }) : () -> ()
}) {onnx.opset = 17 : i64} : () -> ()
// CHECK-OUTPUT:
// "builtin.module"() ({
//   "func.func"() <{function_type = (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>, sym_name = "main"}> ({
//   ^bb0(%arg0: tensor<1x2x4x8xf32> loc("q"), %arg1: tensor<1x2x4x8xf32> loc("k"), %arg2: tensor<1x2x4x8xf32> loc("v")):
//     %0 = "attn.mha"(%arg0, %arg1, %arg2) {causal = true, head_dim = 8 : i64, heads = 2 : i64, kv_heads = 2 : i64, scale = 0.35355338 : f32} : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> loc(fused["softmax", "context"])
//     "func.return"(%0) : (tensor<1x2x4x8xf32>) -> () loc(unknown)
//   }) : () -> () loc(unknown)
// }) {onnx.opset = 17 : i64} : () -> () loc(unknown)
