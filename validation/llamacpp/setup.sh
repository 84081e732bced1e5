#!/usr/bin/env bash
# Builds llama.cpp's llama-server from the PyPI sdist of llama-cpp-python (which vendors
# llama.cpp), checks the sdist's checksum, and writes a tiny random-weights Llama GGUF with the
# `gguf` Python package. Everything is cached outside the clone, so a second run takes seconds.
#
#   validation/llamacpp/setup.sh          # prints the cache folder on its last line
#
# Environment: LCSIM_CACHE (default ~/.cache/lcsim), JOBS (default: number of cores).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

version=0.3.36
sha256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
cache="${LCSIM_CACHE:-$HOME/.cache/lcsim}"
src="$cache/llama-cpp-python-$version"
build="$cache/llama-server-build-$version"
venv="$cache/venv-gguf"
model="$cache/tiny-llama-58m-f16.gguf"
jobs="${JOBS:-$(nproc)}"
mkdir -p "$cache"

log() { printf '[setup %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# 1. Tools: cmake (Debian's package is enough) and a Python with gguf and numpy.
if ! command -v cmake >/dev/null 2>&1; then
  log "installing cmake from Debian's packages"
  sudo_="" ; [ "$(id -u)" -eq 0 ] || sudo_="sudo"
  $sudo_ apt-get update -qq && $sudo_ apt-get install -y -qq cmake >/dev/null
fi
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import gguf, numpy' 2>/dev/null; then
  log "creating $venv with gguf 0.19.0 and numpy"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check 'gguf==0.19.0' 'numpy<3'
fi

# 2. Source: the sdist from PyPI, checked against its sha256.
tarball="$cache/llama_cpp_python-$version.tar.gz"
if [ ! -d "$src/vendor/llama.cpp/tools/server" ]; then
  if [ ! -f "$tarball" ]; then
    log "downloading llama-cpp-python==$version (sdist, no dependencies)"
    tmp="$(mktemp -d "$cache/download.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    "$venv/bin/pip" download -q --disable-pip-version-check --no-deps \
      --no-binary llama-cpp-python "llama-cpp-python==$version" -d "$tmp"
    mv "$tmp/llama_cpp_python-$version.tar.gz" "$tarball"
    rm -rf "$tmp"; trap - EXIT
  fi
  echo "$sha256  $tarball" | sha256sum -c --quiet - \
    || { log "checksum mismatch for $tarball"; rm -f "$tarball"; exit 1; }
  log "unpacking"
  rm -rf "$src.partial" && mkdir -p "$src.partial"
  tar -xzf "$tarball" -C "$src.partial" --strip-components=1
  rm -rf "$src" && mv "$src.partial" "$src"
fi

# 3. Build llama-server (CPU only, no web UI, no downloads) in the real path, not a symlink.
server="$build/bin/llama-server"
if [ ! -x "$server" ]; then
  log "building llama-server with $jobs jobs (8-11 min on 2 cores)"
  start=$(date +%s)
  cmake -S "$src/vendor/llama.cpp" -B "$build" -DCMAKE_BUILD_TYPE=Release \
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_NATIVE=ON >"$cache/cmake-configure.log" 2>&1 \
    || { tail -30 "$cache/cmake-configure.log" >&2; exit 1; }
  cmake --build "$build" -j"$jobs" --target llama-server >"$cache/cmake-build.log" 2>&1 \
    || { tail -30 "$cache/cmake-build.log" >&2; exit 1; }
  log "built llama-server in $(( $(date +%s) - start )) s"
fi

# 4. A tiny Llama model with random weights (timing depends on shapes, not on weight values).
if [ ! -f "$model" ]; then
  log "writing $model"
  "$venv/bin/python" "$here/tiny_model.py" \
    --vocab "$src/vendor/llama.cpp/models/ggml-vocab-llama-spm.gguf" --out "$model.partial"
  mv "$model.partial" "$model"
fi

log "ready: $server and $model"
echo "$cache"
