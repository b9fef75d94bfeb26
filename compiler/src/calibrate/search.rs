//! The calibration search: a uniform baseline and a greedy per-layer descent.
//!
//! 1. **Uniform**: every keep of the grid on every layer; the *best uniform* keep is the one
//!    of least predicted latency among those that meet the goal (ties: the larger keep). Dense
//!    (keep 1) must meet it, or there is nothing to search.
//! 2. **Greedy descent** from a starting choice: each layer's candidate step is to the next
//!    keep down the grid that its predicted latency drops at (a keep that costs the same or
//!    more is stepped over). Every candidate is measured; among those that still meet the
//!    goal, the one that loses the least accuracy per cycle saved is taken (ties: more cycles
//!    saved, then the lower layer). Repeat until no step meets the goal. Each step saves
//!    cycles, so the descent ends.
//! 3. The descent runs twice, from dense and from the best uniform choice, and the cheaper
//!    result wins (ties: the more accurate, then the one from dense). Starting from the best
//!    uniform choice guarantees the per-layer result is never slower than it; starting from
//!    dense lets a sensitive layer stay above the uniform keep while others go below it.
//!
//! Every choice is measured at most once (memoised), and the search is deterministic: the
//! same table and the same accuracies give the same steps.

use std::collections::BTreeMap;

use super::{Accuracy, CalibrateError, Goal, KeepGrid, LatencyTable};

/// One uniform choice: every layer at grid keep `keep`.
#[derive(Clone, Debug, PartialEq)]
pub struct UniformPoint {
    /// Grid index.
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
    /// Index into `uniform` (and the grid) of the best uniform keep.
    pub uniform_best: usize,
    /// The per-layer choice: a grid index per layer.
    pub choice: Vec<usize>,
    /// Its accuracy on the calibration inputs.
    pub accuracy: f64,
    pub start: Start,
    /// Per layer: the accuracy with only that layer at its chosen keep (the rest dense).
    pub alone: Vec<f64>,
    /// Distinct choices measured.
    pub measured: usize,
}

/// The search (see the module doc).
pub fn search(
    table: &LatencyTable,
    grid: &KeepGrid,
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
        (vec![best.keep; layers], best.accuracy),
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
    grid: &'a KeepGrid,
    seen: BTreeMap<Vec<usize>, f64>,
}

impl Memo<'_> {
    fn keeps(&self, choice: &[usize]) -> Vec<f64> {
        choice.iter().map(|&k| self.grid.keep(k)).collect()
    }

    fn measure(&mut self, choice: &[usize]) -> Result<f64, CalibrateError> {
        if let Some(&a) = self.seen.get(choice) {
            return Ok(a);
        }
        let a = self.accuracy.measure(&self.keeps(choice))?;
        self.seen.insert(choice.to_vec(), a);
        Ok(a)
    }

    fn settle(&mut self, choice: &[usize]) {
        let keeps = self.keeps(choice);
        self.accuracy.settle(&keeps);
    }
}

fn uniform_points(
    table: &LatencyTable,
    grid: &KeepGrid,
    memo: &mut Memo<'_>,
) -> Result<Vec<UniformPoint>, CalibrateError> {
    (0..grid.len())
        .map(|keep| {
            let choice = vec![keep; table.layers()];
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
            let Some(to) = next_cheaper(table, layer, from) else {
                continue;
            };
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
                // Positive: next_cheaper only returns a cheaper keep.
                saved: table
                    .cycles(layer, from)
                    .saturating_sub(table.cycles(layer, to)),
                loss: accuracy - a,
            };
            if best.as_ref().is_none_or(|b| step.beats(b)) {
                best = Some(step);
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

/// The first grid keep below `from` whose predicted latency is lower.
fn next_cheaper(table: &LatencyTable, layer: usize, from: usize) -> Option<usize> {
    let here = table.cycles(layer, from);
    (from + 1..table.priced_keeps(layer)).find(|&k| table.cycles(layer, k) < here)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accuracy as a sum of per-layer losses, one row per layer (indexed by grid keep), and a
    /// log of what was measured and settled.
    struct Additive {
        grid: KeepGrid,
        loss: Vec<Vec<f64>>,
        measured: Vec<Vec<f64>>,
        settled: Vec<Vec<f64>>,
    }

    impl Accuracy for Additive {
        fn measure(&mut self, keeps: &[f64]) -> Result<f64, CalibrateError> {
            self.measured.push(keeps.to_vec());
            let lost: f64 = keeps
                .iter()
                .enumerate()
                .map(|(l, k)| {
                    let i = self.grid.keeps().iter().position(|g| g == k).unwrap();
                    self.loss[l][i]
                })
                .sum();
            Ok(1.0 - lost)
        }

        fn settle(&mut self, keeps: &[f64]) {
            self.settled.push(keeps.to_vec());
        }
    }

    fn setup(loss: Vec<Vec<f64>>) -> (KeepGrid, LatencyTable, Additive) {
        let grid = KeepGrid::new(vec![1.0, 0.5, 0.25]).unwrap();
        // Two identical layers; keep 0.25 saves more than 0.5.
        let table = LatencyTable::from_rows(vec![vec![100, 80, 70]; loss.len()]);
        let acc = Additive {
            grid: grid.clone(),
            loss,
            measured: Vec::new(),
            settled: Vec::new(),
        };
        (grid, table, acc)
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
        distinct.sort_by(|a, b| a.partial_cmp(b).unwrap());
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
        assert_eq!(next_cheaper(&t, 0, 0), Some(2));
        assert_eq!(next_cheaper(&t, 0, 2), None);
        let (grid, table, mut acc) = setup(vec![vec![0.5, 0.5, 0.5]]);
        let e = search(&table, &grid, Goal { min_cosine: 0.9 }, &mut acc)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "dense attention (keep 1 everywhere) itself misses the target: cosine 0.5"
        );
    }
}
