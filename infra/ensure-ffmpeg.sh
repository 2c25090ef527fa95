#!/usr/bin/env bash
# Makes sure ffmpeg (with libx264) is installed: the worker decodes DashScope's MP4s with it and
# the offline DashScope stand-in renders its MP4s with it. Installs Debian's package if missing.
set -euo pipefail
# Read the whole list before matching: `grep -q` would stop early, ffmpeg would die of SIGPIPE,
# and under pipefail an installed ffmpeg would look missing.
if command -v ffmpeg >/dev/null 2>&1 && [[ "$(ffmpeg -hide_banner -encoders 2>/dev/null)" == *libx264* ]]; then
  exit 0
fi
echo "installing ffmpeg (Debian package, about 55 MB)..." >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
$sudo apt-get install -y -qq --no-install-recommends ffmpeg >&2
ffmpeg -hide_banner -version | head -1 >&2
