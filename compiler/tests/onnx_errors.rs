//! Hand-built models (prost-encoded here) for the importer's error paths and edge cases: every
//! error names the node (or tensor / input) and the cause.

mod onnx_common;

use onnx_common::*;
use sofa_compiler::onnx::proto::{
    attribute_proto::AttributeType, tensor_proto::DataLocation, AttributeProto, GraphProto,
    StringStringEntryProto, TensorProto,
};
use sofa_compiler::onnx::{
    decode_model, import_bytes, import_file, import_file_with_warnings, Cause, ImportOptions,
    OnnxError, Site,
};
use sofa_ir::{Attribute, Dim, ElemType, Module, Type};

const F32: i32 = 1;
const I64: i32 = 7;

fn import(graph: GraphProto) -> Result<Module, OnnxError> {
    import_bytes(&encode(&model(17, graph)), None, &ImportOptions::default())
}

fn err_text(graph: GraphProto) -> String {
    import(graph).expect_err("import must fail").to_string()
}

/// x[4] -> Relu -> y, with extra nodes appended by the caller.
fn relu_graph(nodes: Vec<sofa_compiler::onnx::proto::NodeProto>) -> GraphProto {
    GraphProto {
        node: nodes,
        input: vec![value_info("x", F32, &[D::N(4)])],
        output: vec![value_info("y", F32, &[D::N(4)])],
        ..GraphProto::default()
    }
}

fn op_named<'m>(m: &'m Module, name: &str) -> Vec<&'m sofa_ir::OpData> {
    m.all_ops()
        .into_iter()
        .map(|o| &m.ops[o])
        .filter(|o| o.name == name)
        .collect()
}

