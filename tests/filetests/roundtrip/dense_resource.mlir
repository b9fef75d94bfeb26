// test roundtrip
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<1x4xf32>) -> tensor<1x2xf32>, sym_name = "linear"}> ({
  ^bb0(%arg0: tensor<1x4xf32> loc("x")):
    %0 = "onnx.Constant"() {value = dense_resource<linear.weight> : tensor<4x2xf32>} : () -> tensor<4x2xf32> loc("linear.weight")
    %1 = "onnx.Constant"() {value = dense_resource<linear.bias> : tensor<2xf32>} : () -> tensor<2xf32> loc("linear.bias")
    %2 = "onnx.Constant"() {value = dense_resource<__elided__> : tensor<2xi64>} : () -> tensor<2xi64> loc("elided")
    %3 = "onnx.Gemm"(%arg0, %0, %1) {alpha = 1.0 : f32, beta = 1.0 : f32, transB = 0 : i64} : (tensor<1x4xf32>, tensor<4x2xf32>, tensor<2xf32>) -> tensor<1x2xf32> loc("gemm")
    "func.return"(%3) : (tensor<1x2xf32>) -> () loc(unknown)
  }) : () -> () loc(unknown)
}) : () -> () loc(unknown)

{-#
  dialect_resources: {
    builtin: {
      linear.bias: "0x10000000CDCCCC3DCDCC4C3E",
      linear.weight: "0x040000000000803F000000400000404000008040000080BF000000C0000040C0000080C0"
    }
  }
#-}
