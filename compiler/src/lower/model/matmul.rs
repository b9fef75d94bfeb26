//! `MatMul` (with numpy batching) and `Gemm` as 2-D products on the PE array
//! ([`super::product`]). `Gemm`'s `alpha` and a non-row `C` are the product's epilogue; a row
//! `C` with `alpha = 1` is the GEMM's own bias.

use sofa_ir::isa::DType;

use super::fuse::fold_adds;
use super::product::{emit, Product};
use super::vector::{mode_of, Mode};
use super::view::View;
use super::{Ctx, OpRef};
use crate::lower::LowerError;

/// The stored form of a logical `[K, N]` right factor.
pub(super) fn stored_b(b: View) -> (View, bool) {
    let dense_rows = b.strides[1] == 1 || b.shape[1] == 1;
    if !dense_rows && (b.strides[0] == 1 || b.shape[0] == 1) {
        if let Some(t) = b.permute(&[1, 0]) {
            return (t, true);
        }
    }
    (b, false)
}

/// The operands of a numpy matmul (`MatMul`, `MatMulInteger`): vectors made matrices, the
/// left factor broadcast to the batch, `[m, k] × [k, n]` per batch index.
pub(super) struct Operands {
    /// `[batch.., m, k]`.
    pub a: View,
    /// As given (rank ≥ 2).
    pub b: View,
    pub batch: Vec<u64>,
    pub m: u64,
    pub k: u64,
    pub n: u64,
}

impl Operands {
    /// Operands 0 and 1 of `o`.
    pub fn of(ctx: &mut Ctx<'_>, o: &OpRef) -> Result<Operands, LowerError> {
        let mut a = ctx.view(o, ctx.operand(o, 0)?)?;
        let mut b = ctx.view(o, ctx.operand(o, 1)?)?;
        let bad = || o.err("operands do not have matmul shapes");
        if a.rank() == 1 {
            a = a.reshape(&[1, a.shape[0]]).ok_or_else(bad)?;
        }
        if b.rank() == 1 {
            b = b.reshape(&[b.shape[0], 1]).ok_or_else(bad)?;
        }
        let (ra, rb) = (a.rank(), b.rank());
        let (m, k, n) = (a.shape[ra - 2], a.shape[ra - 1], b.shape[rb - 1]);
        if b.shape[rb - 2] != k {
            return Err(bad());
        }
        let batch = broadcast_shapes(&a.shape[..ra - 2], &b.shape[..rb - 2]).ok_or_else(bad)?;
        let a = a
            .broadcast_to(&[batch.as_slice(), &[m, k]].concat())
            .ok_or_else(bad)?;
        Ok(Operands {
            a,
            b,
            batch,
            m,
            k,
            n,
        })
    }

    /// The number of batch indices.
    pub fn count(&self) -> u64 {
        self.batch.iter().product()
    }

    /// The right factor as `[k, n]` when it has no batch (every batch dim 1): the left
    /// factor's batch then folds into its rows.
    pub fn shared_b(&self) -> Option<View> {
        let rb = self.b.rank();
        self.b.shape[..rb - 2]
            .iter()
            .all(|&d| d == 1)
            .then(|| self.b.reshape(&[self.k, self.n]))
            .flatten()
    }

    /// Per batch index, in order: its `[m, k]` left factor, `[k, n]` right factor and `[m, n]`
    /// slice of `out` (the result, of shape `[batch.., m, n]` after a reshape).
    pub fn per_batch(&self, o: &OpRef, out: &View) -> Result<Vec<[View; 3]>, LowerError> {
        let bad = || o.err("operands do not have matmul shapes");
        let bb = self
            .b
            .broadcast_to(&[self.batch.as_slice(), &[self.k, self.n]].concat())
            .ok_or_else(bad)?;
        let outb = out
            .reshape(&[self.batch.as_slice(), &[self.m, self.n]].concat())
            .ok_or_else(bad)?;
        Ok((0..self.count())
            .map(|i| {
                let (mut ai, mut bi, mut oi) = (self.a.clone(), bb.clone(), outb.clone());
                let mut rest = i;
                for (d, &len) in self.batch.iter().enumerate().rev() {
                    let idx = rest % len;
                    rest /= len;
                    ai = ai.select(d, idx);
                    bi = bi.select(d, idx);
                    oi = oi.select(d, idx);
                }
                [ai, bi, oi]
            })
            .collect())
    }
}

