//! The recall shadow: exact attention scores kept beside DLZS's predictions, so the simulator
//! can report how many of SADS's selected keys are among the exact top-`sel`.
//!
//! `DLZS.S` records its exact scores `q · K̂ᵀ` (f32) keyed by its `dst` SRAM address. A `SADS`
//! whose `src` is such an address compares, per row, its selection with the exact top-`sel` of
//! the same row; positions masked in `src` (−inf, or the integer minimum) are excluded from both.
//! Any other instruction writing into a shadowed range drops that shadow, except a `VEC.ADD` onto
//! the buffer itself (a mask tile), whose tile is added to the exact scores as well: a score
//! bias changes which keys are the exact top-`sel`, as in the reference's `selection_stats`. The map is small (one entry per live Â buffer), so the
//! per-instruction overlap scan is cheap. Schedules that move Â through DRAM (staged) lose the
//! shadow on the way and report no recall.

use std::collections::BTreeMap;

use sofa_ir::isa::{SramRef, SramSpace, NO_INDEX};

use super::select::{by_value, Cand};

/// Exact scores of one `DLZS.S` destination.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Shadow {
    /// Bytes of the predicted buffer (its shadowed range).
    pub bytes: u64,
    pub rows: usize,
    pub n: usize,
    /// Row-major `rows × n` exact scores.
    pub scores: Vec<f32>,
}

/// The live shadows, keyed by (SRAM space code, byte offset).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScoreShadows {
    map: BTreeMap<(u8, u32), Shadow>,
}

impl ScoreShadows {
    /// Number of live shadows.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub(crate) fn get(&self, at: SramRef) -> Option<&Shadow> {
        self.map.get(&(at.space.code(), at.offset))
    }

    pub(crate) fn insert(&mut self, at: SramRef, shadow: Shadow) {
        self.map.insert((at.space.code(), at.offset), shadow);
    }

    /// Add `values` (row-major, the shadow's shape) to the exact scores of the shadow at `at`.
    pub(crate) fn add_onto(&mut self, at: SramRef, values: &[f32]) {
        if let Some(sh) = self.map.get_mut(&(at.space.code(), at.offset)) {
            sh.scores.iter_mut().zip(values).for_each(|(s, v)| *s += v);
        }
    }

    /// Drop every shadow overlapping `[start, start + len)` of `space`, except one keyed at
    /// `keep`.
    pub(crate) fn invalidate(
        &mut self,
        space: SramSpace,
        start: u64,
        len: u64,
        keep: Option<SramRef>,
    ) {
        if self.map.is_empty() {
            return;
        }
        let end = start.saturating_add(len);
        let kept = keep.map(|k| (k.space.code(), k.offset));
        self.map.retain(|&(sp, off), sh| {
            let (s, e) = (u64::from(off), u64::from(off).saturating_add(sh.bytes));
            let overlaps = sp == space.code() && s < end && start < e;
            !overlaps || Some((sp, off)) == kept
        });
    }
}

/// Per-row recall of a SADS selection against the shadow's exact scores: (selected, hits).
///
/// `valid[r·n + c]` says whether column `c` of row `r` was eligible (not masked); `chosen` is
/// the SADS output (`rows × sel` columns, `NO_INDEX` padded, *without* `base`).
pub(crate) fn recall(
    shadow: &Shadow,
    valid: &[bool],
    chosen: &[u32],
    (rows, n, sel): (usize, usize, usize),
) -> (u64, u64) {
    let (mut selected, mut hits) = (0u64, 0u64);
    let mut cand: Vec<Cand> = Vec::with_capacity(n);
    let mut in_top = vec![false; n];
    for r in 0..rows.min(shadow.rows) {
        cand.clear();
        let scores = &shadow.scores[r * shadow.n..(r + 1) * shadow.n];
        let ok = &valid[r * n..(r + 1) * n];
        cand.extend(
            (0..n)
                .filter(|&c| ok[c])
                .map(|c| (f64::from(scores[c]) + 0.0, c as u32)),
        );
        let top = sel.min(cand.len());
        if top > 0 && top < cand.len() {
            cand.select_nth_unstable_by(top - 1, by_value);
        }
        in_top.iter_mut().for_each(|b| *b = false);
        for &(_, c) in &cand[..top] {
            in_top[c as usize] = true;
        }
        for &c in chosen[r * sel..(r + 1) * sel]
            .iter()
            .filter(|&&c| c != NO_INDEX)
        {
            selected += 1;
            hits += u64::from(in_top.get(c as usize).copied().unwrap_or(false));
        }
    }
    (selected, hits)
}
