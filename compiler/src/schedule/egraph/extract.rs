//! Extraction: the cheapest alternative of the root class that the pin admits.
//!
//! The cost of an alternative is [`crate::schedule::Pricer::cost`] of its plan. egg's extractor
//! finds the fastest, ranking by latency, then DRAM bytes, then energy, then the plan itself
//! ([`Alternative`]'s order: smaller `Tc`, smaller query block, K̂ recomputed before spilled,
//! K/V on demand before preloaded, …). Alternatives the pin excludes rank above every plan and
//! are never costed; each admitted one is costed once.
//!
//! The winner is then the plan with the fewest DRAM bytes (then latency, energy, the larger
//! query block, the plan) among those at most [`Pin::latency_slack_pct`] percent slower than
//! the fastest ([`Objective`]). The default slack, [`DEFAULT_LATENCY_SLACK_PCT`], is the
//! accuracy the cost model is held to against the simulator (`tests/cost_vs_sim.rs`):
//! latencies closer than that are not told apart, DRAM bytes are exact. Both orders are total
//! over distinct alternatives, so the winner does not depend on e-graph iteration order.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use egg::{CostFunction, Extractor, Id};

use super::lang::{Abl, SchedLang};
use super::rules::{applicable, SchedGraph};
use super::{Alternative, ScheduleGraph};
use crate::schedule::shape::{effective, Candidate, LayerShape};
use crate::schedule::{Ablation, KvSource, LayerCost, Schedule, ScheduleError};

/// Which alternatives extraction may pick (`None` = any).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Pin {
    /// `--schedule`; a keep ratio of 1 turns a pinned `staged` or `cct` into `dense`.
    pub schedule: Option<Schedule>,
    pub kv: Option<KvSource>,
    /// `--ablate`: exactly these mechanisms run as their baseline (those the dataflow has).
    pub ablate: Ablation,
    /// Key tiles `Tc` forced (`sofa dse`'s `tiles` axis); `None`: the cost model picks.
    /// `staged` has no key tiles and is not constrained.
    pub tc: Option<u64>,
    /// How much slower than the fastest admitted plan (in percent of its latency) a plan may
    /// be and still win by fewer DRAM bytes; 0 ranks by latency alone.
    pub latency_slack_pct: u64,
}

/// The latency slack of [`Pin::new`] and [`Pin::any`]: the cost model's accuracy against the
/// simulator (see the module doc).
pub const DEFAULT_LATENCY_SLACK_PCT: u64 = 3;

impl Pin {
    /// `--schedule sched --ablate abl` with K/V gathered from DRAM: what `sofa compile` asks
    /// for, and what the lowering emits.
    pub fn new(schedule: Schedule, ablate: Ablation) -> Pin {
        Pin {
            schedule: Some(schedule),
            kv: Some(KvSource::Gathered),
            ablate,
            tc: None,
            latency_slack_pct: DEFAULT_LATENCY_SLACK_PCT,
        }
    }

    /// Nothing pinned but the ablations: the cost model picks dataflow and K/V placement.
    pub fn any(ablate: Ablation) -> Pin {
        Pin {
            schedule: None,
            kv: None,
            ablate,
            tc: None,
            latency_slack_pct: DEFAULT_LATENCY_SLACK_PCT,
        }
    }

    /// Whether `alt` is eligible for a layer of shape `s`. Gathered K/V are priced as the
    /// lowering emits them, which runs the pinned schedule at keep 1 too (selecting every
    /// key); the other placements run keep 1 as `dense`.
    pub fn admits(&self, alt: &Alternative, s: &LayerShape) -> bool {
        let schedule = self.schedule.is_none_or(|p| match alt.kv {
            KvSource::Gathered => p == alt.schedule,
            _ => effective(p, s) == alt.schedule,
        });
        let kv = self.kv.is_none_or(|k| k == alt.kv);
        let tc = self
            .tc
            .is_none_or(|t| alt.schedule == Schedule::Staged || alt.tc == t);
        let wanted = Abl::from(self.ablate).intersect(applicable(alt.schedule));
        schedule && kv && tc && Abl::from(alt.ablate) == wanted
    }
}

/// An alternative with its figures.
#[derive(Clone, Debug, PartialEq)]
pub struct Ranked {
    pub alt: Alternative,
    pub cost: LayerCost,
}

/// The result of one extraction.
#[derive(Clone, Debug, PartialEq)]
pub struct Extraction {
    pub winner: Ranked,
    /// The next admitted alternative in rank order, if any.
    pub runner_up: Option<Ranked>,
    /// Alternatives the pin admits, and all alternatives in the root class.
    pub eligible: usize,
    pub alternatives: usize,
}

