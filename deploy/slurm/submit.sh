#!/usr/bin/env bash
# Usage: deploy/slurm/submit.sh SCENARIO RESULTS_DIR
# Queues the array of shards, then the merge, which starts only if every shard succeeded.
set -euo pipefail
if [ "$#" -ne 2 ]; then
  echo "usage: $0 SCENARIO RESULTS_DIR" >&2
  exit 2
fi
here="$(cd "$(dirname "$0")" && pwd)"
export LCSIM_SCENARIO="$1" LCSIM_RESULTS="$2"
mkdir -p "$LCSIM_RESULTS"
array_id="$(sbatch --parsable --export=ALL "$here/lcsim-array.sh")"
sbatch --dependency="afterok:${array_id}" --export=ALL "$here/lcsim-merge.sh"
echo "shards: job $array_id; the merge follows it into $LCSIM_RESULTS/run"
