//! Op-level agreement tests (`tests/sim_ops*.rs`, `tests/sim_quant.rs`): a hand-written `@main`
//! module run on the host reference interpreter and, lowered with `lower_model` (dense) to one
//! SOFA program, on the simulator. Each test file compares the two with its own tolerance.

use std::collections::BTreeMap;

use sofa_compiler::lower::model::lower_model;
use sofa_compiler::lower::LowerDefaults;
use sofa_compiler::schedule::Schedule;
use sofa_ir::eval::Tensor;
use sofa_ir::hw::HwConfig;
use sofa_ir::text::parse_module;
use sofa_runtime::sim::{simulate, SimOptions};

/// `@main(args) -> results` around `body` (ops ending in the values `rets`) at `opset`; args are
/// (name, type), results (name, value, type).
pub fn module(
    opset: i64,
    args: &[(&str, &str)],
    body: &str,
    rets: &[(&str, &str, &str)],
) -> String {
    let names = |v: Vec<&str>| {
        v.iter()
            .map(|n| format!("{{onnx.name = \"{n}\"}}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let arg_tys: Vec<&str> = args.iter().map(|(_, t)| *t).collect();
    let ret_tys: Vec<&str> = rets.iter().map(|(_, _, t)| *t).collect();
    let ret_vals: Vec<&str> = rets.iter().map(|(_, v, _)| *v).collect();
    let params: Vec<String> = args
        .iter()
        .enumerate()
        .map(|(i, (n, t))| format!("%arg{i}: {t} loc(\"{n}\")"))
        .collect();
    format!(
        "\"builtin.module\"() ({{\n  \"func.func\"() <{{arg_attrs = [{}], function_type = ({}) -> ({}), res_attrs = [{}], sym_name = \"main\"}}> ({{\n  ^bb0({}):\n{body}\n    \"func.return\"({}) : ({}) -> () loc(unknown)\n  }}) : () -> () loc(unknown)\n}}) {{onnx.opset = {opset} : i64}} : () -> () loc(unknown)\n",
        names(args.iter().map(|(n, _)| *n).collect()),
        arg_tys.join(", "),
        ret_tys.join(", "),
        names(rets.iter().map(|(n, _, _)| *n).collect()),
        params.join(", "),
        ret_vals.join(", "),
        ret_tys.join(", "),
    )
}

/// What one module gave on both sides.
pub struct Ran {
    /// Output name → (simulated, reference).
    pub outputs: BTreeMap<String, (Tensor, Tensor)>,
    /// The program's instruction count per mnemonic.
    pub counts: BTreeMap<&'static str, usize>,
    /// The program itself.
    pub program: sofa_ir::isa::Program,
}

/// Interpret `src` on `inputs`, lower it (dense schedule, checked) and simulate it.
pub fn run_both(src: &str, inputs: &[(&str, Tensor)]) -> Ran {
    let m = parse_module(src).unwrap_or_else(|e| panic!("{e}\n{src}"));
    let inputs: BTreeMap<String, Tensor> = inputs
        .iter()
        .map(|(k, t)| (k.to_string(), t.clone()))
        .collect();
    let want = sofa_runtime::interp::run_function(&m, &inputs).unwrap();
    let hw = HwConfig::default();
    let opts = LowerDefaults {
        schedule: Schedule::Dense,
        ..LowerDefaults::default()
    };
    let p = lower_model(&m, &hw, &opts).unwrap_or_else(|e| panic!("{e}\n{src}"));
    if let Err(errs) = p.check(&hw) {
        panic!("{}", errs[0]);
    }
    let raw = inputs
        .iter()
        .map(|(k, t)| (k.clone(), t.to_bytes()))
        .collect();
    let got = simulate(&p, &hw, &raw, &SimOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let outputs = want
        .into_iter()
        .map(|(k, w)| {
            let g = Tensor::from_bytes(&w.tensor_type(), &got.outputs[&k]).unwrap();
            (k, (g, w))
        })
        .collect();
    let mut counts = BTreeMap::new();
    for i in &p.instrs {
        *counts.entry(i.opcode().mnemonic()).or_default() += 1;
    }
    Ran {
        outputs,
        counts,
        program: p,
    }
}
