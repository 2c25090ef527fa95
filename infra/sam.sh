#!/usr/bin/env bash
# Runs the pinned SAM CLI with cargo-lambda (and its zig) where `sam build` looks for them:
#
#   bash infra/sam.sh build              # every function: cargo lambda build --release --arm64
#   bash infra/sam.sh deploy --guided    # then: the stack, with your AWS credentials
#
# Both tools come from PyPI into venvs under ~/.cache/emo (infra/pytool.sh). cargo-lambda finds
# zig through `python3 -m ziglang`, so its venv goes first on PATH.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/scripts/lib.sh"
cd "$EMO_ROOT"
sam="$(pytool sam)"
lambda="$(pytool cargo-lambda)"
rust_target aarch64-unknown-linux-gnu
export PATH="$lambda:$PATH" SAM_CLI_TELEMETRY="${SAM_CLI_TELEMETRY:-0}"
exec "$sam/sam" "$@"
