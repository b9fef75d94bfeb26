//! `sofa calibrate` end to end through the real binary, on the developer fixture
//! `bert_sdpa_ts_op17` (two attention layers): calibrated on `input.npz` (batch 2, 8 tokens),
//! `input2.npz` (batch 3, 13 tokens) held out, target cosine 0.98.

mod common;
use common::cli::{ok, s, scratch, sofa};

use std::path::Path;

use sofa_compiler::passes::sparsify::parse_layers;

const MODEL: &str = "tests/fixtures/models/bert_sdpa_ts_op17.onnx";
const CALIBRATION: &str = "tests/fixtures/models/bert_sdpa_ts_op17.input.npz";
const HELD_OUT: &str = "tests/fixtures/models/bert_sdpa_ts_op17.input2.npz";
const TARGET: f64 = 0.98;

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Calibrate the fixture, writing the TOML to `toml` (and the report to `report`); stdout.
fn calibrate(toml: &Path, report: Option<&Path>) -> String {
    let report = report.map(s);
    let extra: Vec<&str> = match &report {
        Some(r) => vec!["--report", r],
        None => Vec::new(),
    };
    calibrate_with(toml, &extra)
}

/// Calibrate the fixture, writing the TOML to `toml`, with `extra` arguments; stdout.
fn calibrate_with(toml: &Path, extra: &[&str]) -> String {
    let toml = s(toml);
    let mut args = vec![
        "calibrate",
        MODEL,
        "--inputs",
        CALIBRATION,
        HELD_OUT,
        "--target",
        "cosine=0.98",
        "-o",
        &toml,
    ];
    args.extend(extra);
    text(&ok(&args).stdout)
}

/// The two figures of a side-by-side row: (best uniform, per-layer).
fn side_by_side(report: &str, row: &str) -> (String, String) {
    let line = report
        .lines()
        .find(|l| l.starts_with(row))
        .unwrap_or_else(|| panic!("no row '{row}' in:\n{report}"));
    let cells: Vec<&str> = line[row.len()..].split_whitespace().collect();
    (cells[0].to_string(), cells[1].to_string())
}

fn figures(report: &str, row: &str) -> (f64, f64) {
    let (u, p) = side_by_side(report, row);
    (u.parse().unwrap(), p.parse().unwrap())
}

/// Sum of `latency_cycles` over the layers of a `schedule-json`.
fn scheduled_cycles(json: &[u8]) -> u64 {
    let v: serde_json::Value = serde_json::from_slice(json).unwrap();
    v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["latency_cycles"].as_u64().unwrap())
        .sum()
}

#[test]
fn per_layer_keeps_beat_the_best_uniform_keep_and_meet_the_target_on_held_out_inputs() {
    let dir = scratch("cli-calibrate", "figures");
    let toml = dir.join("layers.toml");
    let report = calibrate(&toml, None);
    assert!(
        report.contains(&format!(
            "held-out inputs: {HELD_OUT} (--holdout 1: the last 1 of --inputs)"
        )),
        "{report}"
    );
    assert!(report.contains(&format!("calibration inputs: {CALIBRATION}\n")));

    let (uniform, per_layer) = figures(&report, "predicted cycles");
    // The fixture's layers differ in sensitivity: layer 1 goes below the uniform keep.
    assert!(per_layer < uniform, "{report}");
    for row in ["cosine, calibration", "cosine, held out"] {
        let (u, p) = figures(&report, row);
        assert!(u >= TARGET && p >= TARGET, "{row}: {u} {p}\n{report}");
    }
    // `yes / yes` for the uniform keep and for the per-layer choice.
    assert_eq!(
        report
            .lines()
            .find(|l| l.starts_with("target met"))
            .unwrap()
            .matches("yes")
            .count(),
        4
    );

    // The TOML holds one keep per layer, the uniform best is keep 0.75, and the cost model
    // prices the written file at the reported total (the table is exact, not an estimate).
    let written = std::fs::read_to_string(&toml).unwrap();
    let layers = parse_layers(&written).unwrap();
    let keeps: Vec<f64> = layers.values().map(|l| l.keep.unwrap()).collect();
    assert_eq!(keeps, [0.75, 0.5], "{written}");
    assert!(report.contains("best uniform keep: 0.75 ("), "{report}");
    let compile = |extra: &[&str]| {
        let mut args = vec![
            "compile",
            MODEL,
            "--shape",
            "batch=2,seq=8",
            "--emit",
            "schedule-json",
        ];
        args.extend(extra);
        scheduled_cycles(&ok(&args).stdout)
    };
    let toml_arg = s(&toml);
    assert_eq!(compile(&["--layers", &toml_arg]) as f64, per_layer);
    assert_eq!(compile(&["--keep-ratio", "0.75"]) as f64, uniform);
    let (uniform_saved, _) = side_by_side(&report, "saved vs dense");
    assert_eq!(
        compile(&[]) as f64 - uniform,
        uniform_saved.parse::<f64>().unwrap()
    );
}

