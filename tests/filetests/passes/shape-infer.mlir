// RUN-PIPELINE: shape-infer{bind=batch:2,seq:3},canonicalize
// The exporters' `x.view(b, s, heads, d)`: Reshape to Concat(Unsqueeze(Gather(Shape(x), i)), ...)
// with x: [batch, seq, 8]. Binding batch and seq makes x static, Shape(x) folds from the type,
// and canonicalize folds the whole chain into one constant Reshape target; the signature and the
// Transpose follow. Size(x) folds the same way.
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<?x?x8xf32, ["batch", "seq"]>) -> (tensor<?x2x?x4xf32, ["batch", "seq"]>, tensor<i64>), sym_name = "main"}> ({
  ^bb0(%x: tensor<?x?x8xf32, ["batch", "seq"]> loc("x")):
    %s = "onnx.Shape"(%x) : (tensor<?x?x8xf32, ["batch", "seq"]>) -> tensor<3xi64> loc("shape")
    %i0 = "onnx.Constant"() {value = dense<0> : tensor<i64>} : () -> tensor<i64> loc("c0")
    %i1 = "onnx.Constant"() {value = dense<1> : tensor<i64>} : () -> tensor<i64> loc("c1")
    %b = "onnx.Gather"(%s, %i0) {axis = 0 : i64} : (tensor<3xi64>, tensor<i64>) -> tensor<i64> loc("gather_b")
    %n = "onnx.Gather"(%s, %i1) {axis = 0 : i64} : (tensor<3xi64>, tensor<i64>) -> tensor<i64> loc("gather_s")
    %ax = "onnx.Constant"() {value = dense<0> : tensor<1xi64>} : () -> tensor<1xi64> loc("axes")
    %b1 = "onnx.Unsqueeze"(%b, %ax) : (tensor<i64>, tensor<1xi64>) -> tensor<1xi64> loc("unsqueeze_b")
    %n1 = "onnx.Unsqueeze"(%n, %ax) : (tensor<i64>, tensor<1xi64>) -> tensor<1xi64> loc("unsqueeze_s")
    %hd = "onnx.Constant"() {value = dense<[2, 4]> : tensor<2xi64>} : () -> tensor<2xi64> loc("heads_dim")
    %t = "onnx.Concat"(%b1, %n1, %hd) {axis = 0 : i64} : (tensor<1xi64>, tensor<1xi64>, tensor<2xi64>) -> tensor<4xi64> loc("concat")
    %r = "onnx.Reshape"(%x, %t) : (tensor<?x?x8xf32, ["batch", "seq"]>, tensor<4xi64>) -> tensor<?x?x2x4xf32, ["batch", "seq"]> loc("reshape")
    %p = "onnx.Transpose"(%r) {perm = [0, 2, 1, 3]} : (tensor<?x?x2x4xf32, ["batch", "seq"]>) -> tensor<?x2x?x4xf32, ["batch", "seq"]> loc("transpose")
    %z = "onnx.Size"(%x) : (tensor<?x?x8xf32, ["batch", "seq"]>) -> tensor<i64> loc("size")
    "func.return"(%p, %z) : (tensor<?x2x?x4xf32, ["batch", "seq"]>, tensor<i64>) -> ()
  }) : () -> ()
}) : () -> ()
// CHECK-OUTPUT:
// "builtin.module"() ({
//   "func.func"() <{function_type = (tensor<2x3x8xf32>) -> (tensor<2x2x3x4xf32>, tensor<i64>), sym_name = "main"}> ({
//   ^bb0(%arg0: tensor<2x3x8xf32> loc("x")):
//     %0 = "onnx.Constant"() {value = dense<[2, 3, 2, 4]> : tensor<4xi64>} : () -> tensor<4xi64> loc("concat")
//     %1 = "onnx.Reshape"(%arg0, %0) : (tensor<2x3x8xf32>, tensor<4xi64>) -> tensor<2x3x2x4xf32> loc("reshape")
//     %2 = "onnx.Transpose"(%1) {perm = [0 : i64, 2 : i64, 1 : i64, 3 : i64]} : (tensor<2x3x2x4xf32>) -> tensor<2x2x3x4xf32> loc("transpose")
//     %3 = "onnx.Constant"() {value = dense<48> : tensor<i64>} : () -> tensor<i64> loc("size")
//     "func.return"(%2, %3) : (tensor<2x2x3x4xf32>, tensor<i64>) -> () loc(unknown)
//   }) : () -> () loc(unknown)
// }) : () -> () loc(unknown)
