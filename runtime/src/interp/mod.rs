//! Host reference interpreter: runs `func.func @main` of a graph-level module (`onnx.*`, and
//! `attn.*` after fusion) on host tensors, with the kernels of `sofa_ir::eval`.
//!
//! Execution is a straight walk over the entry block (graph-level functions have one block).
//! Inputs are borrowed from the caller, never copied; every intermediate is dropped right after
//! its last use (computed up front), so peak memory is the live set, not the whole graph.
//! Each result is checked against its declared IR type, so a wrong shape inference upstream
//! surfaces here, named by op and location, instead of as a wrong number downstream.
//!
//! A run can stop before chosen ops and hand back a [`Checkpoint`] (copies of the live values
//! there); [`resume`] continues from one on the same function with other attributes, so a
//! search that changes one attention layer at a time (`sofa calibrate`) recomputes only the
//! ops from that layer on.

mod compare;
mod signature;

use std::collections::BTreeMap;

use sofa_ir::eval::{eval_op_n, module_opset, EvalError, Tensor};
use sofa_ir::module::RETURN_OP;
use sofa_ir::{Attribute, ElemType, EntityRef, Location, Module, Op, Type, Value};

pub use compare::{compare, error_text, value_text, DiffKind, OutputDiff, Tolerance, Worst};

/// Why a run failed. Op-level errors carry the op name and its location (the ONNX node name).
#[derive(Debug, thiserror::Error)]
pub enum InterpError {
    #[error("the module has no `func.func @main`")]
    NoMain,
    #[error("input '{0}' is missing")]
    MissingInput(String),
    #[error("unknown input '{name}'; the function takes: {expected}")]
    UnknownInput { name: String, expected: String },
    #[error("input '{name}': expected element type {expected}, got {got}")]
    InputType {
        name: String,
        expected: ElemType,
        got: ElemType,
    },
    #[error("input '{name}': shape {got:?} does not match {expected}")]
    InputShape {
        name: String,
        expected: String,
        got: Vec<usize>,
    },
    #[error("input '{name}': dim '{dim}' is {got}, but input '{first}' has it as {bound}")]
    NamedDim {
        name: String,
        dim: String,
        got: usize,
        first: String,
        bound: usize,
    },
    #[error("{op} at {loc}: {}", source.kind)]
    Op {
        op: String,
        loc: String,
        #[source]
        source: Box<EvalError>,
    },
    #[error(
        "checkpoint taken in a function of {taken} ops cannot resume one of {ops} \
         (resume needs the same function, attributes aside)"
    )]
    CheckpointMismatch { ops: usize, taken: usize },
    #[error("{op} at {loc}: {msg}")]
    Malformed {
        op: String,
        loc: String,
        msg: String,
    },
}

/// A value during execution: a caller's input (borrowed) or an op result (owned).
enum Slot<'a> {
    Borrowed(&'a Tensor),
    Owned(Tensor),
}

impl Slot<'_> {
    fn get(&self) -> &Tensor {
        match self {
            Slot::Borrowed(t) => t,
            Slot::Owned(t) => t,
        }
    }

    fn into_owned(self) -> Tensor {
        match self {
            Slot::Borrowed(t) => t.clone(),
            Slot::Owned(t) => t,
        }
    }
}

/// Run `@main` on `inputs` (keyed by ONNX input name); returns outputs keyed by ONNX output name.
pub fn run_function(
    m: &Module,
    inputs: &BTreeMap<String, Tensor>,
) -> Result<BTreeMap<String, Tensor>, InterpError> {
    Ok(run_capturing(m, inputs, &[])?.0)
}

/// [`run_function`], also returning a [`Checkpoint`] before each op of `stops` (ops of
/// `@main`'s entry block), in execution order.
pub fn run_capturing(
    m: &Module,
    inputs: &BTreeMap<String, Tensor>,
    stops: &[Op],
) -> Result<Run, InterpError> {
    let (func, ops) = main_body(m)?;
    let args = &m.blocks[m.entry_block(func).ok_or(InterpError::NoMain)?].args;
    let arg_names = signature::names(m, func, "arg_attrs", "arg", args.len());
    let bound = signature::bind_inputs(m, args, &arg_names, inputs)?;
    let mut env = empty_env(m);
    for (&arg, t) in args.iter().zip(bound) {
        env[arg.index()] = Some(Slot::Borrowed(t));
    }
    execute(m, (func, ops), env, 0, stops)
}

