//! The simulated memories: DRAM ([`Dram`]) and the three on-chip SRAMs as plain byte vectors.
//!
//! DRAM is sized to the end of the program's last tensor rather than `hw.dram.capacity_bytes`
//! (8 GiB by default), so a run allocates only what the program can address through its tensor
//! table; an access past that end is a run-time error, never a panic. Const tensors (weights)
//! are not copied into it: their bytes are read where the program holds them — for a model, a
//! memory-mapped ONNX or external-data file — until an instruction writes into one, so a run
//! holds the weights once, not twice. Every accessor checks its
//! range and returns a [`MemoryError`] naming the range (the caller adds the instruction).
//! The memory also knows the DRAM range of every tensor ([`Memory::tensor_at`]), so that
//! data-dependent reads (GATHER rows) are bounded by their tensor, not by DRAM.

use std::borrow::Cow;

use bytes::Bytes;
use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{Program, SramRef, SramSpace, TensorDecl, TensorKind};

/// DRAM (sized to the end of the last tensor of the program, not `hw.dram.capacity_bytes`) and
/// the three SRAMs (sized from `HwConfig`). Const tensors' data is placed by [`Memory::new`].
pub struct Memory {
    pub dram: Dram,
    pub token: Vec<u8>,
    pub weight: Vec<u8>,
    pub temp: Vec<u8>,
    /// The program's non-empty tensors by DRAM range, sorted by start.
    spans: Vec<TensorSpan>,
}

/// Where one tensor of the program lies in DRAM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorSpan {
    /// First byte and one past the last.
    pub start: u64,
    pub end: u64,
    pub name: String,
    pub shape: Vec<u64>,
}

/// An access outside the memories, or a size the host cannot hold.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MemoryError {
    /// `what` names the size (`DRAM size`, `sram.token_bytes`, ...).
    #[error("{what} {value:#x} does not fit this host's address space")]
    HostSize { what: &'static str, value: u64 },
    #[error("tensor '{0}': size overflows 64 bits")]
    TensorSize(String),
    #[error("tensor '{0}': DRAM range overflows 64 bits")]
    TensorRange(String),
    #[error("tensor '{name}' needs {expected} bytes, {given} given")]
    TensorBytes {
        name: String,
        expected: usize,
        given: usize,
    },
    #[error(
        "DRAM range {addr:#x}+{len} lies outside the program's tensors (DRAM in use: {size:#x} bytes)"
    )]
    Dram { addr: u64, len: usize, size: usize },
    #[error(
        "SRAM range {}[{:#x}]+{len} exceeds the {size}-byte {} SRAM",
        at.space,
        at.offset,
        at.space
    )]
    Sram {
        at: SramRef,
        len: usize,
        size: usize,
    },
}

/// A `u64` size or address as `usize`, or an error naming `what`.
pub(crate) fn to_usize(value: u64, what: &'static str) -> Result<usize, MemoryError> {
    usize::try_from(value).map_err(|_| MemoryError::HostSize { what, value })
}

fn zeroed(bytes: u64, what: &'static str) -> Result<Vec<u8>, MemoryError> {
    Ok(vec![0; to_usize(bytes, what)?])
}

impl Memory {
    /// Zeroed memories with every `const` tensor's data in place.
    pub fn new(program: &Program, hw: &HwConfig) -> Result<Memory, MemoryError> {
        let mut end = 0u64;
        let mut spans = Vec::with_capacity(program.tensors.len());
        for t in &program.tensors {
            let len = t
                .byte_len()
                .ok_or_else(|| MemoryError::TensorSize(t.name.clone()))?;
            let stop = t
                .dram
                .checked_add(len)
                .ok_or_else(|| MemoryError::TensorRange(t.name.clone()))?;
            end = end.max(stop);
            if len > 0 {
                spans.push(TensorSpan {
                    start: t.dram,
                    end: stop,
                    name: t.name.clone(),
                    shape: t.shape.clone(),
                });
            }
        }
        spans.sort_unstable_by_key(|s| (s.start, s.end));
        let mut dram = Dram {
            bytes: zeroed(end, "DRAM size")?,
            consts: Vec::new(),
        };
        for t in program
            .tensors
            .iter()
            .filter(|t| t.kind == TensorKind::Const)
        {
            dram.place(t)?;
        }
        dram.consts.sort_unstable_by_key(|c| c.start);
        Ok(Memory {
            dram,
            token: zeroed(hw.sram.token_bytes, "sram.token_bytes")?,
            weight: zeroed(hw.sram.weight_bytes, "sram.weight_bytes")?,
            temp: zeroed(hw.sram.temp_bytes, "sram.temp_bytes")?,
            spans,
        })
    }

