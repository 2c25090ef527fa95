#!/usr/bin/env bash
# Usage: bench/coldstart.sh   (COLDSTART_RUNS=10, COLDSTART_ONLY=register,login, COLDSTART_RELEASE=1)
#
# Cold start and per-request cost of every Lambda binary, on this machine:
#  - sizes: the release build (`cargo build --release`, the workspace profile) and the
#    deployable bootstrap that `cargo lambda build --release` makes (strip, thin LTO, one codegen
#    unit, panic=abort), host architecture, and that bootstrap zipped;
#  - start -> first response, init, handler and peak RSS of COLDSTART_RUNS fresh processes per
#    function, each fed one event from events/ by a stand-in of the Lambda Runtime API
#    (bench/coldstart.py) and talking to the local AWS emulator (ministack);
#  - argon2id alone at Emo's cost, pinned to one core (bench/argon2-time).
# Writes bench/coldstart.md (the table) and ~/.cache/emo/coldstart/coldstart.json (every run).
# Installs what it needs: cargo-lambda (PyPI, with zig) and ministack in venvs under
# ~/.cache/emo, the layer's ffmpeg (infra/ffmpeg-layer.sh x86_64) for the transcoder.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../infra/scripts/lib.sh"
root="$EMO_ROOT"
cd "$root"
runs="${COLDSTART_RUNS:-10}"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/emo/coldstart"
mkdir -p "$cache"
functions=(register login change-password video-create video-create-with-prompt video-query transcoder)
packages=()
for f in "${functions[@]}"; do packages+=(-p "$f"); done

# The deployable binaries, as `sam build` makes them (but for the host: x86_64).
lambda_bin="$(pytool cargo-lambda)"
echo "building the functions with cargo lambda build --release (several minutes on 2 cores)..." >&2
PATH="$lambda_bin:$PATH" cargo lambda build --release --locked "${packages[@]}" >&2
release_dir=()
if [ "${COLDSTART_RELEASE:-1}" = 1 ]; then
  echo "building the functions with cargo build --release, for the sizes..." >&2
  cargo build --release --locked --quiet "${packages[@]}" >&2
  release_dir=(--release-dir "$root/target/release")
fi

# argon2id alone, as emo::auth::Passwords runs it.
CARGO_TARGET_DIR="$cache/target" cargo build --quiet --release --locked \
  --manifest-path bench/argon2-time/Cargo.toml >&2
command -v taskset >/dev/null 2>&1 || { echo "taskset (util-linux) is missing" >&2; exit 1; }
taskset -c 0 "$cache/target/release/argon2-time" 20 >"$cache/argon2.json"

# The transcoder checks its ffmpeg and caption font at start: give it the layer's (x86_64 here).
bash infra/ffmpeg-layer.sh x86_64 >/dev/null

eval "$(bash infra/emulator.sh start)"
trap 'bash infra/emulator.sh stop' EXIT

"$EMO_EMULATOR_PYTHON" bench/coldstart.py --repo "$root" --lambda-dir "$root/target/lambda" \
  "${release_dir[@]}" --ffmpeg-dir "$root/target/ffmpeg-layer-x86_64/bin" \
  --argon2 "$cache/argon2.json" --runs "$runs" --only "${COLDSTART_ONLY:-}" \
  --out bench/coldstart.md --json "$cache/coldstart.json"
