"""Cold starts of Emo's Lambda binaries, measured against a stand-in of the Lambda Runtime API.

Run by bench/coldstart.sh, with the Python of the AWS emulator's venv (for botocore) and the
emulator's environment (AWS_ENDPOINT_URL, credentials). For every function it starts the real
bootstrap binary RUNS times, each time a fresh process, with AWS_LAMBDA_RUNTIME_API pointing at
an http.server here that answers the first `GET .../invocation/next` with one event from
`events/` and records when the response (or error) arrives. It measures:

- start -> response: from just before the process is spawned to the response's arrival;
- init: from the spawn to the first `next` request (settings, SDK clients, the transcoder's
  ffmpeg check: everything before the handler);
- handler: from the `next` request to the response (the request's own work: argon2, the calls
  to the emulator);
- CPU: on-CPU time of the process's threads up to then (/proc/PID/task/*/schedstat), which,
  unlike the times above, does not grow when other work shares the machine;
- peak RSS: VmHWM of /proc/PID/status, read once the response has arrived (the process is then
  parked on its second `next`, which is never answered), after which the process is killed.

Events are the repository's fixtures, made real where a fixture alone would not take the
function's normal path: a fresh phone for every registration, a registered phone for login,
tokens from a real login, a job id from a real create for the query, and the token that each
password change returns for the next one. The transcoder gets events/sqs-transcoder-batch.json
as is (a start for a job that does not exist, and a malformed record).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path

import botocore.session

FUNCTIONS = [
    "register",
    "login",
    "change-password",
    "video-create",
    "video-create-with-prompt",
    "video-query",
    "transcoder",
]
PASSWORD = "sticker-maker-1"  # the password of events/users-register.json and users-login.json
JWT_SECRET = "coldstart-bench-secret-coldstart-bench-secret"


# --- the Lambda Runtime API stand-in ---------------------------------------------------------


class Invocation:
    """One process's first invocation: the event it gets and what it answered, with times."""

    def __init__(self, event: bytes):
        self.id = str(uuid.uuid4())
        self.event = event
        self.t_next: int | None = None
        self.t_done: int | None = None
        self.kind: str | None = None  # "response" or "error"
        self.body: bytes | None = None
        self.init_error: bytes | None = None
        self.done = threading.Event()
        self.released = threading.Event()


class RuntimeApi(ThreadingHTTPServer):
    """One per process: a killed process's last request still in the socket must never be
    taken for the next process's."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        # A killed process resets its connections: expected, not worth a traceback.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    def __init__(self, invocation: Invocation):
        super().__init__(("127.0.0.1", 0), Handler)
        self.current = invocation
        self.lock = threading.Lock()
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def stop(self):
        self.current.released.set()
        self.shutdown()
        self.server_close()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: RuntimeApi

    def log_message(self, *args):  # quiet
        pass

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        now = time.perf_counter_ns()
        inv = self.server.current
        if not self.path.endswith("/runtime/invocation/next"):
            self.reply(404)
            return
        with self.server.lock:
            first = inv.t_next is None
            if first:
                inv.t_next = now
        if not first:
            # The second `next`: the process is idle now. Hold it until the run is over.
            inv.released.wait(timeout=120)
            self.close_connection = True
            return
        deadline_ms = int(time.time() * 1000) + 10_000
        self.reply(
            200,
            inv.event,
            {
                "Lambda-Runtime-Aws-Request-Id": inv.id,
                "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:emo-bench",
                "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000;Sampled=0",
            },
        )

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        now = time.perf_counter_ns()
        inv = self.server.current
        m = re.search(r"/runtime/invocation/([^/]+)/(response|error)$", self.path)
        if m and m.group(1) == inv.id:
            inv.t_done, inv.kind, inv.body = now, m.group(2), body
            self.reply(202, b'{"status":"OK"}')
            inv.done.set()
        elif self.path.endswith("/runtime/init/error"):
            inv.init_error = body
            self.reply(202, b'{"status":"OK"}')
        else:
            self.reply(404)


# --- running one cold start ------------------------------------------------------------------


def vm_hwm_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_ms(pid: int) -> float | None:
    """On-CPU time of all the process's live threads (schedstat, nanoseconds), in ms."""
    total = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (OSError, IndexError, ValueError):
                pass
    except OSError:
        return None
    return total / 1e6


