// RUN-PIPELINE: fuse-attention
// Candidates that must NOT fuse, left exactly as they were: @softmax_over_queries normalises the
// scores over axis 2 (the queries), not the keys; @runtime_scale multiplies the scores by a
// function argument, which is not a constant scale.
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>, sym_name = "softmax_over_queries"}> ({
  ^bb0(%q: tensor<1x2x4x8xf32> loc("q"), %k: tensor<1x2x4x8xf32> loc("k"), %v: tensor<1x2x4x8xf32> loc("v")):
    %kt = "onnx.Transpose"(%k) {perm = [0, 1, 3, 2]} : (tensor<1x2x4x8xf32>) -> tensor<1x2x8x4xf32> loc("k_transpose")
    %s = "onnx.MatMul"(%q, %kt) : (tensor<1x2x4x8xf32>, tensor<1x2x8x4xf32>) -> tensor<1x2x4x4xf32> loc("scores")
    %p = "onnx.Softmax"(%s) {axis = 2 : i64} : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> loc("softmax")
    %o = "onnx.MatMul"(%p, %v) : (tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> loc("context")
    "func.return"(%o) : (tensor<1x2x4x8xf32>) -> ()
  }) : () -> ()
  "func.func"() <{function_type = (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1xf32>) -> tensor<1x2x4x8xf32>, sym_name = "runtime_scale"}> ({
  ^bb0(%q: tensor<1x2x4x8xf32> loc("q"), %k: tensor<1x2x4x8xf32> loc("k"), %v: tensor<1x2x4x8xf32> loc("v"), %t: tensor<1xf32> loc("temperature")):
    %kt = "onnx.Transpose"(%k) {perm = [0, 1, 3, 2]} : (tensor<1x2x4x8xf32>) -> tensor<1x2x8x4xf32> loc("k_transpose")
    %s = "onnx.MatMul"(%q, %kt) : (tensor<1x2x4x8xf32>, tensor<1x2x8x4xf32>) -> tensor<1x2x4x4xf32> loc("scores")
    %ss = "onnx.Mul"(%s, %t) : (tensor<1x2x4x4xf32>, tensor<1xf32>) -> tensor<1x2x4x4xf32> loc("scaled")
    %p = "onnx.Softmax"(%ss) {axis = -1 : i64} : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> loc("softmax")
    %o = "onnx.MatMul"(%p, %v) : (tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> loc("context")
    "func.return"(%o) : (tensor<1x2x4x8xf32>) -> ()
  }) : () -> ()
}) {onnx.opset = 17 : i64} : () -> ()
// CHECK-OUTPUT:
// "builtin.module"() ({
//   "func.func"() <{function_type = (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>, sym_name = "softmax_over_queries"}> ({
//   ^bb0(%arg0: tensor<1x2x4x8xf32> loc("q"), %arg1: tensor<1x2x4x8xf32> loc("k"), %arg2: tensor<1x2x4x8xf32> loc("v")):
//     %0 = "onnx.Transpose"(%arg1) {perm = [0 : i64, 1 : i64, 3 : i64, 2 : i64]} : (tensor<1x2x4x8xf32>) -> tensor<1x2x8x4xf32> loc("k_transpose")
//     %1 = "onnx.MatMul"(%arg0, %0) : (tensor<1x2x4x8xf32>, tensor<1x2x8x4xf32>) -> tensor<1x2x4x4xf32> loc("scores")
//     %2 = "onnx.Softmax"(%1) {axis = 2 : i64} : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> loc("softmax")
//     %3 = "onnx.MatMul"(%2, %arg2) : (tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> loc("context")
//     "func.return"(%3) : (tensor<1x2x4x8xf32>) -> () loc(unknown)
//   }) : () -> () loc(unknown)
//   "func.func"() <{function_type = (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1xf32>) -> tensor<1x2x4x8xf32>, sym_name = "runtime_scale"}> ({
//   ^bb0(%arg0: tensor<1x2x4x8xf32> loc("q"), %arg1: tensor<1x2x4x8xf32> loc("k"), %arg2: tensor<1x2x4x8xf32> loc("v"), %arg3: tensor<1xf32> loc("temperature")):
//     %0 = "onnx.Transpose"(%arg1) {perm = [0 : i64, 1 : i64, 3 : i64, 2 : i64]} : (tensor<1x2x4x8xf32>) -> tensor<1x2x8x4xf32> loc("k_transpose")
//     %1 = "onnx.MatMul"(%arg0, %0) : (tensor<1x2x4x8xf32>, tensor<1x2x8x4xf32>) -> tensor<1x2x4x4xf32> loc("scores")
//     %2 = "onnx.Mul"(%1, %arg3) : (tensor<1x2x4x4xf32>, tensor<1xf32>) -> tensor<1x2x4x4xf32> loc("scaled")
//     %3 = "onnx.Softmax"(%2) {axis = -1 : i64} : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> loc("softmax")
//     %4 = "onnx.MatMul"(%3, %arg2) : (tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> loc("context")
//     "func.return"(%4) : (tensor<1x2x4x8xf32>) -> () loc(unknown)
//   }) : () -> () loc(unknown)
// }) {onnx.opset = 17 : i64} : () -> () loc(unknown)
