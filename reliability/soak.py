#!/usr/bin/env python3
"""Soak: legitimate API and asset-host traffic for a while, beside bounded hostile traffic.

Starts depot on a temp data dir and deploys a small site (1 KB html, 100 KB text, a script,
a binary, a protected and a private asset). Then, for --duration seconds, concurrently:

  legitimate API   list (and follow next_page_url) / fetch / create / upload / delete, and a
                   build + deploy every ~8 s (the live build switches under host load);
  legitimate host  GET (bytes checked), HEAD, If-None-Match (304), Range (206, bytes checked),
                   gzip (decompressed and checked), br, signed protected (200), unsigned
                   protected (403) and private (404);
  hostile          slow clients sending header bytes at 1 byte/s, idle connections that never
                   send, uploads that stall halfway (all together at most --slow-sockets +
                   --idle-sockets + 5 sockets), 300 KB Host / 300 KB Basic user / 500 KB header
                   lines / 5,000 headers, bad Basic credentials, garbage bytes, random SIDs and
                   page tokens.

Legitimate requests must never get a 5xx, fail to connect, or take over 10 s (or return wrong
bytes): any of those makes the exit status 1. Hostile requests may get any 4xx or be closed;
what happened to them is reported. At the end: status classes, p50/p99 latency per kind,
depot's RSS (start, every 30 s, end) and open fds, then SIGTERM with idle connections open.

Usage: reliability/soak.py [--binary PATH] [--duration SECONDS] [--seed S] [--keep]
"""

import argparse
import base64
import gzip
import http.client
import json
import os
import random
import select
import shutil
import socket
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter, defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

TIMEOUT = 10.0


class Stats:
    """Outcomes of legitimate requests and of hostile ones, thread-safe."""

    def __init__(self):
        self.lock = threading.Lock()
        self.classes = defaultdict(Counter)   # kind -> "2xx"/... -> n
        self.latency = defaultdict(list)      # kind -> seconds
        self.failures = []                    # 5xx, connection failures, timeouts, wrong bytes
        self.unexpected = Counter()           # legitimate 4xx that were not expected
        self.hostile = defaultdict(Counter)   # attack -> outcome -> n
        self.lifetimes = defaultdict(list)    # hostile socket kind -> seconds until closed
        self.retries = 0

    def legit(self, kind, what, status, seconds, expect):
        with self.lock:
            self.latency[kind].append(seconds)
            self.classes[kind][f"{status // 100}xx"] += 1
            if status >= 500:
                self.failures.append(f"{kind} {what} -> {status}")
            elif status not in expect:
                self.unexpected[f"{kind} {what.split('?')[0]} -> {status} (expected {expect})"] += 1

    def fail(self, kind, message):
        with self.lock:
            self.classes[kind]["failed"] += 1
            self.failures.append(f"{kind} {message}")

    def saw(self, attack, outcome):
        with self.lock:
            self.hostile[attack][outcome] += 1


class Client:
    """A legitimate keep-alive client; a request on a reused connection that the server had
    already closed is retried once on a new one, as browsers and HTTP libraries do."""

    def __init__(self, port, stats, kind):
        self.port, self.stats, self.kind, self.conn, self.used = port, stats, kind, None, False

    def call(self, method, path, body=None, headers=None, expect=(200,), auth=True, host=None):
        """Returns (status, headers, body), or None after recording a failure."""
        what = f"{method} {path}" + (f" [{headers}]" if headers and self.kind == "host" else "")
        start = time.monotonic()
        for attempt in (0, 1):
            if self.conn is None:
                self.conn, self.used = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT), False
            try:
                status, h, data = c.send(self.conn, method, path, body, headers, auth, host)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
                self.conn.close()
                reused, self.conn = self.used, None
                if reused and attempt == 0:
                    with self.stats.lock:
                        self.stats.retries += 1
                    continue
                self.stats.fail(self.kind, f"{what}: {e!r}")
                return None
            except (OSError, http.client.HTTPException) as e:
                self.conn.close()
                self.conn = None
                self.stats.fail(self.kind, f"{what}: {e!r} after {time.monotonic() - start:.1f}s")
                return None
            self.used = True
            if h.get("connection", "").lower() == "close":
                self.conn.close()
                self.conn = None
            self.stats.legit(self.kind, what, status, time.monotonic() - start, expect)
            return status, h, data
        return None

    def close(self):
        if self.conn:
            self.conn.close()


