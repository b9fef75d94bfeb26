//! The simulation report: a stable, versioned JSON document and a readable table.
//!
//! `{"format": "sofa-report", "version": 3, ...}`; fields appear in declaration order, lists in
//! a fixed order (engines by code, tensor classes and SRAM spaces as declared), so the same run
//! gives byte-identical JSON. Readers reject other formats/versions and unknown fields. Adding
//! or changing a field means a new version.
//!
//! Units are in the field names where not obvious: cycles of `clock_mhz`, bytes, femtojoules
//! (`_fj`), microseconds/microjoules for the derived `time_us`/`total_uj`. Every energy term
//! names the `HwConfig` key it multiplies by ([`Report::explain_energy`]).
//!
//! Host work is reported apart ([`HostReport`], version 2): the ops a `HOST` instruction ran
//! on the host (count, types, each node), the DRAM bytes they read and wrote (the bytes
//! crossing the chip–host boundary) and their MACs. Host work takes no chip cycles: it is in
//! no cycle, engine, traffic or energy figure of the chip (a `HOST` sits in the `dma` queue but
//! is not counted as a `dma` instruction), and host wall time is not reported (it would make
//! reports differ between runs). [`MacsReport`] defines the share of MACs on chip.
//!
//! The roofline ([`RooflineReport`], version 3) is present when the caller gave the work the
//! program needs (`SimOptions::roofline`: compiled ONNX models and workload specs; a bare
//! `.sofabin` carries no layers): per attention layer and for the program, each engine's
//! bound, the DRAM lower bound, the binding bound, the achieved cycles and the efficiency.

use serde::{Deserialize, Serialize};
use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{Engine, Program, SramSpace};

use super::drive::Run;
use super::exec::RecallSample;
use super::roofline::{program_achieved, roofline_report, Achieved, RooflineReport};
use super::tally::TensorClass;
use super::{energy, SimError, SimOptions};
use sofa_ir::hw::timing::engine_slot;

/// The `format` field of every report.
pub const REPORT_FORMAT: &str = "sofa-report";
/// The report schema version this crate writes and reads.
pub const REPORT_VERSION: u32 = 3;

