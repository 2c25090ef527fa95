#!/usr/bin/env bash
# Load test of emo-local (release build, production argon2 cost, offline DashScope stand-in):
#  1. many users at once registering, logging in, creating jobs and polling them to the end
#     (infra/load/flow.py), with per-endpoint throughput, p50/p99, errors and jobs lost;
#  2. peak throughput of the two hot paths, login and query, with wrk (infra/load/hot.lua).
# Exits non-zero on any error or lost job. Traffic goes to 127.0.0.1 only, bounded in count and
# time. USERS, JOBS_PER_USER and SECONDS tune it.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/scripts/lib.sh"
cd "$EMO_ROOT"
bash infra/ensure-ffmpeg.sh
EMO_CAPTION_FONT="${EMO_CAPTION_FONT:-$(bash infra/ensure-font.sh)}"
export EMO_CAPTION_FONT
command -v wrk >/dev/null || apt_install wrk
cargo build --release --locked -p emo-infra --bin emo-local

port=$(free_port)
data=$(mktemp -d)
log="$data/emo-local.log"
# Every simulated user comes from 127.0.0.1, so the per-address bounds are off.
EMO_ADDR=127.0.0.1:$port EMO_DATA_DIR="$data" RUST_LOG=warn EMO_WORKERS=2 \
  EMO_MAX_ACTIVE_JOBS=100 EMO_MAX_DAILY_JOBS=1000 DASHSCOPE_MAX_IN_FLIGHT=16 \
  EMO_REGISTER_PER_IP_PER_HOUR=0 EMO_LOGIN_PER_IP_PER_MINUTE=0 \
  ./target/release/emo-local >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$data"' EXIT
base=http://127.0.0.1:$port
wait_http "$base/openapi.yaml" "$pid" || { cat "$log" >&2; echo "emo-local did not start" >&2; exit 1; }

echo "== flow: users registering, creating and polling at once"
python3 infra/load/flow.py "$base"

echo "== hot paths (wrk, ${SECONDS_EACH:=10} s each, 2 threads, 16 connections)"
creds='{"phone":"13912345678","password":"load-test-password"}'
curl -s -o /dev/null -H 'content-type: application/json' -d "$creds" "$base/api/v1/users/register"
token=$(curl -s -H 'content-type: application/json' -d "$creds" "$base/api/v1/users/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["token"])')
job=$(curl -s -H "authorization: Bearer $token" -H 'content-type: application/json' \
  -d '{"type":"text_to_video","prompt":"热路径"}' "$base/api/v1/video/create" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["job_id"])')
printf 'login: '
METHOD=POST BODY="$creds" wrk -t2 -c16 -d"${SECONDS_EACH}s" -s infra/load/hot.lua "$base/api/v1/users/login" | tail -1
printf 'query: '
METHOD=GET TOKEN="$token" wrk -t2 -c16 -d"${SECONDS_EACH}s" -s infra/load/hot.lua "$base/api/v1/video/query/$job" | tail -1
if grep -q " ERROR " "$log"; then echo "emo-local logged errors:"; grep " ERROR " "$log"; exit 1; fi