def setup(port, rng):
    """A service, its production environment and a deployed build of the base files."""
    def post(path, body, ctype=None):
        h = {"Content-Type": ctype} if ctype else None
        status, _, data = c.request(port, "POST", path, body if ctype else c.form(body), h)
        assert status == 201, (path, status, data)
        return json.loads(data)

    service = post("/v1/Services", {"UniqueName": "soak", "FriendlyName": "soak"})["sid"]
    files = {
        "/index.html": ("public", c.content("html", 1024, 1)),
        "/big.txt": ("public", c.content("txt", 100 * 1024, 2)),
        "/app.js": ("public", c.content("js", 20 * 1024, 3)),
        "/img.bin": ("public", c.content("bin", 50 * 1024, 4)),
        "/secret.txt": ("protected", c.content("txt", 2048, 5)),
        "/private.json": ("private", c.content("json", 4096, 6)),
    }
    site = {"service": service, "files": files, "versions": [], "assets": []}
    for path, (visibility, data) in files.items():
        asset = post(f"/v1/Services/{service}/Assets", {"FriendlyName": path})["sid"]
        site["assets"].append(asset)
        site["versions"].append(post(f"/v1/Services/{service}/Assets/{asset}/Versions",
                                     c.multipart(path, visibility, data), c.MULTIPART_TYPE)["sid"])
    site["rotating"] = post(f"/v1/Services/{service}/Assets", {"FriendlyName": "rotating"})["sid"]
    site["stall"] = post(f"/v1/Services/{service}/Assets", {"FriendlyName": "stall"})["sid"]
    env = post(f"/v1/Services/{service}/Environments", {"UniqueName": "production", "DomainSuffix": "prod"})
    site["env"], site["domain"] = env["sid"], env["domain_name"]
    build = post(f"/v1/Services/{service}/Builds", [("AssetVersions", v) for v in site["versions"]])["sid"]
    while json.loads(c.request(port, "GET", f"/v1/Services/{service}/Builds/{build}/Status")[2])["status"] == "building":
        time.sleep(0.05)
    post(f"/v1/Services/{service}/Environments/{site['env']}/Deployments", {"BuildSid": build})
    return site


def api_worker(port, site, stats, stop, rng, builder, scratch):
    """Legitimate API traffic; `builder` also builds and deploys every ~8 s."""
    cl, svc = Client(port, stats, "api"), site["service"]
    base, next_build = f"/v1/Services/{svc}", time.monotonic() + 2
    try:
        while not stop.is_set():
            if builder and time.monotonic() > next_build:
                build_and_deploy(cl, site, rng, stop)
                next_build = time.monotonic() + 8
            op = rng.choices(["list", "fetch", "version", "others", "create", "delete"], [25, 20, 15, 15, 15, 10])[0]
            if op == "list":
                r = cl.call("GET", f"{base}/Assets?PageSize={rng.randint(1, 20)}")
                for _ in range(3):
                    nxt = r and r[0] == 200 and json.loads(r[2])["meta"].get("next_page_url")
                    if not nxt:
                        break
                    u = urllib.parse.urlsplit(nxt)
                    r = cl.call("GET", f"{u.path}?{u.query}")
            elif op == "fetch":
                cl.call("GET", f"{base}/Assets/{rng.choice(site['assets'])}")
            elif op == "version":
                i = rng.randrange(len(site["versions"]))
                cl.call("GET", f"{base}/Assets/{site['assets'][i]}/Versions/{site['versions'][i]}")
            elif op == "others":
                cl.call("GET", rng.choice([f"{base}", f"{base}/Builds?PageSize=5", f"{base}/Environments",
                                           f"{base}/Environments/{site['env']}/Deployments?PageSize=5",
                                           f"{base}/Environments/{site['env']}/Logs", "/v1/Services"]))
            elif op == "create":
                r = cl.call("POST", f"{base}/Assets", c.form({"FriendlyName": "scratch"}), expect=(201,))
                if r and r[0] == 201:
                    asset = json.loads(r[2])["sid"]
                    kind = rng.choice(c.KINDS)
                    data = c.content(kind, c.random_size(rng, 65536), rng.getrandbits(32))
                    cl.call("POST", f"{base}/Assets/{asset}/Versions",
                            c.multipart(f"/scratch/{asset}.{kind}", "public", data),
                            {"Content-Type": c.MULTIPART_TYPE}, expect=(201,))
                    with stats.lock:
                        scratch.append(asset)
            elif op == "delete":
                with stats.lock:
                    asset = scratch.pop(rng.randrange(len(scratch))) if scratch else None
                if asset:
                    cl.call("DELETE", f"{base}/Assets/{asset}", expect=(204,))
    finally:
        cl.close()


