//! The calibration search: a uniform baseline and a greedy per-layer descent.
//!
//! 1. **Uniform**: every keep of the grid on every layer, tiles chosen by the cost model; the
//!    *best uniform* keep is the one of least predicted latency among those that meet the goal
//!    (ties: the larger keep). Dense (keep 1) must meet it, or there is nothing to search.
//! 2. **Greedy descent** from a starting choice: each layer's candidate steps
//!    (`cheaper_steps`) are, for each way of choosing its tiles (the cost model's, or a
//!    pinned count of the tile grid), the next keep down the grid that its predicted latency
//!    drops at (a keep that costs the same or more is stepped over), and, at its current keep,
//!    every other way of choosing the tiles that is cheaper. Every candidate is measured; among
//!    those that still meet the goal, the one that loses the least accuracy per cycle saved is
//!    taken (ties: more cycles saved, then the lower layer, then the earlier setting). Repeat
//!    until no step meets the goal. Each step saves cycles, so the descent ends. Without a
//!    tile grid, a layer's one candidate is its next cheaper keep.
//! 3. The descent runs twice, from dense and from the best uniform choice, and the cheaper
//!    result wins (ties: the more accurate, then the one from dense). Starting from the best
//!    uniform choice guarantees the per-layer result is never slower than it; starting from
//!    dense lets a sensitive layer stay above the uniform keep while others go below it.
//!
//! Every choice is measured at most once (memoised), and the search is deterministic: the
//! same table and the same accuracies give the same steps.

use std::collections::BTreeMap;

use super::{Accuracy, CalibrateError, Goal, Grid, LatencyTable};

/// One uniform choice: every layer at grid keep `keep`, tiles chosen by the cost model.
#[derive(Clone, Debug, PartialEq)]
pub struct UniformPoint {
    /// Index into the keep grid.
    pub keep: usize,
    pub cycles: u64,
    pub accuracy: f64,
}

/// Where the winning descent started.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Start {
    Dense,
    Uniform,
}

impl Start {
    pub fn name(self) -> &'static str {
        match self {
            Start::Dense => "dense",
            Start::Uniform => "the best uniform keep",
        }
    }
}

/// What the search found.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// Every uniform choice, in grid order.
    pub uniform: Vec<UniformPoint>,
    /// Index into `uniform` (and the keep grid) of the best uniform keep.
    pub uniform_best: usize,
    /// The per-layer choice: a setting index ([`Grid::setting`]) per layer.
    pub choice: Vec<usize>,
    /// Its accuracy on the calibration inputs.
    pub accuracy: f64,
    pub start: Start,
    /// Per layer: the accuracy with only that layer at its chosen setting (the rest dense).
    pub alone: Vec<f64>,
    /// Distinct choices measured.
    pub measured: usize,
}

/// The search (see the module doc).
pub fn search(
    table: &LatencyTable,
    grid: &Grid,
    goal: Goal,
    accuracy: &mut dyn Accuracy,
) -> Result<Outcome, CalibrateError> {
    let layers = table.layers();
    let mut memo = Memo {
        accuracy,
        grid,
        seen: BTreeMap::new(),
    };
    let dense = vec![0; layers];
    let dense_accuracy = memo.measure(&dense)?;
    if !goal.is_met(dense_accuracy) {
        return Err(CalibrateError::DenseMisses(dense_accuracy));
    }
    memo.settle(&dense);
    let uniform = uniform_points(table, grid, &mut memo)?;
    let best = best_uniform(&uniform, goal).ok_or(CalibrateError::DenseMisses(dense_accuracy))?;
    let from_dense = descend(table, goal, &mut memo, (dense.clone(), dense_accuracy))?;
    let from_uniform = descend(
        table,
        goal,
        &mut memo,
        (vec![grid.automatic(best.keep); layers], best.accuracy),
    )?;
    let cost = |(c, a): &(Vec<usize>, f64)| (table.total(c), -a);
    let ((choice, accuracy), start) = if cost(&from_uniform) < cost(&from_dense) {
        (from_uniform, Start::Uniform)
    } else {
        (from_dense, Start::Dense)
    };
    memo.settle(&dense);
    let alone = (0..layers)
        .map(|l| {
            let mut only = dense.clone();
            only[l] = choice[l];
            memo.measure(&only)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Outcome {
        uniform_best: best.keep,
        uniform,
        choice,
        accuracy,
        start,
        alone,
        measured: memo.seen.len(),
    })
}

/// Measurements, each choice once.
struct Memo<'a> {
    accuracy: &'a mut dyn Accuracy,
    grid: &'a Grid,
    seen: BTreeMap<Vec<usize>, f64>,
}

