//! The simulated memories: DRAM and the three on-chip SRAMs as plain byte vectors.
//!
//! DRAM is sized to the end of the program's last tensor rather than `hw.dram.capacity_bytes`
//! (8 GiB by default), so a run allocates only what the program can address through its tensor
//! table; an access past that end is a run-time error, never a panic. Every accessor checks its
//! range and returns a [`MemoryError`] naming the range (the caller adds the instruction).
//! The memory also knows the DRAM range of every tensor ([`Memory::tensor_at`]), so that
//! data-dependent reads (GATHER rows) are bounded by their tensor, not by DRAM.

use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{Program, SramRef, SramSpace, TensorDecl, TensorKind};

/// DRAM (sized to the end of the last tensor of the program, not `hw.dram.capacity_bytes`) and
/// the three SRAMs (sized from `HwConfig`). Const tensors' data is copied in by [`Memory::new`].
pub struct Memory {
    pub dram: Vec<u8>,
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
        let mut mem = Memory {
            dram: zeroed(end, "DRAM size")?,
            token: zeroed(hw.sram.token_bytes, "sram.token_bytes")?,
            weight: zeroed(hw.sram.weight_bytes, "sram.weight_bytes")?,
            temp: zeroed(hw.sram.temp_bytes, "sram.temp_bytes")?,
            spans,
        };
        for t in program
            .tensors
            .iter()
            .filter(|t| t.kind == TensorKind::Const)
        {
            mem.write_tensor(t, &t.data)?;
        }
        Ok(mem)
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
        self.dram_mut(start, len)?.copy_from_slice(bytes);
        Ok(())
    }

    /// The DRAM bytes of tensor `decl`.
    pub fn read_tensor(&self, decl: &TensorDecl) -> Result<&[u8], MemoryError> {
        let (start, len) = tensor_range(decl)?;
        self.dram(start, len)
    }

    /// `len` DRAM bytes at `addr`.
    pub fn dram(&self, addr: u64, len: usize) -> Result<&[u8], MemoryError> {
        let r = dram_range(addr, len, self.dram.len())?;
        Ok(&self.dram[r])
    }

    /// `len` DRAM bytes at `addr`, writable.
    pub fn dram_mut(&mut self, addr: u64, len: usize) -> Result<&mut [u8], MemoryError> {
        let r = dram_range(addr, len, self.dram.len())?;
        Ok(&mut self.dram[r])
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
    pub(crate) fn dram_and_sram(&mut self, space: SramSpace) -> (&mut [u8], &mut [u8]) {
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
        assert_eq!(m.read_tensor(&p.tensors[1]).unwrap(), &[1, 2, 3, 4]);
        m.write_tensor(&p.tensors[0], &[9, 9, 9, 9]).unwrap();
        assert_eq!(&m.dram[0x10..0x14], &[9, 9, 9, 9]);
        let err = m.write_tensor(&p.tensors[0], &[1]).unwrap_err();
        assert_eq!(err.to_string(), "tensor 'x' needs 4 bytes, 1 given");
        assert!(m.dram(0x22, 4).is_err());
        assert!(m.sram_at(SramRef::temp(28 * 1024 - 2), 4).is_err());
    }
}
