//! Interpreter tests on hand-built modules.

use super::*;
use sofa_ir::module::OpSpec;
use sofa_ir::{AttrDict, DenseAttr, Dim, TensorType};

fn f32_ty(dims: Vec<Dim>) -> Type {
    Type::Tensor(TensorType::new(dims, ElemType::F32))
}

fn named(n: &str) -> Dim {
    Dim::Named(n.into())
}

fn names_attr(names: &[&str]) -> Attribute {
    Attribute::Array(
        names
            .iter()
            .map(|n| {
                let mut d = AttrDict::new();
                d.insert("onnx.name".into(), Attribute::string(*n));
                Attribute::Dict(d)
            })
            .collect(),
    )
}

/// `main(x: [batch, 2], y: [batch, 2]) -> (z = (x + c) * y, x)` with ONNX names.
fn add_mul_module() -> Module {
    let mut m = Module::new();
    let t = f32_ty(vec![named("batch"), Dim::Static(2)]);
    let (func, entry) = m.add_func(
        "main",
        vec![t.clone(), t.clone()],
        vec![t.clone(), t.clone()],
    );
    m.ops[func]
        .props
        .insert("arg_attrs".into(), names_attr(&["x", "y"]));
    m.ops[func]
        .props
        .insert("res_attrs".into(), names_attr(&["z", "x_again"]));
    let (x, y) = (m.blocks[entry].args[0], m.blocks[entry].args[1]);
    let c_attr = Attribute::Dense(DenseAttr::from_f32(&[2], &[1.0, -1.0]).unwrap());
    let c_ty = f32_ty(vec![Dim::Static(2)]);
    let c = m.build_at_end(
        entry,
        OpSpec::new("onnx.Constant")
            .attr("value", c_attr)
            .results([c_ty]),
    );
    let cv = m.result(c, 0);
    let add = m.build_at_end(
        entry,
        OpSpec::new("onnx.Add")
            .operands([x, cv])
            .results([t.clone()])
            .loc(Location::name("/add")),
    );
    let s = m.result(add, 0);
    let mul = m.build_at_end(
        entry,
        OpSpec::new("onnx.Mul")
            .operands([s, y])
            .results([t])
            .loc(Location::name("/mul")),
    );
    let z = m.result(mul, 0);
    m.build_at_end(entry, OpSpec::new(RETURN_OP).operands([z, x]));
    m
}

fn tensor(shape: &[usize], v: &[f32]) -> Tensor {
    Tensor::from_f32(shape.to_vec(), v.to_vec()).unwrap()
}

fn inputs(pairs: Vec<(&str, Tensor)>) -> BTreeMap<String, Tensor> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

