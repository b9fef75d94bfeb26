//! The int8 ops on the chip (`DynamicQuantizeLinear`, `QuantizeLinear`, `DequantizeLinear`,
//! `MatMulInteger` with its dequantizing epilogue, the weight-only `Cast`·`Mul` spelling):
//! small hand-written modules on random data, run on the host reference interpreter and,
//! lowered to one SOFA program, on the simulator. Integer outputs must be identical, float
//! outputs agree to 1e-6 (they are computed with the same f32 operations). Shapes include
//! tensors larger than the SRAMs, so the multi-tile and split-K paths run too.

mod common;

use std::collections::BTreeMap;

use sofa_ir::eval::{Tensor, TensorData};
use sofa_ir::types::ElemType;

/// A deterministic stream of pseudo-random numbers in `[0, 1)`.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    fn floats(&mut self, shape: &[usize], lo: f32, hi: f32) -> Tensor {
        let n: usize = shape.iter().product();
        let v = (0..n)
            .map(|_| lo + (hi - lo) * self.next() as f32)
            .collect();
        Tensor::from_f32(shape.to_vec(), v).unwrap()
    }

    fn ints(&mut self, elem: ElemType, shape: &[usize]) -> Tensor {
        let (lo, hi) = match elem {
            ElemType::U8 => (0, 255),
            _ => (-128, 127),
        };
        let n: usize = shape.iter().product();
        let v = (0..n)
            .map(|_| lo + (self.next() * (hi - lo + 1) as f64) as i64)
            .collect();
        Tensor::new(elem, shape.to_vec(), TensorData::I64(v)).unwrap()
    }
}

/// A tensor's values as an MLIR dense literal of nested lists.
fn literal(t: &Tensor) -> String {
    fn level(v: &[f64], shape: &[usize], int: bool) -> String {
        match shape.split_first() {
            None => match int {
                true => format!("{}", v[0] as i64),
                false => format!("{:?}", v[0] as f32),
            },
            Some((&n, rest)) => {
                let step: usize = rest.iter().product();
                let items: Vec<String> = (0..n)
                    .map(|i| level(&v[i * step..(i + 1) * step], rest, int))
                    .collect();
                format!("[{}]", items.join(", "))
            }
        }
    }
    level(&t.to_f64_vec(), t.shape(), t.elem().is_int())
}

/// `%name = onnx.Constant` holding `t`, typed `ty`.
fn constant(name: &str, t: &Tensor, ty: &str) -> String {
    format!(
        "    %{name} = \"onnx.Constant\"() {{value = dense<{}> : {ty}}} : () -> {ty} loc(\"{name}\")\n",
        literal(t)
    )
}

/// `@main(args) -> results` around `body` at opset 17.
fn module(args: &[(&str, &str)], body: &str, rets: &[(&str, &str, &str)]) -> String {
    common::ops::module(17, args, body, rets)
}

/// Interpret and simulate `src`: integer outputs identical, float outputs within 1e-6
/// (relative above 1). Returns the program's instruction count per mnemonic.
fn agree(src: &str, inputs: &[(&str, Tensor)]) -> BTreeMap<&'static str, usize> {
    let ran = common::ops::run_both(src, inputs);
    for (k, (g, w)) in &ran.outputs {
        let tol = if w.elem().is_int() { 0.0 } else { 1e-6 };
        for (i, (a, b)) in g.to_f64_vec().iter().zip(&w.to_f64_vec()).enumerate() {
            assert!(
                (a - b).abs() <= tol * b.abs().max(1.0),
                "'{k}'[{i}]: simulated {a}, reference {b}"
            );
        }
    }
    ran.counts
}

