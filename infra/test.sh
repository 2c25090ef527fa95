#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need, starts the local AWS
# emulator, runs every test of the workspace against both backends, and stops the emulator.
set -euo pipefail
cd "$(dirname "$0")/.."

bash infra/ensure-ffmpeg.sh
eval "$(bash infra/emulator.sh start)"
trap 'bash infra/emulator.sh stop' EXIT

cargo test --workspace --locked "$@"

# The contract, fuzzed: schemathesis against a fresh emo-local (about 2 minutes).
bash infra/schemathesis.sh