def build_and_deploy(cl, site, rng, stop):
    """A new version of /rotating.css, a build of it with the base files, deployed."""
    base = f"/v1/Services/{site['service']}"
    data = c.content("css", rng.randint(300, 30000), rng.getrandbits(32))
    r = cl.call("POST", f"{base}/Assets/{site['rotating']}/Versions", c.multipart("/rotating.css", "public", data),
                {"Content-Type": c.MULTIPART_TYPE}, expect=(201,))
    if not r or r[0] != 201:
        return
    versions = site["versions"] + [json.loads(r[2])["sid"]]
    r = cl.call("POST", f"{base}/Builds", c.form([("AssetVersions", v) for v in versions]), expect=(201,))
    if not r or r[0] != 201:
        return
    build, deadline = json.loads(r[2])["sid"], time.monotonic() + 30
    while not stop.is_set() and time.monotonic() < deadline:
        r = cl.call("GET", f"{base}/Builds/{build}/Status")
        if not r or json.loads(r[2]).get("status") != "building":
            break
        time.sleep(0.1)
    if r and json.loads(r[2]).get("status") == "completed":
        cl.call("POST", f"{base}/Environments/{site['env']}/Deployments", c.form({"BuildSid": build}), expect=(201,))


def host_worker(port, site, stats, stop, rng):
    """Legitimate asset-host traffic; every full body is compared with the uploaded bytes."""
    cl, domain, files = Client(port, stats, "host"), site["domain"], site["files"]
    etags = {}
    try:
        while not stop.is_set():
            path = rng.choice(["/index.html", "/big.txt", "/app.js", "/img.bin"])
            data = files[path][1]
            op = rng.choice(["get", "head", "cond", "range", "gzip", "br", "protected", "unsigned", "private"])
            headers, expect, want = {}, (200,), data
            if op == "cond" and path in etags:
                headers["If-None-Match"], expect, want = etags[path], (304,), b""
            elif op == "range":
                a = rng.randrange(len(data))
                b = min(len(data) - 1, a + rng.randrange(1, 20000))
                headers["Range"], expect, want = f"bytes={a}-{b}", (206,), data[a:b + 1]
            elif op in ("gzip", "br"):
                headers["Accept-Encoding"] = op
            elif op in ("protected", "unsigned"):
                path, want = "/secret.txt", files["/secret.txt"][1]
                if op == "protected":
                    headers["X-Twilio-Signature"] = c.signature(f"http://{domain}{path}")
                else:
                    expect, want = (403,), None
            elif op == "private":
                path, expect, want = "/private.json", (404,), None
            method = "HEAD" if op == "head" else "GET"
            r = cl.call(method, path, headers=headers, expect=expect, auth=False, host=domain)
            if not r or r[0] not in expect or want is None:
                continue
            status, h, body = r
            if op == "get":
                etags[path] = h.get("etag")
            if h.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            elif h.get("content-encoding") == "br":
                body, want = len(body), int(h.get("content-length", -1))
            if method == "HEAD":
                body, want = int(h.get("content-length", -1)), len(data)
            if body != want and status != 304:
                stats.fail("host", f"{method} {path} {headers}: wrong bytes")
    finally:
        cl.close()


