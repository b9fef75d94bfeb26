//! The `.sofabin` binary format (version 1). All integers little-endian, no alignment padding.
//!
//! ```text
//! header, 24 bytes
//!   0   magic          4 bytes  "SOFA"
//!   4   version        u16      1
//!   6   reserved       u16      0
//!   8   config_hash    u64      HwConfig::hash() of the target
//!   16  tensor_count   u32
//!   20  instr_count    u32
//! tensor table, tensor_count entries, each
//!   name_len u16, name (UTF-8, name_len bytes)
//!   kind u8, dtype u8, rank u8, reserved u8 (0)
//!   dram u64
//!   dims  rank × u64
//!   data_len u64, data (data_len bytes: the initializer of a `const` tensor, else 0 bytes)
//! instructions, instr_count × 32 bytes, each
//!   opcode u8, the fields in the order of the instruction table, zero padding to 32 bytes
//! end of file: nothing may follow the last instruction
//! ```
//!
//! Encoding is a pure function of the [`Program`], so equal programs give identical bytes.
//! Programs that pass [`Program::check`] encode losslessly; limits the format cannot express
//! (a name over 65,535 bytes, rank over 255, more than 2³²−1 tensors or instructions) are
//! reported by `check`, and the encoder saturates rather than panics.

use super::{Program, TensorDecl, FORMAT_VERSION, INSTR_BYTES, MAGIC};

/// Size of the fixed header.
pub const HEADER_BYTES: usize = 24;

/// Encode a whole program.
pub(crate) fn encode_program(p: &Program) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_BYTES + p.instrs.len() * INSTR_BYTES);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&p.config_hash.to_le_bytes());
    out.extend_from_slice(&saturate_u32(p.tensors.len()).to_le_bytes());
    out.extend_from_slice(&saturate_u32(p.instrs.len()).to_le_bytes());
    for t in &p.tensors {
        encode_tensor(t, &mut out);
    }
    for i in &p.instrs {
        encode_instr(i, &mut out);
    }
    out
}

fn saturate_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn encode_tensor(t: &TensorDecl, out: &mut Vec<u8>) {
    let name = t.name.as_bytes();
    let name = &name[..name.len().min(usize::from(u16::MAX))];
    out.extend_from_slice(&(name.len() as u16).to_le_bytes());
    out.extend_from_slice(name);
    let rank = t.shape.len().min(usize::from(u8::MAX));
    out.extend_from_slice(&[t.kind.code(), t.dtype.code(), rank as u8, 0]);
    out.extend_from_slice(&t.dram.to_le_bytes());
    for d in &t.shape[..rank] {
        out.extend_from_slice(&d.to_le_bytes());
    }
    out.extend_from_slice(&(t.data.len() as u64).to_le_bytes());
    out.extend_from_slice(&t.data);
}

/// Append one instruction's 32 bytes.
pub(crate) fn encode_instr(i: &super::Instr, out: &mut Vec<u8>) {
    let start = out.len();
    out.push(i.opcode().code());
    i.put_fields(out);
    out.resize(start + INSTR_BYTES, 0);
}
