#!/usr/bin/env bash
# Fuzzes a freshly started emo-local with schemathesis against openapi.yaml: no 5xx, every status
# documented, every body and content type as the schema says. Exits non-zero when it finds a
# problem. Bounded: a few dozen cases per operation and a time budget per run (about 2 minutes in
# all on 2 cores). Needs ffmpeg (infra/ensure-ffmpeg.sh) and the caption font (EMO_CAPTION_FONT,
# made by infra/ensure-font.sh if unset) for emo-local's worker. Builds emo-local (debug), or runs
# the one in EMO_BIN_DIR if set (infra/test.sh builds the workspace once and sets it).
#
# Usage: bash infra/schemathesis.sh [extra schemathesis run options]
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/scripts/lib.sh"
cd "$EMO_ROOT"

st_bin=$(pytool schemathesis)
if [ -n "${EMO_BIN_DIR:-}" ]; then
  emo_local="$EMO_BIN_DIR/emo-local"
else
  cargo build --locked --quiet -p emo-infra --bin emo-local
  emo_local="${CARGO_TARGET_DIR:-target}/debug/emo-local"
fi
if [ -z "${EMO_CAPTION_FONT:-}" ]; then
  EMO_CAPTION_FONT="$(bash infra/ensure-font.sh)"
  export EMO_CAPTION_FONT
fi

work=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

port=$(free_port)
base="http://127.0.0.1:$port"
# Cheap argon2, and a lockout and per-address bounds (every request comes from 127.0.0.1) that
# fuzzing cannot reach; one worker, so the jobs that fuzzing creates do not take the CPU from the
# server under test. No DASHSCOPE_API_KEY: the offline stand-in makes the stickers.
env -u DASHSCOPE_API_KEY \
  EMO_ADDR="127.0.0.1:$port" EMO_BACKEND=local EMO_DATA_DIR="$work/data" \
  EMO_ARGON2_MEMORY_KIB=256 EMO_ARGON2_ITERATIONS=1 EMO_LOGIN_MAX_FAILURES=1000000 \
  EMO_REGISTER_PER_IP_PER_HOUR=0 EMO_LOGIN_PER_IP_PER_MINUTE=0 \
  EMO_MAX_ACTIVE_JOBS=100 EMO_MAX_DAILY_JOBS=100000 \
  EMO_WORKERS=1 RUST_LOG=warn NO_COLOR=1 \
  "$emo_local" 2>"$work/emo-local.log" &
pid=$!
wait_http "$base/openapi.yaml" "$pid" 30 ||
  { cat "$work/emo-local.log" >&2; echo "emo-local did not start" >&2; exit 1; }

# A user for the protected routes: register, log in, keep the token.
token=$(python3 - "$base" <<'PY'
import json, sys, urllib.parse, urllib.request
form = urllib.parse.urlencode({"phone": "13700137000", "password": "schemathesis-pass-1"}).encode()
urllib.request.urlopen(sys.argv[1] + "/api/v1/users/register", form, timeout=10)
with urllib.request.urlopen(sys.argv[1] + "/api/v1/users/login", form, timeout=10) as r:
    print(json.load(r)["data"]["token"])
PY
)

checks=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance
run() {
  # From the temp dir: schemathesis keeps a cache (.schemathesis/) where it runs.
  (cd "$work" && "$st_bin/schemathesis" run "$base/openapi.yaml" --url "$base" \
    --checks "$checks" --workers 2 --seed 6 --no-shrink \
    --suppress-health-check all --request-timeout 30 \
    -H "Authorization: Bearer $token" "$@")
}
status=0
# change-password revokes the token, so it runs on its own, last.
run --max-examples 40 --max-time 60 --exclude-operation-id changePassword "$@" || status=$?
# (No stateful phase here: its links lead to the query, which this run leaves out.)
run --max-examples 20 --max-time 15 --phases examples,coverage,fuzzing \
  --include-operation-id changePassword "$@" || status=$?
if grep -E "panicked|ERROR" "$work/emo-local.log" >&2; then
  echo "emo-local logged errors during the run (above)" >&2
  status=1
fi
exit $status
