// RUN-PIPELINE: cse{aggressive=true},canonicalize{max-iterations=3},dce
// Options in a pipeline string; a second function is a separate scope (its constant is not
// merged with the first function's, even with aggressive CSE).
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<3xf32>) -> tensor<3xf32>, sym_name = "f"}> ({
  ^bb0(%arg0: tensor<3xf32>):
    %0 = "onnx.Constant"() {value = dense<[1.0, 2.0, 3.0]> : tensor<3xf32>} : () -> tensor<3xf32> loc("f_c")
    %1 = "onnx.Max"(%arg0, %0) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32> loc("f_max")
    "func.return"(%1) : (tensor<3xf32>) -> ()
  }) : () -> ()
  "func.func"() <{function_type = (tensor<3xf32>) -> tensor<3xf32>, sym_name = "g"}> ({
  ^bb0(%arg0: tensor<3xf32>):
    %0 = "onnx.Constant"() {value = dense<[1.0, 2.0, 3.0]> : tensor<3xf32>} : () -> tensor<3xf32> loc("g_c")
    %1 = "onnx.Constant"() {value = dense<[1.0, 2.0, 3.0]> : tensor<3xf32>} : () -> tensor<3xf32> loc("g_c_dup")
    %2 = "onnx.Max"(%arg0, %0) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32> loc("g_max")
    %3 = "onnx.Max"(%2, %1) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32> loc("g_max2")
    "func.return"(%3) : (tensor<3xf32>) -> ()
  }) : () -> ()
}) : () -> ()
// CHECK-OUTPUT:
// "builtin.module"() ({
//   "func.func"() <{function_type = (tensor<3xf32>) -> tensor<3xf32>, sym_name = "f"}> ({
//   ^bb0(%arg0: tensor<3xf32> loc(unknown)):
//     %0 = "onnx.Constant"() {value = dense<[1.0, 2.0, 3.0]> : tensor<3xf32>} : () -> tensor<3xf32> loc("f_c")
//     %1 = "onnx.Max"(%arg0, %0) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32> loc("f_max")
//     "func.return"(%1) : (tensor<3xf32>) -> () loc(unknown)
//   }) : () -> () loc(unknown)
//   "func.func"() <{function_type = (tensor<3xf32>) -> tensor<3xf32>, sym_name = "g"}> ({
//   ^bb0(%arg0: tensor<3xf32> loc(unknown)):
//     %0 = "onnx.Constant"() {value = dense<[1.0, 2.0, 3.0]> : tensor<3xf32>} : () -> tensor<3xf32> loc("g_c")
//     %1 = "onnx.Max"(%arg0, %0) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32> loc("g_max")
//     %2 = "onnx.Max"(%1, %0) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32> loc("g_max2")
//     "func.return"(%2) : (tensor<3xf32>) -> () loc(unknown)
//   }) : () -> () loc(unknown)
// }) : () -> () loc(unknown)
