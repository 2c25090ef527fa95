#!/usr/bin/env bash
# Makes sure ffmpeg (with libx264) is installed: the worker decodes DashScope's MP4s with it and
# the offline DashScope stand-in renders its MP4s with it. Installs Debian's package if missing.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/scripts/lib.sh"
# Read the whole list before matching: `grep -q` would stop early, ffmpeg would die of SIGPIPE,
# and under pipefail an installed ffmpeg would look missing.
if command -v ffmpeg >/dev/null 2>&1 && [[ "$(ffmpeg -hide_banner -encoders 2>/dev/null)" == *libx264* ]]; then
  exit 0
fi
echo "ffmpeg with libx264 is missing: Debian's package, about 55 MB" >&2
apt_install ffmpeg
ffmpeg -hide_banner -version | head -1 >&2
