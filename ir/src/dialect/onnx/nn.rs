//! Result-type inference for the neural-network ops: MatMul, Gemm, Conv, LayerNormalization,
//! Dropout and the opset-23 Attention op.

use super::infer::{elem_from_onnx, one};
use super::shape::{
    broadcast_shapes, check_size, dim_add, int_attr, ints_attr, normalize_axis, operand_tensor,
    optional_tensor, unify_dim,
};
use crate::attr::Attribute;
use crate::dialect::InferError;
use crate::module::{Module, Op};
use crate::types::{Dim, ElemType, TensorType, Type};

/// Numpy matmul: 1-D operands are promoted (and the added dim removed), batch dims broadcast.
pub fn matmul(module: &Module, op: Op, _: &[Option<Attribute>]) -> Result<Vec<Type>, InferError> {
    let a = operand_tensor(module, op, 0)?;
    let b = operand_tensor(module, op, 1)?;
    if a.rank() == 0 || b.rank() == 0 {
        return Err(InferError::MatMulScalar);
    }
    let a_dims: Vec<Dim> = if a.rank() == 1 {
        vec![Dim::Static(1), a.dims[0].clone()]
    } else {
        a.dims.clone()
    };
    let b_dims: Vec<Dim> = if b.rank() == 1 {
        vec![b.dims[0].clone(), Dim::Static(1)]
    } else {
        b.dims.clone()
    };
    let (a_batch, a_mat) = a_dims.split_at(a_dims.len() - 2);
    let (b_batch, b_mat) = b_dims.split_at(b_dims.len() - 2);
    unify_dim(&a_mat[1], &b_mat[0]).map_err(InferError::InnerDims)?;
    let mut dims = broadcast_shapes(a_batch, b_batch)?;
    if a.rank() != 1 {
        dims.push(a_mat[0].clone());
    }
    if b.rank() != 1 {
        dims.push(b_mat[1].clone());
    }
    one(TensorType::new(dims, a.elem))
}

/// `alpha * A' B' + beta * C`: [M, N] from A [M, K] (or [K, M]) and B [K, N] (or [N, K]).
pub fn gemm(module: &Module, op: Op, _: &[Option<Attribute>]) -> Result<Vec<Type>, InferError> {
    let a = operand_tensor(module, op, 0)?;
    let b = operand_tensor(module, op, 1)?;
    if a.rank() != 2 || b.rank() != 2 {
        return Err(InferError::GemmRank {
            a: a.rank(),
            b: b.rank(),
        });
    }
    let ta = int_attr(module, op, "transA").unwrap_or(0) != 0;
    let tb = int_attr(module, op, "transB").unwrap_or(0) != 0;
    let (m, ka) = if ta {
        (&a.dims[1], &a.dims[0])
    } else {
        (&a.dims[0], &a.dims[1])
    };
    let (kb, n) = if tb {
        (&b.dims[1], &b.dims[0])
    } else {
        (&b.dims[0], &b.dims[1])
    };
    unify_dim(ka, kb).map_err(InferError::InnerDims)?;
    let dims = vec![m.clone(), n.clone()];
    if let Some(c) = optional_tensor(module, op, 2) {
        let bc = broadcast_shapes(&dims, &c.dims)?;
        if bc.len() != 2 {
            return Err(InferError::GemmBias(c.rank()));
        }
    }
    one(TensorType::new(dims, a.elem))
}

/// One spatial output size of a convolution.
fn conv_out(
    d: &Dim,
    k: u64,
    stride: u64,
    dilation: u64,
    pads: (u64, u64),
    auto_pad: &str,
) -> Result<Dim, InferError> {
    let Dim::Static(d) = *d else {
        return Ok(Dim::Dynamic);
    };
    if stride == 0 {
        return Err(InferError::ZeroStride);
    }
    let span = dilation
        .checked_mul(k.saturating_sub(1))
        .and_then(|x| x.checked_add(1))
        .ok_or(InferError::ConvOverflow)?;
    let out = match auto_pad {
        "SAME_UPPER" | "SAME_LOWER" => d.div_ceil(stride),
        "VALID" => d.checked_sub(span).map_or(0, |x| x / stride + 1),
        _ => {
            let padded = d
                .checked_add(pads.0)
                .and_then(|x| x.checked_add(pads.1))
                .ok_or(InferError::ConvOverflow)?;
            let avail = padded
                .checked_sub(span)
                .ok_or(InferError::KernelExtent { span, padded })?;
            avail / stride + 1
        }
    };
    Ok(Dim::Static(out))
}