def cold_start(binary: Path, env: dict[str, str], event: bytes, log: Path,
               timeout: float = 30.0) -> dict:
    inv = Invocation(event)
    api = RuntimeApi(inv)
    env = {**env, "AWS_LAMBDA_RUNTIME_API": api.address}
    with open(log, "ab") as out:
        t0 = time.perf_counter_ns()
        proc = subprocess.Popen([str(binary)], env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        try:
            end = time.monotonic() + timeout
            while not inv.done.wait(0.005):
                if proc.poll() is not None or time.monotonic() > end:
                    break
            hwm = vm_hwm_kib(proc.pid) if inv.done.is_set() else None
            cpu = cpu_ms(proc.pid) if inv.done.is_set() else None
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            rc = proc.wait()
            api.stop()
    if not inv.done.is_set():
        raise RuntimeError(
            f"{binary} gave no response (exit {rc}); init error {inv.init_error!r}; its log: {log}")
    return {
        "total_ms": (inv.t_done - t0) / 1e6,
        "init_ms": (inv.t_next - t0) / 1e6,
        "handler_ms": (inv.t_done - inv.t_next) / 1e6,
        "peak_rss_kib": hwm,
        "cpu_ms": cpu,
        "kind": inv.kind,
        "body": json.loads(inv.body) if inv.body else None,
    }


def missing_ffmpeg(binary: Path, env: dict[str, str], event: dict) -> dict:
    """The transcoder started with no ffmpeg on PATH: it should refuse to start, loudly."""
    inv = Invocation(json.dumps(event).encode())
    api = RuntimeApi(inv)
    env = {**env, "PATH": "/nonexistent", "AWS_LAMBDA_RUNTIME_API": api.address}
    t0 = time.perf_counter_ns()
    proc = subprocess.Popen([str(binary)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        out, _ = proc.communicate(timeout=20)
        rc: int | str = proc.returncode
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        rc = "none (still running after 20 s)"
    api.stop()
    return {
        "exit": rc,
        "ms": (time.perf_counter_ns() - t0) / 1e6,
        "asked_for_work": inv.t_next is not None,
        "init_error": inv.init_error.decode(errors="replace") if inv.init_error else None,
        "log": out.decode(errors="replace").strip().splitlines()[-1:],
    }


# --- events ----------------------------------------------------------------------------------


def fixture(repo: Path, name: str) -> dict:
    return json.loads((repo / "events" / name).read_text())


def with_body(event: dict, old: str, new: str) -> dict:
    event = json.loads(json.dumps(event))
    if event.get("isBase64Encoded"):
        body = base64.b64decode(event["body"]).decode()
        event["body"] = base64.b64encode(body.replace(old, new).encode()).decode()
    else:
        event["body"] = event["body"].replace(old, new)
    return event


def with_token(event: dict, token: str) -> dict:
    return json.loads(json.dumps(event).replace("REPLACE_WITH_TOKEN_FROM_LOGIN", token))


def api_answer(result: dict) -> tuple[int, dict]:
    """The status and the JSON body of an API Gateway v2 response."""
    body = result["body"] or {}
    payload = body.get("body") or ""
    if body.get("isBase64Encoded"):
        payload = base64.b64decode(payload).decode()
    return body.get("statusCode"), (json.loads(payload) if payload else {})


class Phones:
    def __init__(self):
        self.n = 0
        self.base = int(time.time()) % 10_000_000

    def next(self) -> str:
        self.n += 1
        return f"139{(self.base * 10 + self.n) % 100_000_000:08d}"


# --- the emulator's resources ----------------------------------------------------------------


def provision(prefix: str) -> dict[str, str]:
    """The tables, bucket and queue as emo::store::aws::provision makes them."""
    session = botocore.session.get_session()
    region = os.environ.get("AWS_REGION", "us-east-1")
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    ddb = session.create_client("dynamodb", region_name=region, endpoint_url=endpoint)
    s3 = session.create_client("s3", region_name=region, endpoint_url=endpoint)
    sqs = session.create_client("sqs", region_name=region, endpoint_url=endpoint)
    users, jobs, bucket = f"{prefix}-users", f"{prefix}-jobs", f"{prefix}-blobs"
    ddb.create_table(
        TableName=users,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    ddb.create_table(
        TableName=jobs,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "user_id", "AttributeType": "N"},
            {"AttributeName": "created_at", "AttributeType": "N"},
        ],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[{
            "IndexName": "by_user",
            "KeySchema": [
                {"AttributeName": "user_id", "KeyType": "HASH"},
                {"AttributeName": "created_at", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }],
    )
    for table in (users, jobs):
        ddb.update_time_to_live(
            TableName=table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
        )
    s3.create_bucket(Bucket=bucket)
    queue_url = sqs.create_queue(QueueName=f"{prefix}-jobs",
                                 Attributes={"VisibilityTimeout": "720"})["QueueUrl"]
    # The keys live in Secrets Manager and are read at cold start, as template.yaml has it.
    sm = session.create_client("secretsmanager", region_name=region, endpoint_url=endpoint)
    jwt = sm.create_secret(Name=f"{prefix}/jwt", SecretString=JWT_SECRET)["ARN"]
    key = sm.create_secret(Name=f"{prefix}/dashscope",
                           SecretString="sk-coldstart-bench-not-a-key")["ARN"]
    return {
        "JWT_SECRET_ARN": jwt,
        "DASHSCOPE_SECRET_ARN": key,
        "EMO_USERS_TABLE": users,
        "EMO_JOBS_TABLE": jobs,
        "EMO_BUCKET": bucket,
        "EMO_QUEUE_URL": queue_url,
    }


# --- sizes -----------------------------------------------------------------------------------


def zipped_size(path: Path) -> int:
    """Bytes of a deployment zip holding this binary as `bootstrap` (deflate, as cargo lambda)."""
    buf = BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(path, "bootstrap")
    return buf.tell()


def mib(n: int | None) -> str:
    return "" if n is None else f"{n / 1048576:.1f}"


# --- main ------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", type=Path, required=True)
    ap.add_argument("--lambda-dir", type=Path, required=True, help="target/lambda")
    ap.add_argument("--release-dir", type=Path, help="target/release, for its sizes")
    ap.add_argument("--ffmpeg-dir", type=Path, required=True, help="a dir with ffmpeg (the layer's bin)")
    ap.add_argument("--argon2", type=Path, help="argon2-time's JSON output")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--only", default="", help="comma-separated functions")
    ap.add_argument("--out", type=Path, required=True, help="the Markdown table")
    ap.add_argument("--json", type=Path, help="every run, as JSON")
    args = ap.parse_args()
    functions = [f for f in FUNCTIONS if not args.only or f in args.only.split(",")]

    prefix = f"coldstart-{int(time.time())}"
    resources = provision(prefix)
    logs = Path(tempfile.mkdtemp(prefix="emo-coldstart-"))

    base_env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/emo-bench",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",  # template.yaml: LoggingConfig LogFormat JSON
        "RUST_LOG": "info",
        "EMO_BACKEND": "aws",
        # 2 creates per run and function would hit the per-user allowances (3 active, 30 a day).
        "EMO_MAX_ACTIVE_JOBS": "100",
        "EMO_MAX_DAILY_JOBS": "100000",
        **resources,
    }
    for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION",
              "AWS_DEFAULT_REGION", "AWS_EC2_METADATA_DISABLED"):
        if k in os.environ:
            base_env[k] = os.environ[k]

    jwt_arn = base_env.pop("JWT_SECRET_ARN")
    dashscope_arn = base_env.pop("DASHSCOPE_SECRET_ARN")

    def env_for(function: str) -> dict[str, str]:
        env = {**base_env, "AWS_LAMBDA_FUNCTION_NAME": f"emo-{function}"}
        # As template.yaml: the functions that issue or check tokens read the JWT key.
        if function not in ("register", "transcoder"):
            env["EMO_JWT_SECRET_ID"] = jwt_arn
        if function == "transcoder":
            # The layer's ffmpeg, as on Lambda (/opt/bin on PATH); DashScope is never reached by
            # the batch below, but the transcoder refuses to start without a key.
            env["PATH"] = f"{args.ffmpeg_dir}:{env['PATH']}"
            # The layer's caption font beside its bin (as /opt/share/emo/caption.otf on Lambda).
            env["EMO_CAPTION_FONT"] = str(args.ffmpeg_dir.parent / "share" / "emo" / "caption.otf")
            env["DASHSCOPE_API_KEY_SECRET_ID"] = dashscope_arn
            env["DASHSCOPE_BASE_URL"] = "http://127.0.0.1:9/api/v1"
        return env

    def invoke(function: str, event: dict) -> dict:
        binary = args.lambda_dir / function / "bootstrap"
        return cold_start(binary, env_for(function), json.dumps(event).encode(),
                          logs / f"{function}.log")

    # Setup, through the binaries themselves (not measured): two users, their tokens, one job.
    phones = Phones()
    register_event = fixture(args.repo, "users-register.json")
    login_event = fixture(args.repo, "users-login.json")
    tokens = {}
    for who in ("a", "b"):
        phone = phones.next()
        status, body = api_answer(invoke("register", with_body(register_event, "13800138000", phone)))
        assert status == 200, f"setup register: {status} {body}"
        status, body = api_answer(invoke("login", with_body(login_event, "13800138000", phone)))
        assert status == 200, f"setup login: {status} {body}"
        tokens[who] = (phone, body["data"]["token"])
    status, body = api_answer(invoke("video-create",
                                     with_token(fixture(args.repo, "video-create-text.json"), tokens["a"][1])))
    assert status == 200, f"setup create: {status} {body}"
    job_id = body["data"]["job_id"]

    chained = {"token": tokens["b"][1]}

    def event_for(function: str) -> dict:
        if function == "register":
            return with_body(register_event, "13800138000", phones.next())
        if function == "login":
            return with_body(login_event, "13800138000", tokens["a"][0])
        if function == "change-password":
            return with_token(fixture(args.repo, "users-change-password.json"), chained["token"])
        if function == "video-create":
            return with_token(fixture(args.repo, "video-create-text.json"), tokens["a"][1])
        if function == "video-create-with-prompt":
            return with_token(fixture(args.repo, "video-create-with-prompt.json"), tokens["a"][1])
        if function == "video-query":
            ev = with_token(fixture(args.repo, "video-query.json"), tokens["a"][1])
            return json.loads(json.dumps(ev).replace("job_0123456789abcdef01234567", job_id))
        return fixture(args.repo, "sqs-transcoder-batch.json")

    def outcome(function: str, result: dict) -> str:
        if result["kind"] != "response":
            return f"error {result['body']}"
        if function == "transcoder":
            failures = len((result["body"] or {}).get("batchItemFailures") or [])
            return f"{failures} of 2 records failed"
        status, body = api_answer(result)
        if function == "change-password" and status == 200:
            chained["token"] = body["data"]["token"]
        return str(status)

    results: dict[str, list[dict]] = {}
    for function in functions:
        runs = []
        for i in range(args.runs):
            r = invoke(function, event_for(function))
            r["outcome"] = outcome(function, r)
            r.pop("body")
            runs.append(r)
        results[function] = runs
        tot = [r["total_ms"] for r in runs]
        print(f"{function:26} start->response median {statistics.median(tot):7.1f} ms, "
              f"max {max(tot):7.1f} ms; outcomes {sorted({r['outcome'] for r in runs})}",
              file=sys.stderr)

    missing = missing_ffmpeg(args.lambda_dir / "transcoder" / "bootstrap", env_for("transcoder"),
                             fixture(args.repo, "sqs-transcoder-batch.json"))

    argon2 = json.loads(args.argon2.read_text()) if args.argon2 and args.argon2.exists() else None
    if args.json:
        args.json.write_text(json.dumps({"functions": results, "missing_ffmpeg": missing,
                                         "argon2": argon2}, indent=1))
    write_markdown(args, functions, results, missing, argon2)
    print(args.out.read_text())
    shutil.rmtree(logs, ignore_errors=True)
    return 0


def write_markdown(args, functions, results, missing, argon2):
    def med(rs, k):
        return statistics.median(r[k] for r in rs)

    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores ({cpu}, {platform.machine()}),"
        f" shared with other builds (load average at the end: {load}); {args.runs} cold starts per"
        f" function, against ministack.",
        "",
        "| function | release binary MiB | cargo-lambda bootstrap MiB | zipped MiB "
        "| start→response median ms | max ms | init median ms | handler median ms | CPU median ms "
        "| peak RSS median MiB | max MiB | answer |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    worst = 0.0
    for f in functions:
        rs = results[f]
        boot = args.lambda_dir / f / "bootstrap"
        rel = args.release_dir / f if args.release_dir else None
        rss = [r["peak_rss_kib"] for r in rs if r["peak_rss_kib"] is not None]
        worst = max(worst, med(rs, "total_ms"))
        lines.append(
            f"| {f} | {mib(rel.stat().st_size) if rel and rel.exists() else ''} "
            f"| {mib(boot.stat().st_size)} | {mib(zipped_size(boot))} "
            f"| {med(rs, 'total_ms'):.1f} | {max(r['total_ms'] for r in rs):.1f} "
            f"| {med(rs, 'init_ms'):.1f} | {med(rs, 'handler_ms'):.1f} | {med(rs, 'cpu_ms'):.1f} "
            f"| {statistics.median(rss) / 1024:.1f} | {max(rss) / 1024:.1f} "
            f"| {', '.join(sorted({r['outcome'] for r in rs}))} |"
        )
    lines += [
        "",
        f"Target: every function starts and answers its first request in under 50 ms (median): "
        f"**{'met' if worst < 50 else 'not met'}** (slowest median {worst:.1f} ms).",
        "",
        f"Transcoder with no ffmpeg on PATH: exit status {missing['exit']} after {missing['ms']:.0f} ms, "
        f"{'asked' if missing['asked_for_work'] else 'never asked'} for an invocation, "
        f"{'posted' if missing['init_error'] else 'posted no'} init error; last log line: "
        f"`{missing['log'][0] if missing['log'] else ''}`",
    ]
    if argon2:
        h, v = argon2["hash_cpu_ms"], argon2["verify_cpu_ms"]
        lines += [
            "",
            f"argon2id alone (m={argon2['memory_kib']} KiB, t={argon2['iterations']}, "
            f"p={argon2['parallelism']}; {argon2['runs']} runs pinned to one core, CPU time of the thread): "
            f"hash median {h['median']:.1f} ms (min {h['min']:.1f}, max {h['max']:.1f}), "
            f"verify median {v['median']:.1f} ms (min {v['min']:.1f}, max {v['max']:.1f}); wall median "
            f"{argon2['hash_wall_ms']['median']:.1f} / {argon2['verify_wall_ms']['median']:.1f} ms.",
            "Lambda gives a function CPU in proportion to its memory (one vCPU at 1769 MB), so one hash "
            "should take about:",
            "",
            "| MemorySize MB | vCPU share | one hash ms |",
            "|---:|---:|---:|",
        ]
        for mb in (128, 256, 512, 1024, 1769):
            share = min(1.0, mb / 1769)
            lines.append(f"| {mb} | {share:.2f} | {h['median'] / share:.0f} |")
    args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
