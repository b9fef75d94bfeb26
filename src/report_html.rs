//! `sofa run --report-html R.html`: the simulator's report as one self-contained page — the
//! tables of the text report (engines, DRAM traffic by tensor class, energy terms, the
//! roofline) and charts drawn inline as SVG ([`crate::plot`]): utilisation per engine, DRAM
//! bytes by tensor class, and each attention layer's cycles against its roofline bound. No
//! script, no external file, no font: it opens offline in any browser, and the same report gives
//! the same bytes.

use std::fmt::Write as _;

use sofa_runtime::sim::Report;

use crate::plot::{bars_svg, Bars, PlotError};

/// `s` with the characters HTML gives meaning to escaped.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An HTML table: a header row and body rows, every cell escaped; numeric-looking cells right
/// aligned.
fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut t = String::from("<table>\n<tr>");
    for h in head {
        let _ = write!(t, "<th>{}</th>", escape(h));
    }
    t.push_str("</tr>\n");
    for r in rows {
        t.push_str("<tr>");
        for c in r {
            let numeric = c.starts_with(|ch: char| ch.is_ascii_digit() || ch == '-');
            let class = if numeric { " class=\"n\"" } else { "" };
            let _ = write!(t, "<td{class}>{}</td>", escape(c));
        }
        t.push_str("</tr>\n");
    }
    t.push_str("</table>\n");
    t
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;max-width:70em;color:#222}\
table{border-collapse:collapse;margin:0.5em 0 1.5em}\
th,td{border:1px solid #bbb;padding:0.25em 0.6em}th{background:#eee}td.n{text-align:right}\
figure{margin:1em 0}h2{margin-top:1.6em}";

/// The page for `report`, titled after `what` (the model or program run).
pub fn render(report: &Report, what: &str) -> Result<String, PlotError> {
    let mut page = String::new();
    let title = format!("sofa run: {what}");
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    let _ = writeln!(
        page,
        "<p>{} simulation on {} [{}] at {} MHz: {} instructions, {} cycles = {:.3} us; \
         energy {:.3} uJ.</p>",
        escape(&report.mode),
        escape(&report.hw_name),
        escape(&report.config_hash),
        report.clock_mhz,
        report.instructions,
        report.total_cycles,
        report.time_us,
        report.energy.total_uj
    );
    engines(&mut page, report)?;
    dram(&mut page, report)?;
    roofline(&mut page, report)?;
    energy(&mut page, report);
    page.push_str("</body>\n</html>\n");
    Ok(page)
}

fn figure(page: &mut String, svg: &str) {
    let _ = write!(page, "<figure>\n{svg}</figure>\n");
}

fn engines(page: &mut String, r: &Report) -> Result<(), PlotError> {
    page.push_str("<h2>Engines</h2>\n");
    let rows: Vec<Vec<String>> = r
        .engines
        .iter()
        .map(|e| {
            vec![
                e.engine.clone(),
                e.instructions.to_string(),
                e.busy_cycles.to_string(),
                e.blocked_cycles.to_string(),
                format!("{:.1}%", 100.0 * e.utilisation),
            ]
        })
        .collect();
    page.push_str(&table(
        &[
            "engine",
            "instructions",
            "busy cycles",
            "blocked cycles",
            "utilisation",
        ],
        &rows,
    ));
    let names: Vec<String> = r.engines.iter().map(|e| e.engine.clone()).collect();
    let util = Bars {
        legend: "busy / total cycles (%)",
        values: r.engines.iter().map(|e| 100.0 * e.utilisation).collect(),
    };
    figure(
        page,
        &bars_svg("Utilisation per engine", "%", &names, &[util])?,
    );
    Ok(())
}

fn dram(page: &mut String, r: &Report) -> Result<(), PlotError> {
    page.push_str("<h2>DRAM traffic by tensor class</h2>\n");
    let used: Vec<_> = r
        .dram
        .classes
        .iter()
        .filter(|c| c.read_bytes + c.written_bytes > 0)
        .collect();
    let mut rows: Vec<Vec<String>> = used
        .iter()
        .map(|c| {
            vec![
                c.class.name().to_string(),
                c.read_bytes.to_string(),
                c.written_bytes.to_string(),
            ]
        })
        .collect();
    rows.push(vec![
        "total".into(),
        r.dram.read_bytes.to_string(),
        r.dram.written_bytes.to_string(),
    ]);
    page.push_str(&table(&["class", "read bytes", "written bytes"], &rows));
    let names: Vec<String> = used.iter().map(|c| c.class.name().to_string()).collect();
    let kib = |v: u64| v as f64 / 1024.0;
    let series = [
        Bars {
            legend: "read",
            values: used.iter().map(|c| kib(c.read_bytes)).collect(),
        },
        Bars {
            legend: "written",
            values: used.iter().map(|c| kib(c.written_bytes)).collect(),
        },
    ];
    figure(
        page,
        &bars_svg("DRAM traffic by tensor class", "KiB", &names, &series)?,
    );
    Ok(())
}

fn roofline(page: &mut String, r: &Report) -> Result<(), PlotError> {
    let Some(roof) = &r.roofline else {
        page.push_str("<p>No roofline: the program carries no layer map (a .sofabin).</p>\n");
        return Ok(());
    };
    let _ = writeln!(
        page,
        "<h2>Roofline</h2>\n<p>Bound = the work a layer needs over the engine's peak rate \
         ({}); efficiency = bound / achieved.</p>",
        escape(&roof.definition)
    );
    let all: Vec<_> = roof.layers.iter().chain([&roof.program]).collect();
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|l| {
            vec![
                l.name.clone(),
                l.binding.clone(),
                l.bound_cycles.to_string(),
                l.achieved_cycles.to_string(),
                format!("{:.1}%", 100.0 * l.efficiency),
                l.dram_lower_bound.bytes.to_string(),
                l.dram_bytes.to_string(),
            ]
        })
        .collect();
    page.push_str(&table(
        &[
            "range",
            "binding",
            "bound cycles",
            "achieved cycles",
            "efficiency",
            "DRAM lower bound B",
            "DRAM B",
        ],
        &rows,
    ));
    if !roof.layers.is_empty() {
        let names: Vec<String> = (0..roof.layers.len()).map(|i| i.to_string()).collect();
        let series = [
            Bars {
                legend: "achieved cycles",
                values: roof
                    .layers
                    .iter()
                    .map(|l| l.achieved_cycles as f64)
                    .collect(),
            },
            Bars {
                legend: "roofline bound",
                values: roof.layers.iter().map(|l| l.bound_cycles as f64).collect(),
            },
        ];
        let svg = bars_svg(
            "Attention layers against their roofline",
            "cycles",
            &names,
            &series,
        )?;
        figure(page, &svg);
    }
    Ok(())
}

fn energy(page: &mut String, r: &Report) {
    page.push_str("<h2>Energy</h2>\n");
    let rows: Vec<Vec<String>> = r
        .energy
        .terms
        .iter()
        .map(|t| {
            let share = t.energy_fj as f64 / r.energy.total_fj.max(1) as f64;
            vec![
                t.component.clone(),
                t.energy_fj.to_string(),
                format!("{:.1}%", 100.0 * share),
            ]
        })
        .collect();
    page.push_str(&table(&["component", "fJ", "share"], &rows));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("<a & 'b'>\""), "&lt;a &amp; &#39;b&#39;&gt;&quot;");
        let t = table(&["x"], &[vec!["<script>".into()]]);
        assert!(t.contains("&lt;script&gt;") && !t.contains("<script>"));
    }
}
