//! Evaluating shape-only subgraphs at concrete sizes ("probes").
//!
//! A value is a *pure function of positions* when its backward slice reaches the function's
//! inputs only through `Shape`/`Size` (never their data) — e.g. a causal mask built from
//! `Range(0, seq)` and `LessOrEqual`, or a scale computed as `1/sqrt(Shape(q)[-1])`. Such a
//! value is evaluated with the `sofa_ir::eval` kernels after binding every named dim to a
//! concrete size. Several probes bind the names differently (each name its own size, distinct
//! from the others), so a property that holds at every probe holds for the dims in general with
//! high confidence. Anonymous dynamic dims get probe sizes of their own (see `bound_zeros`).

use std::collections::{BTreeMap, BTreeSet};

use sofa_ir::eval::{eval_op_n, Tensor};
use sofa_ir::{Dim, Module, Type, Value};

/// Ops evaluated per probe at most; deeper slices are not considered position functions.
const MAX_OPS: usize = 256;
/// Largest tensor a probe creates.
const MAX_ELEMENTS: usize = 1 << 20;

/// Sizes for named dims, one map per probe.
#[derive(Clone, Debug)]
pub struct Probes {
    pub bindings: Vec<BTreeMap<String, u64>>,
}

impl Probes {
    /// Three probes over every dim name used in `m`: name #i gets `5 + 3i`, `7 + 4i`, `4 + 5i`
    /// (cycling after 8 names), so names never share a size within a probe.
    pub fn for_module(m: &Module) -> Probes {
        let mut names = BTreeSet::new();
        for v in m.values.values() {
            if let Type::Tensor(t) = &v.ty {
                for d in &t.dims {
                    if let Dim::Named(n) = d {
                        names.insert(n.clone());
                    }
                }
            }
        }
        let bindings = [(5, 3), (7, 4), (4, 5)]
            .iter()
            .map(|&(base, step)| {
                names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (n.clone(), base + step * (i as u64 % 8)))
                    .collect()
            })
            .collect();
        Probes { bindings }
    }

    /// `d` under probe `p`.
    pub fn size(&self, p: usize, d: &Dim) -> Option<u64> {
        match d {
            Dim::Static(n) => Some(*n),
            Dim::Named(name) => self.bindings.get(p)?.get(name).copied(),
            Dim::Dynamic => None,
        }
    }

    /// Evaluate `v` under every probe; `None` unless it is a pure function of positions that
    /// the kernels can evaluate.
    pub fn eval_all(&self, m: &Module, opset: i64, v: Value) -> Option<Vec<Tensor>> {
        (0..self.bindings.len())
            .map(|p| Evaluator::new(m, opset, self, p).eval(v))
            .collect()
    }
}

struct Evaluator<'a> {
    m: &'a Module,
    opset: i64,
    probes: &'a Probes,
    probe: usize,
    memo: BTreeMap<Value, Tensor>,
    budget: usize,
}

impl<'a> Evaluator<'a> {
    fn new(m: &'a Module, opset: i64, probes: &'a Probes, probe: usize) -> Self {
        Evaluator {
            m,
            opset,
            probes,
            probe,
            memo: BTreeMap::new(),
            budget: MAX_OPS,
        }
    }

    fn eval(&mut self, v: Value) -> Option<Tensor> {
        if let Some(t) = self.memo.get(&v) {
            return Some(t.clone());
        }
        self.budget = self.budget.checked_sub(1)?;
        let op = self.m.defining_op(v)?; // a function input's data: not a position function
        let data = self.m.op(op);
        let index = data.results.iter().position(|&r| r == v)?;
        let results = match data.name.as_str() {
            "onnx.Shape" | "onnx.Size" => {
                let x = self.bound_zeros(*data.operands.first()?)?;
                eval_op_n(&data.name, &data.attrs, &[Some(&x)], self.opset, Some(1)).ok()?
            }
            "onnx.Constant" => {
                let value = data.attrs.get("value")?;
                vec![Tensor::from_attr(value, self.m).ok()?]
            }
            _ => {
                let mut inputs = Vec::with_capacity(data.operands.len());
                for &x in &data.operands {
                    let absent = *self.m.value_type(x) == Type::None;
                    inputs.push(if absent { None } else { Some(self.eval(x)?) });
                }
                let refs: Vec<Option<&Tensor>> = inputs.iter().map(Option::as_ref).collect();
                let n = Some(data.results.len());
                eval_op_n(&data.name, &data.attrs, &refs, self.opset, n).ok()?
            }
        };
        let t = results.into_iter().nth(index)?;
        if t.len() > MAX_ELEMENTS {
            return None;
        }
        self.memo.insert(v, t.clone());
        Some(t)
    }

    /// A zero tensor with `v`'s type under this probe (only its shape matters to Shape/Size).
    /// Anonymous dynamic dims get a size of their own per probe: a result that depends on them
    /// differs between probes, so it is never taken for a constant or a causal pattern.
    fn bound_zeros(&self, v: Value) -> Option<Tensor> {
        let t = self.m.value_type(v).as_tensor()?;
        let anonymous = [29, 31, 37][self.probe % 3];
        let shape: Vec<usize> = t
            .dims
            .iter()
            .map(|d| match d {
                Dim::Dynamic => Some(anonymous),
                d => usize::try_from(self.probes.size(self.probe, d)?).ok(),
            })
            .collect::<Option<_>>()?;
        if shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))? > MAX_ELEMENTS {
            return None;
        }
        Tensor::zeros(t.elem, shape).ok()
    }
}
