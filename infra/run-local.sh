#!/usr/bin/env bash
# Runs emo-local, the whole API on one port with the job worker inside, on the embedded backend
# (no AWS; without DASHSCOPE_API_KEY, on the offline DashScope stand-in). Installs ffmpeg first
# if it is missing, and the caption font (infra/ensure-font.sh) unless EMO_CAPTION_FONT names one.
# Extra arguments go to cargo (e.g. --release). EMO_ADDR and EMO_DATA_DIR configure it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash infra/ensure-ffmpeg.sh
if [ -z "${EMO_CAPTION_FONT:-}" ]; then
  EMO_CAPTION_FONT="$(bash infra/ensure-font.sh)"
  export EMO_CAPTION_FONT
fi
exec cargo run --locked -p emo-infra --bin emo-local "$@"