/// Extraction cost: leaves are free, plans rank by their figures, the rest are excluded.
#[derive(Clone, Debug, PartialEq, PartialOrd)]
pub enum Rank {
    Leaf,
    Plan(u64, u64, u64, Alternative),
    Excluded,
}

/// Costs of the admitted alternatives, computed once each.
#[derive(Default)]
struct Memo {
    costs: BTreeMap<Alternative, LayerCost>,
    error: Option<ScheduleError>,
    /// The first arithmetic overflow of an excluded gathered plan: the real reason when no
    /// plan is left (not the SRAM capacities).
    overflow: Option<ScheduleError>,
}

struct PinnedCost<'a> {
    graph: &'a ScheduleGraph<'a>,
    pin: Pin,
    memo: &'a mut Memo,
}

/// The layer cost of `alt`.
pub fn alternative_cost(
    graph: &ScheduleGraph<'_>,
    alt: &Alternative,
) -> Result<LayerCost, ScheduleError> {
    let c = Candidate {
        tc: alt.tc,
        q_block: alt.q_block,
        khat: alt.khat,
    };
    graph
        .pricer
        .cost(&graph.shape, alt.schedule, alt.ablate, c, alt.kv)
}

impl PinnedCost<'_> {
    fn rank(&mut self, alt: Alternative) -> Rank {
        if !self.memo.costs.contains_key(&alt) {
            match alternative_cost(self.graph, &alt) {
                Ok(c) => {
                    self.memo.costs.insert(alt, c);
                }
                // A gathered plan the lowering cannot emit (e.g. an ablation's buffers do not
                // fit) is no alternative; other costs fail only on arithmetic overflow.
                Err(e) if alt.kv == KvSource::Gathered => {
                    if matches!(e, ScheduleError::Cost(_)) {
                        self.memo.overflow.get_or_insert(e);
                    }
                    return Rank::Excluded;
                }
                Err(e) => {
                    self.memo.error.get_or_insert(e);
                    return Rank::Excluded;
                }
            }
        }
        self.memo
            .costs
            .get(&alt)
            .map_or(Rank::Excluded, |c| rank_of(c, alt))
    }
}

fn rank_of(c: &LayerCost, alt: Alternative) -> Rank {
    Rank::Plan(c.latency, c.dram_bytes(), c.energy_total(), alt)
}

/// [`Objective::key`]: outside the slack, the figures, the query block (larger first), the plan.
pub type ObjectiveKey = (bool, [u64; 3], Reverse<u64>, Alternative);

/// The winner's order over costed alternatives, given the fastest latency: plans within the
/// slack first, by DRAM bytes, latency, energy, the larger query block and the plan; the rest
/// after them, by latency, DRAM bytes, energy, the larger query block and the plan.
#[derive(Copy, Clone, Debug)]
pub struct Objective {
    /// Latencies up to this many cycles are within the slack.
    pub within: u64,
}

impl Objective {
    pub fn new(fastest: u64, slack_pct: u64) -> Objective {
        let slack = u128::from(fastest) * u128::from(slack_pct) / 100;
        let within = u128::from(fastest).saturating_add(slack);
        Objective {
            within: u64::try_from(within).unwrap_or(u64::MAX),
        }
    }

    /// The sort key of `alt` costing `c`. Between equal figures the larger query block wins:
    /// a smaller one leaves lanes idle unless it buys something.
    pub fn key(&self, c: &LayerCost, alt: Alternative) -> ObjectiveKey {
        let (lat, dram, energy) = (c.latency, c.dram_bytes(), c.energy_total());
        let rows = Reverse(alt.q_block);
        match lat <= self.within {
            true => (false, [dram, lat, energy], rows, alt),
            false => (true, [lat, dram, energy], rows, alt),
        }
    }
}

impl CostFunction<SchedLang> for PinnedCost<'_> {
    type Cost = Rank;

    fn cost<C: FnMut(Id) -> Rank>(&mut self, enode: &SchedLang, _children: C) -> Rank {
        use SchedLang as L;
        match enode {
            L::Q | L::K | L::V | L::Tiles(_) | L::Rows(_) | L::Khat(_) | L::Kv(_) | L::Abl(_) => {
                Rank::Leaf
            }
            L::Attn(_) => Rank::Excluded,
            node => match decode(&self.graph.egraph, node) {
                Some(alt) if self.pin.admits(&alt, &self.graph.shape) => self.rank(alt),
                _ => Rank::Excluded,
            },
        }
    }
}

