// RUN-PIPELINE: canonicalize
// Constant subgraphs fold through the reference kernels: Add and Mul of constants (with
// broadcasting), Concat and Gather of constants, chained within one run; the op fed by the
// argument stays, with its constant operand folded.
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<3xf32>) -> (tensor<3xf32>, tensor<2xi64>), sym_name = "main"}> ({
  ^bb0(%x: tensor<3xf32> loc("x")):
    %a = "onnx.Constant"() {value = dense<[1.0, 2.0, 3.0]> : tensor<3xf32>} : () -> tensor<3xf32> loc("a")
    %b = "onnx.Constant"() {value = dense<0.5> : tensor<f32>} : () -> tensor<f32> loc("b")
    %sum = "onnx.Add"(%a, %b) : (tensor<3xf32>, tensor<f32>) -> tensor<3xf32> loc("add_consts")
    %two = "onnx.Constant"() {value = dense<2.0> : tensor<f32>} : () -> tensor<f32> loc("two")
    %prod = "onnx.Mul"(%sum, %two) : (tensor<3xf32>, tensor<f32>) -> tensor<3xf32> loc("mul_consts")
    %y = "onnx.Add"(%x, %prod) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32> loc("add_input")
    %i = "onnx.Constant"() {value = dense<[7, 8]> : tensor<2xi64>} : () -> tensor<2xi64> loc("i")
    %j = "onnx.Constant"() {value = dense<[9]> : tensor<1xi64>} : () -> tensor<1xi64> loc("j")
    %cat = "onnx.Concat"(%i, %j) {axis = 0 : i64} : (tensor<2xi64>, tensor<1xi64>) -> tensor<3xi64> loc("concat")
    %idx = "onnx.Constant"() {value = dense<[2, -3]> : tensor<2xi64>} : () -> tensor<2xi64> loc("idx")
    %g = "onnx.Gather"(%cat, %idx) {axis = 0 : i64} : (tensor<3xi64>, tensor<2xi64>) -> tensor<2xi64> loc("gather")
    "func.return"(%y, %g) : (tensor<3xf32>, tensor<2xi64>) -> ()
  }) : () -> ()
}) : () -> ()
// CHECK-OUTPUT:
// "builtin.module"() ({
//   "func.func"() <{function_type = (tensor<3xf32>) -> (tensor<3xf32>, tensor<2xi64>), sym_name = "main"}> ({
//   ^bb0(%arg0: tensor<3xf32> loc("x")):
//     %0 = "onnx.Constant"() {value = dense<[3.0, 5.0, 7.0]> : tensor<3xf32>} : () -> tensor<3xf32> loc("mul_consts")
//     %1 = "onnx.Add"(%arg0, %0) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32> loc("add_input")
//     %2 = "onnx.Constant"() {value = dense<[9, 7]> : tensor<2xi64>} : () -> tensor<2xi64> loc("gather")
//     "func.return"(%1, %2) : (tensor<3xf32>, tensor<2xi64>) -> () loc(unknown)
//   }) : () -> () loc(unknown)
// }) : () -> () loc(unknown)
