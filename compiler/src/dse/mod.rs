//! Design-space exploration (`sofa dse`): sweep chip variants and plan choices over a
//! workload or an ONNX model, price every point with the compiler's own cost model (and a
//! model's accuracy through a [`PlanAccuracy`] the caller provides), and keep the Pareto front.
//!
//! - [`spec`]: the sweep spec (target, axes, objectives) and its points.
//! - [`target`]: what the points run on — a workload spec or a model with its inputs.
//! - [`area`]: the area model, calibrated on the paper's Table III.
//! - [`search`]: which points are evaluated — all of them, a seeded random sample, or those
//!   TPE proposes one after another.
//! - [`evaluate`]: one point through the driver's workload pipeline (`sparsify`, `cct-tile`,
//!   `lower-to-sofa`) and [`crate::driver::schedule_layers`], the prices `schedule-json`
//!   reports — no second performance model.
//! - the output format: a header line, then one JSON line per point ([`render_header`],
//!   [`render_record`], [`parse_output`]), and [`pareto_front`].
//!
//! Everything here is deterministic: the same spec gives the same bytes on any machine, in
//! any number of shards ([`Shard`]).

pub mod area;
mod axis;
mod output;
pub mod search;
pub mod spec;
pub mod target;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::driver::{self, Target};
pub use area::{Area, AreaModel};
pub use output::{merge, parse_output, render_output, Output};
pub use search::{Method, Search};
pub use spec::{DseSpec, FORMAT_VERSION, MAX_POINTS};

/// Why a sweep could not be set up, or an output could not be read or merged.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DseError {
    #[error("cannot read {what} '{}': {message}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        message: String,
    },
    /// The spec is malformed; `at` is `file:line:col` where the text locates it.
    #[error("{at}: {message}")]
    Spec { at: String, message: String },
    /// A file the spec names is not a valid workload spec or hardware config (`message`
    /// names the file); `path` is the spec.
    #[error("{}: [target]: {message}", path.display())]
    Target { path: PathBuf, message: String },
    /// A line of an output file is not what `sofa dse` writes.
    #[error("{file}:{line}: {message}")]
    Output {
        file: String,
        line: usize,
        message: String,
    },
    /// Outputs that cannot be merged, or resumed into.
    #[error("{0}")]
    Mismatch(String),
    #[error("invalid shard '{0}': expected I/N with N ≥ 1 and 0 ≤ I < N, e.g. 0/4")]
    Shard(String),
}

/// An objective, minimised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Objective {
    /// Predicted latency of all layers, ns (cycles at `clock.freq_mhz`).
    Latency,
    /// Predicted energy, fJ (engines and DRAM).
    Energy,
    /// Chip area, µm² ([`AreaModel`]).
    Area,
    /// 1 − the worst cosine similarity of a model's outputs to dense, over its inputs (model
    /// targets only).
    Accuracy,
}

impl Objective {
    pub const ALL: [Objective; 4] = [
        Objective::Latency,
        Objective::Energy,
        Objective::Area,
        Objective::Accuracy,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Objective::Latency => "latency",
            Objective::Energy => "energy",
            Objective::Area => "area",
            Objective::Accuracy => "accuracy",
        }
    }

    pub fn parse(s: &str) -> Option<Objective> {
        Objective::ALL.into_iter().find(|o| o.name() == s)
    }

    /// The record field holding this objective.
    pub fn field(self) -> &'static str {
        match self {
            Objective::Latency => "latency_ns",
            Objective::Energy => "energy_fj",
            Objective::Area => "area_um2",
            Objective::Accuracy => "accuracy_loss",
        }
    }

    /// The objective as a float (the search's scalar, tables, pictures); an accuracy that was
    /// not measured is +∞.
    pub fn value(self, f: &Figures) -> f64 {
        match self {
            Objective::Accuracy => f.accuracy_loss.unwrap_or(f64::INFINITY),
            _ => self.key(f) as f64,
        }
    }

    /// The objective as an integer of the same order, compared exactly by the front: the
    /// integer figures themselves, and the accuracy loss's bits (for floats ≥ 0 their order is
    /// the numbers'; one not measured is last).
    pub fn key(self, f: &Figures) -> u64 {
        match self {
            Objective::Latency => f.latency_ns,
            Objective::Energy => f.energy_fj,
            Objective::Area => f.area_um2,
            Objective::Accuracy => f.accuracy_loss.map_or(u64::MAX, |l| l.max(0.0).to_bits()),
        }
    }
}

