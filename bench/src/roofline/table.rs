//! The roofline benchmark's result, as a text table or as JSON (`{"format":
//! "sofa-bench-roofline", "version": 1, ...}`, keys in a fixed order). Same rows, same bytes.

use std::fmt::Write;

use serde::Serialize;
use sofa_ir::dialect::attn::Schedule;

use super::BenchRow;

/// Every row, with what they ran on.
#[derive(Clone, Debug, PartialEq)]
pub struct RooflineTable {
    pub hw_name: String,
    pub config_hash: u64,
    pub keep: f64,
    pub schedule: Schedule,
    pub rows: Vec<BenchRow>,
}

#[derive(Serialize)]
struct Doc<'a> {
    format: &'static str,
    version: u32,
    hw: &'a str,
    config_hash: String,
    keep: f64,
    schedule: &'static str,
    definition: &'static str,
    rows: Vec<JsonRow<'a>>,
    mean_workload_sufa_utilisation: f64,
}

#[derive(Serialize)]
struct JsonRow<'a> {
    name: &'a str,
    kind: &'static str,
    layers: u64,
    source: &'static str,
    binding: &'a str,
    bound_cycles: u64,
    achieved_cycles: u64,
    efficiency: f64,
    sufa_bound_cycles: u64,
    sufa_utilisation: f64,
    dram_bytes: u64,
    dram_lower_bound_bytes: u64,
}

/// Rounded to 4 decimals, so JSON readers see what the table shows.
fn r4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

/// `a / b` with two decimals, `-` when `b` is 0.
fn times(a: u64, b: u64) -> String {
    if b == 0 {
        "-".into()
    } else {
        format!("{:.2}", a as f64 / b as f64)
    }
}

impl RooflineTable {
    /// Mean SU-FA utilisation over the workload rows (0 without any).
    pub fn mean_workload_sufa_utilisation(&self) -> f64 {
        let w: Vec<f64> = self
            .rows
            .iter()
            .filter(|r| r.kind == "workload")
            .map(|r| r.sufa_utilisation)
            .collect();
        if w.is_empty() {
            0.0
        } else {
            w.iter().sum::<f64>() / w.len() as f64
        }
    }

    /// The text table: one line per row, then the mean SU-FA utilisation of the workloads.
    pub fn render_text(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "sofa bench roofline: keep {}, schedule {}, {} [{:#018x}]; bound = work needed / \
             peak rate (docs/roofline.md)",
            self.keep,
            self.schedule.name(),
            self.hw_name,
            self.config_hash
        );
        let width = self
            .rows
            .iter()
            .map(|r| r.name.len())
            .max()
            .unwrap_or(0)
            .max(8);
        let _ = writeln!(
            o,
            "{:<width$} {:>6} {:>7} {:>14} {:>14} {:>7} {:>6} {:>14} {:>6} {:>15} {:>13} {:>7}",
            "row",
            "layers",
            "binding",
            "bound",
            "achieved",
            "source",
            "eff",
            "SU-FA bound",
            "SU-FA",
            "DRAM bytes",
            "DRAM LB",
            "DRAM/LB"
        );
        for r in &self.rows {
            let _ = writeln!(
                o,
                "{:<width$} {:>6} {:>7} {:>14} {:>14} {:>7} {:>5.1}% {:>14} {:>5.1}% {:>15} {:>13} {:>7}",
                r.name,
                r.layers,
                r.binding,
                r.bound_cycles,
                r.achieved_cycles,
                r.source.name(),
                r.efficiency * 100.0,
                r.sufa_bound,
                r.sufa_utilisation * 100.0,
                r.dram_bytes,
                r.dram_lower_bound,
                times(r.dram_bytes, r.dram_lower_bound)
            );
        }
        let _ = writeln!(
            o,
            "mean SU-FA utilisation (SU-FA bound / achieved) over the workloads: {:.1}%",
            self.mean_workload_sufa_utilisation() * 100.0
        );
        o
    }

    /// The JSON document (pretty-printed, trailing newline).
    pub fn render_json(&self) -> String {
        let doc = Doc {
            format: "sofa-bench-roofline",
            version: 1,
            hw: &self.hw_name,
            config_hash: format!("{:#018x}", self.config_hash),
            keep: self.keep,
            schedule: self.schedule.name(),
            definition: "docs/roofline.md",
            rows: self
                .rows
                .iter()
                .map(|r| JsonRow {
                    name: &r.name,
                    kind: r.kind,
                    layers: r.layers,
                    source: r.source.name(),
                    binding: &r.binding,
                    bound_cycles: r.bound_cycles,
                    achieved_cycles: r.achieved_cycles,
                    efficiency: r4(r.efficiency),
                    sufa_bound_cycles: r.sufa_bound,
                    sufa_utilisation: r4(r.sufa_utilisation),
                    dram_bytes: r.dram_bytes,
                    dram_lower_bound_bytes: r.dram_lower_bound,
                })
                .collect(),
            mean_workload_sufa_utilisation: r4(self.mean_workload_sufa_utilisation()),
        };
        // Plain integers, strings and finite floats always serialise.
        let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        text.push('\n');
        text
    }
}
