//! On-demand K/V fusion (issue item "KVGEN"): where an attention op's K and V are projections
//! of one layer input, the op generates the selected rows itself and the projections are
//! never lowered.
//!
//! Recognised form, for each of K and V (what BERT and ViT exporters write, after
//! `canonicalize`):
//! `Transpose{perm=[0,2,1,3]}(Reshape(Add(b, MatMul(X, W)) | MatMul(X, W)))` with `W` a
//! constant `[hidden, KVH·d]`, `b` a constant `[KVH·d]`, `X` `[B, S, hidden]` the same value
//! for K and V, every intermediate used once and none a function output. Anything else — a
//! fused QKV projection split three ways (GPT-2: Q needs the product anyway), RoPE, a GQA
//! expand — keeps K and V as tensors, and the reason is reported under `--kv on-demand`.
//!
//! [`candidates`] decides per op from its recorded `sofa.kv`, else the default source (`None`
//! = auto): auto fuses where the form is recognised, the layer runs `cct` and the on-demand
//! buffers fit on chip, and [`choose`] keeps it where the lowered segments are faster.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use sofa_ir::hw::HwConfig;
use sofa_ir::isa::Program;
use sofa_ir::{Module, Op, Value};

use sofa_ir::dialect::attn::{KvGenPlan, KvPlan, KvSource, Plan, Schedule};
use sofa_ir::hw::timing::{replay, Executor, ListModel, ReplayError};
use sofa_ir::isa::Instr;

use crate::lower::buffers::fit;
use crate::lower::{plan_layer, LowerDefaults, LowerError};

use super::OpRef;

/// Why an attention op's K and V are not generated on demand.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotFusable {
    #[error("{what} is not an {expected}")]
    NotOp {
        what: String,
        expected: &'static str,
    },
    #[error("{what} has other users")]
    Shared { what: String },
    #[error("{what} is not a [0, 2, 1, 3] head transpose")]
    HeadTranspose { what: String },
    #[error("{what}'s MatMul does not have two operands")]
    MatMulArity { what: String },
    #[error("{what}'s projection has dynamic shapes")]
    Dynamic { what: String },
    #[error("{what}'s projection is not X[B, S, hidden] · constant W[hidden, heads·d]")]
    Projection { what: String },
    #[error("{what}'s bias is not a constant [{cols}] row")]
    Bias { what: String, cols: u64 },
    #[error("{what} is not projected")]
    NotProjected { what: String },
    #[error("{what}'s Add is not a constant bias")]
    BiasAdd { what: String },
    #[error("K and V are projections of different inputs")]
    DifferentInputs,
    #[error("the layer input has a dynamic shape")]
    DynamicInput,
    #[error("on-demand K/V needs the cct schedule, the layer runs {0}")]
    Schedule(Schedule),
    /// Rotated keys would need the cos/sin rows of every generated key gathered and applied
    /// per query block; docs/kv-on-demand.md measures why gathering is kept instead.
    #[error(
        "{what} is rotated by a rotary embedding (RoPE): on-demand generation of rotated keys \
         is not built (docs/kv-on-demand.md)"
    )]
    Rotary { what: String },
}

/// One projection: `X · W (+ b)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Projection {
    pub w: Value,
    pub bias: Option<Value>,
}

/// The layer input and the K and V projections of one attention op.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct KvProjections {
    pub x: Value,
    pub hidden: u64,
    pub k: Projection,
    pub v: Projection,
    /// The ops computing K and V as tensors (projection, bias add, head split, transpose),
    /// which the fused op makes dead.
    pub chain: Vec<Op>,
}

impl KvProjections {
    /// What the plan records of these projections (`sofa.kv_hidden`, `sofa.kv_bias_*`).
    pub fn plan(&self) -> KvGenPlan {
        KvGenPlan {
            hidden: self.hidden,
            bias_k: self.k.bias.is_some(),
            bias_v: self.v.bias.is_some(),
        }
    }

    /// Values the fused op reads instead of K and V.
    pub fn operands(&self) -> Vec<Value> {
        let mut v = vec![self.x, self.k.w, self.v.w];
        v.extend(self.k.bias);
        v.extend(self.v.bias);
        v
    }
}

