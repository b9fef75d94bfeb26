//! Sizing of the `staged` schedule, whose on-chip footprint does not grow with the sequence.
//!
//! The classic flow keeps a whole query row's predicted scores and selected keys; at paper
//! scale (Llama-7B: 4096 keys, 1024 selected K/V rows of 256 B each) neither fits. So a
//! [`StagedPlan`] cuts every dimension that grows with S: the prediction stage walks K̂ in
//! tiles of `khat_keys` keys (each Â tile goes to the DRAM spill at its column offset), the
//! selection stage reloads Â in chunks of query rows, and a row whose selection exceeds
//! `list_keys` keys is attended in sub-lists of that many keys, merged by SUFA.SYNC. Only the
//! partials grow with S (one `d + 2` row per sub-list). When everything fits, the plan is one
//! tile, one chunk and one list per block: the unsplit flow. A score bias adds one buffer of
//! the same geometry as a chunk's Â (in f32): the op's mask over the chunk's rows and keys.

use sofa_ir::hw::HwConfig;

use super::{elem, gathered, max_sel, place_with, score_dt, Fit, Rings, F32, U32};
use crate::lower::sram::Buf;
use crate::lower::{Layer, LowerError};

/// The staged schedule's geometry (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StagedPlan {
    /// Query rows of a block (and of the Â spill).
    pub block_rows: u64,
    /// K̂ tile width of the prediction stage.
    pub khat_keys: u64,
    /// Rows of one selection chunk of a block that sees every key.
    pub chunk_rows: u64,
    /// Keys per sub-list: a row selecting more is attended in lists of this many keys.
    pub list_keys: u64,
}

impl StagedPlan {
    /// Sub-lists of the longest row.
    fn lists_max(&self, l: &Layer) -> u64 {
        max_sel(l).div_ceil(self.list_keys.max(1))
    }

    /// Rows of partials on chip (and in the A spill): a block's single-list partials, or the
    /// sub-lists' of a chunk.
    pub fn part_rows(&self, l: &Layer) -> u64 {
        self.block_rows
            .max(self.chunk_rows.saturating_mul(self.lists_max(l)))
    }

    /// Score elements of the Â buffer: a block's K̂ tile, or a chunk of reloaded rows.
    fn ahat_elems(&self, l: &Layer) -> u64 {
        (self.block_rows * self.khat_keys).max(self.chunk_rows.saturating_mul(l.shape.seq_k))
    }

    /// Rows of the gathered K/V buffers (and entries of the issue order).
    fn listed(&self, l: &Layer) -> u64 {
        gathered(l, l.shape.seq_k, self.chunk_rows, self.list_keys)
    }

    /// Bytes of every buffer of the schedule.
    pub fn sizes(&self, l: &Layer) -> Vec<(Buf, u64)> {
        let (d, act, sc) = (l.shape.head_dim, elem(l.shape.dt), elem(score_dt(l)));
        let r = self.block_rows;
        let listed = self.listed(l);
        let mut v = vec![
            (Buf::QScaled, r * d * act),
            (Buf::KTile, self.khat_keys * d * act),
            (Buf::AHat, self.ahat_elems(l) * sc),
            (Buf::Idx, self.chunk_rows * max_sel(l) * U32),
            (Buf::Top, r * 2 * sc),
            (Buf::Order, (1 + listed) * U32),
            (Buf::Slot, self.chunk_rows * self.list_keys * U32),
            (Buf::GK, listed * d * act),
            (Buf::GV, listed * d * act),
            (Buf::Part, self.part_rows(l) * (d + 2) * F32),
            (Buf::Out, r * d * act),
        ];
        if l.shape.causal {
            v.push((Buf::Mask, r * self.khat_keys * sc));
        }
        if l.dram.mask.is_some() {
            v.push((Buf::UMask, r * self.khat_keys * F32));
        }
        if l.biased() {
            v.push((Buf::BiasRows, self.bias_elems(l) * F32));
        }
        v
    }

    /// Bias elements on chip with a score bias: a selection chunk's rows over every key.
    fn bias_elems(&self, l: &Layer) -> u64 {
        self.chunk_rows.saturating_mul(l.shape.seq_k)
    }

