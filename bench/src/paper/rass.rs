//! The RASS toy example of the paper (§IV-D, Fig. 15; paper-notes §6.4), run on the simulator.
//!
//! Four queries, eight keys. Fig. 15's ID buffer, indexed by the bitmask of the queries needing
//! a key, gives each query's keys: `0111 → {2, 3}` (q0, q1, q2), `1101 → {4, 7}` (q0, q2, q3),
//! `0010 → {0, 1}` (q1), `1000 → {5, 6}` (q3). So q0 = {2,3,4,7}, q1 = {0,1,2,3},
//! q2 = {2,3,4,7}, q3 = {4,5,6,7}.
//!
//! A four-instruction program (LD the index rows, `RASS reuse=true|false`, ST the order list)
//! runs functionally; the number of keys in the order list is what the data fetcher issues,
//! and each issued key loads one K and one V vector.
//!
//! The paper's *naive* order loads 12 K + 12 V. The figure does not spell that schedule out;
//! the reading that reproduces it is queries in program order, two per phase, each phase
//! loading the union of its pair's keys ([`naive_pairs`]). sofa's own ablation
//! (`reuse=false`) issues every query's keys separately.

use std::collections::{BTreeMap, BTreeSet};

use sofa_ir::hw::HwConfig;
use sofa_ir::isa::parse_asm;
use sofa_runtime::sim::{simulate, Mode, SimOptions};

use super::PaperError;

/// Each query's keys (Fig. 15), in key order.
pub const TOY: [[u32; 4]; 4] = [[2, 3, 4, 7], [0, 1, 2, 3], [2, 3, 4, 7], [4, 5, 6, 7]];

/// K and V vectors loaded by each schedule of the toy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RassToy {
    /// The paper's naive order, reconstructed by [`naive_pairs`].
    pub naive: u64,
    /// The simulator's `RASS reuse=false` (every query's keys).
    pub no_reuse: u64,
    /// The simulator's `RASS reuse=true`.
    pub rass: u64,
    /// The simulator's issue order with reuse.
    pub order: Vec<u32>,
}

/// Queries in order, `group` per phase, each phase loading the union of its queries' keys:
/// K + V vectors.
pub fn naive_pairs(queries: &[[u32; 4]], group: usize) -> u64 {
    queries
        .chunks(group.max(1))
        .map(|g| g.iter().flatten().collect::<BTreeSet<_>>().len() as u64)
        .sum::<u64>()
        * 2
}

fn program_text(reuse: bool) -> String {
    let count = if reuse { 9 } else { 17 };
    format!(
        ".version 1\n\
         .config_hash 0x0\n\
         .tensor \"idx\" kind=input dtype=u32 shape=[4,4] dram=0x0\n\
         .tensor \"order\" kind=output dtype=u32 shape=[{count}] dram=0x100\n\
         LD dst=temp[0x0] src=@idx rows=1 row_bytes=64 stride=64\n\
         SIGNAL engine=dma sem=0\n\
         WAIT engine=ctrl sem=0\n\
         RASS order=temp[0x100] slot=temp[0x200] idx=temp[0x0] rows=4 sel=4 n=8 reuse={reuse}\n\
         SIGNAL engine=ctrl sem=1\n\
         WAIT engine=dma sem=1\n\
         ST dst=@order src=temp[0x100] rows=1 row_bytes={bytes} stride={bytes}\n\
         HALT\n",
        bytes = 4 * count
    )
}

/// Run the toy through `RASS` on the simulator; returns the issued key list.
fn issue_order(hw: &HwConfig, reuse: bool) -> Result<Vec<u32>, PaperError> {
    let sim = |m: String| PaperError::Sim(format!("RASS toy: {m}"));
    let mut p = parse_asm(&program_text(reuse)).map_err(|e| sim(e.to_string()))?;
    p.config_hash = hw.hash();
    p.check(hw).map_err(|e| {
        sim(e
            .iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join("; "))
    })?;
    let idx: Vec<u8> = TOY.iter().flatten().flat_map(|k| k.to_le_bytes()).collect();
    let inputs = BTreeMap::from([("idx".to_string(), idx)]);
    let opts = SimOptions {
        mode: Mode::Functional,
        ..SimOptions::default()
    };
    let out = simulate(&p, hw, &inputs, &opts).map_err(|e| sim(e.to_string()))?;
    let bytes = out
        .outputs
        .get("order")
        .ok_or_else(|| sim("no 'order' output".into()))?;
    let words: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let count = words.first().map_or(0, |&c| c as usize);
    words
        .get(1..1 + count)
        .map(<[u32]>::to_vec)
        .ok_or_else(|| sim(format!("order count {count} exceeds the list")))
}

/// The toy under the three schedules.
pub fn measure(hw: &HwConfig) -> Result<RassToy, PaperError> {
    let order = issue_order(hw, true)?;
    let no_reuse = issue_order(hw, false)?;
    Ok(RassToy {
        naive: naive_pairs(&TOY, 2),
        no_reuse: 2 * no_reuse.len() as u64,
        rass: 2 * order.len() as u64,
        order,
    })
}
