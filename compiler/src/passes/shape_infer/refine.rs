//! Type refinement: re-run every op's inference hook with the constants known at that point and
//! merge the result into the current types; then bring function signatures in line.

use std::fmt;

use sofa_ir::dialect::{DialectRegistry, OpDef, Trait};
use sofa_ir::module::RETURN_OP;
use sofa_ir::pass::PassError;
use sofa_ir::text::{print_location, print_type};
use sofa_ir::{Attribute, Dim, FunctionType, Module, Op, SecondaryMap, TensorType, Type, Value};

use crate::passes::equiv::constant_value;

/// Refine the result type of every registered op with an inference hook, in pre-order. Returns
/// the number of values whose type changed. Errors name the op (pre-order index and location).
pub fn refine_types(m: &mut Module, dialects: &DialectRegistry) -> Result<u64, PassError> {
    let mut consts: SecondaryMap<Value, Option<Attribute>> = SecondaryMap::with_default(None);
    let mut refined = 0;
    for (index, op) in m.all_ops().into_iter().enumerate() {
        let Some(def) = dialects.lookup(&m.op(op).name) else {
            continue;
        };
        let site = OpSite { op, index };
        if def.has_trait(Trait::ConstantLike) {
            for &r in &m.op(op).results {
                consts[r] = constant_value(m, dialects, r);
            }
        }
        let operands: Vec<Option<Attribute>> = m
            .op(op)
            .operands
            .iter()
            .map(|&v| consts[v].clone())
            .collect();
        if let Some(infer) = def.infer {
            let types = infer(m, op, &operands)
                .map_err(|e| site.error(m, format!("type inference failed: {e}")))?;
            refined += refine_results(m, site, &types, "inferred")?;
        }
        refined += fold_in_memory(m, site, def, &operands, &mut consts)?;
    }
    Ok(refined)
}

/// Call `def`'s fold hook (not for constants themselves); record the folded values as constants
/// for later ops and refine the results with their (static) types. Returns the values refined.
fn fold_in_memory(
    m: &mut Module,
    site: OpSite,
    def: &OpDef,
    operands: &[Option<Attribute>],
    consts: &mut SecondaryMap<Value, Option<Attribute>>,
) -> Result<u64, PassError> {
    let Some(fold) = def.fold.filter(|_| !def.has_trait(Trait::ConstantLike)) else {
        return Ok(0);
    };
    let Some(values) = fold(m, site.op, operands) else {
        return Ok(0);
    };
    let results = m.op(site.op).results.clone();
    if values.len() != results.len() {
        return Ok(0);
    }
    let Some(types) = values
        .iter()
        .map(|a| match a {
            Attribute::Dense(d) => Some(Type::Tensor(d.ty().clone())),
            _ => None,
        })
        .collect::<Option<Vec<Type>>>()
    else {
        return Ok(0);
    };
    let refined = refine_results(m, site, &types, "folded")?;
    for (r, value) in results.into_iter().zip(values) {
        consts[r] = Some(value);
    }
    Ok(refined)
}

/// Merge `types` into the op's result types; returns how many changed.
fn refine_results(
    m: &mut Module,
    site: OpSite,
    types: &[Type],
    how: &str,
) -> Result<u64, PassError> {
    let results = m.op(site.op).results.clone();
    if types.len() != results.len() {
        return Err(site.error(
            m,
            format!(
                "type inference produced {} type(s) for {} result(s)",
                types.len(),
                results.len()
            ),
        ));
    }
    let mut changed = 0;
    for (i, (&r, new)) in results.iter().zip(types).enumerate() {
        let current = m.value_type(r);
        let merged = merge_types(current, new)
            .map_err(|e| site.error(m, format!("result #{i}: {how} {e}")))?;
        if merged != *current {
            m.values[r].ty = merged;
            changed += 1;
        }
    }
    Ok(changed)
}

/// A new type that contradicts a value's current one: "type X contradicts the declared Y: ...".
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("type {} contradicts the declared {}{part}", print_type(.new), print_type(.current))]
pub struct TypeConflict {
    pub current: Type,
    pub new: Type,
    pub part: ConflictPart,
}

/// Which part of two types disagrees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConflictPart {
    /// Not both tensors.
    Kind,
    Elem,
    Rank,
    /// Dim `#k`: two different static sizes.
    Dim(usize),
}

