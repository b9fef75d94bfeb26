//! The cycle formula of every instruction, as functions of a [`HwConfig`] and the operands.
//!
//! The compiler's cost model and the simulator's timing both call [`Instr::cycles`] (or
//! [`Instr::cycles_with`] when the run-time counts are known), so they cannot disagree. All
//! arithmetic is checked: overflow or a zero divisor (an unvalidated config) is a [`CostError`],
//! never a panic or a wrapped number. [`Instr::formula`] gives the formula as text with the
//! configuration keys it reads, so every reported cycle traces to named entries.
//!
//! Engine models (\[I\] unless noted; the paper gives no per-stage cycle counts):
//! - DMA: `ceil(bytes·clock.freq_mhz / dram.bandwidth_mb_s) + ceil(dram.latency_ns·clock.freq_mhz / 1000)`.
//! - Systolic arrays (DLZS, KV PE): an output tile of `R×C` (the array's rows × cols) per pass,
//!   `k` cycles per pass, passes back to back, one fill/drain of `R + C`.
//! - SADS \[S-derived, §3.4 of paper-notes\]: per row, `ceil(sel/outputs)` passes, each streaming
//!   the tile `inputs − outputs` new values per cycle; rows spread over the sorters; plus
//!   `ceil(log2 inputs)` pipeline stages.
//! - SU-FA: SA-1 and SA-2 each have `sufa.cols/2` PEs per line, so a key costs `ceil(d/(cols/2))`
//!   cycles per row (exp units permitting); rows spread over `sufa.rows` lines. A score bias
//!   (`SUFA.BIAS`) is fetched one value per line per cycle and preloads SA-1's accumulators.
//! - Vector: `vector.lanes` elements per cycle per pass, plus a log-depth tree per row reduction.

use super::HwConfig;
use crate::isa::{Instr, SufaMode};

/// A count of core clock cycles.
pub type Cycles = u64;

/// `VEC.QPARAM`: a handful of scalar operations.
const QPARAM_CYCLES: Cycles = 4;

/// Why a formula could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CostError {
    #[error("cycle/energy arithmetic overflows 64 bits ({0})")]
    Overflow(&'static str),
    #[error("configuration entry {0} is zero (validate the HwConfig first)")]
    ZeroConfig(&'static str),
}

/// Run-time counts that refine the static formulas (from the functional simulator, or from a
/// statistical model in timing-only mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DynamicCounts {
    /// Rows actually processed by GATHER/KVGEN/VEC.ROPE-with-list, or unique keys issued by
    /// RASS; `None` = the static bound.
    pub rows: Option<u64>,
    /// SU-FA max-assurance violations on the critical row: each costs one rescale of `o`.
    pub rescales: u64,
}

pub(crate) fn mul(a: u64, b: u64, what: &'static str) -> Result<u64, CostError> {
    a.checked_mul(b).ok_or(CostError::Overflow(what))
}

pub(crate) fn add(a: u64, b: u64, what: &'static str) -> Result<u64, CostError> {
    a.checked_add(b).ok_or(CostError::Overflow(what))
}

pub(crate) fn ceil_div(a: u64, b: u64, key: &'static str) -> Result<u64, CostError> {
    if b == 0 {
        return Err(CostError::ZeroConfig(key));
    }
    Ok(a.div_ceil(b))
}

fn ceil_log2(x: u64) -> u64 {
    if x <= 1 {
        0
    } else {
        u64::from(64 - (x - 1).leading_zeros())
    }
}

/// Cycles to move `bytes` between DRAM and SRAM.
pub fn dma_cycles(hw: &HwConfig, bytes: u64) -> Result<Cycles, CostError> {
    let f = hw.clock.freq_mhz;
    let transfer = ceil_div(
        mul(bytes, f, "DMA bytes")?,
        hw.dram.bandwidth_mb_s,
        "dram.bandwidth_mb_s",
    )?;
    let latency = mul(hw.dram.latency_ns, f, "DMA latency")?.div_ceil(1000);
    add(transfer, latency, "DMA cycles")
}

