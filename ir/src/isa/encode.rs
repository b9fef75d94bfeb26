//! The `.sofabin` binary format (versions 1 and 2). All integers little-endian, no alignment
//! padding.
//!
//! ```text
//! header, 24 bytes (version 1) or 28 bytes (version 2)
//!   0   magic          4 bytes  "SOFA"
//!   4   version        u16      1: no host ops; 2: with the host-op table
//!   6   reserved       u16      0
//!   8   config_hash    u64      HwConfig::hash() of the target
//!   16  tensor_count   u32
//!   20  instr_count    u32
//!   24  host_count     u32      version 2 only; at least 1
//! tensor table, tensor_count entries, each
//!   name_len u16, name (UTF-8, name_len bytes)
//!   kind u8, dtype u8, rank u8, flags u8 (bit 0: weights by reference; other bits 0)
//!   dram u64
//!   dims  rank × u64
//!   without the flag: data_len u64, data (data_len bytes: a `const` tensor's initializer,
//!                     else 0 bytes)
//!   with it (`const` only): file_len u16, file (UTF-8 path, relative to the program's
//!                     directory or absolute), offset u64, checksum u64 (XXH3-64); the
//!                     range's length is the tensor's size
//! host-op table (version 2 only), host_count entries, each
//!   op_len u16, op (UTF-8: the IR op name, `onnx.Floor`)
//!   name_len u16, name (UTF-8: the ONNX node name)
//!   opset u16
//!   attrs_len u32, attrs (UTF-8: the canonical attribute dictionary, `{axis = 1 : i64}`)
//!   operand_count u8, result_count u8
//!   operands, then results, each
//!     tensor u32 (index into the tensor table; 0xffffffff: an absent optional operand)
//!     rank u8, dims rank × u64 (rank 0 for an absent operand)
//! instructions, instr_count × 32 bytes, each
//!   opcode u8, the fields in the order of the instruction table, zero padding to 32 bytes
//! end of file: nothing may follow the last instruction
//! ```
//!
//! Encoding is a pure function of the [`Program`], so equal programs give identical bytes. A
//! program without host ops is written as version 1 (exactly the layout before host ops
//! existed), one with host ops as version 2; the decoder reads both and rejects a version-2
//! file without host ops, so every valid binary has one encoding. Programs that pass
//! [`Program::check`] encode losslessly; limits the format cannot express (a name over 65,535
//! bytes, rank over 255, more than 2³²−1 tensors or instructions, more than 255 operands) are
//! reported by `check`, and the encoder saturates rather than panics.

use super::{HostArg, HostOp, Instr, Program, TensorDecl, FORMAT_VERSION, INSTR_BYTES, MAGIC};

/// Tensor-table flag: the tensor's bytes are a [`super::WeightsRef`], not in the file.
pub const FLAG_WEIGHTS_REF: u8 = 1;

/// Size of the fixed header of version 1 (version 2 adds the 4-byte host-op count).
pub const HEADER_BYTES: usize = 24;

/// The tensor index of an absent optional host-op operand.
pub const NO_TENSOR: u32 = u32::MAX;

/// Encode a whole program.
pub(crate) fn encode_program(p: &Program) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_BYTES + p.instrs.len() * INSTR_BYTES);
    encode_program_to(p, &mut out).expect("writing to a Vec cannot fail");
    out
}

/// Instructions encoded per write: a streamed program never holds its whole encoding.
const INSTRS_PER_WRITE: usize = 1 << 15;

/// Encode a whole program into `w`, a piece at a time (the same bytes as [`encode_program`]).
pub(crate) fn encode_program_to(
    p: &Program,
    w: &mut (impl std::io::Write + ?Sized),
) -> std::io::Result<()> {
    encode_head_to(p, p.instrs.len(), w)?;
    encode_instrs_to(&p.instrs, w)
}

