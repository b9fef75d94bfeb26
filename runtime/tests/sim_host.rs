//! HOST instructions in the simulator: host ops evaluated with the reference kernels on DRAM
//! tensors between chip segments, reported apart from every chip figure, in both modes.

mod sim_common;

use std::collections::BTreeMap;

use sim_common::*;
use sofa_ir::isa::Engine;

/// `f = floor(x)` and `c = ceil(f + x)` on the host around a chip segment that computes
/// `s = f + x` (LD both, VEC.ADD, ST): host → chip → host through DRAM in DMA order.
const HOST_CHIP_HOST: &str = r#".version 2
.config_hash 0x0
.tensor "x" kind=input dtype=f32 shape=[2,8] dram=0x0
.tensor "f" kind=scratch dtype=f32 shape=[16] dram=0x40
.tensor "s" kind=scratch dtype=f32 shape=[2,8] dram=0x80
.tensor "c" kind=output dtype=f32 shape=[2,8] dram=0xc0
.host "onnx.Floor" name="/Floor" opset=17 attrs="{}"
.operand "x" shape=[2,8]
.result "f" shape=[2,8]
.host "onnx.Ceil" name="/Ceil" opset=17 attrs="{}"
.operand "s" shape=[2,8]
.result "c" shape=[2,8]
HOST op=0
LD dst=token[0x0] src=@f rows=1 row_bytes=64 stride=64
LD dst=token[0x40] src=@x rows=1 row_bytes=64 stride=64
SIGNAL engine=dma sem=0
WAIT engine=vec sem=0
VEC.ADD dst=token[0x80] a=token[0x0] b=token[0x40] rows=2 cols=8 bcast=none dt=f32
SIGNAL engine=vec sem=1
WAIT engine=dma sem=1
ST dst=@s src=token[0x80] rows=1 row_bytes=64 stride=64
HOST op=1
HALT
"#;

fn x_values() -> Vec<f32> {
    (0..16).map(|i| i as f32 * 0.37 - 2.9).collect()
}

#[test]
fn host_ops_compute_between_chip_segments() {
    let p = program(HOST_CHIP_HOST);
    let x = x_values();
    let inputs = BTreeMap::from([("x".to_string(), f32_bytes(&x))]);
    let out = functional(&p, &inputs, vec![]).unwrap();
    let want: Vec<f32> = x.iter().map(|v| (v.floor() + v).ceil()).collect();
    assert_eq!(out.outputs["c"], f32_bytes(&want));
    let h = &out.report.host;
    assert_eq!(h.ops, 2);
    let types: Vec<(&str, u64)> = h
        .op_types
        .iter()
        .map(|t| (t.op.as_str(), t.count))
        .collect();
    assert_eq!(types, vec![("onnx.Ceil", 1), ("onnx.Floor", 1)]);
    assert_eq!((h.read_bytes, h.written_bytes, h.macs), (128, 128, 0));
    let nodes: Vec<(u64, &str)> = h.nodes.iter().map(|n| (n.instr, n.name.as_str())).collect();
    assert_eq!(nodes, vec![(0, "/Floor"), (9, "/Ceil")]);
    // No chip cycles, no chip traffic and no dma instruction for host work.
    let chip_only = timing(&program(&chip_part()), false).unwrap().report;
    assert_eq!(out.report.total_cycles, chip_only.total_cycles);
    assert_eq!(out.report.dram, chip_only.dram);
    assert_eq!(out.report.energy, chip_only.energy);
    let dma = out.report.engine(Engine::Dma).unwrap();
    assert_eq!(
        dma.instructions,
        chip_only.engine(Engine::Dma).unwrap().instructions
    );
    assert_eq!(out.report.macs.chip_share, 1.0);
    let table = out.report.to_table();
    assert!(
        table.contains(
            "host: 2 op(s) off the chip (onnx.Ceil x1, onnx.Floor x1), 0 chip cycles; DRAM \
             across the boundary: 128 B read, 128 B written\n  instr #0 onnx.Floor \"/Floor\""
        ),
        "{table}"
    );
}

/// The program without its HOST instructions and table.
fn chip_part() -> String {
    let text: Vec<&str> = HOST_CHIP_HOST
        .lines()
        .filter(|l| !l.starts_with("HOST") && !l.starts_with(".host") && !l.starts_with(".operand"))
        .filter(|l| !l.starts_with(".result"))
        .map(|l| if l == ".version 2" { ".version 1" } else { l })
        .collect();
    text.join("\n")
}

#[test]
fn timing_only_runs_account_host_ops_without_data() {
    let p = program(HOST_CHIP_HOST);
    let t = timing(&p, true).unwrap();
    let f = functional(
        &p,
        &BTreeMap::from([("x".to_string(), f32_bytes(&x_values()))]),
        vec![],
    )
    .unwrap();
    assert_eq!(t.report.host, f.report.host);
    assert_eq!(t.report.macs, f.report.macs);
    assert_eq!(t.report.total_cycles, f.report.total_cycles);
    // The trace shows HOST as a 0-cycle slice on the dma track.
    let v: serde_json::Value = serde_json::from_str(t.trace.as_deref().unwrap()).unwrap();
    let host = v["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "HOST")
        .unwrap();
    assert_eq!(host["dur"].as_f64(), Some(0.0));
}

#[test]
fn a_failing_host_op_names_the_instruction_and_the_op() {
    // Gather on the host with an index past its table: the reference kernel's error.
    let text = r#".version 2
.config_hash 0x0
.tensor "table" kind=input dtype=f32 shape=[4,2] dram=0x0
.tensor "ids" kind=input dtype=i64 shape=[1] dram=0x40
.tensor "rows" kind=output dtype=f32 shape=[1,2] dram=0x80
.host "onnx.Gather" name="/embed/Gather" opset=17 attrs="{axis = 0 : i64}"
.operand "table" shape=[4,2]
.operand "ids" shape=[1]
.result "rows" shape=[1,2]
HOST op=0
HALT
"#;
    let p = program(text);
    let inputs = BTreeMap::from([
        ("table".to_string(), f32_bytes(&[0.0; 8])),
        ("ids".to_string(), 4i64.to_le_bytes().to_vec()),
    ]);
    let e = functional(&p, &inputs, vec![]).unwrap_err().to_string();
    assert_eq!(
        e,
        "instr #0 (HOST): host op #0 onnx.Gather at \"/embed/Gather\": index 4 is out of range \
         for axis 0 of size 4"
    );
}
