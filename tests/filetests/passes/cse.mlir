// RUN-PIPELINE: cse
// Equal constants merge; commutative Adds merge with swapped operands, Subs do not; ops differing
// in an attribute (perm) stay apart. The earlier op wins and keeps its location.
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<2x2xf32>) -> (tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x2xf32>), sym_name = "main"}> ({
  ^bb0(%arg0: tensor<2x2xf32>):
    %0 = "onnx.Constant"() {value = dense<0.5> : tensor<2x2xf32>} : () -> tensor<2x2xf32> loc("c0")
    %1 = "onnx.Constant"() {value = dense<0.5> : tensor<2x2xf32>} : () -> tensor<2x2xf32> loc("c1")
    %2 = "onnx.Add"(%arg0, %0) : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32> loc("add0")
    %3 = "onnx.Add"(%1, %arg0) : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32> loc("add1")
    %4 = "onnx.Sub"(%arg0, %0) : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32> loc("sub0")
    %5 = "onnx.Sub"(%1, %arg0) : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32> loc("sub1")
    %6 = "onnx.Transpose"(%arg0) {perm = [1, 0]} : (tensor<2x2xf32>) -> tensor<2x2xf32> loc("t0")
    %7 = "onnx.Transpose"(%arg0) {perm = [0, 1]} : (tensor<2x2xf32>) -> tensor<2x2xf32> loc("t1")
    %8 = "onnx.Mul"(%2, %3) : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32> loc("mul")
    %9 = "onnx.Add"(%4, %5) : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32> loc("subs")
    %10 = "onnx.Add"(%6, %7) : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32> loc("transposes")
    "func.return"(%8, %9, %10) : (tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> ()
  }) : () -> ()
}) : () -> ()
// CHECK-OUTPUT:
// "builtin.module"() ({
//   "func.func"() <{function_type = (tensor<2x2xf32>) -> (tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x2xf32>), sym_name = "main"}> ({
//   ^bb0(%arg0: tensor<2x2xf32> loc(unknown)):
//     %0 = "onnx.Constant"() {value = dense<0.5> : tensor<2x2xf32>} : () -> tensor<2x2xf32> loc("c0")
//     %1 = "onnx.Add"(%arg0, %0) : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32> loc("add0")
//     %2 = "onnx.Sub"(%arg0, %0) : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32> loc("sub0")
//     %3 = "onnx.Sub"(%0, %arg0) : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32> loc("sub1")
//     %4 = "onnx.Transpose"(%arg0) {perm = [1 : i64, 0 : i64]} : (tensor<2x2xf32>) -> tensor<2x2xf32> loc("t0")
//     %5 = "onnx.Transpose"(%arg0) {perm = [0 : i64, 1 : i64]} : (tensor<2x2xf32>) -> tensor<2x2xf32> loc("t1")
//     %6 = "onnx.Mul"(%1, %1) : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32> loc("mul")
//     %7 = "onnx.Add"(%2, %3) : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32> loc("subs")
//     %8 = "onnx.Add"(%4, %5) : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32> loc("transposes")
//     "func.return"(%6, %7, %8) : (tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> () loc(unknown)
//   }) : () -> () loc(unknown)
// }) : () -> () loc(unknown)
