//! Buffer sizing: the SRAM requests of a program, and the search for a row block that fits.
//!
//! Sizes are the maximum over layers, so one layout serves the whole stream. SU-FA.SYNC
//! merges every tile's partials at once, so the partials of a block (`Tc × rows × (d+2)` f32)
//! must be on chip together; when a layer's buffers do not fit, the query rows per block are
//! halved (then the rings made single) until they do.

use std::collections::BTreeMap;

use sofa_ir::hw::HwConfig;
use sofa_ir::isa::SramSpace;

use super::sram::{Buf, Request, SramLayout};
use super::sync::Chan;
use super::{Layer, LowerError};
use crate::schedule::Schedule;

const TOKEN_FIRST: &[SramSpace] = &[SramSpace::Token, SramSpace::Weight, SramSpace::Temp];
const WEIGHT_FIRST: &[SramSpace] = &[SramSpace::Weight, SramSpace::Token, SramSpace::Temp];
const TEMP_FIRST: &[SramSpace] = &[SramSpace::Temp, SramSpace::Token, SramSpace::Weight];

/// Bytes of an activation element (Q, K, V, O travel as f16, see [`super::ACT`]).
pub const ACT: u64 = 2;
/// Bytes of an f32 / f16 / u32 element.
pub const F32: u64 = 4;
pub const F16: u64 = 2;
pub const U32: u64 = 4;

/// Keys kept out of `n` visible ones (at least one).
pub fn budget(keep: f64, n: u64) -> u64 {
    ((keep * n as f64).ceil() as u64).clamp(1.min(n), n)
}

/// Upper bound of the per-tile selection of a layer (SADS `sel`).
pub fn max_sel(l: &Layer) -> u64 {
    match l.schedule {
        Schedule::Dense => l.bc,
        Schedule::Cct => budget(l.keep, l.bc).saturating_add(1).min(l.bc),
        Schedule::Staged => budget(l.keep, l.seq_k),
    }
}

/// The chosen layout: row cap, ring depth, placement.
pub struct Fit {
    pub rows_cap: u64,
    pub depth: u32,
    pub sram: SramLayout,
    pub chans: BTreeMap<Chan, u32>,
}

/// Channels the layers' schedules use.
pub fn channels(layers: &[Layer], depth: u32) -> BTreeMap<Chan, u32> {
    let mut c = BTreeMap::new();
    let mut add = |list: &[Chan]| {
        for &ch in list {
            c.insert(ch, depth);
        }
    };
    for l in layers {
        add(&[Chan::QRaw, Chan::QSufa, Chan::Out]);
        match l.schedule {
            Schedule::Dense => add(&[Chan::DenseKv]),
            Schedule::Cct | Schedule::Staged => {
                add(&[
                    Chan::QDlzs,
                    Chan::KHat,
                    Chan::AHat,
                    Chan::Idx,
                    Chan::Order,
                    Chan::Slot,
                    Chan::Kv,
                ]);
                if l.causal {
                    add(&[Chan::AMask, Chan::Mask]);
                }
            }
        }
        match (l.schedule, l.causal) {
            (Schedule::Cct, true) => add(&[Chan::AMasked]),
            (Schedule::Staged, causal) => {
                add(&[Chan::SpillA, Chan::Reload, Chan::SpillP, Chan::ReloadP]);
                if causal {
                    add(&[Chan::SpillAMasked]);
                }
            }
            _ => {}
        }
    }
    c
}

fn requests(layers: &[Layer], rows_cap: u64, depth: u32) -> Vec<Request> {
    let mut size: BTreeMap<Buf, u64> = BTreeMap::new();
    let mut need = |b: Buf, bytes: u64| {
        let e = size.entry(b).or_default();
        *e = (*e).max(bytes);
    };
    for l in layers {
        let r = l.q_block.min(rows_cap);
        let (d, bc) = (l.d, l.bc);
        need(Buf::Q, r * d * ACT);
        need(Buf::QScaled, r * d * ACT);
        need(Buf::Out, r * d * ACT);
        let tiles = if l.schedule == Schedule::Staged {
            1
        } else {
            l.tc
        };
        need(Buf::Part, tiles * r * (d + 2) * F32);
        let sel = max_sel(l);
        let width = if l.schedule == Schedule::Staged {
            l.seq_k
        } else {
            bc
        };
        match l.schedule {
            Schedule::Dense => {
                need(Buf::DenseK, bc * d * ACT);
                need(Buf::VTile, bc * d * ACT);
                need(Buf::DenseSlot, r * bc * U32);
            }
            Schedule::Cct | Schedule::Staged => {
                let gathered = width.min(r * sel);
                need(Buf::KTile, width * d * ACT);
                need(Buf::AHat, r * width * F16);
                if l.causal {
                    need(Buf::Mask, r * width * F16);
                }
                need(Buf::Idx, r * sel * U32);
                need(Buf::Top, r * 2 * F16);
                need(Buf::Order, (1 + gathered) * U32);
                need(Buf::Slot, r * sel * U32);
                need(Buf::GK, gathered * d * ACT);
                need(Buf::GV, gathered * d * ACT);
            }
        }
    }
    size.into_iter()
        .map(|(buf, bytes)| {
            let (ring, spaces) = match buf {
                Buf::Part => (1, TOKEN_FIRST),
                Buf::Q | Buf::QScaled | Buf::Out => (depth, TOKEN_FIRST),
                Buf::Top => (1, TEMP_FIRST),
                Buf::KTile | Buf::DenseK | Buf::VTile | Buf::GK | Buf::GV => (depth, WEIGHT_FIRST),
                _ => (depth, TEMP_FIRST),
            };
            Request {
                buf,
                bytes,
                depth: ring,
                spaces,
            }
        })
        .collect()
}