/// `DynamicQuantizeLinear` of an `x` of `shape` (f32), returning all three results.
fn dql_module(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let (x, q) = (
        format!("tensor<{}xf32>", dims.join("x")),
        format!("tensor<{}xui8>", dims.join("x")),
    );
    let body = format!(
        "    %0:3 = \"onnx.DynamicQuantizeLinear\"(%arg0) : ({x}) -> ({q}, tensor<f32>, tensor<ui8>) loc(\"dql\")"
    );
    module(
        &[("x", &x)],
        &body,
        &[
            ("y", "%0#0", &q),
            ("scale", "%0#1", "tensor<f32>"),
            ("zp", "%0#2", "tensor<ui8>"),
        ],
    )
}

#[test]
fn dynamic_quantize_linear_in_one_tile_in_row_tiles_and_in_column_pieces() {
    let mut rng = Rng(1);
    // One tile; all negative (zero point 255); all positive (zero point 0).
    for (shape, lo, hi) in [
        (vec![3, 5, 7], -2.0, 3.0),
        (vec![4, 9], -5.0, -0.5),
        (vec![1, 33], 0.25, 4.0),
    ] {
        let c = agree(&dql_module(&shape), &[("x", rng.floats(&shape, lo, hi))]);
        assert_eq!(
            (c["VEC.MINMAX"], c["VEC.QUANT"], c["VEC.QPARAM"]),
            (1, 1, 1)
        );
    }
    // 384 KiB of f32: several row tiles, the range reduced across them.
    let c = agree(
        &dql_module(&[96, 1024]),
        &[("x", rng.floats(&[96, 1024], -1.0, 7.0))],
    );
    assert!(c["VEC.MINMAX"] > 1);
    assert_eq!((c["VEC.MINMAX"], c["VEC.QPARAM"]), (c["VEC.QUANT"], 1));
    // A row of 240 KB does not fit Token SRAM: column pieces.
    let c = agree(
        &dql_module(&[2, 60_000]),
        &[("x", rng.floats(&[2, 60_000], -3.0, 1.0))],
    );
    assert!(c["VEC.MINMAX"] >= 4);
}

#[test]
fn matmul_integer_with_zero_points_and_the_dequantizing_epilogue() {
    let mut rng = Rng(2);
    let (w, zb, bias) = (
        rng.ints(ElemType::I8, &[40, 24]),
        rng.ints(ElemType::I8, &[24]),
        rng.floats(&[24], -1.0, 1.0),
    );
    let mut body = constant("w", &w, "tensor<40x24xi8>");
    body += &constant("zb", &zb, "tensor<24xi8>");
    body += &constant("bias", &bias, "tensor<24xf32>");
    body += r#"
    %0 = "onnx.MatMulInteger"(%arg0, %w, %arg1, %zb) : (tensor<2x6x40xui8>, tensor<40x24xi8>, tensor<ui8>, tensor<24xi8>) -> tensor<2x6x24xi32> loc("mmi")
    %1 = "onnx.Cast"(%0) {to = 1 : i64} : (tensor<2x6x24xi32>) -> tensor<2x6x24xf32> loc("cast")
    %2 = "onnx.Mul"(%1, %arg2) : (tensor<2x6x24xf32>, tensor<f32>) -> tensor<2x6x24xf32> loc("scale")
    %3 = "onnx.Add"(%bias, %2) : (tensor<24xf32>, tensor<2x6x24xf32>) -> tensor<2x6x24xf32> loc("bias_add")
    %4 = "onnx.Add"(%3, %arg3) : (tensor<2x6x24xf32>, tensor<2x6x24xf32>) -> tensor<2x6x24xf32> loc("residual")
    %5 = "onnx.MatMulInteger"(%arg0, %w) : (tensor<2x6x40xui8>, tensor<40x24xi8>) -> tensor<2x6x24xi32> loc("plain")
    %6 = "onnx.Cast"(%5) {to = 1 : i64} : (tensor<2x6x24xi32>) -> tensor<2x6x24xf32> loc("cast_only")"#;
    let src = module(
        &[
            ("a", "tensor<2x6x40xui8>"),
            ("za", "tensor<ui8>"),
            ("s", "tensor<f32>"),
            ("r", "tensor<2x6x24xf32>"),
        ],
        &body,
        &[
            ("out", "%4", "tensor<2x6x24xf32>"),
            ("acc", "%0", "tensor<2x6x24xi32>"),
            ("f", "%6", "tensor<2x6x24xf32>"),
        ],
    );
    let za = Tensor::new(ElemType::U8, vec![], TensorData::I64(vec![131])).unwrap();
    let c = agree(
        &src,
        &[
            ("a", rng.ints(ElemType::U8, &[2, 6, 40])),
            ("za", za),
            ("s", Tensor::from_f32(vec![], vec![0.0123]).unwrap()),
            ("r", rng.floats(&[2, 6, 24], -1.0, 1.0)),
        ],
    );
    // `acc` is also a function output, so the first product's Cast, scale and Adds stay
    // separate segments; the plain product folds its Cast (a VEC.CVT in its epilogue).
    assert_eq!(c["GEMM.Q"], 2);
    assert_eq!(c["VEC.CVT"], 2);
}

