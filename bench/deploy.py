#!/usr/bin/env python3
"""Times a deploy of N small assets through depot's API, the way serverless-api does it
(10 requests in flight): create each Asset, upload its Version, create a Build of all, poll
its Status, create an Environment and a Deployment. Then checks one file on the domain.

Usage: bench/deploy.py [--assets N] [--rounds N] [--depot PATH]   (cargo build --release first)
       bench/deploy.py --port P ...   uses a depot already listening on 127.0.0.1:P, with the
                                      credentials in DEPOT_ACCOUNT_SID / DEPOT_AUTH_TOKEN
"""

import argparse
import base64
import http.client
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

SID = os.environ.get("DEPOT_ACCOUNT_SID", "ACbe0c0000000000000000000000000004")
TOKEN = os.environ.get("DEPOT_AUTH_TOKEN", "bench-deploy-token")
AUTH = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
BOUNDARY = "depotbenchboundary"
local = threading.local()


def conn(port):
    c = getattr(local, "conn", None)
    if c is None:
        c = local.conn = http.client.HTTPConnection("127.0.0.1", port)
    return c


def call(port, method, path, body=None, content_type="application/x-www-form-urlencoded", host=None):
    headers = {"Authorization": AUTH}
    if body is not None:
        headers["Content-Type"] = content_type
    if host:
        headers["Host"] = host
    c = conn(port)
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    if r.status >= 300:
        raise RuntimeError(f"{method} {path}: {r.status} {data[:200]!r}")
    return json.loads(data) if data and host is None else data


def form(**kw):
    return "&".join(f"{k}={v}" for k, v in kw.items())


def multipart(path, data):
    parts = []
    for name, value in (("Path", path.encode()), ("Visibility", b"public")):
        parts.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value + b"\r\n")
    parts.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="Content"; filename="f"\r\n'
                 f"Content-Type: text/html\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{BOUNDARY}--\r\n".encode())
    return b"".join(parts)


def deploy(port, name, count):
    svc = call(port, "POST", "/v1/Services", form(UniqueName=name, FriendlyName=name))["sid"]

    def one(i):
        path = f"/page-{i:04}.html"
        asset = call(port, "POST", f"/v1/Services/{svc}/Assets", form(FriendlyName=path))["sid"]
        data = (f"<html><body>page {i} of {name}</body></html>\n" * 20).encode()
        body = multipart(path, data)
        return call(port, "POST", f"/v1/Services/{svc}/Assets/{asset}/Versions", body,
                    f"multipart/form-data; boundary={BOUNDARY}")["sid"]

    with ThreadPoolExecutor(10) as pool:
        versions = list(pool.map(one, range(count)))
    build = call(port, "POST", f"/v1/Services/{svc}/Builds",
                 "&".join(f"AssetVersions={v}" for v in versions))["sid"]
    while True:
        status = call(port, "GET", f"/v1/Services/{svc}/Builds/{build}/Status")["status"]
        if status != "building":
            break
        time.sleep(0.05)
    assert status == "completed", status
    env = call(port, "POST", f"/v1/Services/{svc}/Environments", form(UniqueName="production"))
    call(port, "POST", f"/v1/Services/{svc}/Environments/{env['sid']}/Deployments", form(BuildSid=build))
    return env["domain_name"]


def measure(args, port):
    times = []
    for r in range(args.rounds):
        name = f"deploy-bench-{os.getpid()}-{r}"
        start = time.perf_counter()
        domain = deploy(port, name, args.assets)
        times.append(time.perf_counter() - start)
        page = call(port, "GET", "/page-0007.html", host=domain)
        assert b"page 7 of" in page
    return times


def report(args, times):
    print(f"| deploy of {args.assets} small assets (upload + build + deployment) | seconds |")
    print("|---|--:|")
    print(f"| median of {args.rounds} | {statistics.median(times):.2f} |")
    print(f"| min / max | {min(times):.2f} / {max(times):.2f} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--assets", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--depot", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "depot"))
    ap.add_argument("--port", type=int, help="use this running depot instead of starting one")
    args = ap.parse_args()
    if args.port:
        report(args, measure(args, args.port))
        return
    work = tempfile.mkdtemp(prefix="depot-deploy-bench.")
    env = dict(os.environ, DEPOT_ACCOUNT_SID=SID, DEPOT_AUTH_TOKEN=TOKEN, DEPOT_LOG="warn")
    proc = subprocess.Popen([args.depot, "serve", "--listen", "127.0.0.1:0", "--data-dir", work],
                            env=env, stdout=subprocess.PIPE, text=True)
    try:
        port = None
        for line in proc.stdout:
            if "listening on http://" in line:
                port = int(line.strip().rsplit(":", 1)[1])
                break
        report(args, measure(args, port))
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