/// What the recogniser reads: the module, every value's users, the returned values.
pub(crate) struct Graph<'a> {
    pub m: &'a Module,
    pub uses: &'a BTreeMap<Value, Vec<Op>>,
    pub outputs: &'a BTreeSet<Value>,
}

impl Graph<'_> {
    /// The op defining `v` when it is named `name` and `v` has exactly one user and is not
    /// returned.
    fn single_def(&self, v: Value, name: &'static str, what: &str) -> Result<Op, NotFusable> {
        let def = self
            .m
            .defining_op(v)
            .filter(|&d| self.m.op(d).name == name)
            .ok_or_else(|| NotFusable::NotOp {
                what: what.into(),
                expected: name,
            })?;
        let users = self.uses.get(&v).map_or(0, Vec::len);
        if users != 1 || self.outputs.contains(&v) {
            return Err(NotFusable::Shared { what: what.into() });
        }
        Ok(def)
    }

    /// `v` is RoPE's output: an opset-23 `RotaryEmbedding`, or rotate-half spelled out as
    /// `x·cos + Concat(−x₂, x₁)·sin` (an Add of two Muls, one of them reading a Concat).
    fn is_rotary(&self, v: Value) -> bool {
        let name = |v: Value| self.m.defining_op(v).map(|d| self.m.op(d).name.as_str());
        let Some(def) = self.m.defining_op(v) else {
            return false;
        };
        let op = self.m.op(def);
        if op.name == "onnx.RotaryEmbedding" {
            return true;
        }
        let muls: Vec<Op> = op
            .operands
            .iter()
            .filter_map(|&x| self.m.defining_op(x))
            .filter(|&d| self.m.op(d).name == "onnx.Mul")
            .collect();
        op.name == "onnx.Add"
            && muls.len() == 2
            && muls.iter().any(|&mul| {
                let reads = &self.m.op(mul).operands;
                reads.iter().any(|&x| name(x) == Some("onnx.Concat"))
            })
    }

    fn is_const(&self, v: Value) -> bool {
        self.m
            .defining_op(v)
            .is_some_and(|d| self.m.op(d).name == "onnx.Constant")
    }

    fn dims(&self, v: Value) -> Option<Vec<u64>> {
        let t = self.m.value_type(v).as_tensor()?;
        t.dims.iter().map(|d| d.as_static()).collect()
    }

    /// `(X, projection)` of the `[B, KVH, S, d]` operand `t`.
    fn projection(&self, t: Value, what: &str) -> Result<(Value, Projection, Vec<Op>), NotFusable> {
        if self.is_rotary(t) {
            return Err(NotFusable::Rotary { what: what.into() });
        }
        let tr = self.single_def(t, "onnx.Transpose", what)?;
        let perm = self
            .m
            .op(tr)
            .attrs
            .get("perm")
            .and_then(|a| a.as_int_array());
        if perm.as_deref() != Some(&[0, 2, 1, 3][..]) {
            return Err(NotFusable::HeadTranspose { what: what.into() });
        }
        let r = self.m.op(tr).operands[0];
        let rs = self.single_def(r, "onnx.Reshape", &format!("{what}'s head split"))?;
        let a = self.m.op(rs).operands[0];
        let (p, bias) = self.bias_add(a, what)?;
        let mm = self.single_def(p, "onnx.MatMul", &format!("{what}'s projection"))?;
        let mut chain = vec![tr, rs, mm];
        chain.extend(bias.and_then(|_| self.m.defining_op(a)));
        let (x, w) = match *self.m.op(mm).operands.as_slice() {
            [x, w] => (x, w),
            _ => return Err(NotFusable::MatMulArity { what: what.into() }),
        };
        let (ts, xs, ws) = (self.dims(t), self.dims(x), self.dims(w));
        let (Some(ts), Some(xs), Some(ws)) = (ts, xs, ws) else {
            return Err(NotFusable::Dynamic { what: what.into() });
        };
        let heads_cols = ts.get(1).zip(ts.get(3)).map(|(h, d)| h * d);
        let shapes_ok = ts.len() == 4
            && xs.len() == 3
            && ws.len() == 2
            && xs[0] == ts[0]
            && xs[1] == ts[2]
            && ws[0] == xs[2]
            && Some(ws[1]) == heads_cols;
        if !shapes_ok || !self.is_const(w) {
            return Err(NotFusable::Projection { what: what.into() });
        }
        if let Some(b) = bias {
            if !self.is_const(b) || self.dims(b) != Some(vec![ws[1]]) {
                return Err(NotFusable::Bias {
                    what: what.into(),
                    cols: ws[1],
                });
            }
        }
        Ok((x, Projection { w, bias }, chain))
    }

    /// `(product, bias)` when `a` is `Add(b, product)` / `Add(product, b)` with a constant
    /// `b`, or `(a, None)` when `a` is the product itself.
    fn bias_add(&self, a: Value, what: &str) -> Result<(Value, Option<Value>), NotFusable> {
        let Some(def) = self.m.defining_op(a) else {
            return Err(NotFusable::NotProjected { what: what.into() });
        };
        if self.m.op(def).name != "onnx.Add" {
            return Ok((a, None));
        }
        self.single_def(a, "onnx.Add", &format!("{what}'s bias add"))?;
        match *self.m.op(def).operands.as_slice() {
            [x, y] if self.is_const(x) && !self.is_const(y) => Ok((y, Some(x))),
            [x, y] if self.is_const(y) && !self.is_const(x) => Ok((x, Some(y))),
            _ => Err(NotFusable::BiasAdd { what: what.into() }),
        }
    }

    /// The K and V projections of attention op `op`, or why they are not fusable.
    pub fn recognise(&self, op: Op) -> Result<KvProjections, NotFusable> {
        let ops = &self.m.op(op).operands;
        let (xk, k, mut chain) = self.projection(ops[1], "K")?;
        let (xv, v, chain_v) = self.projection(ops[2], "V")?;
        chain.extend(chain_v);
        if xk != xv {
            return Err(NotFusable::DifferentInputs);
        }
        let hidden = self
            .dims(xk)
            .and_then(|d| d.last().copied())
            .ok_or(NotFusable::DynamicInput)?;
        Ok(KvProjections {
            x: xk,
            hidden,
            k,
            v,
            chain,
        })
    }
}