class SocketPool:
    """Slow-header, idle and stalled-upload sockets, kept at their counts from one thread."""

    def __init__(self, port, site, stats, rng, slow, idle):
        self.port, self.site, self.stats, self.rng = port, site, stats, rng
        self.want = {"slow": slow, "idle": idle, "stall": 5}
        self.socks = []  # [socket, kind, opened, bytes of the slow header sent]

    def open(self, kind):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        s.setblocking(False)
        if kind == "slow":
            s.send(f"GET /index.html HTTP/1.1\r\nHost: {self.site['domain']}\r\n".encode())
        elif kind == "stall":
            body = c.multipart("/stall.bin", "public", os.urandom(200_000))
            path = f"/v1/Services/{self.site['service']}/Assets/{self.site['stall']}/Versions"
            head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {c.AUTH}\r\n"
                    f"Content-Type: {c.MULTIPART_TYPE}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
            s.settimeout(5)
            s.sendall(head + body[:len(body) // 2])
            s.setblocking(False)
        self.socks.append([s, kind, time.monotonic(), 0])
        self.stats.saw(kind, "opened")

    def tick(self, stop):
        """Once a second: note sockets the server closed or answered, send slow bytes, refill."""
        for entry in list(self.socks):
            s, kind, opened, _ = entry
            outcome = None
            try:
                if select.select([s], [], [], 0)[0]:
                    data = s.recv(4096)
                    outcome = f"answered {data[9:12].decode(errors='replace')}" if data else "closed by server"
                elif kind == "slow":
                    s.send(b"X-Slow: " if entry[3] == 0 else b"a")
                    entry[3] += 1
            except OSError:
                outcome = "reset"
            if outcome:
                self.stats.saw(kind, outcome)
                self.stats.lifetimes[kind].append(time.monotonic() - opened)
                s.close()
                self.socks.remove(entry)
        for kind, n in self.want.items():
            have = sum(1 for e in self.socks if e[1] == kind)
            for _ in range(min(n - have, 50 if kind != "stall" else 1)):
                if stop.is_set():
                    return
                try:
                    self.open(kind)
                except OSError as e:
                    self.stats.saw(kind, f"cannot open: {type(e).__name__}")

    def run(self, stop):
        while not stop.is_set():
            t = time.monotonic()
            self.tick(stop)
            stop.wait(max(0.0, 1.0 - (time.monotonic() - t)))

    def close(self):
        for s, *_ in self.socks:
            s.close()
        self.socks = []


def hostile_requests(port, site, stats, stop, rng):
    """About 10 hostile requests a second, each on its own raw socket."""
    svc, domain = site["service"], site["domain"]
    big_user = base64.b64encode(b"u" * 300_000 + b":x").decode()
    attacks = {
        "300 KB Host": lambda: f"GET / HTTP/1.1\r\nHost: {'h' * 300_000}.localhost\r\n\r\n",
        "300 KB Basic user": lambda: f"GET /v1/Services HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {big_user}\r\n\r\n",
        "500 KB header line": lambda: f"GET /index.html HTTP/1.1\r\nHost: {domain}\r\nX-Big: {'b' * 500_000}\r\n\r\n",
        "5,000 headers": lambda: f"GET /index.html HTTP/1.1\r\nHost: {domain}\r\n" + "".join(f"X-H{i}: v\r\n" for i in range(5000)) + "\r\n",
        "bad Basic token": lambda: f"GET /v1/Services HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {base64.b64encode(f'{c.SID}:{rng.getrandbits(64):x}'.encode()).decode()}\r\n\r\n",
        "malformed Basic": lambda: f"GET /v1/Services HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {rng.choice(['!!!', '', 'Og==', 'YQ==', c.SID])}\r\n\r\n",
        "garbage bytes": lambda: os.urandom(rng.randint(1, 4096)),
        "random SID": lambda: f"GET {rng.choice([f'/v1/Services/ZS{rng.getrandbits(128):032x}', f'/v1/Services/{svc}/Assets/ZH{rng.getrandbits(128):032x}', f'/v1/Services/{svc}/Builds/ZB{rng.getrandbits(120):x}/Status', f'/v1/Services/{svc}/Environments/ZE{rng.getrandbits(128):032x}/Deployments'])} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {c.AUTH}\r\n\r\n",
        "random page token": lambda: f"GET /v1/Services/{svc}/Assets?PageSize=5&Page={rng.randint(0, 99)}&PageToken={rng.choice(['PT', 'PA', ''])}{os.urandom(rng.randint(1, 40)).hex()} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {c.AUTH}\r\n\r\n",
        "unknown domain": lambda: f"GET /index.html HTTP/1.1\r\nHost: nope{rng.randrange(999)}-{rng.randrange(10000):04d}.localhost\r\n\r\n",
    }
    names = list(attacks)
    while not stop.is_set():
        name = rng.choice(names)
        payload = attacks[name]()
        stats.saw(name, raw_exchange(port, payload.encode() if isinstance(payload, str) else payload))
        stop.wait(0.1)


def raw_exchange(port, payload, wait=3.0):
    """Sends `payload`, waits up to `wait` s for the status line; returns the outcome."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
            try:
                s.sendall(payload)
            except OSError:
                pass  # the server may answer and close before reading everything
            s.settimeout(wait)
            data = s.recv(64)
    except socket.timeout:
        return f"no answer in {wait:.0f} s"
    except ConnectionResetError:
        return "reset"
    except OSError as e:
        return f"error {type(e).__name__}"
    if data.startswith(b"HTTP/"):
        return data[9:12].decode(errors="replace")
    return "closed" if not data else "non-HTTP answer"


def monitor(depot, stop, samples, started):
    """RSS every 30 s (the first at start)."""
    while True:
        samples.append((time.monotonic() - started, depot.rss_kb()))
        if stop.wait(30):
            return


def shutdown_with_idle(depot, site):
    """SIGTERM while 5 idle and 5 half-sent requests are open: (exit code, seconds)."""
    socks = [socket.create_connection(("127.0.0.1", depot.port)) for _ in range(10)]
    for s in socks[5:]:
        s.sendall(f"GET /index.html HTTP/1.1\r\nHost: {site['domain']}\r\nX-Partial: ".encode())
    time.sleep(0.2)
    try:
        return depot.terminate(timeout=15)
    finally:
        for s in socks:
            s.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=c.DEFAULT_BINARY)
    ap.add_argument("--duration", type=float, default=300)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--slow-sockets", type=int, default=150)
    ap.add_argument("--idle-sockets", type=int, default=45)
    ap.add_argument("--server-timeout", type=float, default=None,
                    help="pass this as depot's header and body timeout, and 1.25 times it as its "
                         "idle timeout, as depot's defaults are (default: depot's own)")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(10**9)
    rng = random.Random(seed)
    root = tempfile.mkdtemp(prefix="depot-soak.")
    server_args = ["--max-builds-per-hour", "0"]
    if args.server_timeout is not None:
        t = args.server_timeout
        server_args += ["--header-timeout", str(t), "--idle-timeout", str(t * 1.25), "--body-timeout", str(t)]
    depot = c.Depot(args.binary, os.path.join(root, "data"), os.path.join(root, "depot.log"),
                    server_args)
    print(f"soak: seed {seed}, {args.duration:.0f} s, depot pid {depot.pid} on port {depot.port}, dir {root}\n"
          f"binary: {c.describe(args.binary)}", flush=True)
    site = setup(depot.port, rng)
    stats, stop, scratch, rss = Stats(), threading.Event(), [], []
    fds_start, started = depot.fds(), time.monotonic()
    pool = SocketPool(depot.port, site, stats, random.Random(rng.random()), args.slow_sockets, args.idle_sockets)
    threads = [threading.Thread(target=monitor, args=(depot, stop, rss, started))]
    threads += [threading.Thread(target=api_worker, args=(depot.port, site, stats, stop, random.Random(rng.random()), i == 0, scratch)) for i in range(2)]
    threads += [threading.Thread(target=host_worker, args=(depot.port, site, stats, stop, random.Random(rng.random()))) for _ in range(2)]
    threads += [threading.Thread(target=hostile_requests, args=(depot.port, site, stats, stop, random.Random(rng.random()))),
                threading.Thread(target=pool.run, args=(stop,))]
    for t in threads:
        t.daemon = True
        t.start()
    stop.wait(args.duration)
    stop.set()
    for t in threads:
        t.join(TIMEOUT + 5)
    rss.append((time.monotonic() - started, depot.rss_kb()))
    fds_loaded, open_hostile = depot.fds(), len(pool.socks)
    for _, kind, opened, _ in pool.socks:
        stats.saw(kind, "still open at the end")
        stats.lifetimes[kind].append(time.monotonic() - opened)
    pool.close()
    time.sleep(2)
    fds_end = depot.fds()
    tmp = os.path.join(root, "data", "blobs", "tmp")
    leftovers = len(os.listdir(tmp)) if os.path.isdir(tmp) else 0
    if depot.proc.poll() is not None:
        stats.failures.insert(0, f"depot exited by itself with code {depot.proc.returncode} during the soak")
        code, took = depot.proc.returncode, 0.0
    else:
        code, took = shutdown_with_idle(depot, site)
    check_lifetimes(args, stats)
    report(args, stats, rss, (fds_start, fds_loaded, open_hostile, fds_end), leftovers, (code, took))
    if args.keep:
        print(f"kept {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if stats.failures else 0


# depot's defaults: the header timeout counts from a head's first byte, idle between requests,
# body while a request moves no byte.
DEFAULT_LIMITS = {"slow": 60.0, "idle": 75.0, "stall": 60.0}
# What a socket may outlive its limit by: this script notices a close within about a second.
SLACK = 3.0


def check_lifetimes(args, stats):
    """Slow, idle and stalled sockets must be closed by depot within its timeouts."""
    for kind, limit in DEFAULT_LIMITS.items():
        if args.server_timeout is not None:
            limit = args.server_timeout * (1.25 if kind == "idle" else 1.0)
        longest = max(stats.lifetimes.get(kind, []), default=0.0)
        if longest > limit + SLACK:
            stats.failures.append(f"hostile {kind} socket lived {longest:.0f} s, over depot's {limit:.0f} s limit")


def report(args, stats, rss, fds, leftovers, shutdown):
    """The markdown table, then details of anything that went wrong."""
    ms = lambda xs, p: f"{c.percentile(xs, p) * 1000:.1f}"  # noqa: E731
    row = lambda k, v: print(f"| {k} | {v} |")  # noqa: E731
    print(f"\n| figure ({args.duration:.0f} s soak) | value |\n|---|---|")
    for kind in ("api", "host"):
        n = stats.classes[kind]
        odd = sum(k for what, k in stats.unexpected.items() if what.startswith(kind))
        row(f"legitimate {kind} requests", f"{sum(n.values())} (" + ", ".join(
            f"{k} {n[k]}" for k in ("2xx", "3xx", "4xx", "5xx", "failed")) + f"; unexpected 4xx {odd})")
        xs = stats.latency[kind]
        row(f"{kind} latency p50 / p99 / max (ms)", f"{ms(xs, 50)} / {ms(xs, 99)} / {ms(xs, 100)}")
    row("keep-alive retries (server closed a reused connection)", stats.retries)
    row("RSS MiB (start, every 30 s, end)", " → ".join(f"{kb / 1024:.1f}" for _, kb in rss))
    total = lambda kinds: f"{sum(kinds.values())} (" + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) + ")"  # noqa: E731
    row("open fds at start", total(fds[0]))
    row(f"open fds at the end, {fds[2]} hostile sockets open", total(fds[1]))
    row("open fds 2 s after the hostile sockets closed", total(fds[3]))
    row("files left in blobs/tmp after stalled uploads closed", leftovers)
    code, took = shutdown
    row("SIGTERM with 5 idle + 5 half-sent requests open",
        f"exit {code} in {took:.1f} s" if code is not None else f"did not exit in {took:.0f} s (killed)")
    for attack, outcomes in sorted(stats.hostile.items()):
        life = sorted(stats.lifetimes.get(attack, []))
        extra = f"; lifetime median {life[len(life) // 2]:.0f} s, max {life[-1]:.0f} s" if life else ""
        row(f"hostile: {attack}", ", ".join(f"{o} ×{k}" for o, k in outcomes.most_common()) + extra)
    hostile5 = sum(k for o in stats.hostile.values() for s, k in o.items() if s.startswith("5"))
    row("hostile requests answered 5xx", hostile5)
    if stats.unexpected:
        print("\nunexpected statuses for legitimate requests (not 5xx):")
        for what, n in stats.unexpected.most_common(20):
            print(f"  {n} × {what}")
    if stats.failures:
        print(f"\nFAILED: {len(stats.failures)} legitimate requests got a 5xx, failed or returned wrong bytes:")
        for line in stats.failures[:30]:
            print("  " + line)
    print(f"\nsoak: {'FAIL' if stats.failures else 'PASS'}: {len(stats.failures)} failed legitimate requests")


if __name__ == "__main__":
    sys.exit(main())
