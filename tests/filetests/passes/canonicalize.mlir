// RUN-PIPELINE: canonicalize
// Without foldable ops, canonicalize is DCE + CSE to a fixpoint: merging the two Softmax chains
// makes their duplicate constants and the dead Neg disappear.
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<4x8xf32>) -> tensor<4x8xf32>, sym_name = "main"}> ({
  ^bb0(%arg0: tensor<4x8xf32>):
    %0 = "onnx.Constant"() {value = dense<0.125> : tensor<f32>} : () -> tensor<f32> loc("scale_a")
    %1 = "onnx.Mul"(%arg0, %0) : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32> loc("mul_a")
    %2 = "onnx.Softmax"(%1) {axis = -1 : i64} : (tensor<4x8xf32>) -> tensor<4x8xf32> loc("softmax_a")
    %3 = "onnx.Constant"() {value = dense<0.125> : tensor<f32>} : () -> tensor<f32> loc("scale_b")
    %4 = "onnx.Mul"(%3, %arg0) : (tensor<f32>, tensor<4x8xf32>) -> tensor<4x8xf32> loc("mul_b")
    %5 = "onnx.Softmax"(%4) {axis = -1 : i64} : (tensor<4x8xf32>) -> tensor<4x8xf32> loc("softmax_b")
    %6 = "onnx.Neg"(%5) : (tensor<4x8xf32>) -> tensor<4x8xf32> loc("dead_neg")
    %7 = "onnx.Add"(%2, %5) : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32> loc("sum")
    "func.return"(%7) : (tensor<4x8xf32>) -> ()
  }) : () -> ()
}) : () -> ()
// CHECK-OUTPUT:
// "builtin.module"() ({
//   "func.func"() <{function_type = (tensor<4x8xf32>) -> tensor<4x8xf32>, sym_name = "main"}> ({
//   ^bb0(%arg0: tensor<4x8xf32> loc(unknown)):
//     %0 = "onnx.Constant"() {value = dense<0.125> : tensor<f32>} : () -> tensor<f32> loc("scale_a")
//     %1 = "onnx.Mul"(%arg0, %0) : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32> loc("mul_a")
//     %2 = "onnx.Softmax"(%1) {axis = -1 : i64} : (tensor<4x8xf32>) -> tensor<4x8xf32> loc("softmax_a")
//     %3 = "onnx.Add"(%2, %2) : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32> loc("sum")
//     "func.return"(%3) : (tensor<4x8xf32>) -> () loc(unknown)
//   }) : () -> () loc(unknown)
// }) : () -> () loc(unknown)
