#!/usr/bin/env bash
# Starts the pinned local AWS emulator (ministack: DynamoDB, S3, SQS, Lambda) on 127.0.0.1 and
# prints the environment that points the AWS SDK at it, for `eval`:
#
#   eval "$(bash infra/emulator.sh start)"   # exports AWS_ENDPOINT_URL, credentials, EMO_EMULATOR_PID,
#                                            # EMO_EMULATOR_PYTHON (its Python, for infra/localcloud.py)
#   bash infra/emulator.sh stop              # stops the one started from this shell
#
# Nothing but the test scripts needs it; the emulator keeps its state in memory only.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
MINISTACK_VERSION=1.5.33
# ministack applies the SAM transform with it, so template.yaml itself deploys on the emulator.
SAM_TRANSLATOR_VERSION=1.115.0

case "${1:-start}" in
  start)
    bin="$(bash "$here/pytool.sh" ministack "ministack==$MINISTACK_VERSION" "aws-sam-translator==$SAM_TRANSLATOR_VERSION")"
    port="${EMO_EMULATOR_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}"
    log="${TMPDIR:-/tmp}/emo-emulator-$port.log"
    # AWS_ENDPOINT_URL is handed down to the Lambda functions it runs, so their SDK calls come back here.
    AWS_ENDPOINT_URL=http://127.0.0.1:$port GATEWAY_PORT=$port BIND_HOST=127.0.0.1 nohup "$bin/ministack" >"$log" 2>&1 &
    pid=$!
    if ! python3 - "$port" <<'PY'
import sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/_ministack/health"
for _ in range(200):
    try:
        urllib.request.urlopen(url, timeout=1).read()
        sys.exit(0)
    except Exception:
        time.sleep(0.1)
sys.exit(1)
PY
    then
      echo "the AWS emulator did not start; its log:" >&2
      cat "$log" >&2
      kill "$pid" 2>/dev/null || true
      exit 1
    fi
    echo "export EMO_EMULATOR_PYTHON=$bin/python AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true EMO_EMULATOR_PID=$pid EMO_EMULATOR_LOG=$log"
    echo "ministack $MINISTACK_VERSION listening on 127.0.0.1:$port (log: $log)" >&2
    ;;
  stop)
    [ -n "${EMO_EMULATOR_PID:-}" ] && kill "$EMO_EMULATOR_PID" 2>/dev/null || true
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
