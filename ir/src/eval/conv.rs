//! `Conv` for 1-D and 2-D spatial inputs (1-D runs as 2-D with height 1), by im2col + sgemm,
//! with `pads`, `strides`, `dilations`, `group` and every `auto_pad` mode.

use crate::eval::args::{same_elem, OpArgs};
use crate::eval::elementwise::not_float;
use crate::eval::error::{EvalErrorKind, KResult};
use crate::eval::matmul::{sgemm, Layout};
use crate::eval::tensor::{num_elements, Tensor, TensorData};

/// Geometry of one spatial axis.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Axis {
    input: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    pad_begin: usize,
    output: usize,
}

pub fn conv(args: &OpArgs) -> KResult<Vec<Tensor>> {
    args.arity(2, 3)?;
    let (x, w) = (args.input(0)?, args.input(1)?);
    let elem = same_elem(x, w, 1)?;
    let (TensorData::F32(xv), TensorData::F32(wv)) = (x.data(), w.data()) else {
        return Err(not_float(0, x));
    };
    let spatial = x.rank().saturating_sub(2);
    if !(1..=2).contains(&spatial) || w.rank() != x.rank() {
        return Err(EvalErrorKind::shape(format!(
            "Conv supports 1-D and 2-D inputs; got X {:?} and W {:?}",
            x.shape(),
            w.shape()
        )));
    }
    let (n, c) = (x.shape()[0], x.shape()[1]);
    let (m, cg) = (w.shape()[0], w.shape()[1]);
    let group = usize::try_from(args.int("group", 1)?)
        .ok()
        .filter(|&g| c.checked_rem(g) == Some(0) && m.checked_rem(g) == Some(0) && c / g == cg)
        .ok_or_else(|| {
            EvalErrorKind::attr(
                "group",
                format!("incompatible with X {:?} and W {:?}", x.shape(), w.shape()),
            )
        })?;
    let axes = spatial_axes(args, &x.shape()[2..], &w.shape()[2..])?;
    // 1-D convolutions run as 2-D with a unit height axis.
    let (h, wd) = match axes.as_slice() {
        [a] => (unit_axis(), *a),
        [a, b] => (*a, *b),
        _ => return Err(EvalErrorKind::invalid("unexpected spatial rank")),
    };
    let bias = match args.opt_input(2) {
        Some(b) => {
            same_elem(x, b, 2)?;
            let v = b.as_f32().ok_or_else(|| not_float(2, b))?;
            if v.len() != m {
                return Err(EvalErrorKind::input(
                    2,
                    format!("bias has {} elements, expected {m}", v.len()),
                ));
            }
            Some(v)
        }
        None => None,
    };
    let mut out_shape = vec![n, m];
    out_shape.extend(axes.iter().map(|a| a.output));
    let total = num_elements(&out_shape)?;
    let plane = h.output * wd.output;
    let patch = cg * h.kernel * wd.kernel;
    num_elements(&[patch, plane])?;
    let mg = m / group;
    let mut out = vec![0.0f32; total];
    let mut col = vec![0.0f32; patch * plane];
    for b in 0..n {
        for g in 0..group {
            let channels = (b * c + g * cg) * h.input * wd.input;
            im2col(&xv[channels..], cg, h, wd, &mut col);
            let dst = (b * m + g * mg) * plane;
            sgemm(
                (mg, patch, plane),
                1.0,
                (&wv[g * mg * patch..], Layout::row_major(patch)),
                (&col, Layout::row_major(plane)),
                0.0,
                (&mut out[dst..dst + mg * plane], Layout::row_major(plane)),
            )?;
        }
    }
    if let Some(bias) = bias {
        for (i, chunk) in out.chunks_mut(plane.max(1)).enumerate() {
            let bv = bias[i % m];
            chunk.iter_mut().for_each(|v| *v += bv);
        }
    }
    Ok(vec![Tensor::new(elem, out_shape, TensorData::F32(out))?])
}

fn unit_axis() -> Axis {
    Axis {
        input: 1,
        kernel: 1,
        stride: 1,
        dilation: 1,
        pad_begin: 0,
        output: 1,
    }
}

