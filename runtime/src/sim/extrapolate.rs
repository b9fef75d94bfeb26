//! Reports of long stacks of identical layers, from two short simulations.
//!
//! A lowered workload is a sequence of self-contained segments (every engine waits for the
//! segment's "go" and DMA ends it with its final store), so once the first segment has
//! started the engines, every further segment of the same shape adds exactly the same cycles,
//! stalls, bytes, operations and energy. So, for `n` identical layers, any additive figure is
//! `x(n) = x(1) + (n − 1)·(x(2) − x(1))`, with `x(1)` and `x(2)` from simulating one and two
//! layers; ratios (time, utilisation, fractions) are recomputed from the extrapolated sums and
//! energy terms from their quantities with the same formulas. A figure that shrinks from one
//! layer to two is not additive and is an error rather than a guess. `tests/sim_cli.rs` checks
//! that the extrapolation equals a full simulation field for field. The roofline section is
//! left out here: it needs the work of all `n` layers ([`super::roofline::extrapolate_roofline`]).

use super::report::{chip_share, EnergyTerm, Report};

/// Why two reports do not extrapolate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtrapolateError {
    #[error("cannot extrapolate to 0 layers")]
    ZeroLayers,
    #[error("the two reports do not have the same shape (or have regions)")]
    Shape,
    #[error("{what} shrinks from 1 layer ({one}) to 2 ({two})")]
    Shrinks { what: String, one: u64, two: u64 },
    #[error("{what} overflows 64 bits at {layers} layers")]
    Overflow { what: String, layers: u64 },
    #[error("functional figures (recall, max assurance) do not extrapolate")]
    Functional,
    #[error("host ops do not extrapolate (workload layers have none)")]
    Host,
    #[error("energy term {component} has unit '{unit}'")]
    EnergyUnit { component: String, unit: String },
    #[error("energy of {0} overflows 64 bits")]
    EnergyOverflow(String),
    #[error("total energy overflows 64 bits")]
    TotalEnergy,
    #[error("roofline: {0}")]
    Roofline(String),
}

/// The report of `n ≥ 1` identical layers from the reports of 1 and 2 layers.
pub fn extrapolate_layers(one: &Report, two: &Report, n: u64) -> Result<Report, ExtrapolateError> {
    if n == 0 {
        return Err(ExtrapolateError::ZeroLayers);
    }
    if one.engines.len() != two.engines.len()
        || one.dram.classes.len() != two.dram.classes.len()
        || one.sram.len() != two.sram.len()
        || one.energy.terms.len() != two.energy.terms.len()
        || !one.regions.is_empty()
    {
        return Err(ExtrapolateError::Shape);
    }
    let ext = |what: &str, a: u64, b: u64| -> Result<u64, ExtrapolateError> {
        let step = b.checked_sub(a).ok_or_else(|| ExtrapolateError::Shrinks {
            what: what.into(),
            one: a,
            two: b,
        })?;
        step.checked_mul(n - 1)
            .and_then(|s| s.checked_add(a))
            .ok_or_else(|| ExtrapolateError::Overflow {
                what: what.into(),
                layers: n,
            })
    };
    let mut r = two.clone();
    // The layers' roofline needs every layer's work: `extrapolate_roofline`.
    r.roofline = None;
    r.instructions = ext("instructions", one.instructions, two.instructions)?;
    r.total_cycles = ext("total cycles", one.total_cycles, two.total_cycles)?;
    r.time_us = ratio(r.total_cycles, r.clock_mhz);
    for (e, (a, b)) in r
        .engines
        .iter_mut()
        .zip(one.engines.iter().zip(&two.engines))
    {
        e.instructions = ext(&e.engine, a.instructions, b.instructions)?;
        e.busy_cycles = ext(&e.engine, a.busy_cycles, b.busy_cycles)?;
        e.blocked_cycles = ext(&e.engine, a.blocked_cycles, b.blocked_cycles)?;
        e.utilisation = ratio(e.busy_cycles, r.total_cycles);
    }
    r.dram.read_bytes = ext("DRAM reads", one.dram.read_bytes, two.dram.read_bytes)?;
    r.dram.written_bytes = ext(
        "DRAM writes",
        one.dram.written_bytes,
        two.dram.written_bytes,
    )?;
    for (c, (a, b)) in r
        .dram
        .classes
        .iter_mut()
        .zip(one.dram.classes.iter().zip(&two.dram.classes))
    {
        c.read_bytes = ext("DRAM reads", a.read_bytes, b.read_bytes)?;
        c.written_bytes = ext("DRAM writes", a.written_bytes, b.written_bytes)?;
    }
    for (s, (a, b)) in r.sram.iter_mut().zip(one.sram.iter().zip(&two.sram)) {
        s.read_bytes = ext(&s.space, a.read_bytes, b.read_bytes)?;
        s.written_bytes = ext(&s.space, a.written_bytes, b.written_bytes)?;
    }
    let mut total = 0u64;
    for (t, (a, b)) in r
        .energy
        .terms
        .iter_mut()
        .zip(one.energy.terms.iter().zip(&two.energy.terms))
    {
        t.quantity = ext(&t.component, a.quantity, b.quantity)?;
        t.energy_fj = term_energy(t, r.clock_mhz)?;
        total = total
            .checked_add(t.energy_fj)
            .ok_or(ExtrapolateError::TotalEnergy)?;
    }
    r.energy.total_fj = total;
    r.energy.total_uj = total as f64 / 1e9;
    r.ops.executed = ext("ops", one.ops.executed, two.ops.executed)?;
    r.ops.dense_equivalent = ext("ops", one.ops.dense_equivalent, two.ops.dense_equivalent)?;
    r.ops.executed_fraction = ratio(r.ops.executed, r.ops.dense_equivalent);
    if one.host.ops > 0 || two.host.ops > 0 {
        return Err(ExtrapolateError::Host);
    }
    r.macs.chip = ext("chip MACs", one.macs.chip, two.macs.chip)?;
    r.macs.chip_share = chip_share(r.macs.chip, r.macs.host);
    if let (Some(s), Some(a), Some(b)) = (&mut r.sparse, &one.sparse, &two.sparse) {
        s.sads_instructions = ext("SADS", a.sads_instructions, b.sads_instructions)?;
        if s.recall.is_some() || s.max_assurance_events.is_some() {
            return Err(ExtrapolateError::Functional);
        }
    }
    Ok(r)
}

/// `a / b`, 0 when `b` is 0 (as the report defines its ratios).
fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// A term's energy from its quantity, with the formulas of `sofa_ir::hw::energy`.
fn term_energy(t: &EnergyTerm, clock_mhz: u64) -> Result<u64, ExtrapolateError> {
    let q = u128::from(t.quantity) * u128::from(t.rate);
    let fj = match t.unit.as_str() {
        "cycles" if clock_mhz > 0 => q * 1000 / u128::from(clock_mhz),
        "bytes" => q,
        other => {
            return Err(ExtrapolateError::EnergyUnit {
                component: t.component.clone(),
                unit: other.into(),
            })
        }
    };
    u64::try_from(fj).map_err(|_| ExtrapolateError::EnergyOverflow(t.component.clone()))
}
