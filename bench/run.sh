#!/usr/bin/env bash
# The sticker benchmark (see the README's "Sticker benchmark"): builds its clips from registry
# packages, runs Emo's transcoder (emo-gif, release) and ffmpeg's palette recipes on each, and
# writes bench/results.csv, bench/results.md and bench/results.png. A few clips also get
# captioned stickers (bench/bench.py's CAPTIONED), measured against the captioned source.
# Media, wheels and tools are cached under ~/.cache/emo/sticker-bench (EMO_BENCH_CACHE overrides it).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../infra/scripts/lib.sh"
cd "$EMO_ROOT"
cache="${EMO_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/emo/sticker-bench}"
mkdir -p "$cache"

bash infra/ensure-ffmpeg.sh
# The captioned rows draw in the transcoder's caption font.
EMO_CAPTION_FONT="${EMO_CAPTION_FONT:-$(bash infra/ensure-font.sh)}"
export EMO_CAPTION_FONT
if ! command -v gifsicle >/dev/null 2>&1 || [ ! -x /usr/bin/time ]; then
  apt_install gifsicle time
fi

venv=$(pytool bench)

echo "building emo-gif (release) and the DSSIM tool..." >&2
cargo build --quiet --release -p emo-infra --bin emo-gif
# A copy of this build, so a build of another checkout sharing CARGO_TARGET_DIR cannot swap it.
cp "${CARGO_TARGET_DIR:-target}/release/emo-gif" "$cache/emo-gif"
CARGO_TARGET_DIR="$cache/target" cargo build --quiet --release \
  --manifest-path bench/dssim-frames/Cargo.toml

"$venv/python" bench/bench.py "$cache" "$cache/emo-gif" \
  "$cache/target/release/dssim-frames" "$(command -v gifsicle)" "$venv/pip" bench
