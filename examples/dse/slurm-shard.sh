#!/bin/bash
# One shard of a `sofa dse` sweep, as a Slurm job-array task (submitted by slurm-submit.sh):
#   SPEC=spec.toml OUT=dir sbatch --export=ALL --array=0-15 slurm-shard.sh
# The array must be 0..N-1 (no step): task I of N evaluates the points whose index is I mod N.
#SBATCH --job-name=sofa-dse
#SBATCH --cpus-per-task=1
#SBATCH --time=02:00:00
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output=sofa-dse-%A_%a.log
set -euo pipefail
: "${SPEC:?set SPEC to the sweep spec}" "${OUT:?set OUT to the output directory}"
sofa dse "$SPEC" --shard "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT" -o "$OUT/shard-$SLURM_ARRAY_TASK_ID.jsonl" --quiet
