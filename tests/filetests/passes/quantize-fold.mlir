// RUN-PIPELINE: shape-infer{bind=n:3},canonicalize
// The int8 ops of onnxruntime's quantization: shape-infer refines their result types (ui8 and a
// scalar scale and zero point for DynamicQuantizeLinear, i32 for MatMulInteger, the scale's type
// for DequantizeLinear, the zero point's for QuantizeLinear), and constant operands fold through
// the reference kernels with ONNX's rounding (2.5 and 3.5 round to even, -300 and 1000 saturate).
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<?x4xf32, ["n"]>) -> (tensor<?x4xui8, ["n"]>, tensor<f32>, tensor<2x2xi32>, tensor<4xf32>, tensor<4xi8>), sym_name = "main"}> ({
  ^bb0(%x: tensor<?x4xf32, ["n"]> loc("x")):
    %0:3 = "onnx.DynamicQuantizeLinear"(%x) : (tensor<?x4xf32, ["n"]>) -> (tensor<?x4xui8, ["n"]>, tensor<f32>, tensor<ui8>) loc("dql")
    %a = "onnx.Constant"() {value = dense<[[11, 7], [10, 6]]> : tensor<2x2xui8>} : () -> tensor<2x2xui8> loc("a")
    %b = "onnx.Constant"() {value = dense<[[1, -4], [2, 5]]> : tensor<2x2xi8>} : () -> tensor<2x2xi8> loc("b")
    %za = "onnx.Constant"() {value = dense<12> : tensor<ui8>} : () -> tensor<ui8> loc("za")
    %1 = "onnx.MatMulInteger"(%a, %b, %za) : (tensor<2x2xui8>, tensor<2x2xi8>, tensor<ui8>) -> tensor<2x2xi32> loc("mmi")
    %q = "onnx.Constant"() {value = dense<[0, 128, 255, 3]> : tensor<4xui8>} : () -> tensor<4xui8> loc("q")
    %s = "onnx.Constant"() {value = dense<0.5> : tensor<f32>} : () -> tensor<f32> loc("s")
    %z = "onnx.Constant"() {value = dense<128> : tensor<ui8>} : () -> tensor<ui8> loc("z")
    %2 = "onnx.DequantizeLinear"(%q, %s, %z) : (tensor<4xui8>, tensor<f32>, tensor<ui8>) -> tensor<4xf32> loc("dq")
    %f = "onnx.Constant"() {value = dense<[2.5, 3.5, -300.0, 1.0e3]> : tensor<4xf32>} : () -> tensor<4xf32> loc("f")
    %one = "onnx.Constant"() {value = dense<1.0> : tensor<f32>} : () -> tensor<f32> loc("one")
    %zi = "onnx.Constant"() {value = dense<0> : tensor<i8>} : () -> tensor<i8> loc("zi")
    %3 = "onnx.QuantizeLinear"(%f, %one, %zi) : (tensor<4xf32>, tensor<f32>, tensor<i8>) -> tensor<4xi8> loc("ql")
    "func.return"(%0#0, %0#1, %1, %2, %3) : (tensor<?x4xui8, ["n"]>, tensor<f32>, tensor<2x2xi32>, tensor<4xf32>, tensor<4xi8>) -> ()
  }) : () -> ()
}) : () -> ()
// CHECK-OUTPUT:
// "builtin.module"() ({
//   "func.func"() <{function_type = (tensor<3x4xf32>) -> (tensor<3x4xui8>, tensor<f32>, tensor<2x2xi32>, tensor<4xf32>, tensor<4xi8>), sym_name = "main"}> ({
//   ^bb0(%arg0: tensor<3x4xf32> loc("x")):
//     %0:3 = "onnx.DynamicQuantizeLinear"(%arg0) : (tensor<3x4xf32>) -> (tensor<3x4xui8>, tensor<f32>, tensor<ui8>) loc("dql")
//     %1 = "onnx.Constant"() {value = dense<[[-11, -21], [-14, -22]]> : tensor<2x2xi32>} : () -> tensor<2x2xi32> loc("mmi")
//     %2 = "onnx.Constant"() {value = dense<[-64.0, 0.0, 63.5, -62.5]> : tensor<4xf32>} : () -> tensor<4xf32> loc("dq")
//     %3 = "onnx.Constant"() {value = dense<[2, 4, -128, 127]> : tensor<4xi8>} : () -> tensor<4xi8> loc("ql")
//     "func.return"(%0#0, %0#1, %1, %2, %3) : (tensor<3x4xui8>, tensor<f32>, tensor<2x2xi32>, tensor<4xf32>, tensor<4xi8>) -> () loc(unknown)
//   }) : () -> () loc(unknown)
// }) : () -> () loc(unknown)