/// Everything measured in one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// Always [`REPORT_FORMAT`].
    pub format: String,
    /// Always [`REPORT_VERSION`].
    pub version: u32,
    /// `functional` or `timing-only`.
    pub mode: String,
    /// `HwConfig::name`.
    pub hw_name: String,
    /// `HwConfig::hash()` as `0x` + 16 hex digits.
    pub config_hash: String,
    /// `clock.freq_mhz`.
    pub clock_mhz: u64,
    pub instructions: u64,
    /// End of HALT: the critical path through the semaphores.
    pub total_cycles: u64,
    /// `total_cycles / clock_mhz`.
    pub time_us: f64,
    /// One entry per engine, in engine-code order.
    pub engines: Vec<EngineReport>,
    pub dram: DramReport,
    /// One entry per SRAM space (token, weight, temp).
    pub sram: Vec<SramTraffic>,
    pub energy: EnergyReport,
    pub ops: OpsReport,
    /// The model's multiply-accumulates on chip and on the host.
    pub macs: MacsReport,
    /// Ops run on the host (`HOST` instructions), apart from every chip figure.
    pub host: HostReport,
    /// Present when the program predicts and selects (has SADS instructions).
    pub sparse: Option<SparseReport>,
    /// The figures of each requested region, in request order.
    pub regions: Vec<RegionReport>,
    /// Bounds against achieved cycles, when the caller gave the program's work.
    pub roofline: Option<RooflineReport>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineReport {
    pub engine: String,
    pub instructions: u64,
    /// Sum of the instructions' cycles.
    pub busy_cycles: u64,
    /// Stalled in WAIT (and HALT waiting for the drain).
    pub blocked_cycles: u64,
    /// `busy_cycles / total_cycles`.
    pub utilisation: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DramReport {
    pub read_bytes: u64,
    pub written_bytes: u64,
    /// Every tensor class, in [`TensorClass::ALL`] order.
    pub classes: Vec<ClassTraffic>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassTraffic {
    pub class: TensorClass,
    pub read_bytes: u64,
    pub written_bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SramTraffic {
    pub space: String,
    pub read_bytes: u64,
    pub written_bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnergyReport {
    /// Sum of the terms, femtojoules.
    pub total_fj: u64,
    /// `total_fj / 10⁹`.
    pub total_uj: f64,
    pub terms: Vec<EnergyTerm>,
}

/// `energy_fj = quantity × rate` (× 1000 / `clock.freq_mhz` for busy power).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnergyTerm {
    /// `dlzs.busy`, `sram.token.read`, `dram.device`, ...
    pub component: String,
    pub quantity: u64,
    /// `cycles` or `bytes`.
    pub unit: String,
    /// The `HwConfig` key of the rate.
    pub key: String,
    /// The key's value.
    pub rate: u64,
    /// `uW` or `fJ/byte`.
    pub rate_unit: String,
    pub energy_fj: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpsReport {
    /// Arithmetic done (a MAC is one op).
    pub executed: u64,
    /// What the dense computation would have done.
    pub dense_equivalent: u64,
    /// `executed / dense_equivalent` (0 when nothing dense).
    pub executed_fraction: f64,
}

/// Multiply-accumulates (MACs) of the model's products, by where they ran.
///
/// On chip: GEMM `m·n·k`, KVGEN `count·n·k` and SUFA.T `2·d` per attended key (q·k and p·v);
/// DLZS prediction shift-adds are work the chip adds, not the model's, and are not counted.
/// On the host: [`sofa_ir::isa::HostOp::macs`], the contractions of host `MatMul`,
/// `MatMulInteger`, `Gemm`, `Conv`, `ConvInteger` and attention ops (0 for other ops).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MacsReport {
    pub chip: u64,
    pub host: u64,
    /// `chip / (chip + host)`; 1 when there are none.
    pub chip_share: f64,
}

/// Host work: the ops run by `HOST` instructions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostReport {
    /// `HOST` instructions executed.
    pub ops: u64,
    /// How many host ops of each op name, sorted by name.
    pub op_types: Vec<HostOpCount>,
    /// DRAM bytes the host read (operand tensors) and wrote (result tensors).
    pub read_bytes: u64,
    pub written_bytes: u64,
    /// Multiply-accumulates on the host (= `macs.host`).
    pub macs: u64,
    /// Every host op, in execution order.
    pub nodes: Vec<HostNode>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostOpCount {
    /// `onnx.Floor`, ...
    pub op: String,
    pub count: u64,
}

/// One host op of the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostNode {
    /// The `HOST` instruction's index.
    pub instr: u64,
    pub op: String,
    /// The ONNX node it comes from.
    pub name: String,
    pub read_bytes: u64,
    pub written_bytes: u64,
    pub macs: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SparseReport {
    pub sads_instructions: u64,
    /// Selected indices that are in the exact top-k, over all selected (functional mode, when
    /// the exact scores were known).
    pub recall: Option<f64>,
    pub selected: Option<u64>,
    pub hits: Option<u64>,
    /// SU-FA keys whose exact score beat the reference max (functional mode).
    pub max_assurance_events: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionReport {
    pub name: String,
    /// Instruction range `first_instr..end_instr`.
    pub first_instr: u64,
    pub end_instr: u64,
    /// First start and last end of its instructions (0, 0 when empty).
    pub start_cycle: u64,
    pub end_cycle: u64,
    /// Sum of its instructions' cycles over all engines.
    pub busy_cycles: u64,
    pub ops: u64,
    pub dense_ops: u64,
    pub dram_read_bytes: u64,
    pub dram_written_bytes: u64,
    /// Top-k recall of its SADS instructions (functional mode, when known).
    pub recall: Option<f64>,
}

/// Why a report could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("report JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("not a {REPORT_FORMAT} version {REPORT_VERSION} document (format '{format}', version {version})")]
    Format { format: String, version: u32 },
}

impl Report {
    /// Pretty-printed JSON (stable: same report, same bytes).
    pub fn to_json(&self) -> Result<String, ReportError> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// Read a report, checking its format and version.
    pub fn from_json(text: &str) -> Result<Report, ReportError> {
        let r: Report = serde_json::from_str(text)?;
        if r.format != REPORT_FORMAT || r.version != REPORT_VERSION {
            return Err(ReportError::Format {
                format: r.format,
                version: r.version,
            });
        }
        Ok(r)
    }

    /// The report entry of one engine.
    pub fn engine(&self, e: Engine) -> Option<&EngineReport> {
        self.engines.iter().find(|r| r.engine == e.name())
    }

    /// The DRAM traffic of one tensor class.
    pub fn dram_class(&self, c: TensorClass) -> Option<&ClassTraffic> {
        self.dram.classes.iter().find(|t| t.class == c)
    }
}

/// `a / b`, 0 when `b` is 0.
fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

fn checked_sum(mut it: impl Iterator<Item = u64>, what: &str) -> Result<u64, SimError> {
    it.try_fold(0u64, |a, b| a.checked_add(b))
        .ok_or_else(|| SimError::general(format!("{what} overflows 64 bits")))
}

/// Assemble the report of a finished run.
pub(crate) fn build(
    program: &Program,
    hw: &HwConfig,
    opts: &SimOptions,
    run: &Run,
) -> Result<Report, SimError> {
    let tl = &run.timeline;
    let t = &run.accounts.total;
    let total = tl.total_cycles;
    let host = host_report(program, run)?;
    let engines = Engine::ALL
        .iter()
        .map(|&e| {
            let s = tl.engines[engine_slot(e)];
            // HOST sits in the dma queue for ordering; it is host work, not a dma instruction.
            let off_chip = if e == Engine::Dma { host.ops } else { 0 };
            EngineReport {
                engine: e.name().into(),
                instructions: s.instructions.saturating_sub(off_chip),
                busy_cycles: s.busy,
                blocked_cycles: s.blocked,
                utilisation: ratio(s.busy, total),
            }
        })
        .collect();
    let classes: Vec<ClassTraffic> = TensorClass::ALL
        .iter()
        .map(|&c| ClassTraffic {
            class: c,
            read_bytes: t.dram_read[c as usize],
            written_bytes: t.dram_written[c as usize],
        })
        .collect();
    let dram = DramReport {
        read_bytes: checked_sum(t.dram_read.iter().copied(), "DRAM bytes read")?,
        written_bytes: checked_sum(t.dram_written.iter().copied(), "DRAM bytes written")?,
        classes,
    };
    let sram = SramSpace::ALL
        .iter()
        .map(|&s| SramTraffic {
            space: s.name().into(),
            read_bytes: t.sram_read[usize::from(s.code())],
            written_bytes: t.sram_written[usize::from(s.code())],
        })
        .collect();
    let regions = opts
        .regions
        .iter()
        .map(|(name, range)| region_report(name, range.clone(), run))
        .collect::<Result<Vec<_>, _>>()?;
    let mut report = Report {
        format: REPORT_FORMAT.into(),
        version: REPORT_VERSION,
        mode: opts.mode.name().into(),
        hw_name: hw.name.clone(),
        config_hash: format!("{:#018x}", hw.hash()),
        clock_mhz: hw.clock.freq_mhz,
        instructions: run.instructions as u64,
        total_cycles: total,
        time_us: ratio(total, hw.clock.freq_mhz),
        engines,
        dram,
        sram,
        energy: energy::energy_report(hw, &tl.engines, t)?,
        ops: OpsReport {
            executed: t.ops,
            dense_equivalent: t.dense_ops,
            executed_fraction: ratio(t.ops, t.dense_ops),
        },
        macs: MacsReport {
            chip: t.macs,
            host: host.macs,
            chip_share: chip_share(t.macs, host.macs),
        },
        host,
        sparse: sparse_report(run)?,
        regions,
        roofline: None,
    };
    if let Some(req) = &opts.roofline {
        let layers = req
            .layer_instrs
            .iter()
            .map(|r| achieved(r.clone(), run))
            .collect::<Result<Vec<_>, _>>()?;
        let section = roofline_report(hw, &req.work, &layers, &program_achieved(&report))
            .map_err(|e| SimError::general(format!("roofline: {e}")))?;
        report.roofline = Some(section);
    }
    Ok(report)
}

/// What the instructions in `range` achieved (their cycle span and DRAM bytes).
fn achieved(range: std::ops::Range<usize>, run: &Run) -> Result<Achieved, SimError> {
    let r = region_report("", range, run)?;
    Ok(Achieved {
        instrs: r.first_instr..r.end_instr,
        start_cycle: r.start_cycle,
        end_cycle: r.end_cycle,
        dram_bytes: r
            .dram_read_bytes
            .checked_add(r.dram_written_bytes)
            .ok_or_else(|| SimError::general("layer DRAM bytes overflow 64 bits"))?,
    })
}

/// `chip / (chip + host)`, 1 when both are 0.
pub(crate) fn chip_share(chip: u64, host: u64) -> f64 {
    let all = u128::from(chip) + u128::from(host);
    if all == 0 {
        1.0
    } else {
        chip as f64 / all as f64
    }
}

/// The host section from the HOST instructions the run executed.
fn host_report(program: &Program, run: &Run) -> Result<HostReport, SimError> {
    let mut types: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    let mut nodes = Vec::with_capacity(run.host.len());
    for r in &run.host {
        let Some(h) = program.host_ops.get(r.op as usize) else {
            return Err(SimError::general(format!(
                "host op {} is not in the table",
                r.op
            )));
        };
        *types.entry(h.op.as_str()).or_default() += 1;
        nodes.push(HostNode {
            instr: r.instr as u64,
            op: h.op.clone(),
            name: h.name.clone(),
            read_bytes: r.work.read_bytes,
            written_bytes: r.work.written_bytes,
            macs: r.work.macs,
        });
    }
    Ok(HostReport {
        ops: nodes.len() as u64,
        op_types: types
            .into_iter()
            .map(|(op, count)| HostOpCount {
                op: op.into(),
                count,
            })
            .collect(),
        read_bytes: checked_sum(nodes.iter().map(|n| n.read_bytes), "host bytes read")?,
        written_bytes: checked_sum(nodes.iter().map(|n| n.written_bytes), "host bytes written")?,
        macs: checked_sum(nodes.iter().map(|n| n.macs), "host MACs")?,
        nodes,
    })
}

/// Recall samples of instructions in `range`: (selected, hits).
fn recall_in(
    samples: &[RecallSample],
    range: std::ops::Range<usize>,
) -> Result<(u64, u64), SimError> {
    let inside = samples.iter().filter(|s| range.contains(&s.instr));
    let selected = checked_sum(inside.clone().map(|s| s.selected), "recall count")?;
    let hits = checked_sum(inside.map(|s| s.hits), "recall count")?;
    Ok((selected, hits))
}

fn sparse_report(run: &Run) -> Result<Option<SparseReport>, SimError> {
    let sads = run.sads;
    if sads == 0 {
        return Ok(None);
    }
    let Some(stats) = &run.stats else {
        return Ok(Some(SparseReport {
            sads_instructions: sads,
            recall: None,
            selected: None,
            hits: None,
            max_assurance_events: None,
        }));
    };
    let (selected, hits) = recall_in(&stats.recall, 0..usize::MAX)?;
    Ok(Some(SparseReport {
        sads_instructions: sads,
        recall: (selected > 0).then(|| ratio(hits, selected)),
        selected: Some(selected),
        hits: Some(hits),
        max_assurance_events: Some(stats.max_assurance_events),
    }))
}

fn region_report(
    name: &str,
    range: std::ops::Range<usize>,
    run: &Run,
) -> Result<RegionReport, SimError> {
    let uncut = || SimError::general(format!("region '{name}' ({range:?}) was not recorded"));
    let spans = run
        .timeline
        .spans
        .as_ref()
        .and_then(|s| s.covering(&range))
        .ok_or_else(uncut)?;
    let tallies = run
        .accounts
        .per_interval
        .as_ref()
        .and_then(|t| t.covering(&range))
        .ok_or_else(uncut)?;
    let recall = match &run.stats {
        Some(stats) => {
            let (selected, hits) = recall_in(&stats.recall, range.clone())?;
            (selected > 0).then(|| ratio(hits, selected))
        }
        None => None,
    };
    Ok(RegionReport {
        name: name.into(),
        first_instr: range.start as u64,
        end_instr: range.end as u64,
        start_cycle: spans.iter().filter_map(|s| s.start).min().unwrap_or(0),
        end_cycle: spans.iter().map(|s| s.end).max().unwrap_or(0),
        busy_cycles: checked_sum(spans.iter().map(|s| s.busy), "region cycles")?,
        ops: checked_sum(tallies.iter().map(|t| t.ops), "region ops")?,
        dense_ops: checked_sum(tallies.iter().map(|t| t.dense_ops), "region ops")?,
        dram_read_bytes: checked_sum(tallies.iter().map(|t| t.dram_read), "region DRAM bytes")?,
        dram_written_bytes: checked_sum(
            tallies.iter().map(|t| t.dram_written),
            "region DRAM bytes",
        )?,
        recall,
    })
}
