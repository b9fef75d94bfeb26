//! Which points a sweep evaluates, and in what order: every point (`exhaustive`, the default),
//! a seeded uniform sample of `budget` points (`random`, the baseline), or `budget` points
//! proposed one after another by TPE (the tree-structured Parzen estimator, the `tpe` crate),
//! which learns from the points evaluated so far where the good ones are.
//!
//! TPE treats every axis as a categorical parameter with its own univariate estimator (the
//! histogram estimator), all drawing from one RNG seeded by `seed`. With several objectives it
//! minimises one scalar, [`scalarise`]: the equal-weight sum of each objective normalised to
//! `[0, 1]` over the feasible points evaluated so far (the estimators are rebuilt from every
//! trial before each proposal, so earlier trials are rescaled as the ranges grow); an
//! infeasible point scores +∞. The output still records every objective of every evaluated
//! point, and the Pareto front is taken over all of them.
//!
//! A point is evaluated at most once: when TPE proposes a point already evaluated, it is asked
//! again (fresh candidates from the same estimators), up to [`MAX_ASKS`] times, and then a
//! uniformly drawn point not yet evaluated is taken. Everything is a function of the spec and
//! the seed, so a run that is replayed — each proposal answered with the figures recorded for
//! it — proposes the same points in the same order; that is how an interrupted run resumes.

use std::collections::BTreeSet;
use std::ops::Range;

use rand::rngs::StdRng;
use rand::seq::index;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use toml::Spanned;
use tpe::{categorical_range, histogram_estimator, TpeOptimizer};

use super::spec::{DseSpec, ErrAt};
use super::{DseError, Figures, Objective, Record, Shard};

/// How often TPE is asked for a point not yet evaluated before one is drawn at random.
pub const MAX_ASKS: usize = 32;

/// `[search]` as written in the spec.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSearch {
    method: Option<Spanned<String>>,
    budget: Option<Spanned<i64>>,
    seed: Option<Spanned<i64>>,
}

/// How the points to evaluate are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Every point, in index order.
    Exhaustive,
    /// `budget` distinct points drawn uniformly.
    Random,
    /// `budget` distinct points proposed by TPE.
    Tpe,
}

impl Method {
    const ALL: [Method; 3] = [Method::Exhaustive, Method::Random, Method::Tpe];

    pub fn name(self) -> &'static str {
        match self {
            Method::Exhaustive => "exhaustive",
            Method::Random => "random",
            Method::Tpe => "tpe",
        }
    }
}

/// The spec's `[search]`: also what an output's header records of a sampled search.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Search {
    pub method: Method,
    /// Points to evaluate (all of them when exhaustive).
    pub budget: u64,
    /// The RNG's seed (0 unless given; unused when exhaustive).
    pub seed: u64,
}

impl Search {
    /// Whether points are chosen one after another (anything but exhaustive).
    pub fn is_sampled(self) -> bool {
        self.method != Method::Exhaustive
    }

    /// Check `[search]` against a spec of `points` points.
    pub(super) fn parse(
        raw: Option<Spanned<RawSearch>>,
        points: u64,
        err: &ErrAt<'_>,
    ) -> Result<Search, DseError> {
        let Some(raw) = raw else {
            return Ok(Search {
                method: Method::Exhaustive,
                budget: points,
                seed: 0,
            });
        };
        let table = raw.span();
        let raw = raw.into_inner();
        let method = match &raw.method {
            None => Method::Exhaustive,
            Some(m) => Method::ALL
                .into_iter()
                .find(|x| x.name() == m.get_ref())
                .ok_or_else(|| {
                    err(
                        m.span(),
                        format!(
                            "unknown search method '{}'; methods are exhaustive (every point), \
                             random and tpe (a budget of points)",
                            m.get_ref()
                        ),
                    )
                })?,
        };
        if method == Method::Exhaustive {
            if let Some((key, span)) = [("budget", &raw.budget), ("seed", &raw.seed)]
                .into_iter()
                .find_map(|(k, v)| Some((k, v.as_ref()?.span())))
            {
                return Err(err(
                    span,
                    format!(
                        "'{key}' is for method = \"random\" or \"tpe\"; the exhaustive search \
                         evaluates every point in order"
                    ),
                ));
            }
            return Ok(Search {
                method,
                budget: points,
                seed: 0,
            });
        }
        let budget = raw.budget.as_ref().ok_or_else(|| {
            err(
                table.clone(),
                format!(
                    "method = \"{}\" needs 'budget = N', the points to evaluate (1 to the \
                     spec's {points})",
                    method.name()
                ),
            )
        })?;
        let budget = u64::try_from(*budget.get_ref())
            .ok()
            .filter(|b| (1..=points).contains(b))
            .ok_or_else(|| budget_error(*budget.get_ref(), points, budget.span(), err))?;
        let seed = match &raw.seed {
            None => 0,
            Some(s) => u64::try_from(*s.get_ref()).map_err(|_| {
                err(
                    s.span(),
                    format!("seed {}: give an integer ≥ 0", s.get_ref()),
                )
            })?,
        };
        Ok(Search {
            method,
            budget,
            seed,
        })
    }
}

