//! `Conv` for the ViT patch embedding: a 2-D convolution whose stride equals its kernel, without
//! padding, dilation or groups, is a matrix product over non-overlapping patches.
//!
//! Per image, `Y[n] (O × P) = W (O × C·kh·kw) · patches(n)ᵀ`: the patches are an im2col
//! *view* of the image (`[PH, PW, C, kh, kw]`, one `LD` per patch and channel) read as the
//! `trans_b` operand, so the GEMM writes `Y[n]` in its NCHW layout directly; the bias is a
//! per-row `VEC.ADD bcast=col`. Any other convolution is rejected.

use super::product::{emit, Product};
use super::vector::Mode;
use super::view::View;
use super::{Ctx, OpRef};
use crate::lower::LowerError;

fn ints(ctx: &Ctx<'_>, o: &OpRef, name: &str) -> Option<Vec<i64>> {
    ctx.m
        .op(o.op)
        .attrs
        .get(name)
        .and_then(|a| a.as_int_array())
}

pub fn conv(ctx: &mut Ctx<'_>, o: &OpRef) -> Result<(), LowerError> {
    let (dt, shape) = ctx.shape_of(o, ctx.result(o, 0)?)?;
    let x = ctx.view(o, ctx.operand(o, 0)?)?;
    let w = ctx.view(o, ctx.operand(o, 1)?)?;
    let unsupported = |why: &str| {
        o.err(format!(
            "only patch-embedding convolutions are supported: {why}"
        ))
    };
    if x.rank() != 4 || w.rank() != 4 || shape.len() != 4 {
        return Err(unsupported("2-D convolutions only"));
    }
    let (kh, kw) = (w.shape[2], w.shape[3]);
    let kernel = [kh as i64, kw as i64];
    let attrs = &ctx.m.op(o.op).attrs;
    let group = attrs.get("group").and_then(|a| a.as_int()).unwrap_or(1);
    let auto_pad = attrs
        .get("auto_pad")
        .and_then(|a| a.as_str())
        .unwrap_or("NOTSET");
    if group != 1 {
        return Err(unsupported("group must be 1"));
    }
    if !matches!(auto_pad, "NOTSET" | "VALID") {
        return Err(unsupported("auto_pad must be NOTSET or VALID"));
    }
    if ints(ctx, o, "pads").is_some_and(|p| p.iter().any(|&v| v != 0)) {
        return Err(unsupported("padding must be 0"));
    }
    if ints(ctx, o, "dilations").is_some_and(|d| d.iter().any(|&v| v != 1)) {
        return Err(unsupported("dilations must be 1"));
    }
    if ints(ctx, o, "kernel_shape").is_some_and(|k| k != kernel) {
        return Err(unsupported("kernel_shape differs from the weight"));
    }
    if ints(ctx, o, "strides").as_deref() != Some(&kernel[..]) {
        return Err(unsupported("strides must equal the kernel"));
    }
    let (n, c, o_ch) = (x.shape[0], x.shape[1], w.shape[0]);
    let (ph, pw) = (x.shape[2] / kh, x.shape[3] / kw);
    if w.shape[1] != c || shape != [n, o_ch, ph, pw] || ph == 0 || pw == 0 {
        return Err(o.err("operand and result shapes do not match"));
    }
    let k = c * kh * kw;
    let w2 = w
        .reshape(&[o_ch, k])
        .ok_or_else(|| o.err("the weight must be dense"))?;
    let bias = match ctx.m.op(o.op).operands.get(2).copied() {
        Some(v) if ctx.m.value_type(v).as_tensor().is_some() => {
            let b = ctx.view(o, v)?;
            let col = b
                .reshape(&[o_ch, 1])
                .and_then(|b| b.broadcast_to(&[o_ch, ph * pw]))
                .ok_or_else(|| o.err("the bias must have one value per output channel"))?;
            Some((col, Mode::Col))
        }
        _ => None,
    };
    let out = ctx.new_result(o, 0, dt, shape)?;
    for img in 0..n {
        let xi = x.select(0, img);
        let (sc, sh, sw) = (xi.strides[0], xi.strides[1], xi.strides[2]);
        let patches = View {
            base: xi.base,
            dt: xi.dt,
            shape: vec![ph, pw, c, kh, kw],
            strides: vec![kh * sh, kw * sw, sc, sh, sw],
        };
        let yi = out
            .select(0, img)
            .reshape(&[o_ch, ph * pw])
            .ok_or_else(|| o.err("the result must be dense"))?;
        let p = Product {
            a: w2.clone(),
            b: patches,
            b_inner: 3,
            trans_b: true,
            bias: None,
            alpha: 1.0,
            c: bias.clone(),
            out: yi,
        };
        emit(ctx, o, dt, p)?;
    }
    Ok(())
}
