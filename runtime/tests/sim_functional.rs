//! Functional mode through the scheduler: data effects in start order, inputs and outputs,
//! run-time errors naming the instruction, and the sparse statistics in the report.

mod sim_common;

use std::collections::BTreeMap;

use sim_common::*;
use sofa_ir::isa::{DType, Engine, Instr, Opcode, TensorKind};
use sofa_runtime::sim::Report;

/// x → token, VEC.ADD x + x → temp, temp → y, synchronised dma → vec → dma.
const DOUBLE: &str = r#".version 1
.config_hash 0x0
.tensor "x" kind=input dtype=f32 shape=[4,4] dram=0x0
.tensor "y" kind=output dtype=f32 shape=[4,4] dram=0x40
LD dst=token[0x0] src=@x rows=4 row_bytes=16 stride=16
SIGNAL engine=dma sem=0
WAIT engine=vec sem=0
VEC.ADD dst=temp[0x0] a=token[0x0] b=token[0x0] rows=4 cols=4 bcast=none dt=f32
SIGNAL engine=vec sem=1
WAIT engine=dma sem=1
ST dst=@y src=temp[0x0] rows=4 row_bytes=16 stride=16
HALT
"#;

fn double_inputs() -> (Vec<f32>, BTreeMap<String, Vec<u8>>) {
    let x: Vec<f32> = (0..16).map(|i| i as f32 - 7.5).collect();
    (
        x.clone(),
        BTreeMap::from([("x".to_string(), f32_bytes(&x))]),
    )
}

#[test]
fn outputs_see_the_synchronised_data_flow() {
    let p = program(DOUBLE);
    let (x, inputs) = double_inputs();
    let out = functional(&p, &inputs, vec![]).unwrap();
    let want: Vec<f32> = x.iter().map(|v| 2.0 * v).collect();
    assert_eq!(out.outputs.keys().collect::<Vec<_>>(), vec!["y"]);
    assert_eq!(out.outputs["y"], f32_bytes(&want));
    // No data-dependent instruction: functional and timing-only timing agree.
    let t = timing(&p, false).unwrap();
    assert_eq!(out.report.total_cycles, t.report.total_cycles);
    assert_eq!(out.report.mode, "functional");
    assert_eq!(
        (out.report.dram.read_bytes, out.report.dram.written_bytes),
        (64, 64)
    );
}

#[test]
fn missing_wrong_length_and_unknown_inputs_are_named() {
    let p = program(DOUBLE);
    let err = functional(&p, &BTreeMap::new(), vec![]).unwrap_err();
    assert_eq!(
        (err.instr, err.message.as_str()),
        (None, "missing input 'x'")
    );
    let short = BTreeMap::from([("x".to_string(), vec![0u8; 60])]);
    let err = functional(&p, &short, vec![]).unwrap_err();
    assert!(
        err.message
            .starts_with("input 'x' has 60 bytes, expected 64"),
        "{err}"
    );
    let (_, mut extra) = double_inputs();
    extra.insert("z".into(), vec![]);
    let err = functional(&p, &extra, vec![]).unwrap_err();
    assert!(
        err.message.starts_with("input 'z' is not an input tensor"),
        "{err}"
    );
}

#[test]
fn a_gather_row_outside_dram_is_an_error_naming_the_instruction() {
    // The index list (count 1, index 1000) selects a row far past the end of DRAM.
    let p = program(
        r#".version 1
.config_hash 0x0
.tensor "idx" kind=input dtype=u32 shape=[2] dram=0x0
.tensor "x" kind=input dtype=f32 shape=[4,4] dram=0x40
LD dst=temp[0x0] src=@idx rows=1 row_bytes=8 stride=8
GATHER dst=token[0x0] src=@x idx=temp[0x0] max_rows=1 row_bytes=16 stride=4096
HALT
"#,
    );
    let mut idx = 1u32.to_le_bytes().to_vec();
    idx.extend(1000u32.to_le_bytes());
    let inputs = BTreeMap::from([("idx".to_string(), idx), ("x".to_string(), vec![0u8; 64])]);
    let err = functional(&p, &inputs, vec![]).unwrap_err();
    assert_eq!((err.instr, err.opcode), (Some(1), Some(Opcode::Gather)));
    assert!(err.to_string().starts_with("instr #1 (GATHER): "), "{err}");
}