impl fmt::Display for ConflictPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConflictPart::Kind => Ok(()),
            ConflictPart::Elem => f.write_str(": element types differ"),
            ConflictPart::Rank => f.write_str(": ranks differ"),
            ConflictPart::Dim(k) => write!(f, ": dim #{k}"),
        }
    }
}

/// The more precise of two types of the same value, dim by dim: a static dim beats a named one,
/// a named one beats `?`; of two different names the current one is kept. Different static
/// dims, ranks or element types are a [`TypeConflict`].
pub fn merge_types(current: &Type, new: &Type) -> Result<Type, TypeConflict> {
    if current == new {
        return Ok(current.clone());
    }
    let conflict = |part| TypeConflict {
        current: current.clone(),
        new: new.clone(),
        part,
    };
    let (Type::Tensor(a), Type::Tensor(b)) = (current, new) else {
        return Err(conflict(ConflictPart::Kind));
    };
    if a.elem != b.elem {
        return Err(conflict(ConflictPart::Elem));
    }
    if a.rank() != b.rank() {
        return Err(conflict(ConflictPart::Rank));
    }
    let dims = a
        .dims
        .iter()
        .zip(&b.dims)
        .enumerate()
        .map(|(k, (x, y))| merge_dim(x, y).ok_or_else(|| conflict(ConflictPart::Dim(k))))
        .collect::<Result<Vec<Dim>, _>>()?;
    Ok(Type::Tensor(TensorType::new(dims, a.elem)))
}

fn merge_dim(current: &Dim, new: &Dim) -> Option<Dim> {
    Some(match (current, new) {
        (Dim::Static(x), Dim::Static(y)) if x != y => return None,
        (Dim::Static(x), _) | (_, Dim::Static(x)) => Dim::Static(*x),
        (Dim::Named(x), _) | (Dim::Dynamic, Dim::Named(x)) => Dim::Named(x.clone()),
        (Dim::Dynamic, Dim::Dynamic) => Dim::Dynamic,
    })
}

/// Set each `func.func`'s `function_type` from its entry block's argument types and the operand
/// types of its `func.return`s. Returns the number of signatures changed.
pub fn update_signatures(m: &mut Module) -> Result<u64, PassError> {
    let mut changed = 0;
    for func in m.funcs() {
        let Some(Attribute::Type(Type::Function(old))) = m.op(func).props.get("function_type")
        else {
            continue; // the verifier reports it
        };
        let Some(entry) = m.entry_block(func) else {
            continue;
        };
        let inputs: Vec<Type> = m.blocks[entry]
            .args
            .iter()
            .map(|&a| m.value_type(a).clone())
            .collect();
        let results = match return_types(m, func)? {
            Some(types) => types,
            None => old.results.clone(),
        };
        let new = FunctionType { inputs, results };
        if *old != new {
            let ty = Attribute::Type(Type::Function(new));
            m.op_mut(func).props.insert("function_type".into(), ty);
            changed += 1;
        }
    }
    Ok(changed)
}

/// The operand types of the `func.return`s directly in `func`'s blocks (`None` if there is
/// none); returns that disagree are an error.
fn return_types(m: &Module, func: Op) -> Result<Option<Vec<Type>>, PassError> {
    let mut found: Option<Vec<Type>> = None;
    for &region in &m.op(func).regions {
        for &block in &m.regions[region].blocks {
            for &op in &m.blocks[block].ops {
                if m.op(op).name != RETURN_OP {
                    continue;
                }
                let types: Vec<Type> = m
                    .op(op)
                    .operands
                    .iter()
                    .map(|&v| m.value_type(v).clone())
                    .collect();
                match &found {
                    Some(prev) if *prev != types => {
                        return Err(PassError::new(format!(
                            "'func.return' at {}: returns types that differ from another return of the function",
                            print_location(&m.op(op).loc)
                        )));
                    }
                    _ => found = Some(types),
                }
            }
        }
    }
    Ok(found)
}

/// An op and its pre-order index (its position in the printed text, as the verifier counts).
#[derive(Copy, Clone)]
struct OpSite {
    op: Op,
    index: usize,
}

impl OpSite {
    fn error(self, m: &Module, message: String) -> PassError {
        let data = m.op(self.op);
        PassError::new(format!(
            "'{}' op #{} at {}: {message}",
            data.name,
            self.index,
            print_location(&data.loc)
        ))
    }
}
