#!/usr/bin/env bash
# A Slurm job array running one experiment as N shards, one per array task, each on a node of its own:
#   sbatch --array=1-16 scripts/slurm_array.sh experiments/ssm_scaling.ini
# then, once every task has finished (or `sbatch --dependency=afterok:JOBID` a merge job):
#   ./mechbench merge results/ssm_scaling.shard*.h5 --out results/ssm_scaling.h5
# A task that fails or times out is rerun with the same shard (--resume keeps its finished points):
#   sbatch --array=7 scripts/slurm_array.sh experiments/ssm_scaling.ini
#SBATCH --job-name=mechbench
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --exclusive
#SBATCH --time=04:00:00
#SBATCH --output=results/slurm-%A_%a.out
set -euo pipefail

ini=${1:?usage: sbatch --array=1-N scripts/slurm_array.sh EXPERIMENT.ini}
n=${SLURM_ARRAY_TASK_COUNT:?run under sbatch --array=1-N}
i=${SLURM_ARRAY_TASK_ID:?run under sbatch --array=1-N}
# The shards are numbered 1..N: an array given as 0-based (--array=0-15) is shifted.
[ "${SLURM_ARRAY_TASK_MIN:-1}" -eq 0 ] && i=$((i + 1))
name=$(basename "$ini" .ini)
out=results/${name}.shard$(printf '%03d' "$i")-of-$(printf '%03d' "$n").h5

cd "${SLURM_SUBMIT_DIR:-.}"
resume=()
[ -e "$out" ] && resume=(--resume)
exec ./mechbench sweep "$ini" --shard "$i/$n" --out "$out" "${resume[@]}" --quiet
