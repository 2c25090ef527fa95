#!/usr/bin/env bash
# Usage: infra/pytool.sh NAME ['pkg==ver' ...]
# Makes (once) a Python venv for one tool under ~/.cache/emo/NAME with exactly these pinned
# packages, and prints its bin directory. Re-running with the same pins is instant. Without
# packages, NAME's pins from infra/scripts/pins.sh (cargo-lambda, sam, cfn-lint, ministack,
# schemathesis, bench), e.g. `export PATH="$(bash infra/pytool.sh cargo-lambda):$PATH"`.
# The work is infra/scripts/lib.sh's `pytool`, which the scripts call directly.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/scripts/lib.sh"
[ $# -ge 1 ] || { echo "usage: $0 NAME ['pkg==ver' ...]" >&2; exit 2; }
pytool "$@"