fn leaf<T>(eg: &SchedGraph, id: Id, pick: impl Fn(&SchedLang) -> Option<T>) -> Option<T> {
    eg[id].nodes.iter().find_map(pick)
}

/// The plan a dataflow node stands for (`None` for `attn` and leaves).
pub fn decode(eg: &SchedGraph, node: &SchedLang) -> Option<Alternative> {
    use crate::schedule::KhatPlacement as H;
    use SchedLang as L;
    let tiles = |id| {
        leaf(
            eg,
            id,
            |n| if let L::Tiles(t) = n { Some(t.0) } else { None },
        )
    };
    let rows = |id| {
        leaf(
            eg,
            id,
            |n| if let L::Rows(r) = n { Some(r.0) } else { None },
        )
    };
    let khat = |id| {
        leaf(
            eg,
            id,
            |n| if let L::Khat(h) = n { Some(h.0) } else { None },
        )
    };
    let kv = |id| leaf(eg, id, |n| if let L::Kv(k) = n { Some(k.0) } else { None });
    let abl = |id| leaf(eg, id, |n| if let L::Abl(a) = n { Some(*a) } else { None });
    let alt = |schedule, (tc, q_block), khat, kv, ablate| Alternative {
        tc,
        q_block,
        khat,
        kv,
        schedule,
        ablate,
    };
    match *node {
        L::Dense([t, r, k, ..]) => Some(alt(
            Schedule::Dense,
            (tiles(t)?, rows(r)?),
            H::None,
            kv(k)?,
            Ablation::default(),
        )),
        L::Staged([r, k, a, ..]) => Some(alt(
            Schedule::Staged,
            (1, rows(r)?),
            H::Spill,
            kv(k)?,
            abl(a)?.to_ablation(),
        )),
        L::Cct([t, r, h, k, a, ..]) => Some(alt(
            Schedule::Cct,
            (tiles(t)?, rows(r)?),
            khat(h)?,
            kv(k)?,
            abl(a)?.to_ablation(),
        )),
        _ => None,
    }
}

/// Extract the winner and runner-up under `pin`; errors name `layer`.
pub fn extract(
    g: &ScheduleGraph<'_>,
    pin: &Pin,
    layer: usize,
) -> Result<Extraction, ScheduleError> {
    let mut memo = Memo::default();
    let best = {
        let cost = PinnedCost {
            graph: g,
            pin: *pin,
            memo: &mut memo,
        };
        Extractor::new(&g.egraph, cost).find_best_cost(g.root)
    };
    if let Some(e) = memo.error {
        return Err(e);
    }
    let Rank::Plan(fastest, ..) = best else {
        if let Some(tiles) = pin.tc {
            return Err(no_such_tiles(g, pin, layer, tiles));
        }
        return Err(memo.overflow.unwrap_or_else(|| no_fit(g, layer)));
    };
    let all = g.alternatives();
    let objective = Objective::new(fastest, pin.latency_slack_pct);
    let mut ranked: Vec<Ranked> = all
        .iter()
        .filter_map(|&alt| {
            let cost = memo.costs.get(&alt)?.clone();
            Some(Ranked { alt, cost })
        })
        .collect();
    ranked.sort_by_key(|r| objective.key(&r.cost, r.alt));
    let eligible = ranked.len();
    let mut order = ranked.into_iter();
    let winner = order.next().ok_or_else(|| no_fit(g, layer))?;
    Ok(Extraction {
        winner,
        runner_up: order.next(),
        eligible,
        alternatives: all.len(),
    })
}

/// A forced tile count no admitted alternative has: say which counts the layer could take.
fn no_such_tiles(g: &ScheduleGraph<'_>, pin: &Pin, layer: usize, tiles: u64) -> ScheduleError {
    let free = Pin { tc: None, ..*pin };
    let mut counts: Vec<u64> = g
        .alternatives()
        .iter()
        .filter(|a| free.admits(a, &g.shape))
        .map(|a| a.tc)
        .collect();
    counts.sort_unstable();
    counts.dedup();
    ScheduleError::NoSuchTiles {
        layer,
        tiles,
        seq_k: g.shape.seq_k,
        feasible: counts
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn no_fit(g: &ScheduleGraph<'_>, layer: usize) -> ScheduleError {
    ScheduleError::NoFit {
        layer,
        detail: format!(
            "Sk {}, D {}, token {} B, temp {} B",
            g.shape.seq_k,
            g.shape.head_dim,
            g.pricer.hw.sram.token_bytes,
            g.pricer.hw.sram.temp_bytes
        ),
    }
}
