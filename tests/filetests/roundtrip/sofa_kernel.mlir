// test roundtrip
// A sofa.kernel as lower-to-sofa builds it (1 layer, S = 64, causal, cct, keep 0.25): buffers, loops, steps.
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<1x2x64x16xf32>, tensor<1x2x64x16xf32>, tensor<1x2x64x16xf32>) -> tensor<1x2x64x16xf32>, sym_name = "main"}> ({
  ^bb0(%arg0: tensor<1x2x64x16xf32> loc("layer0.q"), %arg1: tensor<1x2x64x16xf32> loc("layer0.k"), %arg2: tensor<1x2x64x16xf32> loc("layer0.v")):
    %0 = "sofa.kernel"(%arg0, %arg1, %arg2) ({
      "sofa.buffer"() {bytes = 4096 : i64, name = "q", offset = 95232 : i64, ring = 1 : i64, space = "token"} : () -> () loc("s/layer0/attention")
      "sofa.buffer"() {bytes = 4096 : i64, name = "q_scaled", offset = 99328 : i64, ring = 1 : i64, space = "token"} : () -> () loc("s/layer0/attention")
      "sofa.buffer"() {bytes = 4096 : i64, name = "k_tile", offset = 0 : i64, ring = 2 : i64, space = "weight"} : () -> () loc("s/layer0/attention")
      "sofa.buffer"() {bytes = 16384 : i64, name = "a_hat", offset = 0 : i64, ring = 2 : i64, space = "token"} : () -> () loc("s/layer0/attention")
      "sofa.buffer"() {bytes = 16384 : i64, name = "mask", offset = 32768 : i64, ring = 2 : i64, space = "token"} : () -> () loc("s/layer0/attention")
      "sofa.buffer"() {bytes = 8448 : i64, name = "idx", offset = 0 : i64, ring = 2 : i64, space = "temp"} : () -> () loc("s/layer0/attention")
      "sofa.buffer"() {bytes = 512 : i64, name = "top", offset = 17536 : i64, ring = 1 : i64, space = "temp"} : () -> () loc("s/layer0/attention")
      "sofa.buffer"() {bytes = 320 : i64, name = "order", offset = 16896 : i64, ring = 2 : i64, space = "temp"} : () -> () loc("s/layer0/attention")
      "sofa.buffer"() {bytes = 8448 : i64, name = "slot", offset = 65536 : i64, ring = 2 : i64, space = "token"} : () -> () loc("s/layer0/attention")
      "sofa.buffer"() {bytes = 4096 : i64, name = "g_k", offset = 8192 : i64, ring = 2 : i64, space = "weight"} : () -> () loc("s/layer0/attention")
      "sofa.buffer"() {bytes = 4096 : i64, name = "g_v", offset = 16384 : i64, ring = 2 : i64, space = "weight"} : () -> () loc("s/layer0/attention")
      "sofa.buffer"() {bytes = 4608 : i64, name = "part", offset = 90624 : i64, ring = 1 : i64, space = "token"} : () -> () loc("s/layer0/attention")
      "sofa.buffer"() {bytes = 4096 : i64, name = "out", offset = 82432 : i64, ring = 2 : i64, space = "token"} : () -> () loc("s/layer0/attention")
      "sofa.for"() ({
        "sofa.for"() ({
          "sofa.for"() ({
            "sofa.dma_load"() {bytes = 64 : i64, dst = "q", from = "q", rows = 64 : i64} : () -> () loc("s/layer0/attention")
            "sofa.scale_q"() {dst = "q_scaled", scale = 0.25 : f32, src = "q"} : () -> () loc("s/layer0/attention")
            "sofa.for"() ({
              "sofa.dma_load"() {bytes = 64 : i64, dst = "k_tile", from = "k", rows = 64 : i64} : () -> () loc("s/layer0/attention")
              "sofa.predict_scores"() {dst = "a_hat", engine = "dlzs", khat = "k_tile", q = "q_scaled"} : () -> () loc("s/layer0/attention")
              "sofa.dma_load"() {bytes = 256 : i64, dst = "mask", from = "causal_table", rows = 64 : i64} : () -> () loc("s/layer0/attention")
              "sofa.mask_add"() {dst = "a_hat", kind = "causal", mask = "mask"} : () -> () loc("s/layer0/attention")
              "sofa.sads"() {idx = "idx", sel = 32 : i64, src = "a_hat", top = "top", whole_row = false} : () -> () loc("s/layer0/attention")
              "sofa.rass"() {idx = "idx", order = "order", reuse = true, slot = "slot"} : () -> () loc("s/layer0/attention")
              "sofa.gather"() {dst = "g_k", from = "k", idx = "order", rows = 64 : i64} : () -> () loc("s/layer0/attention")
              "sofa.gather"() {dst = "g_v", from = "v", idx = "order", rows = 64 : i64} : () -> () loc("s/layer0/attention")
              "sofa.sufa_tile"() {dst = "part", k = "g_k", mode = "sorted", q = "q_scaled", slot = "slot", v = "g_v"} : () -> () loc("s/layer0/attention")
            }) {causal = true, dim = "k_tile", lower = 0 : i64, step = 64 : i64, upper = 64 : i64} : () -> () loc("s/layer0/attention")
            "sofa.sufa_sync"() {dst = "out", part = "part"} : () -> () loc("s/layer0/attention")
            "sofa.dma_store"() {bytes = 64 : i64, rows = 64 : i64, src = "out", to = "out"} : () -> () loc("s/layer0/attention")
          }) {dim = "q_block", lower = 0 : i64, step = 64 : i64, upper = 64 : i64} : () -> () loc("s/layer0/attention")
        }) {dim = "head", lower = 0 : i64, step = 1 : i64, upper = 2 : i64} : () -> () loc("s/layer0/attention")
      }) {dim = "batch", lower = 0 : i64, step = 1 : i64, upper = 1 : i64} : () -> () loc("s/layer0/attention")
    }) {causal = true, head_dim = 16 : i64, heads = 2 : i64, keep_ratio = 0.5 : f32, kv_heads = 2 : i64, pred_bits = 4 : i64, rounding = "floor", scale = 0.25 : f32, sofa.ablate = "", sofa.from = "attn.sparse_mha", sofa.kv = "gathered", sofa.q_block = 64 : i64, sofa.schedule = "cct", sofa.tc = 1 : i64, tiles = 1 : i64} : (tensor<1x2x64x16xf32>, tensor<1x2x64x16xf32>, tensor<1x2x64x16xf32>) -> tensor<1x2x64x16xf32> loc("s/layer0/attention")
    "func.return"(%0) : (tensor<1x2x64x16xf32>) -> () loc(unknown)
  }) : () -> () loc(unknown)
}) : () -> () loc(unknown)
