//! The execution plan of an attention op, as IR attributes: the one place the plan lives.
//!
//! `cct-tile` chooses a plan per layer and writes it onto the op; `lower-to-sofa` adds the K/V
//! source; `lower-to-isa` reads it back. Nothing else carries it: command-line options only
//! supply defaults for ops (or parts of a plan) that have none. The attributes, declared once
//! in [`PLAN_ATTRS`] and accepted by `attn.mha`, `attn.sparse_mha` and `sofa.kernel`:
//!
//! | attribute | type | meaning |
//! |---|---|---|
//! | `sofa.schedule` | string | `dense` (FA-2, no prediction), `staged` (Â and A through DRAM), `cct` |
//! | `sofa.tc` | i64 ≥ 1 | key tiles `Tc`; the tile width is `⌈Sk/Tc⌉` |
//! | `sofa.q_block` | i64 ≥ 1 | query rows per block |
//! | `sofa.ablate` | string | comma list of mechanisms run as their baseline: `dlzs`, `sads`, `sufa`, `rass` |
//! | `sofa.kv` | string | where K and V come from: `gathered` (tensors in DRAM, selected rows gathered) or `on-demand` (KVGEN from the layer input) |
//! | `sofa.kv_hidden` | i64 ≥ 1 | on demand: the width of the layer input X |
//! | `sofa.kv_bias_k`, `sofa.kv_bias_v` | bool | on demand: whether the K / V projection adds a bias |
//!
//! Every attribute is optional and none changes the op's semantics. [`Plan::from_attrs`]
//! reads and checks them (the verifier reports its errors), [`Plan::to_attrs`] writes them.

use std::fmt;

use super::super::{AttrDef, AttrKind};
use crate::attr::{AttrDict, Attribute};

/// Attribute names of the plan.
pub const SCHEDULE: &str = "sofa.schedule";
pub const TC: &str = "sofa.tc";
pub const Q_BLOCK: &str = "sofa.q_block";
pub const ABLATE: &str = "sofa.ablate";
pub const KV: &str = "sofa.kv";
pub const KV_HIDDEN: &str = "sofa.kv_hidden";
pub const KV_BIAS_K: &str = "sofa.kv_bias_k";
pub const KV_BIAS_V: &str = "sofa.kv_bias_v";

/// The plan's attribute schema, spliced into every op that carries a plan.
pub const PLAN_ATTRS: [AttrDef; 8] = [
    AttrDef::optional(SCHEDULE, AttrKind::String),
    AttrDef::optional(TC, AttrKind::Int),
    AttrDef::optional(Q_BLOCK, AttrKind::Int),
    AttrDef::optional(ABLATE, AttrKind::String),
    AttrDef::optional(KV, AttrKind::String),
    AttrDef::optional(KV_HIDDEN, AttrKind::Int),
    AttrDef::optional(KV_BIAS_K, AttrKind::Bool),
    AttrDef::optional(KV_BIAS_V, AttrKind::Bool),
];

/// `a` followed by `b`: op schemas built from shared attribute groups at compile time.
pub const fn concat_attrs<const A: usize, const B: usize, const N: usize>(
    a: [AttrDef; A],
    b: [AttrDef; B],
) -> [AttrDef; N] {
    assert!(A + B == N, "concat_attrs: N must be A + B");
    let mut out = [AttrDef::optional("", AttrKind::Any); N];
    let mut i = 0;
    while i < A {
        out[i] = a[i];
        i += 1;
    }
    while i < N {
        out[i] = b[i - A];
        i += 1;
    }
    out
}

/// Why a plan attribute (or a plan option) is not valid; names the attribute and the value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("unknown {what} '{value}' (expected {expected})")]
    Unknown {
        what: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("{attr} must be {expected}")]
    Invalid {
        attr: &'static str,
        expected: &'static str,
    },
    #[error("sofa.kv = \"on-demand\" needs a positive {KV_HIDDEN}")]
    MissingHidden,
}

/// The attention dataflow to cost and emit.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Schedule {
    /// FlashAttention-2 on the SU-FA engine over every valid key; no prediction.
    Dense,
    /// The classic three-stage flow: Â and A go to DRAM, whole-row top-k, FA-2 update.
    Staged,
    /// SOFA's cross-stage coordinated tiling (default).
    #[default]
    Cct,
}

impl Schedule {
    pub const ALL: [Schedule; 3] = [Schedule::Dense, Schedule::Staged, Schedule::Cct];

