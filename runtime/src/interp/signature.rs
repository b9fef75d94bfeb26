//! Binding user inputs to `@main`'s arguments by ONNX name, with dtype and shape checks.
//!
//! Names come from the func's `arg_attrs`/`res_attrs` (`{onnx.name = "..."}`), falling back to
//! `arg<i>` / `out<i>`. Static dims must match exactly; a named dim (`batch`) takes the size of
//! its first occurrence and every other input using that name must agree.

use std::collections::BTreeMap;

use sofa_ir::dialect::onnx::shape::format_dims;
use sofa_ir::eval::Tensor;
use sofa_ir::{Attribute, Dim, Module, Op, Type, Value};

use super::InterpError;

/// The ONNX names recorded in `props[key]`, one per index, or `<prefix><i>`.
pub fn names(m: &Module, func: Op, key: &str, prefix: &str, count: usize) -> Vec<String> {
    let recorded = m.ops[func].props.get(key).and_then(Attribute::as_array);
    (0..count)
        .map(|i| {
            recorded
                .and_then(|a| a.get(i))
                .and_then(|d| match d {
                    Attribute::Dict(d) => d.get("onnx.name").and_then(Attribute::as_str),
                    _ => None,
                })
                .map_or_else(|| format!("{prefix}{i}"), str::to_string)
        })
        .collect()
}

/// Look up each argument's tensor in `inputs` and check it against the argument's type.
pub fn bind_inputs<'a>(
    m: &Module,
    args: &[Value],
    names: &[String],
    inputs: &'a BTreeMap<String, Tensor>,
) -> Result<Vec<&'a Tensor>, InterpError> {
    if let Some(extra) = inputs.keys().find(|k| !names.contains(k)) {
        return Err(InterpError::UnknownInput {
            name: extra.clone(),
            expected: names.join(", "),
        });
    }
    let mut bound_dims: BTreeMap<String, (usize, String)> = BTreeMap::new();
    let mut out = Vec::with_capacity(args.len());
    for (&arg, name) in args.iter().zip(names) {
        let t = inputs
            .get(name)
            .ok_or_else(|| InterpError::MissingInput(name.clone()))?;
        check_input(m.value_type(arg), name, t, &mut bound_dims)?;
        out.push(t);
    }
    Ok(out)
}

fn check_input(
    ty: &Type,
    name: &str,
    t: &Tensor,
    bound_dims: &mut BTreeMap<String, (usize, String)>,
) -> Result<(), InterpError> {
    let Type::Tensor(tt) = ty else {
        return Err(InterpError::Malformed {
            op: "func.func".into(),
            loc: name.into(),
            msg: format!("argument '{name}' is not a tensor"),
        });
    };
    if tt.elem != t.elem() {
        return Err(InterpError::InputType {
            name: name.into(),
            expected: tt.elem,
            got: t.elem(),
        });
    }
    let shape_error = || InterpError::InputShape {
        name: name.into(),
        expected: format_dims(&tt.dims),
        got: t.shape().to_vec(),
    };
    if tt.rank() != t.rank() {
        return Err(shape_error());
    }
    for (d, &n) in tt.dims.iter().zip(t.shape()) {
        match d {
            Dim::Static(s) if *s != n as u64 => return Err(shape_error()),
            Dim::Named(dim) => match bound_dims.get(dim) {
                Some((size, first)) if *size != n => {
                    return Err(InterpError::NamedDim {
                        name: name.into(),
                        dim: dim.clone(),
                        got: n,
                        first: first.clone(),
                        bound: *size,
                    })
                }
                Some(_) => {}
                None => {
                    bound_dims.insert(dim.clone(), (n, name.into()));
                }
            },
            _ => {}
        }
    }
    Ok(())
}
