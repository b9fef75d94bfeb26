#!/bin/bash
# Join the shards of a `sofa dse` sweep (submitted by slurm-submit.sh once every shard is done).
#SBATCH --job-name=sofa-dse-merge
#SBATCH --cpus-per-task=1
#SBATCH --time=00:10:00
#SBATCH --output=sofa-dse-merge-%j.log
set -euo pipefail
: "${OUT:?set OUT to the output directory}"
sofa dse merge "$OUT"/shard-*.jsonl -o "$OUT/sweep.jsonl"
