//! `sofa calibrate`: per-layer keep ratios (and, with `--tiles`, key-tile counts) that meet an
//! accuracy target at the least predicted latency. Flags, files and messages only; the work is `crate::calibrate`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use sofa_compiler::calibrate::{Goal, Grid, KeepGrid, TileGrid};
use sofa_compiler::onnx::load_model;

use super::diag::CliError;
use super::import::{parse_shape_bindings, ShapeBindings};
use super::io::write_all_or_none;
use super::model::{bindings_from_inputs, TargetArgs};
use crate::calibrate::report::{self, Context};
use crate::calibrate::{calibrate, Calibration, Case, Request};
use crate::plot::{calibration_svg, LayerChoice};

/// `sofa calibrate --help`'s description (set on the subcommand in `cli/mod.rs`).
pub const LONG_ABOUT: &str = "Search per-layer keep ratios for a model's attention: the \
    choice of least predicted latency (the compiler's cost model, the cycles `sofa compile \
    --emit schedule-json` reports for each attention layer) whose outputs stay within the \
    target of the dense outputs on the calibration inputs. Writes the per-layer TOML that \
    `sofa compile|run --layers FILE` and the `sparsify{layers=FILE}` pass option read, and \
    prints, per layer, the chosen keep, the cycles it saves and the accuracy with only that \
    layer sparse, then the best uniform keep beside the per-layer choice (predicted cycles, \
    accuracy on the calibration and on the held-out inputs).\n\n\
    Accuracy: the cosine similarity of every float output (flattened) to the dense output, \
    worst over outputs and inputs, computed by the host reference interpreter on the model \
    after fuse-attention, sparsify (the same per-layer overrides --layers feeds) and cct-tile \
    (which sets each layer's key tiles to its plan's), i.e. the selection the compiled \
    program makes. Latency: \
    each grid keep is compiled once for every layer and each attention layer's plan priced at \
    the first calibration input's dims, or those --shape overrides, so a per-layer choice costs \
    the sum of its layers' prices.\n\n\
    Search (docs/calibrate.md): every uniform keep of the grid is measured; the best uniform \
    keep is the cheapest that meets the target. Then a greedy descent: each layer may step to \
    the next keep down the grid that lowers its predicted cycles (with --tiles, also with its \
    key tiles pinned to a count of the tile grid, or to a cheaper tiling at its keep); every \
    step is measured and, \
    of those that meet the target, the one losing the least accuracy per cycle saved is \
    taken, until none meets it. The descent runs from dense and from the best uniform keep, \
    and the cheaper result is written, so it is never slower than the best uniform keep.\n\n\
    Held out: the last N files of --inputs (--holdout N; default 1 when two or more are \
    given, else 0) are not seen by the search, only measured at its end. Reuse: the \
    interpreter keeps the activations before every attention layer and resumes from them, so \
    a step that lowers layer i recomputes layers i and after only.\n\n\
    Deterministic: the same inputs give byte-identical TOML and report (the wall time goes to \
    stderr). -o and --report are written atomically, both or neither, before the report is \
    printed.";

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    sofa calibrate model.onnx --inputs a.npz b.npz c.npz --target cosine=0.99 -o layers.toml\n  \
    sofa calibrate model.onnx --inputs a.npz b.npz --holdout 0 --keeps 1,0.5,0.25 -o layers.toml\n  \
    sofa calibrate model.onnx --inputs a.npz b.npz --target cosine=0.98 --tiles 2,4 -o layers.toml\n  \
    sofa run model.onnx --inputs c.npz --layers layers.toml")]
pub struct CalibrateArgs {
    /// The ONNX model.
    #[arg(value_name = "MODEL.onnx")]
    pub model: PathBuf,

    /// Input files (.npz, arrays keyed by graph-input name); the last --holdout of them are
    /// held out from the search.
    #[arg(long, value_name = "IN.npz", num_args = 1.., required = true)]
    pub inputs: Vec<PathBuf>,

    /// The accuracy to keep: `cosine=C`, the least cosine similarity of any output to dense.
    #[arg(long, value_name = "cosine=C", value_parser = parse_goal)]
    pub target: Goal,