#[test]
fn the_same_inputs_give_the_same_toml_and_report_byte_for_byte() {
    let dir = scratch("cli-calibrate", "determinism");
    let (a, b, r) = (dir.join("a.toml"), dir.join("b.toml"), dir.join("r.txt"));
    let first = calibrate(&a, None);
    let second = calibrate(&b, Some(&r));
    assert_eq!(first, second);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_eq!(std::fs::read_to_string(&r).unwrap(), second);
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "no temporary files left: {names:?}");
}

#[test]
fn the_toml_runs_through_layers_on_sofa_run_and_wins_over_keep_ratio() {
    let dir = scratch("cli-calibrate", "run");
    let toml = dir.join("layers.toml");
    calibrate(&toml, None);
    let toml = s(&toml);
    let out = text(&ok(&["run", MODEL, "--inputs", HELD_OUT, "--layers", &toml]).stdout);
    // The simulator's sparse outputs, against the interpreter's dense ones.
    let cosines: Vec<f64> = out
        .lines()
        .filter(|l| l.starts_with("vs dense "))
        .map(|l| {
            let tail = l.split("cosine similarity ").nth(1).unwrap();
            tail.split(',').next().unwrap().parse().unwrap()
        })
        .collect();
    assert_eq!(cosines.len(), 2, "{out}");
    assert!(cosines.iter().all(|&c| c >= TARGET), "{out}");
    // The file sets every layer, so --keep-ratio changes nothing.
    let with_keep = ok(&[
        "run",
        MODEL,
        "--inputs",
        HELD_OUT,
        "--layers",
        &toml,
        "--keep-ratio",
        "0.125",
    ]);
    assert_eq!(text(&with_keep.stdout), out);
}

