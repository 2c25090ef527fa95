#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need, starts the local AWS
# emulator, fuzzes the contract with schemathesis against a fresh emo-local, then runs every test
# of the workspace against both backends (its summary is the last line), and stops the emulator.
set -euo pipefail
cd "$(dirname "$0")/.."

bash infra/ensure-ffmpeg.sh
eval "$(bash infra/emulator.sh start)"
trap 'bash infra/emulator.sh stop' EXIT

# The contract, fuzzed: schemathesis against a fresh emo-local (about 2 minutes).
bash infra/schemathesis.sh

cargo nextest run --workspace --locked --no-fail-fast "$@"
