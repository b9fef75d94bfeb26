//! `HOST` instructions: the program's host ops (ops without a chip lowering) evaluated with the
//! reference kernels of `sofa_ir::eval`, on the DRAM tensors the host-op table names.
//!
//! A functional run reads each operand tensor's bytes from simulated DRAM, builds a host
//! [`Tensor`] of the operand's shape, evaluates the op, checks every result against its
//! declared tensor (element type and shape) and writes the bytes back. Timing-only runs touch
//! no data. Both account the same [`HostWork`] from the table alone: the DRAM bytes crossing the
//! chip–host boundary and the op's multiply-accumulates. Host work takes no chip cycles.

use sofa_ir::eval::{eval_op_n, EvalError, EvalErrorKind, Tensor};
use sofa_ir::isa::{HostArg, HostOp, Program, TensorDecl};
use sofa_ir::types::TensorType;

use super::memory::{Memory, MemoryError};

/// What one host op moves across the boundary and computes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct HostWork {
    /// DRAM bytes the host reads (its operand tensors).
    pub read_bytes: u64,
    /// DRAM bytes the host writes (its result tensors).
    pub written_bytes: u64,
    /// Multiply-accumulates ([`HostOp::macs`]).
    pub macs: u64,
}

/// Why a host op could not run; the caller names the instruction and the op.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub(crate) enum HostOpError {
    #[error("the host-op table has no entry {0}")]
    NoEntry(u32),
    #[error("{what} names tensor #{tensor}, which is not in the table")]
    NoTensor { what: String, tensor: u32 },
    #[error("{what}: tensor '{name}' has no host element type")]
    ElemType { what: String, name: String },
    #[error("{what}: tensor '{name}' overflows the address space")]
    Size { what: String, name: String },
    #[error("{what}: {source}")]
    Memory {
        what: String,
        #[source]
        source: MemoryError,
    },
    #[error("{what}: {source}")]
    Bytes {
        what: String,
        #[source]
        source: EvalErrorKind,
    },
    /// The caller names the op, so only the evaluator's reason is shown.
    #[error("{}", .0.kind)]
    Eval(#[from] EvalError),
    #[error(
        "result {index} is {got_elem} {got_shape:?}, but tensor '{name}' is declared {elem} {shape:?}"
    )]
    Result {
        index: usize,
        got_elem: sofa_ir::ElemType,
        got_shape: Vec<usize>,
        name: String,
        elem: sofa_ir::ElemType,
        shape: Vec<u64>,
    },
}

/// Host op `k` of the table.
pub(crate) fn entry(program: &Program, k: u32) -> Result<&HostOp, HostOpError> {
    program
        .host_ops
        .get(k as usize)
        .ok_or(HostOpError::NoEntry(k))
}

fn decl<'p>(program: &'p Program, a: &HostArg, what: &str) -> Result<&'p TensorDecl, HostOpError> {
    program
        .tensors
        .get(a.tensor as usize)
        .ok_or_else(|| HostOpError::NoTensor {
            what: what.into(),
            tensor: a.tensor,
        })
}

fn bytes_of(t: &TensorDecl, what: &str) -> Result<u64, HostOpError> {
    t.byte_len().ok_or_else(|| HostOpError::Size {
        what: what.into(),
        name: t.name.clone(),
    })
}

/// The boundary traffic and MACs of host op `h` (no data needed).
pub(crate) fn work(program: &Program, h: &HostOp) -> Result<HostWork, HostOpError> {
    let mut w = HostWork {
        macs: h.macs(),
        ..HostWork::default()
    };
    for (k, a) in h.operands.iter().enumerate() {
        if let Some(a) = a {
            let what = format!("operand {k}");
            let n = bytes_of(decl(program, a, &what)?, &what)?;
            w.read_bytes = w.read_bytes.saturating_add(n);
        }
    }
    for (k, a) in h.results.iter().enumerate() {
        let what = format!("result {k}");
        let n = bytes_of(decl(program, a, &what)?, &what)?;
        w.written_bytes = w.written_bytes.saturating_add(n);
    }
    Ok(w)
}

/// Read operand `a` from DRAM as a host tensor of its shape.
fn read_operand(
    program: &Program,
    mem: &Memory,
    a: &HostArg,
    what: &str,
) -> Result<Tensor, HostOpError> {
    let t = decl(program, a, what)?;
    let elem = t.dtype.to_elem().ok_or_else(|| HostOpError::ElemType {
        what: what.into(),
        name: t.name.clone(),
    })?;
    let bytes = mem.read_tensor(t).map_err(|source| HostOpError::Memory {
        what: what.into(),
        source,
    })?;
    Tensor::from_bytes(&TensorType::static_shape(&a.shape, elem), &bytes).map_err(|source| {
        HostOpError::Bytes {
            what: what.into(),
            source,
        }
    })
}

/// Write result `index` of the evaluation to its tensor, after checking its type and shape.
fn write_result(
    program: &Program,
    mem: &mut Memory,
    index: usize,
    a: &HostArg,
    value: &Tensor,
) -> Result<(), HostOpError> {
    let what = format!("result {index}");
    let t = decl(program, a, &what)?;
    let elem = t.dtype.to_elem().ok_or_else(|| HostOpError::ElemType {
        what: what.clone(),
        name: t.name.clone(),
    })?;
    let same_shape = value.shape().len() == a.shape.len()
        && value
            .shape()
            .iter()
            .zip(&a.shape)
            .all(|(&g, &d)| g as u64 == d);
    if value.elem() != elem || !same_shape {
        return Err(HostOpError::Result {
            index,
            got_elem: value.elem(),
            got_shape: value.shape().to_vec(),
            name: t.name.clone(),
            elem,
            shape: a.shape.clone(),
        });
    }
    mem.write_tensor(t, &value.to_bytes())
        .map_err(|source| HostOpError::Memory { what, source })
}

/// Run host op `h` on the data in `mem`.
pub(crate) fn run(program: &Program, h: &HostOp, mem: &mut Memory) -> Result<(), HostOpError> {
    let inputs = h
        .operands
        .iter()
        .enumerate()
        .map(|(k, a)| match a {
            Some(a) => read_operand(program, mem, a, &format!("operand {k}")).map(Some),
            None => Ok(None),
        })
        .collect::<Result<Vec<Option<Tensor>>, HostOpError>>()?;
    let refs: Vec<Option<&Tensor>> = inputs.iter().map(Option::as_ref).collect();
    let outputs = eval_op_n(
        &h.op,
        &h.attrs,
        &refs,
        i64::from(h.opset),
        Some(h.results.len()),
    )?;
    for (index, (a, value)) in h.results.iter().zip(&outputs).enumerate() {
        write_result(program, mem, index, a, value)?;
    }
    Ok(())
}
