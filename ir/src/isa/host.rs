//! Host ops: the ops of a model the chip has no lowering for, carried by the program so that a
//! `HOST` instruction can run them on the host with the reference kernels of
//! [`crate::eval`] (the same kernels the reference interpreter uses).
//!
//! A [`HostOp`] is one entry of the program's host-op table: the IR op name (`onnx.Floor`), the
//! node it comes from, the ONNX opset its semantics follow, its attributes, and its operands and
//! results as whole DRAM tensors of the tensor table (each viewed with the op's own shape, which
//! must hold the tensor's element count: a reshape costs nothing). `HOST op=k` reads the operand
//! tensors from DRAM, evaluates entry `k`, and writes the result tensors back; it takes no chip
//! cycles. Attributes are kept in the IR's canonical attribute-dictionary syntax
//! ([`crate::text::print_attr`]), which the binary stores verbatim, so they round-trip exactly.

use crate::attr::{AttrDict, Attribute};
use crate::text::{parse_attribute, print_attr};

/// A tensor operand or result of a host op: tensor `tensor` of the program's table, read or
/// written as a dense row-major tensor of `shape` (the tensor's element count).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostArg {
    /// Index into `Program::tensors`.
    pub tensor: u32,
    pub shape: Vec<u64>,
}

/// One op evaluated on the host by a `HOST` instruction.
#[derive(Clone, Debug, PartialEq)]
pub struct HostOp {
    /// The IR op name, e.g. `onnx.Floor`; [`crate::eval::is_supported`] must accept it.
    pub op: String,
    /// Where it comes from (the ONNX node name); any UTF-8, for reports and errors.
    pub name: String,
    /// The ONNX opset whose semantics the evaluation follows.
    pub opset: u16,
    pub attrs: AttrDict,
    /// In order; `None` for an absent optional input.
    pub operands: Vec<Option<HostArg>>,
    pub results: Vec<HostArg>,
}

/// Attribute text that is not a canonical attribute dictionary.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HostAttrError {
    #[error("attributes: {0}")]
    Syntax(String),
    #[error("attributes must be a dictionary `{{...}}`, found {0}")]
    NotDict(String),
    /// The text parses but prints differently: only the printer's form has one encoding.
    #[error("attributes are not in canonical form (expected `{canonical}`)")]
    NotCanonical { canonical: String },
}

/// Number of elements of a shape (saturating; callers check sizes separately).
pub fn numel(shape: &[u64]) -> u64 {
    shape.iter().fold(1u64, |a, &d| a.saturating_mul(d))
}

impl HostOp {
    /// The attributes in canonical text form (`{}` when there are none).
    pub fn attrs_text(&self) -> String {
        print_attr(&Attribute::Dict(self.attrs.clone()))
    }

    /// Parse attribute text, accepting only the canonical form [`HostOp::attrs_text`] prints.
    pub fn parse_attrs(text: &str) -> Result<AttrDict, HostAttrError> {
        let attr = parse_attribute(text).map_err(|e| HostAttrError::Syntax(e.to_string()))?;
        let Attribute::Dict(dict) = attr else {
            return Err(HostAttrError::NotDict(attr.kind_name().to_string()));
        };
        let canonical = print_attr(&Attribute::Dict(dict.clone()));
        if canonical != text {
            return Err(HostAttrError::NotCanonical { canonical });
        }
        Ok(dict)
    }

    /// The op type without the dialect prefix (`Floor`).
    pub fn op_type(&self) -> &str {
        self.op.strip_prefix("onnx.").unwrap_or(&self.op)
    }

    /// Every tensor index the op reads.
    pub fn inputs(&self) -> impl Iterator<Item = &HostArg> {
        self.operands.iter().flatten()
    }

