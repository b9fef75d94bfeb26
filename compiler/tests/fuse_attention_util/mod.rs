//! Test helpers for `fuse-attention`: a small graph builder whose result types come from the
//! dialect's inference hooks, a straight-line interpreter over `sofa_ir::eval`, and
//! deterministic pseudo-random tensors.

#![allow(dead_code)]

use sofa_ir::attr::{Attribute, DenseAttr};
use sofa_ir::dialect::DialectRegistry;
use sofa_ir::eval::{eval_op_n, module_opset, Tensor};
use sofa_ir::module::{FUNC_OP, RETURN_OP};
use sofa_ir::{
    Block, Dim, ElemType, FunctionType, Location, Module, Op, OpData, OpSpec, TensorType, Type,
    Value,
};

/// Builds `func.func @main` op by op.
pub struct G {
    pub m: Module,
    func: Op,
    entry: Block,
    reg: DialectRegistry,
}

pub fn dims(d: &[u64]) -> Vec<Dim> {
    d.iter().map(|&x| Dim::Static(x)).collect()
}

impl G {
    /// A function with float inputs of the given shapes, at `opset`.
    pub fn new(opset: i64, inputs: &[Vec<Dim>]) -> (G, Vec<Value>) {
        Self::with_types(
            opset,
            inputs
                .iter()
                .map(|d| TensorType::new(d.clone(), ElemType::F32))
                .collect(),
        )
    }

    pub fn with_types(opset: i64, inputs: Vec<TensorType>) -> (G, Vec<Value>) {
        let mut m = Module::new();
        let top = m.top;
        m.op_mut(top)
            .attrs
            .insert("onnx.opset".into(), Attribute::i64(opset));
        let tys: Vec<Type> = inputs.into_iter().map(Type::Tensor).collect();
        let (func, entry) = m.add_func("main", tys, vec![]);
        let args = m.blocks[entry].args.clone();
        let g = G {
            m,
            func,
            entry,
            reg: DialectRegistry::with_core_dialects(),
        };
        (g, args)
    }

    pub fn constant(&mut self, d: DenseAttr) -> Value {
        let ty = Type::Tensor(d.ty().clone());
        let op = self.m.build_at_end(
            self.entry,
            OpSpec::new("onnx.Constant")
                .attr("value", Attribute::Dense(d))
                .results([ty]),
        );
        self.m.result(op, 0)
    }

    pub fn f32s(&mut self, shape: &[u64], v: &[f32]) -> Value {
        self.constant(DenseAttr::from_f32(shape, v).expect("valid constant"))
    }

    pub fn scalar(&mut self, v: f32) -> Value {
        self.f32s(&[], &[v])
    }

    pub fn i64s(&mut self, v: &[i64]) -> Value {
        self.constant(DenseAttr::from_i64(&[v.len() as u64], v).expect("valid constant"))
    }

    /// Append `name(operands) {attrs}` with its result types inferred; returns result 0.
    pub fn op(&mut self, name: &str, operands: &[Value], attrs: &[(&str, Attribute)]) -> Value {
        self.op_n(name, operands, attrs, 1)[0]
    }

    pub fn op_n(
        &mut self,
        name: &str,
        operands: &[Value],
        attrs: &[(&str, Attribute)],
        n: usize,
    ) -> Vec<Value> {
        let mut spec = OpSpec::new(name)
            .operands(operands.iter().copied())
            .results(vec![Type::None; n])
            .loc(sofa_ir::Location::name(format!(
                "{name}_{}",
                self.m.ops.len()
            )));
        for (k, a) in attrs {
            spec = spec.attr(*k, a.clone());
        }
        let op = self.m.build_at_end(self.entry, spec);
        let consts: Vec<Option<Attribute>> = operands.iter().map(|&v| self.const_of(v)).collect();
        let def = self.reg.lookup(name).expect("registered op");
        let tys =
            (def.infer.expect("op has an infer hook"))(&self.m, op, &consts).expect("types infer");
        for (&r, ty) in self.m.op(op).results.clone().iter().zip(tys) {
            self.m.values[r].ty = ty;
        }
        self.m.op(op).results.clone()
    }

    /// The constant value of `v` when it does not depend on input data (shapes of static
    /// inputs count as constants), so inference sees what the importer's folding would.
    fn const_of(&self, v: Value) -> Option<Attribute> {
        let op = self.m.defining_op(v)?;
        let data = self.m.op(op);
        match data.name.as_str() {
            "onnx.Constant" => Some(data.attrs["value"].clone()),
            "onnx.Shape" => {
                let dims = self
                    .m
                    .value_type(data.operands[0])
                    .as_tensor()?
                    .static_dims()?;
                let dims: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
                Some(Attribute::Dense(DenseAttr::from_i64(
                    &[dims.len() as u64],
                    &dims,
                )?))
            }
            _ => {
                let ins: Vec<Tensor> = data
                    .operands
                    .iter()
                    .map(|&x| Tensor::from_attr(&self.const_of(x)?, &self.m).ok())
                    .collect::<Option<_>>()?;
                let refs: Vec<Option<&Tensor>> = ins.iter().map(Some).collect();
                let opset = module_opset(&self.m);
                let out = eval_op_n(
                    &data.name,
                    &data.attrs,
                    &refs,
                    opset,
                    Some(data.results.len()),
                )
                .ok()?;
                let index = data.results.iter().position(|&r| r == v)?;
                out.get(index)?.to_attr().ok()
            }
        }
    }

