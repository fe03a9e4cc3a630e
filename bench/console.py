#!/usr/bin/env python3
"""Server time of every console page with 1,000 assets in the service (issue 11: < 50 ms).

Usage: bench/console.py [--depot PATH] [--assets N] [--rounds N]
Builds nothing: run `cargo build --release` first. Starts `depot serve` on a free port with
debug request logs (JSON), fills one service through the API with N assets of one version each,
a build of all of them deployed to an environment, 20 variables and 1,000 log lines (written
straight into the SQLite database, as function invocations would), signs in to the console and
requests each page `rounds` times after 5 warm-up requests. Server time is what depot itself
logs per request (`micros`, from the request's arrival to its response); client time adds the
loopback round trip and Python. Prints a markdown table.
"""

import argparse
import base64
import http.client
import json
import os
import re
import sqlite3
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid

SID = "ACbe0c0000000000000000000000000011"
TOKEN = "bench-console-token"
AUTH = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()


class Depot:
    def __init__(self, binary, data):
        env = dict(os.environ, DEPOT_LOG="depot::http=debug,warn",
                   DEPOT_ACCOUNT_SID=SID, DEPOT_AUTH_TOKEN=TOKEN)
        env.pop("DEPOT_PUBLIC_URL", None)
        self.proc = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", data,
             "--log-format", "json", "--max-builds-per-hour", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
        for line in self.proc.stdout:
            found = re.search(r"listening on http://([\d.]+):(\d+)", line)
            if found:
                self.port = int(found.group(2))
                break
        self.console_micros = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read_logs, daemon=True).start()
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()

    def _read_logs(self):
        for line in self.proc.stderr:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            fields = event.get("fields", {})
            if fields.get("surface") == "console" and "micros" in fields:
                with self.lock:
                    self.console_micros.append(int(fields["micros"]))

    def take_micros(self, count):
        deadline = time.time() + 10
        while time.time() < deadline:
            with self.lock:
                if len(self.console_micros) >= count:
                    taken, self.console_micros = self.console_micros[:count], self.console_micros[count:]
                    return taken
            time.sleep(0.01)
        raise SystemExit("depot did not log the console requests (is DEPOT_LOG honoured?)")

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def call(conn, method, path, body=None, headers=None):
    headers = dict(headers or {})
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    return response.status, response.getheaders(), data


def api(conn, method, path, form=None):
    body = urllib.parse.urlencode(form or {}, doseq=True) if form is not None else None
    headers = {"Authorization": AUTH}
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    status, _, data = call(conn, method, path, body, headers)
    if status >= 300:
        raise SystemExit(f"{method} {path}: {status} {data[:200]!r}")
    return json.loads(data) if data else None


def upload(conn, service, asset, path, content):
    boundary = "bench" + uuid.uuid4().hex
    parts = []
    for name, value in (("Path", path), ("Visibility", "public")):
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="Content"; filename="f"\r\n'
                 f'Content-Type: text/plain\r\n\r\n'.encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    headers = {"Authorization": AUTH, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    status, _, data = call(conn, "POST", f"/v1/Services/{service}/Assets/{asset}/Versions", b"".join(parts), headers)
    if status != 201:
        raise SystemExit(f"upload: {status} {data[:200]!r}")
    return json.loads(data)["sid"]


def fill(conn, assets, data_dir):
    service = api(conn, "POST", "/v1/Services", {"UniqueName": "bench", "FriendlyName": "Bench"})["sid"]
    env = api(conn, "POST", f"/v1/Services/{service}/Environments", {"UniqueName": "production"})["sid"]
    versions = []
    for i in range(assets):
        asset = api(conn, "POST", f"/v1/Services/{service}/Assets", {"FriendlyName": f"file-{i:04}.txt"})["sid"]
        versions.append(upload(conn, service, asset, f"/files/file-{i:04}.txt", f"content {i}\n".encode()))
    build = api(conn, "POST", f"/v1/Services/{service}/Builds", {"AssetVersions": versions})["sid"]
    for _ in range(600):
        if api(conn, "GET", f"/v1/Services/{service}/Builds/{build}/Status")["status"] != "building":
            break
        time.sleep(0.1)
    api(conn, "POST", f"/v1/Services/{service}/Environments/{env}/Deployments", {"BuildSid": build})
    for i in range(20):
        api(conn, "POST", f"/v1/Services/{service}/Environments/{env}/Variables", {"Key": f"KEY_{i}", "Value": f"value {i}"})
    db = sqlite3.connect(os.path.join(data_dir, "depot.db"), timeout=30)
    now = int(time.time())
    db.executemany(
        "INSERT INTO logs (sid, account_sid, service_sid, environment_sid, request_sid, level, message, date_created) "
        "VALUES (?, ?, ?, ?, ?, 'info', ?, ?)",
        [("NO" + uuid.uuid4().hex, SID, service, env, "RQ" + uuid.uuid4().hex, f"log line {i} <b>escaped</b>", now - 1000 + i)
         for i in range(1000)])
    db.commit()
    db.close()
    return service, env, build


def sign_in(conn):
    body = urllib.parse.urlencode({"AccountSid": SID, "AuthToken": TOKEN})
    status, headers, _ = call(conn, "POST", "/console/sign-in", body, {"Content-Type": "application/x-www-form-urlencoded"})
    cookie = next(v for k, v in headers if k.lower() == "set-cookie").split(";")[0]
    assert status == 303, status
    return cookie


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser()
    target = os.environ.get("CARGO_TARGET_DIR", "target")
    parser.add_argument("--depot", default=os.path.join(target, "release", "depot"))
    parser.add_argument("--assets", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    data = tempfile.mkdtemp(prefix="depot-console-bench-")
    depot = Depot(args.depot, data)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", depot.port)
        started = time.time()
        service, env, build = fill(conn, args.assets, data)
        filled = time.time() - started
        cookie = sign_in(conn)
        depot.take_micros(1)
        base = f"/console/services/{service}"
        pages = [
            ("sign-in", "/console/sign-in"),
            ("services", "/console/services"),
            ("service overview", base),
            (f"files ({args.assets} assets)", f"{base}/files"),
            (f"build ({args.assets} files)", f"{base}/builds/{build}"),
            ("environment (20 variables)", f"{base}/environments/{env}"),
            ("logs (newest 100 of 1,000)", f"{base}/environments/{env}/logs"),
            ("logs feed (JSON)", f"{base}/environments/{env}/logs.json?after=0"),
        ]
        print(f"filled in {filled:.1f} s: 1 service, {args.assets} assets, 1 build, 20 variables, 1,000 logs\n")
        print("| page | bytes | server median ms | server p95 ms | server max ms | client median ms | < 50 ms |")
        print("|---|--:|--:|--:|--:|--:|:-:|")
        for name, path in pages:
            headers = {"Cookie": cookie}
            for _ in range(5):
                status, _, body = call(conn, "GET", path, headers=headers)
                assert status == 200, (path, status)
            depot.take_micros(5)
            client = []
            for _ in range(args.rounds):
                t0 = time.perf_counter()
                status, _, body = call(conn, "GET", path, headers=headers)
                client.append((time.perf_counter() - t0) * 1000)
                assert status == 200, (path, status)
            server = [m / 1000 for m in depot.take_micros(args.rounds)]
            ok = "yes" if max(server) < 50 else "**no**"
            print(f"| {name} | {len(body):,} | {statistics.median(server):.2f} | {percentile(server, 95):.2f} | "
                  f"{max(server):.2f} | {statistics.median(client):.2f} | {ok} |")
    finally:
        depot.stop()


if __name__ == "__main__":
    main()
