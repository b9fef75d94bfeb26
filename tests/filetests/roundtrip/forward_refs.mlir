// test roundtrip
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<2xf32>) -> tensor<2xf32>, sym_name = "graph"}> ({
  ^bb0(%arg0: tensor<2xf32> loc("x")):
    %0 = "test.graph"(%arg0) ({
    ^bb0(%arg1: tensor<2xf32> loc("in")):
      "test.yield"(%1) : (tensor<2xf32>) -> () loc("yield")
      %1 = "onnx.Add"(%2, %arg1) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32> loc("add")
      %2 = "onnx.Neg"(%arg1) : (tensor<2xf32>) -> tensor<2xf32> loc("neg")
    }) : (tensor<2xf32>) -> tensor<2xf32> loc("graph")
    "func.return"(%0) : (tensor<2xf32>) -> () loc(unknown)
  }) : () -> () loc(unknown)
}) : () -> () loc(unknown)
