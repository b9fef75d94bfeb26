//! The roofline section of a report: per attention layer and for the whole program, each
//! engine's bound (the work the program needs over the engine's peak rate, from `HwConfig`
//! only: `sofa_ir::hw::roofline`, defined in `docs/roofline.md`), the DRAM lower bound, the
//! binding bound, the achieved cycles and the efficiency `bound / achieved`.
//!
//! The compiler supplies the work and each layer's instruction range ([`RooflineRequest`]);
//! a layer's achieved cycles are the span of its instructions (first start to last end), its
//! DRAM bytes those its instructions moved; the program's are the run's total cycles and
//! bytes. Layers of a workload spec are identical, so a run extrapolated from one and two
//! simulated layers gets its roofline from [`extrapolate_roofline`].

use std::ops::Range;

use serde::{Deserialize, Serialize};
use sofa_ir::hw::roofline::{
    efficiency, on_chip_bytes, Bounds, RooflineWork, Work, BOUND_FORMULAS, BOUND_NAMES,
};
use sofa_ir::hw::{CostError, HwConfig};

use super::extrapolate::ExtrapolateError;
use super::report::Report;

/// What the simulator needs to report a roofline: the work, and each layer's instruction
/// range (aligned with `work.layers`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RooflineRequest {
    pub work: RooflineWork,
    pub layer_instrs: Vec<Range<usize>>,
}

/// The roofline of a run (report version 3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RooflineReport {
    /// Where the definitions are.
    pub definition: String,
    /// `M` of the DRAM bound: `sram.token_bytes + sram.weight_bytes + sram.temp_bytes`.
    pub on_chip_bytes: u64,
    /// Each bound's formula with the `HwConfig` keys it reads, in the rows' bound order.
    pub formulas: Vec<BoundFormula>,
    /// One row per attention layer, in program order.
    pub layers: Vec<RooflineRow>,
    /// The whole program: the layers' work plus the program's own (GEMMs, weights, outputs).
    pub program: RooflineRow,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoundFormula {
    pub bound: String,
    pub formula: String,
}

/// One layer's (or the program's) bounds against what the run achieved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RooflineRow {
    pub name: String,
    /// Instruction range `first_instr..end_instr` and its cycle span.
    pub first_instr: u64,
    pub end_instr: u64,
    pub start_cycle: u64,
    pub end_cycle: u64,
    pub work: WorkReport,
    /// Cycles of each bound (`sufa`, `dlzs`, `sads`, `kvpe`, `dram`).
    pub bounds: Vec<BoundCycles>,
    pub dram_lower_bound: DramLowerBound,
    /// The largest bound's name.
    pub binding: String,
    pub bound_cycles: u64,
    /// `end_cycle − start_cycle`.
    pub achieved_cycles: u64,
    /// `bound_cycles / achieved_cycles` (0 when nothing ran).
    pub efficiency: f64,
    /// DRAM bytes read and written by the range's instructions.
    pub dram_bytes: u64,
}

/// The counts the bounds divide (`sofa_ir::hw::roofline::Work`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkReport {
    pub rows: u64,
    pub visible_pairs: u64,
    pub selected_pairs: u64,
    pub dlzs_macs: u64,
    pub sads_rounds: u64,
    pub gemm_macs: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoundCycles {
    pub bound: String,
    pub cycles: u64,
}

/// The DRAM lower bound in bytes: `max(compulsory_read, reuse_read) + compulsory_written`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DramLowerBound {
    pub compulsory_read_bytes: u64,
    pub compulsory_written_bytes: u64,
    /// Re-reads the on-chip memory forces (Hong–Kung).
    pub reuse_read_bytes: u64,
    pub bytes: u64,
}

/// What a range of the run achieved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Achieved {
    pub instrs: Range<u64>,
    pub start_cycle: u64,
    pub end_cycle: u64,
    pub dram_bytes: u64,
}

impl RooflineReport {
    /// The row of a layer by name.
    pub fn layer(&self, name: &str) -> Option<&RooflineRow> {
        self.layers.iter().find(|r| r.name == name)
    }
}

impl RooflineRow {
    /// Cycles of one bound (`sufa`, …, `dram`).
    pub fn bound(&self, name: &str) -> Option<u64> {
        self.bounds
            .iter()
            .find(|b| b.bound == name)
            .map(|b| b.cycles)
    }
}

fn row(
    hw: &HwConfig,
    name: &str,
    work: &Work,
    achieved: &Achieved,
) -> Result<RooflineRow, CostError> {
    let b: Bounds = work.bounds(hw)?;
    let (binding, bound_cycles) = b.binding();
    let span = achieved.end_cycle.saturating_sub(achieved.start_cycle);
    Ok(RooflineRow {
        name: name.into(),
        first_instr: achieved.instrs.start,
        end_instr: achieved.instrs.end,
        start_cycle: achieved.start_cycle,
        end_cycle: achieved.end_cycle,
        work: WorkReport {
            rows: work.rows,
            visible_pairs: work.visible_pairs,
            selected_pairs: work.selected_pairs,
            dlzs_macs: work.dlzs_macs,
            sads_rounds: work.sads_rounds,
            gemm_macs: work.kvpe_macs,
        },
        bounds: b
            .cycles()
            .iter()
            .map(|&(bound, cycles)| BoundCycles {
                bound: bound.into(),
                cycles,
            })
            .collect(),
        dram_lower_bound: DramLowerBound {
            compulsory_read_bytes: b.dram.compulsory_read,
            compulsory_written_bytes: b.dram.compulsory_written,
            reuse_read_bytes: b.dram.reuse_read,
            bytes: b.dram.bytes,
        },
        binding: binding.into(),
        bound_cycles,
        achieved_cycles: span,
        efficiency: efficiency(bound_cycles, span),
        dram_bytes: achieved.dram_bytes,
    })
}