/// Continue a run from `from`, taken on this module or on one with the same entry block (the
/// same ops and values; attributes may differ, which is the point: a pass that only rewrites
/// attributes, such as `sparsify`, leaves every checkpoint before the first changed op valid).
/// Returns the outputs and a [`Checkpoint`] before each op of `stops` that runs after `from`.
pub fn resume(m: &Module, from: &Checkpoint, stops: &[Op]) -> Result<Run, InterpError> {
    let (func, ops) = main_body(m)?;
    if ops.len() != from.ops || ops.get(from.pos) != Some(&from.at) {
        return Err(InterpError::CheckpointMismatch {
            ops: ops.len(),
            taken: from.ops,
        });
    }
    let mut env = empty_env(m);
    for (v, t) in &from.values {
        let slot = env
            .get_mut(v.index())
            .ok_or(InterpError::CheckpointMismatch {
                ops: ops.len(),
                taken: from.ops,
            })?;
        *slot = Some(Slot::Borrowed(t));
    }
    execute(m, (func, ops), env, from.pos, stops)
}

/// A run's outputs (keyed by ONNX output name) and the checkpoints it was asked for.
pub type Run = (BTreeMap<String, Tensor>, Vec<Checkpoint>);

/// The live values of a run of `@main` just before one op of its entry block: enough to
/// resume the run there ([`resume`]) without recomputing anything before it.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    /// Position of `at` in the entry block.
    pos: usize,
    at: Op,
    /// Length of the entry block it was taken in (checked on resume).
    ops: usize,
    values: Vec<(Value, Tensor)>,
}

impl Checkpoint {
    /// The op the run stopped before.
    pub fn at(&self) -> Op {
        self.at
    }

    /// Elements held by the checkpoint's tensors (what keeping it costs).
    pub fn elements(&self) -> usize {
        self.values.iter().map(|(_, t)| t.len()).sum()
    }
}

/// `@main` and the ops of its entry block.
fn main_body(m: &Module) -> Result<(Op, &[Op]), InterpError> {
    let func = find_main(m).ok_or(InterpError::NoMain)?;
    let entry = m.entry_block(func).ok_or(InterpError::NoMain)?;
    Ok((func, &m.blocks[entry].ops))
}

fn empty_env<'a>(m: &Module) -> Vec<Option<Slot<'a>>> {
    std::iter::repeat_with(|| None)
        .take(m.values.len())
        .collect()
}

/// The ops of the entry block from position `start` on, over `env` (the live values there).
fn execute(
    m: &Module,
    (func, ops): (Op, &[Op]),
    mut env: Vec<Option<Slot>>,
    start: usize,
    stops: &[Op],
) -> Result<Run, InterpError> {
    let last_use = last_uses(m, ops);
    let opset = module_opset(m);
    let mut checkpoints = Vec::new();
    for (i, &op) in ops.iter().enumerate().skip(start) {
        let data = &m.ops[op];
        if stops.contains(&op) {
            checkpoints.push(checkpoint(&env, (i, op), ops.len()));
        }
        if data.name == RETURN_OP {
            return Ok((collect_outputs(m, func, op, &mut env)?, checkpoints));
        }
        let results = exec_op(m, op, &env, opset)?;
        for (&v, t) in data.results.iter().zip(results) {
            env[v.index()] = t.map(Slot::Owned);
        }
        let dead = data.operands.iter().filter(|v| last_use.get(v) == Some(&i));
        let unused = data.results.iter().filter(|v| !last_use.contains_key(v));
        for v in dead.chain(unused) {
            env[v.index()] = None;
        }
    }
    Err(malformed(m, func, "function body has no func.return"))
}

/// Copies of the live values before op `at` (position `pos`).
fn checkpoint(env: &[Option<Slot>], (pos, at): (usize, Op), ops: usize) -> Checkpoint {
    let values = env
        .iter()
        .enumerate()
        .filter_map(|(i, s)| Some((Value::new(i), s.as_ref()?.get().clone())))
        .collect();
    Checkpoint {
        pos,
        at,
        ops,
        values,
    }
}

/// `func.func @main`.
fn find_main(m: &Module) -> Option<Op> {
    let funcs = m.funcs();
    let named =
        |&&f: &&Op| m.ops[f].props.get("sym_name").and_then(Attribute::as_str) == Some("main");
    funcs.iter().find(named).copied()
}

/// For each value used in `ops`, the position of its last use.
fn last_uses(m: &Module, ops: &[Op]) -> BTreeMap<Value, usize> {
    let mut last = BTreeMap::new();
    for (i, &op) in ops.iter().enumerate() {
        for &v in &m.ops[op].operands {
            last.insert(v, i);
        }
    }
    last
}

