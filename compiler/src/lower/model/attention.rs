//! `attn.mha` / `attn.sparse_mha` inside a model: operands in the layout the attention segment
//! expects, the mask, then the segment itself (`plan_layer` + `emit_segment`).
//!
//! - q, k, v become dense `[B, H, S, D]` tensors named `<layer>.q`, `.k`, `.v` (the simulator
//!   classifies traffic by these suffixes): a dense scratch tensor the operand owns is renamed,
//!   anything else (a transposed or split view) is copied.
//! - The output is a fresh `<layer>.out` tensor.
//! - The mask becomes an f32 `[mb, mh, mq, Sk]` tensor (the mask's own broadcast shape, keys
//!   as its last dim; stride-0 dims become zero [`MaskRef`] strides), by what it is
//!   ([`sofa_ir::dialect::attn::mask`]): the exporters' `Where(cond, 0, c ≤ −1e30)` and bool
//!   masks (true = keep) are lowered to `VEC.SELECT(cond, 0, −inf)` into `<layer>.mask`; a
//!   float constant becomes a `const` tensor (values ≤ −1e30 as −inf); a float mask known
//!   only at run time is loaded in place when it is a dense f32 tensor of that shape, else
//!   copied (and converted) into `<layer>.mask`. Only the last two can hold a score bias
//!   (`Layer::biased`), which the segment adds to the exact scores too. Masks shared by several
//!   layers are built once.

use sofa_ir::dialect::attn::mask::{where_exclusion_cond, EXCLUDE};
use sofa_ir::eval::Tensor;
use sofa_ir::isa::{DType, TensorKind};
use sofa_ir::Value;

use super::elementwise::emit_select;
use super::kvfuse::KvProjections;
use super::movement::copy_view;
use super::view::View;
use super::{Ctx, OpRef};
use crate::lower::sofa_level::check_kernel;
use crate::lower::{emit_segment, plan_layer, KvGenDram, Layer, LowerError, MaskRef};

pub fn attention(ctx: &mut Ctx<'_>, o: &OpRef) -> Result<(), LowerError> {
    let index = ctx.attn_count;
    ctx.attn_count += 1;
    if ctx.m.op(o.op).name == sofa_ir::dialect::sofa::KERNEL {
        check_kernel(ctx.m, o.op, ctx.hw, ctx.defaults)?;
    }
    let mut layer = plan_layer(ctx.m, o.op, index, ctx.hw, ctx.defaults)?;
    layer.name = ctx.layer_base(&layer.name);
    let operands = ctx.m.op(o.op).operands.clone();
    let dt = layer.shape.dt;
    layer.dram.q = ctx.dense_named(o, operands[0], &format!("{}.q", layer.name), dt)?;
    if layer.plan.kv_gen.is_some() && !ctx.kv_fused.contains_key(&o.op) {
        return Err(o.err("sofa.kv = \"on-demand\" but K and V are not projections of one input"));
    }
    if let Some(src) = ctx.kv_fused.get(&o.op).cloned() {
        layer.plan.kv_gen = Some(src.plan());
        layer.dram.kv_gen = Some(kv_dram(ctx, o, &layer, &src)?);
        // The on-demand buffers may change the best tile count.
        crate::lower::buffers::default_tiles(ctx.hw, &mut layer);
    } else {
        layer.dram.k = ctx.dense_named(o, operands[1], &format!("{}.k", layer.name), dt)?;
        layer.dram.v = ctx.dense_named(o, operands[2], &format!("{}.v", layer.name), dt)?;
    }
    if let Some(&mv) = operands.get(3) {
        if ctx.m.value_type(mv).as_tensor().is_some() {
            layer.dram.mask = Some(mask_ref(ctx, o, &layer, mv)?);
        }
    }
    let (_, shape) = ctx.shape_of(o, ctx.result(o, 0)?)?;
    let out_name = format!("{}.out", layer.name);
    let out = ctx
        .add_tensor(out_name, TensorKind::Scratch, dt, shape)
        .map_err(|e| o.err(e))?;
    layer.dram.o = out.base;
    let r = ctx.result(o, 0)?;
    ctx.bind(r, out);
    let before = ctx.dram.tensors.len();
    emit_segment(ctx.hw, &layer, &mut ctx.dram, &mut ctx.out)?;
    // Keep the segment's own tensors (spills, tables) out of later names.
    let added: Vec<String> = ctx.dram.tensors[before..]
        .iter()
        .map(|t| t.name.clone())
        .collect();
    ctx.names.extend(added);
    Ok(())
}