/// Shard `index` of `count`: the points whose index is `index` modulo `count` (strided, so
/// that every shard gets a share of each axis's expensive values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    pub fn holds(self, point: u64) -> bool {
        point % self.count == self.index
    }

    /// The points of this shard among `points`, in order.
    pub fn points(self, points: u64) -> impl Iterator<Item = u64> {
        (self.index..points).step_by(usize::try_from(self.count).unwrap_or(usize::MAX))
    }
}

impl FromStr for Shard {
    type Err = DseError;
    fn from_str(s: &str) -> Result<Shard, DseError> {
        let bad = || DseError::Shard(s.to_string());
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u64 = i.trim().parse().map_err(|_| bad())?;
        let count: u64 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The first line of every output: which spec, how many points, which shard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub sofa_dse: u32,
    pub spec: String,
    pub name: String,
    pub points: u64,
    pub axes: Vec<String>,
    pub objectives: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// A sampled search (`random`, `tpe`): its method, budget and seed. The lines hold the
    /// `budget` points it evaluated; absent for an exhaustive sweep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<Search>,
}

impl Header {
    pub fn of(spec: &DseSpec, shard: Shard) -> Header {
        Header {
            sofa_dse: FORMAT_VERSION,
            spec: spec.hash_hex(),
            name: spec.name.clone(),
            points: spec.points,
            axes: spec.axes.iter().map(|a| a.key.clone()).collect(),
            objectives: spec.objectives.iter().map(|o| o.name().into()).collect(),
            shard: (shard != Shard::WHOLE).then(|| shard.to_string()),
            search: spec.search.is_sampled().then_some(spec.search),
        }
    }
}

/// The figures of a feasible point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Figures {
    pub latency_cycles: u64,
    pub latency_ns: u64,
    pub energy_fj: u64,
    pub area_um2: u64,
    pub dram_bytes: u64,
    /// 1 − the worst cosine to dense (≥ 0), when the spec's objectives include accuracy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy_loss: Option<f64>,
}

/// One evaluated point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub index: u64,
    /// A sampled search's order: this point was the `trial`th evaluated (from 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial: Option<u64>,
    /// Axis key → value (the JSON object is written with its keys sorted).
    pub values: BTreeMap<String, serde_json::Value>,
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub figures: Option<Figures>,
    /// Why the point is infeasible (its chip breaks a rule, or the workload cannot be planned
    /// or does not fit it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One line of JSON (no newline).
fn json_line<T: Serialize>(v: &T) -> String {
    // Plain structs of integers, strings and finite floats always serialise.
    serde_json::to_string(v).unwrap_or_default()
}

pub fn render_header(h: &Header) -> String {
    json_line(h)
}

pub fn render_record(r: &Record) -> String {
    json_line(r)
}

/// What measures the accuracy of a model's plan (the reference interpreter, which this crate
/// does not depend on).
pub trait PlanAccuracy {
    /// 1 − the worst cosine to dense of the model's outputs over its inputs, with the selection
    /// `target`'s plan makes (its keep, schedule and chip, as `sparsify` and `cct-tile` set it).
    fn loss(&mut self, target: &Target) -> Result<f64, String>;
}