    /// The tensor whose DRAM range contains `addr` (`Program::check` rules out overlaps).
    pub fn tensor_at(&self, addr: u64) -> Option<&TensorSpan> {
        let i = self.spans.partition_point(|s| s.start <= addr);
        let span = self.spans.get(i.checked_sub(1)?)?;
        (addr < span.end).then_some(span)
    }

    pub fn sram(&self, space: SramSpace) -> &[u8] {
        match space {
            SramSpace::Token => &self.token,
            SramSpace::Weight => &self.weight,
            SramSpace::Temp => &self.temp,
        }
    }

    pub fn sram_mut(&mut self, space: SramSpace) -> &mut [u8] {
        match space {
            SramSpace::Token => &mut self.token,
            SramSpace::Weight => &mut self.weight,
            SramSpace::Temp => &mut self.temp,
        }
    }

    /// Copy `bytes` into the DRAM range of tensor `decl` (length must equal `decl.byte_len()`).
    pub fn write_tensor(&mut self, decl: &TensorDecl, bytes: &[u8]) -> Result<(), MemoryError> {
        let (start, len) = tensor_range(decl)?;
        if bytes.len() != len {
            return Err(MemoryError::TensorBytes {
                name: decl.name.clone(),
                expected: len,
                given: bytes.len(),
            });
        }
        self.dram.write(start, len)?.copy_from_slice(bytes);
        Ok(())
    }

    /// The DRAM bytes of tensor `decl`.
    pub fn read_tensor(&self, decl: &TensorDecl) -> Result<Cow<'_, [u8]>, MemoryError> {
        let (start, len) = tensor_range(decl)?;
        self.dram.read(start, len)
    }

    /// `len` bytes of an SRAM buffer.
    pub fn sram_at(&self, at: SramRef, len: usize) -> Result<&[u8], MemoryError> {
        let buf = self.sram(at.space);
        let r = sram_range(at, len, buf.len())?;
        Ok(&buf[r])
    }

    /// `len` bytes of an SRAM buffer, writable.
    pub fn sram_at_mut(&mut self, at: SramRef, len: usize) -> Result<&mut [u8], MemoryError> {
        let buf = self.sram_mut(at.space);
        let r = sram_range(at, len, buf.len())?;
        Ok(&mut buf[r])
    }

    /// DRAM and one SRAM, both writable (the split borrow of LD/ST/GATHER).
    pub(crate) fn dram_and_sram(&mut self, space: SramSpace) -> (&mut Dram, &mut [u8]) {
        let Memory {
            dram,
            token,
            weight,
            temp,
            ..
        } = self;
        let sram = match space {
            SramSpace::Token => token,
            SramSpace::Weight => weight,
            SramSpace::Temp => temp,
        };
        (dram, sram)
    }

    /// One SRAM readable and a *different* one writable (the split borrow of a cross-space
    /// COPY); `None` when both are the same space.
    pub(crate) fn split_spaces(
        &mut self,
        src: SramSpace,
        dst: SramSpace,
    ) -> Option<(&[u8], &mut [u8])> {
        use SramSpace::{Temp, Token, Weight};
        let Memory {
            token,
            weight,
            temp,
            ..
        } = self;
        match (src, dst) {
            (Token, Weight) => Some((token, weight)),
            (Token, Temp) => Some((token, temp)),
            (Weight, Token) => Some((weight, token)),
            (Weight, Temp) => Some((weight, temp)),
            (Temp, Token) => Some((temp, token)),
            (Temp, Weight) => Some((temp, weight)),
            _ => None,
        }
    }
}

