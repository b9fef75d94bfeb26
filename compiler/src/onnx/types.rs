//! ONNX value types → IR tensor types, user shape bindings, and refinement of inferred types
//! with the shapes the model declares (graph outputs, `value_info`).

use std::collections::BTreeMap;

use sofa_ir::dialect::onnx::shape::{check_size, format_dims, ShapeError};
use sofa_ir::{Dim, TensorType, Type};

use super::proto::tensor_shape_proto::dimension;
use super::proto::type_proto;
use super::proto::ValueInfoProto;
use super::tensor::{dtype_name, elem_type};

/// A value type (`ValueInfoProto`) the importer cannot represent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ValueTypeError {
    #[error("only tensor-typed values are supported")]
    NotTensor,
    #[error("element type {} is not supported", dtype_name(*.0))]
    UnsupportedElem(i32),
    #[error("dim {0} is negative")]
    NegativeDim(i64),
    #[error(transparent)]
    Size(#[from] ShapeError),
}

/// An inferred type that contradicts the one the model declares.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "inferred type {}x{} but the model declares {}x{}",
    format_dims(&inferred.dims),
    inferred.elem,
    format_dims(&declared.dims),
    declared.elem
)]
pub struct TypeMismatch {
    pub inferred: TensorType,
    pub declared: TensorType,
}

/// `--shape name=value` bindings: named dims become static.
pub type Bindings = BTreeMap<String, u64>;

/// Apply bindings to one dim.
pub fn bind(d: Dim, bindings: &Bindings) -> Dim {
    match d {
        Dim::Named(n) => match bindings.get(&n) {
            Some(&v) => Dim::Static(v),
            None => Dim::Named(n),
        },
        other => other,
    }
}

/// The declared tensor type of a value: `Ok(None)` when the proto has no tensor shape.
pub fn declared_type(
    vi: &ValueInfoProto,
    bindings: &Bindings,
) -> Result<Option<TensorType>, ValueTypeError> {
    let Some(type_proto::Value::TensorType(t)) = vi.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return match vi.r#type.as_ref().and_then(|t| t.value.as_ref()) {
            None => Ok(None),
            Some(_) => Err(ValueTypeError::NotTensor),
        };
    };
    let code = t.elem_type();
    let elem = elem_type(code).ok_or(ValueTypeError::UnsupportedElem(code))?;
    let Some(shape) = &t.shape else {
        return Ok(None);
    };
    let dims = shape
        .dim
        .iter()
        .map(|d| match &d.value {
            Some(dimension::Value::DimValue(v)) => u64::try_from(*v)
                .map(Dim::Static)
                .map_err(|_| ValueTypeError::NegativeDim(*v)),
            Some(dimension::Value::DimParam(p)) if !p.is_empty() => {
                Ok(bind(Dim::Named(p.clone()), bindings))
            }
            _ => Ok(Dim::Dynamic),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ty = TensorType::new(dims, elem);
    check_size(&ty)?;
    Ok(Some(ty))
}

/// Refine an inferred type with a declared one: the more precise dim wins; static dims that
/// disagree, or different ranks or element types, are errors.
pub fn refine(inferred: &TensorType, declared: &TensorType) -> Result<TensorType, TypeMismatch> {
    let mismatch = || TypeMismatch {
        inferred: inferred.clone(),
        declared: declared.clone(),
    };
    if inferred.elem != declared.elem || inferred.rank() != declared.rank() {
        return Err(mismatch());
    }
    let dims = inferred
        .dims
        .iter()
        .zip(&declared.dims)
        .map(|(i, d)| match (i, d) {
            (Dim::Static(a), Dim::Static(b)) if a != b => Err(mismatch()),
            (Dim::Static(a), _) | (_, Dim::Static(a)) => Ok(Dim::Static(*a)),
            (Dim::Named(a), _) => Ok(Dim::Named(a.clone())),
            (Dim::Dynamic, d) => Ok(d.clone()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(TensorType::new(dims, inferred.elem))
}

/// Apply bindings to every named dim of a type.
pub fn bind_type(t: Type, bindings: &Bindings) -> Type {
    match t {
        Type::Tensor(tt) if !bindings.is_empty() => Type::Tensor(TensorType::new(
            tt.dims.into_iter().map(|d| bind(d, bindings)).collect(),
            tt.elem,
        )),
        other => other,
    }
}