/// The header (saying `instrs` instructions), tensor table and host-op table of `p`: what
/// precedes the instructions.
pub(crate) fn encode_head_to(
    p: &Program,
    instrs: usize,
    w: &mut (impl std::io::Write + ?Sized),
) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(HEADER_BYTES + 4);
    let version = p.format_version();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&p.config_hash.to_le_bytes());
    out.extend_from_slice(&saturate_u32(p.tensors.len()).to_le_bytes());
    out.extend_from_slice(&saturate_u32(instrs).to_le_bytes());
    if version == FORMAT_VERSION {
        out.extend_from_slice(&saturate_u32(p.host_ops.len()).to_le_bytes());
    }
    for t in &p.tensors {
        encode_tensor(t, &mut out);
        w.write_all(&out)?;
        out.clear();
    }
    for h in &p.host_ops {
        encode_host_op(h, &mut out);
    }
    w.write_all(&out)
}

/// Instructions, 32 bytes each, in chunks.
pub(crate) fn encode_instrs_to(
    instrs: &[Instr],
    w: &mut (impl std::io::Write + ?Sized),
) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(INSTRS_PER_WRITE.min(instrs.len()) * INSTR_BYTES);
    for chunk in instrs.chunks(INSTRS_PER_WRITE) {
        for i in chunk {
            encode_instr(i, &mut out);
        }
        w.write_all(&out)?;
        out.clear();
    }
    Ok(())
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
    let flags = if t.weights.is_some() {
        FLAG_WEIGHTS_REF
    } else {
        0
    };
    out.extend_from_slice(&[t.kind.code(), t.dtype.code(), rank as u8, flags]);
    out.extend_from_slice(&t.dram.to_le_bytes());
    for d in &t.shape[..rank] {
        out.extend_from_slice(&d.to_le_bytes());
    }
    match &t.weights {
        Some(w) => {
            encode_str16(&w.file, out);
            out.extend_from_slice(&w.offset.to_le_bytes());
            out.extend_from_slice(&w.checksum.to_le_bytes());
        }
        None => {
            out.extend_from_slice(&(t.data.len() as u64).to_le_bytes());
            out.extend_from_slice(&t.data);
        }
    }
}

/// A length-prefixed (u16) string, cut at 65,535 bytes (on a character boundary).
fn encode_str16(text: &str, out: &mut Vec<u8>) {
    let mut end = text.len().min(usize::from(u16::MAX));
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    out.extend_from_slice(&(end as u16).to_le_bytes());
    out.extend_from_slice(&text.as_bytes()[..end]);
}

fn encode_host_op(h: &HostOp, out: &mut Vec<u8>) {
    encode_str16(&h.op, out);
    encode_str16(&h.name, out);
    out.extend_from_slice(&h.opset.to_le_bytes());
    let attrs = h.attrs_text();
    let len = saturate_u32(attrs.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&attrs.as_bytes()[..len as usize]);
    let operands = h.operands.len().min(usize::from(u8::MAX));
    let results = h.results.len().min(usize::from(u8::MAX));
    out.extend_from_slice(&[operands as u8, results as u8]);
    for a in &h.operands[..operands] {
        encode_host_arg(a.as_ref(), out);
    }
    for a in &h.results[..results] {
        encode_host_arg(Some(a), out);
    }
}

fn encode_host_arg(a: Option<&HostArg>, out: &mut Vec<u8>) {
    let Some(a) = a else {
        out.extend_from_slice(&NO_TENSOR.to_le_bytes());
        out.push(0);
        return;
    };
    out.extend_from_slice(&a.tensor.to_le_bytes());
    let rank = a.shape.len().min(usize::from(u8::MAX));
    out.push(rank as u8);
    for d in &a.shape[..rank] {
        out.extend_from_slice(&d.to_le_bytes());
    }
}

/// Append one instruction's 32 bytes.
pub(crate) fn encode_instr(i: &Instr, out: &mut Vec<u8>) {
    let start = out.len();
    out.push(i.opcode().code());
    i.put_fields(out);
    out.resize(start + INSTR_BYTES, 0);
}
