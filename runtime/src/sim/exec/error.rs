//! Run-time errors of one instruction's execution; the driver adds the instruction index.

use sofa_ir::isa::{DType, Opcode, OperandOverflow, SramRef};

use crate::sim::memory::MemoryError;

/// Why an instruction could not execute on the data it found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Memory(#[from] MemoryError),
    #[error(transparent)]
    Operand(#[from] OperandOverflow),
    #[error("{n} elements of {dt} overflow the address space")]
    ByteLen { n: usize, dt: DType },
    #[error("size {0} × {1} overflows the address space")]
    Size(usize, usize),
    #[error("operation count overflows 64 bits")]
    OpCount,
    /// An index list whose count exceeds the room its buffer has.
    #[error(
        "index list `{role}` at {}[{:#x}] holds {count} entries, more than its bound {max}",
        at.space,
        at.offset
    )]
    ListCount {
        role: &'static str,
        at: SramRef,
        count: u32,
        max: u64,
    },
    #[error("{instr} cannot operate on 4-bit {dt} elements")]
    Lz4 { instr: &'static str, dt: DType },
    #[error("{} is not a vector or control instruction", .0.mnemonic())]
    NotVector(Opcode),
    #[error("DRAM address of row {0} overflows 64 bits")]
    RowAddress(u64),
    #[error(
        "GATHER row {row}: index {index} × stride {stride} from {src:#x} lies outside the \
         program's DRAM tensors (DRAM in use: {dram:#x} bytes)"
    )]
    GatherRow {
        row: usize,
        index: u32,
        stride: u32,
        src: u64,
        dram: usize,
    },
    /// A gathered row past the end of the tensor the GATHER reads (`rows` valid indices).
    #[error(
        "index {index} (list entry {row}) is out of range for tensor '{tensor}' {shape:?}: it \
         has {rows} row(s) of {row_bytes} bytes, {stride} bytes apart, from {src:#x}"
    )]
    GatherOutOfTensor {
        row: usize,
        index: u32,
        tensor: String,
        shape: Vec<u64>,
        rows: u64,
        row_bytes: u32,
        stride: u32,
        src: u64,
    },
    #[error("GATHER source {0:#x} lies in no tensor of the program")]
    GatherSource(u64),
    /// `execute` has no host-op table; `sim::simulate` runs HOST instructions.
    #[error("HOST op={0} runs on the host through the program's host-op table, not on an engine")]
    HostOp(u32),
    #[error("SADS index base {base} + column {column} overflows u32")]
    SadsIndex { base: u32, column: u32 },
    #[error(
        "RASS found {keys} distinct keys, more than the order list's bound min(n, rows·sel) = \
         {bound} (idx holds keys from outside one {n}-key tile)"
    )]
    RassKeys { keys: usize, bound: usize, n: u32 },
    #[error("SUFA.T row {row}: slot {slot} is not below `slots` {slots}")]
    SufaSlot {
        row: usize,
        slot: usize,
        slots: usize,
    },
    #[error(
        "SUFA.BIAS row {row}: key index {index} is outside the bias columns [{base}, {base} + {n})"
    )]
    BiasIndex {
        row: usize,
        index: u32,
        base: u32,
        n: u32,
    },
    #[error(
        "SUFA.T attends {}×{} entries, but the pending SUFA.BIAS (instr #{prefix}) gathered {}×{}",
        tile.0, tile.1, bias.0, bias.1
    )]
    BiasShape {
        prefix: usize,
        bias: (usize, usize),
        tile: (usize, usize),
    },
    #[error("VEC.ROPE row {row}: position {pos} is not below table_rows {table_rows}")]
    RopePosition {
        row: usize,
        pos: u32,
        table_rows: u32,
    },
}
