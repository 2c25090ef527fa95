#!/usr/bin/env bash
# Runs emo-local, the whole API on one port, on the embedded backend (no AWS, no API key).
# Extra arguments go to cargo (e.g. --release). EMO_ADDR and EMO_DATA_DIR configure it.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --locked -p emo-infra --bin emo-local "$@"
