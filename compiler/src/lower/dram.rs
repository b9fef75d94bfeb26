//! DRAM layout: the program's tensor table.
//!
//! One entry per program input and output, per constant table the dataflow loads (causal
//! masks, dense slot tables) and per spill buffer (the staged schedule's Â and A, SU-FA partials
//! of long rows). Addresses are assigned in insertion order, each aligned to [`ALIGN`], so the
//! layout is deterministic. Constant tables are shared by name.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use sofa_ir::isa::{DType, TensorDecl, TensorKind, NO_INDEX};

/// Alignment of every tensor's first byte (a DRAM burst).
pub const ALIGN: u64 = 64;

/// The tensor table under construction.
#[derive(Debug, Default)]
pub struct DramLayout {
    pub tensors: Vec<TensorDecl>,
    next: u64,
    consts: BTreeMap<String, u64>,
    names: BTreeSet<String>,
}

impl DramLayout {
    /// Append a tensor; returns its DRAM address, `None` on address overflow.
    pub fn add(
        &mut self,
        name: String,
        kind: TensorKind,
        dtype: DType,
        shape: Vec<u64>,
        data: impl Into<Bytes>,
    ) -> Option<u64> {
        let elems = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d))?;
        let len = dtype.bytes_for(elems)?;
        let at = self.next;
        self.next = at.checked_add(len)?.checked_next_multiple_of(ALIGN)?;
        self.names.insert(name.clone());
        self.tensors.push(TensorDecl {
            name,
            kind,
            dtype,
            shape,
            dram: at,
            data: data.into(),
            weights: None,
        });
        Some(at)
    }

    /// `{stem}{suffix}`, or `{stem}#2{suffix}`, `{stem}#3{suffix}`, … when a tensor already has
    /// that name (two ops sharing a location name must not give duplicate tensor names; the
    /// suffix, which classifies the tensor in the simulator's report, stays last).
    pub fn unique_name(&self, stem: &str, suffix: &str) -> String {
        let plain = format!("{stem}{suffix}");
        if !self.names.contains(&plain) {
            return plain;
        }
        (2u64..)
            .map(|i| format!("{stem}#{i}{suffix}"))
            .find(|n| !self.names.contains(n))
            .unwrap_or(plain)
    }

    /// A scratch tensor named [`DramLayout::unique_name`]`(stem, suffix)`.
    pub fn scratch(
        &mut self,
        stem: &str,
        suffix: &str,
        dtype: DType,
        shape: Vec<u64>,
    ) -> Option<u64> {
        let name = self.unique_name(stem, suffix);
        self.add(name, TensorKind::Scratch, dtype, shape, Bytes::new())
    }

    /// Bytes used so far.
    pub fn used(&self) -> u64 {
        self.next
    }

    /// The constant `name`, its bytes built by `data` only the first time (the cost model
    /// lowers the same tables for every candidate it prices).
    fn constant(
        &mut self,
        name: String,
        dtype: DType,
        shape: Vec<u64>,
        data: impl FnOnce() -> Option<Vec<u8>>,
    ) -> Option<u64> {
        if let Some(&at) = self.consts.get(&name) {
            return Some(at);
        }
        let at = self.add(name.clone(), TensorKind::Const, dtype, shape, data()?)?;
        self.consts.insert(name, at);
        Some(at)
    }

    /// The causal mask of a `rows × width` score tile whose first key is `delta` positions
    /// before the block's first query: 0 where key `c ≤ r + delta`, −inf elsewhere, as `dt`
    /// (f16 or f32, the type of the scores it is added to). `None` for other types.
    pub fn causal_mask(
        &mut self,
        rows: u64,
        width: u64,
        delta: i64,
        window: Option<u64>,
        dt: DType,
    ) -> Option<u64> {
        let (zero, neg_inf): (&[u8], &[u8]) = match dt {
            DType::F16 => (&[0, 0], &[0x00, 0xfc]),
            DType::F32 => (&[0, 0, 0, 0], &[0x00, 0x00, 0x80, 0xff]),
            _ => return None,
        };
        let data = || {
            let bytes = dt.bytes_for(rows.checked_mul(width)?)?;
            let mut data = Vec::with_capacity(usize::try_from(bytes).ok()?);
            for r in 0..rows {
                for c in 0..width {
                    data.extend_from_slice(if visible(r, c, delta, window) {
                        zero
                    } else {
                        neg_inf
                    });
                }
            }
            Some(data)
        };
        let name = match window {
            None => format!("const.causal_mask.{dt}.r{rows}.w{width}.d{delta}"),
            Some(win) => format!("const.band_mask.{dt}.r{rows}.w{width}.d{delta}.win{win}"),
        };
        self.constant(name, dt, vec![rows, width], data)
    }

    /// The dense schedule's slot table of a `rows × width` tile: `first + c` where key `c` is
    /// visible to row `r` (see [`DramLayout::causal_mask`]), `NO_INDEX` elsewhere. `first` is
    /// where the tile's K/V rows start in the block's K/V buffers (a packed block's later
    /// heads).
    pub fn slot_table(
        &mut self,
        (rows, width): (u64, u64),
        delta: i64,
        window: Option<u64>,
        first: u64,
    ) -> Option<u64> {
        let data = || {
            let mut data =
                Vec::with_capacity(usize::try_from(rows.checked_mul(width)?.checked_mul(4)?).ok()?);
            for r in 0..rows {
                for c in 0..width {
                    let v = if visible(r, c, delta, window) {
                        u32::try_from(first.checked_add(c)?).ok()?
                    } else {
                        NO_INDEX
                    };
                    data.extend_from_slice(&v.to_le_bytes());
                }
            }
            Some(data)
        };
        let mut name = match window {
            None => format!("const.slots.r{rows}.w{width}.d{delta}"),
            Some(win) => format!("const.slots.r{rows}.w{width}.d{delta}.win{win}"),
        };
        if first > 0 {
            name.push_str(&format!(".s{first}"));
        }
        self.constant(name, DType::U32, vec![rows, width], data)
    }
}

/// Whether key `c` of a tile is visible to row `r` when the tile's first key is `delta`
/// before the block's first query: not in the row's future, and within its window if any.
fn visible(r: u64, c: u64, delta: i64, window: Option<u64>) -> bool {
    let behind = r as i64 + delta - c as i64;
    behind >= 0 && window.is_none_or(|w| behind < w as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_aligned_and_constants_shared() {
        let mut d = DramLayout::default();
        let a = d.add("a".into(), TensorKind::Input, DType::F32, vec![3], vec![]);
        let m1 = d.causal_mask(2, 3, 0, None, DType::F16);
        let m2 = d.causal_mask(2, 3, 0, None, DType::F16);
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

    #[test]
    fn f32_masks_and_unique_scratch_names() {
        let mut d = DramLayout::default();
        d.causal_mask(1, 2, 0, None, DType::F32).unwrap();
        let v: Vec<f32> = d.tensors[0]
            .data
            .chunks(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        assert_eq!(v, [0.0, f32::NEG_INFINITY]);
        assert_eq!(d.causal_mask(1, 2, 0, None, DType::I32), None);
        d.scratch("x", ".ahat", DType::F32, vec![2]).unwrap();
        d.scratch("x", ".ahat", DType::F32, vec![2]).unwrap();
        assert_eq!(d.tensors[2].name, "x#2.ahat");
    }
}
