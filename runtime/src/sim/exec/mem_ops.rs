//! Data movement: `LD`, `ST`, `GATHER` (DRAM ↔ SRAM) and `COPY` (SRAM → SRAM).
//!
//! Bytes are moved verbatim, whatever they encode. `Program::check` bounds every static range by
//! the SRAM sizes and `dram.capacity_bytes`; DRAM here only reaches the end of the last tensor,
//! and GATHER's row addresses depend on data, so DRAM ranges are checked on every access: a
//! gathered row must lie inside the tensor that holds `src` (an embedding row past the
//! vocabulary is an error naming the tensor and the index, never the neighbour's bytes).

use sofa_ir::hw::DynamicCounts;
use sofa_ir::isa::{DramAddr, SramRef};

use super::data::{live, mul, read_list};
use super::{Done, ExecError};
use crate::sim::memory::{sram_range, Memory, TensorSpan};

/// `rows` rows of `row_bytes` between DRAM (rows `stride` apart from `dram`) and a contiguous
/// SRAM buffer; `to_sram` picks the direction.
fn move_rows(
    mem: &mut Memory,
    sram: SramRef,
    dram: DramAddr,
    (rows, row_bytes, stride): (u32, u32, u32),
    to_sram: bool,
) -> Result<(), ExecError> {
    let rb = row_bytes as usize;
    let (dram_mem, sram_buf) = mem.dram_and_sram(sram.space);
    let total = sram_range(sram, mul(rows as usize, rb)?, sram_buf.len())?;
    for r in 0..u64::from(rows) {
        // rows·stride < 2^64 and the addition is checked.
        let addr = dram
            .0
            .checked_add(r * u64::from(stride))
            .ok_or(ExecError::RowAddress(r))?;
        let s = total.start + r as usize * rb;
        if to_sram {
            sram_buf[s..s + rb].copy_from_slice(&dram_mem.read(addr, rb)?);
        } else {
            dram_mem
                .write(addr, rb)?
                .copy_from_slice(&sram_buf[s..s + rb]);
        }
    }
    Ok(())
}

/// `LD`: DRAM rows (any stride, 0 broadcasts one row) → contiguous SRAM.
pub(super) fn ld(
    mem: &mut Memory,
    dst: SramRef,
    src: DramAddr,
    shape: (u32, u32, u32),
) -> Result<Done, ExecError> {
    move_rows(mem, dst, src, shape, true)?;
    Ok(Done::default())
}

/// `ST`: contiguous SRAM → DRAM rows.
pub(super) fn st(
    mem: &mut Memory,
    dst: DramAddr,
    src: SramRef,
    shape: (u32, u32, u32),
) -> Result<Done, ExecError> {
    move_rows(mem, src, dst, shape, false)?;
    Ok(Done::default())
}

/// `GATHER`: row i of `dst` ← `row_bytes` at `src + idx[i]·stride`; `NO_INDEX` rows untouched.
pub(super) fn gather(
    mem: &mut Memory,
    dst: SramRef,
    src: DramAddr,
    idx: SramRef,
    (max_rows, row_bytes, stride): (u32, u32, u32),
) -> Result<Done, ExecError> {
    let list = read_list(mem, idx, max_rows.into(), "idx")?;
    let span = mem.tensor_at(src.0).ok_or(ExecError::GatherSource(src.0))?;
    let rows = rows_in(span, src.0, row_bytes, stride);
    if let Some((row, index)) = live(&list).find(|&(_, e)| u64::from(e) >= rows) {
        return Err(ExecError::GatherOutOfTensor {
            row,
            index,
            tensor: span.name.clone(),
            shape: span.shape.clone(),
            rows,
            row_bytes,
            stride,
            src: src.0,
        });
    }
    let rb = row_bytes as usize;
    let (dram_mem, sram_buf) = mem.dram_and_sram(dst.space);
    let total = sram_range(dst, mul(max_rows as usize, rb)?, sram_buf.len())?;
    let mut fetched = 0u64;
    for (i, e) in live(&list) {
        let addr = u64::from(e)
            .checked_mul(stride.into())
            .and_then(|o| src.0.checked_add(o));
        let row = addr.and_then(|a| dram_mem.read(a, rb).ok());
        let Some(row) = row else {
            return Err(ExecError::GatherRow {
                row: i,
                index: e,
                stride,
                src: src.0,
                dram: dram_mem.len(),
            });
        };
        let s = total.start + i * rb;
        sram_buf[s..s + rb].copy_from_slice(&row);
        fetched += 1;
    }
    Ok(Done::rows(fetched))
}

/// How many rows of `row_bytes`, `stride` apart from `src`, lie inside `span` (every index
/// when the stride is 0 and one row fits).
fn rows_in(span: &TensorSpan, src: u64, row_bytes: u32, stride: u32) -> u64 {
    let room = span.end.saturating_sub(src);
    match room.checked_sub(row_bytes.into()) {
        None => 0,
        Some(_) if stride == 0 => u64::MAX,
        Some(rest) => rest / u64::from(stride) + 1,
    }
}

/// `COPY`: `bytes` from `src` to `dst`, overlapping ranges allowed (memmove).
pub(super) fn copy(
    mem: &mut Memory,
    dst: SramRef,
    src: SramRef,
    bytes: u32,
) -> Result<Done, ExecError> {
    let n = bytes as usize;
    if src.space == dst.space {
        let buf = mem.sram_mut(src.space);
        let s = sram_range(src, n, buf.len())?;
        let d = sram_range(dst, n, buf.len())?;
        buf.copy_within(s, d.start);
    } else if let Some((from, to)) = mem.split_spaces(src.space, dst.space) {
        let s = sram_range(src, n, from.len())?;
        let d = sram_range(dst, n, to.len())?;
        to[d].copy_from_slice(&from[s]);
    }
    Ok(Done::default())
}

impl Done {
    /// A result whose only run-time count is the rows processed.
    pub(super) fn rows(rows: u64) -> Done {
        Done {
            counts: DynamicCounts {
                rows: Some(rows),
                rescales: 0,
            },
            ..Done::default()
        }
    }
}