impl Memo<'_> {
    fn measure(&mut self, choice: &[usize]) -> Result<f64, CalibrateError> {
        if let Some(&a) = self.seen.get(choice) {
            return Ok(a);
        }
        let a = self.accuracy.measure(&self.grid.settings(choice))?;
        self.seen.insert(choice.to_vec(), a);
        Ok(a)
    }

    fn settle(&mut self, choice: &[usize]) {
        let settings = self.grid.settings(choice);
        self.accuracy.settle(&settings);
    }
}

fn uniform_points(
    table: &LatencyTable,
    grid: &Grid,
    memo: &mut Memo<'_>,
) -> Result<Vec<UniformPoint>, CalibrateError> {
    (0..grid.keeps().len())
        .map(|keep| {
            let choice = vec![grid.automatic(keep); table.layers()];
            Ok(UniformPoint {
                keep,
                cycles: table.total(&choice),
                accuracy: memo.measure(&choice)?,
            })
        })
        .collect()
}

/// The uniform point of least latency that meets the goal; ties go to the larger keep.
fn best_uniform(points: &[UniformPoint], goal: Goal) -> Option<&UniformPoint> {
    points
        .iter()
        .filter(|p| goal.is_met(p.accuracy))
        .min_by_key(|p| (p.cycles, p.keep))
}

/// One candidate step of the descent.
struct Step {
    layer: usize,
    to: usize,
    accuracy: f64,
    saved: u64,
    /// Accuracy lost (negative when the step gains).
    loss: f64,
}

impl Step {
    /// Less accuracy lost per cycle saved, then more cycles saved.
    fn beats(&self, other: &Step) -> bool {
        // loss/saved < other.loss/other.saved, without dividing (saved > 0).
        let mine = self.loss * other.saved as f64;
        let theirs = other.loss * self.saved as f64;
        mine < theirs || (mine == theirs && self.saved > other.saved)
    }
}

/// The greedy descent from `(choice, its accuracy)` (see the module doc).
fn descend(
    table: &LatencyTable,
    goal: Goal,
    memo: &mut Memo<'_>,
    (mut current, mut accuracy): (Vec<usize>, f64),
) -> Result<(Vec<usize>, f64), CalibrateError> {
    memo.settle(&current);
    loop {
        let mut best: Option<Step> = None;
        for layer in 0..current.len() {
            let from = current[layer];
            for to in cheaper_steps(table, memo.grid, layer, from) {
                let mut trial = current.clone();
                trial[layer] = to;
                let a = memo.measure(&trial)?;
                if !goal.is_met(a) {
                    continue;
                }
                let step = Step {
                    layer,
                    to,
                    accuracy: a,
                    // Positive: cheaper_steps only returns cheaper settings.
                    saved: table
                        .cycles(layer, from)
                        .saturating_sub(table.cycles(layer, to)),
                    loss: accuracy - a,
                };
                if best.as_ref().is_none_or(|b| step.beats(b)) {
                    best = Some(step);
                }
            }
        }
        let Some(step) = best else {
            return Ok((current, accuracy));
        };
        current[step.layer] = step.to;
        accuracy = step.accuracy;
        memo.settle(&current);
    }
}

