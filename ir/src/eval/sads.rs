//! SADS, Sphere-search-Aided Distributed Sorting (SOFA paper §3.2): the top-k stage.
//!
//! A row of predicted scores is split into `Tc` key tiles of width `Bc = ⌈S/Tc⌉`; each tile
//! picks its own top-`⌈k/T⌉` (the Distributed Cluster Effect: a row's large values are spread
//! over its tiles), after a sphere clip that drops keys more than `R` below the tile's largest
//! predicted score. Rows are independent and the selected set depends on the scores only (no
//! K/V load schedule — RASS — enters it).
//!
//! Scores are `Option<f64>`: `None` marks a key excluded before selection (masked with `-inf`,
//! or in the causal future); such keys are never selected and tiles holding only excluded keys
//! are skipped (`T` counts the tiles with at least one candidate). Ties break towards the lower
//! key index, so selections are deterministic.

use std::cmp::Ordering;
use std::ops::Range;

/// The budget `k = ⌈keep_ratio · valid⌉` (at least 1 when `valid ≥ 1`, at most `valid`).
///
/// `keep_ratio` usually comes from an `f32` attribute (`0.3` is stored as 0.30000001…), so a
/// product within its representation error above an integer counts as that integer.
///
/// This is the one selection budget: the reference semantics, the lowering, the cost model and
/// the paper's counts all call it.
pub fn keep_count(keep_ratio: f64, valid: u64) -> u64 {
    if valid == 0 {
        return 0;
    }
    let n = valid as f64;
    let exact = keep_ratio * n;
    let slack = n * 2f64.powi(-22);
    let k = (exact - slack).ceil();
    // The float-to-int cast saturates (NaN → 0), so any ratio gives a budget in 1..=valid.
    (k.max(1.0) as u64).min(valid)
}

/// The tile width `Bc = ⌈len / tiles⌉` (at least 1).
pub fn tile_width(len: usize, tiles: usize) -> usize {
    len.div_ceil(tiles.max(1)).max(1)
}

/// The key range of each of the `tiles` tiles over `len` keys; trailing tiles may be empty.
pub fn tile_ranges(len: usize, tiles: usize) -> Vec<Range<usize>> {
    let bc = tile_width(len, tiles);
    (0..tiles.max(1))
        .map(|j| (j * bc).min(len)..((j + 1) * bc).min(len))
        .collect()
}

/// Descending by score, then ascending by key index.
fn by_score_desc(a: &(usize, f64), b: &(usize, f64)) -> Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

/// The valid keys of `range` as (index, score).
fn candidates(scores: &[Option<f64>], range: Range<usize>) -> Vec<(usize, f64)> {
    range
        .filter_map(|t| scores.get(t).copied().flatten().map(|s| (t, s)))
        .collect()
}

/// SADS on one row: per tile, the keys it selects, in descending score order (top-1 first, as
/// the engine hands them to SU-FA); tiles in key order. `k` is the row budget.
pub fn sads_select_tiles(
    scores: &[Option<f64>],
    tiles: usize,
    k: usize,
    radius: Option<f64>,
) -> Vec<Vec<usize>> {
    let ranges = tile_ranges(scores.len(), tiles);
    let per_tile: Vec<Vec<(usize, f64)>> =
        ranges.into_iter().map(|r| candidates(scores, r)).collect();
    let active = per_tile.iter().filter(|c| !c.is_empty()).count();
    if active == 0 || k == 0 {
        return vec![Vec::new(); per_tile.len()];
    }
    let quota = k.div_ceil(active);
    per_tile
        .into_iter()
        .map(|mut cand| {
            cand.sort_by(by_score_desc);
            if let (Some(r), Some(&(_, top))) = (radius, cand.first()) {
                cand.retain(|&(_, s)| s >= top - r);
            }
            cand.truncate(quota);
            cand.into_iter().map(|(t, _)| t).collect()
        })
        .collect()
}

/// SADS on one row: the selected keys, ascending.
pub fn sads_select(
    scores: &[Option<f64>],
    tiles: usize,
    k: usize,
    radius: Option<f64>,
) -> Vec<usize> {
    let mut keys: Vec<usize> = sads_select_tiles(scores, tiles, k, radius)
        .into_iter()
        .flatten()
        .collect();
    keys.sort_unstable();
    keys
}

