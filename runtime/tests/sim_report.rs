//! Reports and traces: energy terms traced to config keys, stable JSON, Chrome trace shape.

mod sim_common;

use sim_common::*;
use sofa_ir::hw::HwConfig;
use sofa_runtime::sim::{Report, ReportError, REPORT_FORMAT, REPORT_VERSION};

/// Whether `key` (`section.field`) names an entry of the hardware configuration.
fn is_config_key(hw_json: &serde_json::Value, key: &str) -> bool {
    let mut v = hw_json;
    for part in key.split('.') {
        match v.get(part) {
            Some(next) => v = next,
            None => return false,
        }
    }
    v.is_u64()
}

#[test]
fn energy_terms_sum_to_the_total_and_each_names_its_config_key() {
    let hw = HwConfig::default();
    let hw_json: serde_json::Value = serde_json::from_str(&hw.to_json_string().unwrap()).unwrap();
    let r = timing(&program(THREE_ENGINES), false).unwrap().report;
    let e = &r.energy;
    let sum: u64 = e.terms.iter().map(|t| t.energy_fj).sum();
    assert_eq!(sum, e.total_fj);
    for t in &e.terms {
        assert!(
            is_config_key(&hw_json, &t.key),
            "{} -> {}",
            t.component,
            t.key
        );
        let value = t.key.split('.').fold(&hw_json, |v, k| &v[k]).as_u64();
        assert_eq!(value, Some(t.rate), "{}", t.key);
    }
    let term = |c: &str| e.terms.iter().find(|t| t.component == c).unwrap();
    // kvpe busy 2314 cycles at 146_210 µW and 1000 MHz: 2314 · 146_210 fJ.
    assert_eq!(term("kvpe.busy").energy_fj, 2314 * 146_210);
    assert_eq!(term("kvpe.busy").key, "kvpe.power_uw");
    // 1024 bytes loaded + 2048 stored.
    assert_eq!(term("dram.device").energy_fj, 3072 * 32_107);
    assert_eq!(term("dram.interface").energy_fj, 3072 * 8_863);
    assert_eq!(e.total_uj, e.total_fj as f64 / 1e9);
}

#[test]
fn explain_energy_lists_every_term_with_its_key() {
    let r = timing(&program(THREE_ENGINES), false).unwrap().report;
    let text = r.explain_energy();
    for t in &r.energy.terms {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(&t.component))
            .unwrap_or_else(|| panic!("no line for {}: {text}", t.component));
        assert!(line.contains(&t.key), "{line}");
        assert!(line.ends_with(&format!("= {} fJ", t.energy_fj)), "{line}");
    }
    assert!(
        text.contains("2314 cycles x kvpe.power_uw (146210 uW) x 1000 / clock.freq_mhz (1000)"),
        "{text}"
    );
    assert!(text.contains(&format!("total              {} fJ", r.energy.total_fj)));
}

#[test]
fn report_json_round_trips_and_is_byte_identical_across_runs() {
    let p = program(LIST_CHAIN);
    let a = timing(&p, false).unwrap().report;
    let b = timing(&p, false).unwrap().report;
    let (ja, jb) = (a.to_json().unwrap(), b.to_json().unwrap());
    assert_eq!(ja, jb);
    let back = Report::from_json(&ja).unwrap();
    assert_eq!(back, a);
    assert_eq!(back.to_json().unwrap(), ja);
    let v: serde_json::Value = serde_json::from_str(&ja).unwrap();
    assert_eq!(v["format"], REPORT_FORMAT);
    assert_eq!(v["version"], REPORT_VERSION);
    assert_eq!(v["total_cycles"], LIST_CHAIN_TOTAL);
    assert_eq!(v["mode"], "timing-only");
    // No SADS: not a prediction program, so no sparse section.
    assert_eq!(v["sparse"], serde_json::Value::Null);
}

#[test]
fn a_timing_only_sparse_report_has_unknown_recall() {
    let r = timing(&isa_example(), false).unwrap().report;
    let s = r.sparse.as_ref().expect("the example has a SADS");
    assert_eq!(s.sads_instructions, 1);
    assert_eq!((s.recall, s.max_assurance_events), (None, None));
    let json = r.to_json().unwrap();
    assert!(json.contains("\"recall\": null"), "{json}");
    assert_eq!(Report::from_json(&json).unwrap(), r);
}

#[test]
fn a_report_of_another_version_is_rejected() {
    let r = timing(&program(THREE_ENGINES), false).unwrap().report;
    let text = r
        .to_json()
        .unwrap()
        .replace(&format!("\"version\": {REPORT_VERSION}"), "\"version\": 1");
    assert!(matches!(
        Report::from_json(&text),
        Err(ReportError::Format { version: 1, .. })
    ));
}

#[test]
fn trace_has_one_track_per_engine_used_and_one_slice_per_instruction() {
    let p = program(THREE_ENGINES);
    let out = timing(&p, true).unwrap();
    let v: serde_json::Value = serde_json::from_str(out.trace.as_deref().unwrap()).unwrap();
    let events = v["traceEvents"].as_array().unwrap();
    let mut names: Vec<(u64, &str)> = events
        .iter()
        .filter(|e| e["name"] == "thread_name")
        .map(|e| {
            (
                e["tid"].as_u64().unwrap(),
                e["args"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        vec![(0, "dma"), (3, "kvpe"), (5, "vec"), (6, "ctrl")]
    );
    let slices: Vec<&serde_json::Value> = events.iter().filter(|e| e["ph"] == "X").collect();
    assert_eq!(slices.len(), p.instrs.len());
    // #0 LD: 102 cycles at 1 GHz from 0; the asm text names the tensor.
    let ld = slices.iter().find(|e| e["args"]["instr"] == 0).unwrap();
    assert_eq!(ld["name"], "LD");
    assert_eq!(
        (ld["ts"].as_f64(), ld["dur"].as_f64()),
        (Some(0.0), Some(0.102))
    );
    assert!(ld["args"]["asm"].as_str().unwrap().ends_with("; @x"));
    // #9 WAIT on dma: reached at 103, passes at 2313, one cycle.
    let wait = slices.iter().find(|e| e["args"]["instr"] == 9).unwrap();
    assert_eq!(wait["args"]["blocked_cycles"], 2210);
    assert_eq!(
        (wait["ts"].as_f64(), wait["dur"].as_f64()),
        (Some(0.103), Some(2.211))
    );
    assert!(timing(&p, false).unwrap().trace.is_none());
}

#[test]
fn the_table_shows_totals_engines_and_energy() {
    let r = timing(&program(THREE_ENGINES), false).unwrap().report;
    let t = r.to_table();
    assert!(t.contains("12 instructions, 2419 cycles = 2.419 us"), "{t}");
    assert!(
        t.lines()
            .any(|l| l.starts_with("kvpe") && l.contains("2314") && l.ends_with("95.7%")),
        "{t}"
    );
    let total = format!(" {} (0.492 uJ)", r.energy.total_fj);
    assert!(
        t.lines()
            .any(|l| l.starts_with("total") && l.ends_with(&total)),
        "{t}"
    );
}
