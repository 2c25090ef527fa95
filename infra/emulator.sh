#!/usr/bin/env bash
# Starts the pinned local AWS emulator (ministack: DynamoDB, S3, SQS, Lambda) on 127.0.0.1 and
# prints the environment that points the AWS SDK at it, for `eval`:
#
#   eval "$(bash infra/emulator.sh start)"   # exports AWS_ENDPOINT_URL, credentials, EMO_EMULATOR_PID,
#                                            # EMO_EMULATOR_PYTHON (its Python, for infra/localcloud.py)
#   bash infra/emulator.sh stop              # stops the one started from this shell
#
# Nothing but the test scripts needs it; the emulator keeps its state in memory only, and its
# files (each Lambda's unpacked code, about 50 MB a function, and what the functions write to
# their temp dir) in a temp dir of its own (EMO_EMULATOR_TMP), which `stop` removes.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/scripts/lib.sh" # pins: MINISTACK_VERSION, SAM_TRANSLATOR_VERSION

case "${1:-start}" in
  start)
    bin="$(pytool ministack)"
    port="${EMO_EMULATOR_PORT:-$(free_port)}"
    log="${TMPDIR:-/tmp}/emo-emulator-$port.log"
    tmp="$(mktemp -d "${TMPDIR:-/tmp}/emo-emulator-$port.XXXXXX")"
    # AWS_ENDPOINT_URL is handed down to the Lambda functions it runs, so their SDK calls come back here.
    TMPDIR="$tmp" AWS_ENDPOINT_URL=http://127.0.0.1:$port GATEWAY_PORT=$port BIND_HOST=127.0.0.1 \
      nohup "$bin/ministack" >"$log" 2>&1 &
    pid=$!
    if ! wait_http "http://127.0.0.1:$port/_ministack/health" "$pid" 20; then
      echo "the AWS emulator did not start; its log:" >&2
      cat "$log" >&2
      kill "$pid" 2>/dev/null || true
      rm -rf "$tmp"
      exit 1
    fi
    echo "export EMO_EMULATOR_PYTHON=$bin/python AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true EMO_EMULATOR_PID=$pid EMO_EMULATOR_LOG=$log EMO_EMULATOR_TMP=$tmp"
    echo "ministack $MINISTACK_VERSION listening on 127.0.0.1:$port (log: $log)" >&2
    ;;
  stop)
    if [ -n "${EMO_EMULATOR_PID:-}" ]; then
      kill "$EMO_EMULATOR_PID" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$EMO_EMULATOR_PID" 2>/dev/null || break; sleep 0.1; done
    fi
    case "${EMO_EMULATOR_TMP:-}" in
      */emo-emulator-*) rm -rf "$EMO_EMULATOR_TMP" ;;
    esac
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