/// Whole-row top-`k` of the valid keys (the reference SADS approximates), ascending.
pub fn top_k(scores: &[Option<f64>], k: usize) -> Vec<usize> {
    let mut cand = candidates(scores, 0..scores.len());
    cand.sort_by(by_score_desc);
    cand.truncate(k);
    let mut keys: Vec<usize> = cand.into_iter().map(|(t, _)| t).collect();
    keys.sort_unstable();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(v: &[f64]) -> Vec<Option<f64>> {
        v.iter().map(|&x| Some(x)).collect()
    }

    #[test]
    fn budgets_round_up_and_survive_f32_ratios() {
        assert_eq!(keep_count(0.25, 8), 2);
        assert_eq!(keep_count(0.25, 7), 2); // 1.75 → 2
        assert_eq!(keep_count(f64::from(0.3f32), 10), 3); // not 4
        assert_eq!(keep_count(f64::from(0.3f32), 100_000), 30_000);
        assert_eq!(keep_count(0.01, 5), 1); // never 0 for a non-empty row
        assert_eq!(keep_count(1.0, 9), 9);
        assert_eq!(keep_count(0.5, 0), 0);
    }

    #[test]
    fn tiles_are_ceil_width_with_empty_tails() {
        assert_eq!(tile_width(512, 4), 128);
        assert_eq!(tile_ranges(10, 4), vec![0..3, 3..6, 6..9, 9..10]);
        assert_eq!(tile_ranges(9, 4), vec![0..3, 3..6, 6..9, 9..9]);
        assert_eq!(tile_ranges(3, 5), vec![0..1, 1..2, 2..3, 3..3, 3..3]);
        assert_eq!(tile_ranges(5, 1), vec![0..5]);
    }

    #[test]
    fn distributed_selection_differs_from_whole_row_top_k() {
        // S = 8, Tc = 2, k = 4: each tile keeps its top 2. The whole-row top-4 is {0, 1, 2, 3}
        // (all in tile 0); SADS must take 2 from tile 1 (keys 6 and 4).
        let s = row(&[9.0, 8.0, 7.0, 6.0, 2.0, 1.0, 3.0, 0.0]);
        assert_eq!(top_k(&s, 4), vec![0, 1, 2, 3]);
        assert_eq!(sads_select(&s, 2, 4, None), vec![0, 1, 4, 6]);
        assert_eq!(
            sads_select_tiles(&s, 2, 4, None),
            vec![vec![0, 1], vec![6, 4]] // descending within a tile
        );
        // One tile = the whole-row top-k.
        assert_eq!(sads_select(&s, 1, 4, None), top_k(&s, 4));
        // k = 3 over 2 tiles: quota ⌈3/2⌉ = 2 per tile, so 4 keys are selected.
        assert_eq!(sads_select(&s, 2, 3, None).len(), 4);
    }

    #[test]
    fn radius_clips_against_the_tile_max() {
        let s = row(&[9.0, 8.0, 7.0, 6.0, 2.0, 1.0, 3.0, 0.0]);
        // R = 1.5, quota ⌈6/2⌉ = 3: tile 0 (max 9) keeps scores ≥ 7.5 → {0, 1}, key 2 (7.0)
        // is clipped; tile 1 (max 3) keeps scores ≥ 1.5 → {6, 4}, key 5 (1.0) is clipped.
        assert_eq!(
            sads_select_tiles(&s, 2, 6, Some(1.5)),
            vec![vec![0, 1], vec![6, 4]]
        );
        // A tiny radius keeps only each tile's top-1 (always inside its own sphere).
        assert_eq!(sads_select(&s, 2, 6, Some(1e-9)), vec![0, 6]);
    }

    #[test]
    fn excluded_keys_are_never_selected_and_empty_tiles_are_skipped() {
        // Causal-like row: only keys 0..3 valid, all in tile 0 of 2. k = 2 → quota ⌈2/1⌉ = 2.
        let mut s = row(&[1.0, 5.0, 3.0, 4.0, 9.0, 9.0, 9.0, 9.0]);
        for x in &mut s[3..] {
            *x = None;
        }
        assert_eq!(sads_select(&s, 2, 2, None), vec![1, 2]);
        assert_eq!(top_k(&s, 10), vec![0, 1, 2]);
        assert!(sads_select(&[None, None], 2, 1, None).is_empty());
    }

    #[test]
    fn ties_prefer_lower_indices() {
        let s = row(&[1.0, 2.0, 2.0, 2.0]);
        assert_eq!(top_k(&s, 2), vec![1, 2]);
        assert_eq!(sads_select_tiles(&s, 1, 2, None), vec![vec![1, 2]]);
    }
}