/// Largest row block (halving from the layers' query block) and ring depth that fit.
pub fn fit(hw: &HwConfig, layers: &[Layer]) -> Result<Fit, LowerError> {
    let mut cap = layers.iter().map(|l| l.q_block).max().unwrap_or(1).max(1);
    let mut last = String::new();
    loop {
        for depth in [2, 1] {
            // Largest first: Part, then the Token-first blocks, then the rest.
            let mut reqs = requests(layers, cap, depth);
            reqs.sort_by_key(|r| std::cmp::Reverse(r.bytes * u64::from(r.depth)));
            match SramLayout::allocate(hw, &reqs) {
                Ok(sram) => {
                    return Ok(Fit {
                        rows_cap: cap,
                        depth,
                        sram,
                        chans: channels(layers, depth),
                    })
                }
                Err(e) => last = e,
            }
        }
        if cap == 1 {
            return Err(LowerError::Module(format!(
                "the attention buffers do not fit on chip even with 1-row blocks: {last}"
            )));
        }
        cap = cap.div_ceil(2);
    }
}

/// For a layer without a given tile count: keep the default `Tc` when its buffers fit with
/// full query blocks, otherwise take the power-of-two `Tc` allowing the largest row block
/// (then the smaller `Tc`), which keeps paper-scale programs as short as the ISA allows.
pub fn default_tiles(hw: &HwConfig, l: &mut Layer) {
    if l.tc_fixed {
        return;
    }
    let rows_with = |tc: u64| {
        let mut c = l.clone();
        c.tc = tc;
        c.bc = c.seq_k.div_ceil(tc);
        fit(hw, std::slice::from_ref(&c)).ok().map(|f| f.rows_cap)
    };
    if rows_with(l.tc) == Some(l.q_block) {
        return;
    }
    let mut best = (rows_with(l.tc).unwrap_or(0), l.tc);
    for tc in (0..7).map(|p| 1u64 << p).filter(|&t| t <= l.seq_k) {
        let rows = rows_with(tc).unwrap_or(0);
        if rows > best.0 || (rows == best.0 && tc < best.1) {
            best = (rows, tc);
        }
    }
    l.tc = best.1;
    l.bc = l.seq_k.div_ceil(best.1);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(schedule: Schedule, seq: u64, d: u64, tc: u64, fixed: bool) -> Layer {
        Layer {
            name: "l".into(),
            schedule,
            batch: 1,
            heads: 1,
            kv_heads: 1,
            seq_q: seq,
            seq_k: seq,
            d,
            causal: true,
            keep: 0.25,
            tc,
            tc_fixed: fixed,
            bc: seq.div_ceil(tc),
            q_block: 128.min(seq),
            radius: f32::INFINITY,
            q: 0,
            k: 0,
            v: 0,
            o: 0,
            spill_ahat: 0,
            spill_a: 0,
        }
    }

    #[test]
    fn small_layers_keep_full_blocks_and_big_ones_shrink_rows() {
        let hw = HwConfig::default();
        let f = fit(&hw, &[layer(Schedule::Cct, 300, 32, 3, true)]).unwrap();
        assert_eq!(f.rows_cap, 128);
        // S = 4096, d = 128, 32 tiles: the 32 partial blocks of 130 f32 per row bound the rows.
        let f = fit(&hw, &[layer(Schedule::Cct, 4096, 128, 32, true)]).unwrap();
        assert!(f.rows_cap < 128 && f.rows_cap * 32 * 130 * 4 <= hw.sram.token_bytes);
    }

    #[test]
    fn default_tiles_prefer_larger_row_blocks() {
        let hw = HwConfig::default();
        // Dense at S = 4096: Tc 16 reaches the same 8-row blocks as Tc 32 with half the tiles.
        for (s, tc) in [(Schedule::Dense, 16), (Schedule::Cct, 32)] {
            let mut l = layer(s, 4096, 128, 32, false);
            let before = fit(&hw, std::slice::from_ref(&l)).unwrap().rows_cap;
            default_tiles(&hw, &mut l);
            let after = fit(&hw, std::slice::from_ref(&l)).unwrap().rows_cap;
            assert_eq!((l.tc, before, after), (tc, 8, 8), "{s:?}");
        }
        let mut small = layer(Schedule::Cct, 300, 32, 3, false);
        default_tiles(&hw, &mut small);
        assert_eq!((small.tc, small.bc), (3, 100));
    }
}
