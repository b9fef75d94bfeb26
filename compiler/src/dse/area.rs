//! A small area model of a SOFA chip variant: area per engine unit and per SRAM byte, scaled
//! by the shapes a [`HwConfig`] gives.
//!
//! The constants are calibrated on the paper's Table III (TSMC 28 nm; `paper-notes.md` §6.5):
//!
//! | module | contents | area (mm²) |
//! |---|---|---|
//! | DLZS prediction | 128×32 shift PEs, 128 LZEs | 0.351 |
//! | iterative SADS | 128 16-to-4 sort cores, 128 clipping units | 0.679 |
//! | KV generation | 128×4 16-bit PEs | 0.875 |
//! | SU-FA | 128×4 16-bit PEs, 128 EXP, 128 DIV | 3.012 |
//! | memory | 192 KB token + 96 KB weight + 28 KB temp SRAM | 0.497 |
//! | scheduler and others | | 0.280 |
//!
//! Each constant is the module's area divided by its unit count (**\[S\]**-derived), or says
//! what it assumes (**\[I\]**): every module is taken to scale linearly in its unit count, which
//! the paper does not state (CACTI's SRAM area, in particular, is not linear in capacity). At
//! [`AreaModel::default`] and [`HwConfig::default`] each module reproduces Table III to within
//! 1 µm²; the vector unit, which the paper's chip does not have, adds 0.219 mm² (\[I\], 128
//! lanes at a KV PE's area, as its power is inferred in `HwConfig`).
//!
//! Units: nm² per unit (integers, so areas are exact and summed with checked arithmetic);
//! results are reported in µm², rounded to the nearest.

use serde::{Deserialize, Serialize};
use sofa_ir::hw::HwConfig;

/// Area per unit of each engine and per SRAM byte, nm². See the module docs for sources.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AreaModel {
    /// One DLZS shift PE with its share of the LZEs. \[S\]-derived: 0.351 mm² / (128×32).
    pub dlzs_pe_nm2: u64,
    /// One input of one SADS sort core (with its clipping unit share). \[S\]-derived: 0.679 mm²
    /// / (128 cores × 16 inputs); \[I\] linear in `sads.sorters × sads.sorter_inputs`.
    pub sads_sorter_input_nm2: u64,
    /// One 16-bit PE of the KV-generation array. \[S\]-derived: 0.875 mm² / (128×4).
    pub kvpe_pe_nm2: u64,
    /// One 16-bit PE of SU-FA's arrays. \[I\] as a KV PE (the same 16-bit MAC).
    pub sufa_pe_nm2: u64,
    /// One SU-FA exponential unit. \[I\] Table III's SU-FA 3.012 mm² less its 512 PEs at a KV
    /// PE's area, split evenly between the 128 EXP and the 128 DIV units: 2.137 mm² / 256.
    pub sufa_exp_unit_nm2: u64,
    /// One SU-FA divide unit. \[I\] as an EXP unit.
    pub sufa_div_unit_nm2: u64,
    /// One vector lane. \[I\] a KV PE's area; the paper's chip has no vector unit.
    pub vector_lane_nm2: u64,
    /// One byte of on-chip SRAM (token, weight and temp alike). \[S\]-derived: 0.497 mm² /
    /// 316 KB; \[I\] linear in capacity.
    pub sram_byte_nm2: u64,
    /// The scheduler and the rest, fixed. \[S\] 0.280 mm².
    pub control_nm2: u64,
}

impl Default for AreaModel {
    fn default() -> AreaModel {
        AreaModel {
            dlzs_pe_nm2: 85_693_359,
            sads_sorter_input_nm2: 331_542_969,
            kvpe_pe_nm2: 1_708_984_375,
            sufa_pe_nm2: 1_708_984_375,
            sufa_exp_unit_nm2: 8_347_656_250,
            sufa_div_unit_nm2: 8_347_656_250,
            vector_lane_nm2: 1_708_984_375,
            sram_byte_nm2: 1_535_923,
            control_nm2: 280_000_000_000,
        }
    }
}

/// The area of one chip variant, µm² per module.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Area {
    pub dlzs: u64,
    pub sads: u64,
    pub kvpe: u64,
    pub sufa: u64,
    pub vector: u64,
    pub sram: u64,
    pub control: u64,
    pub total: u64,
}

