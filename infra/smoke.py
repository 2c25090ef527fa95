"""Smoke test of a deployed Emo: the spec's call flow (section 4) against its URL.

    python3 infra/smoke.py https://abc123.execute-api.cn-north-1.amazonaws.com.cn

Registers a fresh user (a random 138 phone number), logs in, creates one text-to-video job,
polls it as the mini-program does until it ends, downloads the GIF from `video_url` and checks it
is a GIF of at most 500 KB and its thumbnail a 120 x 120 PNG, finds the job in the user's list,
then changes the password and checks the old token is refused (with the new one, it deletes the
job). It prints each step and exits non-zero at the first that fails. It makes one real
DashScope video (billed to the account). Python's standard library only.
"""

import json
import random
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def call(method, url, fields=None, token=None):
    data = urllib.parse.urlencode(fields).encode() if fields is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        body = e.read()
        try:
            return e.code, json.loads(body)
        except ValueError:
            return e.code, body.decode(errors="replace")


def step(what, ok, detail):
    print(f"{'ok  ' if ok else 'FAIL'} {what}: {detail}", flush=True)
    if not ok:
        sys.exit(1)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    base = sys.argv[1].rstrip("/")
    api = f"{base}/api/v1"
    phone = "138" + "".join(random.choice("0123456789") for _ in range(8))
    password = "smoke-" + "".join(random.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(12))

    status, body = call("POST", f"{api}/users/register", {"phone": phone, "password": password})
    step("register", status == 200 and body.get("code") == 0, f"{status} {body}")
    status, body = call("POST", f"{api}/users/login", {"phone": phone, "password": password})
    token = (body.get("data") or {}).get("token") if isinstance(body, dict) else None
    step("login", status == 200 and bool(token), f"{status}, token of {len(token or '')} characters")

    started = time.time()
    status, body = call("POST", f"{api}/video/create", {
        "type": "text_to_video", "prompt": "一只可爱的橘猫开心地挥手，卡通风格"}, token)
    job = (body.get("data") or {}).get("job_id") if isinstance(body, dict) else None
    step("create", status == 200 and bool(job), f"{status} {body}")

    last = None
    while True:
        status, body = call("GET", f"{api}/video/query/{job}", token=token)
        data = body.get("data") or {} if isinstance(body, dict) else {}
        if data.get("status") != last:
            last = data.get("status")
            print(f"     {time.time() - started:5.0f} s  {last}", flush=True)
        if status != 200 or last in ("SUCCEEDED", "FAILED"):
            break
        if time.time() - started > 900:
            step("job", False, "still not done after 15 minutes")
        time.sleep(5)
    step("job", last == "SUCCEEDED", f"{last} after {time.time() - started:.0f} s {data.get('error_message') or ''}")

    with urllib.request.urlopen(data["video_url"], timeout=60) as resp:
        gif = resp.read()
    step("sticker", gif[:6] in (b"GIF89a", b"GIF87a") and len(gif) <= 512_000,
         f"{len(gif)} bytes, {data.get('width')}x{data.get('height')}")

    with urllib.request.urlopen(data["thumbnail_url"], timeout=60) as resp:
        png = resp.read()
    size = (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big"))
    step("thumbnail", png[:8] == b"\x89PNG\r\n\x1a\n" and size == (120, 120), f"{len(png)} bytes, {size}")
    status, body = call("GET", f"{api}/video/list?limit=5", token=token)
    listed = [j.get("job_id") for j in ((body.get("data") or {}).get("jobs") or [])] if isinstance(body, dict) else []
    step("list", status == 200 and listed == [job], f"{status} {listed}")

    status, body = call("POST", f"{api}/users/change-password",
                        {"newPassword": password + "-2"}, token)
    step("change password", status == 200, f"{status} {body.get('message') if isinstance(body, dict) else body}")
    new_token = (body.get("data") or {}).get("token") if isinstance(body, dict) else None
    status, _ = call("GET", f"{api}/video/query/{job}", token=token)
    step("old token refused", status == 401, f"{status}")
    status, body = call("DELETE", f"{api}/video/{job}", token=new_token)
    step("delete", status == 200, f"{status} {body}")
    print(f"smoke test passed against {base} in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
