//! Host fallback through the real binary: a model with ops the chip has no lowering for runs
//! with them as host segments (HOST), matches `--reference`, reports host work apart, and
//! round-trips through `disasm | asm`; `--no-host-fallback` lists every such op at once.
//! Also: a failed run leaves no output file, and `--expected` is checked before simulating.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use prost::Message;
use sofa::npz::write_npz;
use sofa_compiler::onnx::proto::{
    attribute_proto::AttributeType, tensor_shape_proto, type_proto, AttributeProto, GraphProto,
    ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto,
    ValueInfoProto,
};
use sofa_ir::eval::Tensor;

const BIN: &str = env!("CARGO_BIN_EXE_sofa");

fn sofa(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("sofa runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A fresh directory for one test.
fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sofa-cli-host-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn value_info(name: &str, dims: &[i64]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|&d| tensor_shape_proto::Dimension {
            value: Some(tensor_shape_proto::dimension::Value::DimValue(d)),
            denotation: None,
        })
        .collect();
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(1),
                shape: Some(TensorShapeProto { dim }),
            })),
            denotation: None,
        }),
        doc_string: None,
    }
}

fn node(op: &str, name: &str, inputs: &[&str], output: &str) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        name: Some(name.into()),
        op_type: Some(op.into()),
        ..NodeProto::default()
    }
}

/// `y = Relu(Ceil(Transpose(Floor(x·W) + x)))`, `z = Floor(x)`: MatMul, Add, Transpose and
/// Relu lower to the chip; the three Floor/Ceil nodes (#1, #4, #6) have no chip lowering. The
/// Ceil reads a transposed view, which the chip first copies into a whole tensor.
fn tail_model() -> Vec<u8> {
    let w: Vec<f32> = (0..64).map(|i| ((i % 7) as f32 - 3.0) * 0.5).collect();
    let mut transpose = node("Transpose", "/Transpose", &["t2"], "t3");
    transpose.attribute = vec![AttributeProto {
        name: Some("perm".into()),
        ints: vec![1, 0],
        r#type: Some(AttributeType::Ints as i32),
        ..AttributeProto::default()
    }];
    let graph = GraphProto {
        name: Some("tail".into()),
        node: vec![
            node("MatMul", "/MatMul", &["x", "W"], "t0"),
            node("Floor", "/Floor", &["t0"], "t1"),
            node("Add", "/Add", &["t1", "x"], "t2"),
            transpose,
            node("Ceil", "/Ceil", &["t3"], "t4"),
            node("Relu", "/Relu", &["t4"], "y"),
            node("Floor", "/FloorOut", &["x"], "z"),
        ],
        initializer: vec![TensorProto {
            name: Some("W".into()),
            dims: vec![8, 8],
            data_type: Some(1),
            raw_data: Some(
                w.iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect::<Vec<u8>>()
                    .into(),
            ),
            ..TensorProto::default()
        }],
        input: vec![value_info("x", &[2, 8])],
        output: vec![value_info("y", &[8, 2]), value_info("z", &[2, 8])],
        ..GraphProto::default()
    };
    ModelProto {
        ir_version: Some(9),
        producer_name: Some("sofa-test".into()),
        graph: Some(graph),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(17),
        }],
        ..ModelProto::default()
    }
    .encode_to_vec()
}

/// The model and its input in `d`.
fn setup(d: &Path) -> (PathBuf, PathBuf) {
    let model = d.join("tail.onnx");
    std::fs::write(&model, tail_model()).unwrap();
    let x: Vec<f32> = (0..16).map(|i| i as f32 * 0.37 - 2.9).collect();
    let input = d.join("in.npz");
    let arrays = BTreeMap::from([("x".to_string(), Tensor::from_f32(vec![2, 8], x).unwrap())]);
    write_npz(&input, &arrays).unwrap();
    (model, input)
}

