// test roundtrip
"builtin.module"() <{sym_name = "encoder"}> ({
  "func.func"() <{function_type = (tensor<1x8xf32>) -> tensor<1x8xf32>, sym_name = "layer0", sym_visibility = "private"}> ({
  ^bb0(%arg0: tensor<1x8xf32> loc("h")):
    %0 = "onnx.Relu"(%arg0) : (tensor<1x8xf32>) -> tensor<1x8xf32> loc("layer0/Relu")
    "func.return"(%0) : (tensor<1x8xf32>) -> () loc(unknown)
  }) : () -> () loc("layer0")
  "func.func"() <{function_type = (tensor<1x8xf32>) -> tensor<1x8xf32>, sym_name = "layer1", sym_visibility = "private"}> ({
  ^bb0(%arg0: tensor<1x8xf32> loc("h")):
    %0 = "onnx.Sigmoid"(%arg0) : (tensor<1x8xf32>) -> tensor<1x8xf32> loc("layer1/Sigmoid")
    %1 = "onnx.Mul"(%arg0, %0) : (tensor<1x8xf32>, tensor<1x8xf32>) -> tensor<1x8xf32> loc("layer1/Mul")
    "func.return"(%1) : (tensor<1x8xf32>) -> () loc(unknown)
  }) : () -> () loc("layer1")
  "func.func"() <{function_type = (tensor<1x8xf32>) -> tensor<1x8xf32>, sym_name = "main"}> ({
  ^bb0(%arg0: tensor<1x8xf32> loc("input")):
    %0 = "func.call"(%arg0) <{callee = @layer0}> : (tensor<1x8xf32>) -> tensor<1x8xf32> loc("call0")
    %1 = "func.call"(%0) <{callee = @layer1}> : (tensor<1x8xf32>) -> tensor<1x8xf32> loc("call1")
    "func.return"(%1) : (tensor<1x8xf32>) -> () loc(unknown)
  }) : () -> () loc("main")
}) : () -> () loc("encoder.onnx":0:0)