/// DRAM: the bytes instructions write, zeroed on allocation (pages nothing touches are never
/// resident), and the const tensors, read from their own bytes until something writes into
/// one; then that tensor is copied into place and read from there.
pub struct Dram {
    bytes: Vec<u8>,
    /// Const tensors not written to, sorted by start, disjoint (`Program::check`).
    consts: Vec<ConstSpan>,
}

/// A const tensor's bytes at DRAM offset `start`.
struct ConstSpan {
    start: usize,
    data: Bytes,
}

impl ConstSpan {
    fn end(&self) -> usize {
        self.start + self.data.len()
    }
}

impl Dram {
    /// DRAM bytes in use (the end of the last tensor).
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Place const tensor `t`'s bytes (not copied: `Bytes` shares them).
    fn place(&mut self, t: &TensorDecl) -> Result<(), MemoryError> {
        let (start, len) = tensor_range(t)?;
        if t.data.len() != len {
            return Err(MemoryError::TensorBytes {
                name: t.name.clone(),
                expected: len,
                given: t.data.len(),
            });
        }
        let r = dram_range(start, len, self.bytes.len())?;
        if len > 0 {
            self.consts.push(ConstSpan {
                start: r.start,
                data: t.data.clone(),
            });
        }
        Ok(())
    }

    /// The index of the first const span that ends after `at`.
    fn first_ending_after(&self, at: usize) -> usize {
        self.consts.partition_point(|c| c.end() <= at)
    }

    /// `len` bytes at `addr`: borrowed when they lie within one const tensor or outside all of
    /// them, assembled otherwise.
    pub fn read(&self, addr: u64, len: usize) -> Result<Cow<'_, [u8]>, MemoryError> {
        let r = dram_range(addr, len, self.bytes.len())?;
        let i = self.first_ending_after(r.start);
        let Some(c) = self.consts.get(i).filter(|c| c.start < r.end) else {
            return Ok(Cow::Borrowed(&self.bytes[r]));
        };
        if c.start <= r.start && r.end <= c.end() {
            return Ok(Cow::Borrowed(&c.data[r.start - c.start..r.end - c.start]));
        }
        let mut out = self.bytes[r.clone()].to_vec();
        for c in self.consts[i..].iter().take_while(|c| c.start < r.end) {
            let (lo, hi) = (c.start.max(r.start), c.end().min(r.end));
            out[lo - r.start..hi - r.start].copy_from_slice(&c.data[lo - c.start..hi - c.start]);
        }
        Ok(Cow::Owned(out))
    }

    /// `len` bytes at `addr`, writable; a const tensor they touch is copied into place first.
    pub fn write(&mut self, addr: u64, len: usize) -> Result<&mut [u8], MemoryError> {
        let r = dram_range(addr, len, self.bytes.len())?;
        let i = self.first_ending_after(r.start);
        let touched = self.consts[i..]
            .iter()
            .take_while(|c| c.start < r.end)
            .count();
        for c in self.consts.drain(i..i + touched) {
            let end = c.end();
            self.bytes[c.start..end].copy_from_slice(&c.data);
        }
        Ok(&mut self.bytes[r])
    }

    /// All of DRAM, writable (every const tensor copied into place): for tests and tools.
    pub fn all_mut(&mut self) -> &mut [u8] {
        let len = self.bytes.len();
        self.write(0, len).unwrap_or_default()
    }
}

/// DRAM start and host length of a tensor (`lz4` sizes are already rounded up to bytes).
fn tensor_range(decl: &TensorDecl) -> Result<(u64, usize), MemoryError> {
    let len = decl
        .byte_len()
        .ok_or_else(|| MemoryError::TensorSize(decl.name.clone()))?;
    Ok((decl.dram, to_usize(len, "tensor size")?))
}

