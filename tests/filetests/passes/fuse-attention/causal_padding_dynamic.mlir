// RUN-PIPELINE: shape-infer,canonicalize,fuse-attention
// GPT-2 SDPA at a symbolic length `seq`: the causal keep-mask built from the query length
// (Range → LessOrEqual(col, row)), ANDed with a bool padding mask, made additive by
// Where(keep, 0, -inf), split scale on Q and Kᵀ. The probes see the causal part, so causal = true,
// and the Where stays the mask operand because it also carries the padding.
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<1x2x?x8xf32, ["seq"]>, tensor<1x2x?x8xf32, ["seq"]>, tensor<1x2x?x8xf32, ["seq"]>, tensor<1x1x1x?xi1, ["seq"]>) -> tensor<1x2x?x8xf32, ["seq"]>, sym_name = "main"}> ({
  ^bb0(%q: tensor<1x2x?x8xf32, ["seq"]> loc("q"), %k: tensor<1x2x?x8xf32, ["seq"]> loc("k"), %v: tensor<1x2x?x8xf32, ["seq"]> loc("v"), %pad: tensor<1x1x1x?xi1, ["seq"]> loc("padding_keep")):
    %shape = "onnx.Shape"(%q) : (tensor<1x2x?x8xf32, ["seq"]>) -> tensor<4xi64> loc("q_shape")
    %two = "onnx.Constant"() {value = dense<2> : tensor<i64>} : () -> tensor<i64> loc("axis_seq")
    %len = "onnx.Gather"(%shape, %two) {axis = 0 : i64} : (tensor<4xi64>, tensor<i64>) -> tensor<i64> loc("seq_len")
    %c0 = "onnx.Constant"() {value = dense<0> : tensor<i64>} : () -> tensor<i64> loc("c0")
    %c1 = "onnx.Constant"() {value = dense<1> : tensor<i64>} : () -> tensor<i64> loc("c1")
    %pos = "onnx.Range"(%c0, %len, %c1) : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<?xi64, ["seq"]> loc("positions")
    %ax0 = "onnx.Constant"() {value = dense<[0]> : tensor<1xi64>} : () -> tensor<1xi64> loc("ax0")
    %ax1 = "onnx.Constant"() {value = dense<[1]> : tensor<1xi64>} : () -> tensor<1xi64> loc("ax1")
    %col = "onnx.Unsqueeze"(%pos, %ax0) : (tensor<?xi64, ["seq"]>, tensor<1xi64>) -> tensor<1x?xi64, ["seq"]> loc("key_pos")
    %row = "onnx.Unsqueeze"(%pos, %ax1) : (tensor<?xi64, ["seq"]>, tensor<1xi64>) -> tensor<?x1xi64, ["seq"]> loc("query_pos")
    %causal = "onnx.LessOrEqual"(%col, %row) : (tensor<1x?xi64, ["seq"]>, tensor<?x1xi64, ["seq"]>) -> tensor<?x?xi1, ["seq", "seq"]> loc("causal_keep")
    %keep = "onnx.And"(%causal, %pad) : (tensor<?x?xi1, ["seq", "seq"]>, tensor<1x1x1x?xi1, ["seq"]>) -> tensor<1x1x?x?xi1, ["seq", "seq"]> loc("keep")
    %zero = "onnx.Constant"() {value = dense<0.0> : tensor<f32>} : () -> tensor<f32> loc("zero")
    %ninf = "onnx.Constant"() {value = dense<0xFF800000> : tensor<f32>} : () -> tensor<f32> loc("ninf")
    %mask = "onnx.Where"(%keep, %zero, %ninf) : (tensor<1x1x?x?xi1, ["seq", "seq"]>, tensor<f32>, tensor<f32>) -> tensor<1x1x?x?xf32, ["seq", "seq"]> loc("mask")
    %kt = "onnx.Transpose"(%k) {perm = [0, 1, 3, 2]} : (tensor<1x2x?x8xf32, ["seq"]>) -> tensor<1x2x8x?xf32, ["seq"]> loc("k_transpose")
    %c = "onnx.Constant"() {value = dense<0.59460354> : tensor<f32>} : () -> tensor<f32> loc("quarter_scale")
    %qs = "onnx.Mul"(%q, %c) : (tensor<1x2x?x8xf32, ["seq"]>, tensor<f32>) -> tensor<1x2x?x8xf32, ["seq"]> loc("q_scaled")
    %ks = "onnx.Mul"(%kt, %c) : (tensor<1x2x8x?xf32, ["seq"]>, tensor<f32>) -> tensor<1x2x8x?xf32, ["seq"]> loc("kt_scaled")
    %s = "onnx.MatMul"(%qs, %ks) : (tensor<1x2x?x8xf32, ["seq"]>, tensor<1x2x8x?xf32, ["seq"]>) -> tensor<1x2x?x?xf32, ["seq", "seq"]> loc("scores")
    %sm = "onnx.Add"(%s, %mask) : (tensor<1x2x?x?xf32, ["seq", "seq"]>, tensor<1x1x?x?xf32, ["seq", "seq"]>) -> tensor<1x2x?x?xf32, ["seq", "seq"]> loc("masked")
    %p = "onnx.Softmax"(%sm) {axis = -1 : i64} : (tensor<1x2x?x?xf32, ["seq", "seq"]>) -> tensor<1x2x?x?xf32, ["seq", "seq"]> loc("softmax")
    %nan = "onnx.IsNaN"(%p) : (tensor<1x2x?x?xf32, ["seq", "seq"]>) -> tensor<1x2x?x?xi1, ["seq", "seq"]> loc("isnan")
    %pg = "onnx.Where"(%nan, %zero, %p) : (tensor<1x2x?x?xi1, ["seq", "seq"]>, tensor<f32>, tensor<1x2x?x?xf32, ["seq", "seq"]>) -> tensor<1x2x?x?xf32, ["seq", "seq"]> loc("nan_guard")
    %o = "onnx.MatMul"(%pg, %v) : (tensor<1x2x?x?xf32, ["seq", "seq"]>, tensor<1x2x?x8xf32, ["seq"]>) -> tensor<1x2x?x8xf32, ["seq"]> loc("context")
    "func.return"(%o) : (tensor<1x2x?x8xf32, ["seq"]>) -> ()
  }) : () -> ()
}) {onnx.opset = 17 : i64} : () -> ()
// CHECK-OUTPUT:
// "builtin.module"() ({
//   "func.func"() <{function_type = (tensor<1x2x?x8xf32, ["seq"]>, tensor<1x2x?x8xf32, ["seq"]>, tensor<1x2x?x8xf32, ["seq"]>, tensor<1x1x1x?xi1, ["seq"]>) -> tensor<1x2x?x8xf32, ["seq"]>, sym_name = "main"}> ({
//   ^bb0(%arg0: tensor<1x2x?x8xf32, ["seq"]> loc("q"), %arg1: tensor<1x2x?x8xf32, ["seq"]> loc("k"), %arg2: tensor<1x2x?x8xf32, ["seq"]> loc("v"), %arg3: tensor<1x1x1x?xi1, ["seq"]> loc("padding_keep")):
//     %0 = "onnx.Shape"(%arg0) : (tensor<1x2x?x8xf32, ["seq"]>) -> tensor<4xi64> loc("q_shape")
//     %1 = "onnx.Constant"() {value = dense<2> : tensor<i64>} : () -> tensor<i64> loc("axis_seq")
//     %2 = "onnx.Gather"(%0, %1) {axis = 0 : i64} : (tensor<4xi64>, tensor<i64>) -> tensor<i64> loc("seq_len")
//     %3 = "onnx.Constant"() {value = dense<0> : tensor<i64>} : () -> tensor<i64> loc("c0")
//     %4 = "onnx.Constant"() {value = dense<1> : tensor<i64>} : () -> tensor<i64> loc("c1")
//     %5 = "onnx.Range"(%3, %2, %4) : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<?xi64, ["seq"]> loc("positions")
//     %6 = "onnx.Constant"() {value = dense<[0]> : tensor<1xi64>} : () -> tensor<1xi64> loc("ax0")
//     %7 = "onnx.Constant"() {value = dense<[1]> : tensor<1xi64>} : () -> tensor<1xi64> loc("ax1")
//     %8 = "onnx.Unsqueeze"(%5, %6) : (tensor<?xi64, ["seq"]>, tensor<1xi64>) -> tensor<1x?xi64, ["seq"]> loc("key_pos")
//     %9 = "onnx.Unsqueeze"(%5, %7) : (tensor<?xi64, ["seq"]>, tensor<1xi64>) -> tensor<?x1xi64, ["seq"]> loc("query_pos")
//     %10 = "onnx.LessOrEqual"(%8, %9) : (tensor<1x?xi64, ["seq"]>, tensor<?x1xi64, ["seq"]>) -> tensor<?x?xi1, ["seq", "seq"]> loc("causal_keep")
//     %11 = "onnx.And"(%10, %arg3) : (tensor<?x?xi1, ["seq", "seq"]>, tensor<1x1x1x?xi1, ["seq"]>) -> tensor<1x1x?x?xi1, ["seq", "seq"]> loc("keep")
//     %12 = "onnx.Constant"() {value = dense<0.0> : tensor<f32>} : () -> tensor<f32> loc("zero")
//     %13 = "onnx.Constant"() {value = dense<0xFF800000> : tensor<f32>} : () -> tensor<f32> loc("ninf")
//     %14 = "onnx.Where"(%11, %12, %13) : (tensor<1x1x?x?xi1, ["seq", "seq"]>, tensor<f32>, tensor<f32>) -> tensor<1x1x?x?xf32, ["seq", "seq"]> loc("mask")
//     %15 = "attn.mha"(%arg0, %arg1, %arg2, %14) {causal = true, head_dim = 8 : i64, heads = 2 : i64, kv_heads = 2 : i64, scale = 0.35355335 : f32} : (tensor<1x2x?x8xf32, ["seq"]>, tensor<1x2x?x8xf32, ["seq"]>, tensor<1x2x?x8xf32, ["seq"]>, tensor<1x1x?x?xf32, ["seq", "seq"]>) -> tensor<1x2x?x8xf32, ["seq"]> loc(fused["softmax", "context"])
//     "func.return"(%15) : (tensor<1x2x?x8xf32, ["seq"]>) -> () loc(unknown)
//   }) : () -> () loc(unknown)
// }) {onnx.opset = 17 : i64} : () -> () loc(unknown)
