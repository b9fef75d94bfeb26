#!/bin/bash
# Run a `sofa dse` sweep on a Slurm cluster: one job-array task per shard, then the merge once
# every shard has succeeded (docs/dse.md).
#
#   examples/dse/slurm-submit.sh SPEC.toml [N] [OUT_DIR]
#
# N shards (default 16) write OUT_DIR/shard-I.jsonl; the merge writes OUT_DIR/sweep.jsonl (the
# bytes an unsharded `sofa dse SPEC -o sweep.jsonl` writes) and OUT_DIR/sweep.pareto.jsonl.
# `sofa` must be on PATH on the compute nodes (`cargo install --path .`), and SPEC and OUT_DIR
# on a file system they share. A task that fails or is requeued reruns the same command and
# resumes from its shard's output; resubmitting the whole sweep only evaluates what is missing.
set -euo pipefail
SPEC=${1:?usage: slurm-submit.sh SPEC.toml [N] [OUT_DIR]}
N=${2:-16}
OUT=${3:-dse-out}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"
export SPEC OUT
array=$(sbatch --parsable --export=ALL --array="0-$((N - 1))" "$here/slurm-shard.sh")
sbatch --export=ALL --dependency="afterok:${array%%;*}" "$here/slurm-merge.sh"