/// Cycles of an `m × n` output with reduction depth `k` on an `r × c` systolic array.
pub fn array_cycles(
    m: u64,
    n: u64,
    k: u64,
    r: u32,
    c: u32,
    keys: (&'static str, &'static str),
) -> Result<Cycles, CostError> {
    let passes = mul(
        ceil_div(m, r.into(), keys.0)?,
        ceil_div(n, c.into(), keys.1)?,
        "array passes",
    )?;
    add(
        mul(passes, k, "array cycles")?,
        u64::from(r) + u64::from(c),
        "array cycles",
    )
}

fn dlzs(hw: &HwConfig, m: u64, n: u64, k: u64) -> Result<Cycles, CostError> {
    array_cycles(
        m,
        n,
        k,
        hw.dlzs.rows,
        hw.dlzs.cols,
        ("dlzs.rows", "dlzs.cols"),
    )
}

fn kvpe(hw: &HwConfig, m: u64, n: u64, k: u64) -> Result<Cycles, CostError> {
    array_cycles(
        m,
        n,
        k,
        hw.kvpe.rows,
        hw.kvpe.cols,
        ("kvpe.rows", "kvpe.cols"),
    )
}

/// SADS: per-row top-`sel` of an `n`-wide tile for `rows` rows.
pub fn sads_cycles(hw: &HwConfig, rows: u64, n: u64, sel: u64) -> Result<Cycles, CostError> {
    let s = &hw.sads;
    let fresh = u64::from(s.sorter_inputs).saturating_sub(s.sorter_outputs.into());
    let rounds = ceil_div(n, fresh, "sads.sorter_inputs - sads.sorter_outputs")?;
    let passes = ceil_div(sel, s.sorter_outputs.into(), "sads.sorter_outputs")?;
    let groups = ceil_div(rows, s.sorters.into(), "sads.sorters")?;
    let body = mul(mul(groups, passes, "SADS")?, rounds, "SADS")?;
    add(body, ceil_log2(s.sorter_inputs.into()), "SADS")
}

/// SU-FA: (cycles per key per row, cycles of one `d`-wide vector pass on SA-2).
fn sufa_rates(hw: &HwConfig, d: u64) -> Result<(u64, u64), CostError> {
    let sa = u64::from(hw.sufa.cols / 2);
    let vec_pass = ceil_div(d, sa, "sufa.cols")?;
    let exp = ceil_div(
        hw.sufa.rows.into(),
        hw.sufa.exp_units.into(),
        "sufa.exp_units",
    )?;
    Ok((vec_pass.max(exp), vec_pass))
}

/// SU-FA cycles of one key for one row (`max(ceil(d/(sufa.cols/2)), ceil(sufa.rows/sufa.exp_units))`):
/// the rate the roofline divides selected pairs by.
pub fn sufa_key_cycles(hw: &HwConfig, d: u64) -> Result<Cycles, CostError> {
    sufa_rates(hw, d).map(|(per_key, _)| per_key)
}

/// The operands of one SUFA.T that its cycles depend on.
struct SufaTile {
    rows: u64,
    sel: u64,
    d: u64,
    mode: SufaMode,
    acc: bool,
}

fn sufa_tile(hw: &HwConfig, t: SufaTile, rescales: u64) -> Result<Cycles, CostError> {
    let (per_key, vec_pass) = sufa_rates(hw, t.d)?;
    let groups = ceil_div(t.rows, hw.sufa.rows.into(), "sufa.rows")?;
    let keys = mul(t.sel, per_key, "SUFA.T")?;
    let per_group = match t.mode {
        // Two mode-1 compares fix the tile max (max assurance); no rescale afterwards.
        SufaMode::Sorted => add(keys, 2, "SUFA.T")?,
        // A max scan over the tile's scores, then one rescale of o.
        SufaMode::Fa2 => add(add(keys, t.sel, "SUFA.T")?, vec_pass, "SUFA.T")?,
    };
    // Merging into the running partials rescales the running o once at the tile switch.
    let per_group = add(per_group, u64::from(t.acc) * vec_pass, "SUFA.T")?;
    let body = mul(groups, per_group, "SUFA.T")?;
    let fixups = mul(rescales, vec_pass, "SUFA.T")?;
    add(add(body, fixups, "SUFA.T")?, per_key, "SUFA.T")
}

