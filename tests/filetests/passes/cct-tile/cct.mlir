// RUN-PIPELINE: cct-tile
// Default options (schedule cct, K/V gathered, the paper's chip) on a non-causal and a causal
// attn.sparse_mha [1, 2, 256, 64] at keep 0.25: CCT plans with q_block 128 (the chip's query
// block) and K̂ spilled, Tc 2 (Bc 128) for the encoder and the decoder (a causal block skips
// the future tile); `tiles` is rewritten from 8 to the chosen Tc so that the
// op's SADS semantics match what the hardware runs.
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
//     %0 = "attn.sparse_mha"(%arg0, %arg1, %arg2) {causal = false, head_dim = 64 : i64, heads = 2 : i64, keep_ratio = 0.25 : f32, kv_heads = 2 : i64, pred_bits = 4 : i64, rounding = "floor", scale = 0.125 : f32, sofa.ablate = "", sofa.q_block = 128 : i64, sofa.schedule = "cct", sofa.tc = 2 : i64, tiles = 2 : i64} : (tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32>) -> tensor<1x2x256x64xf32> loc("encoder")
//     %1 = "attn.sparse_mha"(%arg0, %arg1, %arg2) {causal = true, head_dim = 64 : i64, heads = 2 : i64, keep_ratio = 0.25 : f32, kv_heads = 2 : i64, pred_bits = 4 : i64, rounding = "floor", scale = 0.125 : f32, sofa.ablate = "", sofa.q_block = 128 : i64, sofa.schedule = "cct", sofa.tc = 2 : i64, tiles = 2 : i64} : (tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32>) -> tensor<1x2x256x64xf32> loc("decoder")
//     "func.return"(%0, %1) : (tensor<1x2x256x64xf32>, tensor<1x2x256x64xf32>) -> () loc(unknown)
//   }) : () -> () loc(unknown)
// }) : () -> () loc(unknown)
