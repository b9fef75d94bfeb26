// RUN-PIPELINE: sparsify{keep=0.5 layers=tests/filetests/passes/sparsify/layers.toml}
// Per-layer overrides from layers.toml on top of keep = 0.5: layer 0 has none (keep 0.5, auto
// tiles 1); layer 1 gets keep 0.125 and tiles 2; layer 2 only radius 6.0 (keep stays 0.5);
// layer 3 is already sparse, still counts as a layer index, and keeps its own attributes (its
// override, keep 0.75, is silently not applied). The path is relative to the package root, the
// working directory of `cargo test`.
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<1x1x32x8xf32>) -> tensor<1x1x32x8xf32>, sym_name = "main"}> ({
  ^bb0(%x: tensor<1x1x32x8xf32> loc("x")):
    %l0 = "attn.mha"(%x, %x, %x) {causal = false, head_dim = 8 : i64, heads = 1 : i64, kv_heads = 1 : i64, scale = 0.35355338 : f32} : (tensor<1x1x32x8xf32>, tensor<1x1x32x8xf32>, tensor<1x1x32x8xf32>) -> tensor<1x1x32x8xf32> loc("layer0")
    %l1 = "attn.mha"(%l0, %l0, %l0) {causal = false, head_dim = 8 : i64, heads = 1 : i64, kv_heads = 1 : i64, scale = 0.35355338 : f32} : (tensor<1x1x32x8xf32>, tensor<1x1x32x8xf32>, tensor<1x1x32x8xf32>) -> tensor<1x1x32x8xf32> loc("layer1")
    %l2 = "attn.mha"(%l1, %l1, %l1) {causal = true, head_dim = 8 : i64, heads = 1 : i64, kv_heads = 1 : i64, scale = 0.35355338 : f32} : (tensor<1x1x32x8xf32>, tensor<1x1x32x8xf32>, tensor<1x1x32x8xf32>) -> tensor<1x1x32x8xf32> loc("layer2")
    %l3 = "attn.sparse_mha"(%l2, %l2, %l2) {causal = false, head_dim = 8 : i64, heads = 1 : i64, keep_ratio = 0.25 : f32, kv_heads = 1 : i64, pred_bits = 4 : i64, rounding = "floor", scale = 0.35355338 : f32, tiles = 1 : i64} : (tensor<1x1x32x8xf32>, tensor<1x1x32x8xf32>, tensor<1x1x32x8xf32>) -> tensor<1x1x32x8xf32> loc("layer3")
    "func.return"(%l3) : (tensor<1x1x32x8xf32>) -> ()
  }) : () -> ()
}) : () -> ()
// CHECK-OUTPUT:
// "builtin.module"() ({
//   "func.func"() <{function_type = (tensor<1x1x32x8xf32>) -> tensor<1x1x32x8xf32>, sym_name = "main"}> ({
//   ^bb0(%arg0: tensor<1x1x32x8xf32> loc("x")):
//     %0 = "attn.sparse_mha"(%arg0, %arg0, %arg0) {causal = false, head_dim = 8 : i64, heads = 1 : i64, keep_ratio = 0.5 : f32, kv_heads = 1 : i64, pred_bits = 4 : i64, rounding = "floor", scale = 0.35355338 : f32, tiles = 1 : i64} : (tensor<1x1x32x8xf32>, tensor<1x1x32x8xf32>, tensor<1x1x32x8xf32>) -> tensor<1x1x32x8xf32> loc("layer0")
//     %1 = "attn.sparse_mha"(%0, %0, %0) {causal = false, head_dim = 8 : i64, heads = 1 : i64, keep_ratio = 0.125 : f32, kv_heads = 1 : i64, pred_bits = 4 : i64, rounding = "floor", scale = 0.35355338 : f32, tiles = 2 : i64} : (tensor<1x1x32x8xf32>, tensor<1x1x32x8xf32>, tensor<1x1x32x8xf32>) -> tensor<1x1x32x8xf32> loc("layer1")
//     %2 = "attn.sparse_mha"(%1, %1, %1) {causal = true, head_dim = 8 : i64, heads = 1 : i64, keep_ratio = 0.5 : f32, kv_heads = 1 : i64, pred_bits = 4 : i64, radius = 6.0 : f32, rounding = "floor", scale = 0.35355338 : f32, tiles = 1 : i64} : (tensor<1x1x32x8xf32>, tensor<1x1x32x8xf32>, tensor<1x1x32x8xf32>) -> tensor<1x1x32x8xf32> loc("layer2")
//     %3 = "attn.sparse_mha"(%2, %2, %2) {causal = false, head_dim = 8 : i64, heads = 1 : i64, keep_ratio = 0.25 : f32, kv_heads = 1 : i64, pred_bits = 4 : i64, rounding = "floor", scale = 0.35355338 : f32, tiles = 1 : i64} : (tensor<1x1x32x8xf32>, tensor<1x1x32x8xf32>, tensor<1x1x32x8xf32>) -> tensor<1x1x32x8xf32> loc("layer3")
//     "func.return"(%3) : (tensor<1x1x32x8xf32>) -> () loc(unknown)
//   }) : () -> () loc(unknown)
// }) : () -> () loc(unknown)
