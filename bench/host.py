#!/usr/bin/env python3
"""Benchmarks depot's asset host alone: deploys a 1 KiB page, a 100 KiB image, a 100 KiB
script and a 5 MiB file, then runs wrk (2 threads, 64 connections) per case. For figures
beside nginx and static-web-server use ../shared/bench/static.sh (see README.md).

Usage: bench/host.py [--seconds N] [--depot PATH]   (needs wrk; cargo build --release first)
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import deploy as d  # noqa: E402  (the deploy benchmark's small HTTP helpers)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--depot", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "depot"))
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="depot-host-bench.")
    env = dict(os.environ, DEPOT_ACCOUNT_SID=d.SID, DEPOT_AUTH_TOKEN=d.TOKEN, DEPOT_LOG="warn")
    proc = subprocess.Popen([args.depot, "serve", "--listen", "127.0.0.1:0", "--data-dir", work],
                            env=env, stdout=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            if "listening on http://" in line:
                port = int(line.strip().rsplit(":", 1)[1])
                break
        files = {
            "/page.html": ("text/html", b"<p>" + b"x" * 1017 + b"\n"),
            "/img.png": ("image/png", os.urandom(100 * 1024)),
            "/app.js": ("application/javascript", b"".join(b"function f%d(a){return a*%d}\n" % (i, i) for i in range(4000))[:100 * 1024]),
            "/blob.bin": ("application/octet-stream", os.urandom(5 << 20)),
        }
        svc = d.call(port, "POST", "/v1/Services", d.form(UniqueName="hostbench", FriendlyName="h"))["sid"]
        versions = []
        for path, (ctype, data) in files.items():
            asset = d.call(port, "POST", f"/v1/Services/{svc}/Assets", d.form(FriendlyName=path))["sid"]
            body = d.multipart(path, data).replace(b"Content-Type: text/html", f"Content-Type: {ctype}".encode())
            versions.append(d.call(port, "POST", f"/v1/Services/{svc}/Assets/{asset}/Versions", body,
                                   f"multipart/form-data; boundary={d.BOUNDARY}")["sid"])
        build = d.call(port, "POST", f"/v1/Services/{svc}/Builds", "&".join(f"AssetVersions={v}" for v in versions))["sid"]
        while d.call(port, "GET", f"/v1/Services/{svc}/Builds/{build}/Status")["status"] == "building":
            pass
        environment = d.call(port, "POST", f"/v1/Services/{svc}/Environments", d.form(UniqueName="production"))
        d.call(port, "POST", f"/v1/Services/{svc}/Environments/{environment['sid']}/Deployments", d.form(BuildSid=build))
        host = environment["domain_name"]
        etag = None
        c = d.conn(port)
        c.request("GET", "/page.html", headers={"Host": host})
        r = c.getresponse()
        r.read()
        etag = r.getheader("ETag")
        cases = [
            ("small-1k", "/page.html", []),
            ("medium-100k", "/img.png", []),
            ("cond-304", "/page.html", ["-H", f"If-None-Match: {etag}"]),
            ("gzip-100k-js", "/app.js", ["-H", "Accept-Encoding: gzip"]),
            ("large-5m", "/blob.bin", []),
        ]
        print("| case | req/s | MB/s (transfer) |")
        print("|---|--:|--:|")
        for name, path, extra in cases:
            out = subprocess.run(["wrk", "-t2", "-c64", f"-d{args.seconds}s", "-H", f"Host: {host}", *extra,
                                  f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True).stdout
            rps = re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)
            transfer = re.search(r"Transfer/sec:\s+([\d.]+\w+)", out).group(1)
            print(f"| {name} | {float(rps):.0f} | {transfer} |")
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