#[test]
fn runs_main_with_onnx_names() {
    let m = add_mul_module();
    let x = tensor(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let ins = inputs(vec![
        ("x", x.clone()),
        ("y", tensor(&[2, 2], &[2.0, 2.0, 0.5, 0.5])),
    ]);
    let out = run_function(&m, &ins).unwrap();
    assert_eq!(out.keys().collect::<Vec<_>>(), ["x_again", "z"]);
    assert_eq!(out["z"].as_f32().unwrap(), &[4.0, 2.0, 2.0, 1.5]);
    assert_eq!(out["x_again"], x);
}

#[test]
fn input_errors_are_specific() {
    let m = add_mul_module();
    let ok = tensor(&[2, 2], &[0.0; 4]);
    let err = run_function(&m, &inputs(vec![("x", ok.clone())])).unwrap_err();
    assert!(
        matches!(err, InterpError::MissingInput(ref n) if n == "y"),
        "{err}"
    );
    let err = run_function(
        &m,
        &inputs(vec![
            ("x", ok.clone()),
            ("y", ok.clone()),
            ("w", ok.clone()),
        ]),
    )
    .unwrap_err();
    assert!(
        matches!(err, InterpError::UnknownInput { ref name, .. } if name == "w"),
        "{err}"
    );
    let ints = Tensor::from_i64(vec![2, 2], vec![0; 4]).unwrap();
    let err = run_function(&m, &inputs(vec![("x", ok.clone()), ("y", ints)])).unwrap_err();
    assert!(matches!(err, InterpError::InputType { .. }), "{err}");
    let wrong = tensor(&[2, 3], &[0.0; 6]);
    let err = run_function(&m, &inputs(vec![("x", ok.clone()), ("y", wrong)])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "input 'y': shape [2, 3] does not match [batch, 2]"
    );
    let other_batch = tensor(&[3, 2], &[0.0; 6]);
    let err = run_function(&m, &inputs(vec![("x", ok), ("y", other_batch)])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "input 'y': dim 'batch' is 3, but input 'x' has it as 2"
    );
}

/// `main(x) -> Reshape(x, [5, -1])` where the reshape fails at run time.
#[test]
fn op_errors_name_op_and_location() {
    let mut m = Module::new();
    let t = f32_ty(vec![Dim::Dynamic]);
    let (_f, entry) = m.add_func("main", vec![t.clone()], vec![t.clone()]);
    let x = m.blocks[entry].args[0];
    let shape_attr = Attribute::Dense(DenseAttr::from_i64(&[2], &[5, -1]).unwrap());
    let i64_2 = Type::Tensor(TensorType::static_shape(&[2], ElemType::I64));
    let c = m.build_at_end(
        entry,
        OpSpec::new("onnx.Constant")
            .attr("value", shape_attr)
            .results([i64_2]),
    );
    let cv = m.result(c, 0);
    let out_ty = f32_ty(vec![Dim::Static(5), Dim::Dynamic]);
    let r = m.build_at_end(
        entry,
        OpSpec::new("onnx.Reshape")
            .operands([x, cv])
            .results([out_ty])
            .loc(Location::name("/model/Reshape_3")),
    );
    let rv = m.result(r, 0);
    m.build_at_end(entry, OpSpec::new(RETURN_OP).operands([rv]));
    let ok = run_function(&m, &inputs(vec![("arg0", tensor(&[10], &[0.0; 10]))])).unwrap();
    assert_eq!(ok["out0"].shape(), &[5, 2]);
    let err = run_function(&m, &inputs(vec![("arg0", tensor(&[7], &[0.0; 7]))])).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("onnx.Reshape at \"/model/Reshape_3\": cannot infer the -1"),
        "{text}"
    );
}

#[test]
fn declared_result_types_are_enforced() {
    let mut m = Module::new();
    let t = f32_ty(vec![Dim::Static(2)]);
    let (_f, entry) = m.add_func("main", vec![t.clone()], vec![]);
    let x = m.blocks[entry].args[0];
    // Declared as [3] but Relu of a [2] tensor is [2].
    let r = m.build_at_end(
        entry,
        OpSpec::new("onnx.Relu")
            .operands([x])
            .results([f32_ty(vec![Dim::Static(3)])]),
    );
    let rv = m.result(r, 0);
    m.build_at_end(entry, OpSpec::new(RETURN_OP).operands([rv]));
    let err = run_function(&m, &inputs(vec![("arg0", tensor(&[2], &[1.0, -1.0]))])).unwrap_err();
    assert!(matches!(err, InterpError::Malformed { .. }), "{err}");
    assert!(err.to_string().contains("declared type"), "{err}");
}

#[test]
fn absent_operands_unknown_ops_and_attn() {
    let mut m = Module::new();
    let x_ty = f32_ty(vec![Dim::Static(4)]);
    let i1 = Type::Tensor(TensorType::static_shape(&[1], ElemType::I64));
    let (_f, entry) = m.add_func("main", vec![x_ty, i1.clone(), i1.clone(), i1], vec![]);
    let a = m.blocks[entry].args.clone();
    let nv = m.build_at_end(entry, OpSpec::new("onnx.NoValue").results([Type::None]));
    let none = m.result(nv, 0);
    let s = m.build_at_end(
        entry,
        OpSpec::new("onnx.Slice")
            .operands([a[0], a[1], a[2], none, a[3]])
            .results([f32_ty(vec![Dim::Dynamic])]),
    );
    let sv = m.result(s, 0);
    m.build_at_end(entry, OpSpec::new(RETURN_OP).operands([sv, sv]));
    let i = |v: i64| Tensor::from_i64(vec![1], vec![v]).unwrap();
    let ins = inputs(vec![
        ("arg0", tensor(&[4], &[1.0, 2.0, 3.0, 4.0])),
        ("arg1", i(-1)),
        ("arg2", i(i64::MIN)),
        ("arg3", i(-2)),
    ]);
    let out = run_function(&m, &ins).unwrap();
    assert_eq!(out["out0"].as_f32().unwrap(), &[4.0, 2.0]);
    assert_eq!(out["out0"], out["out1"], "a value returned twice is cloned");

    let mut bad = Module::new();
    let (_f, entry) = bad.add_func("main", vec![], vec![]);
    bad.build_at_end(entry, OpSpec::new("sofa.dma").loc(Location::name("n")));
    let err = run_function(&bad, &BTreeMap::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "sofa.dma at \"n\": op is not executable by the reference interpreter"
    );
    assert!(matches!(
        run_function(&Module::new(), &BTreeMap::new()),
        Err(InterpError::NoMain)
    ));
}