    pub fn name(self) -> &'static str {
        match self {
            Schedule::Dense => "dense",
            Schedule::Staged => "staged",
            Schedule::Cct => "cct",
        }
    }

    /// `dense`, `staged` or `cct`.
    pub fn parse(text: &str) -> Result<Schedule, PlanError> {
        Schedule::ALL
            .into_iter()
            .find(|s| s.name() == text)
            .ok_or_else(|| PlanError::Unknown {
                what: "schedule",
                value: text.into(),
                expected: "dense, staged or cct",
            })
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Mechanisms replaced by their baseline (paper Fig. 17/20 ablations).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Ablation {
    /// Predict with 4-bit multiplies on the PE array (GEMM) instead of DLZS shift-adds.
    pub dlzs: bool,
    /// Sort each whole row once instead of SADS per tile.
    pub sads: bool,
    /// FA-2 update (max scan + rescale per tile) instead of sorted SU-FA.
    pub sufa: bool,
    /// Issue every query's keys separately instead of RASS's shared order.
    pub rass: bool,
}

impl Ablation {
    /// Parse a comma list of `dlzs`, `sads`, `sufa`, `rass` (empty = none).
    pub fn parse(text: &str) -> Result<Ablation, PlanError> {
        let mut a = Ablation::default();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item {
                "dlzs" => a.dlzs = true,
                "sads" => a.sads = true,
                "sufa" => a.sufa = true,
                "rass" => a.rass = true,
                other => {
                    return Err(PlanError::Unknown {
                        what: "ablation",
                        value: other.into(),
                        expected: "dlzs, sads, sufa or rass",
                    })
                }
            }
        }
        Ok(a)
    }

    /// The canonical comma list (`""` when nothing is ablated).
    pub fn to_list(self) -> String {
        let names = [
            (self.dlzs, "dlzs"),
            (self.sads, "sads"),
            (self.sufa, "sufa"),
            (self.rass, "rass"),
        ];
        let on: Vec<&str> = names.iter().filter(|(b, _)| *b).map(|(_, n)| *n).collect();
        on.join(",")
    }

    /// Whether the layer selects over the whole visible row at once (one key tile): the
    /// `staged` flow, and `cct` with SADS ablated.
    pub fn whole_row(self, schedule: Schedule) -> bool {
        schedule == Schedule::Staged || (schedule == Schedule::Cct && self.sads)
    }
}

/// Where the K and V rows an attention layer reads come from.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum KvSource {
    /// KVGEN from the token rows X of the keys RASS issues, per key tile and query block
    /// (the paper's on-demand K/V, §III-A).
    OnDemand,
    /// K and V projected once per head for every key, stored to DRAM and read back in order
    /// by every query block. Priced by the cost model; not a lowering source.
    Preload,
    /// K and V are tensors in DRAM and the selected rows are gathered from them (the default).
    #[default]
    Gathered,
}

impl KvSource {
    pub const ALL: [KvSource; 3] = [KvSource::OnDemand, KvSource::Preload, KvSource::Gathered];

    pub fn name(self) -> &'static str {
        match self {
            KvSource::OnDemand => "on-demand",
            KvSource::Preload => "preload",
            KvSource::Gathered => "gathered",
        }
    }

    /// `on-demand`, `preload` or `gathered`.
    pub fn parse(text: &str) -> Result<KvSource, PlanError> {
        KvSource::ALL
            .into_iter()
            .find(|k| k.name() == text)
            .ok_or_else(|| PlanError::Unknown {
                what: "K/V source",
                value: text.into(),
                expected: "on-demand, preload or gathered",
            })
    }
}

/// On-demand K/V: what KVGEN needs to know of the projections `X·W + b`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct KvGenPlan {
    /// Width of the layer input X (the projections' depth).
    pub hidden: u64,
    pub bias_k: bool,
    pub bias_v: bool,
}

/// The K/V source recorded on an op.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvPlan {
    Gathered,
    OnDemand(KvGenPlan),
}

/// An op's plan; every part optional (see the module doc).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Plan {
    pub schedule: Option<Schedule>,
    pub tc: Option<u64>,
    pub q_block: Option<u64>,
    pub ablate: Option<Ablation>,
    pub kv: Option<KvPlan>,
}

