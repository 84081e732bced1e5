#!/usr/bin/env bash
# lcsim against a real llama.cpp server, end to end and bounded:
#   1. setup.sh builds llama-server and the tiny model (cached outside the clone);
#   2. starts llama-server on 127.0.0.1 with 4 slots and one thread;
#   3. `lcsim calibrate server` measures its step model (synthetic, fixed-length requests);
#   4. `lcsim validate` sends open-loop Poisson load at 30, 55 and 80 % of the calibrated
#      capacity with lengths from the Azure trace (other requests than those calibrated on),
#      each level twice (--repeat: how much the server differs from itself);
#   5. stops the server by its PID on every exit path (success, failure, Ctrl-C).
# The report is in output/llamacpp/validation/ (report.md, report.html, validation.json).
#
#   validation/llamacpp/run.sh            # the documented run
#   validation/llamacpp/run.sh --ci       # also fails unless errors are within the CI tolerance
#
# Environment: LCSIM_BIN (an lcsim binary; default: build this clone's, dev profile),
# REQUESTS (per level, default 100), MAX_SECONDS (cap per level, default 150),
# OUT (default output/llamacpp), LCSIM_CACHE (see setup.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
ci=0
[ "${1:-}" = "--ci" ] && ci=1

# CI tolerance: the published target is |error| <= 5 % at p50 and <= 10 % at p99 (see
# docs/validation.md). A shared 2-core machine drifts in speed by 10-20 % within minutes, and at
# 80 % load queueing multiplies a capacity error about five times (1/(1 - load)). So --ci
# compares each error with what the server itself varied (every level is sent twice, --repeat)
# and fails when |error| > max(floor, 2 x |second pass - first pass|):
#   - loads up to 60 %: TTFT and E2E, floors 40 % at p50 and 60 % at p99;
#   - higher loads: E2E at p50 only, floor 60 %.
# Over the runs here the largest errors under these rules were 25 % (p50), 41 % (p99) and
# 40 % (E2E p50 at 80 %). The static-batching model (+61 % at p50 near 50 % load) or a model
# off by 2x fails.
CI_P50=0.40
CI_P99=0.60
CI_HIGH_LOAD=0.60

requests="${REQUESTS:-100}"
max_seconds="${MAX_SECONDS:-150}"
out="${OUT:-$repo/output/llamacpp}"
log() { printf '[run %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

cache="$("$here/setup.sh" | tail -1)"
server_bin="$cache/llama-server-build-0.3.36/bin/llama-server"
model="$cache/tiny-llama-58m-f16.gguf"

if [ -n "${LCSIM_BIN:-}" ]; then
  lcsim="$LCSIM_BIN"
else
  log "building lcsim"
  cargo build --quiet --manifest-path "$repo/Cargo.toml" -p lcsim-cli
  lcsim="$repo/target/debug/lcsim"
fi

mkdir -p "$out"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
url="http://127.0.0.1:$port"

# One thread: on a shared 2-core machine a second OpenMP thread spin-waits against the load
# generator. 4 slots share an 8192-token KV cache (2048 per slot).
log "starting llama-server on $url"
# The server is pinned to the last core and lcsim to the others, so neither migrates (this
# project's VM has vCPUs of different speeds).
last=$(( $(nproc) - 1 ))
pin_server=() pin_client=()
if [ "$last" -ge 1 ] && command -v taskset >/dev/null; then
  pin_server=(taskset -c "$last") pin_client=(taskset -c "0-$(( last - 1 ))")
fi
"${pin_server[@]}" "$server_bin" -m "$model" --host 127.0.0.1 --port "$port" --parallel 4 -c 8192 \
  -t 1 -tb 1 --metrics >"$out/llama-server.log" 2>&1 &
server_pid=$!
stop_server() {
  if kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    log "stopped llama-server (pid $server_pid)"
  fi
}
trap stop_server EXIT
trap 'exit 130' INT TERM

for _ in $(seq 1 120); do
  curl -sf "$url/health" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { tail -20 "$out/llama-server.log" >&2; exit 1; }
  sleep 0.5
done
curl -sf "$url/health" >/dev/null || { log "llama-server did not become healthy"; exit 1; }

log "calibrating"
"${pin_client[@]}" "$lcsim" calibrate server --url "$url" --out "$out/server-profile.toml"
log "validating: $requests requests per level, at most $max_seconds s each"
"${pin_client[@]}" "$lcsim" validate --url "$url" --profile "$out/server-profile.toml" --out "$out/validation" \
  --requests "$requests" --max-seconds "$max_seconds" --repeat

if [ "$ci" = 1 ]; then
  python3 - "$out/validation/validation.json" "$CI_P50" "$CI_P99" "$CI_HIGH_LOAD" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
p50, p99, high = float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
bad = []
for level in report["levels"]:
    if level["utilization"] <= 0.6:
        checks = [(m, q, f) for m in ("ttft_ms", "e2e_ms") for q, f in (("p50", p50), ("p99", p99))]
    else:
        checks = [("e2e_ms", "p50", high)]
    for metric, q, floor in checks:
        err = level["metrics"][metric][q]["rel_error"]
        noise = abs(level.get("repeat", {}).get(metric, {}).get(q, {}).get("rel_error", 0.0))
        tol = max(floor, 2 * noise)
        if abs(err) > tol:
            bad.append(f"{level['utilization']:.2f} load {metric} {q}: {err:+.1%} (tolerance {tol:.0%}; server vs itself {noise:.1%})")
if bad:
    print("validation outside the CI tolerance:\n  " + "\n  ".join(bad), file=sys.stderr)
    sys.exit(1)
print("validation within the CI tolerance stated in validation/llamacpp/run.sh")
PY
fi
log "report: $out/validation/report.md"
