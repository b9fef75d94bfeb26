//! Structural equivalence of attributes and ops, and constant lookup — what CSE and
//! canonicalization need to decide that two things are "the same value".
//!
//! `Attribute`'s `PartialEq` is not enough: it says `0.0 == -0.0` and `NaN != NaN`, and it calls
//! an inline `dense<...>` different from a `dense_resource<...>` holding the same bytes. Here
//! floats compare by bits and tensor payloads by their resolved type and bytes.

use sofa_ir::attr::{AttrDict, Attribute, DenseAttr};
use sofa_ir::dialect::{DialectRegistry, Trait};
use sofa_ir::{Module, Op, Value};

/// The payload of a tensor attribute, with `dense_resource` resolved through the module's table.
pub fn resolve_dense(m: &Module, a: &Attribute) -> Option<DenseAttr> {
    match a {
        Attribute::Dense(d) => Some(d.clone()),
        Attribute::DenseResource { name, ty } => {
            let r = m.resources.get(name)?;
            DenseAttr::new(ty.clone(), r.bytes.clone())
        }
        _ => None,
    }
}

/// True when `a` and `b` denote the same constant (floats by bits, tensors by payload).
pub fn attrs_identical(m: &Module, a: &Attribute, b: &Attribute) -> bool {
    match (a, b) {
        (Attribute::Float { value: x, ty: tx }, Attribute::Float { value: y, ty: ty_ }) => {
            tx == ty_ && x.to_bits() == y.to_bits()
        }
        (Attribute::Array(xs), Attribute::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| attrs_identical(m, x, y))
        }
        (Attribute::Dict(x), Attribute::Dict(y)) => dicts_identical(m, x, y),
        (
            Attribute::Dense(_) | Attribute::DenseResource { .. },
            Attribute::Dense(_) | Attribute::DenseResource { .. },
        ) => match (resolve_dense(m, a), resolve_dense(m, b)) {
            (Some(x), Some(y)) => x.ty() == y.ty() && x.bytes() == y.bytes(),
            _ => a == b,
        },
        _ => a == b,
    }
}

/// Same keys, and identical values under [`attrs_identical`].
pub fn dicts_identical(m: &Module, a: &AttrDict, b: &AttrDict) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((ka, va), (kb, vb))| ka == kb && attrs_identical(m, va, vb))
}

/// True when `a` and `b` compute the same thing given equal operands: same name, attributes,
/// properties and result types. Operands are the caller's business (CSE keys on them).
pub fn ops_equivalent(m: &Module, a: Op, b: Op) -> bool {
    let (da, db) = (m.op(a), m.op(b));
    da.name == db.name
        && da.results.len() == db.results.len()
        && da
            .results
            .iter()
            .zip(&db.results)
            .all(|(&x, &y)| m.value_type(x) == m.value_type(y))
        && dicts_identical(m, &da.attrs, &db.attrs)
        && dicts_identical(m, &da.props, &db.props)
}

/// The constant `v` holds when a `ConstantLike` op defines it: that op's `value` attribute (or
/// property), with `dense_resource` payloads resolved to inline `dense` tensors.
pub fn constant_value(m: &Module, dialects: &DialectRegistry, v: Value) -> Option<Attribute> {
    let op = m.defining_op(v)?;
    let data = m.op(op);
    if !dialects.has_trait(&data.name, Trait::ConstantLike) {
        return None;
    }
    let value = data
        .attrs
        .get("value")
        .or_else(|| data.props.get("value"))?;
    match value {
        Attribute::DenseResource { .. } => resolve_dense(m, value).map(Attribute::Dense),
        other => Some(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sofa_ir::attr::Resource;
    use sofa_ir::types::{ElemType, TensorType};

    #[test]
    fn floats_compare_by_bits() {
        let m = Module::new();
        let zero = Attribute::f32(0.0);
        let neg_zero = Attribute::f32(-0.0);
        assert_eq!(zero, neg_zero, "PartialEq conflates the zeros");
        assert!(!attrs_identical(&m, &zero, &neg_zero));
        let nan = Attribute::f32(f32::NAN);
        assert!(attrs_identical(&m, &nan, &nan.clone()));
    }

    #[test]
    fn resources_compare_by_payload() {
        let mut m = Module::new();
        let d = DenseAttr::from_f32(&[2], &[1.0, 2.0]).unwrap();
        m.resources.insert(
            "blob".into(),
            Resource {
                alignment: 4,
                bytes: d.payload().clone(),
                origin: None,
            },
        );
        let res = Attribute::DenseResource {
            name: "blob".into(),
            ty: TensorType::static_shape(&[2], ElemType::F32),
        };
        assert!(attrs_identical(&m, &Attribute::Dense(d.clone()), &res));
        let other = DenseAttr::from_f32(&[2], &[1.0, 3.0]).unwrap();
        assert!(!attrs_identical(&m, &Attribute::Dense(other), &res));
        let missing = Attribute::DenseResource {
            name: "nope".into(),
            ty: TensorType::static_shape(&[2], ElemType::F32),
        };
        assert!(!attrs_identical(&m, &Attribute::Dense(d), &missing));
    }
}
