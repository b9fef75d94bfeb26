//! The structural ops every module has: `builtin.module`, `func.func`, `func.return`.
//! Their spelling matches MLIR's so that real MLIR (with the func dialect loaded) verifies them.

use super::{Arity, AttrDef, AttrKind, Dialect, OpDef, Trait};
use crate::attr::Attribute;
use crate::module::{Module, Op};
use crate::types::Type;

pub static DIALECTS: &[&Dialect] = &[&BUILTIN, &FUNC];

pub static BUILTIN: Dialect = Dialect {
    name: "builtin",
    summary: "The top-level container.",
    ops: &[OpDef {
        name: "builtin.module",
        summary: "The top-level container of functions.",
        operands: Arity::Exact(0),
        results: Arity::Exact(0),
        regions: 1,
        // Recorded by the ONNX importer (see the ONNX IR contract).
        attrs: &[
            AttrDef::optional("onnx.ir_version", AttrKind::Int),
            AttrDef::optional("onnx.opset", AttrKind::Int),
            AttrDef::optional("onnx.producer", AttrKind::String),
        ],
        props: &[AttrDef::optional("sym_name", AttrKind::String)],
        traits: &[Trait::IsolatedFromAbove],
        verify: None,
        fold: None,
        infer: None,
    }],
};

pub static FUNC: Dialect = Dialect {
    name: "func",
    summary: "Functions and returns.",
    ops: &[
        OpDef {
            name: "func.func",
            summary: "A function: a symbol name, a signature and a body region.",
            operands: Arity::Exact(0),
            results: Arity::Exact(0),
            regions: 1,
            attrs: &[],
            props: &[
                AttrDef::required("function_type", AttrKind::Type),
                AttrDef::required("sym_name", AttrKind::String),
                AttrDef::optional("sym_visibility", AttrKind::String),
                AttrDef::optional("arg_attrs", AttrKind::Any),
                AttrDef::optional("res_attrs", AttrKind::Any),
            ],
            traits: &[Trait::IsolatedFromAbove],
            verify: Some(verify_func),
            fold: None,
            infer: None,
        },
        OpDef {
            name: "func.return",
            summary: "Return values from a function; the types must match its signature.",
            operands: Arity::AtLeast(0),
            results: Arity::Exact(0),
            regions: 0,
            attrs: &[],
            props: &[],
            traits: &[Trait::Terminator],
            verify: Some(verify_return),
            fold: None,
            infer: None,
        },
    ],
};

fn function_type(module: &Module, func: Op) -> Option<&crate::types::FunctionType> {
    match module.ops[func].props.get("function_type") {
        Some(Attribute::Type(Type::Function(f))) => Some(f),
        _ => None,
    }
}

/// The entry block's argument types must equal the signature's inputs.
fn verify_func(module: &Module, op: Op, errors: &mut Vec<String>) {
    let Some(fty) = function_type(module, op) else {
        errors.push("'function_type' must be a function type".into());
        return;
    };
    let Some(entry) = module.entry_block(op) else {
        errors.push("function has no entry block".into());
        return;
    };
    let arg_types: Vec<&Type> = module.blocks[entry]
        .args
        .iter()
        .map(|&a| module.value_type(a))
        .collect();
    if arg_types.len() != fty.inputs.len()
        || arg_types.iter().zip(&fty.inputs).any(|(a, b)| *a != b)
    {
        errors.push(format!(
            "entry block has {} argument(s) whose types differ from the {} input(s) of 'function_type'",
            arg_types.len(),
            fty.inputs.len()
        ));
    }
}

/// Operand types must equal the enclosing function's result types.
fn verify_return(module: &Module, op: Op, errors: &mut Vec<String>) {
    let Some(func) = module.parent_op(op) else {
        errors.push("'func.return' must be inside a 'func.func'".into());
        return;
    };
    if module.ops[func].name != "func.func" {
        errors.push(format!(
            "'func.return' must be inside a 'func.func', not '{}'",
            module.ops[func].name
        ));
        return;
    }
    let Some(fty) = function_type(module, func) else {
        return; // reported on the func
    };
    let operands = &module.ops[op].operands;
    if operands.len() != fty.results.len() {
        errors.push(format!(
            "returns {} value(s) but the function signature has {} result(s)",
            operands.len(),
            fty.results.len()
        ));
        return;
    }
    for (i, (&v, want)) in operands.iter().zip(&fty.results).enumerate() {
        if module.value_type(v) != want {
            errors.push(format!(
                "operand #{i} type differs from function result #{i} type"
            ));
        }
    }
}
