// RUN-PIPELINE: sparsify{keep=0.25},cct-tile{schedule=staged},lower-to-sofa
// The staged schedule on a non-causal attn.mha [1, 2, 256, 64] with an additive float mask fed
// at run time at keep 0.25. Its values are unknown, so it is a score bias: per q_block a
// prediction loop (K̂ tile → Â, + mask tile, Â stored to the DRAM spill), then per row chunk the
// chunk's bias rows and Â loaded back, one whole-row SADS (budget 64), one list of RASS/gather/
// SU-FA bias + SU-FA fa2, the partials through the A spill, SUFA.SYNC and the store. NOTE: the
// plan says sofa.q_block = 128 but the body's q_block loop steps 64 rows: the lowering's buffer
// search finds no 128-row block whose Â, bias rows and mask tiles fit.
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<1x2x256x64xf16>, tensor<1x2x256x64xf16>, tensor<1x2x256x64xf16>, tensor<1x1x1x256xf32>) -> tensor<1x2x256x64xf16>, sym_name = "main"}> ({
  ^bb0(%q: tensor<1x2x256x64xf16> loc("q"), %k: tensor<1x2x256x64xf16> loc("k"), %v: tensor<1x2x256x64xf16> loc("v"), %mask: tensor<1x1x1x256xf32> loc("mask")):
    %o = "attn.mha"(%q, %k, %v, %mask) {causal = false, head_dim = 64 : i64, heads = 2 : i64, kv_heads = 2 : i64, scale = 0.125 : f32} : (tensor<1x2x256x64xf16>, tensor<1x2x256x64xf16>, tensor<1x2x256x64xf16>, tensor<1x1x1x256xf32>) -> tensor<1x2x256x64xf16> loc("encoder")
    "func.return"(%o) : (tensor<1x2x256x64xf16>) -> ()
  }) : () -> ()
}) : () -> ()
// CHECK-OUTPUT:
// "builtin.module"() ({
//   "func.func"() <{function_type = (tensor<1x2x256x64xf16>, tensor<1x2x256x64xf16>, tensor<1x2x256x64xf16>, tensor<1x1x1x256xf32>) -> tensor<1x2x256x64xf16>, sym_name = "main"}> ({
//   ^bb0(%arg0: tensor<1x2x256x64xf16> loc("q"), %arg1: tensor<1x2x256x64xf16> loc("k"), %arg2: tensor<1x2x256x64xf16> loc("v"), %arg3: tensor<1x1x1x256xf32> loc("mask")):
//     %0 = "sofa.kernel"(%arg0, %arg1, %arg2, %arg3) ({
//       "sofa.buffer"() {bytes = 8192 : i64, name = "q_scaled", offset = 180736 : i64, ring = 1 : i64, space = "token"} : () -> () loc("encoder")
//       "sofa.buffer"() {bytes = 16384 : i64, name = "k_tile", offset = 65536 : i64, ring = 1 : i64, space = "weight"} : () -> () loc("encoder")
//       "sofa.buffer"() {bytes = 65536 : i64, name = "a_hat", offset = 0 : i64, ring = 1 : i64, space = "token"} : () -> () loc("encoder")
//       "sofa.buffer"() {bytes = 32768 : i64, name = "u_mask", offset = 131072 : i64, ring = 1 : i64, space = "token"} : () -> () loc("encoder")
//       "sofa.buffer"() {bytes = 65536 : i64, name = "bias_rows", offset = 65536 : i64, ring = 1 : i64, space = "token"} : () -> () loc("encoder")
//       "sofa.buffer"() {bytes = 16384 : i64, name = "idx", offset = 0 : i64, ring = 1 : i64, space = "temp"} : () -> () loc("encoder")
//       "sofa.buffer"() {bytes = 512 : i64, name = "top", offset = 25664 : i64, ring = 1 : i64, space = "temp"} : () -> () loc("encoder")
//       "sofa.buffer"() {bytes = 1088 : i64, name = "order", offset = 24576 : i64, ring = 1 : i64, space = "temp"} : () -> () loc("encoder")
//       "sofa.buffer"() {bytes = 16384 : i64, name = "slot", offset = 81920 : i64, ring = 1 : i64, space = "weight"} : () -> () loc("encoder")
//       "sofa.buffer"() {bytes = 32768 : i64, name = "g_k", offset = 0 : i64, ring = 1 : i64, space = "weight"} : () -> () loc("encoder")
//       "sofa.buffer"() {bytes = 32768 : i64, name = "g_v", offset = 32768 : i64, ring = 1 : i64, space = "weight"} : () -> () loc("encoder")
//       "sofa.buffer"() {bytes = 16896 : i64, name = "part", offset = 163840 : i64, ring = 1 : i64, space = "token"} : () -> () loc("encoder")
//       "sofa.buffer"() {bytes = 8192 : i64, name = "out", offset = 16384 : i64, ring = 1 : i64, space = "temp"} : () -> () loc("encoder")
//       "sofa.for"() ({
//         "sofa.for"() ({
//           "sofa.for"() ({
//             "sofa.dma_load"() {bytes = 128 : i64, dst = "q_scaled", from = "q", rows = 64 : i64} : () -> () loc("encoder")
//             "sofa.scale_q"() {dst = "q_scaled", scale = 0.125 : f32, src = "q_scaled"} : () -> () loc("encoder")
//             "sofa.for"() ({
//               "sofa.dma_load"() {bytes = 128 : i64, dst = "k_tile", from = "k", rows = 128 : i64} : () -> () loc("encoder")
//               "sofa.predict_scores"() {dst = "a_hat", engine = "dlzs", khat = "k_tile", q = "q_scaled"} : () -> () loc("encoder")
//               "sofa.dma_load"() {bytes = 512 : i64, dst = "u_mask", from = "mask", rows = 64 : i64} : () -> () loc("encoder")
//               "sofa.mask_add"() {dst = "a_hat", kind = "mask", mask = "u_mask"} : () -> () loc("encoder")
//               "sofa.dma_store"() {bytes = 512 : i64, rows = 64 : i64, src = "a_hat", to = "ahat_spill"} : () -> () loc("encoder")
//             }) {dim = "k_tile", lower = 0 : i64, step = 128 : i64, upper = 256 : i64} : () -> () loc("encoder")
//             "sofa.for"() ({
//               "sofa.dma_load"() {bytes = 1024 : i64, dst = "bias_rows", from = "mask", rows = 64 : i64} : () -> () loc("encoder")
//               "sofa.dma_load"() {bytes = 1024 : i64, dst = "a_hat", from = "ahat_spill", rows = 64 : i64} : () -> () loc("encoder")
//               "sofa.sads"() {idx = "idx", sel = 64 : i64, src = "a_hat", top = "top", whole_row = true} : () -> () loc("encoder")
//               "sofa.for"() ({
//                 "sofa.rass"() {idx = "idx", order = "order", reuse = true, slot = "slot"} : () -> () loc("encoder")
//                 "sofa.gather"() {dst = "g_k", from = "k", idx = "order", rows = 256 : i64} : () -> () loc("encoder")
//                 "sofa.gather"() {dst = "g_v", from = "v", idx = "order", rows = 256 : i64} : () -> () loc("encoder")
//                 "sofa.sufa_bias"() {bias = "bias_rows", idx = "idx"} : () -> () loc("encoder")
//                 "sofa.sufa_tile"() {dst = "part", k = "g_k", mode = "fa2", q = "q_scaled", slot = "slot", v = "g_v"} : () -> () loc("encoder")
//               }) {dim = "list", lower = 0 : i64, step = 1 : i64, upper = 1 : i64} : () -> () loc("encoder")
//               "sofa.dma_store"() {bytes = 264 : i64, rows = 64 : i64, src = "part", to = "a_spill"} : () -> () loc("encoder")
//               "sofa.dma_load"() {bytes = 264 : i64, dst = "part", from = "a_spill", rows = 64 : i64} : () -> () loc("encoder")
//               "sofa.sufa_sync"() {dst = "out", part = "part"} : () -> () loc("encoder")
//               "sofa.dma_store"() {bytes = 128 : i64, rows = 64 : i64, src = "out", to = "out"} : () -> () loc("encoder")
//             }) {dim = "row_chunk", lower = 0 : i64, step = 64 : i64, upper = 64 : i64} : () -> () loc("encoder")
//           }) {dim = "q_block", lower = 0 : i64, step = 64 : i64, upper = 256 : i64} : () -> () loc("encoder")
//         }) {dim = "head", lower = 0 : i64, step = 1 : i64, upper = 2 : i64} : () -> () loc("encoder")
//       }) {dim = "batch", lower = 0 : i64, step = 1 : i64, upper = 1 : i64} : () -> () loc("encoder")
//     }) {causal = false, head_dim = 64 : i64, heads = 2 : i64, keep_ratio = 0.25 : f32, kv_heads = 2 : i64, pred_bits = 4 : i64, rounding = "floor", scale = 0.125 : f32, sofa.ablate = "", sofa.from = "attn.sparse_mha", sofa.kv = "gathered", sofa.q_block = 128 : i64, sofa.schedule = "staged", sofa.tc = 1 : i64, tiles = 1 : i64} : (tensor<1x2x256x64xf16>, tensor<1x2x256x64xf16>, tensor<1x2x256x64xf16>, tensor<1x1x1x256xf32>) -> tensor<1x2x256x64xf16> loc("encoder")
//     "func.return"(%0) : (tensor<1x2x256x64xf16>) -> () loc(unknown)
//   }) : () -> () loc(unknown)
// }) : () -> () loc(unknown)