#[test]
fn a_dangling_sufa_bias_is_an_error_naming_the_prefix_in_both_modes() {
    // Unchecked (Program::check rejects it): the simulator must refuse it on its own.
    let mut p = sofa_ir::isa::parse_asm(
        r#".version 1
.config_hash 0x0
SUFA.BIAS bias=temp[0x0] idx=temp[0x100] rows=2 sel=2 n=4 base=0 dt=f32
SIGNAL engine=sufa sem=0
SUFA.SYNC dst=token[0x0] part=token[0x100] rows=2 tiles=1 d=4 dt=f32
SUFA.BIAS bias=temp[0x0] idx=temp[0x100] rows=2 sel=2 n=4 base=0 dt=f32
HALT
"#,
    )
    .unwrap();
    p.config_hash = sofa_ir::hw::HwConfig::default().hash();
    let err = functional(&p, &BTreeMap::new(), vec![]).unwrap_err();
    assert_eq!((err.instr, err.opcode), (Some(0), Some(Opcode::SufaBias)));
    assert_eq!(
        err.to_string(),
        "instr #0 (SUFA.BIAS): the SUFA.BIAS at instr #0 is not followed by a SUFA.T on the \
         sufa queue (next: SUFA.SYNC at instr #2)"
    );
    // Without the SYNC, the last prefix dangles at the end of the stream, in timing-only runs
    // too.
    p.instrs.remove(2);
    p.instrs.remove(0);
    let err = sim_common::timing(&p, false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "instr #1 (SUFA.BIAS): the SUFA.BIAS at instr #1 is not followed by a SUFA.T on the \
         sufa queue (the stream ends)"
    );
}

/// Random inputs of the right size for every input tensor of `p`.
fn random_inputs(p: &sofa_ir::isa::Program, seed: u64) -> BTreeMap<String, Vec<u8>> {
    let mut rng = Rng(seed);
    p.tensors
        .iter()
        .filter(|t| t.kind == TensorKind::Input)
        .map(|t| {
            let n = t.byte_len().unwrap() as usize;
            let bytes = match t.dtype {
                // Small floats so exp() stays finite.
                DType::F16 => (0..n / 2)
                    .flat_map(|_| f16_bits(rng.unit() * 0.5).to_le_bytes())
                    .collect(),
                _ => rng.bytes(n),
            };
            (t.name.clone(), bytes)
        })
        .collect()
}

/// f32 → f16 bits for values in (-1, 1) (truncating the mantissa; enough for test data).
fn f16_bits(v: f32) -> u16 {
    let b = v.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xff) as i32 - 127 + 15;
    if exp <= 0 {
        return sign;
    }
    sign | ((exp as u16) << 10) | ((b >> 13) & 0x3ff) as u16
}

#[test]
fn the_isa_example_runs_functionally_with_sparse_statistics() {
    let p = isa_example();
    let inputs = random_inputs(&p, 0x5eed);
    let gather = p
        .instrs
        .iter()
        .position(|i| matches!(i, Instr::Gather { .. }))
        .unwrap();
    let regions = vec![
        ("all".to_string(), 0..p.instrs.len()),
        ("gather".into(), gather..gather + 1),
    ];
    let out = functional(&p, &inputs, regions.clone()).unwrap();
    assert_eq!(out.outputs["o"].len(), 128 * 64 * 2);
    let r = &out.report;
    let s = r.sparse.as_ref().expect("SADS makes a sparse report");
    assert_eq!(s.sads_instructions, 1);
    let (selected, hits) = (s.selected.unwrap(), s.hits.unwrap());
    assert!(selected > 0 && hits <= selected, "{selected} {hits}");
    assert_eq!(s.recall, Some(hits as f64 / selected as f64));
    assert!(s.max_assurance_events.is_some());
    assert_eq!(r.regions[0].recall, s.recall);
    assert_eq!(r.regions[1].recall, None);
    // The gathered rows are at most the 32 keys of the tile: GATHER's cycles follow the
    // DMA formula on rows·512 bytes, so DRAM bytes and cycles agree.
    let g = &r.regions[1];
    assert_eq!(g.dram_read_bytes % 512, 0);
    let rows = g.dram_read_bytes / 512;
    assert!((1..=32).contains(&rows), "{rows}");
    assert_eq!(g.busy_cycles, rows * 512 * 1000 / 512_000 + 100);
    assert!(r.engine(Engine::Sufa).unwrap().busy_cycles > 0);
    assert!(r.ops.executed < r.ops.dense_equivalent, "{:?}", r.ops);
    // Floats (recall, utilisation) read back exactly.
    assert_eq!(Report::from_json(&r.to_json().unwrap()).unwrap(), *r);
    // Deterministic: same inputs, same report bytes.
    let again = functional(&p, &inputs, regions).unwrap();
    assert_eq!(again.report.to_json().unwrap(), r.to_json().unwrap());
    assert_eq!(again.outputs, out.outputs);
}
