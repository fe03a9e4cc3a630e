#!/usr/bin/env python3
"""Benchmarks Asset Version uploads against a plain `cp` of the same file to the same disk.

Usage: bench/upload.py [--rounds N] [--size-mib N] [--depot PATH]
Builds nothing: run `cargo build --release` first (bench/run.sh does). Needs curl.
Prints a markdown table: median seconds and MB/s of cp and of the upload, their ratio, and
depot's peak RSS above idle while 8 uploads run at once.
"""

import argparse
import base64
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request

SID = "ACbe0c0000000000000000000000000003"
TOKEN = "bench-upload-token"


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def api(base, method, path, data=None):
    body = None if data is None else "&".join(f"{k}={v}" for k, v in data.items()).encode()
    req = urllib.request.Request(base + path, data=body, method=method)
    req.add_header("Authorization", "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode())
    if body is not None:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    with urllib.request.urlopen(req) as r:
        return json.load(r)


def upload(base, service, asset, path):
    out = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-u", f"{SID}:{TOKEN}",
         f"{base}/v1/Services/{service}/Assets/{asset}/Versions",
         "-F", "Path=/big.bin", "-F", "Visibility=public", "-F", f"Content=@{path}"],
        check=True, capture_output=True, text=True)
    assert out.stdout == "201", out.stdout


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--size-mib", type=int, default=25)
    ap.add_argument("--depot", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "depot"))
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="depot-upload-bench.")
    data_dir = os.path.join(work, "data")
    env = dict(os.environ, DEPOT_ACCOUNT_SID=SID, DEPOT_AUTH_TOKEN=TOKEN, DEPOT_LOG="warn")
    proc = subprocess.Popen([args.depot, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir],
                            env=env, stdout=subprocess.PIPE, text=True)
    try:
        base = None
        for line in proc.stdout:
            if "listening on http://" in line:
                base = line[line.index("http://"):].strip()
                break
        service = api(base, "POST", "/v1/Services", {"UniqueName": "upload-bench", "FriendlyName": "b"})["sid"]
        asset = api(base, "POST", f"/v1/Services/{service}/Assets", {"FriendlyName": "big"})["sid"]

        size = args.size_mib << 20
        # Each round gets different bytes, so the server stores every upload anew.
        sources = []
        for i in range(args.rounds):
            path = os.path.join(work, f"src-{i}.bin")
            with open(path, "wb") as f:
                f.write(os.urandom(size))
            sources.append(path)
        copies = os.path.join(data_dir, "cp-target")
        os.makedirs(copies, exist_ok=True)

        cp_times, sync_times, up_times = [], [], []
        for i, src in enumerate(sources):
            cp_times.append(timed(lambda: subprocess.run(["cp", src, os.path.join(copies, f"{i}.bin")], check=True)))
            # depot fsyncs what it stores; this row is the same copy made durable.
            durable = os.path.join(copies, f"{i}.durable")
            sync_times.append(timed(lambda: subprocess.run(["dd", f"if={src}", f"of={durable}", "bs=1M",
                                                            "conv=fsync", "status=none"], check=True)))
            up_times.append(timed(lambda: upload(base, service, asset, src)))
        cp_s, up_s = statistics.median(cp_times), statistics.median(up_times)
        sync_s = statistics.median(sync_times)

        idle = rss_kib(proc.pid)
        peak = idle
        stop = threading.Event()

        def sample():
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, rss_kib(proc.pid))
                time.sleep(0.005)

        sampler = threading.Thread(target=sample)
        sampler.start()
        threads = [threading.Thread(target=upload, args=(base, service, asset, sources[i % len(sources)]))
                   for i in range(8)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        parallel_s = time.perf_counter() - start
        stop.set()
        sampler.join()

        mb = size / 1e6
        print(f"| what ({args.size_mib} MiB, median of {args.rounds}) | seconds | MB/s |")
        print("|---|--:|--:|")
        print(f"| cp to the data dir's disk | {cp_s:.4f} | {mb / cp_s:.0f} |")
        print(f"| upload through depot (curl multipart) | {up_s:.4f} | {mb / up_s:.0f} |")
        print(f"| copy + fsync (dd conv=fsync) | {sync_s:.4f} | {mb / sync_s:.0f} |")
        print(f"| upload / cp | | {cp_s / up_s:.2f} |")
        print(f"| upload / (copy + fsync) | | {sync_s / up_s:.2f} |")
        print(f"| 8 uploads at once (total) | {parallel_s:.3f} | {8 * mb / parallel_s:.0f} |")
        print()
        print(f"depot RSS: idle {idle / 1024:.1f} MiB, peak during 8 parallel uploads "
              f"{peak / 1024:.1f} MiB, above idle {(peak - idle) / 1024:.1f} MiB")
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