    /// How many of the last --inputs to hold out (default: 1 with two or more inputs, else 0).
    #[arg(long, value_name = "N")]
    pub holdout: Option<usize>,

    /// The keep grid, a comma list that includes 1.
    #[arg(long, value_name = "K,...", value_parser = parse_grid, default_value_t = KeepGrid::default())]
    pub keeps: KeepGrid,

    /// Key-tile counts the search may also pin a sparse layer to, a comma list (default: none,
    /// each layer takes the tiles the cost model picks). A count a layer has no plan for (more
    /// than its keys, or buffers that do not fit the SRAMs) is skipped for that layer; it must
    /// also be a count the calibration inputs' key lengths allow.
    #[arg(long, value_name = "T,...", value_parser = parse_tiles)]
    pub tiles: Option<TileGrid>,

    /// Dims the latency is priced at, e.g. `batch=1,seq=512`, each over the first calibration
    /// input's (which are the default).
    #[arg(long, value_name = "NAME=SIZE,...", value_parser = parse_shape_bindings)]
    pub shape: Option<ShapeBindings>,

    /// Hardware configuration TOML (default: the paper's chip, configs/sofa-28nm.toml).
    #[arg(long, value_name = "HW.toml")]
    pub config: Option<PathBuf>,

    /// Attention dataflow the latency is priced under: cct, staged or dense.
    #[arg(long, default_value = "cct", value_parser = ["cct", "staged", "dense"])]
    pub schedule: String,

    /// Write the per-layer TOML to LAYERS.toml (atomically).
    #[arg(short = 'o', long = "output", value_name = "LAYERS.toml")]
    pub output: PathBuf,

    /// Also write the printed report to R.txt (atomically, with -o).
    #[arg(long, value_name = "R.txt")]
    pub report: Option<PathBuf>,

    /// Draw the per-layer choice as an SVG: each layer's keep (bars) and its cosine to dense
    /// with only that layer sparse (points), beside the target and the best uniform keep.
    #[arg(long, value_name = "KEEPS.svg")]
    pub plot: Option<PathBuf>,

    /// No progress line on stderr (it is shown only on a terminal, after a second).
    #[arg(short, long)]
    pub quiet: bool,
}

fn parse_goal(text: &str) -> Result<Goal, String> {
    Goal::parse(text).map_err(|e| e.to_string())
}

fn parse_grid(text: &str) -> Result<KeepGrid, String> {
    KeepGrid::new(comma_list(text, "a number")?).map_err(|e| e.to_string())
}

fn parse_tiles(text: &str) -> Result<TileGrid, String> {
    TileGrid::new(comma_list(text, "a tile count")?).map_err(|e| e.to_string())
}

/// `a,b,...` parsed item by item; `what` names an item in the error.
fn comma_list<T: std::str::FromStr>(text: &str, what: &str) -> Result<Vec<T>, String> {
    text.split(',')
        .map(str::trim)
        .map(|item| item.parse().map_err(|_| format!("'{item}' is not {what}")))
        .collect()
}

/// Run `sofa calibrate`.
pub fn run(args: &CalibrateArgs) -> Result<(), CliError> {
    let started = Instant::now();
    let (calibration_files, holdout_files) = split_inputs(args)?;
    let target = TargetArgs {
        config: args.config.clone(),
        keep_ratio: None,
        layers: None,
        schedule: args.schedule.clone(),
        ablate: String::new(),
        latency_slack: sofa_compiler::driver::DEFAULT_LATENCY_SLACK_PCT,
        kv: "auto".into(),
        no_host_fallback: false,
    }
    .resolve()?;
    let calibration = read_cases(&args.model, calibration_files)?;
    let holdout = read_cases(&args.model, holdout_files)?;
    let priced_at = priced_dims(&calibration[0], args.shape.as_ref(), "--shape")?;
    let loaded =
        load_model(&args.model).map_err(|e| CliError::input(format!("{}: {e}", model(args))))?;
    let result = calibrate(Request {
        model: &loaded,
        calibration,
        holdout,
        priced_at: priced_at.clone(),
        target: &target,
        grid: Grid::new(args.keeps.clone(), args.tiles.clone().unwrap_or_default()),
        goal: args.target,
        progress: !args.quiet,
    })
    .map_err(|e| CliError::input(format!("{}: {e}", model(args))))?;
    let rule = holdout_rule(holdout_files.len());
    let text = report::render(
        &result,
        &Context {
            model: &model(args),
            priced_at: &priced_at,
            hw: &target.hw.name,
            schedule: &args.schedule,
            holdout_rule: &rule,
        },
    );
    let toml = result.toml(&model(args)).map_err(CliError::input)?;
    let svg = match &args.plot {
        Some(_) => Some(choice_svg(&result, &model(args))?),
        None => None,
    };
    let mut files: Vec<(&Path, &[u8])> = vec![(&args.output, toml.as_bytes())];
    if let Some(r) = &args.report {
        files.push((r, text.as_bytes()));
    }
    if let (Some(p), Some(svg)) = (&args.plot, &svg) {
        files.push((p, svg.as_bytes()));
    }
    write_all_or_none(&files)?;
    print!("{text}");
    eprintln!(
        "calibrated in {:.1} s; wrote {}",
        started.elapsed().as_secs_f64(),
        args.output.display()
    );
    Ok(())
}

