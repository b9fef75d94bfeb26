//! `fuse-attention`: recognise every attention block and replace it by one `attn.mha`.
//!
//! Exporters spell attention in many ways (eager MatMul/Div/Softmax, TorchScript SDPA with the
//! scale split over Q and Kᵀ and a NaN guard, GQA through Unsqueeze/Expand/Reshape, T5 without a
//! scale but with a position bias, opset-23 `Attention`). For each candidate — an
//! `onnx.Softmax` anchor and the MatMul with V it feeds — the chain around it becomes an e-graph
//! term (`build`), canonicalising rewrites (`rules`, guarded by `analysis`) run under
//! bounds, and one pattern (`extract`) yields Q, K, V, the mask and the scale; the mask's
//! construction decides `causal` (`causal`, evaluating position functions with `probe`),
//! and `rewrite` materialises the op. `onnx.Attention` is mapped directly
//! (`attention23`).
//!
//! Nothing is fused on faith: a candidate that cannot be proven equivalent is left untouched and
//! reported with its anchor location and reason ([`FuseReport::unfused`], and a counter per
//! reason kind in the pass statistics). Statistics: `concat-copies-expanded`, `blocks-found`, `blocks-fused`,
//! `blocks-unfused`, `egraph-nodes`, `egraph-classes`, `egraph-iterations` (summed over runs),
//! `egraph-nodes-max`, one `stop-*` counter per stop reason, `unfused-*` per refusal kind,
//! `ops-erased`.

mod analysis;
mod attention23;
mod build;
mod causal;
mod copies;
mod extract;
mod lang;
mod probe;
mod rewrite;
mod rules;

use std::collections::BTreeMap;

use sofa_ir::dialect::DialectRegistry;
use sofa_ir::eval::module_opset;
use sofa_ir::pass::{
    OptionKind, OptionValue, Pass, PassBuildError, PassContext, PassError, PassInfo, PassOption,
    PassOutcome,
};
use sofa_ir::{Location, Module, Op};

pub use extract::{Limits, Stop, MHA_PATTERN};

use build::Candidate;
use extract::Refusal;

pub static INFO: PassInfo = PassInfo {
    name: "fuse-attention",
    description:
        "Recognise attention blocks (any exporter spelling, by bounded e-graph rewriting) \
                  and replace each by one attn.mha",
    options: &[
        PassOption {
            name: "max-iterations",
            kind: OptionKind::UInt,
            default: "30",
            help: "e-graph rewrite iterations per candidate (at least 1)",
        },
        PassOption {
            name: "max-nodes",
            kind: OptionKind::UInt,
            default: "20000",
            help: "e-graph size limit in e-nodes per candidate",
        },
    ],
    build: |opts| {
        let at_least_one = |option: &'static str| match opts.uint(option)? {
            0 => Err(PassBuildError::Invalid {
                option,
                expected: "at least 1",
                value: OptionValue::UInt(0),
            }),
            n => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
        };
        let limits = Limits {
            iterations: at_least_one("max-iterations")?,
            nodes: at_least_one("max-nodes")?,
        };
        Ok(Box::new(FuseAttention::new(limits)))
    },
};

impl Default for Limits {
    fn default() -> Self {
        Limits {
            iterations: 30,
            nodes: 20_000,
        }
    }
}

/// A candidate left alone, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unfused {
    /// The anchor's location (the Softmax / Attention node).
    pub anchor: Location,
    /// The reason kind (also a statistics counter), e.g. `unfused-softmax-axis`.
    pub kind: &'static str,
    pub reason: String,
}

/// What one run of the pass did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FuseReport {
    /// `Concat`s of copies rewritten as `Expand` (`copies`).
    pub concat_copies: u64,
    pub found: u64,
    pub fused: u64,
    pub ops_erased: u64,
    pub egraph_nodes: u64,
    pub egraph_nodes_max: u64,
    pub egraph_classes: u64,
    pub iterations: u64,
    /// Runs per stop reason (`stop-saturated`, ...).
    pub stops: BTreeMap<&'static str, u64>,
    pub unfused: Vec<Unfused>,
}

impl FuseReport {
    /// One line per unfused candidate: `<anchor location>: <reason>`.
    pub fn unfused_lines(&self) -> Vec<String> {
        self.unfused
            .iter()
            .map(|u| format!("{}: {} ({})", loc_text(&u.anchor), u.reason, u.kind))
            .collect()
    }

    fn refuse(&mut self, m: &Module, anchor: Op, r: Refusal) {
        self.unfused.push(Unfused {
            anchor: m.op(anchor).loc.clone(),
            kind: r.kind,
            reason: r.detail,
        });
    }

    fn record(&self, cx: &mut PassContext<'_>) {
        cx.stat("concat-copies-expanded", self.concat_copies);
        cx.stat("blocks-found", self.found);
        cx.stat("blocks-fused", self.fused);
        cx.stat("blocks-unfused", self.unfused.len() as u64);
        cx.stat("ops-erased", self.ops_erased);
        cx.stat("egraph-nodes", self.egraph_nodes);
        cx.stat("egraph-nodes-max", self.egraph_nodes_max);
        cx.stat("egraph-classes", self.egraph_classes);
        cx.stat("egraph-iterations", self.iterations);
        for (&k, &n) in &self.stops {
            cx.stat(k, n);
        }
        for u in &self.unfused {
            cx.stat(u.kind, 1);
        }
        for line in self.unfused_lines() {
            cx.note(line);
        }
    }
}

/// A location as a short name: the ONNX node name where there is one.
fn loc_text(loc: &Location) -> String {
    match loc {
        Location::Name(n) => n.clone(),
        Location::Fused(parts) => parts.iter().map(loc_text).collect::<Vec<_>>().join(" + "),
        other => format!("{other:?}"),
    }
}

