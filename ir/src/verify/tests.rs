//! Verifier tests: each invariant of the module doc, broken on purpose.

use super::*;
use crate::module::{OpSpec, RETURN_OP};
use crate::types::{ElemType, TensorType};

fn t2() -> Type {
    Type::Tensor(TensorType::static_shape(&[2], ElemType::F32))
}

fn reg() -> DialectRegistry {
    DialectRegistry::with_core_dialects()
}

fn messages(m: &Module) -> Vec<String> {
    match verify(m, &reg()) {
        Ok(()) => Vec::new(),
        Err(e) => {
            e.0.into_iter()
                .map(|e| format!("{}: {}", e.op_name, e.message))
                .collect()
        }
    }
}

fn identity_module() -> (Module, crate::module::Block) {
    let mut m = Module::new();
    let (_f, entry) = m.add_func("main", vec![t2()], vec![t2()]);
    let x = m.blocks[entry].args[0];
    m.build_at_end(entry, OpSpec::new(RETURN_OP).operands([x]));
    (m, entry)
}

#[test]
fn a_well_formed_module_verifies() {
    let (m, _) = identity_module();
    assert_eq!(messages(&m), Vec::<String>::new());
}

#[test]
fn collects_every_error_not_just_the_first() {
    let (mut m, entry) = identity_module();
    let ret = m.blocks[entry].ops[0];
    // An unregistered op before the return, and a return with the wrong arity.
    let bad = m.create_op(OpSpec::new("nope.op"));
    m.insert_before(ret, bad);
    m.ops[ret].operands.clear();
    let msgs = messages(&m);
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert!(msgs[0].contains("nope.op: unregistered operation"));
    assert!(msgs[1].contains("returns 0 value(s) but the function signature has 1"));
}

#[test]
fn use_before_definition_is_a_dominance_error() {
    let mut m = Module::new();
    let (_f, entry) = m.add_func("main", vec![], vec![]);
    let late = m.create_op(OpSpec::new("func.return"));
    let user = m.build_at_end(entry, OpSpec::new("func.return"));
    m.append_op(entry, late);
    // Make the first op use a value defined by a detached op.
    let orphan = m.create_op(OpSpec::new("builtin.module").results([t2()]).regions(1));
    let v = m.result(orphan, 0);
    m.ops[user].operands.push(v);
    let msgs = messages(&m);
    assert!(
        msgs.iter()
            .any(|s| s.contains("not visible here: its defining op is not in the module")),
        "{msgs:?}"
    );
    assert!(
        msgs.iter()
            .any(|s| s.contains("terminator must be the last op")),
        "{msgs:?}"
    );
}

#[test]
fn isolated_regions_do_not_see_outer_values() {
    let (mut m, entry) = identity_module();
    let x = m.blocks[entry].args[0];
    let (_g, gentry) = m.add_func("g", vec![], vec![t2()]);
    m.build_at_end(gentry, OpSpec::new(RETURN_OP).operands([x]));
    let msgs = messages(&m);
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert!(msgs[0].contains("does not dominate"));
}

#[test]
fn attribute_schema_is_enforced() {
    let (mut m, _) = identity_module();
    let f = m.funcs()[0];
    m.ops[f].props.remove("sym_name");
    m.ops[f].props.insert("bogus".into(), Attribute::i64(1));
    m.ops[f].attrs.insert("other".into(), Attribute::Bool(true));
    let msgs = messages(&m);
    assert!(
        msgs.iter().any(|s| s.contains("unknown property 'bogus'")),
        "{msgs:?}"
    );
    assert!(
        msgs.iter()
            .any(|s| s.contains("missing required property 'sym_name'")),
        "{msgs:?}"
    );
    assert!(
        msgs.iter().any(|s| s.contains("unknown attribute 'other'")),
        "{msgs:?}"
    );
}

#[test]
fn missing_resource_is_reported() {
    let (mut m, _) = identity_module();
    m.ops[m.top].props.insert(
        "sym_name".into(),
        Attribute::DenseResource {
            name: "w".into(),
            ty: TensorType::static_shape(&[2], ElemType::F32),
        },
    );
    let msgs = messages(&m);
    assert!(
        msgs.iter().any(|s| s.contains("missing resource 'w'")),
        "{msgs:?}"
    );
}

#[test]
fn broken_handles_stop_before_indexing() {
    let (mut m, entry) = identity_module();
    let ret = m.blocks[entry].ops[0];
    m.ops[ret].operands[0] = Value::new(9999);
    let err = verify(&m, &reg()).unwrap_err();
    assert_eq!(err.0.len(), 1);
    assert!(err.0[0].message.contains("out of range"));
    assert!(err
        .to_string()
        .starts_with("error: 'func.return' op #2 at loc(unknown)"));
}
