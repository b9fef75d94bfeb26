//! `MatMul` (numpy semantics: batched, broadcast batch dims, 1-D operands) and `Gemm`, on
//! `matrixmultiply`'s sgemm for float storage; integer matmuls use a plain loop (they only
//! appear in shape arithmetic, if at all).

use crate::eval::args::{same_elem, OpArgs};
use crate::eval::broadcast::{
    broadcast_shapes, broadcast_strides, broadcasts_to, expand, for_each_offset,
};
use crate::eval::elementwise::not_float;
use crate::eval::error::{EvalErrorKind, KResult};
use crate::eval::tensor::{num_elements, Tensor, TensorData};

/// Row and column strides of a matrix operand, in elements.
#[derive(Copy, Clone, Debug)]
pub struct Layout {
    pub rows: isize,
    pub cols: isize,
}

impl Layout {
    /// A contiguous row-major matrix with `cols` columns.
    pub fn row_major(cols: usize) -> Layout {
        Layout {
            rows: cols as isize,
            cols: 1,
        }
    }

    /// The transpose view of a contiguous row-major matrix with `cols` columns.
    pub fn transposed(cols: usize) -> Layout {
        Layout {
            rows: 1,
            cols: cols as isize,
        }
    }

    /// Largest offset touched by an `r x c` view, or `None` when a stride is negative.
    fn extent(self, r: usize, c: usize) -> Option<usize> {
        if r == 0 || c == 0 {
            return Some(0);
        }
        let rows = usize::try_from(self.rows).ok()?;
        let cols = usize::try_from(self.cols).ok()?;
        Some((r - 1) * rows + (c - 1) * cols + 1)
    }
}

/// `c = alpha * a(m x k) * b(k x n) + beta * c` on strided views (sgemm). Views must lie inside
/// their slices; `c` must not alias itself. With `beta == 0`, `c` is overwritten.
#[allow(clippy::too_many_arguments)]
pub fn sgemm(
    (m, k, n): (usize, usize, usize),
    alpha: f32,
    (a, la): (&[f32], Layout),
    (b, lb): (&[f32], Layout),
    beta: f32,
    (c, lc): (&mut [f32], Layout),
) -> KResult<()> {
    let fits =
        |len: usize, l: Layout, r: usize, cc: usize| l.extent(r, cc).is_some_and(|e| e <= len);
    if !fits(a.len(), la, m, k) || !fits(b.len(), lb, k, n) || !fits(c.len(), lc, m, n) {
        return Err(EvalErrorKind::invalid(format!(
            "sgemm views out of bounds for {m}x{k}x{n}"
        )));
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        for i in 0..m {
            for j in 0..n {
                let o = i * lc.rows as usize + j * lc.cols as usize;
                c[o] = if beta == 0.0 { 0.0 } else { beta * c[o] };
            }
        }
        return Ok(());
    }
    // SAFETY: every view was checked to lie within its slice above (non-negative strides,
    // largest offset < len); `c` is a unique borrow so it aliases neither `a` nor `b`.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            alpha,
            a.as_ptr(),
            la.rows,
            la.cols,
            b.as_ptr(),
            lb.rows,
            lb.cols,
            beta,
            c.as_mut_ptr(),
            lc.rows,
            lc.cols,
        );
    }
    Ok(())
}

pub fn matmul(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(2, 2)?;
    let (a, b) = (args.input(0)?, args.input(1)?);
    Ok(vec![matmul_tensors(a, b)?])
}

