//! The `.sofabin` decoder (layout in [`super::encode`]).
//!
//! Every length, count, offset and enum value is checked before use; the first problem is
//! returned as a [`DecodeError`] with the absolute byte offset where it was found. The decoder
//! never panics and never allocates more than the input's own length justifies: counts are
//! validated against the bytes that remain before any buffer is reserved.

use bytes::Bytes;

use super::encode::{FLAG_WEIGHTS_REF, NO_TENSOR};
use super::instr::FieldReader;
use super::{
    DType, HostArg, HostOp, Instr, Opcode, Program, TensorDecl, TensorKind, WeightsRef,
    FORMAT_VERSION, FORMAT_VERSION_CHIP_ONLY, INSTR_BYTES, MAGIC,
};

/// A malformed binary: where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("byte offset {offset}: {message}")]
pub struct DecodeError {
    /// Absolute byte offset of the offending field.
    pub offset: usize,
    pub message: String,
}

fn err<T>(offset: usize, message: impl Into<String>) -> Result<T, DecodeError> {
    Err(DecodeError {
        offset,
        message: message.into(),
    })
}

/// A bounds-checked reader that knows its absolute position.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], DecodeError> {
        let Some(slice) = self
            .pos
            .checked_add(n)
            .and_then(|e| self.bytes.get(self.pos..e))
        else {
            return err(
                self.pos,
                format!(
                    "truncated: {what} needs {n} bytes, {} remain",
                    self.remaining()
                ),
            );
        };
        self.pos += n;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], DecodeError> {
        let at = self.pos;
        let slice = self.take(N, what)?;
        slice
            .try_into()
            .or_else(|_| err(at, "internal length mismatch"))
    }

    fn u8(&mut self, what: &str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    fn u32(&mut self, what: &str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    fn u64(&mut self, what: &str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
}

/// Decode a whole program.
pub(crate) fn decode_program(bytes: &[u8]) -> Result<Program, DecodeError> {
    let mut c = Cursor { bytes, pos: 0 };
    let magic = c.array::<4>("the magic")?;
    if magic != MAGIC {
        return err(0, format!("bad magic {magic:02x?}: not a .sofabin file"));
    }
    let version = c.u16("the format version")?;
    if !(FORMAT_VERSION_CHIP_ONLY..=FORMAT_VERSION).contains(&version) {
        return err(
            4,
            format!(
                "unsupported format version {version} (this build reads \
                 {FORMAT_VERSION_CHIP_ONLY} to {FORMAT_VERSION})"
            ),
        );
    }
    if c.u16("the reserved header field")? != 0 {
        return err(6, "reserved header field must be 0");
    }
    let config_hash = c.u64("the config hash")?;
    let tensor_count = c.u32("the tensor count")?;
    let instr_count = c.u32("the instruction count")?;
    let host_count = match version {
        FORMAT_VERSION => {
            let at = c.pos;
            let n = c.u32("the host-op count")?;
            if n == 0 {
                return err(
                    at,
                    "a version 2 file must have host ops (without them it is written as version 1)",
                );
            }
            n
        }
        _ => 0,
    };
    let mut tensors = Vec::new();
    for i in 0..tensor_count {
        tensors.push(decode_tensor(&mut c, i)?);
    }
    let mut host_ops = Vec::new();
    for i in 0..host_count {
        host_ops.push(decode_host_op(&mut c, i, tensor_count)?);
    }
    let instrs = decode_instrs(&mut c, instr_count)?;
    Ok(Program {
        config_hash,
        tensors,
        host_ops,
        instrs,
    })
}

/// A u16-length-prefixed UTF-8 string.
fn decode_str16(c: &mut Cursor<'_>, what: &str) -> Result<String, DecodeError> {
    let len = c.u16(&format!("{what} length"))?;
    let at = c.pos;
    let bytes = c.take(usize::from(len), what)?;
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_string()),
        Err(e) => err(at + e.valid_up_to(), format!("{what} is not UTF-8")),
    }
}

