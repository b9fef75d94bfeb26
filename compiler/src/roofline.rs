//! What a compiled module needs, for the roofline (`sofa_ir::hw::roofline`): the work of each
//! attention op, and for a whole model also its GEMMs, the weights they read and the outputs
//! it writes. Read from the IR's shapes, not from the program's instructions, so the bound
//! does not move with the schedule; the program is consulted only for which ops run on the
//! host (their work is not the chip's). `docs/roofline.md` defines every figure.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use sofa_ir::dialect::attn::{AttnShape, SparseMhaAttrs, SPARSE_MHA};
use sofa_ir::dialect::sofa::attention_kind;
use sofa_ir::hw::roofline::{AttnWork, LayerWork, RooflineWork, Work};
use sofa_ir::hw::{CostError, HwConfig};
use sofa_ir::isa::{DType, Program, TensorKind};
use sofa_ir::{Location, Module, Op, Value};

use crate::lower::model::kv_projection_matmuls;
use crate::lower::{entry_function, LowerError};

/// Why a module's work could not be counted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RooflineError {
    #[error("{op} at {loc}: {message}")]
    Op {
        op: String,
        loc: String,
        message: String,
    },
    #[error("roofline: {0}")]
    Cost(#[from] CostError),
    #[error(transparent)]
    Lower(#[from] LowerError),
}

/// Contraction ops whose MACs run on the K/V PE array.
const CONTRACTIONS: [&str; 5] = [
    "onnx.MatMul",
    "onnx.MatMulInteger",
    "onnx.Gemm",
    "onnx.Conv",
    "onnx.ConvInteger",
];

/// A layer's name: its location; a fused location by the path its parts share
/// (`/model/encoder/layer.0/attention/self`), else by its last part (the attention node of a
/// dynamo export, `node_scaled_dot_product_attention_1`).
fn loc_name(loc: &Location, index: usize) -> String {
    match loc {
        Location::Name(n) => n.clone(),
        Location::Fused(parts) => {
            let names: Vec<String> = parts.iter().map(|p| loc_name(p, index)).collect();
            common_path(&names)
                .or_else(|| names.last().cloned())
                .unwrap_or_else(|| format!("attention{index}"))
        }
        _ => format!("attention{index}"),
    }
}

/// The `/`-separated path every name starts with, when it has more than the root.
fn common_path(names: &[String]) -> Option<String> {
    let first = names.first()?;
    let mut len = first.len();
    for n in &names[1..] {
        len = first
            .bytes()
            .zip(n.bytes())
            .take(len)
            .take_while(|(a, b)| a == b)
            .count();
    }
    let cut = first.get(..len)?.rfind('/')?;
    let path = &first[..cut];
    (path.len() > 1).then(|| path.to_string())
}

fn op_error(m: &Module, op: Op, message: impl ToString) -> RooflineError {
    RooflineError::Op {
        op: m.op(op).name.clone(),
        loc: loc_name(&m.op(op).loc, 0),
        message: message.to_string(),
    }
}

/// The attention ops of `m` (or their kernels), in body order.
fn attention_ops(m: &Module) -> Vec<Op> {
    m.all_ops()
        .into_iter()
        .filter(|&o| attention_kind(m, o).is_some())
        .collect()
}

/// The work of attention op `op`: its shape, its keep ratio (1 for `attn.mha`), and whether
/// q, k and v are function arguments (then read from DRAM, and the output written there).
pub fn attention_work(m: &Module, op: Op) -> Result<AttnWork, RooflineError> {
    let shape = AttnShape::of(m, op).map_err(|e| op_error(m, op, e))?;
    let keep = match attention_kind(m, op) {
        Some(SPARSE_MHA) => {
            SparseMhaAttrs::from_dict(&m.op(op).attrs)
                .map_err(|e| op_error(m, op, e))?
                .keep_ratio
        }
        _ => 1.0,
    };
    let (_, entry) = entry_function(m)?;
    let args = &m.blocks[entry].args;
    let in_dram = m.op(op).operands.iter().take(3).all(|v| args.contains(v));
    Ok(AttnWork::of(&shape, keep, in_dram)?)
}

/// Each attention op's name and work, in body order.
fn layers(m: &Module, hw: &HwConfig) -> Result<Vec<(Op, AttnWork, LayerWork)>, RooflineError> {
    attention_ops(m)
        .into_iter()
        .enumerate()
        .map(|(i, op)| {
            let a = attention_work(m, op)?;
            let work = a.work(hw)?;
            let name = loc_name(&m.op(op).loc, i);
            Ok((op, a, LayerWork { name, work }))
        })
        .collect()
}

/// The roofline work of an attention-only module (a workload spec): its layers, and the
/// program as their sum.
pub fn workload_work(m: &Module, hw: &HwConfig) -> Result<RooflineWork, RooflineError> {
    let layers: Vec<LayerWork> = layers(m, hw)?.into_iter().map(|(_, _, l)| l).collect();
    let program = Work::sum(layers.iter().map(|l| &l.work))?;
    Ok(RooflineWork { layers, program })
}

/// The roofline work of a whole model lowered to `program`: its attention layers, plus for the
/// program the GEMM MACs, the weights they read once and the outputs written once, of the ops
/// the chip runs (the host-op table names those it does not).
pub fn model_work(
    m: &Module,
    program: &Program,
    hw: &HwConfig,
) -> Result<RooflineWork, RooflineError> {
    let attn = layers(m, hw)?;
    let host: BTreeSet<&str> = program.host_ops.iter().map(|h| h.name.as_str()).collect();
    let reduced = reduced_projections(m, hw, &attn)?;
    let (_, entry) = entry_function(m)?;
    let mut gemm = Work::default();
    let mut weights: BTreeSet<Value> = BTreeSet::new();
    for &op in &m.blocks[entry].ops {
        let d = m.op(op);
        if !CONTRACTIONS.contains(&d.name.as_str()) || host.contains(loc_name(&d.loc, 0).as_str()) {
            continue;
        }
        let macs = match reduced.get(&op) {
            Some(&macs) => macs,
            None => {
                contraction_macs(m, op).ok_or_else(|| op_error(m, op, "needs static shapes"))?
            }
        };
        gemm.kvpe_macs = gemm
            .kvpe_macs
            .checked_add(macs)
            .ok_or(CostError::Overflow("GEMM MACs"))?;
        if let Some(&w) = d.operands.get(1) {
            if is_constant(m, w) && weights.insert(w) {
                gemm.dram_read = gemm
                    .dram_read
                    .checked_add(value_bytes(m, w).unwrap_or(0))
                    .ok_or(CostError::Overflow("weight bytes"))?;
            }
        }
    }
    gemm.dram_written = chip_output_bytes(program)?;
    let layers: Vec<LayerWork> = attn.into_iter().map(|(_, _, l)| l).collect();
    let program = Work::sum(layers.iter().map(|l| &l.work).chain([&gemm]))?;
    Ok(RooflineWork { layers, program })
}

/// The instruction range of each layer of `work`: `ranges` gives the lowered attention ops'
/// (an op the lowering dropped has an empty range at 0).
pub fn layer_ranges(m: &Module, ranges: &[(Op, Range<usize>)]) -> Vec<Range<usize>> {
    let by_op: BTreeMap<Op, Range<usize>> = ranges.iter().cloned().collect();
    attention_ops(m)
        .into_iter()
        .map(|op| by_op.get(&op).cloned().unwrap_or(0..0))
        .collect()
}

/// MACs of the K/V projections a selection needs: of `X[B, S, hidden] · W[hidden, cols]`
/// only the rows of the keys some query selects (`AttnWork::kv_rows_needed`), by `MatMul`.
fn reduced_projections(
    m: &Module,
    hw: &HwConfig,
    attn: &[(Op, AttnWork, LayerWork)],
) -> Result<BTreeMap<Op, u64>, RooflineError> {
    let projections = kv_projection_matmuls(m)?;
    let mut out = BTreeMap::new();
    for (op, a, _) in attn {
        let Some(mms) = projections.get(op) else {
            continue;
        };
        let rows = a.kv_rows_needed(hw)?;
        for &mm in mms {
            let (Some(x), Some(w)) = (operand_dims(m, mm, 0), operand_dims(m, mm, 1)) else {
                continue;
            };
            let (Some(&b), Some(&hidden), Some(&cols)) = (x.first(), w.first(), w.last()) else {
                continue;
            };
            let macs = [b, rows, hidden, cols]
                .iter()
                .try_fold(1u64, |acc, &v| acc.checked_mul(v))
                .ok_or(CostError::Overflow("projection MACs"))?;
            out.insert(mm, macs);
        }
    }
    Ok(out)
}

fn dims_of(m: &Module, v: Value) -> Option<Vec<u64>> {
    let t = m.value_type(v).as_tensor()?;
    t.dims.iter().map(|d| d.as_static()).collect()
}

fn operand_dims(m: &Module, op: Op, i: usize) -> Option<Vec<u64>> {
    dims_of(m, *m.op(op).operands.get(i)?)
}

fn numel(dims: &[u64]) -> Option<u64> {
    dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d))
}

