// test roundtrip
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<?x?x768xf32, ["batch", "seq"]>, tensor<?x12x?x?xf32, ["batch", "seq", "seq"]>) -> tensor<?x?x768xf32, ["batch", "seq"]>, sym_name = "dyn"}> ({
  ^bb0(%arg0: tensor<?x?x768xf32, ["batch", "seq"]> loc("hidden"), %arg1: tensor<?x12x?x?xf32, ["batch", "seq", "seq"]> loc("scores")):
    %0 = "onnx.Softmax"(%arg1) {axis = -1 : i64} : (tensor<?x12x?x?xf32, ["batch", "seq", "seq"]>) -> tensor<?x12x?x?xf32, ["batch", "seq", "seq"]> loc("softmax")
    %1 = "onnx.Shape"(%arg0) : (tensor<?x?x768xf32, ["batch", "seq"]>) -> tensor<3xi64> loc("shape")
    %2 = "onnx.Reshape"(%arg0, %1) : (tensor<?x?x768xf32, ["batch", "seq"]>, tensor<3xi64>) -> tensor<?x?x768xf32> loc("reshape")
    %3 = "onnx.Identity"(%2) : (tensor<?x?x768xf32>) -> tensor<1x?x768xf32, ["seq"]> loc("mixed")
    %4 = "onnx.Identity"(%3) : (tensor<1x?x768xf32, ["seq"]>) -> tensor<?x?x768xf32, ["", "seq"]> loc("half")
    %5 = "onnx.Constant"() {value = dense<0.125> : tensor<f32>} : () -> tensor<f32> loc("scale")
    %6 = "onnx.NoValue"() {value} : () -> none loc("none")
    "func.return"(%arg0) : (tensor<?x?x768xf32, ["batch", "seq"]>) -> () loc(unknown)
  }) : () -> () loc(unknown)
}) : () -> () loc(unknown)
