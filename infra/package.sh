#!/usr/bin/env bash
# Builds every Lambda function the way it is deployed: `cargo lambda build --release --arm64`
# (Graviton, provided.al2023), one bootstrap zip per function under target/lambda/<function>/,
# and prints each zip's size and its bootstrap's. Each function is built on its own, with only
# the features it uses (see lib/Cargo.toml).
#
#   bash infra/package.sh            # every function
#   bash infra/package.sh login      # just these
#
# cargo-lambda (with zig as the cross linker) comes from PyPI into a venv (infra/pytool.sh); the Rust
# standard library for aarch64 from rustup. `sam build` runs the same build per function.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/scripts/lib.sh"
cd "$EMO_ROOT"
functions=(register login change-password video-create video-create-with-prompt video-query video-list video-delete video-regenerate transcoder sweeper wechat-events)
[ $# -gt 0 ] && functions=("$@")

tools="$(pytool cargo-lambda)"
export PATH="$tools:$PATH"
rust_target aarch64-unknown-linux-gnu

# One build per function, as `sam build` does: cargo unifies features across the packages of one
# build, so building them together would give every function the transcoder's (gifski, ffmpeg).
start=$(date +%s)
for f in "${functions[@]}"; do
  cargo lambda build --release --arm64 --locked --output-format zip -p "$f" --bin "$f" >&2
done
echo "built in $(($(date +%s) - start)) s" >&2

printf '%-26s %12s %14s\n' function "zip bytes" "bootstrap bytes"
for f in "${functions[@]}"; do
  zip="target/lambda/$f/bootstrap.zip"
  raw=$(python3 -c 'import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).getinfo("bootstrap").file_size)' "$zip")
  printf '%-26s %12s %14s\n' "$f" "$(stat -c %s "$zip")" "$raw"
done
