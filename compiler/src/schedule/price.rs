//! The plans a module's IR records, priced by the cost model: what `schedule-json` reports.
//!
//! The plan lives in the IR (`sofa_ir::dialect::attn::plan`), so the report reads it from
//! there rather than from the planner: every attention op (or its `sofa.kernel`) must carry
//! `sofa.schedule`, `sofa.tc` and `sofa.q_block` (run `cct-tile` first). Each is priced with
//! K/V gathered from DRAM, as the extraction that chose it priced it, beside the same layer
//! under `staged` (the comparison `schedule-json` prints).

use sofa_ir::dialect::attn::{Plan, PlanError};
use sofa_ir::dialect::sofa::attention_kind;
use sofa_ir::{Location, Module, Op};

use super::cost::{LayerCost, Pricer};
use super::shape::{Candidate, LayerShape};
use super::{Ablation, KhatPlacement, KvSource, LayerPlan, Schedule, ScheduleError};

/// One attention op's recorded plan with its figures.
#[derive(Clone, Debug, PartialEq)]
pub struct PricedLayer {
    pub index: usize,
    pub op: Op,
    /// The op's location (e.g. `llama-7b/layer0/attention`).
    pub name: String,
    pub shape: LayerShape,
    pub plan: LayerPlan,
    /// The same layer under `staged`.
    pub staged: LayerCost,
}

/// Where K̂ lives in a gathered plan: the K tile read per block (none without prediction).
fn gathered_khat(schedule: Schedule) -> KhatPlacement {
    match schedule {
        Schedule::Dense => KhatPlacement::None,
        _ => KhatPlacement::Spill,
    }
}

/// Price every attention op of `m` under the plan it records.
pub fn price_module(m: &Module, pricer: &Pricer<'_>) -> Result<Vec<PricedLayer>, ScheduleError> {
    let ops = m
        .all_ops()
        .into_iter()
        .filter(|&o| attention_kind(m, o).is_some());
    ops.enumerate()
        .map(|(index, op)| price_op(m, pricer, index, op))
        .collect()
}

fn price_op(
    m: &Module,
    pricer: &Pricer<'_>,
    index: usize,
    op: Op,
) -> Result<PricedLayer, ScheduleError> {
    let shape = LayerShape::of(m, op, index)?;
    let plan = Plan::from_attrs(&m.op(op).attrs)?;
    let unplanned = |attr| {
        ScheduleError::Plan(PlanError::Invalid {
            attr,
            expected: "set by cct-tile before the plan is priced",
        })
    };
    let schedule = plan.schedule.ok_or_else(|| unplanned("sofa.schedule"))?;
    let tc = plan.tc.ok_or_else(|| unplanned("sofa.tc"))?;
    let q_block = plan.q_block.ok_or_else(|| unplanned("sofa.q_block"))?;
    let ablate = plan.ablate.unwrap_or_default();
    let price = |schedule, ablate, tc| {
        let c = Candidate {
            tc,
            q_block,
            khat: gathered_khat(schedule),
        };
        pricer.cost(&shape, schedule, ablate, c, KvSource::Gathered)
    };
    let cost = price(schedule, ablate, tc)?;
    // Staged has the dlzs and rass mechanisms only.
    let staged_ablate = Ablation {
        dlzs: ablate.dlzs,
        rass: ablate.rass,
        ..Ablation::default()
    };
    let staged = price(Schedule::Staged, staged_ablate, 1)?;
    let name = match &m.op(op).loc {
        Location::Name(n) => n.clone(),
        _ => format!("layer{index}"),
    };
    Ok(PricedLayer {
        index,
        op,
        name,
        plan: LayerPlan {
            schedule,
            tc,
            bc: shape.seq_k.div_ceil(tc),
            q_block,
            query_blocks: shape.seq_q.div_ceil(q_block),
            khat: gathered_khat(schedule),
            kv: KvSource::Gathered,
            cost,
        },
        shape,
        staged,
    })
}
