//! A product's layouts: its tile sizes per number of buffer copies, chosen by an estimate
//! from the cycle formulas, and the choice between layouts, timed on their first steps with
//! the simulator's timing model (see [`super`]'s module doc).

use sofa_ir::hw::cost::{array_cycles, dma_cycles};
use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{DType, Instr, SramSpace};

use super::{emit_tiled, step_count, Product};
use crate::lower::model::kvfuse::segment_cycles;
use crate::lower::model::tiling::{fit, Need};
use crate::lower::model::vector::Mode;
use crate::lower::model::OpRef;
use crate::lower::LowerError;

/// Tile sizes `(rows, k, n)`.
pub(super) type Tiles = (u64, u64, u64);

/// How many copies a layout keeps of a step's inputs and of its result (1 or 2 each).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) struct Copies {
    pub inputs: u64,
    pub results: u64,
}

impl Copies {
    pub const ALL: [Copies; 3] = [
        Copies {
            inputs: 1,
            results: 1,
        },
        Copies {
            inputs: 2,
            results: 1,
        },
        Copies {
            inputs: 2,
            results: 2,
        },
    ];
}

/// Tile sizes with `copies` of the buffers: the fewest `GEMM`s (then column chunks) among
/// those whose estimated cycles ([`estimate`]) are within [`LATENCY_SLACK_PCT`] of the
/// fewest; `None` when nothing fits.
pub(super) fn choose_tiles(
    hw: &HwConfig,
    p: &Product,
    es: u64,
    (r, k, n): Tiles,
    copies: Copies,
) -> Option<Tiles> {
    let halvings = |x: u64| {
        let mut v = vec![x];
        while x > 1 && v[v.len() - 1] > 1 {
            let next = v[v.len() - 1].div_ceil(2);
            v.push(next);
        }
        v
    };
    let c_full =
        p.c.as_ref()
            .is_some_and(|(_, m)| *m != Mode::Row && *m != Mode::Scalar);
    let mut candidates: Vec<(u64, u64, u64, Tiles)> = Vec::new();
    let ks = if p.b_inner > 1 { vec![k] } else { halvings(k) };
    for kt in ks {
        for &nt in &halvings(n) {
            let mut inputs = vec![
                Need::new(SramSpace::Token, 0, kt * es),
                Need::new(SramSpace::Weight, kt * nt * es, 0),
            ];
            if p.bias.is_some() || p.c.is_some() {
                inputs.push(Need::new(SramSpace::Weight, nt * es, 0));
            }
            if c_full {
                inputs.push(Need::new(SramSpace::Token, 0, nt * es));
            }
            let result = Need::new(SramSpace::Temp, 0, nt * es);
            let mut needs: Vec<Need> = (0..copies.inputs)
                .flat_map(|_| inputs.iter().copied())
                .collect();
            needs.extend((0..copies.results).map(|_| result));
            let mt = fit(hw, &needs, r);
            if mt == 0 {
                continue;
            }
            let tiles = (mt, kt, nt);
            let gemms = step_count((r, k, n), tiles);
            let cycles = estimate(hw, (r, k, n), tiles, es, copies);
            candidates.push((cycles, gemms, n.div_ceil(nt), tiles));
        }
    }
    // Within the slack of the fastest estimate, the fewest GEMMs (a program of tiny tiles is
    // barely faster and many times longer), then column chunks (each reads A again).
    let fastest = candidates.iter().map(|c| c.0).min()?;
    let within = fastest.saturating_add(fastest / 100 * LATENCY_SLACK_PCT);
    candidates
        .into_iter()
        .filter(|c| c.0 <= within)
        .min_by_key(|c| (c.1, c.2, c.0))
        .map(|c| c.3)
}

/// The sizes `0..x` splits into in pieces of `t`, with how many pieces have each.
fn pieces(x: u64, t: u64) -> Vec<(u64, u64)> {
    let t = t.max(1);
    let mut out = vec![(t, x / t)];
    if !x.is_multiple_of(t) {
        out.push((x % t, 1));
    }
    out
}

