//! Chunk sizes that fit the SRAMs (`hw.sram_capacity(space)`).
//!
//! An op's buffers are described per unit (a row, or a column when even one row is too
//! long): bytes that do not depend on the chunk plus bytes per unit, each in a chosen space.
//! [`fit`] finds the largest chunk for which every space holds its buffers, counting the
//! alignment each buffer may waste.

use sofa_ir::hw::HwConfig;
use sofa_ir::isa::SramSpace;

use super::seg::ALIGN;

/// One SRAM buffer of an op: `fixed + units·per_unit` bytes in `space`.
#[derive(Copy, Clone, Debug)]
pub struct Need {
    pub space: SramSpace,
    pub fixed: u64,
    pub per_unit: u64,
}

impl Need {
    pub fn new(space: SramSpace, fixed: u64, per_unit: u64) -> Need {
        Need {
            space,
            fixed,
            per_unit,
        }
    }
}

/// Largest `units ≤ max` whose buffers fit; 0 when not even one does.
pub fn fit(hw: &HwConfig, needs: &[Need], max: u64) -> u64 {
    let mut best = max;
    for space in [SramSpace::Token, SramSpace::Weight, SramSpace::Temp] {
        let mine = needs.iter().filter(|n| n.space == space);
        let (fixed, per_unit) = mine.fold((0u64, 0u64), |(f, p), n| {
            (f + n.fixed + ALIGN, p + n.per_unit)
        });
        let cap = hw.sram_capacity(space);
        if fixed > cap {
            return 0;
        }
        if let Some(units) = (cap - fixed).checked_div(per_unit) {
            best = best.min(units);
        }
    }
    best
}

/// `0..n` in consecutive pieces of at most `chunk` (≥ 1).
pub fn chunks(n: u64, chunk: u64) -> impl Iterator<Item = (u64, u64)> {
    let chunk = chunk.max(1);
    (0..n.div_ceil(chunk)).map(move |i| (i * chunk, ((i + 1) * chunk).min(n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_takes_the_tightest_space() {
        let hw = HwConfig::default();
        // 512 B per row in Token and Temp: Temp (28 KiB) allows 55 rows after its alignment slack.
        let needs = [
            Need::new(SramSpace::Token, 0, 512),
            Need::new(SramSpace::Temp, 0, 512),
        ];
        assert_eq!(fit(&hw, &needs, 1000), (28 * 1024 - 64) / 512);
        assert_eq!(fit(&hw, &needs, 7), 7);
        assert_eq!(fit(&hw, &[Need::new(SramSpace::Weight, 1 << 20, 0)], 9), 0);
        let c: Vec<_> = chunks(10, 4).collect();
        assert_eq!(c, vec![(0, 4), (4, 8), (8, 10)]);
    }
}