fn decode_host_op(
    c: &mut Cursor<'_>,
    index: u32,
    tensor_count: u32,
) -> Result<HostOp, DecodeError> {
    let what = |field: &str| format!("host op #{index} {field}");
    let op_at = c.pos;
    let op = decode_str16(c, &what("op name"))?;
    if op.is_empty() {
        return err(op_at, format!("host op #{index}: empty op name"));
    }
    let name = decode_str16(c, &what("node name"))?;
    let opset = c.u16(&what("opset"))?;
    let len_at = c.pos;
    let attrs_len = c.u32(&what("attribute length"))?;
    let Ok(attrs_len) = usize::try_from(attrs_len) else {
        return err(
            len_at,
            format!("host op #{index}: attribute length is too large"),
        );
    };
    let attrs_at = c.pos;
    let bytes = c.take(attrs_len, &what("attributes"))?;
    let text = std::str::from_utf8(bytes).or_else(|e| {
        err(
            attrs_at + e.valid_up_to(),
            format!("host op #{index} ({op}): attributes are not UTF-8"),
        )
    })?;
    let attrs = HostOp::parse_attrs(text)
        .or_else(|e| err(attrs_at, format!("host op #{index} ({op}): {e}")))?;
    let operand_count = c.u8(&what("operand count"))?;
    let result_count = c.u8(&what("result count"))?;
    let mut operands = Vec::with_capacity(usize::from(operand_count));
    for k in 0..operand_count {
        let arg = decode_host_arg(
            c,
            &format!("host op #{index} ({op}) operand {k}"),
            tensor_count,
        )?;
        operands.push(arg);
    }
    let mut results = Vec::with_capacity(usize::from(result_count));
    for k in 0..result_count {
        let at = c.pos;
        let subject = format!("host op #{index} ({op}) result {k}");
        match decode_host_arg(c, &subject, tensor_count)? {
            Some(arg) => results.push(arg),
            None => return err(at, format!("{subject}: a result cannot be absent")),
        }
    }
    Ok(HostOp {
        op,
        name,
        opset,
        attrs,
        operands,
        results,
    })
}

/// One operand or result: a tensor index and a shape, or an absent operand.
fn decode_host_arg(
    c: &mut Cursor<'_>,
    subject: &str,
    tensor_count: u32,
) -> Result<Option<HostArg>, DecodeError> {
    let at = c.pos;
    let tensor = c.u32(&format!("{subject} tensor"))?;
    let rank_at = c.pos;
    let rank = c.u8(&format!("{subject} rank"))?;
    if tensor == NO_TENSOR {
        if rank != 0 {
            return err(rank_at, format!("{subject}: an absent operand has rank 0"));
        }
        return Ok(None);
    }
    if tensor >= tensor_count {
        return err(
            at,
            format!(
                "{subject}: tensor index {tensor} is not below the tensor count {tensor_count}"
            ),
        );
    }
    let mut shape = Vec::with_capacity(usize::from(rank));
    for _ in 0..rank {
        shape.push(c.u64(&format!("{subject} dimension"))?);
    }
    Ok(Some(HostArg { tensor, shape }))
}

fn decode_tensor(c: &mut Cursor<'_>, index: u32) -> Result<TensorDecl, DecodeError> {
    let what = |field: &str| format!("tensor #{index} {field}");
    let name_len = c.u16(&what("name length"))?;
    let name_at = c.pos;
    let name_bytes = c.take(usize::from(name_len), &what("name"))?;
    let Ok(name) = std::str::from_utf8(name_bytes) else {
        return err(name_at, format!("tensor #{index} name is not UTF-8"));
    };
    let kind_at = c.pos;
    let kind = c.u8(&what("kind"))?;
    let kind = TensorKind::from_code(kind).map_or_else(
        || {
            err(
                kind_at,
                format!("tensor '{name}': invalid kind code {kind}"),
            )
        },
        Ok,
    )?;
    let dtype = c.u8(&what("dtype"))?;
    let dtype = DType::from_code(dtype).map_or_else(
        || {
            err(
                kind_at + 1,
                format!("tensor '{name}': invalid dtype code {dtype}"),
            )
        },
        Ok,
    )?;
    let rank = c.u8(&what("rank"))?;
    let flags_at = c.pos;
    let flags = c.u8(&what("flags"))?;
    if flags & !FLAG_WEIGHTS_REF != 0 {
        return err(
            flags_at,
            format!("tensor '{name}': unknown flag bits {flags:#04x}"),
        );
    }
    let dram = c.u64(&what("DRAM address"))?;
    let mut shape = Vec::with_capacity(usize::from(rank));
    for _ in 0..rank {
        shape.push(c.u64(&what("dimension"))?);
    }
    let mut t = TensorDecl::new(name.to_string(), kind, dtype, shape, dram);
    if flags & FLAG_WEIGHTS_REF != 0 {
        t.weights = Some(decode_weights_ref(c, name, flags_at)?);
    } else {
        t.data = decode_data(c, name, &what)?;
    }
    Ok(t)
}