pub(crate) fn dram_range(
    addr: u64,
    len: usize,
    size: usize,
) -> Result<std::ops::Range<usize>, MemoryError> {
    let start = usize::try_from(addr).ok();
    match start.and_then(|s| s.checked_add(len).map(|e| (s, e))) {
        Some((s, e)) if e <= size => Ok(s..e),
        _ => Err(MemoryError::Dram { addr, len, size }),
    }
}

pub(crate) fn sram_range(
    at: SramRef,
    len: usize,
    size: usize,
) -> Result<std::ops::Range<usize>, MemoryError> {
    let s = at.offset as usize;
    match s.checked_add(len) {
        Some(e) if e <= size => Ok(s..e),
        _ => Err(MemoryError::Sram { at, len, size }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sofa_ir::isa::{DType, Instr};

    fn decl(name: &str, kind: TensorKind, dram: u64, data: Vec<u8>) -> TensorDecl {
        TensorDecl {
            name: name.into(),
            kind,
            dtype: DType::U8,
            shape: vec![4],
            dram,
            data: data.into(),
            weights: None,
        }
    }

    #[test]
    fn dram_ends_at_the_last_tensor_and_consts_are_loaded() {
        let hw = HwConfig::default();
        let p = Program {
            host_ops: Vec::new(),
            config_hash: hw.hash(),
            tensors: vec![
                decl("x", TensorKind::Input, 0x10, vec![]),
                decl("c", TensorKind::Const, 0x20, vec![1, 2, 3, 4]),
            ],
            instrs: vec![Instr::Halt {}],
        };
        let mut m = Memory::new(&p, &hw).unwrap();
        assert_eq!(m.dram.len(), 0x24);
        assert_eq!(m.token.len(), 192 * 1024);
        assert_eq!(&*m.read_tensor(&p.tensors[1]).unwrap(), &[1, 2, 3, 4]);
        m.write_tensor(&p.tensors[0], &[9, 9, 9, 9]).unwrap();
        assert_eq!(&*m.dram.read(0x10, 4).unwrap(), &[9, 9, 9, 9]);
        let err = m.write_tensor(&p.tensors[0], &[1]).unwrap_err();
        assert_eq!(err.to_string(), "tensor 'x' needs 4 bytes, 1 given");
        assert!(m.dram.read(0x22, 4).is_err());
        assert!(m.sram_at(SramRef::temp(28 * 1024 - 2), 4).is_err());
    }

    /// A const tensor is read from its own bytes (shared, not copied); reads across its edge
    /// are assembled; a write into it copies it into place first, and later reads see the
    /// write.
    #[test]
    fn const_tensors_are_read_in_place_until_written() {
        let hw = HwConfig::default();
        let data = bytes::Bytes::from(vec![1, 2, 3, 4]);
        let mut c = decl("c", TensorKind::Const, 0x20, Vec::new());
        c.data = data.clone();
        let p = Program {
            host_ops: Vec::new(),
            config_hash: hw.hash(),
            tensors: vec![decl("x", TensorKind::Input, 0x1c, vec![]), c],
            instrs: vec![Instr::Halt {}],
        };
        let mut m = Memory::new(&p, &hw).unwrap();
        let inside = m.dram.read(0x21, 2).unwrap();
        assert!(matches!(inside, Cow::Borrowed(_)));
        // The very bytes of the program's tensor, not a copy.
        assert_eq!(inside.as_ptr(), data[1..].as_ptr());
        m.write_tensor(&p.tensors[0], &[9, 9, 9, 9]).unwrap();
        let across = m.dram.read(0x1e, 4).unwrap();
        assert!(matches!(across, Cow::Owned(_)));
        assert_eq!(&*across, &[9, 9, 1, 2]);
        m.dram.write(0x22, 1).unwrap()[0] = 7;
        assert_eq!(&*m.dram.read(0x1c, 8).unwrap(), &[9, 9, 9, 9, 1, 2, 7, 4]);
        assert_eq!(
            &data[..],
            &[1, 2, 3, 4],
            "the program's bytes are never written"
        );
    }
}