    /// For a block of `rows` query rows seeing `n` keys: the rows per selection chunk (one
    /// SADS) and the keys per list, as many rows as the buffers hold. A row budget that fits
    /// one list is attended for all rows of the chunk at once; a longer one is split into
    /// lists per row (a list is a contiguous run of one row's SADS output).
    pub fn chunk(&self, l: &Layer, rows: u64, n: u64) -> (u64, u64) {
        let sel = l.budget(n);
        let whole = sel <= self.list_keys;
        let lists = if whole {
            1
        } else {
            sel.div_ceil(self.list_keys)
        };
        let (ahat, listed) = (self.ahat_elems(l), self.listed(l));
        let bias = if l.biased() {
            self.bias_elems(l)
        } else {
            u64::MAX
        };
        let fits = |r: u64| {
            r * n <= ahat.min(bias)
                && r * sel <= self.chunk_rows * max_sel(l)
                && r * lists <= self.part_rows(l)
                && (!whole
                    || (gathered(l, n, r, sel) <= listed
                        && r * sel <= self.chunk_rows * self.list_keys))
        };
        let r = (1..=rows.max(1)).rev().find(|&r| fits(r)).unwrap_or(1);
        (r, sel.min(self.list_keys))
    }

    /// Instructions of the layer under the plan (per item: its instructions and semaphores;
    /// masks left out): what `fit` minimises.
    pub fn estimate(&self, l: &Layer) -> u64 {
        const BLOCK: u64 = 12;
        const TILE: u64 = 7;
        const CHUNK: u64 = 16;
        const LIST: u64 = 16;
        let mut total = 0u64;
        let mut q0 = 0;
        while q0 < l.shape.seq_q {
            let rows = self.block_rows.min(l.shape.seq_q - q0);
            let n = if l.shape.causal {
                l.shape.seq_k.min(q0 + rows)
            } else {
                l.shape.seq_k
            };
            let (rc, keys) = self.chunk(l, rows, n);
            let sel = l.budget(n);
            // Per chunk: one list for all its rows, or sub-lists per row.
            let lists = if keys >= sel {
                1
            } else {
                rc * sel.div_ceil(keys.max(1))
            };
            total += BLOCK
                + n.div_ceil(self.khat_keys) * TILE
                + rows.div_ceil(rc) * (CHUNK + lists * LIST);
            q0 += rows;
        }
        total
    }
}

/// `x`, `⌈x/2⌉`, …, 1.
fn halving(x: u64) -> Vec<u64> {
    let mut v = vec![x.max(1)];
    while let Some(&last) = v.last().filter(|&&x| x > 1) {
        v.push(last.div_ceil(2));
    }
    v
}

/// The plan with the fewest instructions ([`StagedPlan::estimate`]) among those that fit:
/// query blocks halving from the layer's; lists of the whole row budget, then halving; chunks
/// of all rows down to one; for each, the widest K̂ tile that fits, ring depth 2 before 1. Ties keep the earlier (larger) plan, so a layer whose whole rows fit
/// gets the unsplit flow.
pub fn fit(hw: &HwConfig, l: &Layer) -> Result<Fit, LowerError> {
    let sel = max_sel(l);
    let mut best: Option<(u64, Fit)> = None;
    let mut last = String::new();
    for block_rows in halving(l.plan.q_block) {
        let options = halving(sel)
            .into_iter()
            .flat_map(|k| halving(block_rows).into_iter().map(move |r| (r, k)));
        for (chunk_rows, list_keys) in options {
            for khat_keys in halving(l.shape.seq_k) {
                let plan = StagedPlan {
                    block_rows,
                    khat_keys,
                    chunk_rows,
                    list_keys,
                };
                let placed = [2, 1]
                    .into_iter()
                    .map(|depth| {
                        let rings = Rings {
                            depth,
                            ..Rings::SINGLE
                        };
                        place_with(hw, l, (block_rows, 1), rings, Some(plan))
                    })
                    .find_map(|r| r.map_err(|e| last = e.to_string()).ok());
                if let Some(f) = placed {
                    let cost = plan.estimate(l);
                    if best.as_ref().is_none_or(|(c, _)| cost < *c) {
                        best = Some((cost, f));
                    }
                    break;
                }
            }
        }
    }
    best.map(|(_, f)| f).ok_or_else(|| LowerError::Op {
        op: "attention".into(),
        loc: l.name.clone(),
        message: format!("the attention buffers do not fit on chip even with 1-row blocks: {last}"),
    })
}
