//! The SOFA instruction set: what the compiler's backend emits and the simulator executes.
//!
//! In-memory form: a [`Program`] (the hardware-config hash it was compiled for, a tensor table
//! describing DRAM, the host-op table of the ops that run on the host ([`HostOp`], executed by
//! `HOST` instructions) and a `Vec<`[`Instr`]`>`). Two external forms, both exact:
//! - binary (`.sofabin`): [`Program::encode`] / [`Program::decode`], see [`encode`] for the
//!   layout; the decoder rejects malformed input with [`DecodeError`] naming the byte offset;
//! - assembly text (`.s`): [`print_asm`] / [`parse_asm`]; the printed text is canonical, so
//!   `encode(parse(print(decode(b)))) == b` for every valid binary `b`.
//!
//! [`Program::check`] validates a program against a [`HwConfig`] (buffer ranges, engine limits,
//! semaphores, dtypes); the simulator relies on it. [`Instr::operands`] lists every buffer an
//! instruction touches, [`Instr::cycles`](crate::hw::cost) gives its cycle formula.
//!
//! The reference for every instruction (semantics, operands, engine, cycle formula, an
//! assembly example) follows; a test parses each example.
//!
#![doc = include_str!("isa.md")]

mod asm;
mod check;
mod decode;
pub mod encode;
mod enums;
mod fields;
mod host;
mod instr;
mod operands;
mod parse;
pub mod prefix;

pub use asm::{print_asm, print_instr};
pub use check::{PieceCheck, ProgramError, ProgramLoc};
pub use decode::DecodeError;
pub use enums::{Bcast, CmpOp, DType, Engine, ReduceOp, SramSpace, SufaMode, TensorKind};
pub use fields::FieldError;
pub use host::{numel, HostArg, HostAttrError, HostOp};
pub use instr::{Instr, Opcode};
pub use operands::{Access, Mem, Operand, OperandOverflow};
pub use parse::{parse_asm, AsmError};
pub use prefix::{BiasPrefix, PrefixError};

use bytes::Bytes;

use crate::hw::HwConfig;

/// The file magic of a `.sofabin`.
pub const MAGIC: [u8; 4] = *b"SOFA";
/// The newest binary format version this crate reads and writes (2: with a host-op table).
pub const FORMAT_VERSION: u16 = 2;
/// The format version of programs without host ops (the layout without a host-op table), which
/// the encoder writes for them so that chip-only programs keep their bytes.
pub const FORMAT_VERSION_CHIP_ONLY: u16 = 1;
/// Every instruction is encoded in exactly this many bytes.
pub const INSTR_BYTES: usize = 32;
/// An index-list or slot entry that selects nothing (fewer candidates than requested).
pub const NO_INDEX: u32 = u32::MAX;

/// A byte address in one of the on-chip SRAMs.
///
/// Encoded in 32 bits: the space in bits 30–31, the offset in bits 0–29. [`Program::check`]
/// ensures the offset (and the whole buffer) lies inside the space's capacity.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SramRef {
    pub space: SramSpace,
    pub offset: u32,
}

impl SramRef {
    pub fn new(space: SramSpace, offset: u32) -> SramRef {
        SramRef { space, offset }
    }
    pub fn token(offset: u32) -> SramRef {
        SramRef::new(SramSpace::Token, offset)
    }
    pub fn weight(offset: u32) -> SramRef {
        SramRef::new(SramSpace::Weight, offset)
    }
    pub fn temp(offset: u32) -> SramRef {
        SramRef::new(SramSpace::Temp, offset)
    }
}

/// A byte address in DRAM.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DramAddr(pub u64);

/// One DRAM tensor of the program: an input, output, constant (with its bytes) or scratch area.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorDecl {
    /// Any UTF-8 (ONNX names such as `/encoder/layer.0/Add_output_0` are kept).
    pub name: String,
    pub kind: TensorKind,
    pub dtype: DType,
    pub shape: Vec<u64>,
    /// First byte in DRAM.
    pub dram: u64,
    /// Initializer bytes, little-endian, row-major; exactly the shape's bytes for `Const`,
    /// empty otherwise. Often a slice of a memory-mapped model file, shared, never copied.
    /// Empty too for a `Const` whose [`TensorDecl::weights`] are not loaded yet.
    pub data: Bytes,
    /// Where a `Const` tensor's bytes live when the program references them rather than
    /// holding them (a binary then carries the reference, never the bytes).
    pub weights: Option<WeightsRef>,
}

