//! `sofa dse`: sweep chip variants and plan choices over a workload and keep the Pareto front;
//! `sofa dse merge`: join shard outputs. The spec, evaluation and output format live in
//! `sofa_compiler::dse`; this module does the IO (resume, appends, atomic final writes).

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, Subcommand};
use sofa_compiler::dse::{
    self, evaluate, merge, pareto_front, parse_output, render_output, render_record, search,
    DseSpec, Header, Objective, Output, Record, Shard,
};

use sofa_compiler::driver::Target;
use sofa_compiler::dse::target::ModelTarget;
use sofa_compiler::dse::{PlanAccuracy, Subject};
use sofa_compiler::onnx::{import_model, load_model, ImportOptions};

use super::calibrate::{priced_dims, read_cases};
use super::diag::CliError;
use super::import::ShapeBindings;
use super::io::{write_atomic, write_output};
use crate::calibrate::InterpAccuracy;
use crate::plot::{pareto_svg, SweepPoint};
use crate::progress::Progress;

/// `sofa dse --help`'s description (set on the subcommand in `cli/mod.rs`: a variant's doc
/// comment would otherwise replace a long_about given here).
pub const LONG_ABOUT: &str = "Design-space exploration: evaluate the points of a sweep spec — \
    the Cartesian product of its axes over hardware keys (any leaf of the hardware TOML, e.g. \
    sram.token_bytes, sufa.cols, dram.bandwidth_mb_s) and over the plan (keep, schedule, \
    tiles) — every one of them, or a budget of them proposed by TPE ([search] method = \"tpe\", \
    budget, seed), on a workload spec or an ONNX model with input files, with the compiler's \
    cost model (the figures `sofa compile --emit schedule-json` reports), an area model \
    calibrated on the paper's Table III and, for a model, its accuracy (1 - the worst cosine \
    to dense, as `sofa calibrate` measures it); then print and write the Pareto front over the \
    spec's objectives (latency, energy, area, accuracy). docs/dse.md describes the spec and \
    the output.\n\n\
    The output is JSON Lines: a header (spec hash, point count, shard), then one line per \
    evaluated point in index order, byte-identical for the same spec. With -o, each point is \
    appended as soon as it is evaluated, so an interrupted run resumes: rerun the same command \
    and only the missing points are evaluated (a cut-short last line is discarded; a TPE \
    search is replayed). --shard I/N evaluates the points whose index is I modulo N; `sofa dse \
    merge` joins the N shard outputs into exactly the file an unsharded run writes.";

#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Examples:\n  \
                  sofa dse examples/dse/bert-base.toml -o sweep.jsonl\n  \
                  sofa dse examples/dse/bert-base.toml --shard 2/4 -o shard-2.jsonl\n  \
                  sofa dse merge shard-0.jsonl shard-1.jsonl shard-2.jsonl shard-3.jsonl -o sweep.jsonl"
)]
pub struct DseArgs {
    #[command(subcommand)]
    pub command: Option<DseCommand>,

    /// The sweep spec (TOML; see docs/dse.md).
    #[arg(value_name = "SPEC.toml", required = true)]
    pub spec: Option<PathBuf>,

    /// Write the points to OUT (JSON Lines), resuming from what OUT already holds of the same
    /// spec and shard. Default: stdout, no resume.
    #[arg(short = 'o', long = "output", value_name = "OUT.jsonl")]
    pub output: Option<PathBuf>,

    /// Evaluate only the points whose index is I modulo N (0 ≤ I < N); no Pareto front (merge
    /// the shards for it).
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<Shard>,

    /// Write the Pareto front (header and the front's point lines) to FRONT. Default with -o:
    /// OUT with `.jsonl` replaced by `.pareto.jsonl`.
    #[arg(long, value_name = "FRONT.jsonl")]
    pub pareto: Option<PathBuf>,

    /// Draw the points and their Pareto front as an SVG (the spec's first two objectives:
    /// x and y; the front in red).
    #[arg(long, value_name = "FRONT.svg")]
    pub plot: Option<PathBuf>,

    /// Print only errors: no summary on stderr, no front table.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum DseCommand {
    /// Join shard outputs (`--shard I/N`, all N of them) into the file an unsharded run
    /// writes, byte for byte, and write its Pareto front.
    Merge(MergeArgs),
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shard outputs, in any order.
    #[arg(value_name = "SHARD.jsonl", required = true, num_args = 1..)]
    pub inputs: Vec<PathBuf>,

