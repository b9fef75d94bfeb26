//! The text `sofa calibrate` prints: the uniform sweep, the per-layer choice with what each
//! layer saves and how accurate the model is with only that layer sparse, and the best
//! uniform keep beside the per-layer choice on the calibration and the held-out inputs.
//! Nothing in it depends on the machine or the clock, so the same inputs print the same bytes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::Calibration;

/// What the report says about where the figures come from.
pub struct Context<'a> {
    /// The model as named on the command line.
    pub model: &'a str,
    /// Dims the latency is priced at.
    pub priced_at: &'a BTreeMap<String, u64>,
    pub hw: &'a str,
    pub schedule: &'a str,
    /// How the held-out inputs were chosen (e.g. "the last 1 of --inputs").
    pub holdout_rule: &'a str,
}

/// `a, b`, or `none`.
pub fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// The whole report.
pub fn render(c: &Calibration, cx: &Context<'_>) -> String {
    let mut out = String::new();
    header(&mut out, c, cx);
    uniform_sweep(&mut out, c);
    per_layer(&mut out, c);
    side_by_side(&mut out, c);
    reuse(&mut out, c);
    out
}

fn header(out: &mut String, c: &Calibration, cx: &Context<'_>) {
    let dims: Vec<String> = cx
        .priced_at
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let keeps: Vec<String> = c
        .grid
        .keeps()
        .keeps()
        .iter()
        .map(|k| k.to_string())
        .collect();
    let _ = writeln!(
        out,
        "calibrate {}: {} attention layer(s), target cosine >= {} (every float output vs \
         dense, worst over outputs and inputs)",
        cx.model,
        c.table.layers(),
        c.goal.min_cosine
    );
    let _ = writeln!(out, "calibration inputs: {}", c.calibration.join(", "));
    let _ = writeln!(
        out,
        "held-out inputs: {} ({})",
        list_or_none(&c.holdout_names),
        cx.holdout_rule
    );
    let _ = writeln!(
        out,
        "predicted latency: cost-model cycles of the attention layers at {} on {}, schedule {}",
        if dims.is_empty() {
            "static shapes".to_string()
        } else {
            dims.join(",")
        },
        cx.hw,
        cx.schedule
    );
    let _ = writeln!(out, "keep grid: {}", keeps.join(", "));
    if !c.grid.tiles().counts().is_empty() {
        let _ = writeln!(
            out,
            "tile grid: the cost model's, {} (pinned per layer where cheaper or more accurate)",
            c.grid
                .tiles()
                .counts()
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

fn uniform_sweep(out: &mut String, c: &Calibration) {
    let _ = writeln!(
        out,
        "\nuniform keep  predicted cycles  cosine    meets target"
    );
    for p in &c.outcome.uniform {
        let _ = writeln!(
            out,
            "{:<12}  {:>16}  {:.6}  {}",
            c.grid.keeps().keep(p.keep),
            p.cycles,
            p.accuracy,
            yes_no(c.goal.is_met(p.accuracy))
        );
    }
    let best = &c.outcome.uniform[c.outcome.uniform_best];
    let _ = writeln!(
        out,
        "best uniform keep: {} ({} cycles)",
        c.grid.keeps().keep(best.keep),
        best.cycles
    );
}

fn per_layer(out: &mut String, c: &Calibration) {
    let tiles = !c.grid.tiles().counts().is_empty();
    let _ = writeln!(
        out,
        "\nlayer  keep    {}cycles dense  cycles  saved  cosine (this layer alone sparse)",
        if tiles { "tiles  " } else { "" }
    );
    for (layer, &k) in c.outcome.choice.iter().enumerate() {
        let dense = c.table.cycles(layer, 0);
        let chosen = c.table.cycles(layer, k);
        let setting = c.grid.setting(k);
        let tiles = match (tiles, setting.tiles) {
            (false, _) => String::new(),
            (true, Some(t)) => format!("{t:<5}  "),
            (true, None) => "auto   ".to_string(),
        };
        let _ = writeln!(
            out,
            "{layer:<5}  {:<6}  {tiles}{dense:>12}  {chosen:>6}  {:>5}  {:.6}",
            setting.keep,
            dense.saturating_sub(chosen),
            c.outcome.alone[layer]
        );
    }
}

fn side_by_side(out: &mut String, c: &Calibration) {
    let o = &c.outcome;
    let best = &o.uniform[o.uniform_best];
    let dense = o.uniform[0].cycles;
    let per_layer = c.table.total(&o.choice);
    let uniform_head = format!("uniform keep {}", c.grid.keeps().keep(best.keep));
    let _ = writeln!(out, "\n{:<26}  {uniform_head:>20}  {:>12}", "", "per-layer");
    let row = |out: &mut String, what: &str, u: String, p: String| {
        let _ = writeln!(out, "{what:<26}  {u:>20}  {p:>12}");
    };
    row(
        out,
        "predicted cycles",
        best.cycles.to_string(),
        per_layer.to_string(),
    );
    row(
        out,
        "saved vs dense",
        saved_text(dense, best.cycles),
        saved_text(dense, per_layer),
    );
    row(
        out,
        "cosine, calibration",
        format!("{:.6}", best.accuracy),
        format!("{:.6}", o.accuracy),
    );
    let (hu, hp) = match c.holdout {
        Some(h) => (format!("{:.6}", h.uniform), format!("{:.6}", h.per_layer)),
        None => ("-".into(), "-".into()),
    };
    row(out, "cosine, held out", hu, hp);
    let met = |cal: f64, held: Option<f64>| {
        let held = held.map_or("-", |h| yes_no(c.goal.is_met(h)));
        format!("{} / {held}", yes_no(c.goal.is_met(cal)))
    };
    row(
        out,
        "target met (cal / held)",
        met(best.accuracy, c.holdout.map(|h| h.uniform)),
        met(o.accuracy, c.holdout.map(|h| h.per_layer)),
    );
    let _ = writeln!(
        out,
        "per-layer vs uniform: {} cycles (descent from {} won)",
        signed_difference(per_layer, best.cycles),
        o.start.name()
    );
}

fn reuse(out: &mut String, c: &Calibration) {
    let r = c.reuse;
    let total = r.layers_run.saturating_add(r.layers_skipped);
    let _ = writeln!(
        out,
        "\nsearch: {} choices of keeps measured; {} interpreter runs over the calibration \
         inputs, {} resumed from a checkpoint past the first attention layer; {} of {} \
         attention-layer evaluations reused from checkpoints",
        c.outcome.measured, r.runs, r.resumed_past_first_layer, r.layers_skipped, total
    );
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// `208 (1.90%)` of `dense`.
fn saved_text(dense: u64, cycles: u64) -> String {
    let saved = dense.saturating_sub(cycles);
    if dense == 0 {
        return saved.to_string();
    }
    format!("{saved} ({:.2}%)", saved as f64 * 100.0 / dense as f64)
}

/// `-56` or `+0`.
fn signed_difference(a: u64, b: u64) -> String {
    if a < b {
        format!("-{}", b - a)
    } else {
        format!("+{}", a - b)
    }
}
