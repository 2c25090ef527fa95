#!/usr/bin/env bash
# Usage: infra/pytool.sh NAME 'pkg==ver' ['pkg==ver' ...]
# Makes (once) a Python venv for one tool under ~/.cache/emo/NAME with exactly these pinned
# packages, and prints its bin directory. Re-running with the same pins is instant.
set -euo pipefail
name=$1; shift
root="${EMO_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/emo}"
venv="$root/$name"
stamp="$venv/.pins"
want="$*"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  rm -rf "$venv"
  mkdir -p "$root"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$@" >&2
  printf '%s' "$want" > "$stamp"
fi
echo "$venv/bin"
