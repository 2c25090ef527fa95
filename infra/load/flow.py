"""Drives a running emo-local with many users at once, as the mini-program does: each virtual user
registers, logs in, creates jobs and polls them until they end. Reports, per endpoint, requests,
throughput, p50/p99 latency and errors, and the jobs lost (created but never SUCCEEDED or FAILED).

Bounded: USERS users, JOBS_PER_USER jobs each, at most DEADLINE seconds of polling. Sends traffic
only to the loopback address it is given.
"""

import json
import os
import random
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

BASE = sys.argv[1]
assert BASE.startswith("http://127.0.0.1:"), "load only ever targets this machine"
USERS = int(os.environ.get("USERS", "40"))
JOBS_PER_USER = int(os.environ.get("JOBS_PER_USER", "2"))
DEADLINE = float(os.environ.get("DEADLINE", "240"))

lock = threading.Lock()
stats = {}  # endpoint -> {"lat": [...], "errors": n, "codes": {status: n}}


def call(endpoint, method, path, body=None, token=None):
    data = None
    headers = {}
    if body is not None:
        data = json.dumps(body).encode()
        headers["content-type"] = "application/json"
    if token:
        headers["authorization"] = "Bearer " + token
    req = urllib.request.Request(BASE + path, data=data, method=method, headers=headers)
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, payload = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, payload = e.code, e.read()
    except Exception as e:  # connection refused, reset, timeout: all errors
        status, payload = 0, str(e).encode()
    elapsed = time.perf_counter() - start
    with lock:
        s = stats.setdefault(endpoint, {"lat": [], "errors": 0, "codes": {}})
        s["lat"].append(elapsed)
        s["codes"][status] = s["codes"].get(status, 0) + 1
        expected = status == 200 or (endpoint == "query" and status == 200)
        if not expected:
            s["errors"] += 1
    try:
        return status, json.loads(payload)
    except ValueError:
        return status, None


def user(i):
    phone = "139%08d" % (random.randrange(10**8))
    creds = {"phone": phone, "password": "load-test-password-%d" % i}
    call("register", "POST", "/api/v1/users/register", creds)
    status, body = call("login", "POST", "/api/v1/users/login", creds)
    if status != 200:
        return []
    token = body["data"]["token"]
    jobs = []
    for n in range(JOBS_PER_USER):
        status, body = call("create", "POST", "/api/v1/video/create",
                            {"type": "text_to_video", "prompt": "负载测试 %d-%d" % (i, n)}, token)
        if status == 200:
            jobs.append((token, body["data"]["job_id"]))
    return jobs


def poll(job):
    token, job_id = job
    give_up = time.monotonic() + DEADLINE
    while time.monotonic() < give_up:
        status, body = call("query", "GET", "/api/v1/video/query/" + job_id, token=token)
        if status == 200 and body["data"]["status"] in ("SUCCEEDED", "FAILED"):
            return body["data"]["status"]
        time.sleep(1.0)
    return "LOST"


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else 0.0


def main():
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=min(USERS, 32)) as pool:
        jobs = [j for js in pool.map(user, range(USERS)) for j in js]
        created_at = time.perf_counter()
        endings = list(pool.map(poll, jobs))
    total = time.perf_counter() - started
    print(f"flow: {USERS} users, {len(jobs)} jobs created in {created_at - started:.1f} s, "
          f"all ended in {total:.1f} s")
    print(f"{'endpoint':<10}{'requests':>9}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}  statuses")
    for name in ("register", "login", "create", "query"):
        s = stats.get(name, {"lat": [], "errors": 0, "codes": {}})
        span = created_at - started if name != "query" else total
        print(f"{name:<10}{len(s['lat']):>9}{len(s['lat']) / max(span, 1e-9):>8.1f}"
              f"{pct(s['lat'], 50) * 1000:>9.1f}{pct(s['lat'], 99) * 1000:>9.1f}{s['errors']:>8}  {s['codes']}")
    lost = endings.count("LOST")
    print(f"jobs: {endings.count('SUCCEEDED')} SUCCEEDED, {endings.count('FAILED')} FAILED, {lost} lost")
    errors = sum(s["errors"] for s in stats.values())
    print(f"errors: {errors}, jobs lost: {lost}")
    sys.exit(1 if errors or lost or len(jobs) != USERS * JOBS_PER_USER else 0)


main()
