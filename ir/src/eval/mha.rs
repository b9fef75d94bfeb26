//! Reference semantics of `attn.mha` (see `crate::dialect::attn`).
//!
//! Same computation as ONNX `Attention` on 4-D inputs, with the fused op's conventions: scale,
//! heads and causal flag come from attributes, causal masking is top-left aligned (key `j` is
//! masked for query `i` when `j > i`), and a row whose scores are all `-inf` yields zeros
//! (FlashAttention semantics) rather than NaN.

use crate::attr::AttrDict;
use crate::dialect::attn::MhaAttrs;
use crate::eval::args::OpArgs;
use crate::eval::attention::{
    additive_mask, attention_core, fused_operands, AttentionOptions, MaskView,
};
use crate::eval::error::{EvalError, EvalErrorKind, KResult};
use crate::eval::tensor::{Tensor, TensorData};

/// Read `attn.mha`'s attributes from a dictionary.
pub fn mha_attrs(attrs: &AttrDict) -> KResult<MhaAttrs> {
    let int = |name: &str| {
        attrs
            .get(name)
            .and_then(|a| a.as_int())
            .ok_or_else(|| EvalErrorKind::attr(name, "required integer"))
    };
    Ok(MhaAttrs {
        heads: int("heads")?,
        kv_heads: int("kv_heads")?,
        head_dim: int("head_dim")?,
        scale: attrs
            .get("scale")
            .and_then(|a| a.as_float())
            .ok_or_else(|| EvalErrorKind::attr("scale", "required float"))?,
        causal: attrs
            .get("causal")
            .and_then(|a| a.as_bool())
            .ok_or_else(|| EvalErrorKind::attr("causal", "required bool"))?,
        window: match attrs.get("window") {
            None => None,
            Some(w) => Some(
                w.as_int()
                    .filter(|&w| w >= 1)
                    .ok_or_else(|| EvalErrorKind::attr("window", "positive integer"))?,
            ),
        },
    })
}

/// The `attn.mha` kernel (dispatched by [`crate::eval::eval_op`] like the ONNX ones).
pub fn mha(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(3, 4)?;
    let a = mha_attrs(args.attrs)?;
    let (q, k, v) = (args.input(0)?, args.input(1)?, args.input(2)?);
    Ok(vec![mha_kernel(q, k, v, args.opt_input(3), &a)?])
}

/// Evaluate `attn.mha(q, k, v[, mask])` with attributes `attrs`; the result is `[B, H, Sq, Dv]`.
pub fn mha_tensors(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    attrs: &MhaAttrs,
) -> Result<Tensor, EvalError> {
    mha_kernel(q, k, v, mask, attrs).map_err(|e| e.in_op(crate::dialect::attn::MHA))
}

fn mha_kernel(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    a: &MhaAttrs,
) -> KResult<Tensor> {
    let (dims, [qd, kd, vd]) = fused_operands(q, k, v, a, false)?;
    let values = mask
        .map(|m| additive_mask(m, q.elem(), &dims, 3))
        .transpose()?;
    let view = mask.zip(values.as_deref()).map(|(m, values)| MaskView {
        values,
        shape: m.shape(),
    });
    let opts = AttentionOptions {
        scale: a.scale as f32,
        causal: a.causal,
        window: a.window.map(|w| w as usize),
        past_len: 0,
        softcap: 0.0,
        zero_masked_rows: true,
    };
    let (y, _) = attention_core(dims, qd, kd, vd, view, &opts)?;
    Tensor::new(
        q.elem(),
        vec![dims.batch, dims.q_heads, dims.q_len, dims.v_dim],
        TensorData::F32(y),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::Attribute;

    fn t(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::from_f32(shape.to_vec(), v.to_vec()).unwrap()
    }

    fn attrs(heads: i64, kv_heads: i64, causal: bool) -> MhaAttrs {
        MhaAttrs {
            heads,
            kv_heads,
            head_dim: 2,
            scale: 1.0,
            causal,
            window: None,
        }
    }

    #[test]
    fn fully_masked_rows_give_zeros_and_causal_is_top_left() {
        let q = t(&[1, 1, 2, 2], &[0.0; 4]);
        let k = t(&[1, 1, 3, 2], &[0.0; 6]);
        let v = t(&[1, 1, 3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        // Row 0 sees only key 0, row 1 keys 0 and 1 (uniform scores).
        let y = mha_tensors(&q, &k, &v, None, &attrs(1, 1, true)).unwrap();
        assert_eq!(y.as_f32().unwrap(), &[1.0, 2.0, 2.0, 3.0]);
        let mask =
            Tensor::from_bool(vec![2, 3], vec![false, false, false, true, true, true]).unwrap();
        let y = mha_tensors(&q, &k, &v, Some(&mask), &attrs(1, 1, false)).unwrap();
        assert_eq!(y.as_f32().unwrap(), &[0.0, 0.0, 3.0, 4.0]);
    }

    #[test]
    fn attributes_must_match_shapes() {
        let q = t(&[1, 2, 1, 2], &[0.0; 4]);
        let kv = t(&[1, 1, 1, 2], &[0.0; 2]);
        assert!(mha_tensors(&q, &kv, &kv, None, &attrs(2, 1, false)).is_ok());
        let err = mha_tensors(&q, &kv, &kv, None, &attrs(4, 1, false)).unwrap_err();
        assert!(err.to_string().starts_with("attn.mha:"), "{err}");
        let dict: AttrDict = [
            ("heads".to_string(), Attribute::i64(2)),
            ("kv_heads".to_string(), Attribute::i64(1)),
            ("head_dim".to_string(), Attribute::i64(2)),
            ("scale".to_string(), Attribute::f32(0.5)),
            ("causal".to_string(), Attribute::Bool(false)),
        ]
        .into_iter()
        .collect();
        assert_eq!(mha_attrs(&dict).unwrap().scale, 0.5);
        assert!(mha_attrs(&AttrDict::new()).is_err());
        // Through the dispatcher, as the interpreter runs it.
        let out =
            crate::eval::eval_op("attn.mha", &dict, &[Some(&q), Some(&kv), Some(&kv)], 17).unwrap();
        assert_eq!(out[0].shape(), &[1, 2, 1, 2]);
        let err = crate::eval::eval_op(
            "attn.mha",
            &AttrDict::new(),
            &[Some(&q), Some(&kv), Some(&kv)],
            17,
        )
        .unwrap_err();
        assert!(err.to_string().contains("heads"), "{err}");
    }
}
