//! Energy formulas: busy cycles × engine power, bytes × per-byte energy.
//!
//! Integer femtojoules throughout, so sums are exact and order-independent: one cycle at
//! `clock.freq_mhz` with a power of `P` µW costs `P · 1000 / freq_mhz` fJ (exactly `P` fJ at
//! 1 GHz). Every term names the [`HwConfig`] entry it comes from ([`power_key`]).

use super::cost::{add, mul, CostError, Cycles};
use super::HwConfig;
use crate::isa::Engine;

/// Energy in femtojoules (10⁻¹⁵ J).
pub type Femtojoules = u64;

/// Busy power of an engine in µW. The DMA engine has none of its own: its cost is per byte
/// (`dram.interface_fj_per_byte`), and the data fetcher's logic is in "Scheduler and others".
pub fn power_uw(hw: &HwConfig, engine: Engine) -> u64 {
    match engine {
        Engine::Dma => 0,
        Engine::Dlzs => hw.dlzs.power_uw,
        Engine::Sads => hw.sads.power_uw,
        Engine::Kvpe => hw.kvpe.power_uw,
        Engine::Sufa => hw.sufa.power_uw,
        Engine::Vec => hw.vector.power_uw,
        Engine::Ctrl => hw.control.power_uw,
    }
}

/// The configuration key behind [`power_uw`].
pub fn power_key(engine: Engine) -> &'static str {
    match engine {
        Engine::Dma => "dram.interface_fj_per_byte (per byte; no busy power)",
        Engine::Dlzs => "dlzs.power_uw",
        Engine::Sads => "sads.power_uw",
        Engine::Kvpe => "kvpe.power_uw",
        Engine::Sufa => "sufa.power_uw",
        Engine::Vec => "vector.power_uw",
        Engine::Ctrl => "control.power_uw",
    }
}

/// Energy of `busy` cycles of `engine`, rounded down to whole fJ.
pub fn busy_energy(hw: &HwConfig, engine: Engine, busy: Cycles) -> Result<Femtojoules, CostError> {
    if hw.clock.freq_mhz == 0 {
        return Err(CostError::ZeroConfig("clock.freq_mhz"));
    }
    // µW·cycles·1000/MHz = fJ; the product is formed in 128 bits so only a result beyond
    // u64 (≈18 kJ) overflows.
    let fj =
        u128::from(busy) * u128::from(power_uw(hw, engine)) * 1000 / u128::from(hw.clock.freq_mhz);
    u64::try_from(fj).map_err(|_| CostError::Overflow("busy energy"))
}

/// SRAM access energy for the bytes read and written.
pub fn sram_energy(
    hw: &HwConfig,
    read_bytes: u64,
    write_bytes: u64,
) -> Result<Femtojoules, CostError> {
    let r = mul(read_bytes, hw.sram.read_fj_per_byte, "SRAM energy")?;
    let w = mul(write_bytes, hw.sram.write_fj_per_byte, "SRAM energy")?;
    add(r, w, "SRAM energy")
}

/// DRAM energy of `bytes` moved, split into the device and the interface (Table IV's two rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DramEnergy {
    /// `bytes × dram.energy_fj_per_byte`.
    pub device: Femtojoules,
    /// `bytes × dram.interface_fj_per_byte`.
    pub interface: Femtojoules,
}

pub fn dram_energy(hw: &HwConfig, bytes: u64) -> Result<DramEnergy, CostError> {
    Ok(DramEnergy {
        device: mul(bytes, hw.dram.energy_fj_per_byte, "DRAM energy")?,
        interface: mul(bytes, hw.dram.interface_fj_per_byte, "DRAM energy")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_microsecond_of_sufa_is_its_table_iii_power() {
        let hw = HwConfig::default();
        // 1000 cycles at 1 GHz = 1 µs; 485.12 mW × 1 µs = 485.12 nJ = 485_120_000 fJ.
        assert_eq!(busy_energy(&hw, Engine::Sufa, 1000), Ok(485_120_000));
        assert_eq!(busy_energy(&hw, Engine::Dma, 1000), Ok(0));
    }

    #[test]
    fn dram_energy_reproduces_table_iv_power_at_59_8_gb_s() {
        let hw = HwConfig::default();
        // One second at 59.8 GB/s: 1.92 W and 0.53 W (to the rounding of the per-byte figures).
        let e = dram_energy(&hw, 59_800_000_000).unwrap();
        assert_eq!(e.device, 1_919_998_600_000_000); // 1.9199986 J
        assert_eq!(e.interface, 530_007_400_000_000); // 0.5300074 J
    }

    #[test]
    fn sram_energy_is_per_byte_and_overflow_is_an_error() {
        let hw = HwConfig::default();
        assert_eq!(sram_energy(&hw, 1024, 512), Ok(1536 * 800));
        assert!(sram_energy(&hw, u64::MAX, 0).is_err());
    }
}
