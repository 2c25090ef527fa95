#!/usr/bin/env bash
# Runs the pinned SAM CLI with cargo-lambda (and its zig) where `sam build` looks for them:
#
#   bash infra/sam.sh build              # every function: cargo lambda build --release --arm64
#   bash infra/sam.sh deploy --guided    # then: the stack, with your AWS credentials
#
# Both tools come from PyPI into venvs under ~/.cache/emo (infra/pytool.sh). cargo-lambda finds
# zig through `python3 -m ziglang`, so its venv goes first on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
sam="$(bash infra/pytool.sh sam 'aws-sam-cli==1.170.0')"
lambda="$(bash infra/pytool.sh cargo-lambda 'cargo-lambda==1.9.2')"
rustup target list --installed | grep -qx aarch64-unknown-linux-gnu ||
  rustup target add aarch64-unknown-linux-gnu >&2
export PATH="$lambda:$PATH" SAM_CLI_TELEMETRY="${SAM_CLI_TELEMETRY:-0}"
exec "$sam/sam" "$@"