/// Read kernel_shape/strides/dilations/pads/auto_pad and compute each axis's output size.
fn spatial_axes(args: &OpArgs, input: &[usize], kernel: &[usize]) -> KResult<Vec<Axis>> {
    let r = input.len();
    let list = |name: &str, default: i64, len: usize| -> KResult<Vec<usize>> {
        let v = args.ints(name)?.unwrap_or_else(|| vec![default; len]);
        if v.len() != len || v.iter().any(|&x| x < 0) {
            return Err(EvalErrorKind::attr(
                name,
                format!("expected {len} non-negative values, got {v:?}"),
            ));
        }
        Ok(v.into_iter().map(|x| x as usize).collect())
    };
    if let Some(ks) = args.ints("kernel_shape")? {
        if ks.iter().map(|&k| k as usize).ne(kernel.iter().copied()) {
            return Err(EvalErrorKind::attr(
                "kernel_shape",
                format!("{ks:?} differs from W's {kernel:?}"),
            ));
        }
    }
    let strides = list("strides", 1, r)?;
    let dilations = list("dilations", 1, r)?;
    if strides.contains(&0) || dilations.contains(&0) {
        return Err(EvalErrorKind::attr(
            "strides",
            "strides and dilations must be positive",
        ));
    }
    let auto_pad = args.string("auto_pad", "NOTSET")?;
    let pads = match auto_pad {
        "NOTSET" => list("pads", 0, 2 * r)?,
        "VALID" => vec![0; 2 * r],
        "SAME_UPPER" | "SAME_LOWER" => same_pads(
            input,
            kernel,
            &strides,
            &dilations,
            auto_pad == "SAME_UPPER",
        ),
        other => {
            return Err(EvalErrorKind::attr(
                "auto_pad",
                format!("unknown mode {other}"),
            ))
        }
    };
    (0..r)
        .map(|i| {
            let span = dilations[i].saturating_mul(kernel[i].max(1) - 1).saturating_add(1);
            let padded = input[i].saturating_add(pads[i]).saturating_add(pads[i + r]);
            if kernel[i] == 0 || padded < span {
                return Err(EvalErrorKind::shape(format!(
                    "kernel {kernel:?} (dilations {dilations:?}) does not fit input {input:?} padded by {pads:?}"
                )));
            }
            Ok(Axis {
                input: input[i],
                kernel: kernel[i],
                stride: strides[i],
                dilation: dilations[i],
                pad_begin: pads[i],
                output: (padded - span) / strides[i] + 1,
            })
        })
        .collect()
}

/// SAME padding: output = ceil(input / stride); the odd pad goes at the end (UPPER) or start.
fn same_pads(
    input: &[usize],
    kernel: &[usize],
    strides: &[usize],
    dilations: &[usize],
    upper: bool,
) -> Vec<usize> {
    let r = input.len();
    let mut pads = vec![0; 2 * r];
    for i in 0..r {
        let out = input[i].div_ceil(strides[i]);
        let span = dilations[i]
            .saturating_mul(kernel[i].max(1) - 1)
            .saturating_add(1);
        let total = ((out.max(1) - 1)
            .saturating_mul(strides[i])
            .saturating_add(span))
        .saturating_sub(input[i]);
        let (small, large) = (total / 2, total - total / 2);
        (pads[i], pads[i + r]) = if upper {
            (small, large)
        } else {
            (large, small)
        };
    }
    pads
}

/// Fill `col[(ch*kh + ki)*kw + kj][oy*ow + ox]` with the input pixel under each kernel tap (0 in
/// the padding).
fn im2col(x: &[f32], channels: usize, h: Axis, w: Axis, col: &mut [f32]) {
    let plane = h.output * w.output;
    let mut row = 0;
    for ch in 0..channels {
        let img = &x[ch * h.input * w.input..(ch + 1) * h.input * w.input];
        for ki in 0..h.kernel {
            for kj in 0..w.kernel {
                let dst = &mut col[row * plane..(row + 1) * plane];
                for oy in 0..h.output {
                    let iy = (oy * h.stride + ki * h.dilation) as isize - h.pad_begin as isize;
                    for ox in 0..w.output {
                        let ix = (ox * w.stride + kj * w.dilation) as isize - w.pad_begin as isize;
                        let inside = (0..h.input as isize).contains(&iy)
                            && (0..w.input as isize).contains(&ix);
                        dst[oy * w.output + ox] = if inside {
                            img[iy as usize * w.input + ix as usize]
                        } else {
                            0.0
                        };
                    }
                }
                row += 1;
            }
        }
    }
}
