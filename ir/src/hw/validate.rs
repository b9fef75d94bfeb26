//! The rules a [`HwConfig`] must satisfy beyond its schema, collected all at once.
//!
//! Sizes, counts, clock and bandwidth must be non-zero (they divide, or size a buffer); energies,
//! powers and latency may be zero (to switch a term off). Cross-field rules keep the formulas
//! of [`super::cost`] well defined and the ISA's fixed-width fields sufficient:
//! - `sads.sorter_outputs < sads.sorter_inputs` (each round must take new inputs);
//! - `sufa.cols` is even (split between SA-1 and SA-2);
//! - SRAM capacities fit the ISA's 30-bit SRAM offsets;
//! - the DMA formula's products fit 64 bits: `dram.latency_ns · clock.freq_mhz` (the latency in
//!   cycles) and `bytes · clock.freq_mhz` for a transfer filling the largest SRAM (a checked
//!   program's DMA moves no more), so no DMA's cycles overflow on a valid config;
//! - `block.query_rows` fits the ISA's 16-bit row counts, `control.semaphores` its 16-bit ids.

use super::HwConfig;

/// Largest SRAM capacity an ISA SRAM reference can address (30-bit offsets).
pub const MAX_SRAM_BYTES: u64 = 1 << 30;

/// All problems, in field order, each `key message`.
pub fn problems(hw: &HwConfig) -> Vec<String> {
    let mut out = Vec::new();
    let positive: [(&str, u64); 21] = [
        ("clock.freq_mhz", hw.clock.freq_mhz),
        ("block.query_rows", hw.block.query_rows.into()),
        ("dlzs.rows", hw.dlzs.rows.into()),
        ("dlzs.cols", hw.dlzs.cols.into()),
        ("sads.sorters", hw.sads.sorters.into()),
        ("sads.sorter_inputs", hw.sads.sorter_inputs.into()),
        ("sads.sorter_outputs", hw.sads.sorter_outputs.into()),
        ("kvpe.rows", hw.kvpe.rows.into()),
        ("kvpe.cols", hw.kvpe.cols.into()),
        ("sufa.rows", hw.sufa.rows.into()),
        ("sufa.cols", hw.sufa.cols.into()),
        ("sufa.exp_units", hw.sufa.exp_units.into()),
        ("sufa.div_units", hw.sufa.div_units.into()),
        ("vector.lanes", hw.vector.lanes.into()),
        ("control.semaphores", hw.control.semaphores.into()),
        ("sram.token_bytes", hw.sram.token_bytes),
        ("sram.weight_bytes", hw.sram.weight_bytes),
        ("sram.temp_bytes", hw.sram.temp_bytes),
        ("sram.copy_bytes_per_cycle", hw.sram.copy_bytes_per_cycle),
        ("dram.capacity_bytes", hw.dram.capacity_bytes),
        ("dram.bandwidth_mb_s", hw.dram.bandwidth_mb_s),
    ];
    for (key, value) in positive {
        if value == 0 {
            out.push(format!("{key} must be > 0"));
        }
    }
    if hw.name.is_empty() {
        out.push("name must not be empty".into());
    }
    if hw.sads.sorter_outputs >= hw.sads.sorter_inputs && hw.sads.sorter_outputs > 0 {
        out.push(format!(
            "sads.sorter_outputs ({}) must be < sads.sorter_inputs ({})",
            hw.sads.sorter_outputs, hw.sads.sorter_inputs
        ));
    }
    if !hw.sufa.cols.is_multiple_of(2) {
        out.push(format!(
            "sufa.cols ({}) must be even (split between SA-1 and SA-2)",
            hw.sufa.cols
        ));
    }
    for (key, value) in [
        ("sram.token_bytes", hw.sram.token_bytes),
        ("sram.weight_bytes", hw.sram.weight_bytes),
        ("sram.temp_bytes", hw.sram.temp_bytes),
    ] {
        if value > MAX_SRAM_BYTES {
            out.push(format!(
                "{key} ({value}) must be <= {MAX_SRAM_BYTES} (30-bit SRAM offsets)"
            ));
        }
    }
    if hw.clock.freq_mhz > 0 {
        let largest_sram = [
            ("sram.token_bytes", hw.sram.token_bytes),
            ("sram.weight_bytes", hw.sram.weight_bytes),
            ("sram.temp_bytes", hw.sram.temp_bytes),
        ]
        .into_iter()
        .max_by_key(|&(_, v)| v)
        .filter(|&(_, v)| v > 0);
        let factors = [("dram.latency_ns", hw.dram.latency_ns)]
            .into_iter()
            .chain(largest_sram);
        for (key, value) in factors {
            if hw.clock.freq_mhz.checked_mul(value).is_none() {
                out.push(format!(
                    "clock.freq_mhz ({}) × {key} ({value}) overflows 64 bits in the DMA cycle \
                     formula (at this {key}, clock.freq_mhz must be <= {})",
                    hw.clock.freq_mhz,
                    u64::MAX / value
                ));
                break;
            }
        }
    }
    if hw.block.query_rows > u32::from(u16::MAX) {
        out.push(format!(
            "block.query_rows ({}) must be <= 65535 (16-bit row counts)",
            hw.block.query_rows
        ));
    }
    if hw.control.semaphores > 1 << 16 {
        out.push(format!(
            "control.semaphores ({}) must be <= 65536 (16-bit semaphore ids)",
            hw.control.semaphores
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let mut hw = HwConfig::default();
        hw.sram.temp_bytes = 0;
        hw.clock.freq_mhz = 0;
        hw.sufa.cols = 3;
        hw.sads.sorter_outputs = 16;
        hw.sram.token_bytes = (1 << 30) + 1;
        assert_eq!(
            problems(&hw),
            vec![
                "clock.freq_mhz must be > 0",
                "sram.temp_bytes must be > 0",
                "sads.sorter_outputs (16) must be < sads.sorter_inputs (16)",
                "sufa.cols (3) must be even (split between SA-1 and SA-2)",
                "sram.token_bytes (1073741825) must be <= 1073741824 (30-bit SRAM offsets)",
            ]
        );
    }

    #[test]
    fn a_clock_overflowing_the_dma_formula_is_blamed_on_the_clock() {
        let mut hw = HwConfig::default();
        hw.clock.freq_mhz = u64::MAX;
        assert_eq!(
            problems(&hw),
            vec![
                "clock.freq_mhz (18446744073709551615) × dram.latency_ns (100) overflows 64 bits \
                 in the DMA cycle formula (at this dram.latency_ns, clock.freq_mhz must be <= \
                 184467440737095516)"
            ]
        );
        hw.dram.latency_ns = 0;
        hw.clock.freq_mhz = 1 << 50;
        assert_eq!(
            problems(&hw),
            vec![
                "clock.freq_mhz (1125899906842624) × sram.token_bytes (196608) overflows 64 bits \
                 in the DMA cycle formula (at this sram.token_bytes, clock.freq_mhz must be <= \
                 93824992236885)"
            ]
        );
        hw.clock.freq_mhz = 93_824_992_236_885;
        assert_eq!(problems(&hw), Vec::<String>::new());
    }
}