/// DRAM addresses of the layer input and the K/V weights of an on-demand layer.
fn kv_dram(
    ctx: &mut Ctx<'_>,
    o: &OpRef,
    layer: &Layer,
    src: &KvProjections,
) -> Result<KvGenDram, LowerError> {
    let x = ctx.view(o, src.x)?;
    let x = if x.dt == layer.shape.dt && x.is_contiguous() {
        x.base
    } else {
        let name = format!("{}.x", layer.name);
        ctx.dense_named(o, src.x, &name, layer.shape.dt)?
    };
    let mut dense = |v: Value, what: &str| -> Result<u64, LowerError> {
        let view = ctx.view(o, v)?;
        if view.dt != layer.shape.dt || !view.is_contiguous() {
            return Err(o.err(format!(
                "on-demand K/V: the {what} is not a dense {} tensor",
                layer.shape.dt
            )));
        }
        Ok(view.base)
    };
    Ok(KvGenDram {
        x,
        wk: dense(src.k.w, "K weight")?,
        wv: dense(src.v.w, "V weight")?,
        w_cols: layer.shape.kv_heads * layer.shape.head_dim,
        bk: src.k.bias.map(|b| dense(b, "K bias")).transpose()?,
        bv: src.v.bias.map(|b| dense(b, "V bias")).transpose()?,
    })
}

impl Ctx<'_> {
    /// A layer name whose `.q`, `.k`, `.v`, `.out`, `.mask` tensors are all free (reserved).
    fn layer_base(&mut self, name: &str) -> String {
        let suffixes = ["q", "k", "v", "out", "mask"];
        let mut base = name.to_string();
        let mut k = 1;
        while suffixes
            .iter()
            .any(|s| self.names.contains(&format!("{base}.{s}")))
        {
            base = format!("{name}#{k}");
            k += 1;
        }
        for s in suffixes {
            self.names.insert(format!("{base}.{s}"));
        }
        base
    }

    /// DRAM address of `v` as a dense tensor of type `dt` named `name` (renamed in place when
    /// `v` owns such a scratch tensor, else copied).
    fn dense_named(
        &mut self,
        o: &OpRef,
        v: Value,
        name: &str,
        dt: DType,
    ) -> Result<u64, LowerError> {
        let view = self.view(o, v)?;
        if let Some(t) = self.owned_scratch(v) {
            let decl = &self.dram.tensors[t];
            if view.dt == dt
                && view.is_contiguous()
                && decl.dram == view.base
                && decl.shape == view.shape
            {
                self.dram.tensors[t].name = name.to_string();
                self.fresh.remove(&v);
                return Ok(view.base);
            }
        }
        let copy = self
            .add_tensor(
                name.to_string(),
                TensorKind::Scratch,
                dt,
                view.shape.clone(),
            )
            .map_err(|e| o.err(e))?;
        copy_view(self, o, &view, &copy)?;
        Ok(copy.base)
    }
}

/// The `[mb, mh, mq, Sk]` shape of a mask operand of shape `shape` for this layer.
fn mask_shape(layer: &crate::lower::Layer, shape: &[u64]) -> Option<Vec<u64>> {
    if shape.len() > 4 {
        return None;
    }
    let mut s = vec![1; 4 - shape.len()];
    s.extend_from_slice(shape);
    let full = [
        layer.shape.batch,
        layer.shape.heads,
        layer.shape.seq_q,
        layer.shape.seq_k,
    ];
    if s.iter().zip(full).any(|(&d, f)| d != 1 && d != f) {
        return None;
    }
    s[3] = layer.shape.seq_k;
    Some(s)
}

