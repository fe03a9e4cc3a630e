"""Helpers shared by the reliability scripts: starting depot, small HTTP clients, multipart
bodies and X-Twilio-Signature. Standard library only (Python 3.11)."""

import base64
import hashlib
import hmac
import http.client
import os
import random
import signal
import subprocess
import threading
import time
import urllib.parse

SID = "AC" + "5e" * 16
TOKEN = "reliability-token-0123456789"
BOUNDARY = "depot-reliability-boundary-9f2c41"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_BINARY = os.path.join(REPO, "target", "release", "depot")
AUTH = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()


class Depot:
    """One `depot serve` process on 127.0.0.1 with an ephemeral port."""

    def __init__(self, binary, data_dir, log_path, extra_args=()):
        env = dict(os.environ, DEPOT_ACCOUNT_SID=SID, DEPOT_AUTH_TOKEN=TOKEN,
                   DEPOT_LOG=os.environ.get("DEPOT_LOG", "warn"))
        self.log = open(log_path, "ab")
        self.log.write(f"=== start {time.strftime('%H:%M:%S')} ===\n".encode())
        self.log.flush()
        self.proc = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir, *extra_args],
            env=env, stdout=subprocess.PIPE, stderr=self.log)
        self.port = None
        seen = []
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").strip()
            seen.append(line)
            if "listening on http://" in line:
                self.port = int(line.rsplit(":", 1)[1])
                break
        if self.port is None:
            self.proc.wait()
            raise RuntimeError(f"depot exited with {self.proc.returncode} before listening: {seen}")
        # Keep draining stdout so the child never blocks on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for raw in self.proc.stdout:
            try:
                self.log.write(raw)
            except ValueError:
                return

    @property
    def pid(self):
        return self.proc.pid

    def kill9(self):
        """SIGKILL and reap."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    def terminate(self, timeout=15.0):
        """SIGTERM; returns (exit code or None if it had to be killed, seconds taken)."""
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = None
        self.log.close()
        return code, time.monotonic() - start

    def rss_kb(self):
        """Resident set size from /proc/PID/status, in KiB (0 once the process is gone)."""
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def fds(self):
        """Open file descriptors by kind: socket, depot.db, depot.db-wal, blob, other."""
        kinds = {}
        if self.proc.poll() is not None:
            return kinds
        for fd in os.listdir(f"/proc/{self.pid}/fd"):
            try:
                target = os.readlink(f"/proc/{self.pid}/fd/{fd}")
            except OSError:
                continue
            kind = ("socket" if target.startswith("socket:") else os.path.basename(target)
                    if "depot.db" in target else "blob" if "/blobs/" in target else "other")
            kinds[kind] = kinds.get(kind, 0) + 1
        return kinds


def describe(binary):
    """`path (modified YYYY-MM-DD HH:MM)`: which build of depot the figures are for."""
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(os.stat(binary).st_mtime))
    return f"{binary} (modified {stamp})"


def request(port, method, path, body=None, headers=None, auth=True, host=None, timeout=10.0):
    """One request on a fresh connection; returns (status, lowercased headers, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        return send(conn, method, path, body, headers, auth, host)
    finally:
        conn.close()


def send(conn, method, path, body=None, headers=None, auth=True, host=None):
    """A request on `conn` (may be kept alive); returns (status, headers, body)."""
    h = dict(headers or {})
    if auth:
        h.setdefault("Authorization", AUTH)
    if host:
        h["Host"] = host
    if isinstance(body, str):
        body = body.encode()
        h.setdefault("Content-Type", "application/x-www-form-urlencoded")
    conn.request(method, path, body=body, headers=h)
    r = conn.getresponse()
    data = r.read()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def form(pairs):
    """`application/x-www-form-urlencoded` from a dict or a list of pairs (repeats allowed)."""
    items = pairs.items() if isinstance(pairs, dict) else pairs
    return urllib.parse.urlencode(list(items))


def multipart(path, visibility, data, content_type="application/octet-stream"):
    """An upload body as serverless-api sends it: Path, Visibility, then Content."""
    out = []
    for name, value in (("Path", path), ("Visibility", visibility)):
        out.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                   f"{value}\r\n".encode())
    out.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="Content"; '
               f'filename="file"\r\nContent-Type: {content_type}\r\n\r\n'.encode())
    out.append(data)
    out.append(f"\r\n--{BOUNDARY}--\r\n".encode())
    return b"".join(out)


MULTIPART_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def signature(url, token=TOKEN):
    """X-Twilio-Signature of a GET of `url` (no form parameters)."""
    mac = hmac.new(token.encode(), url.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


KINDS = ["css", "js", "html", "txt", "json", "bin"]
TEXT = {
    "css": ".c{n} {{ color: #{h}; margin: {m}px; padding: {m}px {n}px; }}\n",
    "js": "function f{n}(a, b) {{ return a * {m} + b - {n}; }} // {h}\n",
    "html": '<div class="c{n}"><p>Item {n} costs {m} ({h})</p></div>\n',
    "txt": "line {n}: the quick brown fox {h} jumps over {m} lazy dogs\n",
    "json": '{{"id": {n}, "name": "item-{h}", "value": {m}}},\n',
}


def content(kind, size, seed):
    """Deterministic bytes for (kind, size, seed): random for `bin`, compressible text else
    (the builder stores gzip and brotli copies of text of 256 bytes or more)."""
    rng = random.Random(seed)
    if kind == "bin":
        return rng.randbytes(size)
    line, out, total = TEXT[kind], [], 0
    while total < size:
        s = line.format(n=rng.randrange(1000), m=rng.randrange(100), h=f"{rng.getrandbits(24):06x}")
        out.append(s)
        total += len(s)
    return "".join(out).encode()[:size]


def random_size(rng, top=300_000):
    """0..`top` bytes, skewed small: empty, tiny, around the 256-byte compression cut, larger."""
    bucket = rng.random()
    if bucket < 0.05:
        return 0
    if bucket < 0.15:
        return rng.randint(1, 300)
    if bucket < 0.45:
        return rng.randint(300, 4096)
    if bucket < 0.75:
        return rng.randint(4096, 65536)
    return rng.randint(65536, top)


def percentile(values, p):
    """Nearest-rank percentile of a list (0 for an empty list)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(p / 100.0 * len(ordered) + 0.5)) - 1))
    return ordered[k]
