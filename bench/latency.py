"""Upstream-done -> job-done on a running emo-local with the offline DashScope stand-in (driven by
bench/latency.sh, which starts both).

USERS users each make one sticker after another (one DashScope task per user at a time, so no job
waits for a task slot), polling the job's query route every 200 ms. For each job:

  upstream done  the stand-in task's `end_time` (what DashScope returns in `output` once a task
                 is SUCCEEDED; the stand-in answers SUCCEEDED from exactly that moment, its video
                 being rendered by then), read from the stand-in's task query after the job ended;
                 the job's task is found by the job's unique prompt (`/_standin/tasks`);
  transcoding    the first 200 ms poll that sees the job's stage `transcoding` (the worker saw
                 SUCCEEDED and claimed the transcode: download, GIF, stores);
  job done       the first 200 ms poll that sees it SUCCEEDED (the query route exposes the job's
                 end only in whole seconds, `updated_at`, so the client's first sight is used).

Jobs created before the model's history of recent durations was full (the first RECENT jobs to
end, plus the ones already running then) are warm-up: the poll plan needs that history. The
next JOBS jobs are measured. Writes the summary as markdown (--out) and every job as JSON
(--json). Sends traffic only to the loopback address it is given.
"""

import argparse
import datetime
import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

BEIJING = datetime.timezone(datetime.timedelta(hours=8))


def http(method, url, body=None, token=None, timeout=30):
    headers = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["content-type"] = "application/json"
    if token:
        headers["authorization"] = "Bearer " + token
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def beijing_epoch(stamp):
    """`2025-07-27 21:05:15.212`, DashScope's Beijing time, as Unix seconds."""
    t = datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=BEIJING)
    return t.timestamp()


def pct(xs, p):
    """Nearest-rank percentile."""
    xs = sorted(xs)
    return xs[max(0, math.ceil(p / 100 * len(xs)) - 1)]


class Run:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.next_index = 0
        self.ended = 0  # jobs SUCCEEDED so far (each adds one duration to the history)
        self.measured_started = 0
        self.jobs = []
        self.failures = []
        self.tag = "latency-bench-%d" % int(time.time())
        self.video_url = None

    def take(self):
        """The next job to make, and whether it is measured; None when enough are under way."""
        with self.lock:
            measured = self.ended >= self.args.recent
            if measured and self.measured_started >= self.args.jobs:
                return None
            if measured:
                self.measured_started += 1
            i = self.next_index
            self.next_index += 1
            return i, measured

    def user(self, u):
        a = self.args
        creds = {"phone": "139%08d" % (int(time.time() * 1000) % 10**6 * 100 + u),
                 "password": "latency-bench-password-%d" % u}
        status, body = http("POST", a.base + "/api/v1/users/register", creds)
        if status != 200:
            raise SystemExit(f"register answered {status}: {body}")
        status, body = http("POST", a.base + "/api/v1/users/login", creds)
        if status != 200:
            raise SystemExit(f"login answered {status}: {body}")
        token = body["data"]["token"]
        while (taken := self.take()) is not None:
            i, measured = taken
            try:
                job = self.one(token, i, measured)
            except Exception as e:  # recorded, and the run fails at the end
                with self.lock:
                    self.failures.append(f"job {i}: {e}")
                continue
            with self.lock:
                self.jobs.append(job)
                self.ended += 1

    def one(self, token, i, measured):
        a = self.args
        prompt = f"一只猫在跳舞 {self.tag}-{i:04d}."
        with self.lock:
            history = min(self.ended, a.recent)
        created = time.time()
        status, body = http("POST", a.base + "/api/v1/video/create",
                            {"type": "text_to_video", "prompt": prompt}, token)
        if status != 200:
            raise RuntimeError(f"create answered {status}: {body}")
        job_id = body["data"]["job_id"]
        transcoding = done = None
        give_up = time.monotonic() + a.job_deadline
        while done is None:
            if time.monotonic() > give_up:
                raise RuntimeError(f"{job_id} not done within {a.job_deadline} s")
            status, body = http("GET", a.base + "/api/v1/video/query/" + job_id, token=token)
            seen = time.time()
            if status != 200:
                raise RuntimeError(f"query answered {status}: {body}")
            data = body["data"]
            if data["status"] == "FAILED":
                raise RuntimeError(f"{job_id} FAILED: {data.get('error_message')}")
            if data["status"] == "SUCCEEDED":
                done = seen
            elif data.get("stage") == "transcoding" and transcoding is None:
                transcoding = seen
            if done is None:
                time.sleep(0.2)
        # A transcode shorter than one poll: it began after the last poll that did not see it.
        if transcoding is None:
            transcoding = done
        tag = urllib.parse.quote(f"{self.tag}-{i:04d}.")
        _, found = http("GET", f"{a.standin_origin}/_standin/tasks?prompt_contains={tag}")
        if found["count"] != 1:
            raise RuntimeError(f"{job_id}: {found['count']} stand-in tasks, not 1")
        task_id = found["task_ids"][0]
        _, task = http("GET", f"{a.standin}/tasks/{task_id}", token="latency-bench")
        out = task["output"]
        if out["task_status"] != "SUCCEEDED":
            raise RuntimeError(f"{job_id}: its task answers {out['task_status']}")
        upstream = beijing_epoch(out["end_time"])
        task_secs = upstream - beijing_epoch(out["submit_time"])
        if upstream > transcoding:
            raise RuntimeError(f"{job_id}: the transcode was seen before the task ended")
        with self.lock:
            self.video_url = self.video_url or out["video_url"]
        return {
            "index": i, "job_id": job_id, "measured": measured, "history": history,
            "task_secs": round(task_secs, 3),
            "create_to_done": round(done - created, 3),
            "upstream_to_transcoding": round(transcoding - upstream, 3),
            "transcoding_to_done": round(done - transcoding, 3),
            "upstream_to_done": round(done - upstream, 3),
        }