/// Attention ops generating K and V on demand, with their projections.
pub(crate) type Fusions = BTreeMap<Op, KvProjections>;

/// The attention ops of `attn` (walk order) that generate K and V on demand: `forced` — the
/// op records `sofa.kv = "on-demand"` or the mode is `on-demand` (an error naming the op when
/// it cannot) — and `optional` — `auto` and fusable (recognised, `cct`, buffers fit), for
/// [`choose`] to price. Ops recording `sofa.kv = "gathered"` are neither.
pub(crate) fn candidates(
    g: &Graph<'_>,
    attn: &[Op],
    hw: &HwConfig,
    defaults: &LowerDefaults,
) -> Result<(Fusions, Fusions), LowerError> {
    let (mut forced, mut optional) = (BTreeMap::new(), BTreeMap::new());
    for (index, &op) in attn.iter().enumerate() {
        let o = OpRef::new(g.m, op);
        let recorded = Plan::from_attrs(&g.m.op(op).attrs)
            .map_err(|e| o.err(e.to_string()))?
            .kv;
        let required = match recorded {
            Some(KvPlan::OnDemand(_)) => true,
            Some(KvPlan::Gathered) => continue,
            None => match defaults.kv {
                Some(KvSource::OnDemand) => true,
                None => false,
                Some(_) => continue,
            },
        };
        let mut layer = plan_layer(g.m, op, index, hw, defaults)?;
        let why = if layer.plan.schedule != Schedule::Cct {
            Err(NotFusable::Schedule(layer.plan.schedule))
        } else {
            g.recognise(op)
        };
        let src = match why {
            Ok(src) => src,
            Err(e) if required => return Err(o.err(format!("--kv on-demand: {e}"))),
            Err(_) => continue,
        };
        layer.plan.kv_gen = Some(src.plan());
        if layer.shape.masked {
            layer.dram.mask = Some(crate::lower::MaskRef::default());
        }
        match fit(hw, &layer) {
            Ok(_) if required => {
                forced.insert(op, src);
            }
            Ok(_) => {
                optional.insert(op, src);
            }
            Err(e) if required => return Err(o.err(format!("--kv on-demand: {e}"))),
            Err(_) => {}
        }
    }
    Ok((forced, optional))
}