/// Execute one op; `None` results are absent values (`onnx.NoValue`).
fn exec_op(
    m: &Module,
    op: Op,
    env: &[Option<Slot>],
    opset: i64,
) -> Result<Vec<Option<Tensor>>, InterpError> {
    let data = &m.ops[op];
    if !data.regions.is_empty() {
        return Err(malformed(
            m,
            op,
            "ops with regions are not executable by the reference interpreter",
        ));
    }
    match data.name.as_str() {
        "onnx.NoValue" => return Ok(vec![None]),
        "onnx.Constant" => {
            if let Some(value) = data.attrs.get("value") {
                let t = Tensor::from_attr(value, m)
                    .map_err(|k| op_error(m, op, k.in_op(&data.name)))?;
                return Ok(vec![Some(check_result(m, op, 0, t)?)]);
            }
        }
        name if name.starts_with("onnx.") || name.starts_with("attn.") => {}
        _ => {
            return Err(malformed(
                m,
                op,
                "op is not executable by the reference interpreter",
            ))
        }
    }
    let inputs = data
        .operands
        .iter()
        .map(|&v| operand(m, op, v, env))
        .collect::<Result<Vec<Option<&Tensor>>, InterpError>>()?;
    let outs = eval_op_n(
        &data.name,
        &data.attrs,
        &inputs,
        opset,
        Some(data.results.len()),
    )
    .map_err(|e| op_error(m, op, e))?;
    outs.into_iter()
        .enumerate()
        .map(|(i, t)| check_result(m, op, i, t).map(Some))
        .collect()
}

/// The tensor of operand `v`; `None` for an absent optional operand (type `none`).
fn operand<'e>(
    m: &Module,
    op: Op,
    v: Value,
    env: &'e [Option<Slot>],
) -> Result<Option<&'e Tensor>, InterpError> {
    if *m.value_type(v) == Type::None {
        return Ok(None);
    }
    match env.get(v.index()).and_then(Option::as_ref) {
        Some(slot) => Ok(Some(slot.get())),
        None => Err(malformed(
            m,
            op,
            &format!("operand {v} has no value here (defined later, in another block, or absent)"),
        )),
    }
}

/// A result must agree with its declared type: element type, rank and static dims.
fn check_result(m: &Module, op: Op, index: usize, t: Tensor) -> Result<Tensor, InterpError> {
    let Some(&v) = m.ops[op].results.get(index) else {
        return Err(malformed(
            m,
            op,
            &format!("kernel produced result #{index}, the op has fewer"),
        ));
    };
    if !t.matches_type(m.value_type(v)) {
        return Err(malformed(
            m,
            op,
            &format!(
                "result #{index} is {} {:?}, but its declared type is {:?}",
                t.elem(),
                t.shape(),
                m.value_type(v)
            ),
        ));
    }
    Ok(t)
}

fn collect_outputs(
    m: &Module,
    func: Op,
    ret: Op,
    env: &mut [Option<Slot>],
) -> Result<BTreeMap<String, Tensor>, InterpError> {
    let operands = &m.ops[ret].operands;
    let names = signature::names(m, func, "res_attrs", "out", operands.len());
    let mut out = BTreeMap::new();
    for (j, (&v, name)) in operands.iter().zip(names).enumerate() {
        let returned_again = operands[j + 1..].contains(&v);
        let slot = env
            .get_mut(v.index())
            .ok_or_else(|| malformed(m, ret, "value out of range"))?;
        let t = match slot {
            Some(s) if returned_again => s.get().clone(),
            Some(_) => slot
                .take()
                .map(Slot::into_owned)
                .ok_or_else(|| malformed(m, ret, "value vanished"))?,
            None => {
                return Err(malformed(
                    m,
                    ret,
                    &format!("returned value {v} has no value"),
                ))
            }
        };
        if out.insert(name.clone(), t).is_some() {
            return Err(malformed(
                m,
                func,
                &format!("two outputs are named '{name}'"),
            ));
        }
    }
    Ok(out)
}

fn op_error(m: &Module, op: Op, source: EvalError) -> InterpError {
    InterpError::Op {
        op: m.ops[op].name.clone(),
        loc: loc_text(&m.ops[op].loc),
        source: Box::new(source),
    }
}

fn malformed(m: &Module, op: Op, msg: &str) -> InterpError {
    InterpError::Malformed {
        op: m.ops[op].name.clone(),
        loc: loc_text(&m.ops[op].loc),
        msg: msg.to_string(),
    }
}

/// `"node name"`, `file:line:col`, or a comma list for fused locations.
pub fn loc_text(loc: &Location) -> String {
    match loc {
        Location::Unknown => "unknown location".into(),
        Location::Name(n) => format!("\"{n}\""),
        Location::FileLineCol { file, line, col } => format!("{file}:{line}:{col}"),
        Location::Fused(locs) => locs.iter().map(loc_text).collect::<Vec<_>>().join(", "),
    }
}

#[cfg(test)]
mod tests;