impl Plan {
    /// Read and check the plan attributes of a dictionary (others are ignored).
    pub fn from_attrs(attrs: &AttrDict) -> Result<Plan, PlanError> {
        let string = |key: &'static str| -> Result<Option<&str>, PlanError> {
            match attrs.get(key) {
                None => Ok(None),
                Some(a) => a.as_str().map(Some).ok_or(PlanError::Invalid {
                    attr: key,
                    expected: "a string",
                }),
            }
        };
        let positive = |key: &'static str| -> Result<Option<u64>, PlanError> {
            match attrs.get(key) {
                None => Ok(None),
                Some(a) => a
                    .as_int()
                    .and_then(|v| u64::try_from(v).ok())
                    .filter(|&v| v > 0)
                    .map(Some)
                    .ok_or(PlanError::Invalid {
                        attr: key,
                        expected: "a positive integer",
                    }),
            }
        };
        let flag = |key: &'static str| -> Result<bool, PlanError> {
            match attrs.get(key) {
                None => Ok(false),
                Some(a) => a.as_bool().ok_or(PlanError::Invalid {
                    attr: key,
                    expected: "a bool",
                }),
            }
        };
        let kv = match string(KV)?.map(KvSource::parse).transpose()? {
            None => None,
            Some(KvSource::Gathered) => Some(KvPlan::Gathered),
            Some(KvSource::OnDemand) => Some(KvPlan::OnDemand(KvGenPlan {
                hidden: positive(KV_HIDDEN)?.ok_or(PlanError::MissingHidden)?,
                bias_k: flag(KV_BIAS_K)?,
                bias_v: flag(KV_BIAS_V)?,
            })),
            Some(KvSource::Preload) => {
                return Err(PlanError::Invalid {
                    attr: KV,
                    expected: "\"gathered\" or \"on-demand\" (preload is not lowered)",
                })
            }
        };
        Ok(Plan {
            schedule: string(SCHEDULE)?.map(Schedule::parse).transpose()?,
            tc: positive(TC)?,
            q_block: positive(Q_BLOCK)?,
            ablate: string(ABLATE)?.map(Ablation::parse).transpose()?,
            kv,
        })
    }

    /// Write the parts that are set into `attrs` (replacing what was there; unset parts are
    /// left as they are).
    pub fn to_attrs(&self, attrs: &mut AttrDict) {
        let int = |v: u64| Attribute::i64(i64::try_from(v).unwrap_or(i64::MAX));
        let mut put = |k: &str, a: Attribute| {
            attrs.insert(k.into(), a);
        };
        if let Some(s) = self.schedule {
            put(SCHEDULE, Attribute::string(s.name()));
        }
        if let Some(tc) = self.tc {
            put(TC, int(tc));
        }
        if let Some(q) = self.q_block {
            put(Q_BLOCK, int(q));
        }
        if let Some(a) = self.ablate {
            put(ABLATE, Attribute::string(a.to_list()));
        }
        match self.kv {
            None => {}
            Some(KvPlan::Gathered) => put(KV, Attribute::string(KvSource::Gathered.name())),
            Some(KvPlan::OnDemand(g)) => {
                put(KV, Attribute::string(KvSource::OnDemand.name()));
                put(KV_HIDDEN, int(g.hidden));
                put(KV_BIAS_K, Attribute::Bool(g.bias_k));
                put(KV_BIAS_V, Attribute::Bool(g.bias_v));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_round_trips_through_attributes() {
        let plan = Plan {
            schedule: Some(Schedule::Staged),
            tc: Some(3),
            q_block: Some(64),
            ablate: Some(Ablation {
                sads: true,
                rass: true,
                ..Ablation::default()
            }),
            kv: Some(KvPlan::OnDemand(KvGenPlan {
                hidden: 128,
                bias_k: true,
                bias_v: false,
            })),
        };
        let mut attrs = AttrDict::new();
        plan.to_attrs(&mut attrs);
        assert_eq!(attrs[ABLATE].as_str(), Some("sads,rass"));
        assert_eq!(Plan::from_attrs(&attrs), Ok(plan));
        assert_eq!(Plan::from_attrs(&AttrDict::new()), Ok(Plan::default()));
    }

    #[test]
    fn bad_plan_attributes_name_the_attribute() {
        let bad = |k: &str, a: Attribute| {
            let mut attrs = AttrDict::new();
            attrs.insert(k.into(), a);
            Plan::from_attrs(&attrs).unwrap_err().to_string()
        };
        assert_eq!(
            bad(SCHEDULE, Attribute::string("fast")),
            "unknown schedule 'fast' (expected dense, staged or cct)"
        );
        assert_eq!(
            bad(TC, Attribute::i64(0)),
            "sofa.tc must be a positive integer"
        );
        assert_eq!(
            bad(ABLATE, Attribute::string("dlzs,nope")),
            "unknown ablation 'nope' (expected dlzs, sads, sufa or rass)"
        );
        assert_eq!(
            bad(KV, Attribute::string("on-demand")),
            "sofa.kv = \"on-demand\" needs a positive sofa.kv_hidden"
        );
        assert!(bad(KV, Attribute::string("preload")).contains("not lowered"));
    }

    #[test]
    fn whole_row_selection_is_staged_or_cct_without_sads() {
        let sads = Ablation {
            sads: true,
            ..Ablation::default()
        };
        assert!(Ablation::default().whole_row(Schedule::Staged));
        assert!(sads.whole_row(Schedule::Cct));
        assert!(!Ablation::default().whole_row(Schedule::Cct));
        assert!(!sads.whole_row(Schedule::Dense));
    }
}