/// The per-layer choice of `c` as an SVG ([`calibration_svg`]).
fn choice_svg(c: &Calibration, model: &str) -> Result<String, CliError> {
    let layers: Vec<LayerChoice> = c
        .outcome
        .choice
        .iter()
        .zip(&c.outcome.alone)
        .map(|(&k, &cosine)| LayerChoice {
            keep: c.grid.setting(k).keep,
            cosine,
        })
        .collect();
    let uniform = c.grid.keeps().keep(c.outcome.uniform_best);
    let title = format!(
        "{model}: per-layer keeps for cosine >= {}",
        c.goal.min_cosine
    );
    calibration_svg(&title, &layers, (c.goal.min_cosine, uniform)).map_err(CliError::input)
}

/// The first calibration input's dims, each overridden by --shape when given there; --shape
/// may only name dims the model has. `flag` names the overrides in errors.
pub(super) fn priced_dims(
    first: &Case,
    shape: Option<&ShapeBindings>,
    flag: &str,
) -> Result<BTreeMap<String, u64>, CliError> {
    let mut dims = first.bindings.clone();
    for (name, &size) in shape.iter().flat_map(|s| s.0.iter()) {
        match dims.get_mut(name) {
            Some(d) => *d = size,
            None => {
                let known: Vec<&str> = first.bindings.keys().map(String::as_str).collect();
                return Err(CliError::usage(format!(
                    "{flag} {name}={size}: the model has no named dim '{name}' (it has: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )));
            }
        }
    }
    Ok(dims)
}

fn model(args: &CalibrateArgs) -> String {
    args.model.display().to_string()
}

/// (calibration inputs, held-out inputs): the last --holdout files are held out.
fn split_inputs(args: &CalibrateArgs) -> Result<(&[PathBuf], &[PathBuf]), CliError> {
    let n = args.inputs.len();
    let held = args.holdout.unwrap_or(usize::from(n >= 2));
    if held >= n {
        return Err(CliError::usage(format!(
            "--holdout {held} leaves no calibration input of the {n} given"
        )));
    }
    Ok(args.inputs.split_at(n - held))
}

fn holdout_rule(held: usize) -> String {
    match held {
        0 => "--holdout 0: none held out".to_string(),
        n => format!("--holdout {n}: the last {n} of --inputs"),
    }
}

/// Read each input file and bind the model's named dims from its arrays.
pub(super) fn read_cases(model: &Path, files: &[PathBuf]) -> Result<Vec<Case>, CliError> {
    files
        .iter()
        .map(|path| {
            let inputs = crate::npz::read_npz(path).map_err(CliError::input)?;
            let shapes: BTreeMap<String, Vec<usize>> = inputs
                .iter()
                .map(|(k, t)| (k.clone(), t.shape().to_vec()))
                .collect();
            let bindings =
                bindings_from_inputs(model, &None, &shapes).map_err(|e| e.in_file(path))?;
            Ok(Case {
                name: path.display().to_string(),
                inputs,
                bindings,
            })
        })
        .collect()
}
