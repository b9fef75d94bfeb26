//! Selection: `SADS` (per-row top-`sel` within the sphere radius) and `RASS` (reuse-aware
//! issue order of the selected keys).
//!
//! SADS, per row of `src[rows×n]`: masked entries (−inf or NaN for floats, the type's minimum
//! for integers) are never candidates; with `max` the largest remaining value, the candidates
//! are the entries `≥ max − radius` (`radius` infinite or NaN: no clipping). The `sel` largest
//! candidates, ties broken by the lower column, are written as `base + column` in descending
//! order, `NO_INDEX`-padded; `top[r]` holds the two largest candidates' values (−inf / the
//! integer minimum when absent), so top-2 is known even when `sel = 1`. Values compare in `f64`,
//! exact for every score type.
//!
//! RASS with `reuse`: the distinct keys, by the number of query rows selecting them (descending,
//! ties by the lower key), as the index list `order`; without: every entry in row-major order,
//! duplicates kept. `slot[r][i]` is the position in `order` of `idx[r][i]`; `NO_INDEX` stays.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use sofa_ir::isa::{DType, SramRef, NO_INDEX};

use super::data::{byte_len, int_range, load_f64, load_u32, mul, put_f64, store_u32};
use super::recall::{recall, ScoreShadows};
use super::{Done, ExecError};
use crate::sim::memory::Memory;

/// A candidate: (value, column).
pub(crate) type Cand = (f64, u32);

/// Descending value, then ascending column: a total order (no NaN reaches it).
pub(crate) fn by_value(a: &Cand, b: &Cand) -> Ordering {
    b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
}

/// The value marking a masked (excluded) key in a `dt` buffer.
pub(crate) fn masked_value(dt: DType) -> f64 {
    if dt.is_float() {
        f64::NEG_INFINITY
    } else {
        int_range(dt).0 as f64
    }
}

/// Sort the `keep` best candidates to the front, in order; the rest is dropped.
fn top_sorted(cand: &mut Vec<Cand>, keep: usize) {
    if keep < cand.len() {
        if keep > 0 {
            cand.select_nth_unstable_by(keep - 1, by_value);
        }
        cand.truncate(keep);
    }
    cand.sort_unstable_by(by_value);
}

/// SADS geometry: rows, tile width, selections per row, index base, radius.
pub(super) struct SadsShape {
    pub rows: u16,
    pub n: u32,
    pub sel: u16,
    pub base: u32,
    pub radius: f32,
}

/// `SADS`: writes `idx[rows×sel]` and `top[rows×2]`; recall against a shadow of `src`, if any.
pub(super) fn sads(
    mem: &mut Memory,
    shadows: &ScoreShadows,
    (idx, top, src): (SramRef, SramRef, SramRef),
    s: SadsShape,
    dt: DType,
) -> Result<Done, ExecError> {
    let (rows, n, sel) = (usize::from(s.rows), s.n as usize, usize::from(s.sel));
    let vals = load_f64(mem, src, dt, mul(rows, n)?)?;
    let masked = masked_value(dt);
    let valid: Vec<bool> = vals.iter().map(|&v| !v.is_nan() && v > masked).collect();
    let clip = f64::from(s.radius);
    let mut chosen = vec![NO_INDEX; mul(rows, sel)?];
    let mut tops = vec![masked; rows * 2];
    let mut cand: Vec<Cand> = Vec::with_capacity(n);
    for r in 0..rows {
        let (row, ok) = (&vals[r * n..(r + 1) * n], &valid[r * n..(r + 1) * n]);
        let max = (0..n)
            .filter(|&c| ok[c])
            .map(|c| row[c])
            .fold(f64::NEG_INFINITY, f64::max);
        let floor = if clip.is_finite() {
            max - clip
        } else {
            f64::NEG_INFINITY
        };
        cand.clear();
        // `+ 0.0` turns −0 into +0, so equal values tie on the column only.
        cand.extend(
            (0..n)
                .filter(|&c| ok[c] && row[c] >= floor)
                .map(|c| (row[c] + 0.0, c as u32)),
        );
        top_sorted(&mut cand, sel.max(2));
        for (i, &(v, _)) in cand.iter().take(2).enumerate() {
            tops[r * 2 + i] = v;
        }
        for (slot, &(_, c)) in chosen[r * sel..(r + 1) * sel].iter_mut().zip(&cand) {
            *slot = c;
        }
    }
    let rec = shadows
        .get(src)
        .filter(|sh| sh.n == n && sh.rows >= rows)
        .map(|sh| recall(sh, &valid, &chosen, (rows, n, sel)));
    let mut out = chosen;
    for c in out.iter_mut().filter(|c| **c != NO_INDEX) {
        *c = s.base.checked_add(*c).ok_or(ExecError::SadsIndex {
            base: s.base,
            column: *c,
        })?;
    }
    store_u32(mem, idx, &out)?;
    let tb = mem.sram_at_mut(top, byte_len(dt, rows * 2)?)?;
    for (i, &v) in tops.iter().enumerate() {
        put_f64(tb, dt, i, v);
    }
    Ok(Done {
        recall: rec,
        ..Done::default()
    })
}