/// The `fuse-attention` pass.
#[derive(Debug, Default)]
pub struct FuseAttention {
    pub limits: Limits,
    /// The report of the last run.
    pub report: FuseReport,
}

impl FuseAttention {
    pub fn new(limits: Limits) -> FuseAttention {
        FuseAttention {
            limits,
            report: FuseReport::default(),
        }
    }
}

impl Pass for FuseAttention {
    fn info(&self) -> &'static PassInfo {
        &INFO
    }

    fn run(&mut self, m: &mut Module, cx: &mut PassContext<'_>) -> Result<PassOutcome, PassError> {
        self.report = fuse_attention(m, cx.dialects, &self.limits);
        self.report.record(cx);
        let changed = self.report.fused > 0 || self.report.concat_copies > 0;
        Ok(PassOutcome::from_changed(changed))
    }
}

/// Softmax and Attention ops of the module, in walk order.
fn anchors(m: &Module) -> Vec<Op> {
    m.all_ops()
        .into_iter()
        .filter(|&op| matches!(m.op(op).name.as_str(), "onnx.Softmax" | "onnx.Attention"))
        .collect()
}

/// Run the fusion on every candidate of `m`.
pub fn fuse_attention(m: &mut Module, dialects: &DialectRegistry, limits: &Limits) -> FuseReport {
    let mut report = FuseReport {
        concat_copies: copies::expand_concat_copies(m),
        ..FuseReport::default()
    };
    let opset = module_opset(m);
    let probes = probe::Probes::for_module(m);
    let rules = rules::rules();
    for anchor in anchors(m) {
        if m.op(anchor).erased || m.op(anchor).parent.is_none() {
            continue; // died with an earlier candidate's chain
        }
        report.found += 1;
        let result = if m.op(anchor).name == "onnx.Attention" {
            attention23::map_attention(m, dialects, &probes, anchor)
        } else {
            let cx = SoftmaxCx {
                dialects,
                opset,
                probes: &probes,
                rules: &rules,
                limits,
            };
            fuse_softmax(m, &cx, anchor, &mut report)
        };
        match result {
            Ok((_, erased)) => {
                report.fused += 1;
                report.ops_erased += erased;
            }
            Err(r) => report.refuse(m, anchor, r),
        }
    }
    report
}

struct SoftmaxCx<'a> {
    dialects: &'a DialectRegistry,
    opset: i64,
    probes: &'a probe::Probes,
    rules: &'a [rules::AttnRewrite],
    limits: &'a Limits,
}

/// One Softmax-anchored candidate, from IR to `attn.mha`.
fn fuse_softmax(
    m: &mut Module,
    cx: &SoftmaxCx<'_>,
    anchor: Op,
    report: &mut FuseReport,
) -> Result<(Op, u64), Refusal> {
    let uses = m.uses();
    let root = build::find_root(m, &uses, anchor)
        .map_err(|e| Refusal::new("unfused-softmax-consumer", e.to_string()))?;
    let cand = Candidate { anchor, root };
    let term = build::build_term(m, cx.dialects, cx.opset, cx.probes, &cand);
    let chain = term.ops.clone();
    let sat = extract::saturate(term, cx.rules, cx.limits);
    report.egraph_nodes += sat.nodes as u64;
    report.egraph_nodes_max = report.egraph_nodes_max.max(sat.nodes as u64);
    report.egraph_classes += sat.classes as u64;
    report.iterations += sat.iterations as u64;
    *report.stops.entry(sat.stop.counter()).or_insert(0) += 1;
    let plan = extract::plan(&sat).map_err(|mut r| {
        if sat.stop != Stop::Saturated {
            r.detail = format!(
                "{} (e-graph stopped early: {})",
                r.detail,
                sat.stop.counter()
            );
        }
        r
    })?;
    let causal = mask_causality(m, cx, &plan, &sat.egraph.analysis);
    let fusion = rewrite::Fusion {
        cand: &cand,
        plan: &plan,
        analysis: &sat.egraph.analysis,
        chain: &chain,
        causal: causal.causal,
        window: causal.window,
        drop_mask: causal.mask_is_causal,
        opset: cx.opset,
    };
    rewrite::apply(m, cx.dialects, &fusion)
}

/// Causality of the plan's mask: its leaves are analysed when the mask is a leaf or a sum of
/// leaves; it can be dropped only when it is a single leaf that is exactly the causal mask.
fn mask_causality(
    m: &Module,
    cx: &SoftmaxCx<'_>,
    plan: &extract::Plan,
    an: &analysis::AttnAnalysis,
) -> causal::Causal {
    let none = causal::Causal::default();
    let Some(mask) = &plan.mask else {
        return none;
    };
    let nodes = mask.as_ref();
    let mut leaves = Vec::new();
    for n in nodes {
        match n {
            lang::AttnLang::Leaf(r) => leaves.push(an.leaves[r.index()].value),
            lang::AttnLang::Add(_) => {}
            _ => return none,
        }
    }
    let scalar = |v| build::scalar_constant(m, cx.dialects, v);
    let mcx = causal::MaskContext {
        m,
        opset: cx.opset,
        probes: cx.probes,
        sq: &plan.q_ty.dims[2],
        sk: &plan.k_ty.dims[2],
        scalar: &scalar,
    };
    let results: Vec<causal::Causal> = leaves.iter().map(|&v| causal::analyse(&mcx, v)).collect();
    causal::Causal {
        causal: results.iter().any(|c| c.causal),
        // Summed masks keep what every leaf keeps: the narrowest band wins.
        window: results.iter().filter_map(|c| c.window).min(),
        mask_is_causal: nodes.len() == 1 && results.iter().all(|c| c.mask_is_causal),
    }
}
