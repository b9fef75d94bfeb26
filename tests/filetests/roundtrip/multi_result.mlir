// test roundtrip
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<4x8xf32>) -> (tensor<4x4xf32>, tensor<4x4xf32>, tensor<4x2xi64>), sym_name = "split_topk"}> ({
  ^bb0(%arg0: tensor<4x8xf32> loc("x")):
    %0:2 = "onnx.Split"(%arg0) {axis = 1 : i64} : (tensor<4x8xf32>) -> (tensor<4x4xf32>, tensor<4x4xf32>) loc("split")
    %1 = "onnx.Constant"() {value = dense<[2]> : tensor<1xi64>} : () -> tensor<1xi64> loc("k")
    %2:2 = "onnx.TopK"(%0#1, %1) {axis = -1 : i64, largest = 1 : i64, sorted = 1 : i64} : (tensor<4x4xf32>, tensor<1xi64>) -> (tensor<4x2xf32>, tensor<4x2xi64>) loc("topk")
    %3 = "onnx.Add"(%0#0, %0#1) : (tensor<4x4xf32>, tensor<4x4xf32>) -> tensor<4x4xf32> loc("sum")
    "func.return"(%3, %0#0, %2#1) : (tensor<4x4xf32>, tensor<4x4xf32>, tensor<4x2xi64>) -> () loc(unknown)
  }) : () -> () loc(unknown)
}) : () -> () loc(unknown)
