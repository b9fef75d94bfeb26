// test roundtrip
"builtin.module"() ({
  "func.func"() <{function_type = () -> (), sym_name = "constants"}> ({
    %0 = "onnx.Constant"() {value = dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>} : () -> tensor<2x3xf32> loc("matrix")
    %1 = "onnx.Constant"() {value = dense<0.5> : tensor<4x4xf32>} : () -> tensor<4x4xf32> loc("splat")
    %2 = "onnx.Constant"() {value = dense<> : tensor<0xf32>} : () -> tensor<0xf32> loc("empty")
    %3 = "onnx.Constant"() {value = dense<[true, false, true, true]> : tensor<4xi1>} : () -> tensor<4xi1> loc("bools")
    %4 = "onnx.Constant"() {value = dense<[-1, 0, 9223372036854775807]> : tensor<3xi64>} : () -> tensor<3xi64> loc("i64s")
    %5 = "onnx.Constant"() {value = dense<[[-128, 127]]> : tensor<1x2xi8>} : () -> tensor<1x2xi8> loc("i8s")
    %6 = "onnx.Constant"() {value = dense<[0.1, -2.5, 65500.0]> : tensor<3xf16>} : () -> tensor<3xf16> loc("halves")
    %7 = "onnx.Constant"() {value = dense<[0.1, 3.0e38]> : tensor<2xbf16>} : () -> tensor<2xbf16> loc("bf16s")
    %8 = "onnx.Constant"() {value = dense<[0x7FC00000, 0x80000000, 0x7F800000, 1.0e-45]> : tensor<4xf32>} : () -> tensor<4xf32> loc("specials")
    %9 = "onnx.Constant"() {value = dense<7> : tensor<i32>} : () -> tensor<i32> loc("scalar")
    %10 = "onnx.Constant"() {value = dense<[3]> : tensor<1xi32>} : () -> tensor<1xi32> loc("one")
    %11 = "onnx.Constant"() {value = dense<"0x000020C100001CC1000018C1000014C1000010C100000CC1000008C1000004C1000000C10000F8C00000F0C00000E8C00000E0C00000D8C00000D0C00000C8C00000C0C00000B8C00000B0C00000A8C00000A0C0000098C0000090C0000088C0000080C0000070C0000060C0000050C0000040C0000030C0000020C0000010C0000000C00000E0BF0000C0BF0000A0BF000080BF000040BF000000BF000080BE000000000000803E0000003F0000403F0000803F0000A03F0000C03F0000E03F0000004000001040000020400000304000004040000050400000604000007040000080400000884000009040000098400000A0400000A8400000B0400000B8400000C0400000C8400000D0400000D8400000E0400000E8400000F0400000F84000000041000004410000084100000C4100001041000014410000184100001C41"> : tensor<80xf32>} : () -> tensor<80xf32> loc("large")
    %12 = "onnx.Constant"() {value = dense<true> : tensor<2x2xi1>} : () -> tensor<2x2xi1> loc("bool.splat")
    "func.return"() : () -> () loc(unknown)
  }) : () -> () loc(unknown)
}) : () -> () loc(unknown)
