//! The energy breakdown of a run: one term per (component, configuration key).
//!
//! Formulas are those of `sofa_ir::hw::energy` (integer femtojoules, so the terms sum exactly):
//! - engine `e` busy: `busy cycles × <e>.power_uw × 1000 / clock.freq_mhz` (rounded down);
//!   the DMA engine has no busy power (its cost is per byte, below);
//! - SRAM, per space: `bytes read × sram.read_fj_per_byte` and
//!   `bytes written × sram.write_fj_per_byte`;
//! - DRAM: `bytes moved × dram.energy_fj_per_byte` (device) and
//!   `bytes moved × dram.interface_fj_per_byte` (interface), bytes moved = read + written.

use sofa_ir::hw::energy::{busy_energy, dram_energy, power_key, power_uw, sram_energy};
use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{Engine, SramSpace};

use super::report::{EnergyReport, EnergyTerm};
use super::tally::Tally;
use super::SimError;
use sofa_ir::hw::timing::{engine_slot, EngineStats, ENGINES};

fn overflow(e: impl std::fmt::Display) -> SimError {
    SimError::general(format!("energy: {e}"))
}

/// Every energy term of a run and their sum.
pub(crate) fn energy_report(
    hw: &HwConfig,
    engines: &[EngineStats; ENGINES],
    tally: &Tally,
) -> Result<EnergyReport, SimError> {
    let mut terms = Vec::new();
    for &e in Engine::ALL.iter().filter(|&&e| e != Engine::Dma) {
        let busy = engines[engine_slot(e)].busy;
        terms.push(EnergyTerm {
            component: format!("{e}.busy"),
            quantity: busy,
            unit: "cycles".into(),
            key: power_key(e).into(),
            rate: power_uw(hw, e),
            rate_unit: "uW".into(),
            energy_fj: busy_energy(hw, e, busy).map_err(overflow)?,
        });
    }
    for &s in SramSpace::ALL {
        let i = usize::from(s.code());
        let (r, w) = (tally.sram_read[i], tally.sram_written[i]);
        terms.push(per_byte(
            format!("sram.{s}.read"),
            r,
            "sram.read_fj_per_byte",
            hw.sram.read_fj_per_byte,
            sram_energy(hw, r, 0).map_err(overflow)?,
        ));
        terms.push(per_byte(
            format!("sram.{s}.write"),
            w,
            "sram.write_fj_per_byte",
            hw.sram.write_fj_per_byte,
            sram_energy(hw, 0, w).map_err(overflow)?,
        ));
    }
    let moved = sum(&tally.dram_read)
        .and_then(|r| r.checked_add(sum(&tally.dram_written)?))
        .ok_or_else(|| overflow("DRAM bytes overflow 64 bits"))?;
    let dram = dram_energy(hw, moved).map_err(overflow)?;
    terms.push(per_byte(
        "dram.device".into(),
        moved,
        "dram.energy_fj_per_byte",
        hw.dram.energy_fj_per_byte,
        dram.device,
    ));
    terms.push(per_byte(
        "dram.interface".into(),
        moved,
        "dram.interface_fj_per_byte",
        hw.dram.interface_fj_per_byte,
        dram.interface,
    ));
    let total_fj = terms
        .iter()
        .try_fold(0u64, |acc, t| acc.checked_add(t.energy_fj))
        .ok_or_else(|| overflow("total energy overflows 64 bits"))?;
    Ok(EnergyReport {
        total_fj,
        total_uj: total_fj as f64 / 1e9,
        terms,
    })
}

fn per_byte(component: String, bytes: u64, key: &str, rate: u64, energy_fj: u64) -> EnergyTerm {
    EnergyTerm {
        component,
        quantity: bytes,
        unit: "bytes".into(),
        key: key.into(),
        rate,
        rate_unit: "fJ/byte".into(),
        energy_fj,
    }
}

fn sum(v: &[u64]) -> Option<u64> {
    v.iter().try_fold(0u64, |a, &b| a.checked_add(b))
}