#[test]
fn shape_prices_the_search_at_other_dims() {
    let dir = scratch("cli-calibrate", "shape");
    let toml = dir.join("layers.toml");
    let t = s(&toml);
    let out = ok(&[
        "calibrate",
        MODEL,
        "--inputs",
        CALIBRATION,
        HELD_OUT,
        "--target",
        "cosine=0.98",
        "--shape",
        "seq=64",
        "-o",
        &t,
    ]);
    let report = text(&out.stdout);
    assert!(
        report.contains("attention layers at batch=2,seq=64 on sofa-28nm"),
        "{report}"
    );
    let (uniform, per_layer) = figures(&report, "predicted cycles");
    assert!(per_layer < uniform, "{report}");
    let json = ok(&[
        "compile",
        MODEL,
        "--shape",
        "batch=2,seq=64",
        "--layers",
        &t,
        "--emit",
        "schedule-json",
    ]);
    assert_eq!(scheduled_cycles(&json.stdout) as f64, per_layer);
    let out = sofa(&[
        "calibrate",
        MODEL,
        "--inputs",
        CALIBRATION,
        "--target",
        "cosine=0.98",
        "--shape",
        "sek=64",
        "-o",
        &t,
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("the model has no named dim 'sek' (it has: batch, seq)"),
        "{err}"
    );
}

#[test]
fn bad_input_is_named_and_writes_nothing() {
    let dir = scratch("cli-calibrate", "errors");
    let toml = dir.join("layers.toml");
    let t = s(&toml);
    let missing = s(&dir.join("missing.npz"));
    let out = sofa(&[
        "calibrate",
        MODEL,
        "--inputs",
        CALIBRATION,
        &missing,
        "--holdout",
        "0",
        "--target",
        "cosine=0.9",
        "-o",
        &t,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(&missing),
        "{}",
        text(&out.stderr)
    );
    let out = sofa(&[
        "calibrate",
        MODEL,
        "--inputs",
        CALIBRATION,
        "--holdout",
        "1",
        "--target",
        "cosine=0.9",
        "-o",
        &t,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--holdout 1 leaves no calibration input"));
    let out = sofa(&[
        "calibrate",
        MODEL,
        "--inputs",
        CALIBRATION,
        "--keeps",
        "0.5,0.25",
        "--target",
        "cosine=0.9",
        "-o",
        &t,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("it must contain 1 (dense)"));
    assert!(!toml.exists());

    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[[layer]]\nindex = 0\nkepp = 0.5\n").unwrap();
    let out = sofa(&["run", MODEL, "--inputs", CALIBRATION, "--layers", &s(&bad)]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains(&s(&bad)) && err.contains("kepp"), "{err}");
    // --layers feeds the compile pipeline: a compiled program or the interpreter refuse it.
    std::fs::write(&bad, "[[layer]]\nindex = 0\nkeep = 0.5\n").unwrap();
    let prog = s(&dir.join("bert.sofabin"));
    ok(&["compile", MODEL, "--shape", "batch=2,seq=8", "-o", &prog]);
    for args in [
        &["run", &prog, "--inputs", CALIBRATION, "--layers", &s(&bad)][..],
        &[
            "run",
            MODEL,
            "--reference",
            "--inputs",
            CALIBRATION,
            "--layers",
            &s(&bad),
        ],
    ] {
        let out = sofa(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains("--layers"),
            "{}",
            text(&out.stderr)
        );
    }
    std::fs::write(&bad, "[[layer]]\nindex = 7\nkeep = 0.5\n").unwrap();
    let out = sofa(&["run", MODEL, "--inputs", CALIBRATION, "--layers", &s(&bad)]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("name layer 7, but the module has 2 attention layer(s)"),
        "{err}"
    );
}

/// `--plot`: the per-layer choice as an SVG — a bar and a point per attention layer, the target
/// and the best uniform keep — written with the TOML, the same bytes each run.
#[test]
fn the_choice_is_drawn_as_svg() {
    let dir = scratch("cli-calibrate", "plot");
    let draw = |name: &str| {
        let (toml, svg) = (
            dir.join(format!("{name}.toml")),
            dir.join(format!("{name}.svg")),
        );
        calibrate_with(&toml, &["--plot", &s(&svg)]);
        std::fs::read_to_string(&svg).unwrap()
    };
    let (a, b) = (draw("a"), draw("b"));
    assert_eq!(a, b, "same inputs, same bytes");
    assert!(a.starts_with("<svg") && a.trim_end().ends_with("</svg>"));
    // The title, with `>` escaped as XML needs.
    assert!(a.contains("per-layer keeps for cosine &gt;= 0.98"), "{a}");
    // Two layers: two cosine points and the legend's marker.
    assert_eq!(a.matches("<circle").count(), 2 + 1);
    assert!(a.contains("best uniform keep") && a.contains("target cosine"));
}

/// How many choices the search measured (the report's last paragraph).
fn choices_measured(report: &str) -> u64 {
    let tail = report.split("search: ").nth(1).unwrap();
    tail.split(' ').next().unwrap().parse().unwrap()
}

/// `--tiles` adds pinned tile counts to the search: they are priced per layer and measured,
/// the report says so, the written TOML prices as the report predicts, and a `tiles` in a
/// layers file pins that layer's `Tc` through compilation (it used to be re-planned away).
#[test]
fn tile_counts_are_searched_and_a_pinned_count_survives_compilation() {
    let dir = scratch("cli-calibrate", "tiles");
    // Priced at one sequence of 40 tokens, where pinned tilings cost less than the keeps
    // above them (at 2 × 64 tokens, blocks packing both sequences' heads, none does).
    const SHAPE: &str = "batch=1,seq=40";
    let plain = calibrate_with(&dir.join("plain.toml"), &["--shape", SHAPE]);
    let toml = dir.join("tiled.toml");
    let tiled = calibrate_with(&toml, &["--shape", SHAPE, "--tiles", "2,4"]);
    assert!(
        tiled.contains("tile grid: the cost model's, 2, 4 (pinned per layer"),
        "{tiled}"
    );
    assert!(
        tiled.contains("\nlayer  keep    tiles  cycles dense"),
        "{tiled}"
    );
    assert!(!plain.contains("tile grid"), "{plain}");
    // The pinned counts are candidates: measured beyond the keeps alone.
    assert!(
        choices_measured(&tiled) > choices_measured(&plain),
        "{plain}\n{tiled}"
    );
    let compile = |layers: &str| {
        let args = [
            "compile",
            MODEL,
            "--shape",
            SHAPE,
            "--layers",
            layers,
            "--emit",
            "schedule-json",
        ];
        let json: serde_json::Value = serde_json::from_slice(&ok(&args).stdout).unwrap();
        json["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["tc"].as_u64().unwrap(),
                    l["latency_cycles"].as_u64().unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    let (_, per_layer) = figures(&tiled, "predicted cycles");
    let priced: u64 = compile(&s(&toml)).iter().map(|&(_, c)| c).sum();
    assert_eq!(priced as f64, per_layer);
    // By hand: layer 0 pinned to 4 tiles, layer 1 left to the cost model (1 tile here).
    let pinned = dir.join("pinned.toml");
    std::fs::write(
        &pinned,
        "[[layer]]\nindex = 0\nkeep = 0.25\ntiles = 4\n\n[[layer]]\nindex = 1\nkeep = 0.25\n",
    )
    .unwrap();
    let layers = compile(&s(&pinned));
    assert_eq!((layers[0].0, layers[1].0), (4, 1), "{layers:?}");
    assert!(layers[0].1 > layers[1].1, "{layers:?}");
}
