# Helpers shared by the repo's scripts, once. Source it from a script (any working directory):
#
#   . "$(dirname "${BASH_SOURCE[0]}")/scripts/lib.sh"            # from infra/*.sh
#   . "$(dirname "${BASH_SOURCE[0]}")/../infra/scripts/lib.sh"   # from bench/*.sh
#
# It sources pins.sh (every pinned version) and defines, without running anything or changing
# shell options:
#
#   EMO_ROOT                   the repository's root, absolute
#   free_port                  prints a free TCP port on 127.0.0.1
#   wait_http URL [PID] [SEC]  waits up to SEC seconds (20) for URL to answer with a status below
#                              500 (the server is up); fails at once if process PID has ended
#   apt_install PKG...         installs those Debian packages that are not installed yet (apt-get
#                              update once first), quietly, non-interactively, as root or by sudo
#   pytool NAME [SPEC...]      a Python venv for one tool under ~/.cache/emo/NAME (EMO_TOOLS_DIR)
#                              with exactly these pinned packages, made once; prints its bin dir.
#                              Without SPECs, the pins of a known tool (pytool_specs NAME)
#   pytool_specs NAME          the pinned packages of tool NAME (cargo-lambda, sam, cfn-lint,
#                              ministack, schemathesis, bench, fonttools)
#   rust_target TRIPLE         adds a rustup target unless it is installed
#
# Everything it prints besides the results (progress, apt and pip output) goes to stderr, so
# callers can capture stdout.
# shellcheck shell=bash

[ -n "${_EMO_LIB_SH:-}" ] && return 0
_EMO_LIB_SH=1

EMO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=infra/scripts/pins.sh
. "$EMO_ROOT/infra/scripts/pins.sh"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_http() {
  python3 - "$1" "${2:-}" "${3:-20}" <<'PY'
import sys, time, urllib.error, urllib.request
url, pid, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
deadline = time.monotonic() + seconds

def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False

while True:
    try:
        urllib.request.urlopen(url, timeout=1).read()
        sys.exit(0)
    except urllib.error.HTTPError as e:
        if e.code < 500:
            sys.exit(0)
    except Exception:
        pass
    if (pid and not alive(pid)) or time.monotonic() > deadline:
        sys.exit(1)
    time.sleep(0.1)
PY
}

_emo_apt_updated=""
apt_install() {
  local pkg missing=()
  for pkg in "$@"; do
    [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" == *" ok installed" ]] || missing+=("$pkg")
  done
  [ "${#missing[@]}" -gt 0 ] || return 0
  echo "installing ${missing[*]} (Debian)..." >&2
  if [ -z "$_emo_apt_updated" ]; then
    _emo_as_root apt-get update -qq >&2 || return
    _emo_apt_updated=1
  fi
  _emo_as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# `env` after sudo, since sudo drops the caller's environment.
_emo_as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    env DEBIAN_FRONTEND=noninteractive "$@"
  else
    sudo env DEBIAN_FRONTEND=noninteractive "$@"
  fi
}

pytool_specs() {
  case "$1" in
    cargo-lambda) echo "cargo-lambda==$CARGO_LAMBDA_VERSION" ;;
    sam) echo "aws-sam-cli==$SAM_CLI_VERSION" ;;
    cfn-lint) echo "cfn-lint==$CFN_LINT_VERSION" ;;
    ministack) echo "ministack==$MINISTACK_VERSION aws-sam-translator==$SAM_TRANSLATOR_VERSION" ;;
    schemathesis) echo "schemathesis==$SCHEMATHESIS_VERSION" ;;
    bench) echo "matplotlib==$MATPLOTLIB_VERSION" ;;
    fonttools) echo "fonttools==$FONTTOOLS_VERSION" ;;
    *)
      echo "pytool: no pins for '$1' (give them: pytool $1 'pkg==ver' ...)" >&2
      return 2
      ;;
  esac
}

# Every step checks its status itself: callers run it as `$(pytool ...)`, where `set -e` is off.
pytool() {
  local name="${1:?pytool: NAME missing}" specs specs_array
  shift
  if [ $# -eq 0 ]; then
    specs="$(pytool_specs "$name")" || return
    read -r -a specs_array <<<"$specs"
    set -- "${specs_array[@]}"
  fi
  local root="${EMO_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/emo}"
  local venv="$root/$name"
  local stamp="$venv/.pins"
  local want="$*"
  if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    rm -rf "$venv" &&
      mkdir -p "$root" &&
      python3 -m venv "$venv" >&2 &&
      "$venv/bin/pip" install --quiet --disable-pip-version-check "$@" >&2 &&
      printf '%s' "$want" >"$stamp" || return
  fi
  echo "$venv/bin"
}

rust_target() {
  [[ $'\n'"$(rustup target list --installed)"$'\n' == *$'\n'"$1"$'\n'* ]] || rustup target add "$1" >&2
}
