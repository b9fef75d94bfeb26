//! The human-readable forms of a [`Report`]: a summary table and the energy explanation.

use std::fmt::Write as _;

use super::report::Report;
use super::roofline::{RooflineReport, RooflineRow};

/// Host ops listed one per line in the table (all are in the JSON report).
const MAX_HOST_LINES: usize = 20;

/// `a / b` as a percentage with one decimal, `-` when `b` is 0.
fn percent(a: u64, b: u64) -> String {
    if b == 0 {
        "-".into()
    } else {
        format!("{:.1}%", a as f64 * 100.0 / b as f64)
    }
}

fn opt_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "n/a".into(), |v| format!("{v:.4}"))
}

impl Report {
    /// A readable summary of every section of the report.
    pub fn to_table(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "{} v{} ({}) on {} [{}] at {} MHz",
            self.format, self.version, self.mode, self.hw_name, self.config_hash, self.clock_mhz
        );
        let _ = writeln!(
            o,
            "{} instructions, {} cycles = {:.3} us\n",
            self.instructions, self.total_cycles, self.time_us
        );
        self.engines_table(&mut o);
        self.traffic_tables(&mut o);
        self.energy_table(&mut o);
        let _ = writeln!(
            o,
            "ops: {} executed of {} dense-equivalent ({})",
            self.ops.executed,
            self.ops.dense_equivalent,
            percent(self.ops.executed, self.ops.dense_equivalent)
        );
        self.host_table(&mut o);
        if let Some(s) = &self.sparse {
            let _ = writeln!(
                o,
                "sparse: {} SADS, top-k recall {} ({} of {} selected), max-assurance events {}",
                s.sads_instructions,
                opt_ratio(s.recall),
                s.hits.map_or("n/a".into(), |h| h.to_string()),
                s.selected.map_or("n/a".into(), |h| h.to_string()),
                s.max_assurance_events
                    .map_or("n/a".into(), |h| h.to_string()),
            );
        }
        self.regions_table(&mut o);
        if let Some(r) = &self.roofline {
            o.push('\n');
            o.push_str(&r.to_table());
        }
        o
    }

    fn engines_table(&self, o: &mut String) {
        let _ = writeln!(
            o,
            "{:<8} {:>10} {:>14} {:>14} {:>7}",
            "engine", "instrs", "busy cycles", "blocked", "util"
        );
        for e in &self.engines {
            let _ = writeln!(
                o,
                "{:<8} {:>10} {:>14} {:>14} {:>6.1}%",
                e.engine,
                e.instructions,
                e.busy_cycles,
                e.blocked_cycles,
                e.utilisation * 100.0
            );
        }
        o.push('\n');
    }

    fn traffic_tables(&self, o: &mut String) {
        let _ = writeln!(
            o,
            "{:<12} {:>16} {:>16}",
            "DRAM", "read bytes", "written bytes"
        );
        for c in &self.dram.classes {
            if c.read_bytes > 0 || c.written_bytes > 0 {
                let _ = writeln!(
                    o,
                    "{:<12} {:>16} {:>16}",
                    c.class.name(),
                    c.read_bytes,
                    c.written_bytes
                );
            }
        }
        let _ = writeln!(
            o,
            "{:<12} {:>16} {:>16}\n",
            "total", self.dram.read_bytes, self.dram.written_bytes
        );
        let _ = writeln!(
            o,
            "{:<12} {:>16} {:>16}",
            "SRAM", "read bytes", "written bytes"
        );
        for s in &self.sram {
            let _ = writeln!(
                o,
                "{:<12} {:>16} {:>16}",
                s.space, s.read_bytes, s.written_bytes
            );
        }
        o.push('\n');
    }

    fn energy_table(&self, o: &mut String) {
        let _ = writeln!(o, "{:<20} {:>20} {:>7}", "energy", "fJ", "share");
        for t in &self.energy.terms {
            let _ = writeln!(
                o,
                "{:<20} {:>20} {:>7}",
                t.component,
                t.energy_fj,
                percent(t.energy_fj, self.energy.total_fj)
            );
        }
        let _ = writeln!(
            o,
            "{:<20} {:>20} ({:.3} uJ)\n",
            "total", self.energy.total_fj, self.energy.total_uj
        );
    }

    /// MACs by side, then the host ops (if any) apart from the chip's figures.
    fn host_table(&self, o: &mut String) {
        let m = &self.macs;
        let _ = writeln!(
            o,
            "MACs: {} on chip, {} on host ({:.1}% on chip)",
            m.chip,
            m.host,
            m.chip_share * 100.0
        );
        let h = &self.host;
        if h.ops == 0 {
            let _ = writeln!(o, "host: no host ops (every op ran on the chip)");
            return;
        }
        let types: Vec<String> = h
            .op_types
            .iter()
            .map(|t| format!("{} x{}", t.op, t.count))
            .collect();
        let _ = writeln!(
            o,
            "host: {} op(s) off the chip ({}), 0 chip cycles; DRAM across the boundary: {} B \
             read, {} B written",
            h.ops,
            types.join(", "),
            h.read_bytes,
            h.written_bytes
        );
        for n in h.nodes.iter().take(MAX_HOST_LINES) {
            let _ = writeln!(
                o,
                "  instr #{} {} {:?}: {} B read, {} B written, {} MACs",
                n.instr, n.op, n.name, n.read_bytes, n.written_bytes, n.macs
            );
        }
        if h.nodes.len() > MAX_HOST_LINES {
            let _ = writeln!(
                o,
                "  ... {} more (see the JSON report)",
                h.nodes.len() - MAX_HOST_LINES
            );
        }
    }

    fn regions_table(&self, o: &mut String) {
        if self.regions.is_empty() {
            return;
        }
        let _ = writeln!(
            o,
            "\n{:<24} {:>15} {:>23} {:>14} {:>14} {:>8}",
            "region", "instrs", "cycles", "busy", "ops", "recall"
        );
        for r in &self.regions {
            let _ = writeln!(
                o,
                "{:<24} {:>15} {:>23} {:>14} {:>14} {:>8}",
                r.name,
                format!("{}..{}", r.first_instr, r.end_instr),
                format!("{}..{}", r.start_cycle, r.end_cycle),
                r.busy_cycles,
                r.ops,
                opt_ratio(r.recall)
            );
        }
    }

    /// Every energy term with the configuration key and value it comes from, and the total.
    pub fn explain_energy(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "Energy of the run in femtojoules; every rate is the named HwConfig entry."
        );
        for t in &self.energy.terms {
            let formula = if t.unit == "cycles" {
                format!(
                    "{} cycles x {} ({} {}) x 1000 / clock.freq_mhz ({})",
                    t.quantity, t.key, t.rate, t.rate_unit, self.clock_mhz
                )
            } else {
                format!(
                    "{} {} x {} ({} {})",
                    t.quantity, t.unit, t.key, t.rate, t.rate_unit
                )
            };
            let _ = writeln!(o, "  {:<18} {formula} = {} fJ", t.component, t.energy_fj);
        }
        let _ = writeln!(
            o,
            "  {:<18} no busy power of its own: its energy is the per-byte DRAM terms",
            "dma"
        );
        let _ = writeln!(
            o,
            "  {:<18} {} fJ = {:.6} uJ",
            "total", self.energy.total_fj, self.energy.total_uj
        );
        o
    }
}

