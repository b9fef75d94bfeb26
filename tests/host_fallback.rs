//! The model lowering's host fallback, op by op: small hand-written modules whose ops have no
//! chip lowering become host segments (`HOST` + host-op table); the simulator runs them with
//! the reference kernels between the chip's segments, so its outputs equal the host
//! interpreter's. Operand views that are not whole tensors (slices, broadcasts, transposes) are
//! copied into one first; whole tensors (reshapes included) are passed as they are. Without
//! fallback the lowering fails listing every such op.

mod common;
use common::ops::module;

use std::collections::BTreeMap;

use sofa_compiler::lower::model::lower_model;
use sofa_compiler::lower::{LowerDefaults, LowerError, UnloweredOp};
use sofa_compiler::schedule::Schedule;
use sofa_ir::eval::Tensor;
use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{Instr, Program};
use sofa_ir::text::parse_module;
use sofa_runtime::sim::{simulate, Mode, SimOptions};

fn defaults(host_fallback: bool) -> LowerDefaults {
    LowerDefaults {
        schedule: Schedule::Dense,
        host_fallback,
        ..LowerDefaults::default()
    }
}

fn values(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let data = (0..n)
        .map(|i| (((i as u64 * 37 + seed * 11) % 23) as f32 - 11.0) * 0.29)
        .collect();
    Tensor::from_f32(shape.to_vec(), data).unwrap()
}

