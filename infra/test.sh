#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need, starts the local AWS
# emulator, fuzzes the contract with schemathesis against a fresh emo-local, builds the function
# binaries, then runs every test of the workspace against both backends, the local cloud run
# (template.yaml deployed on the emulator with those binaries as Lambdas) among them; nextest's
# summary is the last line. The emulator is stopped at the end. The caption font is made by
# infra/ensure-font.sh and handed to everything started here (and the tests) as EMO_CAPTION_FONT;
# tesseract with its Simplified Chinese data reads a caption back (the OCR check).
set -euo pipefail
cd "$(dirname "$0")/.."
. infra/scripts/lib.sh

bash infra/ensure-ffmpeg.sh
EMO_CAPTION_FONT="$(bash infra/ensure-font.sh)"
export EMO_CAPTION_FONT
apt_install tesseract-ocr tesseract-ocr-chi-sim
eval "$(bash infra/emulator.sh start)"
trap 'bash infra/emulator.sh stop' EXIT

# The contract, fuzzed: schemathesis against a fresh emo-local (about 2 minutes).
bash infra/schemathesis.sh

# The function binaries, which the local cloud run deploys as Lambdas on the emulator.
cargo build --workspace --bins --locked

cargo nextest run --workspace --locked --no-fail-fast "$@"