    /// The merged output.
    #[arg(
        short = 'o',
        long = "output",
        value_name = "OUT.jsonl",
        required = true
    )]
    pub output: PathBuf,

    /// Where to write the Pareto front. Default: OUT with `.jsonl` replaced by `.pareto.jsonl`.
    #[arg(long, value_name = "FRONT.jsonl")]
    pub pareto: Option<PathBuf>,

    /// Draw the points and their Pareto front as an SVG (the spec's first two objectives:
    /// x and y; the front in red).
    #[arg(long, value_name = "FRONT.svg")]
    pub plot: Option<PathBuf>,

    /// Print only errors: no front table.
    #[arg(short, long)]
    pub quiet: bool,
}

fn parse_shard(s: &str) -> Result<Shard, String> {
    s.parse().map_err(|e: dse::DseError| e.to_string())
}

pub fn run(args: &DseArgs) -> Result<(), CliError> {
    if let Some(DseCommand::Merge(m)) = &args.command {
        return run_merge(m);
    }
    let Some(spec_path) = &args.spec else {
        return Err(CliError::usage(
            "give a spec: sofa dse SPEC.toml (see sofa dse --help)",
        ));
    };
    let shard = args.shard.unwrap_or(Shard::WHOLE);
    if shard != Shard::WHOLE && (args.pareto.is_some() || args.plot.is_some()) {
        return Err(CliError::usage(
            "--pareto and --plot need every point: merge the shards (sofa dse merge) for the \
             front",
        ));
    }
    let spec = DseSpec::load(spec_path).map_err(CliError::input)?;
    if shard != Shard::WHOLE && spec.search.is_sampled() {
        return Err(CliError::usage(format!(
            "--shard: a {} search chooses each point from those evaluated before it, so it \
             cannot be split into shards; run it whole (-o OUT resumes it if interrupted), or \
             shard an exhaustive sweep",
            spec.search.method.name()
        )));
    }
    let header = Header::of(&spec, shard);
    let started = Instant::now();
    let out = args.output.as_deref().filter(|p| p.as_os_str() != "-");
    let mut model = match spec.subject.model() {
        Some(m) => Some(ModelSubject::load(m, &spec.objectives)?),
        None => None,
    };
    let mut subject = match &mut model {
        Some(m) => m.subject(),
        None => Subject::Workload,
    };
    let (lines, resumed) = sweep(&spec, shard, &header, out, args.quiet, &mut subject)?;
    let measured = model.as_ref().and_then(|m| m.accuracy.as_ref());
    let selections = measured.map(InterpAccuracy::selections_measured);
    // The final file is rewritten whole, in index order: what an uninterrupted run writes.
    let text = render_output(&header, lines.values().map(|(l, _)| l.as_str()));
    match out {
        Some(out) => {
            write_atomic(out, text.as_bytes()).map_err(|e| CliError::io("write", out, &e))?
        }
        None => write_output(None, text.as_bytes())?,
    }
    if !args.quiet {
        let search = spec.search;
        eprintln!(
            "sofa dse: {}{} points of {} evaluated{} ({} resumed from the output){} in {:.1} s",
            if shard == Shard::WHOLE {
                String::new()
            } else {
                format!("shard {shard}: ")
            },
            lines.len(),
            spec.points,
            if search.is_sampled() {
                format!(
                    " by {} search (budget {}, seed {})",
                    search.method.name(),
                    search.budget,
                    search.seed
                )
            } else {
                String::new()
            },
            resumed,
            selections.map_or_else(String::new, |n| format!(
                "; accuracy measured for {n} distinct selection(s)"
            )),
            started.elapsed().as_secs_f64()
        );
    }
    if shard != Shard::WHOLE {
        return Ok(());
    }
    let front_file = args.pareto.clone().or_else(|| {
        args.output
            .as_deref()
            .filter(|p| p.as_os_str() != "-")
            .map(pareto_path)
    });
    let to_stdout = args.output.as_deref().is_some_and(|p| p.as_os_str() != "-");
    let output = Output {
        header: Some(header.clone()),
        lines,
        truncated: false,
    };
    let files = FrontFiles {
        front: front_file.as_deref(),
        plot: args.plot.as_deref(),
    };
    front(
        &header,
        &output,
        &spec.objectives,
        files,
        to_stdout,
        args.quiet,
    )
}