#[test]
fn matmul_integer_epilogue_folds_cast_scale_bias_and_residual() {
    let mut rng = Rng(3);
    let (w, bias, scale) = (
        rng.ints(ElemType::I8, &[40, 24]),
        rng.floats(&[24], -1.0, 1.0),
        rng.floats(&[24], 0.001, 0.01),
    );
    let mut body = constant("w", &w, "tensor<40x24xi8>");
    body += &constant("bias", &bias, "tensor<24xf32>");
    body += &constant("cs", &scale, "tensor<24xf32>");
    body += r#"
    %0 = "onnx.MatMulInteger"(%arg0, %w, %arg1) : (tensor<2x6x40xui8>, tensor<40x24xi8>, tensor<ui8>) -> tensor<2x6x24xi32> loc("mmi")
    %1 = "onnx.Cast"(%0) {to = 1 : i64} : (tensor<2x6x24xi32>) -> tensor<2x6x24xf32> loc("cast")
    %2 = "onnx.Mul"(%1, %arg2) : (tensor<2x6x24xf32>, tensor<f32>) -> tensor<2x6x24xf32> loc("scale")
    %3 = "onnx.Add"(%bias, %2) : (tensor<24xf32>, tensor<2x6x24xf32>) -> tensor<2x6x24xf32> loc("bias_add")
    %4 = "onnx.Add"(%3, %arg3) : (tensor<2x6x24xf32>, tensor<2x6x24xf32>) -> tensor<2x6x24xf32> loc("residual")
    %5 = "onnx.MatMulInteger"(%arg0, %w, %arg1) : (tensor<2x6x40xui8>, tensor<40x24xi8>, tensor<ui8>) -> tensor<2x6x24xi32> loc("per_column")
    %6 = "onnx.Cast"(%5) {to = 1 : i64} : (tensor<2x6x24xi32>) -> tensor<2x6x24xf32> loc("cast2")
    %7 = "onnx.Mul"(%cs, %6) : (tensor<24xf32>, tensor<2x6x24xf32>) -> tensor<2x6x24xf32> loc("col_scale")"#;
    let src = module(
        &[
            ("a", "tensor<2x6x40xui8>"),
            ("za", "tensor<ui8>"),
            ("s", "tensor<f32>"),
            ("r", "tensor<2x6x24xf32>"),
        ],
        &body,
        &[
            ("out", "%4", "tensor<2x6x24xf32>"),
            ("cols", "%7", "tensor<2x6x24xf32>"),
        ],
    );
    let za = Tensor::new(ElemType::U8, vec![], TensorData::I64(vec![77])).unwrap();
    let c = agree(
        &src,
        &[
            ("a", rng.ints(ElemType::U8, &[2, 6, 40])),
            ("za", za),
            ("s", Tensor::from_f32(vec![], vec![0.0071]).unwrap()),
            ("r", rng.floats(&[2, 6, 24], -1.0, 1.0)),
        ],
    );
    assert_eq!(c["GEMM.Q"], 2);
    assert_eq!(c["VEC.DEQUANT"], 2, "scalar and per-column scale");
    assert_eq!(c["VEC.ADD"], 2, "bias and residual in the epilogue");
    assert!(!c.contains_key("VEC.CVT") && !c.contains_key("VEC.MUL"));
}

