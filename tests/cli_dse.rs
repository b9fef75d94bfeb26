//! `sofa dse` end to end through the real binary, on `examples/dse/tiny.toml` (8 points:
//! sram.token_bytes × dram.bandwidth_mb_s × keep over a one-layer workload).

mod common;
use common::cli::{ok, s, scratch, sofa, BIN, ROOT};

use std::process::Command;

const TINY: &str = "examples/dse/tiny.toml";

fn lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_sweep_writes_every_point_and_the_front_deterministically() {
    let dir = scratch("cli-dse", "sweep");
    let (a, b) = (dir.join("a.jsonl"), dir.join("b.jsonl"));
    let out = ok(&["dse", TINY, "-o", &s(&a)]);
    ok(&["dse", TINY, "-o", &s(&b), "--quiet"]);
    let text = std::fs::read_to_string(&a).unwrap();
    assert_eq!(
        text.as_bytes(),
        std::fs::read(&b).unwrap(),
        "same spec, same bytes"
    );
    let stdout = ok(&["dse", TINY, "--quiet"]).stdout;
    assert_eq!(stdout, text.as_bytes(), "stdout carries the same bytes");

    let v = lines(&text);
    assert_eq!(v.len(), 1 + 8);
    assert_eq!(v[0]["points"], 8);
    assert_eq!(v[0]["axes"][2], "keep");
    for (i, p) in v[1..].iter().enumerate() {
        assert_eq!(p["index"], i as u64);
    }
    // Point 6: token SRAM 192 KB (the paper's), 512 GB/s, keep 0.25. Its area is the
    // paper's chip (Table III's 5.694 mm²) plus the vector unit (0.219 mm²).
    let p6 = &v[7];
    assert_eq!(p6["values"]["sram.token_bytes"], 196_608);
    assert_eq!(p6["values"]["keep"], 0.25);
    assert_eq!(p6["area_um2"], 5_694_000 + 218_750);
    // Half the token SRAM: 96 KB less at 1.536 µm² per byte.
    assert_eq!(v[1]["area_um2"], 5_912_750 - 150_987);
    // The latency is the cost model's: what schedule-json reports for the same chip and keep.
    let json = ok(&[
        "compile",
        "--workload",
        "examples/dse/tiny-workload.toml",
        "--keep-ratio",
        "0.25",
    ])
    .stdout;
    let sched: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(p6["latency_cycles"], sched["totals"]["latency_cycles"]);
    assert_eq!(p6["energy_fj"], sched["totals"]["energy_fj"]);
    assert_eq!(
        p6["latency_ns"], p6["latency_cycles"],
        "1 GHz: one cycle is 1 ns"
    );
    // Sparse attention is faster than dense on this layer.
    assert!(v[7]["latency_cycles"].as_u64() < v[8]["latency_cycles"].as_u64());

    // The front: at keep 0.25 and 512 GB/s, the smaller SRAM is smaller and spends less
    // energy, the larger one is faster; every other point is dominated.
    let front = std::fs::read_to_string(dir.join("a.pareto.jsonl")).unwrap();
    let f = lines(&front);
    assert_eq!(f[0], v[0]);
    let idx: Vec<u64> = f[1..]
        .iter()
        .map(|p| p["index"].as_u64().unwrap())
        .collect();
    assert_eq!(idx, vec![2, 6]);
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.starts_with(
            "Pareto front of 'tiny' over latency, energy, area: 2 of 8 points (0 infeasible)\n"
        ),
        "{table}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("8 points of 8 evaluated"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_specs_are_named_errors() {
    let dir = scratch("cli-dse", "errors");
    let spec = dir.join("s.toml");
    let write = |text: &str| {
        std::fs::write(&spec, text).unwrap();
    };
    let workload = format!("{ROOT}/examples/dse/tiny-workload.toml");
    let head = format!("objectives = [\"area\"]\n[target]\nworkload = \"{workload}\"\n");
    write(&format!(
        "{head}[[axis]]\nkey = \"dram.bandwith_mb_s\"\nvalues = [1]\n"
    ));
    let out = sofa(&["dse", &s(&spec)]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("s.toml:5:7: unknown axis key 'dram.bandwith_mb_s'"),
        "{err}"
    );
    // A value the config accepts alone but whose chip breaks a rule: an infeasible point.
    write(&format!(
        "{head}[[axis]]\nkey = \"sram.temp_bytes\"\nvalues = [0, 28672]\n"
    ));
    let out = ok(&["dse", &s(&spec), "--quiet"]);
    let v = lines(&String::from_utf8(out.stdout).unwrap());
    assert!(
        v[1]["error"].as_str().unwrap().contains("sram.temp_bytes"),
        "{}",
        v[1]
    );
    assert!(v[1].get("area_um2").is_none());
    assert!(v[2]["area_um2"].is_u64());
    // --help explains sharding and resume, not only the one-line summary.
    let help = String::from_utf8(ok(&["dse", "--help"]).stdout).unwrap();
    assert!(
        help.contains("resumes") && help.contains("I modulo N"),
        "{help}"
    );
    // Usage errors.
    assert_eq!(
        sofa(&["dse", TINY, "--shard", "4/4"]).status.code(),
        Some(2)
    );
    assert_eq!(sofa(&["dse"]).status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn four_shards_merged_equal_the_unsharded_run_byte_for_byte() {
    let dir = scratch("cli-dse", "shards");
    let whole = dir.join("whole.jsonl");
    ok(&["dse", TINY, "-o", &s(&whole), "--quiet"]);
    let mut shards = Vec::new();
    for i in 0..4 {
        let p = dir.join(format!("shard-{i}.jsonl"));
        let out = ok(&["dse", TINY, "--shard", &format!("{i}/4"), "-o", &s(&p)]);
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(&format!("shard {i}/4: 2 points of 8"))
        );
        let v = lines(&std::fs::read_to_string(&p).unwrap());
        assert_eq!(v[0]["shard"], format!("{i}/4"));
        let idx: Vec<u64> = v[1..]
            .iter()
            .map(|p| p["index"].as_u64().unwrap())
            .collect();
        assert_eq!(
            idx,
            vec![i, i + 4],
            "shard {i}/4 holds the points ≡ {i} mod 4"
        );
        shards.push(s(&p));
    }
    assert!(
        !dir.join("shard-0.pareto.jsonl").exists(),
        "a shard writes no front"
    );
    // In any order.
    let merged = dir.join("merged.jsonl");
    let mut args = vec![
        "dse", "merge", &shards[2], &shards[0], &shards[3], &shards[1],
    ];
    let m = s(&merged);
    args.extend(["-o", &m]);
    let out = ok(&args);
    assert_eq!(
        std::fs::read(&merged).unwrap(),
        std::fs::read(&whole).unwrap()
    );
    assert_eq!(
        std::fs::read(dir.join("merged.pareto.jsonl")).unwrap(),
        std::fs::read(dir.join("whole.pareto.jsonl")).unwrap()
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 of 8 points"));

    // A missing shard, or one cut short, is refused and nothing is written.
    let bad = dir.join("bad.jsonl");
    let out = sofa(&[
        "dse",
        "merge",
        &shards[0],
        &shards[1],
        &shards[2],
        "-o",
        &s(&bad),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lack 2 of the 8 points (first: 3)"), "{err}");
    let text = std::fs::read_to_string(&shards[3]).unwrap();
    std::fs::write(&shards[3], &text[..text.len() - 10]).unwrap();
    let out = sofa(&[
        "dse",
        "merge",
        &shards[0],
        &shards[1],
        &shards[2],
        &shards[3],
        "-o",
        &s(&bad),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cut short"));
    assert!(!bad.exists());
    // The shard resumes: only its missing point is evaluated.
    let out = ok(&["dse", TINY, "--shard", "3/4", "-o", &shards[3]]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("(1 resumed from the output)"));
    assert_eq!(std::fs::read_to_string(&shards[3]).unwrap(), text);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_truncated_output_resumes_to_the_same_bytes() {
    let dir = scratch("cli-dse", "resume");
    let full = dir.join("full.jsonl");
    ok(&["dse", TINY, "-o", &s(&full), "--quiet"]);
    let text = std::fs::read_to_string(&full).unwrap();
    // Cut in the middle of point 3's line (the header and points 0..2 are whole).
    let cut = text.match_indices('\n').nth(3).unwrap().0 + 40;
    let partial = dir.join("partial.jsonl");
    std::fs::write(&partial, &text[..cut]).unwrap();
    let out = ok(&["dse", TINY, "-o", &s(&partial)]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("8 points of 8 evaluated (3 resumed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&partial).unwrap(), text);
    // A header cut short holds nothing: all points are evaluated again.
    std::fs::write(&partial, &text[..20]).unwrap();
    let out = ok(&["dse", TINY, "-o", &s(&partial)]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("(0 resumed"));
    assert_eq!(std::fs::read_to_string(&partial).unwrap(), text);

    // Another spec's output is refused and left as it was.
    let other = dir.join("other.toml");
    std::fs::write(
        &other,
        std::fs::read_to_string(format!("{ROOT}/{TINY}"))
            .unwrap()
            .replace("[0.25, 1.0]", "[0.5, 1.0]")
            .replace(
                "tiny-workload.toml",
                &format!("{ROOT}/examples/dse/tiny-workload.toml"),
            ),
    )
    .unwrap();
    let out = sofa(&["dse", &s(&other), "-o", &s(&full)]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is not a resumable output of this spec"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&full).unwrap(), text);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_killed_run_resumes_to_the_same_bytes() {
    let dir = scratch("cli-dse", "kill");
    let full = dir.join("full.jsonl");
    ok(&["dse", TINY, "-o", &s(&full), "--quiet"]);
    let killed = dir.join("killed.jsonl");
    let mut child = Command::new(BIN)
        .args(["dse", TINY, "--quiet", "-o", &s(&killed)])
        .current_dir(ROOT)
        .spawn()
        .unwrap();
    // Kill it once it has written a few points (if it finishes first, the rerun resumes all).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        let n = std::fs::read_to_string(&killed).map_or(0, |t| t.lines().count());
        if n >= 3 || child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
    ok(&["dse", TINY, "-o", &s(&killed), "--quiet"]);
    assert_eq!(
        std::fs::read(&killed).unwrap(),
        std::fs::read(&full).unwrap()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--plot`: an SVG of every feasible point with the front marked, the same bytes each run;
/// refused for a shard, which does not hold every point.
#[test]
fn the_front_is_drawn_as_svg() {
    let dir = scratch("cli-dse", "plot");
    let (a, b) = (dir.join("a.svg"), dir.join("b.svg"));
    ok(&["dse", TINY, "--quiet", "--plot", &s(&a)]);
    ok(&["dse", TINY, "--quiet", "--plot", &s(&b)]);
    let svg = std::fs::read_to_string(&a).unwrap();
    assert_eq!(
        svg.as_bytes(),
        std::fs::read(&b).unwrap(),
        "same spec, same bytes"
    );
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("tiny: 8 points, 2 on the Pareto front of latency, energy, area"));
    assert!(svg.contains("latency (us)") && svg.contains("energy (uJ)"));
    // The 8 points (2 of them red, on the front) and the two legend markers.
    assert_eq!(svg.matches("<circle").count(), 8 + 2);
    assert_eq!(svg.matches("fill=\"#C82828\"").count(), 2 + 1);
    let shard = sofa(&[
        "dse",
        TINY,
        "--shard",
        "0/2",
        "--plot",
        &s(&dir.join("c.svg")),
    ]);
    assert!(!shard.status.success());
    assert!(String::from_utf8_lossy(&shard.stderr).contains("need every point"));
    assert!(!dir.join("c.svg").exists());
}

const TPE: &str = "examples/dse/tiny-tpe.toml";

/// `examples/dse/tiny-tpe.toml` with its `[search]` replaced by `search` (empty: exhaustive),
/// written to `dir` with the workload's path made absolute.
fn tpe_variant(dir: &std::path::Path, name: &str, search: &str) -> String {
    let text = std::fs::read_to_string(format!("{ROOT}/{TPE}")).unwrap();
    let (body, _) = text.split_once("[search]").unwrap();
    let body = body.replace(
        "tiny-workload.toml",
        &format!("{ROOT}/examples/dse/tiny-workload.toml"),
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, format!("{body}{search}")).unwrap();
    s(&path)
}

/// The points of an output, ordered by trial when it has trials.
fn points_by_trial(path: &std::path::Path) -> Vec<serde_json::Value> {
    let mut v = lines(&std::fs::read_to_string(path).unwrap());
    v.remove(0);
    v.sort_by_key(|p| p["trial"].as_u64());
    v
}

/// The least latency among `points`, and the first trial within `slack` of `optimum`.
fn best_and_first_within(
    points: &[serde_json::Value],
    optimum: u64,
    slack: f64,
) -> (u64, Option<usize>) {
    let lat: Vec<u64> = points
        .iter()
        .filter_map(|p| p["latency_ns"].as_u64())
        .collect();
    let best = lat.iter().copied().min().unwrap();
    let first = lat
        .iter()
        .position(|&l| l as f64 <= optimum as f64 * (1.0 + slack));
    (best, first)
}

/// TPE on 25% of a 512-point space finds the exhaustive optimum's latency within 3%, and
/// sooner than a random sample of the same budget and seed; every point it evaluates has the
/// exhaustive sweep's figures; the same spec gives the same bytes.
#[test]
fn tpe_finds_a_near_optimal_point_with_a_quarter_of_the_space() {
    let dir = scratch("cli-dse", "tpe");
    let all = dir.join("all.jsonl");
    ok(&[
        "dse",
        &tpe_variant(&dir, "all", ""),
        "-o",
        &s(&all),
        "--quiet",
    ]);
    let every = points_by_trial(&all);
    assert_eq!(every.len(), 512);
    let optimum = every
        .iter()
        .filter_map(|p| p["latency_ns"].as_u64())
        .min()
        .unwrap();

    let tpe = dir.join("tpe.jsonl");
    let out = ok(&["dse", TPE, "-o", &s(&tpe)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("128 points of 512 evaluated by tpe search (budget 128, seed 1)"),
        "{err}"
    );
    let header = &lines(&std::fs::read_to_string(&tpe).unwrap())[0];
    assert_eq!(header["search"]["method"], "tpe");
    assert_eq!(header["search"]["budget"], 128);
    let tpe_points = points_by_trial(&tpe);
    let trials: Vec<u64> = tpe_points
        .iter()
        .map(|p| p["trial"].as_u64().unwrap())
        .collect();
    assert_eq!(trials, (0..128).collect::<Vec<_>>(), "one trial per point");
    for p in &tpe_points {
        let i = p["index"].as_u64().unwrap() as usize;
        let mut q = p.clone();
        q.as_object_mut().unwrap().remove("trial");
        assert_eq!(q, every[i], "point {i} as the exhaustive sweep priced it");
    }
    let random = dir.join("random.jsonl");
    let spec = tpe_variant(
        &dir,
        "random",
        "[search]\nmethod = \"random\"\nbudget = 128\nseed = 1\n",
    );
    ok(&["dse", &spec, "-o", &s(&random), "--quiet"]);
    let random_points = points_by_trial(&random);
    assert_eq!(random_points.len(), 128);

    let (tpe_best, tpe_first) = best_and_first_within(&tpe_points, optimum, 0.03);
    let (random_best, random_first) = best_and_first_within(&random_points, optimum, 0.03);
    println!(
        "512 points, optimum {optimum} ns; budget 128, seed 1: tpe best {tpe_best} ns \
         (+{:.2}%), first within 3% at trial {tpe_first:?}; random best {random_best} ns \
         (+{:.2}%), first within 3% at trial {random_first:?}",
        100.0 * (tpe_best as f64 / optimum as f64 - 1.0),
        100.0 * (random_best as f64 / optimum as f64 - 1.0),
    );
    assert!(
        tpe_best as f64 <= optimum as f64 * 1.03,
        "tpe {tpe_best} vs optimum {optimum}"
    );
    assert!(
        tpe_best <= random_best,
        "tpe {tpe_best} vs random {random_best}"
    );
    let tpe_first = tpe_first.unwrap();
    assert!(
        random_first.is_none_or(|r| tpe_first < r),
        "tpe reaches 3% at trial {tpe_first}, random at {random_first:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The tiny spec searched by TPE: 5 of its 8 points.
fn tiny_tpe(dir: &std::path::Path) -> String {
    let text = std::fs::read_to_string(format!("{ROOT}/{TINY}"))
        .unwrap()
        .replace(
            "tiny-workload.toml",
            &format!("{ROOT}/examples/dse/tiny-workload.toml"),
        );
    let path = dir.join("tiny-tpe.toml");
    std::fs::write(
        &path,
        format!("{text}\n[search]\nmethod = \"tpe\"\nbudget = 5\nseed = 3\n"),
    )
    .unwrap();
    s(&path)
}

/// An interrupted TPE run resumes by replaying its recorded points: the same bytes as an
/// uninterrupted run (which are the same on every run), and only the missing points evaluated.
#[test]
fn an_interrupted_tpe_search_resumes_to_the_same_bytes() {
    let dir = scratch("cli-dse", "tpe-resume");
    let spec = tiny_tpe(&dir);
    let full = dir.join("full.jsonl");
    ok(&["dse", &spec, "-o", &s(&full), "--quiet"]);
    let text = std::fs::read_to_string(&full).unwrap();
    assert_eq!(
        ok(&["dse", &spec, "--quiet"]).stdout,
        text.as_bytes(),
        "same spec and seed, same bytes"
    );
    let points = &lines(&text)[1..];
    assert_eq!(points.len(), 5);
    let mut trials: Vec<u64> = points
        .iter()
        .map(|p| p["trial"].as_u64().unwrap())
        .collect();
    trials.sort_unstable();
    assert_eq!(trials, vec![0, 1, 2, 3, 4]);

    // The run as it was after its first three trials, the fourth's line cut short. The
    // file is in index order; the run appends in trial order.
    let header = text.lines().next().unwrap();
    let mut by_trial: Vec<&str> = text.lines().skip(1).collect();
    by_trial
        .sort_by_key(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["trial"].as_u64());
    let partial = dir.join("partial.jsonl");
    let cut = format!(
        "{header}\n{}\n{}",
        by_trial[..3].join("\n"),
        &by_trial[3][..30]
    );
    std::fs::write(&partial, cut).unwrap();
    let out = ok(&["dse", &spec, "-o", &s(&partial)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("5 points of 8 evaluated by tpe search (budget 5, seed 3) (3 resumed"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&partial).unwrap(), text);

    // A recorded point at another trial than the replay reaches it is refused.
    let swapped = format!(
        "{header}\n{}\n",
        by_trial[1].replace("\"trial\":1", "\"trial\":0")
    );
    std::fs::write(&partial, &swapped).unwrap();
    let out = sofa(&["dse", &spec, "-o", &s(&partial)]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is recorded as trial 0, but this search reaches it as trial 1"),
        "{err}"
    );

    // A sequential search is not sharded, and its output is not merged.
    let out = sofa(&["dse", &spec, "--shard", "0/2"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot be split into shards"), "{err}");
    let out = sofa(&["dse", "merge", &s(&full), "-o", &s(&dir.join("m.jsonl"))]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to merge"));
    std::fs::remove_dir_all(&dir).unwrap();
}

const BERT: &str = "examples/dse/bert-onnx.toml";

/// A model target: the accuracy objective is 1 − the worst cosine to dense over the inputs,
/// the figure `sofa calibrate` reports for the same uniform keep, 0 when dense and growing as
/// the keep shrinks; hardware axes do not move it (measured once per selection); the front
/// trades latency for accuracy.
#[test]
fn a_model_target_measures_accuracy_as_calibrate_does() {
    let dir = scratch("cli-dse", "bert");
    let out_file = dir.join("bert.jsonl");
    let out = ok(&["dse", BERT, "-o", &s(&out_file)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("20 points of 20 evaluated (0 resumed from the output); accuracy measured for 5 distinct selection(s)"),
        "{err}"
    );
    let v = lines(&std::fs::read_to_string(&out_file).unwrap());
    let point = |sram: u64, schedule: &str, keep: f64| {
        v[1..]
            .iter()
            .find(|p| {
                p["values"]["sram.token_bytes"] == sram
                    && p["values"]["schedule"] == schedule
                    && p["values"]["keep"] == keep
            })
            .unwrap()
    };
    let loss = |p: &serde_json::Value| p["accuracy_loss"].as_f64().unwrap();
    let keeps = [1.0, 0.75, 0.5, 0.375, 0.25];
    let cct: Vec<f64> = keeps
        .iter()
        .map(|&k| loss(point(98304, "cct", k)))
        .collect();
    println!("bert-onnx, 1 - cosine at keeps {keeps:?}: {cct:?}");
    assert_eq!(cct[0], 0.0, "dense is exact");
    assert!(cct.windows(2).all(|w| w[0] < w[1]), "{cct:?}");
    for &k in &keeps {
        for (sram, schedule) in [(196608, "cct"), (98304, "staged"), (196608, "staged")] {
            assert_eq!(loss(point(sram, schedule, k)), loss(point(98304, "cct", k)));
        }
    }
    // The same measurement as `sofa calibrate` on the same inputs (its report prints the
    // cosine of each uniform keep to 6 decimals), and the same predicted cycles.
    let report = ok(&[
        "calibrate",
        "tests/fixtures/models/bert_sdpa_ts_op17.onnx",
        "--inputs",
        "tests/fixtures/models/bert_sdpa_ts_op17.input.npz",
        "tests/fixtures/models/bert_sdpa_ts_op17.input2.npz",
        "--holdout",
        "0",
        "--keeps",
        "1,0.75,0.5",
        "--target",
        "cosine=0.9",
        "-o",
        &s(&dir.join("layers.toml")),
    ])
    .stdout;
    let report = String::from_utf8(report).unwrap();
    for k in [0.75, 0.5] {
        let p = point(98304, "cct", k);
        let row = format!(
            "{k:<12}  {:>16}  {:.6}",
            p["latency_cycles"].as_u64().unwrap(),
            1.0 - loss(p)
        );
        assert!(report.contains(&row), "{row} in\n{report}");
    }
    // The front over latency × accuracy × area: every keep under cct on the smaller SRAM
    // (the larger one is as fast and as accurate, but larger; staged is slower).
    let front = lines(&std::fs::read_to_string(dir.join("bert.pareto.jsonl")).unwrap());
    let idx: Vec<u64> = front[1..]
        .iter()
        .map(|p| p["index"].as_u64().unwrap())
        .collect();
    assert_eq!(idx, vec![0, 1, 2, 3, 4]);
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("1-cosine"), "{table}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The `tiles` axis forces `cct-tile`'s key-tile count: a count no plan can take is an
/// infeasible point naming those it could; the cost model's own choice is the fastest forced
/// count; on a model, tiles change the selection and so the accuracy.
#[test]
fn a_tiles_axis_forces_the_key_tiles() {
    let dir = scratch("cli-dse", "tiles");
    let workload = format!("{ROOT}/examples/dse/tiny-workload.toml");
    let write = |name: &str, axes: &str| {
        let p = dir.join(name);
        std::fs::write(
            &p,
            format!("objectives = [\"latency\"]\n[target]\nworkload = \"{workload}\"\n{axes}"),
        )
        .unwrap();
        s(&p)
    };
    let keep = "[[axis]]\nkey = \"keep\"\nvalues = [0.25]\n";
    let forced = write(
        "forced.toml",
        &format!("[[axis]]\nkey = \"tiles\"\nvalues = [1, 2, 3, 4, 8, 16, 32, 64]\n{keep}"),
    );
    let v = lines(&String::from_utf8(ok(&["dse", &forced, "--quiet"]).stdout).unwrap());
    let by_tiles: Vec<(u64, Option<u64>)> = v[1..]
        .iter()
        .map(|p| {
            (
                p["values"]["tiles"].as_u64().unwrap(),
                p["latency_ns"].as_u64(),
            )
        })
        .collect();
    println!("tiny workload, keep 0.25, latency by forced tiles: {by_tiles:?}");
    let infeasible: Vec<u64> = by_tiles
        .iter()
        .filter(|(_, l)| l.is_none())
        .map(|t| t.0)
        .collect();
    assert_eq!(infeasible, vec![1, 3, 64], "Sk 256: even counts 2..=32");
    let e = v[1]["error"].as_str().unwrap();
    assert!(
        e.contains("layer 0: no plan has 1 key tiles (Sk 256; the tile counts that fit this chip and schedule: 2, 4, 6, 8,"),
        "{e}"
    );
    let auto = write("auto.toml", keep);
    let a = lines(&String::from_utf8(ok(&["dse", &auto, "--quiet"]).stdout).unwrap());
    let fastest = by_tiles.iter().filter_map(|t| t.1).min().unwrap();
    assert_eq!(
        a[1]["latency_ns"].as_u64(),
        Some(fastest),
        "the cost model's choice"
    );
    let feasible: std::collections::BTreeSet<u64> = by_tiles.iter().filter_map(|t| t.1).collect();
    assert_eq!(
        feasible.len(),
        5,
        "each count plans differently: {by_tiles:?}"
    );

    // On the BERT fixture (8 keys per row, where the cost model takes one tile), forced tiles
    // change what is selected, and the accuracy with it.
    let model = format!("{ROOT}/tests/fixtures/models/bert_sdpa_ts_op17");
    let spec = dir.join("bert.toml");
    std::fs::write(
        &spec,
        format!(
            "objectives = [\"latency\", \"accuracy\"]\n[target]\nmodel = \"{model}.onnx\"\n\
             inputs = [\"{model}.input.npz\", \"{model}.input2.npz\"]\n\
             [[axis]]\nkey = \"tiles\"\nvalues = [1, 2, 4, 8]\n\
             [[axis]]\nkey = \"keep\"\nvalues = [0.5]\n"
        ),
    )
    .unwrap();
    let b = lines(&String::from_utf8(ok(&["dse", &s(&spec), "--quiet"]).stdout).unwrap());
    let loss: Vec<f64> = b[1..]
        .iter()
        .map(|p| p["accuracy_loss"].as_f64().unwrap())
        .collect();
    println!("bert-onnx, keep 0.5, 1 - cosine at tiles 1, 2, 4, 8: {loss:?}");
    // One tile is the cost model's own plan here: calibrate's figure at keep 0.5.
    assert_eq!(b[1]["latency_cycles"], 7628);
    assert!((loss[0] - (1.0 - 0.975538)).abs() < 1e-6, "{loss:?}");
    let distinct: std::collections::BTreeSet<u64> = loss.iter().map(|l| l.to_bits()).collect();
    assert_eq!(distinct.len(), 4, "{loss:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