/// Lower with host fallback, simulate and compare every output with the interpreter's
/// exactly; the program for further checks.
fn agree(src: &str, inputs: &[(&str, Tensor)]) -> Program {
    let m = parse_module(src).unwrap_or_else(|e| panic!("{e}\n{src}"));
    let inputs: BTreeMap<String, Tensor> = inputs
        .iter()
        .map(|(k, t)| (k.to_string(), t.clone()))
        .collect();
    let want = sofa_runtime::interp::run_function(&m, &inputs).unwrap();
    let hw = HwConfig::default();
    let p = lower_model(&m, &hw, &defaults(true)).unwrap_or_else(|e| panic!("{e}"));
    if let Err(errs) = p.check(&hw) {
        panic!("{}", errs[0]);
    }
    let raw = inputs
        .iter()
        .map(|(k, t)| (k.clone(), t.to_bytes()))
        .collect();
    let got = simulate(&p, &hw, &raw, &SimOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    for (k, w) in &want {
        let g = Tensor::from_bytes(&w.tensor_type(), &got.outputs[k]).unwrap();
        for (i, (a, b)) in g.to_f64_vec().iter().zip(w.to_f64_vec()).enumerate() {
            assert!(
                (a - b).abs() <= 1e-6,
                "'{k}'[{i}]: simulated {a}, reference {b}"
            );
        }
    }
    p
}

const BODY: &str = r#"
    %0 = "onnx.Floor"(%arg0) : (tensor<2x3x4xf32>) -> tensor<2x3x4xf32> loc("/floor_input")
    %1 = "onnx.Tanh"(%0) : (tensor<2x3x4xf32>) -> tensor<2x3x4xf32> loc("/tanh_chip")
    %s = "onnx.Constant"() {value = dense<[6, 4]> : tensor<2xi64>} : () -> tensor<2xi64> loc("shape")
    %2 = "onnx.Reshape"(%1, %s) : (tensor<2x3x4xf32>, tensor<2xi64>) -> tensor<6x4xf32> loc("/reshape")
    %3 = "onnx.Ceil"(%2) : (tensor<6x4xf32>) -> tensor<6x4xf32> loc("/ceil_of_reshape")
    %st = "onnx.Constant"() {value = dense<[1]> : tensor<1xi64>} : () -> tensor<1xi64> loc("starts")
    %en = "onnx.Constant"() {value = dense<[4]> : tensor<1xi64>} : () -> tensor<1xi64> loc("ends")
    %ax = "onnx.Constant"() {value = dense<[2]> : tensor<1xi64>} : () -> tensor<1xi64> loc("axes")
    %4 = "onnx.Slice"(%arg0, %st, %en, %ax) : (tensor<2x3x4xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<2x3x3xf32> loc("/slice")
    %5 = "onnx.Floor"(%4) : (tensor<2x3x3xf32>) -> tensor<2x3x3xf32> loc("/floor_of_slice")
    %es = "onnx.Constant"() {value = dense<[2, 2, 3]> : tensor<3xi64>} : () -> tensor<3xi64> loc("eshape")
    %6 = "onnx.Expand"(%arg1, %es) : (tensor<1x3xf32>, tensor<3xi64>) -> tensor<2x2x3xf32> loc("/expand")
    %7 = "onnx.Mean"(%6, %arg1) : (tensor<2x2x3xf32>, tensor<1x3xf32>) -> tensor<2x2x3xf32> loc("/mean_of_broadcast")
    %c = "onnx.Constant"() {value = dense<[1.5, -2.5, 0.5]> : tensor<3xf32>} : () -> tensor<3xf32> loc("c")
    %8 = "onnx.Mean"(%7, %c) : (tensor<2x2x3xf32>, tensor<3xf32>) -> tensor<2x2x3xf32> loc("/mean_with_const")
    %9 = "onnx.LogSoftmax"(%8) {axis = 1 : i64} : (tensor<2x2x3xf32>) -> tensor<2x2x3xf32> loc("/log_softmax")"#;

fn outputs() -> Vec<(&'static str, &'static str, &'static str)> {
    vec![
        ("ceil", "%3", "tensor<6x4xf32>"),
        ("floor", "%5", "tensor<2x3x3xf32>"),
        ("lsm", "%9", "tensor<2x2x3xf32>"),
    ]
}

#[test]
fn host_ops_take_whole_tensors_and_agree_with_the_interpreter() {
    let src = module(
        17,
        &[("x", "tensor<2x3x4xf32>"), ("b", "tensor<1x3xf32>")],
        BODY,
        &outputs(),
    );
    let p = agree(
        &src,
        &[("x", values(&[2, 3, 4], 1)), ("b", values(&[1, 3], 2))],
    );
    let ops: Vec<(&str, &str)> = p
        .host_ops
        .iter()
        .map(|h| (h.op.as_str(), h.name.as_str()))
        .collect();
    assert_eq!(
        ops,
        [
            ("onnx.Floor", "/floor_input"),
            ("onnx.Ceil", "/ceil_of_reshape"),
            ("onnx.Floor", "/floor_of_slice"),
            ("onnx.Mean", "/mean_of_broadcast"),
            ("onnx.Mean", "/mean_with_const"),
            ("onnx.LogSoftmax", "/log_softmax"),
        ]
    );
    let hosts = p.instrs.iter().filter(|i| matches!(i, Instr::Host { .. }));
    assert_eq!(hosts.count(), 6);
    // The slice and the broadcast are copied into whole tensors; the reshape, the inputs and
    // the constant are passed as they are.
    let copies: Vec<&str> = p
        .tensors
        .iter()
        .map(|t| t.name.as_str())
        .filter(|n| n.contains(".host_in"))
        .collect();
    assert_eq!(
        copies,
        ["/floor_of_slice.host_in0", "/mean_of_broadcast.host_in0"]
    );
    let ceil = &p.host_ops[1];
    assert_eq!(ceil.operands[0].as_ref().unwrap().shape, [6, 4]);
    assert_eq!(
        p.tensors[ceil.operands[0].as_ref().unwrap().tensor as usize].shape,
        [2, 3, 4]
    );
    assert_eq!(p.host_ops[5].attrs_text(), "{axis = 1 : i64}");
    // A returned host result is the output tensor itself.
    let lsm = &p.host_ops[5].results[0];
    assert_eq!(p.tensors[lsm.tensor as usize].name, "lsm");
}

#[test]
fn without_fallback_every_op_lacking_a_chip_lowering_is_listed() {
    let src = module(
        17,
        &[("x", "tensor<2x3x4xf32>"), ("b", "tensor<1x3xf32>")],
        BODY,
        &outputs(),
    );
    let m = parse_module(&src).unwrap();
    let e = lower_model(&m, &HwConfig::default(), &defaults(false)).unwrap_err();
    let LowerError::NoChipLowering(ops) = &e else {
        panic!("{e}")
    };
    let listed: Vec<(&str, &str)> = ops
        .iter()
        .map(|o| (o.op.as_str(), o.name.as_str()))
        .collect();
    assert_eq!(
        listed,
        [
            ("onnx.Floor", "/floor_input"),
            ("onnx.Ceil", "/ceil_of_reshape"),
            ("onnx.Floor", "/floor_of_slice"),
            ("onnx.Mean", "/mean_of_broadcast"),
            ("onnx.Mean", "/mean_with_const"),
            ("onnx.LogSoftmax", "/log_softmax"),
        ]
    );
    assert_eq!(
        ops[0],
        UnloweredOp {
            index: 0,
            name: "/floor_input".into(),
            op: "onnx.Floor".into()
        }
    );
    assert!(e.to_string().starts_with(
        "6 op(s) have no chip lowering and host fallback is off:\n  op #0 \"/floor_input\" (onnx.Floor)\n"
    ), "{e}");
}

#[test]
fn programs_and_reports_with_host_ops_are_deterministic() {
    let src = module(
        17,
        &[("x", "tensor<2x3x4xf32>"), ("b", "tensor<1x3xf32>")],
        BODY,
        &outputs(),
    );
    let m = parse_module(&src).unwrap();
    let hw = HwConfig::default();
    let a = lower_model(&m, &hw, &defaults(true)).unwrap();
    let b = lower_model(&m, &hw, &defaults(true)).unwrap();
    assert_eq!(a.encode(), b.encode());
    let opts = SimOptions {
        mode: Mode::TimingOnly,
        ..SimOptions::default()
    };
    let r1 = simulate(&a, &hw, &BTreeMap::new(), &opts).unwrap().report;
    let r2 = simulate(&b, &hw, &BTreeMap::new(), &opts).unwrap().report;
    assert_eq!(r1.to_json().unwrap(), r2.to_json().unwrap());
    assert_eq!(r1.host.ops, 6);
    // 24 + 24 + 18 + (12 + 3) + (12 + 3) + 12 floats read, 24 + 24 + 18 + 12 + 12 + 12 written.
    assert_eq!(
        (r1.host.read_bytes, r1.host.written_bytes),
        (4 * 108, 4 * 102)
    );
}