/// The compiled form of what a spec's points run on.
pub enum Subject<'a> {
    /// The spec's workload ([`target::Subject::Workload`]).
    Workload,
    /// The spec's model, imported at the dims priced at (static), and its accuracy when an
    /// objective.
    Model {
        imported: &'a sofa_ir::Module,
        accuracy: Option<&'a mut dyn PlanAccuracy>,
    },
}

/// Evaluate point `index` of `spec`: compile the workload or model for the point's chip and
/// plan with the driver, price it with the cost model, size the chip with the area model, and
/// measure a model's accuracy when it is an objective.
pub fn evaluate(spec: &DseSpec, index: u64, subject: &mut Subject<'_>) -> Record {
    let digits = spec.digits(index);
    let values = spec
        .axes
        .iter()
        .zip(&digits)
        .map(|(a, &d)| (a.key.clone(), a.values[d].clone()))
        .collect();
    let (figures, error) = match figures(spec, index, subject) {
        Ok(f) => (Some(f), None),
        Err(e) => (None, Some(e)),
    };
    Record {
        index,
        trial: None,
        values,
        figures,
        error,
    }
}

fn figures(spec: &DseSpec, index: u64, subject: &mut Subject<'_>) -> Result<Figures, String> {
    let s = spec.settings(index).map_err(|e| e.to_string())?;
    let target = Target {
        hw: s.hw,
        keep: s.keep,
        schedule: s.schedule,
        tiles: s.tiles,
        ..Target::default()
    };
    let module = match (&spec.subject, &*subject) {
        (target::Subject::Workload(w), _) => driver::compile_workload(w, &target),
        (_, Subject::Model { imported, .. }) => compile_imported(imported, &target),
        (target::Subject::Model(_), Subject::Workload) => {
            return Err("a model target evaluated without its imported model".into())
        }
    }
    .map_err(|e| e.to_string())?;
    let layers = driver::schedule_layers(&module, &target).map_err(|e| e.to_string())?;
    let overflow = |what: &str| format!("the {what} of the point overflows 64 bits");
    let sum = |f: &dyn Fn(&crate::schedule::price::PricedLayer) -> u64| {
        layers.iter().try_fold(0u64, |s, l| s.checked_add(f(l)))
    };
    let latency_cycles = sum(&|l| l.plan.cost.latency).ok_or_else(|| overflow("latency"))?;
    let energy_fj = sum(&|l| l.plan.cost.energy_total()).ok_or_else(|| overflow("energy"))?;
    let dram_bytes = sum(&|l| l.plan.cost.dram_bytes()).ok_or_else(|| overflow("DRAM traffic"))?;
    let mhz = target.hw.clock.freq_mhz;
    let latency_ns = latency_cycles
        .checked_mul(1000)
        .map(|c| c.div_ceil(mhz))
        .ok_or_else(|| overflow("latency"))?;
    let area = spec.area.area(&target.hw).map_err(|e| e.to_string())?;
    let accuracy_loss = match subject {
        Subject::Model {
            accuracy: Some(a), ..
        } => Some(a.loss(&target)?),
        _ => None,
    };
    Ok(Figures {
        latency_cycles,
        latency_ns,
        energy_fj,
        area_um2: area.total,
        dram_bytes,
        accuracy_loss,
    })
}

/// An imported model through the driver's model pipeline for `target` (its dims already bound
/// at import, as `sofa calibrate` prices).
fn compile_imported(
    imported: &sofa_ir::Module,
    target: &Target,
) -> Result<sofa_ir::Module, driver::DriverError> {
    let mut module = imported.clone();
    driver::model_pipeline(target, &BTreeMap::new())?
        .run(&mut module, &mut sofa_ir::pass::NoInstrumentation)?;
    Ok(module)
}