fn budget_error(budget: i64, points: u64, span: Range<usize>, err: &ErrAt<'_>) -> DseError {
    let why = if budget < 1 {
        "evaluates nothing".to_string()
    } else {
        format!("exceeds the spec's {points} points (method = \"exhaustive\" evaluates them all)")
    };
    err(span, format!("budget {budget} {why}; give 1 to {points}"))
}

/// Run the spec's search: `visit(index, trial)` is called once for each point to evaluate, in
/// the search's order (`trial` is the point's place in it for a sampled search, `None` for an
/// exhaustive one), and returns the point's record — freshly evaluated or, when resuming, as
/// recorded. Returns the points visited, in order.
pub fn run<E: From<DseError>>(
    spec: &DseSpec,
    shard: Shard,
    visit: &mut dyn FnMut(u64, Option<u64>) -> Result<Record, E>,
) -> Result<Vec<u64>, E> {
    let search = spec.search;
    if search.is_sampled() && shard != Shard::WHOLE {
        return Err(DseError::Mismatch(format!(
            "--shard {shard}: a {} search chooses each point from those before it and cannot \
             be split into shards; run it whole (or use method = \"exhaustive\")",
            search.method.name()
        ))
        .into());
    }
    let mut rng = StdRng::seed_from_u64(search.seed);
    let mut visited = Vec::new();
    match search.method {
        Method::Exhaustive => {
            for i in shard.points(spec.points) {
                visit(i, None)?;
                visited.push(i);
            }
        }
        Method::Random => {
            let (points, budget) = (as_usize(spec.points)?, as_usize(search.budget)?);
            for (trial, i) in index::sample(&mut rng, points, budget).iter().enumerate() {
                visit(i as u64, Some(trial as u64))?;
                visited.push(i as u64);
            }
        }
        Method::Tpe => {
            let mut trials: Vec<Trial> = Vec::new();
            let mut seen = BTreeSet::new();
            for trial in 0..search.budget {
                let i = propose(spec, &trials, &seen, &mut rng)?;
                let record = visit(i, Some(trial))?;
                trials.push(Trial {
                    digits: spec.digits(i),
                    objectives: record.figures.as_ref().map(|f| values(f, &spec.objectives)),
                });
                seen.insert(i);
                visited.push(i);
            }
        }
    }
    Ok(visited)
}

fn as_usize(n: u64) -> Result<usize, DseError> {
    usize::try_from(n).map_err(|_| DseError::Mismatch(format!("{n} points do not fit memory")))
}

/// An evaluated point as TPE sees it.
struct Trial {
    digits: Vec<usize>,
    /// `None` when infeasible.
    objectives: Option<Vec<f64>>,
}

fn values(f: &Figures, objectives: &[Objective]) -> Vec<f64> {
    objectives.iter().map(|o| o.value(f)).collect()
}

/// The scalar TPE minimises for each trial: the sum over objectives of
/// `(v − min) / (max − min)`, min and max over the feasible trials (an objective on which they
/// all agree adds 0); +∞ for an infeasible trial. With one objective its order is the
/// objective's.
pub fn scalarise(trials: &[Option<Vec<f64>>]) -> Vec<f64> {
    let feasible: Vec<&Vec<f64>> = trials.iter().flatten().collect();
    let width = feasible.first().map_or(0, |v| v.len());
    let ranges: Vec<(f64, f64)> = (0..width)
        .map(|o| {
            feasible
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                    (lo.min(v[o]), hi.max(v[o]))
                })
        })
        .collect();
    trials
        .iter()
        .map(|t| match t {
            None => f64::INFINITY,
            Some(v) => v
                .iter()
                .zip(&ranges)
                .map(|(&x, &(lo, hi))| if hi > lo { (x - lo) / (hi - lo) } else { 0.0 })
                .sum(),
        })
        .collect()
}

