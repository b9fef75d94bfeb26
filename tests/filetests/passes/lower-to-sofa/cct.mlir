// RUN-PIPELINE: sparsify{keep=0.25},cct-tile,lower-to-sofa
// Attention-only IR (q, k, v are arguments, so K/V are gathered from DRAM): a causal attn.mha
// [1, 2, 256, 64] at keep 0.25 under the CCT plan (Tc 2, Bc 128, q_block 128) becomes a
// sofa.kernel with its f16 SRAM buffers (128-row Q scaled in place in a ring of 2, so the next
// block's Q, prediction and first gathers overlap this block's SU-FA; indices, issue order,
// slots and gathered K/V in rings of 2; single K tile, 128×128 Â, mask and output; per-tile
// budget 64/2 = 32 in SADS, one 128-row running partial block) and the loop nest batch → head →
// q_block → k_tile (causal: future tiles skipped) with predict, causal mask, SADS, RASS, gather,
// SU-FA steps, then SUFA.SYNC and the store.
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
//       "sofa.buffer"() {bytes = 16384 : i64, name = "q_scaled", offset = 101376 : i64, ring = 2 : i64, space = "token"} : () -> () loc("decoder")
//       "sofa.buffer"() {bytes = 16384 : i64, name = "k_tile", offset = 166912 : i64, ring = 1 : i64, space = "token"} : () -> () loc("decoder")
//       "sofa.buffer"() {bytes = 32768 : i64, name = "a_hat", offset = 134144 : i64, ring = 1 : i64, space = "token"} : () -> () loc("decoder")
//       "sofa.buffer"() {bytes = 32768 : i64, name = "mask", offset = 0 : i64, ring = 1 : i64, space = "weight"} : () -> () loc("decoder")
//       "sofa.buffer"() {bytes = 16896 : i64, name = "idx", offset = 0 : i64, ring = 2 : i64, space = "token"} : () -> () loc("decoder")
//       "sofa.buffer"() {bytes = 512 : i64, name = "top", offset = 17536 : i64, ring = 1 : i64, space = "temp"} : () -> () loc("decoder")
//       "sofa.buffer"() {bytes = 576 : i64, name = "order", offset = 16384 : i64, ring = 2 : i64, space = "temp"} : () -> () loc("decoder")
//       "sofa.buffer"() {bytes = 16896 : i64, name = "slot", offset = 33792 : i64, ring = 2 : i64, space = "token"} : () -> () loc("decoder")
//       "sofa.buffer"() {bytes = 16384 : i64, name = "g_k", offset = 32768 : i64, ring = 2 : i64, space = "weight"} : () -> () loc("decoder")
//       "sofa.buffer"() {bytes = 16384 : i64, name = "g_v", offset = 65536 : i64, ring = 2 : i64, space = "weight"} : () -> () loc("decoder")
//       "sofa.buffer"() {bytes = 33792 : i64, name = "part", offset = 67584 : i64, ring = 1 : i64, space = "token"} : () -> () loc("decoder")
//       "sofa.buffer"() {bytes = 16384 : i64, name = "out", offset = 0 : i64, ring = 1 : i64, space = "temp"} : () -> () loc("decoder")
//       "sofa.for"() ({
//         "sofa.for"() ({
//           "sofa.for"() ({
//             "sofa.dma_load"() {bytes = 128 : i64, dst = "q_scaled", from = "q", rows = 128 : i64} : () -> () loc("decoder")
//             "sofa.scale_q"() {dst = "q_scaled", scale = 0.125 : f32, src = "q_scaled"} : () -> () loc("decoder")
//             "sofa.for"() ({
//               "sofa.dma_load"() {bytes = 128 : i64, dst = "k_tile", from = "k", rows = 128 : i64} : () -> () loc("decoder")
//               "sofa.predict_scores"() {dst = "a_hat", engine = "dlzs", khat = "k_tile", q = "q_scaled"} : () -> () loc("decoder")
//               "sofa.dma_load"() {bytes = 256 : i64, dst = "mask", from = "causal_table", rows = 128 : i64} : () -> () loc("decoder")
//               "sofa.mask_add"() {dst = "a_hat", kind = "causal", mask = "mask"} : () -> () loc("decoder")
//               "sofa.sads"() {idx = "idx", sel = 32 : i64, src = "a_hat", top = "top", whole_row = false} : () -> () loc("decoder")
//               "sofa.rass"() {idx = "idx", order = "order", reuse = true, slot = "slot"} : () -> () loc("decoder")
//               "sofa.gather"() {dst = "g_k", from = "k", idx = "order", rows = 128 : i64} : () -> () loc("decoder")
//               "sofa.gather"() {dst = "g_v", from = "v", idx = "order", rows = 128 : i64} : () -> () loc("decoder")
//               "sofa.sufa_tile"() {dst = "part", k = "g_k", mode = "sorted", q = "q_scaled", slot = "slot", v = "g_v"} : () -> () loc("decoder")
//             }) {causal = true, dim = "k_tile", lower = 0 : i64, step = 128 : i64, upper = 256 : i64} : () -> () loc("decoder")
//             "sofa.sufa_sync"() {dst = "out", part = "part"} : () -> () loc("decoder")
//             "sofa.dma_store"() {bytes = 128 : i64, rows = 128 : i64, src = "out", to = "out"} : () -> () loc("decoder")
//           }) {dim = "q_block", lower = 0 : i64, step = 128 : i64, upper = 256 : i64} : () -> () loc("decoder")
//         }) {dim = "head", lower = 0 : i64, step = 1 : i64, upper = 2 : i64} : () -> () loc("decoder")
//       }) {dim = "batch", lower = 0 : i64, step = 1 : i64, upper = 1 : i64} : () -> () loc("decoder")
//     }) {causal = true, head_dim = 64 : i64, heads = 2 : i64, keep_ratio = 0.25 : f32, kv_heads = 2 : i64, pred_bits = 4 : i64, rounding = "floor", scale = 0.125 : f32, sofa.ablate = "", sofa.from = "attn.sparse_mha", sofa.kv = "gathered", sofa.q_block = 128 : i64, sofa.schedule = "cct", sofa.tc = 2 : i64, tiles = 2 : i64} : (tensor<1x2x256x64xf16>, tensor<1x2x256x64xf16>, tensor<1x2x256x64xf16>) -> tensor<1x2x256x64xf16> loc("decoder")
//     "func.return"(%0) : (tensor<1x2x256x64xf16>) -> () loc(unknown)
//   }) : () -> () loc(unknown)
// }) : () -> () loc(unknown)