/// Numpy `matmul`: 1-D operands are promoted (and the added dim removed), batch dims broadcast.
pub fn matmul_tensors(a: &Tensor, b: &Tensor) -> KResult<Tensor> {
    let elem = same_elem(a, b, 1)?;
    if a.rank() == 0 || b.rank() == 0 {
        return Err(EvalErrorKind::shape("MatMul operands must have rank >= 1"));
    }
    let a_shape: Vec<usize> = if a.rank() == 1 {
        vec![1, a.shape()[0]]
    } else {
        a.shape().to_vec()
    };
    let b_shape: Vec<usize> = if b.rank() == 1 {
        vec![b.shape()[0], 1]
    } else {
        b.shape().to_vec()
    };
    let (ra, rb) = (a_shape.len(), b_shape.len());
    let (m, k) = (a_shape[ra - 2], a_shape[ra - 1]);
    let (k2, n) = (b_shape[rb - 2], b_shape[rb - 1]);
    if k != k2 {
        return Err(EvalErrorKind::shape(format!(
            "MatMul inner dims differ: {:?} x {:?}",
            a.shape(),
            b.shape()
        )));
    }
    let batch = broadcast_shapes(&a_shape[..ra - 2], &b_shape[..rb - 2])?;
    let mut out_shape = batch.clone();
    if a.rank() > 1 {
        out_shape.push(m);
    }
    if b.rank() > 1 {
        out_shape.push(n);
    }
    let total = num_elements(&out_shape)?;
    let sa = broadcast_strides(&a_shape[..ra - 2], &batch);
    let sb = broadcast_strides(&b_shape[..rb - 2], &batch);
    let mut pairs = Vec::new();
    for_each_offset(&batch, [&sa, &sb], [0, 0], |[i, j]| {
        pairs.push((i * m * k, j * k * n))
    });
    let data = match (a.data(), b.data()) {
        (TensorData::F32(x), TensorData::F32(y)) => {
            let mut out = vec![0.0f32; total];
            for (p, &(oa, ob)) in pairs.iter().enumerate() {
                sgemm(
                    (m, k, n),
                    1.0,
                    (&x[oa..], Layout::row_major(k)),
                    (&y[ob..], Layout::row_major(n)),
                    0.0,
                    (&mut out[p * m * n..(p + 1) * m * n], Layout::row_major(n)),
                )?;
            }
            TensorData::F32(out)
        }
        (TensorData::I64(x), TensorData::I64(y)) => {
            let mut out = vec![0i64; total];
            for (p, &(oa, ob)) in pairs.iter().enumerate() {
                for i in 0..m {
                    for j in 0..n {
                        out[p * m * n + i * n + j] = (0..k).fold(0i64, |acc, t| {
                            acc.wrapping_add(x[oa + i * k + t].wrapping_mul(y[ob + t * n + j]))
                        });
                    }
                }
            }
            TensorData::I64(out)
        }
        _ => return Err(EvalErrorKind::input(0, "MatMul is not defined on bool")),
    };
    Tensor::new(elem, out_shape, data)
}

/// `Gemm`: `Y = alpha * A' * B' + beta * C`, `A'`/`B'` optionally transposed, `C` broadcast.
pub fn gemm(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(2, 3)?;
    let (a, b) = (args.input(0)?, args.input(1)?);
    let elem = same_elem(a, b, 1)?;
    let (TensorData::F32(x), TensorData::F32(y)) = (a.data(), b.data()) else {
        return Err(not_float(0, a));
    };
    if a.rank() != 2 || b.rank() != 2 {
        return Err(EvalErrorKind::shape(format!(
            "Gemm needs 2-D operands, got {:?} and {:?}",
            a.shape(),
            b.shape()
        )));
    }
    let trans_a = args.int("transA", 0)? != 0;
    let trans_b = args.int("transB", 0)? != 0;
    let alpha = args.float("alpha", 1.0)?;
    let beta = args.float("beta", 1.0)?;
    let (m, k, la) = if trans_a {
        (a.shape()[1], a.shape()[0], Layout::transposed(a.shape()[1]))
    } else {
        (a.shape()[0], a.shape()[1], Layout::row_major(a.shape()[1]))
    };
    let (k2, n, lb) = if trans_b {
        (b.shape()[1], b.shape()[0], Layout::transposed(b.shape()[1]))
    } else {
        (b.shape()[0], b.shape()[1], Layout::row_major(b.shape()[1]))
    };
    if k != k2 {
        return Err(EvalErrorKind::shape(format!(
            "Gemm inner dims differ: {:?} (transA={trans_a}) x {:?} (transB={trans_b})",
            a.shape(),
            b.shape()
        )));
    }
    let out_shape = vec![m, n];
    let total = num_elements(&out_shape)?;
    let (mut out, c_beta) = match args.opt_input(2) {
        Some(c) => {
            same_elem(a, c, 2)?;
            let TensorData::F32(cv) = c.data() else {
                return Err(not_float(2, c));
            };
            if !broadcasts_to(c.shape(), &out_shape) {
                return Err(EvalErrorKind::input(
                    2,
                    format!("shape {:?} does not broadcast to {out_shape:?}", c.shape()),
                ));
            }
            (expand(cv, c.shape(), &out_shape), beta)
        }
        None => (vec![0.0; total], 0.0),
    };
    sgemm(
        (m, k, n),
        alpha,
        (x, la),
        (y, lb),
        c_beta,
        (&mut out, Layout::row_major(n)),
    )?;
    Ok(vec![Tensor::new(elem, out_shape, TensorData::F32(out))?])
}