type Lines = BTreeMap<u64, (String, Record)>;

/// A model target made ready: imported at the dims priced at, and its inputs' dense outputs
/// computed once (they do not depend on the point) when accuracy is an objective.
struct ModelSubject {
    imported: sofa_ir::Module,
    accuracy: Option<InterpAccuracy>,
}

impl ModelSubject {
    /// Read the model and its inputs as `sofa calibrate` does: each input bound to its own
    /// dims, the first one's (each overridden by the target's `shape`) priced.
    fn load(target: &ModelTarget, objectives: &[Objective]) -> Result<ModelSubject, CliError> {
        let name = target.model.display().to_string();
        let cases = read_cases(&target.model, &target.inputs)?;
        let shape = ShapeBindings(target.shape.clone());
        let flag = format!("{}: [target] shape:", target.model.display());
        let priced_at = priced_dims(&cases[0], Some(&shape), &flag)?;
        let loaded =
            load_model(&target.model).map_err(|e| CliError::input(format!("{name}: {e}")))?;
        let opts = ImportOptions {
            shape_bindings: priced_at,
        };
        let imported = import_model(&loaded, &opts)
            .map_err(|e| CliError::input(format!("{name}: import at the priced dims: {e}")))?
            .module;
        let accuracy = match objectives.contains(&Objective::Accuracy) {
            true => Some(
                InterpAccuracy::new(&loaded, cases, &Target::default())
                    .map_err(|e| CliError::input(format!("{name}: {e}")))?,
            ),
            false => None,
        };
        Ok(ModelSubject { imported, accuracy })
    }

    fn subject(&mut self) -> Subject<'_> {
        Subject::Model {
            imported: &self.imported,
            accuracy: self.accuracy.as_mut().map(|a| a as &mut dyn PlanAccuracy),
        }
    }
}

/// Run the spec's search over `shard`: the lines of the points it visits, and how many of them
/// came from what `out` already held. With `out`, the lines kept from it are rewritten first
/// (without a cut-short tail) and each new point is appended and flushed as soon as it is
/// evaluated, so that an interruption loses at most the point being evaluated.
fn sweep(
    spec: &DseSpec,
    shard: Shard,
    header: &Header,
    out: Option<&Path>,
    quiet: bool,
    subject: &mut Subject<'_>,
) -> Result<(Lines, usize), CliError> {
    let mut recorded = match out {
        Some(out) => resume(out, header, shard)?,
        None => Lines::new(),
    };
    let mut file = match out {
        Some(out) => {
            let kept = render_output(header, recorded.values().map(|(l, _)| l.as_str()));
            write_atomic(out, kept.as_bytes()).map_err(|e| CliError::io("write", out, &e))?;
            let file = fs::OpenOptions::new()
                .append(true)
                .open(out)
                .map_err(|e| CliError::io("open", out, &e))?;
            Some((out, file))
        }
        None => None,
    };
    let planned = if spec.search.is_sampled() {
        spec.search.budget
    } else {
        shard.points(spec.points).count() as u64
    };
    let todo = planned.saturating_sub(recorded.len() as u64);
    let mut progress = Progress::new(Some(todo), "sofa dse: points", quiet);
    let mut lines = Lines::new();
    let mut resumed = 0;
    let mut visit = |i: u64, trial: Option<u64>| -> Result<Record, CliError> {
        if let Some((line, rec)) = recorded.remove(&i) {
            if rec.trial != trial {
                return Err(replay_mismatch(out, i, rec.trial, trial));
            }
            resumed += 1;
            lines.insert(i, (line, rec.clone()));
            return Ok(rec);
        }
        let rec = Record {
            trial,
            ..evaluate(spec, i, subject)
        };
        progress.inc();
        let line = render_record(&rec);
        if let Some((out, file)) = &mut file {
            file.write_all(format!("{line}\n").as_bytes())
                .and_then(|()| file.flush())
                .map_err(|e| CliError::io("write", out, &e))?;
        }
        lines.insert(i, (line, rec.clone()));
        Ok(rec)
    };
    search::run(spec, shard, &mut visit)?;
    Ok((lines, resumed))
}

