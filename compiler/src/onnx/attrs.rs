//! `AttributeProto` → IR attributes, keeping ONNX names and kinds (see the IR contract):
//! INT → `i64`, FLOAT → `f32`, STRING → string, INTS / FLOATS / STRINGS → arrays, TENSOR →
//! dense (or dense resource). Sub-graphs, sparse tensors and type protos are refused.
//! Also normalises `Constant`'s many value attributes into one `value` tensor.

use sofa_ir::{AttrDict, Attribute, DenseAttr, ElemType, TensorType};

use super::proto::attribute_proto::AttributeType;
use super::proto::{AttributeProto, TensorProto};

/// Turns a tensor proto into a tensor attribute (inline or resource); given by the importer,
/// which owns the module's resource table. The string is a name hint for the resource key.
pub type TensorConv<'a> = dyn FnMut(&TensorProto, &str) -> Result<Attribute, String> + 'a;

fn utf8(bytes: &[u8], what: &str) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| format!("{what} is not valid UTF-8"))
}

/// Convert one attribute. `hint` names tensor payloads (e.g. the node's first output).
pub fn convert(
    a: &AttributeProto,
    hint: &str,
    tensor: &mut TensorConv,
) -> Result<Attribute, String> {
    let name = a.name();
    if a.ref_attr_name.as_deref().is_some_and(|r| !r.is_empty()) {
        return Err(format!(
            "attribute '{name}' refers to a function attribute; only top-level graphs are supported"
        ));
    }
    let kind = AttributeType::try_from(a.r#type.unwrap_or(0)).unwrap_or(AttributeType::Undefined);
    Ok(match kind {
        AttributeType::Float => Attribute::f32(a.f()),
        AttributeType::Int => Attribute::i64(a.i()),
        AttributeType::String => {
            Attribute::String(utf8(a.s(), &format!("string attribute '{name}'"))?)
        }
        AttributeType::Floats => {
            Attribute::Array(a.floats.iter().map(|&f| Attribute::f32(f)).collect())
        }
        AttributeType::Ints => Attribute::i64_array(&a.ints),
        AttributeType::Strings => Attribute::Array(
            a.strings
                .iter()
                .map(|s| utf8(s, &format!("string attribute '{name}'")).map(Attribute::String))
                .collect::<Result<_, _>>()?,
        ),
        AttributeType::Tensor => {
            let t =
                a.t.as_ref()
                    .ok_or_else(|| format!("tensor attribute '{name}' has no tensor"))?;
            tensor(t, hint).map_err(|e| format!("tensor attribute '{name}': {e}"))?
        }
        AttributeType::Graph | AttributeType::Graphs => {
            return Err(format!(
                "attribute '{name}' is a sub-graph; control flow and sub-graphs are not supported"
            ));
        }
        AttributeType::Undefined => {
            return Err(format!("attribute '{name}' has no (or an unknown) type"));
        }
        other => {
            return Err(format!(
                "attribute '{name}' of kind {} is not supported",
                other.as_str_name()
            ));
        }
    })
}

/// The `Constant` node's value as one tensor attribute, whatever field ONNX stored it in.
pub fn constant_value(attrs: &AttrDict) -> Result<Attribute, String> {
    if attrs.len() != 1 {
        let names: Vec<&str> = attrs.keys().map(String::as_str).collect();
        return Err(format!(
            "Constant needs exactly one value attribute, has {names:?}"
        ));
    }
    let (name, a) = attrs.iter().next().ok_or("Constant has no value")?;
    let dense = |shape: &[u64], elem: ElemType, bytes: Vec<u8>| {
        DenseAttr::new(TensorType::static_shape(shape, elem), bytes)
            .map(Attribute::Dense)
            .ok_or_else(|| "constant payload does not match its shape".to_string())
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
        ("value_string" | "value_strings", _) => {
            Err("string constants are not supported (no string element type)".into())
        }
        (other, _) => Err(format!("Constant attribute '{other}' is not supported")),
    }
}
