// test verify
// The sofa.* level: buffers only in kernel bodies, no overlap within one SRAM space, steps name
// declared buffers, loop bounds, attribute values.
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>) -> tensor<1x1x8x4xf32>, sym_name = "main"}> ({
  ^bb0(%arg0: tensor<1x1x8x4xf32>, %arg1: tensor<1x1x8x4xf32>, %arg2: tensor<1x1x8x4xf32>):
    "sofa.buffer"() {bytes = 64 : i64, name = "stray", offset = 0 : i64, ring = 1 : i64, space = "temp"} : () -> ()
    // error: must be directly in a sofa.kernel body
    %0 = "sofa.kernel"(%arg0, %arg1, %arg2) ({
    // error: buffer 'k_tile' [64, 192) overlaps buffer 'q' in token SRAM
    // error: refers to undeclared buffer 'nowhere' (dst)
      "sofa.buffer"() {bytes = 128 : i64, name = "q", offset = 0 : i64, ring = 1 : i64, space = "token"} : () -> ()
      "sofa.buffer"() {bytes = 128 : i64, name = "k_tile", offset = 64 : i64, ring = 1 : i64, space = "token"} : () -> ()
      "sofa.for"() ({
      // error: step must be positive, got 0
        "sofa.dma_load"() {bytes = 16 : i64, dst = "q", from = "disk", rows = 8 : i64} : () -> ()
        // error: from = "disk" is not one of
        "sofa.dma_load"() {bytes = 16 : i64, dst = "nowhere", from = "k", rows = 8 : i64} : () -> ()
      }) {dim = "batch", lower = 0 : i64, step = 0 : i64, upper = 1 : i64} : () -> ()
    }) {causal = false, head_dim = 4 : i64, heads = 1 : i64, kv_heads = 1 : i64, scale = 0.5 : f32, sofa.from = "attn.mha"} : (tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>, tensor<1x1x8x4xf32>) -> tensor<1x1x8x4xf32>
    "func.return"(%0) : (tensor<1x1x8x4xf32>) -> ()
  }) : () -> ()
}) : () -> ()
