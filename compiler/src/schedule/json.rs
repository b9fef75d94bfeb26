//! `schedule-json`: the stable, versioned summary of a module's attention schedule.
//!
//! Top level (keys in this order):
//! - `format`: always `"sofa-schedule"`; `version`: `2` (bumped on any change of layout; 2 added
//!   `roofline`).
//! - `hw`: `{ "name": HwConfig.name, "hash": HwConfig::hash as 16 lowercase hex digits }`.
//! - `workload`: the workload name given by the caller; `schedule`: requested schedule
//!   (`dense`|`staged`|`cct`); `ablate`: ablated mechanisms as a comma list (`""` = none).
//! - `layers`: one entry per attention op, in module order:
//!   - `index`, `name` (the op location), `shape`: `{batch, heads, seq_q, seq_k, head_dim,
//!     hidden, causal, keep}`;
//!   - `schedule`: the schedule costed (keep 1 runs `dense` under the analytical K/V
//!     placements; gathered K/V run the requested schedule selecting every key, as the
//!     lowering does); `tc`, `bc` (`⌈seq_k/tc⌉`), `q_block` (query rows per block),
//!     `query_blocks`, `khat` (`recompute`|`spill`|`none`; gathered: `spill`, K̂ is the K
//!     tile read per block), `kv`: `gathered` (K/V read from DRAM, priced from the lowered
//!     program: the default, what `sofa run` simulates), `on-demand` (KVGEN from X) or
//!     `preload`; `causal_tiles_skipped` (key tiles never touched, summed over
//!     batch·heads·blocks);
//!   - `cycles`: busy cycles per engine (`dma`, `dlzs`, `sads`, `kvpe`, `sufa`, `ctrl`, only
//!     engines used); `latency_cycles`: the layer's predicted latency;
//!   - `instrs`: instruction counts by mnemonic;
//!   - `dram`: per tensor class (`q`, `k_x` token rows or K rows, `v`, `weights`, `khat`,
//!     `ahat`, `a`, `o`, `spills` (spilled SU-FA partials), `tables` (causal and slot tables
//!     of gathered plans), `mask` (a score bias's tiles); only classes moved) `{read,
//!     written}` bytes; `dram_bytes`: their sum;
//!   - `energy_fj`: femtojoules per engine plus `dram_device` and `dram_interface`;
//!     `energy_total_fj`;
//!   - `staged_dram_bytes`: the same layer under `staged`; `dram_saving_vs_staged_pct`:
//!     `100·(staged − this)/staged`, rounded to 2 decimals (0 when staged moves nothing);
//!   - `roofline` (version 2): the layer's bounds, from `HwConfig` and its shape only
//!     (`docs/roofline.md`): `bounds` (cycles per engine: `sufa`, `dlzs`, `sads`, `kvpe`,
//!     `dram`), `dram_lower_bound_bytes`, `binding` (the largest bound's name), `bound_cycles`,
//!     `predicted_cycles` (= `latency_cycles`) and `efficiency` (`bound_cycles /
//!     predicted_cycles`, 4 decimals).
//! - `totals`: `{latency_cycles, dram_bytes, energy_fj, staged_dram_bytes}` summed over layers,
//!   and `roofline`: the bounds of the layers' summed work against the summed latency.
//!
//! Maps are ordered by key, so equal inputs print byte-identical JSON.

use std::collections::BTreeMap;

use serde::Serialize;
use sofa_ir::hw::roofline::{efficiency, Work};
use sofa_ir::hw::{CostError, HwConfig};

use super::price::PricedLayer;
use super::{Ablation, Schedule, Traffic};

pub const FORMAT: &str = "sofa-schedule";
pub const VERSION: u32 = 2;

#[derive(Serialize)]
struct Doc<'a> {
    format: &'static str,
    version: u32,
    hw: Hw,
    workload: &'a str,
    schedule: &'static str,
    ablate: String,
    layers: Vec<Layer<'a>>,
    totals: Totals,
}

#[derive(Serialize)]
struct Hw {
    name: String,
    hash: String,
}

#[derive(Serialize)]
struct Shape {
    batch: u64,
    heads: u64,
    seq_q: u64,
    seq_k: u64,
    head_dim: u64,
    hidden: u64,
    causal: bool,
    keep: f64,
}

#[derive(Serialize)]
struct Bytes {
    read: u64,
    written: u64,
}

