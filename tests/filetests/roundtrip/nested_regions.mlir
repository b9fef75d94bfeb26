// test roundtrip
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<8x16xf32>, tensor<i64>) -> tensor<8x16xf32>, sym_name = "tiled"}> ({
  ^bb0(%arg0: tensor<8x16xf32> loc("x"), %arg1: tensor<i64> loc("n")):
    %0 = "test.loop"(%arg1, %arg0) ({
    ^bb0(%arg2: tensor<i64> loc("i"), %arg3: tensor<8x16xf32> loc("acc")):
      %1 = "test.loop"(%arg1, %arg3) ({
      ^bb0(%arg4: tensor<i64> loc("j"), %arg5: tensor<8x16xf32> loc("acc2")):
        %2 = "onnx.Add"(%arg5, %arg0) : (tensor<8x16xf32>, tensor<8x16xf32>) -> tensor<8x16xf32> loc("body")
        "test.yield"(%2) : (tensor<8x16xf32>) -> () loc("yield.inner")
      }) : (tensor<i64>, tensor<8x16xf32>) -> tensor<8x16xf32> loc("loop.inner")
      "test.yield"(%1) : (tensor<8x16xf32>) -> () loc("yield.outer")
    }) : (tensor<i64>, tensor<8x16xf32>) -> tensor<8x16xf32> loc("loop.outer")
    %3 = "test.if"(%0) ({
      %4 = "onnx.Relu"(%0) : (tensor<8x16xf32>) -> tensor<8x16xf32> loc("then")
      "test.yield"(%4) : (tensor<8x16xf32>) -> () loc(unknown)
    }, {
      "test.yield"(%arg0) : (tensor<8x16xf32>) -> () loc(unknown)
    }) : (tensor<8x16xf32>) -> tensor<8x16xf32> loc("if")
    %5 = "test.multi_block"() ({
    ^bb0:
      "test.br"() : () -> () loc(unknown)
    ^bb1(%arg6: tensor<8x16xf32> loc("v")):
      "test.yield"(%arg6) : (tensor<8x16xf32>) -> () loc(unknown)
    ^bb2:
      "test.yield"(%arg0) : (tensor<8x16xf32>) -> () loc("exit")
    }) : () -> tensor<8x16xf32> loc("cfg")
    "func.return"(%3) : (tensor<8x16xf32>) -> () loc(unknown)
  }) : () -> () loc(unknown)
}) : () -> () loc(unknown)
