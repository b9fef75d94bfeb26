// RUN-PIPELINE: cct-tile
// A plain attn.mha (keep 1, causal, GQA 2 query heads on 1 KV head) is planned too: CCT with
// Tc 4 (Bc 64), q_block 128, K̂ spilled; it stays attn.mha (no `tiles` attribute is added).
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<1x2x256x64xf32>, tensor<1x1x256x64xf32>, tensor<1x1x256x64xf32>) -> tensor<1x2x256x64xf32>, sym_name = "main"}> ({
  ^bb0(%q: tensor<1x2x256x64xf32> loc("q"), %k: tensor<1x1x256x64xf32> loc("k"), %v: tensor<1x1x256x64xf32> loc("v")):
    %o = "attn.mha"(%q, %k, %v) {causal = true, head_dim = 64 : i64, heads = 2 : i64, kv_heads = 1 : i64, scale = 0.125 : f32} : (tensor<1x2x256x64xf32>, tensor<1x1x256x64xf32>, tensor<1x1x256x64xf32>) -> tensor<1x2x256x64xf32> loc("gqa_layer")
    "func.return"(%o) : (tensor<1x2x256x64xf32>) -> ()
  }) : () -> ()
}) : () -> ()
// CHECK-OUTPUT:
// "builtin.module"() ({
//   "func.func"() <{function_type = (tensor<1x2x256x64xf32>, tensor<1x1x256x64xf32>, tensor<1x1x256x64xf32>) -> tensor<1x2x256x64xf32>, sym_name = "main"}> ({
//   ^bb0(%arg0: tensor<1x2x256x64xf32> loc("q"), %arg1: tensor<1x1x256x64xf32> loc("k"), %arg2: tensor<1x1x256x64xf32> loc("v")):
//     %0 = "attn.mha"(%arg0, %arg1, %arg2) {causal = true, head_dim = 64 : i64, heads = 2 : i64, kv_heads = 1 : i64, scale = 0.125 : f32, sofa.ablate = "", sofa.q_block = 128 : i64, sofa.schedule = "cct", sofa.tc = 4 : i64} : (tensor<1x2x256x64xf32>, tensor<1x1x256x64xf32>, tensor<1x1x256x64xf32>) -> tensor<1x2x256x64xf32> loc("gqa_layer")
//     "func.return"(%0) : (tensor<1x2x256x64xf32>) -> () loc(unknown)
//   }) : () -> () loc(unknown)
// }) : () -> () loc(unknown)
