// test verify
// Structural checks: dominance, registration, terminator placement, function result types.
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<2x3xf32>) -> tensor<2x3xf32>, sym_name = "main"}> ({
  ^bb0(%arg0: tensor<2x3xf32>):
    %0 = "onnx.Relu"(%1) : (tensor<2x3xf32>) -> tensor<2x3xf32>
    // error: does not dominate this use
    %1 = "onnx.Relu"(%arg0) : (tensor<2x3xf32>) -> tensor<2x3xf32>
    "mystery.op"(%0) : (tensor<2x3xf32>) -> ()
    // error: 'mystery.op' op #4
    // error: unregistered operation
    %2 = "onnx.Transpose"(%1) {perm = [1, 0]} : (tensor<2x3xf32>) -> tensor<3x2xf32>
    "func.return"(%2) : (tensor<3x2xf32>) -> ()
    // error: operand #0 type differs from function result #0 type
    // error: terminator must be the last op of its block
    "onnx.Relu"(%arg0) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  }) : () -> ()
}) : () -> ()