/// A `const` tensor's bytes as a range of a file: the model's ONNX external data, which stays
/// where it is (the range's length is the tensor's size).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeightsRef {
    /// Relative to the program file's directory, or absolute.
    pub file: String,
    /// First byte of the range in the file.
    pub offset: u64,
    /// [`weights_checksum`] of the range, checked before the values are used.
    pub checksum: u64,
}

/// The checksum a [`WeightsRef`] records: XXH3-64 of the bytes (fast enough to check gigabytes).
pub fn weights_checksum(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

impl TensorDecl {
    /// A tensor without bytes yet: scratch, input or output, or a `const` whose bytes follow.
    pub fn new(name: String, kind: TensorKind, dtype: DType, shape: Vec<u64>, dram: u64) -> Self {
        TensorDecl {
            name,
            kind,
            dtype,
            shape,
            dram,
            data: Bytes::new(),
            weights: None,
        }
    }

    /// Bytes the tensor occupies in DRAM, `None` on overflow.
    pub fn byte_len(&self) -> Option<u64> {
        let elems = self
            .shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))?;
        self.dtype.bytes_for(elems)
    }

    /// Whether `addr` falls inside this tensor's DRAM range.
    pub fn contains(&self, addr: u64) -> bool {
        match self.byte_len() {
            Some(len) => addr >= self.dram && addr - self.dram < len,
            None => false,
        }
    }
}

/// A whole program: what a `.sofabin` holds.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Program {
    /// [`HwConfig::hash`] of the configuration the program was compiled for.
    pub config_hash: u64,
    pub tensors: Vec<TensorDecl>,
    /// Ops run on the host, referenced by `HOST op=k` (index `k`).
    pub host_ops: Vec<HostOp>,
    pub instrs: Vec<Instr>,
}

impl Program {
    /// The binary form; see [`encode`] for the layout.
    pub fn encode(&self) -> Vec<u8> {
        encode::encode_program(self)
    }

    /// The binary form written to `w` as it is encoded (a gigabyte program is never held
    /// twice); the bytes equal [`Program::encode`]'s.
    pub fn encode_to(&self, w: &mut (impl std::io::Write + ?Sized)) -> std::io::Result<()> {
        encode::encode_program_to(self, w)
    }

    /// What precedes the instructions in the binary of this program with `instrs`
    /// instructions (its own `instrs` are not written): with [`Program::encode_instrs_to`]
    /// of those instructions after it, the bytes [`Program::encode_to`] writes. For a program
    /// lowered in pieces, whose instructions never all sit in memory.
    pub fn encode_head_to(
        &self,
        instrs: usize,
        w: &mut (impl std::io::Write + ?Sized),
    ) -> std::io::Result<()> {
        encode::encode_head_to(self, instrs, w)
    }

    /// Instructions in the binary's form, `bytes` holding whole ones (32 bytes each); the first
    /// is instruction `first` of its program (errors name it and its byte offset in `bytes`).
    pub fn decode_instrs(bytes: &[u8], first: usize) -> Result<Vec<Instr>, DecodeError> {
        decode::decode_instr_run(bytes, first)
    }

    /// `instrs` in the binary's form (32 bytes each), as they follow a program's head.
    pub fn encode_instrs_to(
        instrs: &[Instr],
        w: &mut (impl std::io::Write + ?Sized),
    ) -> std::io::Result<()> {
        encode::encode_instrs_to(instrs, w)
    }

    /// Parse a binary, checking every length, offset and enum value.
    pub fn decode(bytes: &[u8]) -> Result<Program, DecodeError> {
        decode::decode_program(bytes)
    }

    /// Validate against a hardware description; every problem, each naming where it is.
    pub fn check(&self, hw: &HwConfig) -> Result<(), Vec<ProgramError>> {
        check::check_program(self, hw)
    }

    /// The format version this program is written in: [`FORMAT_VERSION_CHIP_ONLY`] without
    /// host ops, [`FORMAT_VERSION`] with them.
    pub fn format_version(&self) -> u16 {
        if self.host_ops.is_empty() {
            FORMAT_VERSION_CHIP_ONLY
        } else {
            FORMAT_VERSION
        }
    }

    /// The tensor with this name, if any.
    pub fn tensor(&self, name: &str) -> Option<&TensorDecl> {
        self.tensors.iter().find(|t| t.name == name)
    }
}

#[cfg(test)]
mod tests;
