// RUN-PIPELINE: sparsify{keep=0.25}
// A global keep ratio: every attn.mha becomes attn.sparse_mha with keep_ratio 0.25, its
// heads/scale/causal/mask unchanged, no radius, floor rounding, 4 prediction bits, and automatic
// tiles from the key length: Sk = 64 → 1 tile, Sk = 512 → 4 tiles (Bc = 128), symbolic Sk → 4.
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<1x2x64x8xf32>, tensor<1x2x512x8xf32>, tensor<1x1x?x8xf32, ["mem"]>, tensor<1x1x1x512xf32>) -> (tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>), sym_name = "main"}> ({
  ^bb0(%x: tensor<1x2x64x8xf32> loc("x"), %long: tensor<1x2x512x8xf32> loc("long"), %mem: tensor<1x1x?x8xf32, ["mem"]> loc("mem"), %mask: tensor<1x1x1x512xf32> loc("mask")):
    %a = "attn.mha"(%x, %x, %x) {causal = true, head_dim = 8 : i64, heads = 2 : i64, kv_heads = 2 : i64, scale = 0.35355338 : f32} : (tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>) -> tensor<1x2x64x8xf32> loc("self_causal")
    %b = "attn.mha"(%a, %long, %long, %mask) {causal = false, head_dim = 8 : i64, heads = 2 : i64, kv_heads = 2 : i64, scale = 0.35355338 : f32} : (tensor<1x2x64x8xf32>, tensor<1x2x512x8xf32>, tensor<1x2x512x8xf32>, tensor<1x1x1x512xf32>) -> tensor<1x2x64x8xf32> loc("cross_512")
    %c = "attn.mha"(%b, %mem, %mem) {causal = false, head_dim = 8 : i64, heads = 2 : i64, kv_heads = 1 : i64, scale = 0.125 : f32} : (tensor<1x2x64x8xf32>, tensor<1x1x?x8xf32, ["mem"]>, tensor<1x1x?x8xf32, ["mem"]>) -> tensor<1x2x64x8xf32> loc("cross_symbolic")
    "func.return"(%a, %b, %c) : (tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>) -> ()
  }) : () -> ()
}) : () -> ()
// CHECK-OUTPUT:
// "builtin.module"() ({
//   "func.func"() <{function_type = (tensor<1x2x64x8xf32>, tensor<1x2x512x8xf32>, tensor<1x1x?x8xf32, ["mem"]>, tensor<1x1x1x512xf32>) -> (tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>), sym_name = "main"}> ({
//   ^bb0(%arg0: tensor<1x2x64x8xf32> loc("x"), %arg1: tensor<1x2x512x8xf32> loc("long"), %arg2: tensor<1x1x?x8xf32, ["mem"]> loc("mem"), %arg3: tensor<1x1x1x512xf32> loc("mask")):
//     %0 = "attn.sparse_mha"(%arg0, %arg0, %arg0) {causal = true, head_dim = 8 : i64, heads = 2 : i64, keep_ratio = 0.25 : f32, kv_heads = 2 : i64, pred_bits = 4 : i64, rounding = "floor", scale = 0.35355338 : f32, tiles = 1 : i64} : (tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>) -> tensor<1x2x64x8xf32> loc("self_causal")
//     %1 = "attn.sparse_mha"(%0, %arg1, %arg1, %arg3) {causal = false, head_dim = 8 : i64, heads = 2 : i64, keep_ratio = 0.25 : f32, kv_heads = 2 : i64, pred_bits = 4 : i64, rounding = "floor", scale = 0.35355338 : f32, tiles = 4 : i64} : (tensor<1x2x64x8xf32>, tensor<1x2x512x8xf32>, tensor<1x2x512x8xf32>, tensor<1x1x1x512xf32>) -> tensor<1x2x64x8xf32> loc("cross_512")
//     %2 = "attn.sparse_mha"(%1, %arg2, %arg2) {causal = false, head_dim = 8 : i64, heads = 2 : i64, keep_ratio = 0.25 : f32, kv_heads = 1 : i64, pred_bits = 4 : i64, rounding = "floor", scale = 0.125 : f32, tiles = 4 : i64} : (tensor<1x2x64x8xf32>, tensor<1x1x?x8xf32, ["mem"]>, tensor<1x1x?x8xf32, ["mem"]>) -> tensor<1x2x64x8xf32> loc("cross_symbolic")
//     "func.return"(%0, %1, %2) : (tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>) -> () loc(unknown)
//   }) : () -> () loc(unknown)
// }) : () -> () loc(unknown)