#[test]
fn ops_without_a_chip_lowering_run_on_the_host_and_match_the_reference() {
    let d = dir("fallback");
    let (model, input) = setup(&d);
    let reference = d.join("ref.npz");
    let o = sofa(&[
        "run",
        &s(&model),
        "--reference",
        "--inputs",
        &s(&input),
        "-o",
        &s(&reference),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let report = d.join("r.json");
    let o = sofa(&[
        "run",
        &s(&model),
        "--inputs",
        &s(&input),
        "--expected",
        &s(&reference),
        "--tolerance",
        "0",
        "--report",
        &s(&report),
    ]);
    let all = text(&o);
    assert!(o.status.success(), "{all}");
    assert!(
        all.contains("all 2 output(s) within tolerance 0e0"),
        "{all}"
    );
    assert!(
        all.contains(
            "note: 3 op(s) have no chip lowering and run on the host (HOST): onnx.Floor at \
             \"/Floor\", onnx.Ceil at \"/Ceil\", onnx.Floor at \"/FloorOut\""
        ),
        "{all}"
    );
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let host = &r["host"];
    assert_eq!(host["ops"], 3);
    assert_eq!(
        host["op_types"],
        serde_json::json!([{"op": "onnx.Ceil", "count": 1}, {"op": "onnx.Floor", "count": 2}])
    );
    let names: Vec<&str> = host["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["/Floor", "/Ceil", "/FloorOut"]);
    // Each host op reads and writes one 16-element f32 tensor.
    assert_eq!(
        (host["read_bytes"].as_u64(), host["written_bytes"].as_u64()),
        (Some(192), Some(192))
    );
    // The MatMul's 2·8·8 MACs are on chip; Floor and Ceil have none.
    assert_eq!(
        r["macs"],
        serde_json::json!({"chip": 128, "host": 0, "chip_share": 1.0})
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn no_host_fallback_lists_every_op_without_a_chip_lowering() {
    let d = dir("strict");
    let (model, input) = setup(&d);
    let want = format!(
        "error: {}: 3 op(s) have no chip lowering (--no-host-fallback):\n  node #1 \"/Floor\" \
         (Floor)\n  node #4 \"/Ceil\" (Ceil)\n  node #6 \"/FloorOut\" (Floor)\n",
        model.display()
    );
    let compiled = d.join("p.sofabin");
    let o = sofa(&[
        "compile",
        &s(&model),
        "--no-host-fallback",
        "-o",
        &s(&compiled),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&o.stderr), want);
    assert!(!compiled.exists());
    let o = sofa(&[
        "run",
        &s(&model),
        "--inputs",
        &s(&input),
        "--no-host-fallback",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).ends_with(&want),
        "{}",
        text(&o)
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_program_with_host_ops_survives_disasm_asm_and_runs_timing_only() {
    let d = dir("binary");
    let (model, _) = setup(&d);
    let (bin, asm, again) = (d.join("p.sofabin"), d.join("p.s"), d.join("q.sofabin"));
    let o = sofa(&["compile", &s(&model), "-o", &s(&bin)]);
    assert!(o.status.success(), "{}", text(&o));
    let o = sofa(&["disasm", &s(&bin), "-o", &s(&asm)]);
    assert!(o.status.success(), "{}", text(&o));
    let listing = std::fs::read_to_string(&asm).unwrap();
    assert!(listing.contains(".version 2\n"), "{listing}");
    assert!(
        listing.contains(".host \"onnx.Ceil\" name=\"/Ceil\" opset=17 attrs=\"{}\"\n.operand \"/Ceil.host_in0\" shape=[8,2]\n"),
        "{listing}"
    );
    let o = sofa(&["asm", &s(&asm), "-o", &s(&again)]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read(&bin).unwrap(), std::fs::read(&again).unwrap());
    let o = sofa(&["run", &s(&bin), "--timing-only"]);
    let all = text(&o);
    assert!(o.status.success(), "{all}");
    assert!(
        all.contains("host: 3 op(s) off the chip (onnx.Ceil x1, onnx.Floor x2), 0 chip cycles"),
        "{all}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

/// Token id 1000 in a vocabulary of 1000: the GATHER of the embedding lookup fails naming the
/// instruction, the table and the index (as `--reference` does), and no file is written.
#[test]
fn an_out_of_vocabulary_token_is_an_error_and_leaves_no_file() {
    let d = dir("oov");
    let model = common::fixture("bert_sdpa_ts_op17", "onnx");
    let input_path = common::fixture("bert_sdpa_ts_op17", "input.npz");
    let mut arrays = sofa::npz::read_npz(&input_path).unwrap();
    let ids = &arrays["input_ids"];
    let mut v = ids.as_i64().unwrap().to_vec();
    v[11] = 1000;
    arrays.insert(
        "input_ids".into(),
        Tensor::from_i64(ids.shape().to_vec(), v).unwrap(),
    );
    let input = d.join("oov.npz");
    write_npz(&input, &arrays).unwrap();
    let (out, report, trace) = (d.join("o.npz"), d.join("r.json"), d.join("t.json"));
    let o = sofa(&[
        "run",
        &s(&model),
        "--inputs",
        &s(&input),
        "-o",
        &s(&out),
        "--report",
        &s(&report),
        "--trace",
        &s(&trace),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(
            "simulation failed: instr #7 (GATHER): index 1000 (list entry 11) is out of range \
             for tensor 'model.embeddings.word_embeddings.weight' [1000, 128]"
        ),
        "{err}"
    );
    let o = sofa(&["run", &s(&model), "--reference", "--inputs", &s(&input)]);
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("index 1000 is out of range for axis 0 of size 1000"),
        "{}",
        text(&o)
    );
    let left: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("oov.npz")]);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_tolerance_failure_writes_no_file_and_bad_expected_fails_before_simulating() {
    let d = dir("fail");
    let (model, input) = setup(&d);
    let (out, report, trace) = (d.join("o.npz"), d.join("r.json"), d.join("t.json"));
    let expected = |name: &str, arrays: BTreeMap<String, Tensor>| {
        let p = d.join(name);
        write_npz(&p, &arrays).unwrap();
        p
    };
    let zeros = |shape: Vec<usize>| Tensor::from_f32(shape, vec![0.0; 16]).unwrap();
    // Outputs far from the expected zeros: compared, reported, nothing written.
    let off = expected(
        "off.npz",
        BTreeMap::from([("y".to_string(), zeros(vec![8, 2]))]),
    );
    let run = |exp: &Path| {
        sofa(&[
            "run",
            &s(&model),
            "--inputs",
            &s(&input),
            "--expected",
            &s(exp),
            "-o",
            &s(&out),
            "--report",
            &s(&report),
            "--trace",
            &s(&trace),
        ])
    };
    let o = run(&off);
    let all = text(&o);
    assert_eq!(o.status.code(), Some(1), "{all}");
    assert!(all.contains("FAIL y: max abs error"), "{all}");
    assert!(!out.exists() && !report.exists() && !trace.exists());
    // Names and shapes are checked against the program before it runs: no report table.
    let unknown = expected(
        "unknown.npz",
        BTreeMap::from([("w".to_string(), zeros(vec![8, 2]))]),
    );
    let o = run(&unknown);
    let all = text(&o);
    assert_eq!(o.status.code(), Some(1), "{all}");
    assert!(
        all.contains(
            "unknown.npz: expected array 'w' is not an output of the program (outputs: y, z)"
        ),
        "{all}"
    );
    assert!(!all.contains("cycles"), "{all}");
    let shape = expected(
        "shape.npz",
        BTreeMap::from([("y".to_string(), zeros(vec![2, 8]))]),
    );
    let all = text(&run(&shape));
    assert!(
        all.contains(
            "shape.npz: expected array 'y' has shape [2, 8], the program's output is [8, 2]"
        ),
        "{all}"
    );
    let all = text(&run(&d.join("missing.npz")));
    assert!(all.contains("missing.npz"), "{all}");
    assert!(!out.exists() && !report.exists() && !trace.exists());
    // --reference writes -o only when it passes too.
    let o = sofa(&[
        "run",
        &s(&model),
        "--reference",
        "--inputs",
        &s(&input),
        "--expected",
        &s(&off),
        "-o",
        &s(&out),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!out.exists());
    let _ = std::fs::remove_dir_all(&d);
}
