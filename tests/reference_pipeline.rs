//! `shape-infer` + `canonicalize` keep every ONNX fixture exact: the host reference interpreter
//! runs the transformed module on both input cases and matches onnxruntime's outputs to 1e-4.
//!
//! Two variants: without bindings (one module serves both cases, whose batch and sequence sizes
//! differ, so only shape arithmetic on dims that are static anyway may fold), and with `batch` /
//! `seq` bound to each case's input shapes (everything shape-related folds; the module then only
//! accepts that case).

mod common;
use common::*;

use std::collections::BTreeMap;

use sofa::npz::read_npz;
use sofa_ir::eval::Tensor;
use sofa_ir::{Dim, Location, Module, Type};

/// `name:size` for every named dim of `@main`'s arguments, sized from the case's inputs (the
/// entry block's argument locations are the ONNX input names).
fn bindings_for(m: &Module, inputs: &BTreeMap<String, Tensor>) -> String {
    let func = m.funcs()[0];
    let entry = m.entry_block(func).expect("entry block");
    let block = &m.blocks[entry];
    let mut bindings = BTreeMap::new();
    for (&arg, loc) in block.args.iter().zip(&block.arg_locs) {
        let Location::Name(input) = loc else {
            panic!("argument without a name: {loc:?}");
        };
        let (Type::Tensor(t), Some(x)) = (m.value_type(arg), inputs.get(input)) else {
            panic!("input '{input}' missing or not a tensor");
        };
        for (d, &size) in t.dims.iter().zip(x.shape()) {
            if let Dim::Named(n) = d {
                bindings.insert(n.clone(), size);
            }
        }
    }
    let parts: Vec<String> = bindings.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    parts.join(",")
}

fn check_fixture(name: &str) {
    let mut unbound = import(name);
    run_pipeline(name, &mut unbound, "shape-infer,canonicalize");
    for (input, expected) in CASES {
        check_case(name, &unbound, input, expected);
    }
    for (input, expected) in CASES {
        let mut m = import(name);
        let inputs = read_npz(&fixture(name, &format!("{input}.npz"))).unwrap();
        let bind = bindings_for(&m, &inputs);
        assert!(bind.contains("batch:"), "{name}.{input}: bindings '{bind}'");
        run_pipeline(
            name,
            &mut m,
            &format!("shape-infer{{bind={bind}}},canonicalize"),
        );
        let shapes_left = m
            .all_ops()
            .into_iter()
            .filter(|&o| m.op(o).name == "onnx.Shape")
            .count();
        assert_eq!(shapes_left, 0, "{name}.{input}: shape arithmetic left");
        check_case(name, &m, input, expected);
    }
}

#[test]
fn bert_sdpa() {
    check_fixture("bert_sdpa_ts_op17");
}

#[test]
fn bert_eager() {
    check_fixture("bert_eager_ts_op17");
}

#[test]
fn gpt2_sdpa() {
    check_fixture("gpt2_sdpa_ts_op17");
}

#[test]
fn gpt2_eager() {
    check_fixture("gpt2_eager_ts_op17");
}

#[test]
fn vit_sdpa() {
    check_fixture("vit_sdpa_ts_op17");
}

#[test]
fn vit_eager() {
    check_fixture("vit_eager_ts_op17");
}