/// A recorded point that a replayed search reaches at another place in its order: the output
/// is not this search's (it was edited, or written by another build).
fn replay_mismatch(out: Option<&Path>, i: u64, was: Option<u64>, now: Option<u64>) -> CliError {
    let trial = |t: Option<u64>| t.map_or_else(|| "no trial".to_string(), |t| format!("trial {t}"));
    CliError::input(format!(
        "'{}': point {i} is recorded as {}, but this search reaches it as {}; the output is \
         not a resumable output of this spec: remove it or choose another -o",
        out.map_or_else(String::new, |p| p.display().to_string()),
        trial(was),
        trial(now)
    ))
}

impl From<dse::DseError> for CliError {
    fn from(e: dse::DseError) -> CliError {
        CliError::input(e)
    }
}

/// What `out` already holds of this spec and shard: its complete point lines. A missing or
/// empty file, or one cut short in its header, holds nothing; a file of another spec or shard
/// is refused (never overwritten).
fn resume(
    out: &Path,
    header: &Header,
    shard: Shard,
) -> Result<BTreeMap<u64, (String, Record)>, CliError> {
    let bytes = match fs::read(out) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(CliError::io("read", out, &e)),
    };
    let name = out.display().to_string();
    let refuse = |why: String| {
        CliError::input(format!(
            "{why}; '{name}' is not a resumable output of this spec and shard: remove it or \
             choose another -o"
        ))
    };
    let text = String::from_utf8(bytes).map_err(|e| refuse(format!("{name}: {e}")))?;
    let parsed = parse_output(&text, &name).map_err(|e| refuse(e.to_string()))?;
    match &parsed.header {
        None => Ok(BTreeMap::new()),
        Some(h) if h != header => Err(refuse(format!(
            "{name} holds spec {} ({} points{}), this run is spec {} ({} points{})",
            h.spec,
            h.points,
            h.shard
                .as_ref()
                .map_or_else(String::new, |s| format!(", shard {s}")),
            header.spec,
            header.points,
            header
                .shard
                .as_ref()
                .map_or_else(String::new, |s| format!(", shard {s}")),
        ))),
        Some(_) => {
            if let Some(i) = parsed.lines.keys().find(|&&i| !shard.holds(i)) {
                return Err(refuse(format!("{name}: point {i} is not of shard {shard}")));
            }
            Ok(parsed.lines)
        }
    }
}

/// `OUT.jsonl` → `OUT.pareto.jsonl` (any other name gets `.pareto.jsonl` appended).
fn pareto_path(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map_or_else(|| "dse".into(), |n| n.to_string_lossy().into_owned());
    let stem = name.strip_suffix(".jsonl").unwrap_or(&name);
    out.with_file_name(format!("{stem}.pareto.jsonl"))
}

fn run_merge(args: &MergeArgs) -> Result<(), CliError> {
    let mut texts = Vec::new();
    for p in &args.inputs {
        let bytes = fs::read(p).map_err(|e| CliError::io("read", p, &e))?;
        let text = String::from_utf8(bytes)
            .map_err(|e| CliError::input(format!("{}: {e}", p.display())))?;
        texts.push((p.display().to_string(), text));
    }
    let (header, output) = merge(&texts).map_err(CliError::input)?;
    let text = render_output(&header, output.lines.values().map(|(l, _)| l.as_str()));
    write_atomic(&args.output, text.as_bytes())
        .map_err(|e| CliError::io("write", &args.output, &e))?;
    let objectives: Vec<Objective> = header
        .objectives
        .iter()
        .filter_map(|o| Objective::parse(o))
        .collect();
    let front_file = args
        .pareto
        .clone()
        .unwrap_or_else(|| pareto_path(&args.output));
    let files = FrontFiles {
        front: Some(&front_file),
        plot: args.plot.as_deref(),
    };
    front(&header, &output, &objectives, files, true, args.quiet)
}

/// Where the front goes besides the table.
struct FrontFiles<'a> {
    /// Header and the front's point lines.
    front: Option<&'a Path>,
    /// The SVG picture.
    plot: Option<&'a Path>,
}

