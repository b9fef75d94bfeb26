//! The benchmark's result: rows of (paper figure, sofa figure, note), rendered as a text table
//! or as JSON (`{"format": "sofa-bench-paper", "version": 1, ...}`, keys in a fixed order).

use std::fmt::Write;

/// How a row's figures read.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Unit {
    /// A relative change in percent (−79 = "−79%").
    Change,
    /// A share in percent (3 = "3.0%").
    Percent,
    /// A count of loaded vectors.
    Loads,
}

impl Unit {
    pub fn name(self) -> &'static str {
        match self {
            Unit::Change => "change_pct",
            Unit::Percent => "pct",
            Unit::Loads => "loads",
        }
    }

    /// The figure as printed.
    pub fn show(self, v: f64) -> String {
        match self {
            Unit::Change => format!("{v:+.1}%").replace('-', "−"),
            Unit::Percent => format!("{v:.1}%"),
            Unit::Loads => format!("{v:.0}"),
        }
    }
}

/// One comparison with the paper.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Stable identifier (`dram.sofa`, `sads.diff`, ...).
    pub key: &'static str,
    pub what: String,
    pub unit: Unit,
    pub paper: f64,
    pub sofa: f64,
    /// Largest |sofa − paper| still counted as agreeing (in the row's unit).
    pub tolerance: f64,
    /// Optional text shown instead of the bare figures (e.g. "24 → 16").
    pub paper_text: Option<String>,
    pub sofa_text: Option<String>,
    pub note: String,
}

impl Row {
    pub fn agrees(&self) -> bool {
        (self.sofa - self.paper).abs() <= self.tolerance
    }

    fn paper_cell(&self) -> String {
        self.paper_text
            .clone()
            .unwrap_or_else(|| self.unit.show(self.paper))
    }

    fn sofa_cell(&self) -> String {
        self.sofa_text
            .clone()
            .unwrap_or_else(|| self.unit.show(self.sofa))
    }

    /// "matches" or "differs: <note>".
    fn verdict(&self) -> String {
        let tag = if self.agrees() { "matches" } else { "DIFFERS" };
        if self.note.is_empty() {
            tag.into()
        } else {
            format!("{tag}: {}", self.note)
        }
    }
}

/// Rows plus the measurements behind them.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct PaperTable {
    pub rows: Vec<Row>,
    /// One line per supporting measurement (per workload, per engine, ...).
    pub details: Vec<String>,
    /// What was run (hardware, keep ratio, synthetic sizes).
    pub setup: Vec<(String, String)>,
}

impl PaperTable {
    pub fn row(&self, key: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.key == key)
    }

    /// The readable table: one line per row, then setup and details.
    pub fn render_text(&self) -> String {
        let w_what = self
            .rows
            .iter()
            .map(|r| r.what.chars().count())
            .max()
            .unwrap_or(4);
        let w_paper = self
            .rows
            .iter()
            .map(|r| r.paper_cell().chars().count())
            .max()
            .unwrap_or(5)
            .max(5);
        let w_sofa = self
            .rows
            .iter()
            .map(|r| r.sofa_cell().chars().count())
            .max()
            .unwrap_or(4)
            .max(4);
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<w_what$}  {:>w_paper$}  {:>w_sofa$}  note",
            "row", "paper", "sofa"
        );
        let _ = writeln!(s, "{}", "-".repeat(w_what + w_paper + w_sofa + 12));
        for r in &self.rows {
            let _ = writeln!(
                s,
                "{}  {}  {}  {}",
                pad_right(&r.what, w_what),
                pad_left(&r.paper_cell(), w_paper),
                pad_left(&r.sofa_cell(), w_sofa),
                r.verdict()
            );
        }
        let _ = writeln!(s, "\nsetup:");
        for (k, v) in &self.setup {
            let _ = writeln!(s, "  {k}: {v}");
        }
        let _ = writeln!(s, "\nmeasurements:");
        for d in &self.details {
            let _ = writeln!(s, "  {d}");
        }
        s
    }

    /// The JSON document (stable: same table, same bytes).
    pub fn render_json(&self) -> String {
        let mut s = String::from("{\n  \"format\": \"sofa-bench-paper\",\n  \"version\": 1,\n");
        s.push_str("  \"setup\": {");
        let setup: Vec<String> = self
            .setup
            .iter()
            .map(|(k, v)| format!("\n    {}: {}", json_str(k), json_str(v)))
            .collect();
        s.push_str(&setup.join(","));
        s.push_str("\n  },\n  \"rows\": [");
        let rows: Vec<String> = self.rows.iter().map(row_json).collect();
        s.push_str(&rows.join(","));
        s.push_str("\n  ],\n  \"details\": [");
        let details: Vec<String> = self
            .details
            .iter()
            .map(|d| format!("\n    {}", json_str(d)))
            .collect();
        s.push_str(&details.join(","));
        s.push_str("\n  ]\n}\n");
        s
    }
}

fn row_json(r: &Row) -> String {
    format!(
        "\n    {{\"key\": {}, \"what\": {}, \"unit\": {}, \"paper\": {}, \"sofa\": {}, \
         \"tolerance\": {}, \"agrees\": {}, \"paper_text\": {}, \"sofa_text\": {}, \"note\": {}}}",
        json_str(r.key),
        json_str(&r.what),
        json_str(r.unit.name()),
        json_num(r.paper),
        json_num(r.sofa),
        json_num(r.tolerance),
        r.agrees(),
        json_str(&r.paper_cell()),
        json_str(&r.sofa_cell()),
        json_str(&r.note)
    )
}

/// A finite number with 4 decimals (NaN/inf, which no row produces, as null).
fn json_num(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.4}")
    } else {
        "null".into()
    }
}

/// A JSON string literal.
pub fn json_str(text: &str) -> String {
    let mut s = String::with_capacity(text.len() + 2);
    s.push('"');
    for c in text.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\t' => s.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(s, "\\u{:04x}", u32::from(c));
            }
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

fn pad_right(s: &str, w: usize) -> String {
    format!("{s}{}", " ".repeat(w.saturating_sub(s.chars().count())))
}

fn pad_left(s: &str, w: usize) -> String {
    format!("{}{s}", " ".repeat(w.saturating_sub(s.chars().count())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_escapes_and_verdicts() {
        assert_eq!(json_str("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(Unit::Change.show(-79.04), "−79.0%");
        let r = Row {
            key: "x",
            what: "w".into(),
            unit: Unit::Percent,
            paper: 3.0,
            sofa: 3.9,
            tolerance: 1.0,
            paper_text: None,
            sofa_text: None,
            note: String::new(),
        };
        assert!(r.agrees());
        let t = PaperTable {
            rows: vec![r],
            ..PaperTable::default()
        };
        assert!(t.render_json().contains("\"agrees\": true"));
        assert!(t.render_text().contains("matches"));
    }
}
