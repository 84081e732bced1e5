#!/usr/bin/env bash
# One shard of an lcsim run per Slurm array task. Submit with deploy/slurm/submit.sh, which
# also queues the merge to start once every task has succeeded.
#SBATCH --job-name=lcsim-shard
#SBATCH --array=0-3
#SBATCH --cpus-per-task=2
#SBATCH --mem=1G
#SBATCH --time=02:00:00
set -euo pipefail

scenario="${LCSIM_SCENARIO:?set LCSIM_SCENARIO to the scenario file on shared storage}"
results="${LCSIM_RESULTS:?set LCSIM_RESULTS to a shared folder for the shard results}"

# The lcsim to run: the binary on PATH, or the image of deploy/Dockerfile through Apptainer,
# e.g. LCSIM="apptainer exec lcsim.sif lcsim" (the image converted with
# `apptainer build lcsim.sif docker-daemon://lcsim:latest`).
read -r -a lcsim <<< "${LCSIM:-lcsim}"

# --shard auto reads SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_MIN and SLURM_ARRAY_TASK_COUNT.
exec "${lcsim[@]}" run "$scenario" --shard auto --no-plots \
  --threads "${SLURM_CPUS_PER_TASK:-1}" \
  --out "$results/shard-${SLURM_ARRAY_TASK_ID}"