fn mask_ref(
    ctx: &mut Ctx<'_>,
    o: &OpRef,
    layer: &crate::lower::Layer,
    mv: Value,
) -> Result<MaskRef, LowerError> {
    if let Some(&m) = ctx.masks.get(&mv) {
        return Ok(m);
    }
    let (mdt, mshape) = ctx.shape_of(o, mv)?;
    let shape = mask_shape(layer, &mshape)
        .ok_or_else(|| o.err(format!("mask {mshape:?} does not broadcast to the scores")))?;
    let name = format!("{}.mask", layer.name);
    let cond = match mdt {
        DType::I1 => Some(mv),
        _ => where_exclusion_cond(ctx.m, mv),
    };
    let view = match (ctx.const_value(mv).filter(|_| mdt.is_float()), cond) {
        (Some(t), _) => const_mask(ctx, o, &t, &mshape, &shape, name)?,
        (None, Some(cond)) => exclusion_mask(ctx, o, cond, &shape, name)?,
        (None, None) => run_time_mask(ctx, o, mv, &shape, name)?,
    };
    let f = 4u64;
    let m = MaskRef {
        dram: view.base,
        batch_stride: if shape[0] > 1 {
            shape[1] * shape[2] * shape[3] * f
        } else {
            0
        },
        head_stride: if shape[1] > 1 {
            shape[2] * shape[3] * f
        } else {
            0
        },
        row_stride: if shape[2] > 1 { shape[3] * f } else { 0 },
    };
    ctx.masks.insert(mv, m);
    Ok(m)
}

/// `VEC.SELECT(cond, 0, −inf)` into a new f32 tensor of `shape`.
fn exclusion_mask(
    ctx: &mut Ctx<'_>,
    o: &OpRef,
    cond: Value,
    shape: &[u64],
    name: String,
) -> Result<View, LowerError> {
    let cv = ctx.view(o, cond)?;
    let cond_view = View {
        shape: [vec![1; 4 - cv.rank().min(4)], cv.shape.clone()].concat(),
        strides: [vec![0; 4 - cv.rank().min(4)], cv.strides.clone()].concat(),
        ..cv
    }
    .broadcast_to(shape)
    .ok_or_else(|| o.err("the mask condition does not broadcast to the mask"))?;
    let out = ctx
        .add_tensor(name, TensorKind::Scratch, DType::F32, shape.to_vec())
        .map_err(|e| o.err(e))?;
    let zeros = ctx
        .splat_view(DType::F32, 0.0, shape)
        .map_err(|e| o.err(e))?;
    let minus_inf = ctx
        .splat_view(DType::F32, f64::NEG_INFINITY, shape)
        .map_err(|e| o.err(e))?;
    emit_select(ctx, o, cond_view, zeros, minus_inf, &out)?;
    Ok(out)
}

/// A float mask known only at run time (a score bias, whatever it holds): the operand itself
/// when it is a dense f32 tensor of `shape`, else a copy converted to one.
fn run_time_mask(
    ctx: &mut Ctx<'_>,
    o: &OpRef,
    mv: Value,
    shape: &[u64],
    name: String,
) -> Result<View, LowerError> {
    let view = ctx
        .view(o, mv)?
        .broadcast_to(shape)
        .ok_or_else(|| o.err("the mask does not broadcast"))?;
    if view.dt == DType::F32 && view.is_contiguous() {
        return Ok(view);
    }
    let out = ctx
        .add_tensor(name, TensorKind::Scratch, DType::F32, shape.to_vec())
        .map_err(|e| o.err(e))?;
    copy_view(ctx, o, &view, &out)?;
    Ok(out)
}

/// A mask value as the segment reads it: exclusions (≤ −1e30) as −inf, 0 as +0, the rest
/// (a bias) as f32.
fn mask_value(x: f64) -> f32 {
    if x == 0.0 {
        0.0
    } else if x <= EXCLUDE {
        f32::NEG_INFINITY
    } else {
        x as f32
    }
}

/// A constant float mask as a `const` tensor of `shape` ([`mask_value`] of each element).
fn const_mask(
    ctx: &mut Ctx<'_>,
    o: &OpRef,
    t: &Tensor,
    mshape: &[u64],
    shape: &[u64],
    name: String,
) -> Result<View, LowerError> {
    let vals = t.to_f64_vec();
    let src = View::contiguous(
        0,
        DType::F32,
        [vec![1; 4 - mshape.len()], mshape.to_vec()].concat(),
    )
    .broadcast_to(shape)
    .ok_or_else(|| o.err("the mask does not broadcast"))?;
    let n: u64 = shape.iter().product();
    let mut data = Vec::with_capacity(n as usize * 4);
    let mut idx = [0u64; 4];
    for _ in 0..n {
        let at = (src.addr_of(&idx) / 4) as usize;
        let x = vals.get(at).copied().unwrap_or(0.0);
        data.extend_from_slice(&mask_value(x).to_le_bytes());
        for k in (0..4).rev() {
            idx[k] += 1;
            if idx[k] < shape[k] {
                break;
            }
            idx[k] = 0;
        }
    }
    ctx.add_const(name, DType::F32, shape.to_vec(), data)
        .map_err(|e| o.err(e))
}
