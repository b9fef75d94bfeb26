//! The `sofa.kernel` op itself: building it in place of an attention op ([`build_kernel`]),
//! checking a kernel's body against the one its attributes imply ([`check_kernel`]), counting
//! its buffers and loops.

use sofa_ir::attr::Attribute;
use sofa_ir::dialect::attn::{KvPlan, Plan};
use sofa_ir::dialect::sofa::{self as d, KERNEL};
use sofa_ir::hw::HwConfig;
use sofa_ir::isa::SramSpace;
use sofa_ir::text::print_attr;
use sofa_ir::{Block, Location, Module, Op, OpSpec};

use super::{check_capacity, kernel_body, kernel_layer, op_err, Step};
use crate::lower::{Layer, LowerDefaults, LowerError};

/// Append `steps` (recursively) to `block`.
/// Body ops carry the kernel's location, so a diagnostic on any of them names the layer.
fn materialise(m: &mut Module, block: Block, steps: &[Step], loc: &Location) {
    for st in steps {
        let mut spec = OpSpec::new(st.name).loc(loc.clone());
        for (k, a) in &st.attrs {
            spec = spec.attr(*k, a.clone());
        }
        if st.name == d::FOR {
            spec = spec.regions(1);
        }
        let op = m.build_at_end(block, spec);
        if let Some(&region) = m.op(op).regions.first() {
            let inner = m.add_block(region, Vec::new());
            materialise(m, inner, &st.body, loc);
        }
    }
}

/// The plan a layer runs, complete: what a kernel records so that its body follows from its
/// own attributes, whatever defaults it was built with.
fn resolved_plan(l: &Layer) -> Plan {
    Plan {
        schedule: Some(l.plan.schedule),
        tc: Some(l.plan.tc),
        q_block: Some(l.plan.q_block),
        ablate: Some(l.plan.ablate),
        kv: Some(l.plan.kv_gen.map_or(KvPlan::Gathered, KvPlan::OnDemand)),
    }
}

/// Replace the attention op `op` by a `sofa.kernel` with the same operands, result type,
/// attributes (plus `sofa.from` and the resolved plan) and location, and its body built by
/// [`kernel_body`].
pub fn build_kernel(
    m: &mut Module,
    op: Op,
    hw: &HwConfig,
    defaults: &LowerDefaults,
) -> Result<Op, LowerError> {
    let (layer, f) = kernel_layer(m, op, hw, defaults)?;
    let body = kernel_body(&layer, &f)?;
    let data = m.op(op).clone();
    let mut spec = OpSpec::new(KERNEL)
        .operands(data.operands.clone())
        .results(data.results.iter().map(|&r| m.value_type(r).clone()))
        .regions(1)
        .loc(data.loc.clone());
    spec.attrs = data.attrs.clone();
    resolved_plan(&layer).to_attrs(&mut spec.attrs);
    spec.attrs
        .insert("sofa.from".into(), Attribute::string(data.name.clone()));
    let kernel = m.create_op(spec);
    m.insert_before(op, kernel);
    let region = m.op(kernel).regions[0];
    let block = m.add_block(region, Vec::new());
    materialise(m, block, &body, &data.loc);
    for (i, &old) in data.results.iter().enumerate() {
        let new = m.result(kernel, i);
        m.replace_all_uses(old, new);
    }
    m.erase_op(op);
    Ok(kernel)
}

/// One op as text for a difference report: its name and attributes.
fn describe(name: &str, attrs: &[(String, String)]) -> String {
    let a: Vec<String> = attrs.iter().map(|(k, v)| format!("{k} = {v}")).collect();
    format!("{name} {{{}}}", a.join(", "))
}

/// Compare the ops of `block` with `want`, in pre-order; `at` counts body ops seen. The first
/// difference, described.
fn compare(m: &Module, block: Block, want: &[Step], at: &mut usize) -> Result<(), String> {
    let ops = &m.blocks[block].ops;
    for (i, st) in want.iter().enumerate() {
        let Some(&op) = ops.get(i) else {
            return Err(format!(
                "body op #{at}: expected {} but the block ends",
                st.name
            ));
        };
        let data = m.op(op);
        let mut expected: Vec<(String, String)> = st
            .attrs
            .iter()
            .map(|(k, a)| (k.to_string(), print_attr(a)))
            .collect();
        expected.sort();
        let found: Vec<(String, String)> = data
            .attrs
            .iter()
            .map(|(k, a)| (k.clone(), print_attr(a)))
            .collect();
        if data.name != st.name || found != expected {
            return Err(format!(
                "body op #{at}: expected {} but found {}",
                describe(st.name, &expected),
                describe(&data.name, &found)
            ));
        }
        *at += 1;
        match (data.regions.first(), st.name == d::FOR) {
            (Some(&r), true) if m.regions[r].blocks.len() == 1 => {
                compare(m, m.regions[r].blocks[0], &st.body, at)?
            }
            (_, true) => return Err(format!("body op #{at}: the loop needs one block")),
            _ => {}
        }
    }
    if let Some(&extra) = ops.get(want.len()) {
        return Err(format!(
            "body op #{at}: unexpected {} after the expected ops",
            m.op(extra).name
        ));
    }
    Ok(())
}

/// Check that kernel `op`'s buffers fit the SRAM capacities and that its body is the one its
/// attributes imply ([`kernel_body`]); the error names the kernel's location and the first
/// differing op.
pub fn check_kernel(
    m: &Module,
    op: Op,
    hw: &HwConfig,
    defaults: &LowerDefaults,
) -> Result<(), LowerError> {
    let err = |e: String| op_err(m, op, e);
    if m.op(op).name != KERNEL {
        return Err(err("not a sofa.kernel".into()));
    }
    let block = m
        .op(op)
        .regions
        .first()
        .and_then(|&r| m.regions[r].blocks.first().copied())
        .ok_or_else(|| err("the kernel has no body".into()))?;
    for &child in &m.blocks[block].ops {
        let a = &m.op(child).attrs;
        if m.op(child).name != d::BUFFER {
            continue;
        }
        let get = |k: &str| a.get(k).and_then(Attribute::as_int).unwrap_or(0).max(0) as u64;
        let space = a
            .get("space")
            .and_then(Attribute::as_str)
            .and_then(SramSpace::from_name);
        let name = a.get("name").and_then(Attribute::as_str).unwrap_or("?");
        if let Some(space) = space {
            let end = get("offset").saturating_add(get("bytes").saturating_mul(get("ring")));
            check_capacity(hw, space, end, name).map_err(err)?;
        }
    }
    let (layer, f) = kernel_layer(m, op, hw, defaults)?;
    let want = kernel_body(&layer, &f)?;
    compare(m, block, &want, &mut 0).map_err(err)
}

/// Body ops of a kernel that are loops and buffers: (buffers, loops).
pub fn kernel_counts(m: &Module, kernel: Op) -> (u64, u64) {
    let (mut bufs, mut loops) = (0, 0);
    m.walk_op(kernel, &mut |o| match m.op(o).name.as_str() {
        d::BUFFER => bufs += 1,
        d::FOR => loops += 1,
        _ => {}
    });
    (bufs, loops)
}
