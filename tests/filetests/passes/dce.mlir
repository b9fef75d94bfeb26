// RUN-PIPELINE: dce
// Dead chains die in one sweep (the Relu makes the Transpose dead, which makes the Constant dead);
// live ops and their operands stay, whatever their position.
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<2x3xf32>) -> tensor<2x3xf32>, sym_name = "main"}> ({
  ^bb0(%arg0: tensor<2x3xf32>):
    %0 = "onnx.Constant"() {value = dense<[1.0, 2.0, 3.0]> : tensor<3xf32>} : () -> tensor<3xf32> loc("unused_bias")
    %1 = "onnx.Add"(%arg0, %0) : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32> loc("dead_add")
    %2 = "onnx.Transpose"(%1) {perm = [1, 0]} : (tensor<2x3xf32>) -> tensor<3x2xf32> loc("dead_transpose")
    %3 = "onnx.Relu"(%2) : (tensor<3x2xf32>) -> tensor<3x2xf32> loc("dead_relu")
    %4 = "onnx.Sigmoid"(%arg0) : (tensor<2x3xf32>) -> tensor<2x3xf32> loc("live_sigmoid")
    %5 = "onnx.Mul"(%arg0, %4) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32> loc("live_mul")
    "func.return"(%5) : (tensor<2x3xf32>) -> ()
  }) : () -> ()
}) : () -> ()
// CHECK-OUTPUT:
// "builtin.module"() ({
//   "func.func"() <{function_type = (tensor<2x3xf32>) -> tensor<2x3xf32>, sym_name = "main"}> ({
//   ^bb0(%arg0: tensor<2x3xf32> loc(unknown)):
//     %0 = "onnx.Sigmoid"(%arg0) : (tensor<2x3xf32>) -> tensor<2x3xf32> loc("live_sigmoid")
//     %1 = "onnx.Mul"(%arg0, %0) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32> loc("live_mul")
//     "func.return"(%1) : (tensor<2x3xf32>) -> () loc(unknown)
//   }) : () -> () loc(unknown)
// }) : () -> () loc(unknown)
