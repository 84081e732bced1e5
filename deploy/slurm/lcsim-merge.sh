#!/usr/bin/env bash
# Merges the shard folders of lcsim-array.sh into one run folder.
#SBATCH --job-name=lcsim-merge
#SBATCH --cpus-per-task=1
#SBATCH --mem=1G
#SBATCH --time=00:30:00
set -euo pipefail

results="${LCSIM_RESULTS:?set LCSIM_RESULTS to the folder holding the shard results}"
shopt -s nullglob
shards=("$results"/shard-*)
if [ "${#shards[@]}" -eq 0 ]; then
  echo "no shard folders in $results" >&2
  exit 2
fi
read -r -a lcsim <<< "${LCSIM:-lcsim}"
exec "${lcsim[@]}" merge "${shards[@]}" --out "$results/run"
