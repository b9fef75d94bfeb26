//! On-chip buffer allocation: a bump allocator per SRAM space with capacity checks.
//!
//! The attention dataflow needs a fixed set of buffers ([`Buf`]); those that a producer fills
//! while its consumer still reads the previous one are rings of two (double buffering, the
//! paper's load/compute overlap). One layout serves a whole segment, so buffers never move
//! while a lagging engine still uses them; all of it is free again when the segment ends.

use std::collections::BTreeMap;

use crate::lower::ResourceError;
use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{SramRef, SramSpace};

/// Alignment of every buffer.
pub const ALIGN: u64 = 64;

/// The buffers of the attention dataflow.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Buf {
    /// The Q block (`rows × d`), loaded and scaled in place by the op's scale (read by DLZS.S
    /// and SUFA.T).
    QScaled,
    /// K̂ tile (cct), visible K̂ row (staged) or K tile (dense).
    KTile,
    /// Dense K tile.
    DenseK,
    /// Dense V tile.
    VTile,
    /// Dense slot table.
    DenseSlot,
    /// Predicted scores Â (dense with a mask: the tile's combined mask, SADS's input).
    AHat,
    /// Causal mask of a score tile.
    Mask,
    /// The op's mask operand over a score tile (f32, loaded from its `MaskRef`).
    UMask,
    /// Staged with a score bias: the op's mask over a row chunk's visible keys, for SUFA.BIAS.
    BiasRows,
    /// SADS indices.
    Idx,
    /// SADS top-1/top-2 values.
    Top,
    /// RASS issue order (index list).
    Order,
    /// RASS slots.
    Slot,
    /// Gathered K rows.
    GK,
    /// Gathered V rows.
    GV,
    /// SU-FA partials: a block's running ones (staged: its lists').
    Part,
    /// The output block.
    Out,
    /// On-demand K/V: the token rows X of a key tile (DLZS.K's input for K̂).
    XTile,
    /// On-demand K/V: the token rows X of the keys RASS lists (KVGEN's input).
    GX,
    /// On-demand K/V: KVGEN's copy of the RASS order list.
    GList,
    /// On-demand K/V: the KV head's columns of W_k and W_v (`hidden × d`).
    Wk,
    Wv,
    /// On-demand K/V: the KV head's bias of K and V repeated over the listed rows (KVGEN
    /// accumulates onto a copy of it).
    Bk,
    Bv,
}

/// One buffer request: bytes per ring entry, ring depth, spaces in order of preference.
#[derive(Clone, Debug)]
pub struct Request {
    pub buf: Buf,
    pub bytes: u64,
    pub depth: u32,
    pub spaces: &'static [SramSpace],
}

/// Where each buffer lives.
#[derive(Clone, Debug, Default)]
pub struct SramLayout {
    bufs: BTreeMap<Buf, (SramRef, u64, u32)>,
}

impl SramLayout {
    /// Place every request first-fit in its preferred spaces; `Err` names the first that fits
    /// nowhere.
    pub fn allocate(hw: &HwConfig, reqs: &[Request]) -> Result<SramLayout, ResourceError> {
        let mut next: BTreeMap<SramSpace, u64> = BTreeMap::new();
        let mut layout = SramLayout::default();
        for r in reqs {
            let stride = r.bytes.next_multiple_of(ALIGN);
            let total = stride * u64::from(r.depth);
            let spot = r.spaces.iter().find_map(|&s| {
                let at = next.get(&s).copied().unwrap_or(0);
                (at + total <= hw.sram_capacity(s)).then_some((s, at))
            });
            let Some((space, at)) = spot else {
                return Err(ResourceError::NoSpace {
                    buf: format!("{:?}", r.buf),
                    bytes: r.bytes,
                    depth: r.depth,
                    spaces: format!("{:?}", r.spaces),
                });
            };
            let offset = u32::try_from(at).map_err(|_| ResourceError::SramOffset(at))?;
            next.insert(space, at + total);
            layout
                .bufs
                .insert(r.buf, (SramRef::new(space, offset), stride, r.depth));
        }
        Ok(layout)
    }

    /// Ring entry `n` (mod depth) of `buf`; the first entry when the buffer is unknown (a
    /// lowering bug that `Program::check` would flag by range).
    pub fn at(&self, buf: Buf, n: u64) -> SramRef {
        match self.bufs.get(&buf) {
            Some(&(base, stride, depth)) => {
                let k = n % u64::from(depth.max(1));
                SramRef::new(base.space, base.offset + (k * stride) as u32)
            }
            None => SramRef::temp(0),
        }
    }

    /// Every allocated buffer in [`Buf`] order: its ring entry 0, stride bytes (one aligned
    /// entry) and ring depth.
    pub fn buffers(&self) -> impl Iterator<Item = (Buf, SramRef, u64, u32)> + '_ {
        self.bufs
            .iter()
            .map(|(&buf, &(base, stride, depth))| (buf, base, stride, depth))
    }

    /// Ring depth of `buf` (0 when not allocated).
    pub fn depth(&self, buf: Buf) -> u32 {
        self.bufs.get(&buf).map_or(0, |b| b.2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &[SramSpace] = &[SramSpace::Temp, SramSpace::Token];

    #[test]
    fn first_fit_spills_to_the_next_space_and_rings_step() {
        let hw = HwConfig::default();
        let reqs = [
            Request {
                buf: Buf::QScaled,
                bytes: 20 * 1024,
                depth: 1,
                spaces: T,
            },
            Request {
                buf: Buf::Idx,
                bytes: 100,
                depth: 2,
                spaces: T,
            },
            Request {
                buf: Buf::Out,
                bytes: 20 * 1024,
                depth: 1,
                spaces: T,
            },
        ];
        let l = SramLayout::allocate(&hw, &reqs).unwrap();
        assert_eq!(l.at(Buf::QScaled, 0), SramRef::temp(0));
        assert_eq!(l.at(Buf::Idx, 1), SramRef::temp(20 * 1024 + 128));
        assert_eq!(l.at(Buf::Idx, 2), SramRef::temp(20 * 1024));
        assert_eq!(l.at(Buf::Out, 0), SramRef::token(0));
        let too_big = [Request {
            buf: Buf::Part,
            bytes: 1 << 30,
            depth: 1,
            spaces: T,
        }];
        assert!(matches!(
            SramLayout::allocate(&hw, &too_big),
            Err(ResourceError::NoSpace { buf, .. }) if buf == "Part"
        ));
    }
}