    /// Multiply-accumulates of one evaluation, from the shapes: the contractions of `MatMul`,
    /// `MatMulInteger`, `Gemm`, `Conv`, `ConvInteger` and attention (`Attention`, `attn.*`:
    /// q·kᵀ and p·v); 0 for every other op. Saturating.
    pub fn macs(&self) -> u64 {
        let shape = |i: usize| {
            self.operands
                .get(i)
                .and_then(Option::as_ref)
                .map(|a| a.shape.as_slice())
        };
        let out = self.results.first().map_or(0, |r| numel(&r.shape));
        let dim = |s: Option<&[u64]>, back: usize| {
            s.and_then(|s| s.len().checked_sub(back).map(|i| s[i]))
                .unwrap_or(0)
        };
        let contraction = match self.op_type() {
            "MatMul" | "MatMulInteger" => dim(shape(0), 1),
            "Gemm" => {
                let trans_a = self.attrs.get("transA").and_then(Attribute::as_int) == Some(1);
                dim(shape(0), if trans_a { 2 } else { 1 })
            }
            "Conv" | "ConvInteger" => shape(1).map_or(0, |w| numel(w.get(1..).unwrap_or(&[]))),
            "Attention" | "attn.mha" | "attn.sparse_mha" => {
                let keys = dim(shape(1), 2);
                let q = shape(0).map_or(0, numel);
                return keys.saturating_mul(q.saturating_add(out));
            }
            _ => 0,
        };
        out.saturating_mul(contraction)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arg(tensor: u32, shape: &[u64]) -> Option<HostArg> {
        Some(HostArg {
            tensor,
            shape: shape.to_vec(),
        })
    }

    fn op(name: &str, operands: Vec<Option<HostArg>>, out: &[u64]) -> HostOp {
        HostOp {
            op: name.into(),
            name: "n".into(),
            opset: 17,
            attrs: AttrDict::new(),
            operands,
            results: vec![HostArg {
                tensor: 9,
                shape: out.to_vec(),
            }],
        }
    }

    #[test]
    fn macs_count_contractions_only() {
        let mm = op(
            "onnx.MatMul",
            vec![arg(0, &[2, 3, 4]), arg(1, &[4, 5])],
            &[2, 3, 5],
        );
        assert_eq!(mm.macs(), 2 * 3 * 5 * 4);
        let conv = op(
            "onnx.Conv",
            vec![arg(0, &[1, 3, 8, 8]), arg(1, &[6, 3, 2, 2])],
            &[1, 6, 4, 4],
        );
        assert_eq!(conv.macs(), 96 * 12);
        let att = op(
            "attn.mha",
            vec![
                arg(0, &[1, 2, 4, 8]),
                arg(1, &[1, 1, 6, 8]),
                arg(2, &[1, 1, 6, 8]),
            ],
            &[1, 2, 4, 8],
        );
        assert_eq!(att.macs(), 6 * (64 + 64));
        assert_eq!(op("onnx.Floor", vec![arg(0, &[4])], &[4]).macs(), 0);
    }

    #[test]
    fn attributes_round_trip_only_in_canonical_form() {
        let mut attrs = AttrDict::new();
        attrs.insert(
            "axis".into(),
            Attribute::Int {
                value: -1,
                ty: Some(crate::ElemType::I64),
            },
        );
        attrs.insert("mode".into(), Attribute::String("a \"b\"".into()));
        let o = HostOp {
            attrs,
            ..op("onnx.X", vec![], &[1])
        };
        let text = o.attrs_text();
        assert_eq!(HostOp::parse_attrs(&text).unwrap(), o.attrs);
        assert!(matches!(
            HostOp::parse_attrs("{axis = -1}"),
            Err(HostAttrError::NotCanonical { .. })
        ));
        assert!(matches!(
            HostOp::parse_attrs("4 : i64"),
            Err(HostAttrError::NotDict(_))
        ));
        assert!(matches!(
            HostOp::parse_attrs("{"),
            Err(HostAttrError::Syntax(_))
        ));
        assert_eq!(HostOp::parse_attrs("{}").unwrap(), AttrDict::new());
    }
}