    pub fn ty(&self, v: Value) -> TensorType {
        self.m.value_type(v).as_tensor().expect("tensor").clone()
    }

    /// Return `outs` and fix the signature.
    pub fn finish(mut self, outs: &[Value]) -> Module {
        self.m.build_at_end(
            self.entry,
            OpSpec::new(RETURN_OP).operands(outs.iter().copied()),
        );
        let fty = FunctionType {
            inputs: self.m.blocks[self.entry]
                .args
                .iter()
                .map(|&a| self.m.value_type(a).clone())
                .collect(),
            results: outs.iter().map(|&v| self.m.value_type(v).clone()).collect(),
        };
        self.m
            .op_mut(self.func)
            .props
            .insert("function_type".into(), Attribute::Type(Type::Function(fty)));
        self.m
    }
}

/// Run `@main` on `inputs` with the reference kernels.
pub fn interpret(m: &Module, inputs: &[Tensor]) -> Vec<Tensor> {
    interpret_visiting(m, inputs, |_, _, _| {})
}

/// [`interpret`], showing `visit` every evaluated op (constants aside) with its operands and
/// results, so a test can record what it needs about single ops.
pub fn interpret_visiting(
    m: &Module,
    inputs: &[Tensor],
    mut visit: impl FnMut(&OpData, &[Option<&Tensor>], &[Tensor]),
) -> Vec<Tensor> {
    let func = *m
        .funcs()
        .iter()
        .find(|&&f| m.op(f).name == FUNC_OP)
        .expect("a function");
    let entry = m.entry_block(func).expect("entry block");
    let mut env: std::collections::BTreeMap<Value, Tensor> = m.blocks[entry]
        .args
        .iter()
        .copied()
        .zip(inputs.iter().cloned())
        .collect();
    let opset = module_opset(m);
    for &op in &m.blocks[entry].ops {
        let data = m.op(op);
        if data.name == RETURN_OP {
            return data.operands.iter().map(|v| env[v].clone()).collect();
        }
        let results = if data.name == "onnx.Constant" {
            vec![Tensor::from_attr(&data.attrs["value"], m).expect("constant")]
        } else {
            let ins: Vec<Option<&Tensor>> = data
                .operands
                .iter()
                .map(|v| (*m.value_type(*v) != Type::None).then(|| &env[v]))
                .collect();
            let out = eval_op_n(
                &data.name,
                &data.attrs,
                &ins,
                opset,
                Some(data.results.len()),
            )
            .unwrap_or_else(|e| panic!("{} at {:?}: {e}", data.name, data.loc));
            visit(data, &ins, &out);
            out
        };
        for (&r, t) in data.results.iter().zip(results) {
            env.insert(r, t);
        }
    }
    panic!("no func.return");
}

/// Deterministic values in [-1, 1).
pub fn random(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let v = (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect();
    Tensor::from_f32(shape.to_vec(), v).expect("shape")
}

/// Largest absolute difference (NaN counts as infinitely different).
pub fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.shape(), b.shape(), "result shapes differ");
    a.to_f64_vec()
        .iter()
        .zip(b.to_f64_vec())
        .map(|(x, y)| {
            if x.is_nan() || y.is_nan() {
                f64::INFINITY
            } else {
                (x - y).abs()
            }
        })
        .fold(0.0, f64::max)
}

pub fn count(m: &Module, name: &str) -> usize {
    m.all_ops()
        .into_iter()
        .filter(|&o| m.op(o).name == name)
        .count()
}

/// The `attn.mha` ops of `m`.
pub fn mhas(m: &Module) -> Vec<Op> {
    m.all_ops()
        .into_iter()
        .filter(|&o| m.op(o).name == "attn.mha")
        .collect()
}

/// Feeds for a fixture's `@main`: `dim` sizes each dim, `attention_mask` is all ones but for
/// its last batch row, right-padded by `pad`, other i64 inputs are token ids in a 1000-word
/// vocabulary, and float input `i` is `float(shape, 7 + i)`.
pub fn fixture_feeds(
    m: &Module,
    dim: impl Fn(&Dim) -> usize,
    pad: usize,
    float: impl Fn(&[usize], u64) -> Tensor,
) -> Vec<Tensor> {
    let entry = m.entry_block(m.funcs()[0]).unwrap();
    let block = &m.blocks[entry];
    block
        .args
        .iter()
        .zip(&block.arg_locs)
        .enumerate()
        .map(|(i, (&a, loc))| {
            let t = m.value_type(a).as_tensor().unwrap();
            let shape: Vec<usize> = t.dims.iter().map(&dim).collect();
            let n: usize = shape.iter().product();
            match (t.elem, loc) {
                (ElemType::I64, Location::Name(name)) if name == "attention_mask" => {
                    let cols = shape[1];
                    let v = (0..n)
                        .map(|j| i64::from(j < n - cols || j % cols < cols - pad))
                        .collect();
                    Tensor::from_i64(shape, v).unwrap()
                }
                (ElemType::I64, _) => {
                    let v = (0..n).map(|j| ((j * 37 + 11) % 1000) as i64).collect();
                    Tensor::from_i64(shape, v).unwrap()
                }
                _ => float(&shape, 7 + i as u64),
            }
        })
        .collect()
}