/// The settings `layer` may step to from `from` (see the module doc), in grid order: per way
/// of choosing the tiles, the first keep down the grid that is cheaper; at `from`'s keep, each
/// other way that is cheaper.
fn cheaper_steps(table: &LatencyTable, grid: &Grid, layer: usize, from: usize) -> Vec<usize> {
    let here = table.cycles(layer, from);
    let keep = grid.keep_index(from);
    let cheaper = |i: &usize| table.entry(layer, *i).is_some_and(|c| c < here);
    let priced = table.priced_settings(layer).min(grid.len());
    let same_keep = (0..priced).filter(|&i| i != from && grid.keep_index(i) == keep);
    let mut steps: Vec<usize> = same_keep.filter(cheaper).collect();
    let pinned = grid.tiles().counts().iter().map(|&t| Some(t));
    for way in std::iter::once(None).chain(pinned) {
        let down = (from + 1..priced)
            .filter(|&i| grid.keep_index(i) > keep && grid.setting(i).tiles == way)
            .find(cheaper);
        steps.extend(down);
    }
    steps.sort_unstable();
    steps.dedup();
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::calibrate::{KeepGrid, Setting, TileGrid};

    /// Accuracy as a sum of per-layer losses, one row per layer (indexed by grid setting), and
    /// a log of what was measured (as setting indices) and settled (as keeps).
    struct Additive {
        grid: Grid,
        loss: Vec<Vec<f64>>,
        measured: Vec<Vec<usize>>,
        settled: Vec<Vec<f64>>,
    }

    impl Additive {
        fn index(&self, s: &Setting) -> usize {
            (0..self.grid.len())
                .position(|i| self.grid.setting(i) == *s)
                .unwrap()
        }
    }

    impl Accuracy for Additive {
        fn measure(&mut self, settings: &[Setting]) -> Result<f64, CalibrateError> {
            let choice: Vec<usize> = settings.iter().map(|s| self.index(s)).collect();
            let lost: f64 = choice
                .iter()
                .enumerate()
                .map(|(l, &i)| self.loss[l][i])
                .sum();
            self.measured.push(choice);
            Ok(1.0 - lost)
        }

        fn settle(&mut self, settings: &[Setting]) {
            self.settled.push(settings.iter().map(|s| s.keep).collect());
        }
    }

    /// Keeps 1, 0.5, 0.25 (with `tiles` pinned counts) and `table`, for layers losing `loss`.
    fn with_grid(
        tiles: Vec<u64>,
        table: LatencyTable,
        loss: Vec<Vec<f64>>,
    ) -> (Grid, LatencyTable, Additive) {
        let grid = Grid::new(
            KeepGrid::new(vec![1.0, 0.5, 0.25]).unwrap(),
            TileGrid::new(tiles).unwrap(),
        );
        let acc = Additive {
            grid: grid.clone(),
            loss,
            measured: Vec::new(),
            settled: Vec::new(),
        };
        (grid, table, acc)
    }

    fn setup(loss: Vec<Vec<f64>>) -> (Grid, LatencyTable, Additive) {
        // Two identical layers; keep 0.25 saves more than 0.5.
        let table = LatencyTable::from_rows(vec![vec![100, 80, 70]; loss.len()]);
        with_grid(Vec::new(), table, loss)
    }

    #[test]
    fn a_robust_layer_goes_lower_than_the_uniform_keep() {
        // Layer 0 is sensitive, layer 1 is not.
        let (grid, table, mut acc) = setup(vec![vec![0.0, 0.004, 0.05], vec![0.0, 0.001, 0.002]]);
        let goal = Goal { min_cosine: 0.99 };
        let out = search(&table, &grid, goal, &mut acc).unwrap();
        // Uniform 0.5 loses 0.005 and meets 0.99; uniform 0.25 loses 0.052 and does not.
        assert_eq!(out.uniform_best, 1);
        assert_eq!(out.uniform[1].cycles, 160);
        assert_eq!(out.choice, [1, 2]);
        assert_eq!(table.total(&out.choice), 150);
        assert!((out.accuracy - 0.994).abs() < 1e-12, "{}", out.accuracy);
        assert!((out.alone[0] - 0.996).abs() < 1e-12);
        assert!((out.alone[1] - 0.998).abs() < 1e-12);
        // Each distinct choice measured once, however often the search asks.
        let mut distinct = acc.measured.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), acc.measured.len());
        assert_eq!(out.measured, acc.measured.len());
        assert_eq!(acc.settled.first().unwrap(), &[1.0, 1.0]);
    }

    #[test]
    fn the_descent_prefers_the_cheapest_loss_per_cycle() {
        // Both layers can take one step; layer 1's costs less accuracy per cycle.
        let (grid, table, mut acc) = setup(vec![vec![0.0, 0.006, 0.5], vec![0.0, 0.003, 0.5]]);
        let goal = Goal { min_cosine: 0.993 };
        let out = search(&table, &grid, goal, &mut acc).unwrap();
        assert_eq!(out.choice, [0, 1]);
        assert_eq!(out.start, Start::Dense);
        // Uniform 0.5 loses 0.009: only dense meets the goal.
        assert_eq!(out.uniform_best, 0);
    }

    #[test]
    fn keeps_that_cost_more_are_stepped_over_and_dense_must_meet_the_goal() {
        let t = LatencyTable::from_rows(vec![vec![100, 101, 90, 95]]);
        let g = Grid::new(
            KeepGrid::new(vec![1.0, 0.75, 0.5, 0.25]).unwrap(),
            TileGrid::default(),
        );
        assert_eq!(cheaper_steps(&t, &g, 0, 0), [2]);
        assert_eq!(cheaper_steps(&t, &g, 0, 2), [0usize; 0]);
        let (grid, table, mut acc) = setup(vec![vec![0.5, 0.5, 0.5]]);
        let e = search(&table, &grid, Goal { min_cosine: 0.9 }, &mut acc)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "dense attention (keep 1 everywhere) itself misses the target: cosine 0.5"
        );
    }

    /// Settings: 0 = keep 1; 1 = 0.5, 2 = 0.5 with 2 tiles; 3 = 0.25, 4 = 0.25 with 2 tiles.
    fn tiled_setup(
        loss: Vec<Vec<f64>>,
        cycles: Vec<Option<u64>>,
    ) -> (Grid, LatencyTable, Additive) {
        let table = LatencyTable::from_entries(vec![cycles; loss.len()]);
        with_grid(vec![2], table, loss)
    }

    #[test]
    fn a_pinned_tile_count_can_make_a_lower_keep_meet_the_goal() {
        // With the cost model's tiles keep 0.25 loses too much; with 2 tiles (a more global
        // selection, a little slower) it does not, and it is still cheaper than keep 0.5.
        let cycles = vec![Some(100), Some(80), Some(85), Some(60), Some(70)];
        let (grid, table, mut acc) =
            tiled_setup(vec![vec![0.0, 0.002, 0.001, 0.05, 0.004]], cycles);
        let out = search(&table, &grid, Goal { min_cosine: 0.99 }, &mut acc).unwrap();
        assert_eq!(out.uniform_best, 1);
        assert_eq!(out.choice, [4]);
        assert_eq!(
            grid.setting(4),
            Setting {
                keep: 0.25,
                tiles: Some(2)
            }
        );
        assert_eq!(table.total(&out.choice), 70);
        // From keep 0.5 (auto) the steps are: 2 tiles at 0.5 is dearer (85 > 80), so not one;
        // down with auto tiles (60), down with 2 tiles (70).
        assert_eq!(cheaper_steps(&table, &grid, 0, 1), [3, 4]);
        // An unavailable setting is never a step.
        let t = LatencyTable::from_entries(vec![vec![Some(100), Some(80), None, Some(60), None]]);
        assert_eq!(cheaper_steps(&t, &grid, 0, 0), [1]);
        assert_eq!(cheaper_steps(&t, &grid, 0, 1), [3]);
    }
}
