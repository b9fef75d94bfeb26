//! Result types of the linear-quantization ops (`DynamicQuantizeLinear`, `QuantizeLinear`,
//! `DequantizeLinear`, `MatMulInteger`); semantics in [`crate::eval::quant`].

use super::infer::{elem_from_onnx, one};
use super::shape::{int_attr, operand_tensor, optional_tensor};
use crate::attr::Attribute;
use crate::dialect::InferError;
use crate::module::{Module, Op};
use crate::types::{ElemType, TensorType, Type};

fn quant_elem(e: ElemType) -> Result<ElemType, InferError> {
    match e {
        ElemType::U8 | ElemType::I8 => Ok(e),
        other => Err(InferError::QuantType(other)),
    }
}

/// `output_dtype` when set to a non-zero code.
fn output_dtype(module: &Module, op: Op) -> Result<Option<ElemType>, InferError> {
    match int_attr(module, op, "output_dtype").unwrap_or(0) {
        0 => Ok(None),
        code => elem_from_onnx(code)
            .map(Some)
            .ok_or(InferError::OutputDtype(code)),
    }
}

/// `(y: ui8 like x, y_scale: f32 scalar, y_zero_point: ui8 scalar)`.
pub fn dynamic_quantize_linear(
    module: &Module,
    op: Op,
    _: &[Option<Attribute>],
) -> Result<Vec<Type>, InferError> {
    let x = operand_tensor(module, op, 0)?;
    let mut out = one(TensorType::new(x.dims.clone(), ElemType::U8))?;
    out.push(Type::Tensor(TensorType::new(vec![], ElemType::F32)));
    out.push(Type::Tensor(TensorType::new(vec![], ElemType::U8)));
    Ok(out)
}

/// x's shape; the zero point's type, else `output_dtype`, else `ui8`.
pub fn quantize_linear(
    module: &Module,
    op: Op,
    _: &[Option<Attribute>],
) -> Result<Vec<Type>, InferError> {
    let x = operand_tensor(module, op, 0)?;
    let elem = match optional_tensor(module, op, 2) {
        Some(zp) => zp.elem,
        None => output_dtype(module, op)?.unwrap_or(ElemType::U8),
    };
    one(TensorType::new(x.dims.clone(), quant_elem(elem)?))
}

/// x's shape; the scale's type (or `output_dtype`).
pub fn dequantize_linear(
    module: &Module,
    op: Op,
    _: &[Option<Attribute>],
) -> Result<Vec<Type>, InferError> {
    let x = operand_tensor(module, op, 0)?;
    let scale = operand_tensor(module, op, 1)?;
    let elem = output_dtype(module, op)?.unwrap_or(scale.elem);
    one(TensorType::new(x.dims.clone(), elem))
}

/// The matmul shape of A and B, `i32`.
pub fn matmul_integer(
    module: &Module,
    op: Op,
    consts: &[Option<Attribute>],
) -> Result<Vec<Type>, InferError> {
    for i in 0..2 {
        quant_elem(operand_tensor(module, op, i)?.elem)?;
    }
    let mut out = super::nn::matmul(module, op, consts)?;
    if let Some(Type::Tensor(t)) = out.first_mut() {
        t.elem = ElemType::I32;
    }
    Ok(out)
}