/// The next point TPE proposes that is not yet in `seen`.
fn propose(
    spec: &DseSpec,
    trials: &[Trial],
    seen: &BTreeSet<u64>,
    rng: &mut StdRng,
) -> Result<u64, DseError> {
    let tpe_error = |e: &dyn std::fmt::Display| DseError::Mismatch(format!("TPE: {e}"));
    let objectives: Vec<Option<Vec<f64>>> = trials.iter().map(|t| t.objectives.clone()).collect();
    let scores = scalarise(&objectives);
    let mut optimizers = Vec::with_capacity(spec.axes.len());
    for (a, axis) in spec.axes.iter().enumerate() {
        let range = categorical_range(axis.values.len()).map_err(|e| tpe_error(&e))?;
        let mut opt = TpeOptimizer::new(histogram_estimator(), range);
        for (t, &score) in trials.iter().zip(&scores) {
            opt.tell(t.digits[a] as f64, score)
                .map_err(|e| tpe_error(&e))?;
        }
        optimizers.push(opt);
    }
    for _ in 0..MAX_ASKS {
        let mut digits = Vec::with_capacity(optimizers.len());
        for (opt, axis) in optimizers.iter_mut().zip(&spec.axes) {
            let p = opt.ask(rng).map_err(|e| tpe_error(&e))?;
            // The histogram estimator samples a category's index, as a float.
            let d = p as usize;
            if d >= axis.values.len() {
                return Err(tpe_error(&format!("proposed {p} for axis '{}'", axis.key)));
            }
            digits.push(d);
        }
        let i = spec.index_of(&digits);
        if !seen.contains(&i) {
            return Ok(i);
        }
    }
    // Fewer points are seen than the budget, which is at most the spec's points.
    let unseen = spec.points.saturating_sub(seen.len() as u64).max(1);
    Ok(nth_unseen(rng.random_range(0..unseen), seen))
}

