// RUN-PIPELINE: cct-tile{ablate=dlzs,rass}
// Ablations restrict the extraction to plans with exactly those baselines (prediction by GEMM
// on the PE array, RASS without reuse): the winner changes from Tc 2 / 2 (cct.mlir) to Tc 32
// (Bc 8) for the encoder and Tc 16 (Bc 16) in blocks of 64 queries for the decoder (the
// cost model prices it faster than every 128-query plan), `tiles` follows, and sofa.ablate
// records the ablation for the lowering.
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32>) -> (tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32>), sym_name = "main"}> ({
  ^bb0(%q: tensor<1x2x256x64xf32> loc("q"), %k: tensor<1x2x256x64xf32> loc("k"), %v: tensor<1x2x256x64xf32> loc("v")):
    %enc = "attn.sparse_mha"(%q, %k, %v) {causal = false, head_dim = 64 : i64, heads = 2 : i64, keep_ratio = 0.25 : f32, kv_heads = 2 : i64, pred_bits = 4 : i64, rounding = "floor", scale = 0.125 : f32, tiles = 8 : i64} : (tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32>) -> tensor<1x2x256x64xf32> loc("encoder")
    %dec = "attn.sparse_mha"(%q, %k, %v) {causal = true, head_dim = 64 : i64, heads = 2 : i64, keep_ratio = 0.25 : f32, kv_heads = 2 : i64, pred_bits = 4 : i64, rounding = "floor", scale = 0.125 : f32, tiles = 8 : i64} : (tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32>) -> tensor<1x2x256x64xf32> loc("decoder")
    "func.return"(%enc, %dec) : (tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32>) -> ()
  }) : () -> ()
}) : () -> ()
// CHECK-OUTPUT:
// "builtin.module"() ({
//   "func.func"() <{function_type = (tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32>) -> (tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32>), sym_name = "main"}> ({
//   ^bb0(%arg0: tensor<1x2x256x64xf32> loc("q"), %arg1: tensor<1x2x256x64xf32> loc("k"), %arg2: tensor<1x2x256x64xf32> loc("v")):
//     %0 = "attn.sparse_mha"(%arg0, %arg1, %arg2) {causal = false, head_dim = 64 : i64, heads = 2 : i64, keep_ratio = 0.25 : f32, kv_heads = 2 : i64, pred_bits = 4 : i64, rounding = "floor", scale = 0.125 : f32, sofa.ablate = "dlzs,rass", sofa.q_block = 128 : i64, sofa.schedule = "cct", sofa.tc = 32 : i64, tiles = 32 : i64} : (tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32>) -> tensor<1x2x256x64xf32> loc("encoder")
//     %1 = "attn.sparse_mha"(%arg0, %arg1, %arg2) {causal = true, head_dim = 64 : i64, heads = 2 : i64, keep_ratio = 0.25 : f32, kv_heads = 2 : i64, pred_bits = 4 : i64, rounding = "floor", scale = 0.125 : f32, sofa.ablate = "dlzs,rass", sofa.q_block = 64 : i64, sofa.schedule = "cct", sofa.tc = 16 : i64, tiles = 16 : i64} : (tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32>) -> tensor<1x2x256x64xf32> loc("decoder")
//     "func.return"(%0, %1) : (tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32>) -> () loc(unknown)
//   }) : () -> () loc(unknown)
// }) : () -> () loc(unknown)