fn non_negative(
    values: Option<Vec<i64>>,
    n: usize,
    default: u64,
    attr: &'static str,
) -> Result<Vec<u64>, InferError> {
    match values {
        None => Ok(vec![default; n]),
        Some(v) if v.len() != n => Err(InferError::AttrLength {
            attr,
            len: v.len(),
            expected: n,
        }),
        Some(v) => v
            .iter()
            .map(|&value| {
                u64::try_from(value).map_err(|_| InferError::NegativeAttr { attr, value })
            })
            .collect(),
    }
}

/// Conv: X [N, C, D...] * W [M, C/group, k...] -> [N, M, out...].
pub fn conv(module: &Module, op: Op, _: &[Option<Attribute>]) -> Result<Vec<Type>, InferError> {
    let x = operand_tensor(module, op, 0)?;
    let w = operand_tensor(module, op, 1)?;
    if x.rank() < 3 || w.rank() != x.rank() {
        return Err(InferError::ConvRank {
            x: x.rank(),
            w: w.rank(),
        });
    }
    let n = x.rank() - 2;
    let kernel = match ints_attr(module, op, "kernel_shape") {
        Some(k) => non_negative(Some(k), n, 1, "kernel_shape")?,
        None => w.dims[2..]
            .iter()
            .map(|d| d.as_static().ok_or(InferError::DynamicKernel))
            .collect::<Result<_, _>>()?,
    };
    let strides = non_negative(ints_attr(module, op, "strides"), n, 1, "strides")?;
    let dilations = non_negative(ints_attr(module, op, "dilations"), n, 1, "dilations")?;
    let pads = non_negative(ints_attr(module, op, "pads"), 2 * n, 0, "pads")?;
    let auto_pad = module.ops[op]
        .attrs
        .get("auto_pad")
        .and_then(Attribute::as_str)
        .unwrap_or("NOTSET");
    let mut dims = vec![x.dims[0].clone(), w.dims[0].clone()];
    for i in 0..n {
        dims.push(conv_out(
            &x.dims[i + 2],
            kernel[i],
            strides[i],
            dilations[i],
            (pads[i], pads[i + n]),
            auto_pad,
        )?);
    }
    one(TensorType::new(dims, x.elem))
}

/// LayerNormalization: Y like X; Mean / InvStdDev keep the leading dims, 1 from `axis` on, in
/// the `stash_type` precision.
pub fn layer_norm(
    module: &Module,
    op: Op,
    _: &[Option<Attribute>],
) -> Result<Vec<Type>, InferError> {
    let x = operand_tensor(module, op, 0)?;
    let axis = normalize_axis(int_attr(module, op, "axis").unwrap_or(-1), x.rank())?;
    let stash = int_attr(module, op, "stash_type").unwrap_or(1);
    let stash = elem_from_onnx(stash).ok_or(InferError::StashType(stash))?;
    let mut out = vec![Type::Tensor(x.clone())];
    let stat: Vec<Dim> = x
        .dims
        .iter()
        .enumerate()
        .map(|(i, d)| if i < axis { d.clone() } else { Dim::Static(1) })
        .collect();
    for _ in 1..module.ops[op].results.len() {
        out.push(Type::Tensor(TensorType::new(stat.clone(), stash)));
    }
    check_size(x)?;
    Ok(out)
}

/// Dropout at inference: Y like X, optional mask of booleans.
pub fn dropout(module: &Module, op: Op, _: &[Option<Attribute>]) -> Result<Vec<Type>, InferError> {
    let x = operand_tensor(module, op, 0)?;
    let mut out = vec![Type::Tensor(x.clone())];
    if module.ops[op].results.len() > 1 {
        out.push(Type::Tensor(TensorType::new(x.dims.clone(), ElemType::I1)));
    }
    Ok(out)
}