#[test]
fn matmul_integer_splits_k_and_columns_and_batches() {
    let mut rng = Rng(4);
    // B of 2048 x 200 i8 (400 KB) exceeds Weight SRAM: K is split with acc, N tiled.
    let body = r#"
    %0 = "onnx.MatMulInteger"(%arg0, %arg1, %arg2, %arg3) : (tensor<5x2048xui8>, tensor<2048x200xi8>, tensor<ui8>, tensor<i8>) -> tensor<5x200xi32> loc("big")
    %1 = "onnx.MatMulInteger"(%arg4, %arg5) : (tensor<2x3x5xi8>, tensor<2x5x4xui8>) -> tensor<2x3x4xi32> loc("batched")"#;
    let src = module(
        &[
            ("a", "tensor<5x2048xui8>"),
            ("b", "tensor<2048x200xi8>"),
            ("za", "tensor<ui8>"),
            ("zb", "tensor<i8>"),
            ("p", "tensor<2x3x5xi8>"),
            ("q", "tensor<2x5x4xui8>"),
        ],
        body,
        &[
            ("big", "%0", "tensor<5x200xi32>"),
            ("batched", "%1", "tensor<2x3x4xi32>"),
        ],
    );
    let scalar = |elem, v| Tensor::new(elem, vec![], TensorData::I64(vec![v])).unwrap();
    let c = agree(
        &src,
        &[
            ("a", rng.ints(ElemType::U8, &[5, 2048])),
            ("b", rng.ints(ElemType::I8, &[2048, 200])),
            ("za", scalar(ElemType::U8, 200)),
            ("zb", scalar(ElemType::I8, -3)),
            ("p", rng.ints(ElemType::I8, &[2, 3, 5])),
            ("q", rng.ints(ElemType::U8, &[2, 5, 4])),
        ],
    );
    assert!(c["GEMM.Q"] > 4, "{c:?}");
}

#[test]
fn quantize_and_dequantize_per_tensor_and_per_axis() {
    let mut rng = Rng(5);
    let mut body = constant("s1", &rng.floats(&[6], 0.01, 0.1), "tensor<6xf32>");
    body += &constant("z1", &rng.ints(ElemType::I8, &[6]), "tensor<6xi8>");
    body += &constant("s0", &rng.floats(&[4], 0.01, 0.1), "tensor<4xf32>");
    body += &constant("sm", &rng.floats(&[4], 0.5, 2.0), "tensor<4xf32>");
    body += &constant("zm", &rng.ints(ElemType::U8, &[4]), "tensor<4xui8>");
    body += r#"
    %st = "onnx.Constant"() {value = dense<0.05> : tensor<f32>} : () -> tensor<f32> loc("st")
    %zt = "onnx.Constant"() {value = dense<120> : tensor<ui8>} : () -> tensor<ui8> loc("zt")
    %0 = "onnx.QuantizeLinear"(%arg0, %s1, %z1) {axis = 1 : i64} : (tensor<4x6xf32>, tensor<6xf32>, tensor<6xi8>) -> tensor<4x6xi8> loc("q_row")
    %1 = "onnx.QuantizeLinear"(%arg0, %s0) {axis = 0 : i64} : (tensor<4x6xf32>, tensor<4xf32>) -> tensor<4x6xui8> loc("q_col")
    %2 = "onnx.QuantizeLinear"(%arg0, %st, %zt) : (tensor<4x6xf32>, tensor<f32>, tensor<ui8>) -> tensor<4x6xui8> loc("q_tensor")
    %3 = "onnx.DequantizeLinear"(%0, %s1, %z1) {axis = 1 : i64} : (tensor<4x6xi8>, tensor<6xf32>, tensor<6xi8>) -> tensor<4x6xf32> loc("dq_row")
    %4 = "onnx.DequantizeLinear"(%arg1, %sm, %zm) {axis = 1 : i64} : (tensor<3x4x5xui8>, tensor<4xf32>, tensor<4xui8>) -> tensor<3x4x5xf32> loc("dq_middle")
    %5 = "onnx.DequantizeLinear"(%arg2, %st) : (tensor<7xi32>, tensor<f32>) -> tensor<7xf32> loc("dq_i32")"#;
    let src = module(
        &[
            ("x", "tensor<4x6xf32>"),
            ("u", "tensor<3x4x5xui8>"),
            ("acc", "tensor<7xi32>"),
        ],
        &body,
        &[
            ("q_row", "%0", "tensor<4x6xi8>"),
            ("q_col", "%1", "tensor<4x6xui8>"),
            ("q_tensor", "%2", "tensor<4x6xui8>"),
            ("dq_row", "%3", "tensor<4x6xf32>"),
            ("dq_middle", "%4", "tensor<3x4x5xf32>"),
            ("dq_i32", "%5", "tensor<7xf32>"),
        ],
    );
    let acc = Tensor::new(
        ElemType::I32,
        vec![7],
        TensorData::I64(vec![-100_000, -7, 0, 3, 255, 65_536, 2_000_000]),
    )
    .unwrap();
    let c = agree(
        &src,
        &[
            ("x", rng.floats(&[4, 6], -8.0, 8.0)),
            ("u", rng.ints(ElemType::U8, &[3, 4, 5])),
            ("acc", acc),
        ],
    );
    assert_eq!((c["VEC.QUANT"], c["VEC.DEQUANT"]), (3, 3));
}