/// The roofline of `work` against what each layer (`layers`, aligned with `work.layers`) and
/// the program achieved.
pub fn roofline_report(
    hw: &HwConfig,
    work: &RooflineWork,
    layers: &[Achieved],
    program: &Achieved,
) -> Result<RooflineReport, CostError> {
    let rows = work
        .layers
        .iter()
        .zip(layers)
        .map(|(l, a)| row(hw, &l.name, &l.work, a))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RooflineReport {
        definition: "docs/roofline.md".into(),
        on_chip_bytes: on_chip_bytes(hw)?,
        formulas: BOUND_NAMES
            .iter()
            .zip(BOUND_FORMULAS)
            .map(|(b, f)| BoundFormula {
                bound: (*b).into(),
                formula: f.into(),
            })
            .collect(),
        layers: rows,
        program: row(hw, "program", &work.program, program)?,
    })
}

/// What the whole run achieved: every instruction, its total cycles and DRAM bytes.
pub fn program_achieved(r: &Report) -> Achieved {
    Achieved {
        instrs: 0..r.instructions,
        start_cycle: 0,
        end_cycle: r.total_cycles,
        dram_bytes: r.dram.read_bytes.saturating_add(r.dram.written_bytes),
    }
}

/// The roofline of `n = work.layers.len()` identical layers from the reports of one and two
/// simulated layers (each with its roofline) and the extrapolated report `full`: layer 0 is
/// the two-layer run's first layer, every further layer its second, shifted by one layer's
/// instructions and cycles (`x(2) − x(1)`) per layer.
pub fn extrapolate_roofline(
    hw: &HwConfig,
    work: &RooflineWork,
    one: &Report,
    two: &Report,
    full: &Report,
) -> Result<RooflineReport, ExtrapolateError> {
    let (Some(r1), Some(r2)) = (&one.roofline, &two.roofline) else {
        return Err(ExtrapolateError::Shape);
    };
    let (Some(first), Some(second), 1, 2) = (
        r2.layers.first(),
        r2.layers.get(1),
        r1.layers.len(),
        r2.layers.len(),
    ) else {
        return Err(ExtrapolateError::Shape);
    };
    let step = |what: &str, a: u64, b: u64| {
        b.checked_sub(a).ok_or_else(|| ExtrapolateError::Shrinks {
            what: what.into(),
            one: a,
            two: b,
        })
    };
    let d_instr = step("instructions", one.instructions, two.instructions)?;
    let d_cycles = step("total cycles", one.total_cycles, two.total_cycles)?;
    let layers = (0..work.layers.len() as u64)
        .map(|k| {
            let base = if k == 0 { first } else { second };
            let shift = |per: u64| {
                k.saturating_sub(1)
                    .checked_mul(per)
                    .ok_or_else(|| ExtrapolateError::Overflow {
                        what: "roofline layer range".into(),
                        layers: k + 1,
                    })
            };
            let (di, dc) = (shift(d_instr)?, shift(d_cycles)?);
            let add = |a: u64, b: u64| {
                a.checked_add(b).ok_or_else(|| ExtrapolateError::Overflow {
                    what: "roofline layer range".into(),
                    layers: k + 1,
                })
            };
            Ok(Achieved {
                instrs: add(base.first_instr, di)?..add(base.end_instr, di)?,
                start_cycle: add(base.start_cycle, dc)?,
                end_cycle: add(base.end_cycle, dc)?,
                dram_bytes: base.dram_bytes,
            })
        })
        .collect::<Result<Vec<_>, ExtrapolateError>>()?;
    roofline_report(hw, work, &layers, &program_achieved(full))
        .map_err(|e| ExtrapolateError::Roofline(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sofa_ir::hw::roofline::LayerWork;

    fn work(pairs: u64) -> Work {
        Work {
            rows: 1,
            selected_pairs: pairs,
            sufa_lane_cycles: pairs * 32,
            ..Work::default()
        }
    }

    #[test]
    fn rows_put_the_bounds_against_the_achieved_span() {
        let hw = HwConfig::default();
        let w = RooflineWork {
            layers: vec![LayerWork {
                name: "l0".into(),
                work: work(400),
            }],
            program: work(400),
        };
        let layer = Achieved {
            instrs: 3..9,
            start_cycle: 10,
            end_cycle: 410,
            dram_bytes: 7,
        };
        let program = Achieved {
            instrs: 0..12,
            start_cycle: 0,
            end_cycle: 500,
            dram_bytes: 9,
        };
        let r = roofline_report(&hw, &w, &[layer], &program).unwrap();
        // 400 pairs · 32 cycles over 128 lanes = 100 cycles, against a span of 400.
        let l = r.layer("l0").unwrap();
        assert_eq!((l.binding.as_str(), l.bound_cycles), ("sufa", 100));
        assert_eq!((l.achieved_cycles, l.efficiency), (400, 0.25));
        assert_eq!((l.first_instr, l.end_instr, l.dram_bytes), (3, 9, 7));
        assert_eq!(r.program.efficiency, 0.2);
        assert_eq!(r.on_chip_bytes, 323_584);
        assert_eq!(r.formulas.len(), 5);
        assert!(r.to_table().contains("program"));
    }
}
