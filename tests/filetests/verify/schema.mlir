// test verify
// Per-op schema checks: operand arity, required, unknown and mistyped attributes.
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<2x3xf32>) -> tensor<3x2xf32>, sym_name = "main"}> ({
  ^bb0(%arg0: tensor<2x3xf32>):
    %0 = "onnx.Constant"() : () -> tensor<2x3xf32>
    // error: missing required attribute 'value'
    %1 = "onnx.Add"(%arg0, %0, %0) : (tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
    // error: expects 2 operand(s), got 3
    %2 = "onnx.Transpose"(%1) {bogus = 1 : i64, perm = "x"} : (tensor<2x3xf32>) -> tensor<3x2xf32>
    // error: unknown attribute 'bogus'
    // error: attribute 'perm' must be an array of integers, got string
    "func.return"(%2) : (tensor<3x2xf32>) -> ()
  }) : () -> ()
}) : () -> ()
