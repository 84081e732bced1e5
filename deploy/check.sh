#!/usr/bin/env bash
# Checks the recipes in deploy/ as far as a machine without a cluster can: the shell scripts
# pass shellcheck, the Kubernetes manifests validate against the Kubernetes schema
# (kubernetes-validate, from PyPI, into a cached virtual environment), and the GitHub Actions
# workflow parses as YAML with the keys a workflow needs. Nothing is submitted anywhere.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v shellcheck >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    apt-get install -y shellcheck >/dev/null 2>&1 || sudo apt-get install -y shellcheck >/dev/null
  fi
fi
shellcheck slurm/*.sh check.sh

cache="${XDG_CACHE_HOME:-$HOME/.cache}/lcsim/deploy-venv"
if [ ! -x "$cache/bin/kubernetes-validate" ]; then
  python3 -m venv "$cache"
  "$cache/bin/pip" install --quiet "kubernetes-validate==1.37.0"
fi
# --strict: unknown fields are errors too. The schema is that of Kubernetes 1.32.
"$cache/bin/kubernetes-validate" --strict --kubernetes-version 1.32.0 kubernetes/*.yaml

"$cache/bin/python" - <<'PY'
import yaml
with open("github/lcsim-matrix.yml") as f:
    w = yaml.safe_load(f)
jobs = w["jobs"]
assert set(jobs) == {"shard", "merge"}, jobs
assert jobs["merge"]["needs"] == "shard"
assert jobs["shard"]["strategy"]["matrix"]["shard"] == [0, 1, 2, 3]
for job in jobs.values():
    assert job["runs-on"] and job["steps"]
print("github/lcsim-matrix.yml: a workflow with shard (matrix of 4) and merge")
PY
echo "deploy/: recipes checked"
