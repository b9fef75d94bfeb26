//! `ScatterND` with constant indices (mask updates of some exporters): the data is copied into a
//! fresh result, then the update slices are copied over the addressed slices in index order, so a
//! repeated index keeps its last update as in the reference kernel. Consecutive index tuples whose
//! slices step evenly forwards are one strided copy. Only `reduction = "none"` is lowered.

use super::gather::nd_rows;
use super::movement::{copy_view, dense};
use super::{Ctx, OpRef};
use crate::lower::LowerError;

/// Runs `[start, end)` of `rows` that step by one positive stride.
fn progressions(rows: &[u64]) -> Vec<(usize, usize, u64)> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < rows.len() {
        let step = match rows.get(start + 1) {
            Some(&next) if next > rows[start] => next - rows[start],
            _ => 1,
        };
        let mut end = start + 1;
        while end < rows.len() && rows[end] == rows[end - 1].wrapping_add(step) {
            end += 1;
        }
        out.push((start, end, step));
        start = end;
    }
    out
}

pub fn scatter_nd(ctx: &mut Ctx<'_>, o: &OpRef) -> Result<(), LowerError> {
    let reduction = ctx
        .m
        .op(o.op)
        .attrs
        .get("reduction")
        .and_then(|a| a.as_str())
        .unwrap_or("none");
    if reduction != "none" {
        return Err(o.err(format!(
            "ScatterND with reduction '{reduction}' is not supported"
        )));
    }
    let (dt, shape) = ctx.shape_of(o, ctx.result(o, 0)?)?;
    let data = ctx.view(o, ctx.operand(o, 0)?)?;
    let t = ctx
        .const_value(ctx.operand(o, 1)?)
        .ok_or_else(|| o.err("ScatterND with run-time indices is not supported"))?;
    let updates = ctx.view(o, ctx.operand(o, 2)?)?;
    let idx_shape: Vec<u64> = t.shape().iter().map(|&d| d as u64).collect();
    let rows = nd_rows(&shape, &idx_shape, &t.to_i64_vec(), 0)
        .map_err(|e| o.err(format!("ScatterND: {e}")))?;
    let k = idx_shape[idx_shape.len() - 1] as usize;
    let merged: u64 = shape[..k].iter().product();
    let rest = &shape[k..];
    let out = ctx.new_result(o, 0, dt, shape.clone())?;
    copy_view(ctx, o, &data, &out)?;
    let out_rows = out
        .reshape(&[&[merged][..], rest].concat())
        .ok_or_else(|| o.err("the result is not dense"))?;
    let upd_shape = [&[rows.len() as u64][..], rest].concat();
    let upd_rows = match updates.reshape(&upd_shape) {
        Some(v) => v,
        None => dense(ctx, o, updates, "updates")?
            .reshape(&upd_shape)
            .ok_or_else(|| o.err("updates do not match the indices"))?,
    };
    for (start, end, step) in progressions(&rows) {
        let n = (end - start) as u64;
        let dst = out_rows.slice(0, rows[start], step, n);
        let src = upd_rows.slice(0, start as u64, 1, n);
        copy_view(ctx, o, &src, &dst)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::progressions;

    #[test]
    fn runs_step_evenly_forwards() {
        assert_eq!(
            progressions(&[0, 2, 4, 1, 1, 7]),
            vec![(0, 3, 2), (3, 4, 1), (4, 6, 6)]
        );
        assert_eq!(progressions(&[5]), vec![(0, 1, 1)]);
        assert!(progressions(&[]).is_empty());
    }
}
