//! `AttributeProto` → IR attributes, keeping ONNX names and kinds (see the IR contract):
//! INT → `i64`, FLOAT → `f32`, STRING → string, INTS / FLOATS / STRINGS → arrays, TENSOR →
//! dense (or dense resource). Sub-graphs, sparse tensors and type protos are refused.
//! Also normalises `Constant`'s many value attributes into one `value` tensor.

use sofa_ir::{AttrDict, Attribute, DenseAttr, ElemType, TensorType};

use super::proto::attribute_proto::AttributeType;
use super::proto::{AttributeProto, TensorProto};
use super::tensor::TensorError;

/// An attribute the importer cannot represent; each variant names the attribute.
#[derive(Debug, thiserror::Error)]
pub enum AttrError {
    #[error("attribute '{0}' refers to a function attribute; only top-level graphs are supported")]
    FunctionRef(String),
    #[error("string attribute '{0}' is not valid UTF-8")]
    NotUtf8(String),
    #[error("tensor attribute '{0}' has no tensor")]
    NoTensor(String),
    #[error("tensor attribute '{name}': {source}")]
    Tensor {
        name: String,
        #[source]
        source: TensorError,
    },
    #[error("attribute '{0}' is a sub-graph; control flow and sub-graphs are not supported")]
    SubGraph(String),
    #[error("attribute '{0}' has no (or an unknown) type")]
    Untyped(String),
    #[error("attribute '{name}' of kind {kind} is not supported")]
    UnsupportedKind { name: String, kind: &'static str },
    /// `Constant` nodes carry exactly one of the `value*` attributes.
    #[error("Constant needs exactly one value attribute, has {0:?}")]
    ConstantArity(Vec<String>),
    #[error("constant payload does not match its shape")]
    ConstantPayload,
    #[error("string constants are not supported (no string element type)")]
    StringConstant,
    #[error("Constant attribute '{0}' is not supported")]
    ConstantAttr(String),
}

/// Turns a tensor proto into a tensor attribute (inline or resource); given by the importer,
/// which owns the module's resource table. The string is a name hint for the resource key.
pub type TensorConv<'a> = dyn FnMut(&TensorProto, &str) -> Result<Attribute, TensorError> + 'a;

fn utf8(bytes: &[u8], name: &str) -> Result<String, AttrError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| AttrError::NotUtf8(name.to_string()))
}

/// Convert one attribute. `hint` names tensor payloads (e.g. the node's first output).
pub fn convert(
    a: &AttributeProto,
    hint: &str,
    tensor: &mut TensorConv,
) -> Result<Attribute, AttrError> {
    let name = a.name();
    if a.ref_attr_name.as_deref().is_some_and(|r| !r.is_empty()) {
        return Err(AttrError::FunctionRef(name.to_string()));
    }
    let kind = AttributeType::try_from(a.r#type.unwrap_or(0)).unwrap_or(AttributeType::Undefined);
    Ok(match kind {
        AttributeType::Float => Attribute::f32(a.f()),
        AttributeType::Int => Attribute::i64(a.i()),
        AttributeType::String => Attribute::String(utf8(a.s(), name)?),
        AttributeType::Floats => {
            Attribute::Array(a.floats.iter().map(|&f| Attribute::f32(f)).collect())
        }
        AttributeType::Ints => Attribute::i64_array(&a.ints),
        AttributeType::Strings => Attribute::Array(
            a.strings
                .iter()
                .map(|s| utf8(s, name).map(Attribute::String))
                .collect::<Result<_, _>>()?,
        ),
        AttributeType::Tensor => {
            let t =
                a.t.as_ref()
                    .ok_or_else(|| AttrError::NoTensor(name.to_string()))?;
            tensor(t, hint).map_err(|source| AttrError::Tensor {
                name: name.to_string(),
                source,
            })?
        }
        AttributeType::Graph | AttributeType::Graphs => {
            return Err(AttrError::SubGraph(name.to_string()));
        }
        AttributeType::Undefined => {
            return Err(AttrError::Untyped(name.to_string()));
        }
        other => {
            return Err(AttrError::UnsupportedKind {
                name: name.to_string(),
                kind: other.as_str_name(),
            });
        }
    })
}

/// The `Constant` node's value as one tensor attribute, whatever field ONNX stored it in.
pub fn constant_value(attrs: &AttrDict) -> Result<Attribute, AttrError> {
    let mut entries = attrs.iter();
    let (Some((name, a)), None) = (entries.next(), entries.next()) else {
        return Err(AttrError::ConstantArity(attrs.keys().cloned().collect()));
    };
    let dense = |shape: &[u64], elem: ElemType, bytes: Vec<u8>| {
        DenseAttr::new(TensorType::static_shape(shape, elem), bytes)
            .map(Attribute::Dense)
            .ok_or(AttrError::ConstantPayload)
    };
    match (name.as_str(), a) {
        ("value", a @ (Attribute::Dense(_) | Attribute::DenseResource { .. })) => Ok(a.clone()),
        ("value_float", Attribute::Float { value, .. }) => {
            dense(&[], ElemType::F32, (*value as f32).to_le_bytes().to_vec())
        }
        ("value_int", Attribute::Int { value, .. }) => {
            dense(&[], ElemType::I64, value.to_le_bytes().to_vec())
        }
        ("value_floats", Attribute::Array(xs)) => {
            let vals: Vec<f32> = xs
                .iter()
                .filter_map(Attribute::as_float)
                .map(|v| v as f32)
                .collect();
            dense(
                &[vals.len() as u64],
                ElemType::F32,
                vals.iter().flat_map(|v| v.to_le_bytes()).collect(),
            )
        }
        ("value_ints", Attribute::Array(xs)) => {
            let vals: Vec<i64> = xs.iter().filter_map(Attribute::as_int).collect();
            dense(
                &[vals.len() as u64],
                ElemType::I64,
                vals.iter().flat_map(|v| v.to_le_bytes()).collect(),
            )
        }
        ("value_string" | "value_strings", _) => Err(AttrError::StringConstant),
        (other, _) => Err(AttrError::ConstantAttr(other.to_string())),
    }
}