#[derive(Serialize)]
struct Layer<'a> {
    index: usize,
    name: &'a str,
    shape: Shape,
    schedule: &'static str,
    tc: u64,
    bc: u64,
    q_block: u64,
    query_blocks: u64,
    khat: &'static str,
    kv: &'static str,
    causal_tiles_skipped: u64,
    cycles: &'a BTreeMap<&'static str, u64>,
    latency_cycles: u64,
    instrs: &'a BTreeMap<&'static str, u64>,
    dram: BTreeMap<&'static str, Bytes>,
    dram_bytes: u64,
    energy_fj: &'a BTreeMap<&'static str, u64>,
    energy_total_fj: u64,
    staged_dram_bytes: u64,
    dram_saving_vs_staged_pct: f64,
    roofline: Roofline,
}

#[derive(Serialize)]
struct Totals {
    latency_cycles: u64,
    dram_bytes: u64,
    energy_fj: u64,
    staged_dram_bytes: u64,
    roofline: Roofline,
}

#[derive(Serialize)]
struct Roofline {
    bounds: BTreeMap<&'static str, u64>,
    dram_lower_bound_bytes: u64,
    binding: &'static str,
    bound_cycles: u64,
    predicted_cycles: u64,
    efficiency: f64,
}

/// The roofline of `work` against `predicted` cycles.
fn roofline(hw: &HwConfig, work: &Work, predicted: u64) -> Result<Roofline, CostError> {
    let b = work.bounds(hw)?;
    let (binding, bound_cycles) = b.binding();
    Ok(Roofline {
        bounds: b.cycles().into_iter().collect(),
        dram_lower_bound_bytes: b.dram.bytes,
        binding,
        bound_cycles,
        predicted_cycles: predicted,
        efficiency: (efficiency(bound_cycles, predicted) * 1e4).round() / 1e4,
    })
}

/// `100·(staged − ours)/staged`, rounded to 2 decimals.
pub fn saving_pct(ours: u64, staged: u64) -> f64 {
    if staged == 0 {
        return 0.0;
    }
    let pct = 100.0 * (staged as f64 - ours as f64) / staged as f64;
    (pct * 100.0).round() / 100.0
}

fn layer<'a>(p: &'a PricedLayer, roofline: Roofline) -> Layer<'a> {
    let c = &p.plan.cost;
    let s = &p.shape;
    let dram = c
        .dram
        .iter()
        .map(|(&k, &Traffic { read, written })| (k, Bytes { read, written }))
        .collect();
    Layer {
        index: p.index,
        name: &p.name,
        shape: Shape {
            batch: s.batch,
            heads: s.heads,
            seq_q: s.seq_q,
            seq_k: s.seq_k,
            head_dim: s.head_dim,
            hidden: s.hidden,
            causal: s.causal,
            keep: s.keep,
        },
        schedule: p.plan.schedule.name(),
        tc: p.plan.tc,
        bc: p.plan.bc,
        q_block: p.plan.q_block,
        query_blocks: p.plan.query_blocks,
        khat: p.plan.khat.name(),
        kv: p.plan.kv.name(),
        causal_tiles_skipped: c.causal_tiles_skipped,
        cycles: &c.cycles,
        latency_cycles: c.latency,
        instrs: &c.instrs,
        dram,
        dram_bytes: c.dram_bytes(),
        energy_fj: &c.energy,
        energy_total_fj: c.energy_total(),
        staged_dram_bytes: p.staged.dram_bytes(),
        dram_saving_vs_staged_pct: saving_pct(c.dram_bytes(), p.staged.dram_bytes()),
        roofline,
    }
}

/// The schedule-json text (pretty-printed, trailing newline); `work` is each layer's roofline
/// work (aligned with `layers`).
pub fn render(
    hw: &HwConfig,
    workload: &str,
    schedule: Schedule,
    ablate: Ablation,
    layers: &[PricedLayer],
    work: &[Work],
) -> Result<String, CostError> {
    let sum =
        |f: &dyn Fn(&PricedLayer) -> u64| layers.iter().map(f).fold(0u64, u64::saturating_add);
    let latency = sum(&|p| p.plan.cost.latency);
    let total = roofline(hw, &Work::sum(work)?, latency)?;
    let rows = layers
        .iter()
        .zip(work)
        .map(|(p, w)| Ok(layer(p, roofline(hw, w, p.plan.cost.latency)?)))
        .collect::<Result<Vec<_>, CostError>>()?;
    let doc = Doc {
        format: FORMAT,
        version: VERSION,
        hw: Hw {
            name: hw.name.clone(),
            hash: format!("{:016x}", hw.hash()),
        },
        workload,
        schedule: schedule.name(),
        ablate: ablate.to_list(),
        totals: Totals {
            latency_cycles: latency,
            dram_bytes: sum(&|p| p.plan.cost.dram_bytes()),
            energy_fj: sum(&|p| p.plan.cost.energy_total()),
            staged_dram_bytes: sum(&|p| p.staged.dram_bytes()),
            roofline: total,
        },
        layers: rows,
    };
    // Plain structs of integers, strings and finite floats always serialise.
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    Ok(text)
}