fn sufa_sync(hw: &HwConfig, rows: u64, tiles: u64, d: u64) -> Result<Cycles, CostError> {
    let (_, vec_pass) = sufa_rates(hw, d)?;
    let exp = ceil_div(
        hw.sufa.rows.into(),
        hw.sufa.exp_units.into(),
        "sufa.exp_units",
    )?;
    let merge = mul(tiles, add(vec_pass, exp, "SUFA.SYNC")?, "SUFA.SYNC")?;
    let divide = ceil_div(
        mul(d, hw.sufa.rows.into(), "SUFA.SYNC")?,
        hw.sufa.div_units.into(),
        "sufa.div_units",
    )?;
    let groups = ceil_div(rows, hw.sufa.rows.into(), "sufa.rows")?;
    add(
        mul(groups, add(merge, divide, "SUFA.SYNC")?, "SUFA.SYNC")?,
        vec_pass,
        "SUFA.SYNC",
    )
}

/// SUFA.BIAS: each line fetches its row's `sel` bias values, one per cycle, into the
/// accumulators SA-1 starts the next SUFA.T's scores from (so that SUFA.T costs nothing more);
/// one cycle for the first index to reach the bias SRAM.
fn sufa_bias(hw: &HwConfig, rows: u64, sel: u64) -> Result<Cycles, CostError> {
    let groups = ceil_div(rows, hw.sufa.rows.into(), "sufa.rows")?;
    add(mul(groups, sel, "SUFA.BIAS")?, 1, "SUFA.BIAS")
}

/// Vector unit: `passes` sweeps over `rows × cols` plus `reductions` log-depth trees per row.
pub fn vec_cycles(
    hw: &HwConfig,
    rows: u64,
    cols: u64,
    passes: u64,
    reductions: u64,
) -> Result<Cycles, CostError> {
    let lanes = u64::from(hw.vector.lanes);
    let sweep = ceil_div(mul(rows, cols, "VEC")?, lanes, "vector.lanes")?;
    let tree = mul(
        mul(reductions, rows, "VEC")?,
        ceil_log2(cols.min(lanes)),
        "VEC",
    )?;
    add(mul(passes, sweep, "VEC")?, tree, "VEC")
}

impl Instr {
    /// Cycles with the static bounds for data-dependent counts.
    pub fn cycles(&self, hw: &HwConfig) -> Result<Cycles, CostError> {
        self.cycles_with(hw, &DynamicCounts::default())
    }