/// MACs of one contraction: output elements × reduction depth (`None` for dynamic shapes).
fn contraction_macs(m: &Module, op: Op) -> Option<u64> {
    let d = m.op(op);
    let out = numel(&dims_of(m, *d.results.first()?)?)?;
    let a = operand_dims(m, op, 0)?;
    let depth = match d.name.as_str() {
        "onnx.Gemm" => {
            let trans_a = d.attrs.get("transA").and_then(|x| x.as_int()) == Some(1);
            *a.get(usize::from(!trans_a))?
        }
        "onnx.Conv" | "onnx.ConvInteger" => numel(operand_dims(m, op, 1)?.get(1..)?)?,
        _ => *a.last()?,
    };
    out.checked_mul(depth)
}

fn is_constant(m: &Module, v: Value) -> bool {
    m.defining_op(v)
        .is_some_and(|d| m.op(d).name == "onnx.Constant")
}

fn value_bytes(m: &Module, v: Value) -> Option<u64> {
    let t = m.value_type(v).as_tensor()?;
    DType::from_elem(t.elem).bytes_for(numel(&dims_of(m, v)?)?)
}

/// Bytes of the program's outputs the chip writes (not those a host op produces).
fn chip_output_bytes(program: &Program) -> Result<u64, CostError> {
    let by_host: BTreeSet<usize> = program
        .host_ops
        .iter()
        .flat_map(|h| h.results.iter().map(|r| r.tensor as usize))
        .collect();
    program
        .tensors
        .iter()
        .enumerate()
        .filter(|(i, t)| t.kind == TensorKind::Output && !by_host.contains(i))
        .try_fold(0u64, |acc, (_, t)| {
            acc.checked_add(t.byte_len().unwrap_or(0))
                .ok_or(CostError::Overflow("output bytes"))
        })
}