#[test]
fn unsupported_ops_are_listed_in_one_error() {
    let mut custom = node("FusedMatMul", "fused", &["x"], &["c"]);
    custom.domain = Some("com.microsoft".into());
    let g = relu_graph(vec![
        node("Relu", "r", &["x"], &["y"]),
        node("Foo", "foo_a", &["x"], &["a"]),
        node("Bar", "bar_a", &["x"], &["b"]),
        node("Foo", "foo_b", &["a"], &["d"]),
        custom,
    ]);
    let e = import(g).expect_err("unsupported");
    let OnnxError::Unsupported(ops) = &e else {
        panic!("{e}")
    };
    let listed: Vec<(&str, usize, &str, usize)> = ops
        .iter()
        .map(|u| {
            (
                u.op_type.as_str(),
                u.first_node,
                u.first_name.as_str(),
                u.count,
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            ("Foo", 1, "foo_a", 2),
            ("Bar", 2, "bar_a", 1),
            ("com.microsoft.FusedMatMul", 4, "fused", 1)
        ]
    );
    let text = e.to_string();
    assert!(
        text.starts_with("3 unsupported operator types: Foo (2 nodes, first: node #1 \"foo_a\")"),
        "{text}"
    );
}

#[test]
fn cycles_are_errors_naming_a_node() {
    let g = relu_graph(vec![
        node("Relu", "r", &["x"], &["y"]),
        node("Add", "a", &["x", "q"], &["p"]),
        node("Neg", "n", &["p"], &["q"]),
    ]);
    let e = import(g).expect_err("cycle");
    assert!(
        matches!(e.site(), Some(Site::Node { op_type, .. }) if op_type == "Add" || op_type == "Neg"),
        "{e}"
    );
    let OnnxError::At { cause, .. } = &e else {
        panic!("not a node error: {e}");
    };
    assert!(
        matches!(&**cause, Cause::Cycle(nodes) if nodes.len() == 3),
        "{e}"
    );
    let text = e.to_string();
    assert!(
        text.contains("cycle") && text.contains("node #1 \"a\"") && text.contains("node #2 \"n\""),
        "{text}"
    );
}

#[test]
fn nodes_out_of_order_are_sorted() {
    let g = relu_graph(vec![
        node("Neg", "second", &["t"], &["y"]),
        node("Relu", "first", &["x"], &["t"]),
    ]);
    let m = import(g).expect("a DAG in any order imports");
    let names: Vec<&str> = m
        .all_ops()
        .into_iter()
        .map(|o| m.ops[o].name.as_str())
        .filter(|n| n.starts_with("onnx."))
        .collect();
    assert_eq!(names, ["onnx.Relu", "onnx.Neg"]);
}

#[test]
fn undefined_inputs_and_missing_initializers_name_the_node() {
    let text = err_text(relu_graph(vec![
        node("Relu", "r", &["x"], &["t"]),
        node("Add", "add_w", &["t", "w"], &["y"]),
    ]));
    assert_eq!(
        text,
        "node #1 \"add_w\" (Add): input \"w\" is not produced by any node, graph input or initializer"
    );
    let mut g = relu_graph(vec![node("Relu", "r", &["x"], &["t"])]);
    g.output = vec![value_info("nowhere", F32, &[D::N(4)])];
    assert!(err_text(g).starts_with("graph output \"nowhere\""));
}

#[test]
fn duplicate_outputs_are_errors() {
    let text = err_text(relu_graph(vec![
        node("Relu", "r", &["x"], &["y"]),
        node("Neg", "n", &["x"], &["y"]),
    ]));
    assert!(
        text.starts_with("node #1 \"n\" (Neg): output \"y\" is already defined"),
        "{text}"
    );
}

#[test]
fn subgraph_attributes_are_refused() {
    let mut n = node("Relu", "with_body", &["x"], &["y"]);
    n.attribute.push(AttributeProto {
        name: Some("body".into()),
        r#type: Some(AttributeType::Graph as i32),
        g: Some(encode(&model(17, GraphProto::default())).into()),
        ..AttributeProto::default()
    });
    let text = err_text(relu_graph(vec![n]));
    assert!(
        text.starts_with("node #0 \"with_body\" (Relu): attribute 'body' is a sub-graph"),
        "{text}"
    );
}

#[test]
fn huge_dims_are_errors_not_overflows() {
    const BIG: i64 = 1 << 62;
    // A constant shape asking for 2^62 x 2^62 elements.
    let mut g = relu_graph(vec![
        node("ConstantOfShape", "cos", &["shape"], &["big"]),
        node("Relu", "r", &["x"], &["y"]),
    ]);
    g.initializer.push(i64_tensor("shape", &[2], &[BIG, BIG]));
    let text = err_text(g);
    assert!(
        text.starts_with("node #0 \"cos\" (ConstantOfShape): "),
        "{text}"
    );
    // A Reshape target of 2^62 elements.
    let mut g = relu_graph(vec![node("Reshape", "rs", &["x", "shape"], &["y"])]);
    g.initializer.push(i64_tensor("shape", &[2], &[BIG, 4]));
    assert!(err_text(g).starts_with("node #0 \"rs\" (Reshape): "));
    // An initializer declaring 2^62 elements with 4 bytes of data: refused before allocating.
    let mut g = relu_graph(vec![node("Add", "add", &["x", "w"], &["y"])]);
    g.initializer.push(f32_tensor_raw("w", &[BIG], &[1.0]));
    assert!(err_text(g).starts_with("tensor \"w\": shape [4611686018427387904] is too large"));
    // A graph input of 2^62 floats.
    let mut g = relu_graph(vec![node("Relu", "r", &["x"], &["y"])]);
    g.input = vec![value_info("x", F32, &[D::N(BIG)])];
    assert!(err_text(g).starts_with("graph input \"x\": "));
}

#[test]
fn typed_fields_and_raw_data_give_the_same_payload() {
    let values = [1.5f32, -2.0, 0.25, 8.0];
    let typed = TensorProto {
        name: Some("typed".into()),
        dims: vec![4],
        data_type: Some(F32),
        float_data: values.to_vec(),
        ..TensorProto::default()
    };
    let mut g = relu_graph(vec![
        node("Add", "a", &["typed", "raw"], &["t"]),
        node("Mul", "m", &["t", "ints_f"], &["y"]),
    ]);
    g.initializer.push(typed);
    g.initializer.push(f32_tensor_raw("raw", &[4], &values));
    g.initializer.push(f32_tensor_raw("ints_f", &[], &[3.0]));
    let m = import(g).expect("imports");
    let consts = op_named(&m, "onnx.Constant");
    let payload = |i: usize| match &consts[i].attrs["value"] {
        Attribute::Dense(d) => d.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(payload(0), payload(1));
    assert_eq!(payload(0).get_f64(1), -2.0);
    assert_eq!(payload(2).ty().rank(), 0);
}

#[test]
fn int_typed_fields_decode_per_element_type() {
    let t = |name: &str, dt: i32, v: &[i32]| TensorProto {
        name: Some(name.into()),
        dims: vec![v.len() as i64],
        data_type: Some(dt),
        int32_data: v.to_vec(),
        ..TensorProto::default()
    };
    let mut g = relu_graph(vec![node("Relu", "r", &["x"], &["y"])]);
    g.initializer.push(t("b", 9, &[0, 1, 1]));
    g.initializer.push(t("i8", 3, &[-3, 127]));
    g.initializer.push(t("h", 10, &[0x3c00, 0xc000]));
    g.initializer.push(i64_tensor("l", &[2], &[-7, 1 << 40]));
    let m = import(g).expect("imports");
    let consts = op_named(&m, "onnx.Constant");
    let dense = |i: usize| match &consts[i].attrs["value"] {
        Attribute::Dense(d) => d.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (dense(0).ty().elem, dense(0).bytes()),
        (ElemType::I1, &[0u8, 1, 1][..])
    );
    assert_eq!((dense(1).get_i64(0), dense(1).get_i64(1)), (-3, 127));
    assert_eq!((dense(2).get_f64(0), dense(2).get_f64(1)), (1.0, -2.0));
    assert_eq!(dense(3).get_i64(1), 1 << 40);
    // A count mismatch is an error naming the tensor.
    let mut g = relu_graph(vec![node("Relu", "r", &["x"], &["y"])]);
    g.initializer.push(TensorProto {
        dims: vec![5],
        ..t("short", 6, &[1, 2])
    });
    assert_eq!(
        err_text(g),
        "tensor \"short\": int32_data has 2 values, the shape needs 5"
    );
}

fn external_tensor(
    name: &str,
    location: &str,
    offset: Option<&str>,
    length: Option<&str>,
) -> TensorProto {
    let mut entries = vec![("location", location)];
    entries.extend(offset.map(|o| ("offset", o)));
    entries.extend(length.map(|l| ("length", l)));
    TensorProto {
        name: Some(name.into()),
        dims: vec![100],
        data_type: Some(F32),
        data_location: Some(DataLocation::External as i32),
        external_data: entries
            .into_iter()
            .map(|(k, v)| StringStringEntryProto {
                key: Some(k.into()),
                value: Some(v.into()),
            })
            .collect(),
        ..TensorProto::default()
    }
}

fn external_model(dir: &std::path::Path, t: TensorProto) -> std::path::PathBuf {
    let mut g = GraphProto {
        node: vec![node("Add", "add", &["x", "w"], &["y"])],
        input: vec![value_info("x", F32, &[D::N(100)])],
        output: vec![value_info("y", F32, &[D::N(100)])],
        ..GraphProto::default()
    };
    g.initializer.push(t);
    let path = dir.join("model.onnx");
    std::fs::write(&path, encode(&model(17, g))).expect("write model");
    path
}

#[test]
fn external_data_resolves_relative_to_the_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let values: Vec<f32> = (0..100).map(|i| i as f32 * 0.5).collect();
    let mut file = vec![0xAAu8; 16];
    file.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    file.extend([0xBB; 8]);
    std::fs::create_dir(dir.path().join("data")).expect("mkdir");
    std::fs::write(dir.path().join("data/weights.bin"), &file).expect("write");
    let path = external_model(
        dir.path(),
        external_tensor("w", "data/weights.bin", Some("16"), Some("400")),
    );
    let m = import_file(&path, &ImportOptions::default()).expect("imports");
    let c = op_named(&m, "onnx.Constant")[0];
    let Attribute::DenseResource { name, ty } = &c.attrs["value"] else {
        panic!("resource expected")
    };
    assert_eq!(ty.dims, vec![Dim::Static(100)]);
    assert_eq!(&m.resources[name].bytes[..], &file[16..416]);

    // Past the end of the file, escaping the directory, a wrong length: errors naming the tensor.
    let bad = [
        (
            external_tensor("w", "data/weights.bin", Some("100"), Some("400")),
            "runs past the end",
        ),
        (
            external_tensor("w", "../weights.bin", None, None),
            "must be a relative path",
        ),
        (
            external_tensor("w", "data/weights.bin", Some("16"), Some("396")),
            "differs from the 400 bytes",
        ),
        (
            external_tensor("w", "data/missing.bin", None, None),
            "cannot open",
        ),
        (
            external_tensor("w", "data/weights.bin", Some("-4"), None),
            "not a non-negative integer",
        ),
    ];
    for (t, cause) in bad {
        let path = external_model(dir.path(), t);
        let text = import_file(&path, &ImportOptions::default())
            .expect_err("bad external data")
            .to_string();
        assert!(
            text.starts_with("tensor \"w\": ") && text.contains(cause),
            "{text}"
        );
    }
    // From memory there is no directory to resolve against.
    let bytes = std::fs::read(external_model(
        dir.path(),
        external_tensor("w", "data/weights.bin", Some("16"), None),
    ));
    let text = import_bytes(&bytes.expect("read"), None, &ImportOptions::default())
        .expect_err("no dir")
        .to_string();
    assert!(text.contains("needs the model's directory"), "{text}");
}

/// A symlink inside the model's folder that leads out of it is refused after resolving it,
/// as onnxruntime 1.32 refuses it ("External data path escapes model directory"); one that
/// stays inside is followed.
#[cfg(unix)]
#[test]
fn external_data_symlinks_may_not_leave_the_model_directory() {
    let root = tempfile::tempdir().expect("tempdir");
    let (model_dir, outside) = (root.path().join("model"), root.path().join("outside"));
    std::fs::create_dir_all(model_dir.join("data")).expect("mkdir");
    std::fs::create_dir(&outside).expect("mkdir");
    let values: Vec<u8> = (0..100u32).flat_map(|i| (i as f32).to_le_bytes()).collect();
    std::fs::write(outside.join("w.bin"), &values).expect("write");
    std::fs::write(model_dir.join("data/w.bin"), &values).expect("write");
    std::os::unix::fs::symlink(outside.join("w.bin"), model_dir.join("link.bin")).expect("link");
    std::os::unix::fs::symlink(&outside, model_dir.join("out")).expect("link");
    std::os::unix::fs::symlink("data/w.bin", model_dir.join("inside.bin")).expect("link");
    for location in ["link.bin", "out/w.bin"] {
        let path = external_model(&model_dir, external_tensor("w", location, None, None));
        let text = import_file(&path, &ImportOptions::default())
            .expect_err("escapes")
            .to_string();
        assert!(
            text.starts_with("tensor \"w\": external data path escapes model directory: ")
                && text.contains(&format!("\"{location}\" resolves to "))
                && text.contains("w.bin (symlinks followed), outside ")
                && text.contains("model"),
            "{text}"
        );
    }
    let path = external_model(&model_dir, external_tensor("w", "inside.bin", None, None));
    let m = import_file(&path, &ImportOptions::default()).expect("a link inside is followed");
    let c = op_named(&m, "onnx.Constant")[0];
    let Attribute::DenseResource { name, .. } = &c.attrs["value"] else {
        panic!("resource expected")
    };
    assert_eq!(&m.resources[name].bytes[..], &values[..]);
}

#[test]
fn opsets_outside_13_to_23_warn() {
    let g = || relu_graph(vec![node("Relu", "r", &["x"], &["y"])]);
    for (opset, warns) in [
        (12, true),
        (13, false),
        (17, false),
        (23, false),
        (24, true),
    ] {
        let bytes = encode(&model(opset, g()));
        let loaded = decode_model(bytes.into(), None).expect("decodes");
        assert_eq!(
            loaded.warnings.len(),
            usize::from(warns),
            "opset {opset}: {:?}",
            loaded.warnings
        );
        assert_eq!(loaded.opset, opset);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("m.onnx");
    std::fs::write(&path, encode(&model(11, g()))).expect("write");
    let imported = import_file_with_warnings(&path, &ImportOptions::default()).expect("imports");
    assert!(imported.warnings[0].contains("opset 11 is outside the supported range 13-23"));
    assert_eq!(
        imported.module.ops[imported.module.top].attrs["onnx.opset"],
        Attribute::i64(11)
    );
}

#[test]
fn absent_optional_inputs_and_unnamed_nodes() {
    // Slice(x, starts, ends, <absent axes>, steps): the middle one becomes onnx.NoValue.
    let mut g = relu_graph(vec![node("Slice", "", &["x", "s", "e", "", "st"], &["y"])]);
    g.output = vec![value_info("y", F32, &[D::N(2)])];
    g.initializer.extend([
        i64_tensor("s", &[1], &[3]),
        i64_tensor("e", &[1], &[-100]),
        i64_tensor("st", &[1], &[-2]),
    ]);
    let m = import(g).expect("imports");
    let slice = op_named(&m, "onnx.Slice")[0];
    assert_eq!(slice.operands.len(), 5);
    assert_eq!(m.value_type(slice.operands[3]), &Type::None);
    assert_eq!(slice.loc, sofa_ir::Location::name("Slice_0"));
    assert_eq!(
        m.value_type(slice.results[0]),
        &Type::tensor(vec![Dim::Static(2)], ElemType::F32)
    );
    // Trailing absent inputs are dropped.
    let g = relu_graph(vec![node("Clip", "clip", &["x", "", ""], &["y"])]);
    assert_eq!(
        op_named(&import(g).expect("imports"), "onnx.Clip")[0]
            .operands
            .len(),
        1
    );
}

#[test]
fn constant_value_forms_are_normalised() {
    let mut c = node("Constant", "c", &[], &["k"]);
    c.attribute.push(ints_attr("value_ints", &[2, 2]));
    let mut g = relu_graph(vec![c, node("Reshape", "rs", &["x", "k"], &["y"])]);
    g.output = vec![value_info("y", F32, &[D::N(2), D::N(2)])];
    let m = import(g).expect("imports");
    let k = op_named(&m, "onnx.Constant")[0];
    assert_eq!(k.attrs.len(), 1);
    let Attribute::Dense(d) = &k.attrs["value"] else {
        panic!()
    };
    assert_eq!((d.ty().elem, d.get_i64(1)), (ElemType::I64, 2));
}

#[test]
fn declared_shapes_that_contradict_inference_are_errors() {
    let mut g = relu_graph(vec![node("Relu", "r", &["x"], &["y"])]);
    g.output = vec![value_info("y", F32, &[D::N(5)])];
    let e = import(g.clone()).expect_err("contradiction");
    assert!(
        matches!(&e, OnnxError::At { cause, .. } if matches!(&**cause, Cause::OutputMismatch { output, .. } if output == "y")),
        "{e}"
    );
    let text = err_text(g);
    assert!(text.starts_with("node #0 \"r\" (Relu): output \"y\": inferred type [4]xf32 but the model declares [5]xf32"), "{text}");
}

#[test]
fn opset_23_attention_and_rotary_embedding_import() {
    let mut att = node("Attention", "attn", &["q", "k", "v"], &["o"]);
    att.attribute.extend([
        int_attr("q_num_heads", 8),
        int_attr("kv_num_heads", 2),
        int_attr("is_causal", 1),
    ]);
    let mut rope = node(
        "RotaryEmbedding",
        "rope",
        &["x", "cos", "sin", "pos"],
        &["q"],
    );
    rope.attribute.push(int_attr("num_heads", 8));
    let g = GraphProto {
        node: vec![
            rope,
            node("Identity", "k_id", &["kv"], &["k"]),
            node("Identity", "v_id", &["kv"], &["v"]),
            att,
        ],
        input: vec![
            value_info("x", F32, &[D::P("batch"), D::P("seq"), D::N(512)]),
            value_info("kv", F32, &[D::P("batch"), D::P("seq"), D::N(128)]),
            value_info("cos", F32, &[D::N(64), D::N(32)]),
            value_info("sin", F32, &[D::N(64), D::N(32)]),
            value_info("pos", I64, &[D::P("batch"), D::P("seq")]),
        ],
        output: vec![value_info(
            "o",
            F32,
            &[D::P("batch"), D::P("seq"), D::N(512)],
        )],
        ..GraphProto::default()
    };
    let m = import_bytes(&encode(&model(23, g)), None, &ImportOptions::default()).expect("imports");
    let a = op_named(&m, "onnx.Attention")[0];
    let named = |s: &str| Dim::Named(s.into());
    assert_eq!(
        m.value_type(a.results[0]),
        &Type::tensor(
            vec![named("batch"), named("seq"), Dim::Static(512)],
            ElemType::F32
        )
    );
    assert_eq!(a.attrs["is_causal"], Attribute::i64(1));
    sofa_ir::verify::verify(&m, &sofa_ir::dialect::DialectRegistry::with_core_dialects())
        .expect("verifies");
}

#[test]
fn truncated_and_garbage_files_are_decode_errors() {
    let bytes = encode(&model(
        17,
        relu_graph(vec![node("Relu", "r", &["x"], &["y"])]),
    ));
    let e = import_bytes(&bytes[..bytes.len() - 3], None, &ImportOptions::default())
        .expect_err("truncated");
    assert!(
        matches!(e, OnnxError::Decode(_) | OnnxError::Model(_)),
        "{e}"
    );
    let e = import_bytes(
        b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
        None,
        &ImportOptions::default(),
    )
    .expect_err("garbage");
    assert!(e.to_string().starts_with("not a valid ONNX model"), "{e}");
    let e = import_bytes(&[], None, &ImportOptions::default()).expect_err("empty");
    assert_eq!(e.to_string(), "invalid ONNX model: the model has no graph");
}

#[test]
fn attributes_outside_the_schema_are_errors() {
    let mut n = node("Softmax", "sm", &["x"], &["y"]);
    n.attribute.push(int_attr("axes", 0));
    assert_eq!(
        err_text(relu_graph(vec![n])),
        "node #0 \"sm\" (Softmax): unknown attribute 'axes'"
    );
    let mut n = node("Softmax", "sm", &["x"], &["y"]);
    n.attribute.push(ints_attr("axis", &[0]));
    assert_eq!(
        err_text(relu_graph(vec![n])),
        "node #0 \"sm\" (Softmax): attribute 'axis' must be an integer, got array"
    );
    let n = node("Cast", "c", &["x"], &["y"]);
    assert_eq!(
        err_text(relu_graph(vec![n])),
        "node #0 \"c\" (Cast): missing required attribute 'to'"
    );
}