/// Estimated cycles of the `tiles` of an `(r, k, n)` product with `es`-byte elements: the PE
/// array's `GEMM`s and DMA's transfers (the A rows per step, B per step or, with one `K` step,
/// per column chunk, the result per tile) from the hardware's cycle formulas; added with one
/// copy of the inputs, the loads overlapped with two, the stores too with two results. The
/// PE array takes `kvpe.rows` rows per pass, so a tile of fewer rows costs as much as a full
/// one: counting GEMMs alone would miss that.
fn estimate(hw: &HwConfig, (r, k, n): Tiles, (mt, kt, nt): Tiles, es: u64, c: Copies) -> u64 {
    let gemm = |m: u64, n: u64, k: u64| {
        array_cycles(m, n, k, hw.kvpe.rows, hw.kvpe.cols, ("", "")).unwrap_or(u64::MAX)
    };
    let dma = |bytes: u64| dma_cycles(hw, bytes).unwrap_or(u64::MAX);
    let (ms, ks, ns) = (pieces(r, mt), pieces(k, kt), pieces(n, nt));
    let one_k_step = ks.len() == 1 && ks[0].1 == 1;
    let (mut array, mut loads, mut stores) = (0u64, 0u64, 0u64);
    for &(m, mc) in &ms {
        for &(nn, nc) in &ns {
            let tiles = mc.saturating_mul(nc);
            stores = stores.saturating_add(tiles.saturating_mul(dma(m * nn * es)));
            for &(kk, kc) in &ks {
                let steps = tiles.saturating_mul(kc);
                array = array.saturating_add(steps.saturating_mul(gemm(m, nn, kk)));
                let mut bytes = m * kk * es;
                if !one_k_step {
                    bytes += kk * nn * es;
                }
                loads = loads.saturating_add(steps.saturating_mul(dma(bytes)));
            }
        }
    }
    if one_k_step {
        for &(nn, nc) in &ns {
            loads = loads.saturating_add(nc.saturating_mul(dma(k * nn * es)));
        }
    }
    match (c.inputs, c.results) {
        (1, _) => array.saturating_add(loads).saturating_add(stores),
        (_, 1) => array.max(loads).saturating_add(stores),
        _ => array.max(loads.saturating_add(stores)),
    }
}

/// The problem's dims, its tiles and the copies of its buffers.
pub(super) type Layout = (Tiles, Tiles, Copies);

/// Steps of each layout [`pick`] times: the pipeline repeats itself after a few, so the rest
/// is extrapolated rather than replayed (which would time every product twice over).
const PROBE_STEPS: usize = 16;

/// Of several layouts the one with the fewest DRAM bytes among those at most
/// [`LATENCY_SLACK_PCT`] slower than the fastest, then the faster, then the first; each
/// timed on its first [`PROBE_STEPS`] steps with the simulator's timing model and scaled to
/// all of them.
pub(super) fn pick(
    hw: &HwConfig,
    o: &OpRef,
    dt: DType,
    p: &Product,
    layouts: &[Layout],
) -> Result<Layout, LowerError> {
    let mut figures = Vec::with_capacity(layouts.len());
    for (i, &layout) in layouts.iter().enumerate() {
        let mut out = Vec::new();
        emit_tiled(hw, o, dt, p, layout, PROBE_STEPS, &mut out)?;
        let total = usize::try_from(step_count(layout.0, layout.1)).unwrap_or(usize::MAX);
        let scale = |v: u64| {
            let probed = total.min(PROBE_STEPS) as u128;
            let v = u128::from(v) * total as u128 / probed.max(1);
            u64::try_from(v).unwrap_or(u64::MAX)
        };
        let cycles = segment_cycles(hw, &out).map_or(u64::MAX, scale);
        figures.push((cycles, scale(dram_bytes(&out)), i));
    }
    let fastest = figures.iter().map(|f| f.0).min().unwrap_or(u64::MAX);
    let within = fastest.saturating_add(fastest / 100 * LATENCY_SLACK_PCT);
    figures
        .into_iter()
        .filter(|f| f.0 <= within)
        .min_by_key(|f| (f.1, f.0, f.2))
        .map(|f| layouts[f.2])
        .ok_or_else(|| o.err("no GEMM tile fits the SRAMs"))
}

/// How much slower than the fastest layout a layout may be and still win by fewer DRAM bytes
/// (percent): the default of `cct-tile`'s objective, the cost model's accuracy.
const LATENCY_SLACK_PCT: u64 = 3;

/// The bytes `instrs` move between DRAM and SRAM.
fn dram_bytes(instrs: &[Instr]) -> u64 {
    instrs
        .iter()
        .map(|i| match i {
            Instr::Ld {
                rows, row_bytes, ..
            }
            | Instr::St {
                rows, row_bytes, ..
            } => u64::from(*rows) * u64::from(*row_bytes),
            _ => 0,
        })
        .sum()
}