/// Each lowered op's instruction range (its self-contained segments).
pub(crate) type OpRanges = BTreeMap<Op, Range<usize>>;

/// `--kv auto`: lower the model with every candidate gathered and with every candidate on
/// demand (the `forced` ops on demand in both), and keep on demand the layers whose attention segment is faster than their
/// gathered segment plus the K/V projection segments it makes dead (cycles of the
/// simulator's timing rules, [`segment_cycles`]; segments are self-contained, so they add).
/// Ties keep K/V gathered. Returns the kept layers and a note per candidate.
pub(crate) fn choose<F>(
    m: &Module,
    hw: &HwConfig,
    forced: &Fusions,
    candidates: &Fusions,
    lower: F,
) -> Result<(Fusions, Vec<String>), LowerError>
where
    F: Fn(&Fusions) -> Result<(Program, OpRanges), LowerError>,
{
    let (gathered, g_ranges) = lower(forced)?;
    let mut all = forced.clone();
    all.extend(candidates.iter().map(|(&o, s)| (o, s.clone())));
    let (on_demand, o_ranges) = lower(&all)?;
    let cycles = |p: &Program, r: Option<&Range<usize>>| -> Result<u64, LowerError> {
        let Some(r) = r else { return Ok(0) };
        segment_cycles(hw, &p.instrs[r.clone()])
            .map_err(|e| LowerError::Module(format!("pricing the K/V source: {e}")))
    };
    let mut kept = forced.clone();
    let mut notes = Vec::new();
    for (&op, src) in candidates {
        let on = cycles(&on_demand, o_ranges.get(&op))?;
        let mut off = cycles(&gathered, g_ranges.get(&op))?;
        for c in &src.chain {
            off = off.saturating_add(cycles(&gathered, g_ranges.get(c))?);
        }
        let pick = if on < off { "on demand" } else { "gathered" };
        notes.push(format!(
            "{}: K/V {pick} (on demand {on} cycles, computed and gathered {off} cycles)",
            OpRef::new(m, op).loc
        ));
        if on < off {
            kept.insert(op, src.clone());
        }
    }
    Ok((kept, notes))
}

/// The timing-only simulator's cycles for a self-contained segment (the shared execution
/// model, `sofa_ir::hw::timing`).
pub(super) fn segment_cycles(hw: &HwConfig, instrs: &[Instr]) -> Result<u64, SegmentTimeError> {
    struct Timing<'a> {
        hw: &'a HwConfig,
        model: ListModel,
    }
    impl Executor for Timing<'_> {
        type Error = SegmentTimeError;
        fn start(&mut self, _: usize, instr: &Instr) -> Result<u64, SegmentTimeError> {
            Ok(self.model.cycles(self.hw, instr)?.1)
        }
    }
    let mut t = Timing {
        hw,
        model: ListModel::default(),
    };
    Ok(replay(instrs, hw.control.semaphores, &mut t, false)?.total_cycles)
}

/// Why a segment could not be timed.
#[derive(Debug, thiserror::Error)]
pub(super) enum SegmentTimeError {
    #[error(transparent)]
    Cost(#[from] sofa_ir::hw::CostError),
    #[error(transparent)]
    Replay(#[from] ReplayError),
}

/// One note per attention op of `attn` on its K/V source when nothing was priced.
pub(crate) fn fixed_notes(
    m: &Module,
    attn: &[Op],
    fused: &BTreeMap<Op, KvProjections>,
) -> Vec<String> {
    attn.iter()
        .map(|op| {
            let how = if fused.contains_key(op) {
                "on demand"
            } else {
                "gathered"
            };
            format!("{}: K/V {how}", OpRef::new(m, *op).loc)
        })
        .collect()
}