/// Widest layer name printed in full; longer names keep their tail.
const MAX_NAME: usize = 40;

/// `name` cut to its last `width` characters (marked `..`) when longer.
fn fit_name(name: &str, width: usize) -> String {
    let n = name.chars().count();
    if n <= width {
        return name.into();
    }
    let tail: String = name.chars().skip(n - width + 2).collect();
    format!("..{tail}")
}

/// Rows that print the same figures (identical layers).
fn same_figures(a: &RooflineRow, b: &RooflineRow) -> bool {
    a.bounds == b.bounds
        && a.achieved_cycles == b.achieved_cycles
        && a.dram_bytes == b.dram_bytes
        && a.dram_lower_bound == b.dram_lower_bound
}

impl RooflineReport {
    /// One line per layer (runs of identical layers folded into one) and one for the program.
    pub fn to_table(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "roofline: bound = work needed / peak rate from HwConfig ({}); efficiency = bound / \
             achieved",
            self.definition
        );
        let width = self
            .layers
            .iter()
            .map(|r| r.name.chars().count())
            .max()
            .unwrap_or(0)
            .clamp(7, MAX_NAME);
        let _ =
            writeln!(
            o,
            "{:<width$} {:>11} {:>11} {:>11} {:>11} {:>11} {:>7} {:>12} {:>12} {:>6} {:>13} {:>13}",
            "layer", "sufa", "dlzs", "sads", "kvpe", "dram", "binding", "bound", "achieved",
            "eff", "DRAM LB B", "DRAM B"
        );
        let mut i = 0;
        while i < self.layers.len() {
            let r = &self.layers[i];
            let run = self.layers[i..]
                .iter()
                .take_while(|x| same_figures(x, r))
                .count();
            line(&mut o, &fit_name(&r.name, width), r, width);
            if run > 1 {
                let last = &self.layers[i + run - 1];
                let _ = writeln!(
                    o,
                    "  (+{} identical layers, to {})",
                    run - 1,
                    fit_name(&last.name, MAX_NAME)
                );
            }
            i += run;
        }
        line(&mut o, "program", &self.program, width);
        o
    }
}

fn line(o: &mut String, name: &str, r: &RooflineRow, width: usize) {
    let b = |n: &str| r.bound(n).unwrap_or(0);
    let _ = writeln!(
        o,
        "{:<width$} {:>11} {:>11} {:>11} {:>11} {:>11} {:>7} {:>12} {:>12} {:>5.1}% {:>13} {:>13}",
        name,
        b("sufa"),
        b("dlzs"),
        b("sads"),
        b("kvpe"),
        b("dram"),
        r.binding,
        r.bound_cycles,
        r.achieved_cycles,
        r.efficiency * 100.0,
        r.dram_lower_bound.bytes,
        r.dram_bytes
    );
}