#[test]
fn attn_mha_runs_through_the_eval_dispatcher() {
    let mut m = Module::new();
    let t = f32_ty(vec![
        Dim::Static(1),
        Dim::Static(1),
        Dim::Static(2),
        Dim::Static(2),
    ]);
    let (_f, entry) = m.add_func("main", vec![t.clone(), t.clone(), t.clone()], vec![]);
    let a = m.blocks[entry].args.clone();
    let spec = OpSpec::new("attn.mha")
        .operands([a[0], a[1], a[2]])
        .results([t])
        .attr("heads", Attribute::i64(1))
        .attr("kv_heads", Attribute::i64(1))
        .attr("head_dim", Attribute::i64(2))
        .attr("scale", Attribute::f32(1.0))
        .attr("causal", Attribute::Bool(true));
    let op = m.build_at_end(entry, spec);
    let y = m.result(op, 0);
    m.build_at_end(entry, OpSpec::new(RETURN_OP).operands([y]));
    let zeros = tensor(&[1, 1, 2, 2], &[0.0; 4]);
    let v = tensor(&[1, 1, 2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let ins = inputs(vec![("arg0", zeros.clone()), ("arg1", zeros), ("arg2", v)]);
    let out = run_function(&m, &ins).unwrap();
    // Causal, uniform scores: row 0 sees V row 0, row 1 averages both rows.
    assert_eq!(out["out0"].as_f32().unwrap(), &[1.0, 2.0, 2.0, 3.0]);
}

#[test]
fn last_uses_point_at_the_final_consumer() {
    let m = add_mul_module();
    let entry = m.entry_block(m.funcs()[0]).unwrap();
    let ops = &m.blocks[entry].ops;
    let last = last_uses(&m, ops);
    let (x, y) = (m.blocks[entry].args[0], m.blocks[entry].args[1]);
    // ops: constant(0), add(1), mul(2), return(3); x is returned, y dies at the mul.
    assert_eq!(last[&x], 3);
    assert_eq!(last[&y], 2);
    assert_eq!(last[&m.result(ops[1], 0)], 2);
}

#[test]
fn a_checkpoint_resumes_the_run_without_the_ops_before_it() {
    let mut m = add_mul_module();
    let ins = inputs(vec![
        ("x", tensor(&[1, 2], &[1.0, 2.0])),
        ("y", tensor(&[1, 2], &[3.0, 5.0])),
    ]);
    let entry = m.entry_block(find_main(&m).unwrap()).unwrap();
    let (add, mul) = (m.blocks[entry].ops[1], m.blocks[entry].ops[2]);
    let (out, cps) = run_capturing(&m, &ins, &[mul, add]).unwrap();
    // In execution order, whatever the order asked.
    assert_eq!(
        cps.iter().map(Checkpoint::at).collect::<Vec<_>>(),
        [add, mul]
    );
    // Before the Mul: x (still returned), y and x + c are live; the constant is dead.
    assert_eq!(cps[1].elements(), 6);
    // An op after the checkpoint changes: the resumed run sees it, the prefix is reused.
    m.ops[mul].name = "onnx.Sub".into();
    let (resumed, later) = resume(&m, &cps[1], &[add, mul]).unwrap();
    assert_eq!(out["z"].as_f32().unwrap(), &[6.0, 5.0]);
    assert_eq!(resumed["z"].as_f32().unwrap(), &[-1.0, -4.0]);
    assert_eq!(resumed["x_again"], out["x_again"]);
    assert_eq!(later.iter().map(Checkpoint::at).collect::<Vec<_>>(), [mul]);
    // A function of another length refuses the checkpoint.
    let other = {
        let mut o = add_mul_module();
        let e = o.entry_block(find_main(&o).unwrap()).unwrap();
        let first = o.blocks[e].ops[0];
        o.blocks[e].ops.insert(0, first);
        o
    };
    let e = resume(&other, &cps[1], &[]).unwrap_err().to_string();
    assert!(e.contains("checkpoint taken in a function of 4 ops"), "{e}");
}