#[test]
fn int8_weights_spelled_cast_mul_and_an_int8_embedding_run_on_chip() {
    let mut rng = Rng(6);
    let mut body = constant("w8", &rng.ints(ElemType::I8, &[16, 8]), "tensor<16x8xi8>");
    body += &constant("ws", &rng.floats(&[8], 0.001, 0.02), "tensor<8xf32>");
    body += &constant(
        "table",
        &rng.ints(ElemType::U8, &[10, 8]),
        "tensor<10x8xui8>",
    );
    body += r#"
    %es = "onnx.Constant"() {value = dense<0.015> : tensor<f32>} : () -> tensor<f32> loc("es")
    %ez = "onnx.Constant"() {value = dense<131> : tensor<ui8>} : () -> tensor<ui8> loc("ez")
    %0 = "onnx.Cast"(%w8) {to = 1 : i64} : (tensor<16x8xi8>) -> tensor<16x8xf32> loc("w_cast")
    %1 = "onnx.Mul"(%0, %ws) : (tensor<16x8xf32>, tensor<8xf32>) -> tensor<16x8xf32> loc("w_scale")
    %2 = "onnx.MatMul"(%arg0, %1) : (tensor<3x16xf32>, tensor<16x8xf32>) -> tensor<3x8xf32> loc("mm")
    %3 = "onnx.Gather"(%table, %arg1) {axis = 0 : i64} : (tensor<10x8xui8>, tensor<2x3xi64>) -> tensor<2x3x8xui8> loc("emb")
    %4 = "onnx.DequantizeLinear"(%3, %es, %ez) : (tensor<2x3x8xui8>, tensor<f32>, tensor<ui8>) -> tensor<2x3x8xf32> loc("emb_dq")"#;
    let src = module(
        &[("x", "tensor<3x16xf32>"), ("ids", "tensor<2x3xi64>")],
        &body,
        &[
            ("mm", "%2", "tensor<3x8xf32>"),
            ("emb", "%4", "tensor<2x3x8xf32>"),
        ],
    );
    let ids = Tensor::from_i64(vec![2, 3], vec![9, 0, 4, 4, 7, 1]).unwrap();
    let c = agree(
        &src,
        &[("x", rng.floats(&[3, 16], -1.0, 1.0)), ("ids", ids)],
    );
    assert_eq!((c["GEMM"], c["VEC.DEQUANT"]), (1, 1));
}
