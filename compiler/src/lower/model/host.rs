//! Host fallback: ops with no chip lowering run on the host, as onnxruntime's execution
//! providers fall back to the CPU and IREE/TVM partitioners leave ops to the host.
//!
//! The dispatcher (`Ctx::lower_op`) sends every op it has no family for here. With
//! `LowerDefaults::host_fallback` the op becomes a host segment: one [`HostOp`] in the
//! program's host-op table and one `HOST` instruction, which the simulator runs with the
//! reference kernels of `sofa_ir::eval` between the chip's segments (DMA order). Each operand
//! is handed over as a whole DRAM tensor: a value that already is one (an input, a constant,
//! an op result, a reshape of one) as is; any other view (a transpose, slice or broadcast) is
//! first copied by the chip into a dense scratch tensor. Results get fresh tensors (the
//! function's outputs when returned). Attributes are copied with dense resources inlined, and
//! the module's opset says which ONNX semantics apply.
//!
//! Without fallback the op is recorded (the lowering fails at the end listing every such op)
//! and only its results are allocated, so the walk goes on and finds the others.

use sofa_ir::attr::{AttrDict, Attribute};
use sofa_ir::eval::{is_supported, module_opset, Tensor};
use sofa_ir::isa::{HostArg, HostOp, Instr};
use sofa_ir::Value;

use super::movement::copy_view;
use super::view::View;
use super::{Ctx, OpRef};
use crate::lower::{LowerError, UnloweredOp};

/// Lower `o`, which has no chip lowering, as a host segment (or record it, without fallback).
pub fn host_op(ctx: &mut Ctx<'_>, o: &OpRef) -> Result<(), LowerError> {
    if !ctx.defaults.host_fallback {
        ctx.unlowered.push(UnloweredOp {
            index: ctx.order.get(&o.op).copied().unwrap_or(0),
            name: o.loc.clone(),
            op: o.kind.clone(),
        });
        return results(ctx, o).map(|_| ());
    }
    if !is_supported(&o.kind) {
        return Err(o.err(format!(
            "{} has no chip lowering and no host kernel (sofa_ir::eval)",
            o.kind
        )));
    }
    if !ctx.m.op(o.op).regions.is_empty() {
        return Err(o.err("ops with regions cannot run on the host"));
    }
    let opset = u16::try_from(module_opset(ctx.m))
        .map_err(|_| o.err("the module's opset does not fit 16 bits"))?;
    let attrs = inline_resources(ctx, o)?;
    let operands = ctx.m.op(o.op).operands.clone();
    let mut args = Vec::with_capacity(operands.len());
    for (k, v) in operands.into_iter().enumerate() {
        args.push(operand(ctx, o, k, v)?);
    }
    let results = results(ctx, o)?;
    let index = u32::try_from(ctx.host_ops.len()).map_err(|_| o.err("too many host ops"))?;
    ctx.host_ops.push(HostOp {
        op: o.kind.clone(),
        name: o.loc.clone(),
        opset,
        attrs,
        operands: args,
        results,
    });
    ctx.out.push(Instr::Host { op: index });
    Ok(())
}

/// The op's attributes with every `dense_resource` replaced by its dense payload (a program
/// has no resource table).
fn inline_resources(ctx: &Ctx<'_>, o: &OpRef) -> Result<AttrDict, LowerError> {
    let mut attrs = ctx.m.op(o.op).attrs.clone();
    for (key, a) in attrs.iter_mut() {
        if let Attribute::DenseResource { .. } = a {
            *a = Tensor::from_attr(a, ctx.m)
                .and_then(|t| t.to_attr())
                .map_err(|e| o.err(format!("attribute '{key}': {e}")))?;
        }
    }
    Ok(attrs)
}

/// Operand `k` as a whole tensor (copied into one when its view is not), `None` when absent.
fn operand(
    ctx: &mut Ctx<'_>,
    o: &OpRef,
    k: usize,
    v: Value,
) -> Result<Option<HostArg>, LowerError> {
    if ctx.m.value_type(v).as_tensor().is_none() {
        return Ok(None);
    }
    let view = ctx.view(o, v)?;
    let tensor = match whole_tensor(ctx, &view) {
        Some(t) => t,
        None => {
            let copy = ctx.scratch(o, &format!("host_in{k}"), view.dt, view.shape.clone())?;
            copy_view(ctx, o, &view, &copy)?;
            ctx.dram.tensors.len() - 1
        }
    };
    Ok(Some(HostArg {
        tensor: tensor_index(o, tensor)?,
        shape: view.shape,
    }))
}

/// The tensor `view` covers exactly, densely and in order, if any.
fn whole_tensor(ctx: &Ctx<'_>, view: &View) -> Option<usize> {
    if !view.is_contiguous() {
        return None;
    }
    let tensors = &ctx.dram.tensors;
    // Tensors are appended at increasing addresses.
    let i = tensors.partition_point(|t| t.dram < view.base);
    let t = tensors.get(i)?;
    let elems = t.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d))?;
    (t.dram == view.base && t.dtype == view.dt && elems == view.numel()).then_some(i)
}

fn tensor_index(o: &OpRef, index: usize) -> Result<u32, LowerError> {
    u32::try_from(index).map_err(|_| o.err("more than 2^32 tensors"))
}

/// Fresh tensors for every result of the op.
fn results(ctx: &mut Ctx<'_>, o: &OpRef) -> Result<Vec<HostArg>, LowerError> {
    let n = ctx.m.op(o.op).results.len();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let (dt, shape) = ctx.shape_of(o, ctx.result(o, i)?)?;
        ctx.new_result(o, i, dt, shape.clone())?;
        out.push(HostArg {
            tensor: tensor_index(o, ctx.dram.tensors.len() - 1)?,
            shape,
        });
    }
    Ok(out)
}
