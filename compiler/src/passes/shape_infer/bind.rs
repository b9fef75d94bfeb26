//! Binding named dims to sizes: the `bind` option's syntax and the substitution over a module.

use sofa_ir::{Attribute, Dim, Module, Op, Type, Value};

use super::Bindings;

/// A malformed `bind` list; `item` is the offending `name:size` entry as written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    #[error("binding '{item}' is not of the form name:size")]
    NotPair { item: String },
    #[error("binding '{item}' has an empty dim name")]
    EmptyName { item: String },
    #[error("binding '{item}': size '{size}' is not a non-negative integer")]
    BadSize { item: String, size: String },
    #[error("dim '{name}' is bound twice")]
    Twice { name: String },
}

/// Parse `batch:1,seq:128` (or `batch=1,seq=128`); the empty string is no binding. Names are
/// dim names as they appear in types; a name given twice, an empty name or a size that is not
/// a non-negative integer is an error.
pub fn parse_bindings(text: &str) -> Result<Bindings, BindingError> {
    let mut out = Bindings::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, size) = item
            .split_once([':', '='])
            .ok_or_else(|| BindingError::NotPair { item: item.into() })?;
        let (name, size) = (name.trim(), size.trim());
        if name.is_empty() {
            return Err(BindingError::EmptyName { item: item.into() });
        }
        let size: u64 = size.parse().map_err(|_| BindingError::BadSize {
            item: item.into(),
            size: size.into(),
        })?;
        if out.insert(name.to_string(), size).is_some() {
            return Err(BindingError::Twice { name: name.into() });
        }
    }
    Ok(out)
}

/// Replace every named dim listed in `bindings` by its static size: in the type of every value
/// of an attached op (results, and arguments of the blocks in its regions) and in every type
/// held by an op attribute or property (`func.func`'s `function_type`). Returns the number of
/// dims replaced in value types.
pub fn bind_dims(m: &mut Module, bindings: &Bindings) -> u64 {
    if bindings.is_empty() {
        return 0;
    }
    let mut replaced = 0;
    for op in m.all_ops() {
        for v in values_defined_by(m, op) {
            replaced += bind_type(&mut m.values[v].ty, bindings);
        }
        let data = m.op_mut(op);
        for attr in data.props.values_mut().chain(data.attrs.values_mut()) {
            bind_attr(attr, bindings);
        }
    }
    replaced
}

/// The results of `op` and the arguments of the blocks directly in its regions.
fn values_defined_by(m: &Module, op: Op) -> Vec<Value> {
    let data = m.op(op);
    let args = data
        .regions
        .iter()
        .flat_map(|&r| &m.regions[r].blocks)
        .flat_map(|&b| m.blocks[b].args.iter().copied());
    data.results.iter().copied().chain(args).collect()
}

/// Bind the dims of one type in place; returns the number replaced.
fn bind_type(ty: &mut Type, bindings: &Bindings) -> u64 {
    match ty {
        Type::Tensor(t) => {
            let mut n = 0;
            for d in &mut t.dims {
                if let Dim::Named(name) = d {
                    if let Some(&size) = bindings.get(name.as_str()) {
                        *d = Dim::Static(size);
                        n += 1;
                    }
                }
            }
            n
        }
        Type::Function(f) => f
            .inputs
            .iter_mut()
            .chain(f.results.iter_mut())
            .map(|t| bind_type(t, bindings))
            .sum(),
        Type::Scalar(_) | Type::Index | Type::None => 0,
    }
}

/// Bind the types nested in an attribute (type attributes, arrays and dictionaries of them).
/// Dense payloads always have static types, so they are left alone.
fn bind_attr(attr: &mut Attribute, bindings: &Bindings) {
    match attr {
        Attribute::Type(t) => {
            bind_type(t, bindings);
        }
        Attribute::Array(xs) => xs.iter_mut().for_each(|x| bind_attr(x, bindings)),
        Attribute::Dict(d) => d.values_mut().for_each(|x| bind_attr(x, bindings)),
        _ => {}
    }
}
