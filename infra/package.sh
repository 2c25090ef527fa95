#!/usr/bin/env bash
# Builds every Lambda function the way it is deployed: `cargo lambda build --release --arm64`
# (Graviton, provided.al2023), one bootstrap zip per function under target/lambda/<function>/,
# and prints each zip's size and its bootstrap's.
#
#   bash infra/package.sh            # all seven functions
#   bash infra/package.sh login      # just these
#
# cargo-lambda (with zig as the cross linker) comes from PyPI into a venv (infra/pytool.sh); the Rust
# standard library for aarch64 from rustup. `sam build` runs the same build per function.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/scripts/lib.sh"
cd "$EMO_ROOT"
functions=(register login change-password video-create video-create-with-prompt video-query transcoder)
[ $# -gt 0 ] && functions=("$@")

tools="$(pytool cargo-lambda)"
export PATH="$tools:$PATH"
rust_target aarch64-unknown-linux-gnu

args=()
for f in "${functions[@]}"; do args+=(--bin "$f"); done
start=$(date +%s)
cargo lambda build --release --arm64 --locked --output-format zip "${args[@]}" >&2
echo "built in $(($(date +%s) - start)) s" >&2

printf '%-26s %12s %14s\n' function "zip bytes" "bootstrap bytes"
for f in "${functions[@]}"; do
  zip="target/lambda/$f/bootstrap.zip"
  raw=$(python3 -c 'import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).getinfo("bootstrap").file_size)' "$zip")
  printf '%-26s %12s %14s\n' "$f" "$(stat -c %s "$zip")" "$raw"
done
