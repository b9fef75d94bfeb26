// RUN-PIPELINE: sparsify{keep=0.5 tiles=2 radius=9.5 rounding=nearest pred-bits=3}
// Every option given explicitly: the attn.mha gets keep_ratio 0.5, tiles 2 (not the automatic
// 1), radius 9.5, rounding "nearest", pred_bits 3. The op that is already an attn.sparse_mha
// keeps all of its own attributes (keep 0.125, tiles 8, radius 4.0, floor, 4 bits).
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<1x2x64x8xf32>) -> (tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>), sym_name = "main"}> ({
  ^bb0(%x: tensor<1x2x64x8xf32> loc("x")):
    %a = "attn.mha"(%x, %x, %x) {causal = false, head_dim = 8 : i64, heads = 2 : i64, kv_heads = 2 : i64, scale = 0.35355338 : f32} : (tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>) -> tensor<1x2x64x8xf32> loc("dense_layer")
    %b = "attn.sparse_mha"(%x, %x, %x) {causal = true, head_dim = 8 : i64, heads = 2 : i64, keep_ratio = 0.125 : f32, kv_heads = 2 : i64, pred_bits = 4 : i64, radius = 4.0 : f32, rounding = "floor", scale = 0.35355338 : f32, tiles = 8 : i64} : (tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>) -> tensor<1x2x64x8xf32> loc("already_sparse")
    "func.return"(%a, %b) : (tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>) -> ()
  }) : () -> ()
}) : () -> ()
// CHECK-OUTPUT:
// "builtin.module"() ({
//   "func.func"() <{function_type = (tensor<1x2x64x8xf32>) -> (tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>), sym_name = "main"}> ({
//   ^bb0(%arg0: tensor<1x2x64x8xf32> loc("x")):
//     %0 = "attn.sparse_mha"(%arg0, %arg0, %arg0) {causal = false, head_dim = 8 : i64, heads = 2 : i64, keep_ratio = 0.5 : f32, kv_heads = 2 : i64, pred_bits = 3 : i64, radius = 9.5 : f32, rounding = "nearest", scale = 0.35355338 : f32, tiles = 2 : i64} : (tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>) -> tensor<1x2x64x8xf32> loc("dense_layer")
//     %1 = "attn.sparse_mha"(%arg0, %arg0, %arg0) {causal = true, head_dim = 8 : i64, heads = 2 : i64, keep_ratio = 0.125 : f32, kv_heads = 2 : i64, pred_bits = 4 : i64, radius = 4.0 : f32, rounding = "floor", scale = 0.35355338 : f32, tiles = 8 : i64} : (tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>) -> tensor<1x2x64x8xf32> loc("already_sparse")
//     "func.return"(%0, %1) : (tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>) -> () loc(unknown)
//   }) : () -> () loc(unknown)
// }) : () -> () loc(unknown)
