//! DRAM layout: the program's tensor table.
//!
//! One entry per function argument (each layer's `q`, `k`, `v`), per attention output, per
//! constant table the dataflow loads (causal masks, dense slot tables) and per spill buffer
//! (the staged schedule's Â and A). Addresses are assigned in insertion order, each aligned to
//! [`ALIGN`], so the layout is deterministic.

use std::collections::BTreeMap;

use sofa_ir::isa::{DType, TensorDecl, TensorKind, NO_INDEX};

/// Alignment of every tensor's first byte (a DRAM burst).
pub const ALIGN: u64 = 64;

/// f16 bit patterns used by the causal mask.
const F16_ZERO: u16 = 0x0000;
const F16_NEG_INF: u16 = 0xfc00;

/// The tensor table under construction.
#[derive(Debug, Default)]
pub struct DramLayout {
    pub tensors: Vec<TensorDecl>,
    next: u64,
    consts: BTreeMap<String, u64>,
}

impl DramLayout {
    /// Append a tensor; returns its DRAM address, `None` on address overflow.
    pub fn add(
        &mut self,
        name: String,
        kind: TensorKind,
        dtype: DType,
        shape: Vec<u64>,
        data: Vec<u8>,
    ) -> Option<u64> {
        let elems = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d))?;
        let len = dtype.bytes_for(elems)?;
        let at = self.next;
        self.next = at.checked_add(len)?.checked_next_multiple_of(ALIGN)?;
        self.tensors.push(TensorDecl {
            name,
            kind,
            dtype,
            shape,
            dram: at,
            data,
        });
        Some(at)
    }

    /// Bytes used so far.
    pub fn used(&self) -> u64 {
        self.next
    }

    fn constant(
        &mut self,
        name: String,
        dtype: DType,
        shape: Vec<u64>,
        data: Vec<u8>,
    ) -> Option<u64> {
        if let Some(&at) = self.consts.get(&name) {
            return Some(at);
        }
        let at = self.add(name.clone(), TensorKind::Const, dtype, shape, data)?;
        self.consts.insert(name, at);
        Some(at)
    }

    /// The causal mask of a `rows × width` score tile whose first key is `delta` positions
    /// before the block's first query: 0 where key `c ≤ r + delta`, −inf (f16) elsewhere.
    pub fn causal_mask(&mut self, rows: u64, width: u64, delta: i64) -> Option<u64> {
        let mut data = Vec::with_capacity(usize::try_from(rows * width * 2).ok()?);
        for r in 0..rows {
            for c in 0..width {
                let bits = if visible(r, c, delta) {
                    F16_ZERO
                } else {
                    F16_NEG_INF
                };
                data.extend_from_slice(&bits.to_le_bytes());
            }
        }
        let name = format!("const.causal_mask.r{rows}.w{width}.d{delta}");
        self.constant(name, DType::F16, vec![rows, width], data)
    }

    /// The dense schedule's slot table of a `rows × width` tile: `c` where key `c` is visible
    /// to row `r` (see [`DramLayout::causal_mask`]), `NO_INDEX` elsewhere.
    pub fn slot_table(&mut self, rows: u64, width: u64, delta: i64) -> Option<u64> {
        let mut data = Vec::with_capacity(usize::try_from(rows * width * 4).ok()?);
        for r in 0..rows {
            for c in 0..width {
                let v = if visible(r, c, delta) {
                    c as u32
                } else {
                    NO_INDEX
                };
                data.extend_from_slice(&v.to_le_bytes());
            }
        }
        let name = format!("const.slots.r{rows}.w{width}.d{delta}");
        self.constant(name, DType::U32, vec![rows, width], data)
    }
}

fn visible(r: u64, c: u64, delta: i64) -> bool {
    (c as i64) <= (r as i64) + delta
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_aligned_and_constants_shared() {
        let mut d = DramLayout::default();
        let a = d.add("a".into(), TensorKind::Input, DType::F32, vec![3], vec![]);
        let m1 = d.causal_mask(2, 3, 0);
        let m2 = d.causal_mask(2, 3, 0);
        assert_eq!(a, Some(0));
        assert_eq!(m1, Some(64));
        assert_eq!(m1, m2);
        assert_eq!(d.tensors.len(), 2);
        // Row 0 sees key 0 only; row 1 sees keys 0 and 1.
        let bits: Vec<u16> = d.tensors[1]
            .data
            .chunks(2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .collect();
        assert_eq!(bits, [0, 0xfc00, 0xfc00, 0, 0, 0xfc00]);
    }
}