/// A weights reference: the file, the offset and the checksum (not the bytes).
fn decode_weights_ref(
    c: &mut Cursor<'_>,
    name: &str,
    flags_at: usize,
) -> Result<WeightsRef, DecodeError> {
    let what = |field: &str| format!("tensor '{name}' weights {field}");
    let file = decode_str16(c, &what("file"))?;
    if file.is_empty() {
        return err(
            flags_at,
            format!("tensor '{name}': weights file name is empty"),
        );
    }
    let offset = c.u64(&what("offset"))?;
    let checksum = c.u64(&what("checksum"))?;
    Ok(WeightsRef {
        file,
        offset,
        checksum,
    })
}

/// An inline payload: its length, then its bytes.
fn decode_data(
    c: &mut Cursor<'_>,
    name: &str,
    what: &dyn Fn(&str) -> String,
) -> Result<Bytes, DecodeError> {
    let len_at = c.pos;
    let data_len = c.u64(&what("data length"))?;
    let Ok(data_len) = usize::try_from(data_len) else {
        return err(
            len_at,
            format!("tensor '{name}': data length {data_len} is too large"),
        );
    };
    if data_len > c.remaining() {
        return err(
            len_at,
            format!(
                "tensor '{name}': data length {data_len} exceeds the {} bytes that remain",
                c.remaining()
            ),
        );
    }
    Ok(Bytes::copy_from_slice(c.take(data_len, &what("data"))?))
}

fn decode_instrs(c: &mut Cursor<'_>, count: u32) -> Result<Vec<Instr>, DecodeError> {
    let count = count as usize;
    let expected = count.checked_mul(INSTR_BYTES);
    if expected != Some(c.remaining()) {
        return err(
            c.pos,
            format!(
                "the header announces {count} instructions ({} bytes) but {} bytes remain",
                expected.map_or_else(|| "too many".to_string(), |n| n.to_string()),
                c.remaining()
            ),
        );
    }
    let mut out = Vec::with_capacity(count);
    for index in 0..count {
        let at = c.pos;
        let raw = c.take(INSTR_BYTES, "an instruction")?;
        out.push(decode_instr(raw, at, index)?);
    }
    Ok(out)
}

/// Whole instructions back to back, the first being instruction `first`.
pub(crate) fn decode_instr_run(bytes: &[u8], first: usize) -> Result<Vec<Instr>, DecodeError> {
    if !bytes.len().is_multiple_of(INSTR_BYTES) {
        return err(
            bytes.len() - bytes.len() % INSTR_BYTES,
            format!(
                "{} bytes are not whole {INSTR_BYTES}-byte instructions",
                bytes.len()
            ),
        );
    }
    bytes
        .chunks_exact(INSTR_BYTES)
        .enumerate()
        .map(|(k, raw)| decode_instr(raw, k * INSTR_BYTES, first + k))
        .collect()
}

/// Decode the 32 bytes of instruction `index`, which start at absolute offset `at`.
pub(crate) fn decode_instr(raw: &[u8], at: usize, index: usize) -> Result<Instr, DecodeError> {
    let Some((&code, fields)) = raw.split_first() else {
        return err(at, format!("instruction #{index} is empty"));
    };
    let Some(op) = Opcode::from_code(code) else {
        return err(
            at,
            format!("instruction #{index}: unknown opcode {code:#04x}"),
        );
    };
    let mut reader = FieldReader::new(fields);
    let instr = Instr::get_fields(op, &mut reader).or_else(|(rel, message)| {
        err(
            at + 1 + rel,
            format!("instruction #{index} ({}): {message}", op.mnemonic()),
        )
    })?;
    let padding = fields.get(reader.pos..).unwrap_or(&[]);
    if let Some(pad) = padding.iter().position(|&b| b != 0) {
        return err(
            at + 1 + reader.pos + pad,
            format!(
                "instruction #{index} ({}): padding byte must be 0",
                op.mnemonic()
            ),
        );
    }
    Ok(instr)
}