    /// Cycles with the run-time counts in `dy`.
    pub fn cycles_with(&self, hw: &HwConfig, dy: &DynamicCounts) -> Result<Cycles, CostError> {
        let rows_or = |bound: u64| dy.rows.map_or(bound, |r| r.min(bound));
        match self {
            Instr::Ld {
                rows, row_bytes, ..
            }
            | Instr::St {
                rows, row_bytes, ..
            } => dma_cycles(hw, mul((*rows).into(), (*row_bytes).into(), "DMA bytes")?),
            Instr::Gather {
                max_rows,
                row_bytes,
                ..
            } => dma_cycles(
                hw,
                mul(
                    rows_or((*max_rows).into()),
                    (*row_bytes).into(),
                    "DMA bytes",
                )?,
            ),
            Instr::Copy { bytes, .. } => ceil_div(
                (*bytes).into(),
                hw.sram.copy_bytes_per_cycle,
                "sram.copy_bytes_per_cycle",
            ),
            Instr::DlzsK { rows, k, n, .. } | Instr::DlzsS { rows, k, n, .. } => {
                dlzs(hw, (*rows).into(), (*n).into(), (*k).into())
            }
            Instr::Sads { rows, n, sel, .. } => {
                sads_cycles(hw, (*rows).into(), (*n).into(), (*sel).into())
            }
            Instr::Rass {
                rows,
                sel,
                n,
                reuse,
                ..
            } => {
                let entries = u64::from(*rows) * u64::from(*sel);
                if *reuse {
                    let groups = ceil_div(
                        (*rows).into(),
                        hw.block.query_rows.into(),
                        "block.query_rows",
                    )?;
                    let build = add(mul(groups, (*sel).into(), "RASS")?, (*n).into(), "RASS")?;
                    add(build, rows_or(entries.min((*n).into())), "RASS")
                } else {
                    Ok(rows_or(entries))
                }
            }
            Instr::Kvgen { max_rows, k, n, .. } => {
                kvpe(hw, rows_or((*max_rows).into()), (*n).into(), (*k).into())
            }
            Instr::SufaT {
                rows,
                sel,
                d,
                mode,
                acc,
                ..
            } => sufa_tile(
                hw,
                SufaTile {
                    rows: (*rows).into(),
                    sel: (*sel).into(),
                    d: (*d).into(),
                    mode: *mode,
                    acc: *acc,
                },
                dy.rescales,
            ),
            Instr::SufaSync { rows, tiles, d, .. } => {
                sufa_sync(hw, (*rows).into(), (*tiles).into(), (*d).into())
            }
            Instr::SufaBias { rows, sel, .. } => sufa_bias(hw, (*rows).into(), (*sel).into()),
            Instr::Gemm { m, n, k, .. } => kvpe(hw, (*m).into(), (*n).into(), (*k).into()),
            // The PE array takes 8-bit operands at the float rate; zero points are subtracted
            // as operands enter the array.
            Instr::GemmQ { m, n, k, .. } => kvpe(hw, (*m).into(), (*n).into(), (*k).into()),
            // One sweep, then one tree over the lanes for the whole tile.
            Instr::VecMinMax { rows, cols, .. } => add(
                vec_cycles(hw, (*rows).into(), (*cols).into(), 1, 0)?,
                ceil_log2(hw.vector.lanes.into()),
                "VEC.MINMAX",
            ),
            // A subtraction, two divisions, a clamp and a rounding on scalars.
            Instr::VecQParam { .. } => Ok(QPARAM_CYCLES),
            Instr::VecSoftmax { rows, cols, .. } | Instr::VecLayerNorm { rows, cols, .. } => {
                vec_cycles(hw, (*rows).into(), (*cols).into(), 3, 2)
            }
            Instr::VecRmsNorm { rows, cols, .. } => {
                vec_cycles(hw, (*rows).into(), (*cols).into(), 2, 1)
            }
            Instr::VecReduce { rows, cols, .. } => {
                vec_cycles(hw, (*rows).into(), (*cols).into(), 1, 1)
            }
            Instr::VecRope {
                rows, cols, pos, ..
            } => {
                let r = if pos.is_some() {
                    rows_or((*rows).into())
                } else {
                    (*rows).into()
                };
                vec_cycles(hw, r, (*cols).into(), 2, 0)
            }
            Instr::Signal { .. } | Instr::Wait { .. } | Instr::Halt {} => Ok(1),
            Instr::Host { .. } => Ok(0),
            Instr::VecAdd { rows, cols, .. }
            | Instr::VecSub { rows, cols, .. }
            | Instr::VecMul { rows, cols, .. }
            | Instr::VecDiv { rows, cols, .. }
            | Instr::VecMax { rows, cols, .. }
            | Instr::VecSelect { rows, cols, .. }
            | Instr::VecExp { rows, cols, .. }
            | Instr::VecErf { rows, cols, .. }
            | Instr::VecGelu { rows, cols, .. }
            | Instr::VecGeluTanh { rows, cols, .. }
            | Instr::VecSilu { rows, cols, .. }
            | Instr::VecRelu { rows, cols, .. }
            | Instr::VecTanh { rows, cols, .. }
            | Instr::VecSigmoid { rows, cols, .. }
            | Instr::VecSqrt { rows, cols, .. }
            | Instr::VecRecip { rows, cols, .. }
            | Instr::VecCos { rows, cols, .. }
            | Instr::VecSin { rows, cols, .. }
            | Instr::VecCmp { rows, cols, .. }
            | Instr::VecAffine { rows, cols, .. }
            | Instr::VecCvt { rows, cols, .. }
            | Instr::VecQuant { rows, cols, .. }
            | Instr::VecDequant { rows, cols, .. }
            | Instr::VecTranspose { rows, cols, .. } => {
                vec_cycles(hw, (*rows).into(), (*cols).into(), 1, 0)
            }
        }
    }