/// `RASS`: writes the `order` list and `slot[rows×sel]` from `idx[rows×sel]`.
pub(super) fn rass(
    mem: &mut Memory,
    (order, slot, idx): (SramRef, SramRef, SramRef),
    (rows, sel, n): (u16, u16, u32),
    reuse: bool,
) -> Result<Done, ExecError> {
    let (rows, sel) = (usize::from(rows), usize::from(sel));
    let entries = load_u32(mem, idx, mul(rows, sel)?)?;
    let (keys, slots) = if reuse {
        shared_first(&entries, sel)
    } else {
        row_major(&entries)
    };
    let bound = if reuse {
        (rows * sel).min(n as usize)
    } else {
        rows * sel
    };
    if keys.len() > bound {
        return Err(ExecError::RassKeys {
            keys: keys.len(),
            bound,
            n,
        });
    }
    let mut list = Vec::with_capacity(keys.len() + 1);
    list.push(keys.len() as u32);
    list.extend_from_slice(&keys);
    store_u32(mem, order, &list)?;
    store_u32(mem, slot, &slots)?;
    Ok(Done::rows(keys.len() as u64))
}

/// Distinct keys by descending sharing count (rows selecting them), then ascending key; and
/// each entry's position in that order.
fn shared_first(entries: &[u32], sel: usize) -> (Vec<u32>, Vec<u32>) {
    // key → (rows sharing it, last row counted)
    let mut share: BTreeMap<u32, (u32, usize)> = BTreeMap::new();
    for (r, row) in entries.chunks_exact(sel.max(1)).enumerate() {
        for &e in row.iter().filter(|&&e| e != NO_INDEX) {
            let s = share.entry(e).or_insert((0, usize::MAX));
            if s.1 != r {
                *s = (s.0 + 1, r);
            }
        }
    }
    let mut keys: Vec<(u32, u32)> = share.iter().map(|(&k, &(c, _))| (k, c)).collect();
    keys.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let pos: BTreeMap<u32, u32> = keys
        .iter()
        .enumerate()
        .map(|(i, &(k, _))| (k, i as u32))
        .collect();
    let slots = entries
        .iter()
        .map(|e| pos.get(e).copied().unwrap_or(NO_INDEX))
        .collect();
    (keys.into_iter().map(|(k, _)| k).collect(), slots)
}

/// Every live entry in row-major order, each its own slot.
fn row_major(entries: &[u32]) -> (Vec<u32>, Vec<u32>) {
    let mut keys = Vec::with_capacity(entries.len());
    let slots = entries
        .iter()
        .map(|&e| {
            if e == NO_INDEX {
                return NO_INDEX;
            }
            keys.push(e);
            keys.len() as u32 - 1
        })
        .collect();
    (keys, slots)
}
