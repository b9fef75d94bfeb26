//! The six fixture models import: op counts equal the README histograms, graph inputs and
//! outputs have the fixtures.json types (named dims kept), the result passes the IR verifier,
//! shape bindings make every dim static, and weights arrive byte-exact.

mod onnx_common;

use std::collections::BTreeMap;

use onnx_common::{fixture_path, models_dir, FIXTURES};
use sofa_compiler::onnx::{
    import_file, import_file_with_warnings, load_model, model_summary, ImportOptions,
};
use sofa_ir::dialect::DialectRegistry;
use sofa_ir::{Attribute, Dim, ElemType, Module, Type};

fn fixtures_json() -> serde_json::Value {
    let text = std::fs::read_to_string(models_dir().join("fixtures.json")).expect("fixtures.json");
    serde_json::from_str(&text).expect("valid json")
}

fn fixture_entry<'a>(all: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    all["fixtures"]
        .as_array()
        .expect("fixtures array")
        .iter()
        .find(|f| f["name"] == name)
        .expect("fixture listed")
}

/// `onnx.X` op counts over the whole module.
fn op_histogram(m: &Module) -> BTreeMap<String, usize> {
    let mut h = BTreeMap::new();
    for op in m.all_ops() {
        if let Some(name) = m.ops[op].name.strip_prefix("onnx.") {
            *h.entry(name.to_string()).or_insert(0) += 1;
        }
    }
    h
}

fn signature(m: &Module) -> (Vec<Type>, Vec<Type>) {
    let func = m.funcs()[0];
    match m.ops[func].props.get("function_type") {
        Some(Attribute::Type(Type::Function(f))) => (f.inputs.clone(), f.results.clone()),
        other => panic!("function_type missing: {other:?}"),
    }
}

fn onnx_names(m: &Module, prop: &str) -> Vec<String> {
    let func = m.funcs()[0];
    let Some(Attribute::Array(dicts)) = m.ops[func].props.get(prop) else {
        panic!("{prop} missing");
    };
    dicts
        .iter()
        .map(|d| match d {
            Attribute::Dict(d) => d["onnx.name"].as_str().expect("string").to_string(),
            other => panic!("not a dict: {other:?}"),
        })
        .collect()
}

