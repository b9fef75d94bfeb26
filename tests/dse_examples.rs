//! The cluster examples of `examples/dse/` run as written: the exact `sofa dse` commands of the
//! Slurm scripts and of the Kubernetes Indexed Job manifests are extracted and run (shards in
//! sequence, with the variables Slurm / Kubernetes would set) on the tiny spec, and the merged
//! output must equal an unsharded run byte for byte. The Slurm submit script also runs whole,
//! with a stand-in `sbatch` that runs each array task in turn.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_sofa");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const N: u32 = 4;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sofa-dse-ex-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn example(name: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join("examples/dse").join(name)).unwrap()
}

/// The lines of `text` that are `sofa dse` commands (trimmed).
fn sofa_commands(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("sofa dse "))
        .map(String::from)
        .collect()
}

/// PATH with the directory of the built `sofa` first.
fn path_with_sofa() -> String {
    let bin_dir = Path::new(BIN).parent().unwrap().display().to_string();
    format!("{bin_dir}:{}", std::env::var("PATH").unwrap_or_default())
}

fn run_shell(shell: &str, command: &str, env: &[(&str, String)]) {
    let out = Command::new(shell)
        .args(["-c", command])
        .current_dir(ROOT)
        .env("PATH", path_with_sofa())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{shell} -c {command:?} with {env:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The unsharded output of the tiny spec and its front.
fn reference(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    let out = dir.join("reference.jsonl");
    let st = Command::new(BIN)
        .args(["dse", "examples/dse/tiny.toml", "--quiet", "-o"])
        .arg(&out)
        .current_dir(ROOT)
        .status()
        .unwrap();
    assert!(st.success());
    (
        std::fs::read(&out).unwrap(),
        std::fs::read(dir.join("reference.pareto.jsonl")).unwrap(),
    )
}

fn check_merged(dir: &Path, results: &Path) {
    let (whole, front) = reference(dir);
    assert_eq!(std::fs::read(results.join("sweep.jsonl")).unwrap(), whole);
    assert_eq!(
        std::fs::read(results.join("sweep.pareto.jsonl")).unwrap(),
        front
    );
    for i in 0..N {
        assert!(results.join(format!("shard-{i}.jsonl")).exists());
    }
}

#[test]
fn the_slurm_scripts_commands_shard_and_merge_to_the_unsharded_output() {
    let shard = sofa_commands(&example("slurm-shard.sh"));
    let merge = sofa_commands(&example("slurm-merge.sh"));
    assert_eq!((shard.len(), merge.len()), (1, 1), "{shard:?} {merge:?}");
    assert!(shard[0].contains("--shard \"$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT\""));
    let dir = scratch("slurm");
    let results = dir.join("out");
    std::fs::create_dir_all(&results).unwrap();
    let spec = format!("{ROOT}/examples/dse/tiny.toml");
    for i in 0..N {
        run_shell(
            "bash",
            &shard[0],
            &[
                ("SPEC", spec.clone()),
                ("OUT", results.display().to_string()),
                ("SLURM_ARRAY_TASK_ID", i.to_string()),
                ("SLURM_ARRAY_TASK_COUNT", N.to_string()),
            ],
        );
    }
    run_shell("bash", &merge[0], &[("OUT", results.display().to_string())]);
    check_merged(&dir, &results);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_slurm_submit_script_runs_whole_under_a_stand_in_sbatch() {
    let dir = scratch("sbatch");
    let fake = dir.join("bin");
    std::fs::create_dir_all(&fake).unwrap();
    // Runs the script now: each task of --array=0-K in turn with Slurm's variables, and
    // prints a job id under --parsable (after --dependency, which it checks is on the id).
    let sbatch = "#!/bin/sh\n\
        array=; parsable=; dep=; script=\n\
        for a in \"$@\"; do case \"$a\" in\n\
          --array=*) array=${a#--array=} ;;\n\
          --parsable) parsable=1 ;;\n\
          --dependency=*) dep=${a#--dependency=} ;;\n\
          --*) ;;\n\
          *) script=$a ;;\n\
        esac; done\n\
        if [ -n \"$dep\" ] && [ \"$dep\" != afterok:4242 ]; then echo \"bad $dep\" >&2; exit 1; fi\n\
        if [ -n \"$array\" ]; then\n\
          last=${array#0-}; i=0\n\
          while [ $i -le $last ]; do\n\
            SLURM_ARRAY_TASK_ID=$i SLURM_ARRAY_TASK_COUNT=$((last + 1)) bash \"$script\" || exit 1\n\
            i=$((i + 1))\n\
          done\n\
        else bash \"$script\" || exit 1; fi\n\
        if [ -n \"$parsable\" ]; then echo 4242; fi\n";
    let sbatch_path = fake.join("sbatch");
    std::fs::write(&sbatch_path, sbatch).unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&sbatch_path)
        .status()
        .unwrap();
    let results = dir.join("out");
    let out = Command::new("bash")
        .arg("examples/dse/slurm-submit.sh")
        .arg("examples/dse/tiny.toml")
        .arg(N.to_string())
        .arg(&results)
        .current_dir(ROOT)
        .env("PATH", format!("{}:{}", fake.display(), path_with_sofa()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    check_merged(&dir, &results);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_kubernetes_indexed_job_commands_shard_and_merge_to_the_unsharded_output() {
    let job = example("k8s-job.yaml");
    let merge_job = example("k8s-merge.yaml");
    assert!(job.contains("completionMode: Indexed"));
    // The shard count the pods are told (env N) is the Job's completions.
    let completions = job
        .lines()
        .find_map(|l| l.trim().strip_prefix("completions: "))
        .unwrap();
    let n_env = job
        .lines()
        .skip_while(|l| l.trim() != "- name: N")
        .nth(1)
        .and_then(|l| l.trim().strip_prefix("value: "))
        .unwrap();
    assert_eq!(n_env, format!("\"{completions}\""));
    let shard = sofa_commands(&job);
    let merge = sofa_commands(&merge_job);
    assert_eq!((shard.len(), merge.len()), (1, 1), "{shard:?} {merge:?}");
    assert!(shard[0].contains("--shard \"$JOB_COMPLETION_INDEX/$N\""));
    let dir = scratch("k8s");
    let results = dir.join("results");
    std::fs::create_dir_all(&results).unwrap();
    let spec = format!("{ROOT}/examples/dse/tiny.toml");
    for i in 0..N {
        run_shell(
            "/bin/sh",
            &shard[0],
            &[
                ("SPEC", spec.clone()),
                ("OUT", results.display().to_string()),
                ("N", N.to_string()),
                ("JOB_COMPLETION_INDEX", i.to_string()),
            ],
        );
    }
    run_shell(
        "/bin/sh",
        &merge[0],
        &[("OUT", results.display().to_string())],
    );
    check_merged(&dir, &results);
    std::fs::remove_dir_all(&dir).unwrap();
}
