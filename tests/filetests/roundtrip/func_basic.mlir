// test roundtrip
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<1x128x64xf32>, tensor<64x64xf32>, tensor<64xf32>) -> (tensor<1x128x64xf32>, tensor<1x128x64xf32>), sym_name = "mlp"}> ({
  ^bb0(%arg0: tensor<1x128x64xf32> loc("input"), %arg1: tensor<64x64xf32> loc("weight"), %arg2: tensor<64xf32> loc("bias")):
    %0 = "onnx.MatMul"(%arg0, %arg1) : (tensor<1x128x64xf32>, tensor<64x64xf32>) -> tensor<1x128x64xf32> loc("/layer/MatMul")
    %1 = "onnx.Add"(%0, %arg2) : (tensor<1x128x64xf32>, tensor<64xf32>) -> tensor<1x128x64xf32> loc("/layer/Add")
    %2 = "onnx.Relu"(%1) : (tensor<1x128x64xf32>) -> tensor<1x128x64xf32> loc("/layer/Relu")
    "func.return"(%2, %1) : (tensor<1x128x64xf32>, tensor<1x128x64xf32>) -> () loc("/layer/return")
  }) : () -> () loc("mlp")
}) : () -> () loc(unknown)
