// RUN-PIPELINE: cct-tile{schedule=dense},lower-to-sofa
// The dense schedule (FlashAttention-2, no prediction) on a causal attn.mha [1, 2, 256, 64]:
// key tiles of 128 (Tc 2), Q, K and V tiles double-buffered (ring 2), a constant slot table listing
// each row's visible keys, SU-FA in fa2 mode into one 128-row running partial block (every tile
// after the first merges into it), no Â, SADS or RASS.
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<1x2x256x64xf16>, tensor<1x2x256x64xf16>, tensor<1x2x256x64xf16>) -> tensor<1x2x256x64xf16>, sym_name = "main"}> ({
  ^bb0(%q: tensor<1x2x256x64xf16> loc("q"), %k: tensor<1x2x256x64xf16> loc("k"), %v: tensor<1x2x256x64xf16> loc("v")):
    %o = "attn.mha"(%q, %k, %v) {causal = true, head_dim = 64 : i64, heads = 2 : i64, kv_heads = 2 : i64, scale = 0.125 : f32} : (tensor<1x2x256x64xf16>, tensor<1x2x256x64xf16>, tensor<1x2x256x64xf16>) -> tensor<1x2x256x64xf16> loc("decoder")
    "func.return"(%o) : (tensor<1x2x256x64xf16>) -> ()
  }) : () -> ()
}) : () -> ()
// CHECK-OUTPUT:
// "builtin.module"() ({
//   "func.func"() <{function_type = (tensor<1x2x256x64xf16>, tensor<1x2x256x64xf16>, tensor<1x2x256x64xf16>) -> tensor<1x2x256x64xf16>, sym_name = "main"}> ({
//   ^bb0(%arg0: tensor<1x2x256x64xf16> loc("q"), %arg1: tensor<1x2x256x64xf16> loc("k"), %arg2: tensor<1x2x256x64xf16> loc("v")):
//     %0 = "sofa.kernel"(%arg0, %arg1, %arg2) ({
//       "sofa.buffer"() {bytes = 16384 : i64, name = "q_scaled", offset = 0 : i64, ring = 2 : i64, space = "weight"} : () -> () loc("decoder")
//       "sofa.buffer"() {bytes = 16384 : i64, name = "dense_k", offset = 32768 : i64, ring = 2 : i64, space = "weight"} : () -> () loc("decoder")
//       "sofa.buffer"() {bytes = 16384 : i64, name = "v_tile", offset = 65536 : i64, ring = 2 : i64, space = "weight"} : () -> () loc("decoder")
//       "sofa.buffer"() {bytes = 65536 : i64, name = "dense_slot", offset = 0 : i64, ring = 2 : i64, space = "token"} : () -> () loc("decoder")
//       "sofa.buffer"() {bytes = 33792 : i64, name = "part", offset = 131072 : i64, ring = 1 : i64, space = "token"} : () -> () loc("decoder")
//       "sofa.buffer"() {bytes = 16384 : i64, name = "out", offset = 164864 : i64, ring = 1 : i64, space = "token"} : () -> () loc("decoder")
//       "sofa.for"() ({
//         "sofa.for"() ({
//           "sofa.for"() ({
//             "sofa.dma_load"() {bytes = 128 : i64, dst = "q_scaled", from = "q", rows = 128 : i64} : () -> () loc("decoder")
//             "sofa.scale_q"() {dst = "q_scaled", scale = 0.125 : f32, src = "q_scaled"} : () -> () loc("decoder")
//             "sofa.for"() ({
//               "sofa.dma_load"() {bytes = 128 : i64, dst = "dense_k", from = "k", rows = 128 : i64} : () -> () loc("decoder")
//               "sofa.dma_load"() {bytes = 128 : i64, dst = "v_tile", from = "v", rows = 128 : i64} : () -> () loc("decoder")
//               "sofa.dma_load"() {bytes = 512 : i64, dst = "dense_slot", from = "slot_table", rows = 128 : i64} : () -> () loc("decoder")
//               "sofa.sufa_tile"() {dst = "part", k = "dense_k", mode = "fa2", q = "q_scaled", slot = "dense_slot", v = "v_tile"} : () -> () loc("decoder")
//             }) {causal = true, dim = "k_tile", lower = 0 : i64, step = 128 : i64, upper = 256 : i64} : () -> () loc("decoder")
//             "sofa.sufa_sync"() {dst = "out", part = "part"} : () -> () loc("decoder")
//             "sofa.dma_store"() {bytes = 128 : i64, rows = 128 : i64, src = "out", to = "out"} : () -> () loc("decoder")
//           }) {dim = "q_block", lower = 0 : i64, step = 128 : i64, upper = 256 : i64} : () -> () loc("decoder")
//         }) {dim = "head", lower = 0 : i64, step = 1 : i64, upper = 2 : i64} : () -> () loc("decoder")
//       }) {dim = "batch", lower = 0 : i64, step = 1 : i64, upper = 1 : i64} : () -> () loc("decoder")
//     }) {causal = true, head_dim = 64 : i64, heads = 2 : i64, kv_heads = 2 : i64, scale = 0.125 : f32, sofa.ablate = "", sofa.from = "attn.mha", sofa.kv = "gathered", sofa.q_block = 128 : i64, sofa.schedule = "dense", sofa.tc = 2 : i64} : (tensor<1x2x256x64xf16>, tensor<1x2x256x64xf16>, tensor<1x2x256x64xf16>) -> tensor<1x2x256x64xf16> loc("decoder")
//     "func.return"(%0) : (tensor<1x2x256x64xf16>) -> () loc(unknown)
//   }) : () -> () loc(unknown)
// }) : () -> () loc(unknown)