/// The indices of the feasible records no other feasible record dominates over `objectives`
/// (all ≤ and one <), in index order. Records with equal objectives are all kept.
pub fn pareto_front(records: &[Record], objectives: &[Objective]) -> Vec<u64> {
    let mut pts: Vec<(Vec<u64>, u64)> = records
        .iter()
        .filter_map(|r| {
            let f = r.figures.as_ref()?;
            Some((objectives.iter().map(|o| o.key(f)).collect(), r.index))
        })
        .collect();
    // Lexicographic order: a point can only be dominated by one before it, and then by one
    // already on the front (domination is transitive).
    pts.sort();
    let mut front: Vec<(Vec<u64>, u64)> = Vec::new();
    for (v, i) in pts {
        let dominated = front
            .iter()
            .any(|(f, _)| f.iter().zip(&v).all(|(a, b)| a <= b) && *f != v);
        if !dominated {
            front.push((v, i));
        }
    }
    let mut idx: Vec<u64> = front.into_iter().map(|(_, i)| i).collect();
    idx.sort_unstable();
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(index: u64, lat: u64, energy: u64, area: u64) -> Record {
        Record {
            index,
            trial: None,
            values: BTreeMap::new(),
            figures: Some(Figures {
                latency_cycles: lat,
                latency_ns: lat,
                energy_fj: energy,
                area_um2: area,
                dram_bytes: 0,
                accuracy_loss: None,
            }),
            error: None,
        }
    }

    #[test]
    fn the_front_keeps_exactly_the_non_dominated_points() {
        let mut infeasible = rec(5, 0, 0, 0);
        infeasible.figures = None;
        infeasible.error = Some("x".into());
        let rs = vec![
            rec(0, 10, 10, 10),
            rec(1, 5, 20, 10),  // trades latency for energy: on the front
            rec(2, 10, 10, 11), // dominated by 0
            rec(3, 10, 10, 10), // equal to 0: kept
            rec(4, 4, 30, 30),
            infeasible,
        ];
        use Objective::*;
        assert_eq!(
            pareto_front(&rs, &[Latency, Energy, Area]),
            vec![0, 1, 3, 4]
        );
        assert_eq!(pareto_front(&rs, &[Energy]), vec![0, 2, 3]);
        assert_eq!(pareto_front(&rs, &[Latency]), vec![4]);
    }

    #[test]
    fn shards_stride_and_parse() {
        let s: Shard = "1/4".parse().unwrap();
        assert_eq!(s.points(10).collect::<Vec<_>>(), vec![1, 5, 9]);
        assert!(s.holds(5) && !s.holds(6));
        for bad in ["4/4", "1/0", "x/2", "1", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn records_round_trip_and_truncated_lines_are_dropped() {
        let h = Header {
            sofa_dse: FORMAT_VERSION,
            spec: "00".into(),
            name: "t".into(),
            points: 3,
            axes: vec![],
            objectives: vec!["latency".into()],
            shard: None,
            search: None,
        };
        let lines = [
            render_record(&rec(0, 1, 2, 3)),
            render_record(&rec(1, 4, 5, 6)),
        ];
        assert_eq!(
            lines[0],
            "{\"index\":0,\"values\":{},\"latency_cycles\":1,\"latency_ns\":1,\
             \"energy_fj\":2,\"area_um2\":3,\"dram_bytes\":0}"
        );
        let text = render_output(&h, lines.iter().map(String::as_str));
        let cut = &text[..text.len() - 5];
        let out = parse_output(cut, "o").unwrap();
        assert!(out.truncated);
        assert_eq!(out.lines.keys().copied().collect::<Vec<_>>(), vec![0]);
        assert_eq!(out.lines[&0].1, rec(0, 1, 2, 3));
        let e = parse_output(&format!("{text}{{\"index\":7}}\n"), "o").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("o:4: not a `sofa dse` point line"),
            "{e}"
        );
        let e = merge(&[("o".into(), text)]).unwrap_err();
        assert!(
            e.to_string().contains("lack 1 of the 3 points (first: 2)"),
            "{e}"
        );
    }
}