/// Compute the Pareto front of `output`, write it (and its picture) to `files` and print it as
/// a table (on stdout when the points went to a file, else on stderr).
fn front(
    header: &Header,
    output: &Output,
    objectives: &[Objective],
    files: FrontFiles<'_>,
    to_stdout: bool,
    quiet: bool,
) -> Result<(), CliError> {
    let records: Vec<Record> = output.lines.values().map(|(_, r)| r.clone()).collect();
    let front = pareto_front(&records, objectives);
    if let Some(f) = files.front {
        let text = render_output(header, front.iter().map(|i| output.lines[i].0.as_str()));
        write_atomic(f, text.as_bytes()).map_err(|e| CliError::io("write", f, &e))?;
    }
    if let Some(f) = files.plot {
        let svg = front_svg(header, &records, objectives, &front)?;
        write_atomic(f, svg.as_bytes()).map_err(|e| CliError::io("write", f, &e))?;
    }
    if quiet {
        return Ok(());
    }
    let table = front_table(header, output, &front);
    if to_stdout {
        print!("{table}");
    } else {
        eprint!("{table}");
    }
    Ok(())
}

/// An objective in the unit the front table prints it in.
fn scaled(o: Objective, f: &sofa_compiler::dse::Figures) -> f64 {
    let v = o.value(f);
    match o {
        Objective::Latency => v / 1e3,
        Objective::Energy => v / 1e9,
        Objective::Area => v / 1e6,
        Objective::Accuracy => v,
    }
}

fn axis_label(o: Objective) -> &'static str {
    match o {
        Objective::Latency => "latency (us)",
        Objective::Energy => "energy (uJ)",
        Objective::Area => "area (mm2)",
        Objective::Accuracy => "1 - cosine to dense",
    }
}

/// The sweep's feasible points over its first two objectives, the front marked.
fn front_svg(
    header: &Header,
    records: &[Record],
    objectives: &[Objective],
    front: &[u64],
) -> Result<String, CliError> {
    let [x, y, ..] = objectives else {
        return Err(CliError::usage(
            "--plot needs a spec with at least two objectives (x and y of the picture)",
        ));
    };
    let points: Vec<SweepPoint> = records
        .iter()
        .filter_map(|r| {
            let f = r.figures.as_ref()?;
            Some(SweepPoint {
                x: scaled(*x, f),
                y: scaled(*y, f),
                on_front: front.contains(&r.index),
            })
        })
        .collect();
    let title = format!(
        "{}: {} points, {} on the Pareto front of {}",
        header.name,
        points.len(),
        front.len(),
        header.objectives.join(", ")
    );
    pareto_svg(&title, (axis_label(*x), axis_label(*y)), &points).map_err(CliError::input)
}

fn front_table(header: &Header, output: &Output, front: &[u64]) -> String {
    let with_accuracy = header.objectives.iter().any(|o| o == "accuracy");
    let infeasible = output
        .lines
        .values()
        .filter(|(_, r)| r.figures.is_none())
        .count();
    let mut rows = vec![{
        let mut h = vec!["index".to_string()];
        h.extend(header.axes.iter().cloned());
        h.extend(["latency_us", "energy_uj", "area_mm2"].map(String::from));
        if with_accuracy {
            h.push("1-cosine".into());
        }
        h
    }];
    for i in front {
        let r = &output.lines[i].1;
        let Some(f) = &r.figures else { continue };
        let mut row = vec![i.to_string()];
        row.extend(header.axes.iter().map(|a| {
            r.values.get(a).map_or_else(String::new, |v| {
                v.as_str().map_or_else(|| v.to_string(), String::from)
            })
        }));
        row.push(format!("{:.3}", f.latency_ns as f64 / 1e3));
        row.push(format!("{:.3}", f.energy_fj as f64 / 1e9));
        row.push(format!("{:.3}", f.area_um2 as f64 / 1e6));
        if with_accuracy {
            row.push(
                f.accuracy_loss
                    .map_or_else(String::new, |l| format!("{l:.3e}")),
            );
        }
        rows.push(row);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut text = format!(
        "Pareto front of '{}' over {}: {} of {} points ({} infeasible)\n",
        header.name,
        header.objectives.join(", "),
        front.len(),
        output.lines.len(),
        infeasible
    );
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:>w$}"))
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}