/// Numpy broadcast of two batch shapes.
pub(super) fn broadcast_shapes(a: &[u64], b: &[u64]) -> Option<Vec<u64>> {
    let r = a.len().max(b.len());
    let dim = |s: &[u64], k: usize| (k + s.len()).checked_sub(r).map_or(1, |i| s[i]);
    (0..r)
        .map(|k| match (dim(a, k), dim(b, k)) {
            (x, y) if x == y || y == 1 => Some(x),
            (1, y) => Some(y),
            _ => None,
        })
        .collect()
}

/// `MatMul`: numpy matmul; a batch-free right factor folds the left factor's batch into rows.
pub fn matmul(ctx: &mut Ctx<'_>, o: &OpRef) -> Result<(), LowerError> {
    let (dt, shape) = ctx.shape_of(o, ctx.result(o, 0)?)?;
    let ops = Operands::of(ctx, o)?;
    let bad = || o.err("operands do not have matmul shapes");
    if let Some(b2) = ops.shared_b() {
        let fused = fold_adds(ctx, o, &shape)?;
        let out = ctx.new_result(&fused.last, 0, dt, shape)?;
        let out2 = out.reshape(&[ops.count() * ops.m, ops.n]).ok_or_else(bad)?;
        let (b2, trans_b) = stored_b(b2);
        let p = Product {
            a: ops.a,
            b: b2,
            b_inner: 1,
            trans_b,
            bias: fused.bias,
            alpha: 1.0,
            c: fused.c,
            out: out2,
        };
        return emit(ctx, o, dt, p);
    }
    let out = ctx.new_result(o, 0, dt, shape)?;
    for [ai, bi, oi] in ops.per_batch(o, &out)? {
        product(ctx, o, dt, ai, bi, oi)?;
    }
    Ok(())
}

fn product(
    ctx: &mut Ctx<'_>,
    o: &OpRef,
    dt: DType,
    a: View,
    b: View,
    out: View,
) -> Result<(), LowerError> {
    let (b, trans_b) = stored_b(b);
    emit(
        ctx,
        o,
        dt,
        Product {
            a,
            b,
            b_inner: 1,
            trans_b,
            bias: None,
            alpha: 1.0,
            c: None,
            out,
        },
    )
}

/// `Gemm`: `alpha·A'·B' + beta·C`.
pub fn gemm(ctx: &mut Ctx<'_>, o: &OpRef) -> Result<(), LowerError> {
    let (dt, shape) = ctx.shape_of(o, ctx.result(o, 0)?)?;
    let attrs = &ctx.m.op(o.op).attrs;
    let float = |k: &str| attrs.get(k).and_then(|a| a.as_float()).unwrap_or(1.0);
    let flag = |k: &str| attrs.get(k).and_then(|a| a.as_int()).unwrap_or(0) != 0;
    let (alpha, beta, ta, tb) = (
        float("alpha"),
        float("beta"),
        flag("transA"),
        flag("transB"),
    );
    let mut a = ctx.view(o, ctx.operand(o, 0)?)?;
    let mut b = ctx.view(o, ctx.operand(o, 1)?)?;
    if a.rank() != 2 || b.rank() != 2 || shape.len() != 2 {
        return Err(o.err("Gemm needs 2-D operands"));
    }
    if ta {
        a = a.permute(&[1, 0]).ok_or_else(|| o.err("bad A"))?;
    }
    if tb {
        b = b.permute(&[1, 0]).ok_or_else(|| o.err("bad B"))?;
    }
    let c_operand = ctx
        .m
        .op(o.op)
        .operands
        .get(2)
        .copied()
        .filter(|&v| ctx.m.value_type(v).as_tensor().is_some());
    let c = match c_operand {
        Some(v) if beta != 0.0 => {
            let view = ctx.view(o, v)?;
            let c = view
                .broadcast_to(&shape)
                .ok_or_else(|| o.err("C does not broadcast to the result"))?;
            if beta != 1.0 {
                return Err(o.err(format!("beta = {beta} with a C operand is not supported")));
            }
            Some((c.clone(), mode_of(&c)))
        }
        _ => None,
    };
    let (bias, c) = match c {
        Some((view, Mode::Row)) if alpha == 1.0 => (Some(view.select(0, 0)), None),
        other => (None, other),
    };
    let out = ctx.new_result(o, 0, dt, shape)?;
    let (b, trans_b) = stored_b(b);
    emit(
        ctx,
        o,
        dt,
        Product {
            a,
            b,
            b_inner: 1,
            trans_b,
            bias,
            alpha: alpha as f32,
            c,
            out,
        },
    )
}