/// Divide a hidden size by a head count (static when possible).
fn per_head(hidden: &Dim, heads: Option<i64>, attr: &'static str) -> Result<Dim, InferError> {
    let heads = heads.ok_or(InferError::MissingHeads(attr))?;
    let h = u64::try_from(heads)
        .ok()
        .filter(|&h| h > 0)
        .ok_or(InferError::NonPositiveHeads(attr))?;
    match hidden {
        Dim::Static(n) if n % h != 0 => Err(InferError::HiddenSize {
            hidden: *n,
            attr,
            heads: h,
        }),
        Dim::Static(n) => Ok(Dim::Static(n / h)),
        _ => Ok(Dim::Dynamic),
    }
}

/// The opset-23 Attention op. Q/K/V are [B, S, hidden] (3-D, heads from attributes) or
/// [B, H, S, head] (4-D). Results: Y (same rank as Q), present_key / present_value
/// [B, H_kv, past + S_kv, head], qk_matmul_output [B, H_q, S_q, past + S_kv].
pub fn attention(
    module: &Module,
    op: Op,
    _: &[Option<Attribute>],
) -> Result<Vec<Type>, InferError> {
    let q = operand_tensor(module, op, 0)?;
    let k = operand_tensor(module, op, 1)?;
    let v = operand_tensor(module, op, 2)?;
    if !(q.rank() == 3 || q.rank() == 4) || k.rank() != q.rank() || v.rank() != q.rank() {
        return Err(InferError::QkvRank {
            q: q.rank(),
            k: k.rank(),
            v: v.rank(),
        });
    }
    let batch = unify_dim(&q.dims[0], &k.dims[0]).map_err(InferError::BatchDims)?;
    // (heads, seq, head size) of each input.
    let (qh, qs, qd, kh, ks, kd, vd) = if q.rank() == 4 {
        (
            q.dims[1].clone(),
            q.dims[2].clone(),
            q.dims[3].clone(),
            k.dims[1].clone(),
            k.dims[2].clone(),
            k.dims[3].clone(),
            v.dims[3].clone(),
        )
    } else {
        let qn = int_attr(module, op, "q_num_heads");
        let kn = int_attr(module, op, "kv_num_heads");
        let heads = |n: Option<i64>| {
            n.and_then(|n| u64::try_from(n).ok())
                .map_or(Dim::Dynamic, Dim::Static)
        };
        (
            heads(qn),
            q.dims[1].clone(),
            per_head(&q.dims[2], qn, "q_num_heads")?,
            heads(kn),
            k.dims[1].clone(),
            per_head(&k.dims[2], kn, "kv_num_heads")?,
            per_head(&v.dims[2], kn, "kv_num_heads")?,
        )
    };
    unify_dim(&qd, &kd).map_err(InferError::HeadSizes)?;
    let past = optional_tensor(module, op, 4)
        .filter(|t| t.rank() == 4)
        .map(|t| t.dims[2].clone());
    let total = match &past {
        Some(p) => dim_add(p, &ks)?,
        None => ks.clone(),
    };
    let y = if q.rank() == 4 {
        vec![batch.clone(), qh.clone(), qs.clone(), vd.clone()]
    } else {
        let width = super::shape::dims_product(&[qh.clone(), vd.clone()])?;
        vec![batch.clone(), qs.clone(), width]
    };
    let mut out = vec![TensorType::new(y, q.elem)];
    let n_results = module.ops[op].results.len();
    let extra = [
        vec![batch.clone(), kh.clone(), total.clone(), kd],
        vec![batch.clone(), kh, total.clone(), vd],
        vec![batch, qh, qs, total],
    ];
    out.extend(
        extra
            .into_iter()
            .take(n_results.saturating_sub(1))
            .map(|d| TensorType::new(d, q.elem)),
    );
    for t in &out {
        check_size(t)?;
    }
    Ok(out.into_iter().map(Type::Tensor).collect())
}