def release_transcode(emo_gif, video_url, runs, workdir):
    """Wall and CPU seconds of the release transcoder (emo-gif: the transcoder's code and
    settings) on the stand-in's video, `runs` times one after another: what the transcode costs
    in the build Lambda runs, beside the debug build's time measured in the jobs."""
    mp4 = os.path.join(workdir, "standin.mp4")
    with urllib.request.urlopen(video_url, timeout=30) as resp, open(mp4, "wb") as f:
        f.write(resp.read())
    walls, cpus = [], []
    for _ in range(runs):
        out = subprocess.run([emo_gif, mp4, os.path.join(workdir, "standin.gif")],
                             check=True, capture_output=True, text=True).stdout
        facts = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
        walls.append(float(facts["wall_s"]))
        cpus.append(float(facts["cpu_s"]))
    return statistics.median(walls), statistics.median(cpus)


def summary(rows, key):
    xs = [r[key] for r in rows]
    return statistics.median(xs), pct(xs, 95), max(xs)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base", required=True, help="emo-local, http://127.0.0.1:PORT")
    p.add_argument("--standin", required=True, help="the stand-in's base URL, …/api/v1")
    p.add_argument("--users", type=int, default=10)
    p.add_argument("--jobs", type=int, default=80, help="measured jobs")
    p.add_argument("--recent", type=int, default=20, help="durations the history keeps")
    p.add_argument("--task-secs", default="", help="the stand-in's task durations, for the report")
    p.add_argument("--interval", default="10", help="EMO_POLL_INTERVAL_SECS, for the report")
    p.add_argument("--workers", default="", help="EMO_WORKERS, for the report")
    p.add_argument("--job-deadline", type=float, default=600)
    p.add_argument("--emo-gif", help="the release emo-gif, timed on the stand-in's video")
    p.add_argument("--out", required=True)
    p.add_argument("--json", required=True)
    a = p.parse_args()
    assert a.base.startswith("http://127.0.0.1:") and a.standin.startswith("http://127.0.0.1:"), \
        "the benchmark only ever talks to this machine"
    a.standin_origin = a.standin.split("/api/v1")[0]

    run = Run(a)
    started = time.monotonic()
    threads = [threading.Thread(target=run.user, args=(u,)) for u in range(a.users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - started
    load = os.getloadavg()[1]
    with open(a.json, "w") as f:
        json.dump(sorted(run.jobs, key=lambda r: r["index"]), f, indent=1)
    if run.failures:
        print("\n".join(run.failures), file=sys.stderr)
        sys.exit(1)

    measured = [r for r in run.jobs if r["measured"]]
    cold = [r for r in run.jobs if r["history"] == 0]
    warm = [r for r in run.jobs if not r["measured"]]
    tasks = [r["task_secs"] for r in run.jobs]
    lines = [
        "# Upstream-done → job-done",
        "",
        f"`bash bench/latency.sh`, {datetime.date.today().isoformat()}: emo-local (debug build, "
        f"local backend, {a.workers} workers) with the offline DashScope stand-in, "
        f"`EMO_POLL_INTERVAL_SECS={a.interval}`, stand-in tasks taking {a.task_secs} s "
        f"(measured {min(tasks):.1f}–{max(tasks):.1f} s), {a.users} users each making one "
        f"sticker after another and polling it every 200 ms; {len(run.jobs)} jobs in "
        f"{wall / 60:.1f} min, all SUCCEEDED, on {os.cpu_count()} cores at a load average of "
        f"{load:.1f} over the run's last 5 minutes. Upstream done: the stand-in task's `end_time`; "
        "transcoding and done: the first 200 ms poll seeing the job's stage `transcoding`, then "
        "SUCCEEDED.",
        "",
        "| jobs | n | upstream → job done, median | p95 | max | of it: SUCCEEDED → transcode "
        "claimed, median / p95 | transcode (download, GIF, store), median / p95 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    groups = [
        (f"measured (history full: {a.recent} durations)", measured),
        (f"warm-up (history filling: 0–{a.recent - 1})", warm),
        ("of which made with no history (polled every interval until the first job ended)",
         cold),
    ]
    for name, rows in groups:
        if not rows:
            continue
        m, p95, mx = summary(rows, "upstream_to_done")
        lm, lp, _ = summary(rows, "upstream_to_transcoding")
        tm, tp, _ = summary(rows, "transcoding_to_done")
        lines.append(f"| {name} | {len(rows)} | {m:.2f} s | {p95:.2f} s | {mx:.2f} s | "
                     f"{lm:.2f} / {lp:.2f} s | {tm:.2f} / {tp:.2f} s |")
    lines += ["", "p95 is the nearest rank; every job is in "
              "`~/.cache/emo/latency-bench/latency.json`."]
    if a.emo_gif and run.video_url:
        wall, cpu = release_transcode(a.emo_gif, run.video_url, 5, os.path.dirname(a.json))
        lines += ["", f"The release transcoder (`emo-gif`, the transcoder's code and settings) "
                  f"on the same video, after the run: {wall:.2f} s wall, {cpu:.2f} CPU-s "
                  "(median of 5)."]
    lines.append("")
    text = "\n".join(lines)
    with open(a.out, "w") as f:
        f.write(text)
    print(text)


main()