/// The area of a variant exceeds 64 bits of nm².
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the area of module '{module}' overflows 64 bits of nm²")]
pub struct AreaOverflow {
    pub module: &'static str,
}

impl AreaModel {
    /// The area of `hw` under this model.
    pub fn area(&self, hw: &HwConfig) -> Result<Area, AreaOverflow> {
        let terms = |module: &'static str, terms: &[(u64, u64, u64)]| {
            terms
                .iter()
                .try_fold(0u64, |sum, &(a, b, per)| {
                    a.checked_mul(b)?.checked_mul(per)?.checked_add(sum)
                })
                .ok_or(AreaOverflow { module })
        };
        let (d, s, k, f, v) = (&hw.dlzs, &hw.sads, &hw.kvpe, &hw.sufa, &hw.vector);
        let sram_bytes = hw
            .sram
            .token_bytes
            .checked_add(hw.sram.weight_bytes)
            .and_then(|b| b.checked_add(hw.sram.temp_bytes))
            .ok_or(AreaOverflow { module: "sram" })?;
        let nm2 = [
            terms("dlzs", &[(d.rows.into(), d.cols.into(), self.dlzs_pe_nm2)])?,
            terms(
                "sads",
                &[(
                    s.sorters.into(),
                    s.sorter_inputs.into(),
                    self.sads_sorter_input_nm2,
                )],
            )?,
            terms("kvpe", &[(k.rows.into(), k.cols.into(), self.kvpe_pe_nm2)])?,
            terms(
                "sufa",
                &[
                    (f.rows.into(), f.cols.into(), self.sufa_pe_nm2),
                    (f.exp_units.into(), 1, self.sufa_exp_unit_nm2),
                    (f.div_units.into(), 1, self.sufa_div_unit_nm2),
                ],
            )?,
            terms("vector", &[(v.lanes.into(), 1, self.vector_lane_nm2)])?,
            terms("sram", &[(sram_bytes, 1, self.sram_byte_nm2)])?,
            self.control_nm2,
        ];
        let um2 = |n: u64| n / 1_000_000 + u64::from(n % 1_000_000 >= 500_000);
        let total = nm2
            .iter()
            .try_fold(0u64, |sum, &n| sum.checked_add(n))
            .ok_or(AreaOverflow { module: "total" })?;
        Ok(Area {
            dlzs: um2(nm2[0]),
            sads: um2(nm2[1]),
            kvpe: um2(nm2[2]),
            sufa: um2(nm2[3]),
            vector: um2(nm2[4]),
            sram: um2(nm2[5]),
            control: um2(nm2[6]),
            total: um2(total),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_papers_chip_reproduces_table_iii() {
        let a = AreaModel::default().area(&HwConfig::default()).unwrap();
        // Table III, µm²: 0.351, 0.679, 0.875, 3.012, 0.497, 0.280 mm².
        assert_eq!(
            (a.dlzs, a.sads, a.kvpe, a.sufa, a.sram, a.control),
            (351_000, 679_000, 875_000, 3_012_000, 497_000, 280_000)
        );
        // The vector unit sofa adds: 128 lanes at a KV PE's 1708.98 µm².
        assert_eq!(a.vector, 218_750);
        // 5.694 mm² of Table III's modules (the paper rounds to 5.69) plus the vector unit.
        assert_eq!(a.total, 5_694_000 + 218_750);
    }

    #[test]
    fn area_scales_with_the_shapes() {
        let mut hw = HwConfig::default();
        hw.sram.token_bytes *= 2; // + 192 KB at 1.536 µm²/B = + 0.302 mm²
        hw.sufa.cols = 8; // + 512 PEs at 1709 µm² = + 0.875 mm²
        let a = AreaModel::default().area(&hw).unwrap();
        assert_eq!(a.sram, 798_975); // 508 KB × 1535.923 nm²
        assert_eq!(a.sufa, 3_887_000);
        hw.sram.temp_bytes = u64::MAX;
        assert_eq!(
            AreaModel::default().area(&hw),
            Err(AreaOverflow { module: "sram" })
        );
    }
}
