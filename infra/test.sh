#!/usr/bin/env bash
# The whole test suite, on a fresh machine: builds the workspace once, installs what the tests
# need, starts the local AWS emulator, fuzzes the contract with schemathesis against a fresh
# emo-local, then runs every test of the workspace against both backends, the local cloud run
# (template.yaml deployed on the emulator with the function binaries as Lambdas) among them;
# nextest's summary is the last line. The emulator is stopped at the end. The caption font is made by
# infra/ensure-font.sh and handed to everything started here (and the tests) as EMO_CAPTION_FONT;
# tesseract with its Simplified Chinese data reads a caption back (the OCR check).
set -euo pipefail
cd "$(dirname "$0")/.."
. infra/scripts/lib.sh

# One build of everything, tests included, so that cargo resolves features once: the binaries
# the scripts below run (EMO_BIN_DIR) and the Lambdas the local cloud run deploys are the very
# ones nextest builds for its tests. A `cargo build --bins` or `-p emo-infra` build beside it
# would resolve other features and build every dependency a second time, in time and in disk.
cargo build --workspace --all-targets --locked
EMO_BIN_DIR="${CARGO_TARGET_DIR:-$EMO_ROOT/target}/debug"
export EMO_BIN_DIR

bash infra/ensure-ffmpeg.sh
EMO_CAPTION_FONT="$(bash infra/ensure-font.sh)"
export EMO_CAPTION_FONT
apt_install tesseract-ocr tesseract-ocr-chi-sim
eval "$(bash infra/emulator.sh start)"
trap 'bash infra/emulator.sh stop' EXIT

# The contract, fuzzed: schemathesis against a fresh emo-local (about 2 minutes).
bash infra/schemathesis.sh

cargo nextest run --workspace --locked --no-fail-fast "$@"
