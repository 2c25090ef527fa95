#!/usr/bin/env bash
# Usage: bench/latency.sh   (LATENCY_JOBS=80, LATENCY_USERS=10, LATENCY_TASK_SECS=15-60,
#                           LATENCY_INTERVAL=10, LATENCY_WORKERS=5, LATENCY_EMO_GIF=path)
#
# Upstream-done -> job-done (see the README's "From the video to the sticker"): how long after
# DashScope's task became SUCCEEDED the job is SUCCEEDED, under the poll plan
# (lib/src/worker/poll_plan.rs) with the production poll interval. Starts emo-local (debug build,
# local backend) with its offline DashScope stand-in, whose tasks take LATENCY_TASK_SECS
# (EMO_STANDIN_TASK_SECS: spread evenly over the range), and drives it with bench/latency.py:
# LATENCY_USERS users each make one sticker after another until LATENCY_JOBS jobs have been
# measured after the warm-up that fills the model's history of recent durations.
# With LATENCY_EMO_GIF (a release emo-gif, as bench/run.sh builds it: the transcoder's code and
# settings), it then times that on the stand-in's video too: the build the Lambda runs.
# Writes bench/latency.md (the table) and ~/.cache/emo/latency-bench/latency.json (every job).
# About 9 minutes on 2 cores with the defaults. Traffic goes to 127.0.0.1 only.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../infra/scripts/lib.sh"
cd "$EMO_ROOT"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/emo/latency-bench"
mkdir -p "$cache"
users="${LATENCY_USERS:-10}"
jobs="${LATENCY_JOBS:-80}"
task_secs="${LATENCY_TASK_SECS:-15-60}"
interval="${LATENCY_INTERVAL:-10}"
# As many at once as the template's TranscoderMaxConcurrency lets the queue run.
workers="${LATENCY_WORKERS:-5}"

bash infra/ensure-ffmpeg.sh
EMO_CAPTION_FONT="${EMO_CAPTION_FONT:-$(bash infra/ensure-font.sh)}"
export EMO_CAPTION_FONT
echo "building emo-local..." >&2
cargo build --quiet --locked -p emo-infra --bin emo-local
# A copy of this build, so a build of another checkout sharing CARGO_TARGET_DIR cannot swap it.
cp "${CARGO_TARGET_DIR:-target}/debug/emo-local" "$cache/emo-local"
release_gif=()
if [ -n "${LATENCY_EMO_GIF:-}" ]; then
  cp "$LATENCY_EMO_GIF" "$cache/emo-gif"
  release_gif=(--emo-gif "$cache/emo-gif")
fi

port=$(free_port)
data=$(mktemp -d)
log="$data/emo-local.log"
# One DashScope task per user at a time and as many slots as users: no job waits for a slot
# (the dense delay stays 1 s up to 10 tasks per model: poll_plan::ACCOUNT_QPS). Every user comes
# from 127.0.0.1, so the per-address bounds are off.
EMO_ADDR=127.0.0.1:$port EMO_DATA_DIR="$data" RUST_LOG=warn EMO_WORKERS="$workers" \
  EMO_POLL_INTERVAL_SECS="$interval" EMO_STANDIN_TASK_SECS="$task_secs" \
  DASHSCOPE_MAX_IN_FLIGHT="$users" EMO_MAX_ACTIVE_JOBS=100 EMO_MAX_DAILY_JOBS=10000 \
  EMO_MAX_DAILY_JOBS_TOTAL=100000 EMO_REGISTER_PER_IP_PER_HOUR=0 EMO_LOGIN_PER_IP_PER_MINUTE=0 \
  "$cache/emo-local" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$data"' EXIT
base=http://127.0.0.1:$port
wait_http "$base/openapi.yaml" "$pid" || { cat "$log" >&2; echo "emo-local did not start" >&2; exit 1; }
standin=$(grep -o 'offline DashScope stand-in at http://127\.0\.0\.1:[0-9]*/api/v1' "$log" | head -1)
standin="${standin##* at }"
[ -n "$standin" ] || { cat "$log" >&2; echo "emo-local named no DashScope stand-in" >&2; exit 1; }

python3 bench/latency.py --base "$base" --standin "$standin" --users "$users" --jobs "$jobs" \
  --task-secs "$task_secs" --interval "$interval" --workers "$workers" \
  "${release_gif[@]}" --out bench/latency.md --json "$cache/latency.json"
if grep -q " ERROR " "$log"; then echo "emo-local logged errors:" >&2; grep " ERROR " "$log" >&2; exit 1; fi
