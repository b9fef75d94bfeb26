// test roundtrip
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<2xf32>) -> tensor<2xf32>, sym_name = "locs"}> ({
  ^bb0(%arg0: tensor<2xf32> loc("model.onnx":1:1)):
    %0 = "onnx.Neg"(%arg0) : (tensor<2xf32>) -> tensor<2xf32> loc("model.onnx":12:34)
    %1 = "attn.mha"(%0, %0, %0) {heads = 4 : i64} : (tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32> loc(fused["/attn/MatMul", "/attn/Softmax", "/attn/MatMul_1"])
    %2 = "onnx.Abs"(%1) : (tensor<2xf32>) -> tensor<2xf32> loc(fused["outer", "a", "b", "f.py":3:9])
    %3 = "onnx.Abs"(%2) : (tensor<2xf32>) -> tensor<2xf32> loc("name with \"quotes\" and \\ backslash")
    %4 = "onnx.Abs"(%3) : (tensor<2xf32>) -> tensor<2xf32> loc("/model/层/Abs")
    "func.return"(%4) : (tensor<2xf32>) -> () loc(unknown)
  }) : () -> () loc("locs.py":1:0)
}) : () -> () loc(unknown)