    /// The formula text, naming the configuration keys it reads.
    pub fn formula(&self) -> &'static str {
        match self {
            Instr::Ld { .. } | Instr::St { .. } => "ceil(rows*row_bytes*clock.freq_mhz / dram.bandwidth_mb_s) + ceil(dram.latency_ns*clock.freq_mhz / 1000)",
            Instr::Gather { .. } => "ceil(count*row_bytes*clock.freq_mhz / dram.bandwidth_mb_s) + ceil(dram.latency_ns*clock.freq_mhz / 1000), count <= max_rows",
            Instr::Copy { .. } => "ceil(bytes / sram.copy_bytes_per_cycle)",
            Instr::DlzsK { .. } | Instr::DlzsS { .. } => "ceil(rows/dlzs.rows) * ceil(n/dlzs.cols) * k + dlzs.rows + dlzs.cols",
            Instr::Sads { .. } => "ceil(rows/sads.sorters) * ceil(sel/sads.sorter_outputs) * ceil(n/(sads.sorter_inputs - sads.sorter_outputs)) + ceil(log2 sads.sorter_inputs)",
            Instr::Rass { reuse: true, .. } => "ceil(rows/block.query_rows)*sel + n + unique, unique <= min(n, rows*sel)",
            Instr::Rass { reuse: false, .. } => "rows*sel",
            Instr::Kvgen { .. } => "ceil(count/kvpe.rows) * ceil(n/kvpe.cols) * k + kvpe.rows + kvpe.cols, count <= max_rows",
            Instr::SufaT { mode: SufaMode::Sorted, .. } => "ceil(rows/sufa.rows) * (sel*key + 2 + acc*ceil(d/(sufa.cols/2))) + rescales*ceil(d/(sufa.cols/2)) + key, key = max(ceil(d/(sufa.cols/2)), ceil(sufa.rows/sufa.exp_units))",
            Instr::SufaT { mode: SufaMode::Fa2, .. } => "ceil(rows/sufa.rows) * (sel*key + sel + (1+acc)*ceil(d/(sufa.cols/2))) + key, key = max(ceil(d/(sufa.cols/2)), ceil(sufa.rows/sufa.exp_units))",
            Instr::SufaBias { .. } => "ceil(rows/sufa.rows) * sel + 1",
            Instr::SufaSync { .. } => "ceil(rows/sufa.rows) * (tiles*(ceil(d/(sufa.cols/2)) + ceil(sufa.rows/sufa.exp_units)) + ceil(d*sufa.rows/sufa.div_units)) + ceil(d/(sufa.cols/2))",
            Instr::Gemm { .. } | Instr::GemmQ { .. } => "ceil(m/kvpe.rows) * ceil(n/kvpe.cols) * k + kvpe.rows + kvpe.cols",
            Instr::VecMinMax { .. } => "ceil(rows*cols/vector.lanes) + ceil(log2 vector.lanes)",
            Instr::VecQParam { .. } => "4",
            Instr::VecSoftmax { .. } | Instr::VecLayerNorm { .. } => "3*ceil(rows*cols/vector.lanes) + 2*rows*ceil(log2 min(cols, vector.lanes))",
            Instr::VecRmsNorm { .. } => "2*ceil(rows*cols/vector.lanes) + rows*ceil(log2 min(cols, vector.lanes))",
            Instr::VecReduce { .. } => "ceil(rows*cols/vector.lanes) + rows*ceil(log2 min(cols, vector.lanes))",
            Instr::VecRope { .. } => "2*ceil(rows*cols/vector.lanes)",
            Instr::Signal { .. } | Instr::Wait { .. } | Instr::Halt {} => "1 (time blocked in WAIT is the simulator's, not the formula's)",
            Instr::Host { .. } => "0 (the host runs it; host time is not chip time)",
            Instr::VecAdd { .. }
            | Instr::VecSub { .. }
            | Instr::VecMul { .. }
            | Instr::VecDiv { .. }
            | Instr::VecMax { .. }
            | Instr::VecSelect { .. }
            | Instr::VecExp { .. }
            | Instr::VecErf { .. }
            | Instr::VecGelu { .. }
            | Instr::VecGeluTanh { .. }
            | Instr::VecSilu { .. }
            | Instr::VecRelu { .. }
            | Instr::VecTanh { .. }
            | Instr::VecSigmoid { .. }
            | Instr::VecSqrt { .. }
            | Instr::VecRecip { .. }
            | Instr::VecCos { .. }
            | Instr::VecSin { .. }
            | Instr::VecCmp { .. }
            | Instr::VecAffine { .. }
            | Instr::VecCvt { .. }
            | Instr::VecQuant { .. }
            | Instr::VecDequant { .. }
            | Instr::VecTranspose { .. } => "ceil(rows*cols/vector.lanes)",
        }
    }
}

#[cfg(test)]
mod tests;