/// The `n`th index (from 0) not in `seen`.
fn nth_unseen(n: u64, seen: &BTreeSet<u64>) -> u64 {
    let mut i = n;
    // Each seen index at or below the candidate pushes it one further.
    for &s in seen {
        if s <= i {
            i += 1;
        } else {
            break;
        }
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::path::Path;

    /// A spec of 5 axes × 4 values (1024 points) with `search` as its `[search]` body.
    fn spec(dir: &Path, search: &str) -> Result<DseSpec, DseError> {
        let mut text = "objectives = [\"latency\"]\n[target]\nworkload = \"w.toml\"\n".to_string();
        for key in [
            "sufa.cols",
            "sufa.rows",
            "kvpe.cols",
            "kvpe.rows",
            "vector.lanes",
        ] {
            text.push_str(&format!(
                "[[axis]]\nkey = \"{key}\"\nvalues = [2, 4, 8, 16]\n"
            ));
        }
        text.push_str(search);
        crate::dse::spec::tests::spec_in(dir, &text)
    }

    fn error(dir: &Path, search: &str) -> String {
        spec(dir, search).unwrap_err().to_string()
    }

    #[test]
    fn search_tables_are_checked_and_name_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let s = spec(d, "").unwrap().search;
        assert_eq!((s.method, s.budget), (Method::Exhaustive, 1024));
        let s = spec(d, "[search]\nmethod = \"tpe\"\nbudget = 100\n")
            .unwrap()
            .search;
        assert_eq!((s.method, s.budget, s.seed), (Method::Tpe, 100, 0));
        let e = error(d, "[search]\nmethod = \"bayes\"\n");
        assert!(
            e.contains("s.toml:20:10: unknown search method 'bayes'"),
            "{e}"
        );
        let e = error(d, "[search]\nmethod = \"tpe\"\nbudget = 1025\n");
        assert!(
            e.contains("s.toml:21:10: budget 1025 exceeds the spec's 1024 points"),
            "{e}"
        );
        let e = error(d, "[search]\nmethod = \"random\"\nbudget = 0\n");
        assert!(
            e.contains("s.toml:21:10: budget 0 evaluates nothing; give 1 to 1024"),
            "{e}"
        );
        let e = error(d, "[search]\nmethod = \"tpe\"\n");
        assert!(
            e.contains("s.toml:19:1: method = \"tpe\" needs 'budget = N'"),
            "{e}"
        );
        let e = error(d, "[search]\nbudget = 10\n");
        assert!(e.contains("s.toml:20:10: 'budget' is for method"), "{e}");
        let e = error(d, "[search]\nmethod = \"tpe\"\nbudget = 10\nseed = -1\n");
        assert!(
            e.contains("s.toml:22:8: seed -1: give an integer ≥ 0"),
            "{e}"
        );
        let e = error(d, "[search]\nmethod = \"tpe\"\nbudget = 10\nseeds = 1\n");
        assert!(e.contains("s.toml:22:1") && e.contains("seeds"), "{e}");
    }

    /// Run `spec`'s search on a synthetic objective of the digits (the sum of each axis's
    /// distance to a hidden best value): the points in order and the best value found.
    fn search_synthetic(spec: &DseSpec) -> (Vec<u64>, u64) {
        let best = [1, 3, 0, 2, 1];
        let cost = |i: u64| -> u64 {
            let d = spec.digits(i);
            d.iter()
                .zip(best)
                .map(|(&x, b)| (x as i64 - b).unsigned_abs() * 100)
                .sum()
        };
        let mut visit = |i: u64, trial: Option<u64>| -> Result<Record, DseError> {
            Ok(Record {
                index: i,
                trial,
                values: BTreeMap::new(),
                figures: Some(Figures {
                    latency_cycles: cost(i),
                    latency_ns: cost(i),
                    energy_fj: 0,
                    area_um2: 0,
                    dram_bytes: 0,
                    accuracy_loss: None,
                }),
                error: None,
            })
        };
        let order = run(spec, Shard::WHOLE, &mut visit).unwrap();
        let found = order.iter().map(|&i| cost(i)).min().unwrap();
        (order, found)
    }

    /// On a separable objective TPE finds better points than a random sample of the same
    /// budget, seed for seed on average, never evaluates a point twice, and repeats itself
    /// under a seed.
    #[test]
    fn tpe_beats_random_on_a_separable_objective_and_is_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let (mut tpe_sum, mut random_sum) = (0, 0);
        for seed in 0..8 {
            let with = |method: &str| {
                let search =
                    format!("[search]\nmethod = \"{method}\"\nbudget = 64\nseed = {seed}\n");
                spec(dir.path(), &search).unwrap()
            };
            let (tpe_order, tpe_best) = search_synthetic(&with("tpe"));
            let (random_order, random_best) = search_synthetic(&with("random"));
            for order in [&tpe_order, &random_order] {
                assert_eq!(order.len(), 64);
                assert_eq!(
                    order.iter().collect::<BTreeSet<_>>().len(),
                    64,
                    "no point twice"
                );
            }
            assert_eq!(
                search_synthetic(&with("tpe")).0,
                tpe_order,
                "seed {seed} repeats"
            );
            tpe_sum += tpe_best;
            random_sum += random_best;
        }
        println!("best over 8 seeds, summed: tpe {tpe_sum}, random {random_sum}");
        // The optimum is 0; a unit step on one axis costs 100.
        assert!(
            tpe_sum < random_sum,
            "tpe {tpe_sum} vs random {random_sum} over 8 seeds"
        );
        assert!(
            tpe_sum <= 8 * 100,
            "tpe {tpe_sum}: within one step on average"
        );
    }

    #[test]
    fn the_scalar_normalises_each_objective_over_the_feasible_trials() {
        let s = scalarise(&[
            Some(vec![10.0, 100.0]),
            None,
            Some(vec![20.0, 100.0]),
            Some(vec![15.0, 100.0]),
        ]);
        assert_eq!(s, vec![0.0, f64::INFINITY, 1.0, 0.5]);
        let s = scalarise(&[Some(vec![1.0, 30.0]), Some(vec![3.0, 10.0])]);
        assert_eq!(s, vec![1.0, 1.0]);
    }

    #[test]
    fn nth_unseen_skips_the_seen_indices() {
        let seen: BTreeSet<u64> = [0, 2, 3, 7].into();
        let unseen: Vec<u64> = (0..4).map(|n| nth_unseen(n, &seen)).collect();
        assert_eq!(unseen, vec![1, 4, 5, 6]);
        assert_eq!(nth_unseen(4, &seen), 8);
    }
}