#[test]
fn fixtures_import_with_readme_op_counts() {
    let all = fixtures_json();
    for name in FIXTURES {
        let path = fixture_path(name);
        let m =
            import_file(&path, &ImportOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let initializers = load_model(&path)
            .expect("loads")
            .model
            .graph
            .expect("graph")
            .initializer
            .len();
        let mut want: BTreeMap<String, usize> = BTreeMap::new();
        for (op, n) in fixture_entry(&all, name)["op_histogram"]
            .as_object()
            .expect("histogram")
        {
            want.insert(op.clone(), n.as_u64().expect("count") as usize);
        }
        // Initializers are imported as onnx.Constant ops too.
        *want.entry("Constant".into()).or_insert(0) += initializers;
        let mut got = op_histogram(&m);
        got.remove("NoValue");
        assert_eq!(got, want, "{name}: op histogram");
    }
}

/// A fixtures.json dim: an integer is static; a string is the input's named dim, or (for names
/// the exporter invented on outputs) the static size every reference case agrees on.
fn expected_dim(
    entry: &serde_json::Value,
    input_dims: &[String],
    value: &str,
    k: usize,
    d: &serde_json::Value,
) -> Dim {
    if let Some(n) = d.as_u64() {
        return Dim::Static(n);
    }
    let s = d.as_str().expect("dim is a number or a string");
    if input_dims.iter().any(|x| x == s) {
        return Dim::Named(s.to_string());
    }
    let sizes: Vec<u64> = entry["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| c["output_shapes"][value][k].as_u64().expect("static size"))
        .collect();
    assert!(
        !sizes.is_empty() && sizes.iter().all(|&x| x == sizes[0]),
        "{value} dim {k}: {sizes:?}"
    );
    Dim::Static(sizes[0])
}

fn elem_of(dtype: &str) -> ElemType {
    match dtype {
        "float32" => ElemType::F32,
        "int64" => ElemType::I64,
        other => panic!("unexpected dtype {other}"),
    }
}

#[test]
fn fixture_signatures_match_fixtures_json() {
    let all = fixtures_json();
    for name in FIXTURES {
        let entry = fixture_entry(&all, name);
        let m = import_file(&fixture_path(name), &ImportOptions::default()).expect("imports");
        let (inputs, results) = signature(&m);
        let mut input_dims = Vec::new();
        let mut want_inputs = Vec::new();
        for i in entry["inputs"].as_array().expect("inputs") {
            let dims: Vec<Dim> = i["shape"]
                .as_array()
                .expect("shape")
                .iter()
                .map(|d| match d.as_u64() {
                    Some(n) => Dim::Static(n),
                    None => {
                        input_dims.push(d.as_str().expect("name").to_string());
                        Dim::Named(d.as_str().expect("name").to_string())
                    }
                })
                .collect();
            want_inputs.push(Type::tensor(
                dims,
                elem_of(i["dtype"].as_str().expect("dtype")),
            ));
        }
        assert_eq!(inputs, want_inputs, "{name}: inputs");
        let mut want_results = Vec::new();
        let mut out_names = Vec::new();
        for o in entry["outputs"].as_array().expect("outputs") {
            let value = o["name"].as_str().expect("name");
            out_names.push(value.to_string());
            let dims = o["shape"]
                .as_array()
                .expect("shape")
                .iter()
                .enumerate()
                .map(|(k, d)| expected_dim(entry, &input_dims, value, k, d))
                .collect();
            want_results.push(Type::tensor(
                dims,
                elem_of(o["dtype"].as_str().expect("dtype")),
            ));
        }
        assert_eq!(results, want_results, "{name}: outputs");
        assert_eq!(onnx_names(&m, "res_attrs"), out_names, "{name}");
        let in_names: Vec<String> = entry["inputs"]
            .as_array()
            .expect("inputs")
            .iter()
            .map(|i| i["name"].as_str().expect("n").to_string())
            .collect();
        assert_eq!(onnx_names(&m, "arg_attrs"), in_names, "{name}");
    }
}

#[test]
fn fixtures_pass_the_verifier_and_record_the_opset() {
    let reg = DialectRegistry::with_core_dialects();
    for name in FIXTURES {
        let imported = import_file_with_warnings(&fixture_path(name), &ImportOptions::default())
            .expect("imports");
        assert!(
            imported.warnings.is_empty(),
            "{name}: {:?}",
            imported.warnings
        );
        let m = imported.module;
        if let Err(e) = sofa_ir::verify::verify(&m, &reg) {
            panic!("{name}: {e}");
        }
        let top = &m.ops[m.top].attrs;
        // The dynamo exporter writes opset 18 and the CUDA build's version string.
        let (opset, producer) = if name.ends_with("dynamo_op18") {
            (18, "pytorch 2.15.0+cu132")
        } else {
            (17, "pytorch 2.15.0")
        };
        assert_eq!(top["onnx.opset"], Attribute::i64(opset), "{name}");
        assert_eq!(top["onnx.producer"], Attribute::string(producer), "{name}");
        // Every node keeps its name as its location.
        let softmax: Vec<_> = m
            .all_ops()
            .into_iter()
            .filter(|&o| m.ops[o].name == "onnx.Softmax")
            .collect();
        assert_eq!(softmax.len(), 2, "{name}");
        // TorchScript names nodes by module path, dynamo by op and counter.
        let softmax_name = |n: &str| n.ends_with("/Softmax") || n.starts_with("node_Softmax_");
        assert!(
            matches!(&m.ops[softmax[0]].loc, sofa_ir::Location::Name(n) if softmax_name(n)),
            "{name}: {:?}",
            m.ops[softmax[0]].loc
        );
    }
}

#[test]
fn shape_bindings_make_every_dim_static() {
    let mut opts = ImportOptions::default();
    opts.shape_bindings.insert("batch".into(), 3);
    opts.shape_bindings.insert("seq".into(), 13);
    let m = import_file(&fixture_path("bert_sdpa_ts_op17"), &opts).expect("imports");
    let (_, results) = signature(&m);
    assert_eq!(
        results[0],
        Type::Tensor(sofa_ir::TensorType::static_shape(
            &[3, 13, 128],
            ElemType::F32
        ))
    );
    assert_eq!(
        results[1],
        Type::Tensor(sofa_ir::TensorType::static_shape(&[3, 128], ElemType::F32))
    );
    let non_static = m
        .values
        .values()
        .filter_map(|v| v.ty.as_tensor())
        .filter(|t| t.static_dims().is_none())
        .count();
    assert_eq!(
        non_static, 0,
        "every tensor type is static once batch and seq are bound"
    );
}

#[test]
fn initializer_payloads_arrive_byte_exact() {
    let path = fixture_path("gpt2_eager_ts_op17");
    let loaded = load_model(&path).expect("loads");
    let m = import_file(&path, &ImportOptions::default()).expect("imports");
    let graph = loaded.model.graph.as_ref().expect("graph");
    let mut resources = 0;
    for t in &graph.initializer {
        let raw = t.raw_data.as_ref().expect("torch writes raw_data");
        let op = m
            .all_ops()
            .into_iter()
            .find(|&o| m.ops[o].loc == sofa_ir::Location::name(t.name()))
            .expect("constant for initializer");
        match &m.ops[op].attrs["value"] {
            Attribute::DenseResource { name, ty } => {
                resources += 1;
                assert!(
                    ty.num_elements().expect("static") > 64,
                    "only large payloads are resources"
                );
                assert_eq!(&m.resources[name].bytes[..], &raw[..], "{}", t.name());
            }
            Attribute::Dense(d) => {
                assert!(d.len() <= 64, "small payloads stay inline");
                assert_eq!(d.bytes(), &raw[..], "{}", t.name());
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(resources > 10);
    assert!(m
        .resources
        .keys()
        .all(|k| k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')));
}

#[test]
fn summary_lists_header_signature_and_histogram() {
    let s = model_summary(&load_model(&fixture_path("vit_eager_ts_op17")).expect("loads"));
    assert_eq!(s.producer, "pytorch 2.15.0");
    assert_eq!(s.opsets, vec![("ai.onnx".to_string(), 17)]);
    assert_eq!(s.node_count, 178);
    assert_eq!(s.op_histogram[0], ("Constant".to_string(), 53));
    assert_eq!(s.op_histogram[1], ("Add".to_string(), 19));
    // Ties are sorted by name: Div, Erf and Softmax all appear twice.
    let twos: Vec<&str> = s
        .op_histogram
        .iter()
        .filter(|(_, n)| *n == 2)
        .map(|(o, _)| o.as_str())
        .collect();
    assert_eq!(twos, ["Div", "Erf", "Softmax"]);
    assert_eq!(s.inputs.len(), 1);
    assert_eq!(
        s.inputs[0].to_string(),
        "pixel_values: FLOAT [batch, 3, 32, 32]"
    );
    assert!(s.initializer_count > 0 && s.initializer_bytes > 1_000_000);
    assert!(s.to_string().contains("nodes: 178"));
}
