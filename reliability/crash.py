#!/usr/bin/env python3
"""Crash consistency: run a mixed workload against depot, kill -9 it at a random moment,
restart it on the same data dir and check that every acknowledged write survived intact.

One data dir is used for all iterations, so state accumulates as on a server that crashes
again and again. The server that is restarted for the checks also carries the next
iteration's workload (it is killed in turn, possibly while resuming builds). Every write that
was answered 2xx is recorded in a journal (work/journal.json beside data/). After each crash:

  (b) with depot stopped, the SQLite db (read-only) against the blob files: every version row
      has its blob with the right size, every `encodings` row its .gz/.br copy with its size,
      every build_versions row its version; every acknowledged SID is in its table;
  (c) after restart every build left `building` finishes within 10 s, and every acknowledged
      build (made only of acknowledged versions) ends `completed`;
  (a) through the API: this iteration's acknowledged writes plus a sample of older ones
      (all of them after the last iteration) are fetched and compared;
  (d) through the asset host: every environment with an acknowledged deployment serves its
      live build (the acknowledged one, or a deployment still in flight at the kill), and every
      file of it is byte-identical to what was uploaded (plain, gzip, br, Range).

Usage: reliability/crash.py [--binary PATH] [--iterations N] [--seed S] [--threads T] [--keep]
Exit status 0 only if no check failed.
"""

import argparse
import gzip
import json
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

SERVER_ARGS = ["--max-services", "0", "--max-builds-per-hour", "0"]
COLLECTIONS = ["services", "assets", "versions", "builds", "environments", "deployments", "deleted"]


class Failures:
    """Distinct problems, each reported once (state persists, so most would repeat)."""

    def __init__(self):
        self.lock, self.seen, self.new = threading.Lock(), {}, []

    def add(self, iteration, category, key, message):
        with self.lock:
            if (category, key) not in self.seen:
                self.seen[(category, key)] = (iteration, message)
                self.new.append(f"[{category}] {message}")

    def take_new(self):
        with self.lock:
            new, self.new = self.new, []
            return new


class Journal:
    """Acknowledged writes by collection and SID; each entry notes its iteration and owner."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.RLock()
        self.data = {name: {} for name in COLLECTIONS}

    def add(self, collection, sid, **fields):
        with self.lock:
            self.data[collection][sid] = fields

    def pick(self, collection, **match):
        """Copies of the entries whose fields equal `match`, as (sid, entry) pairs."""
        with self.lock:
            return [(sid, dict(e)) for sid, e in self.data[collection].items()
                    if all(e.get(k) == v for k, v in match.items())]

    def total(self):
        return sum(len(v) for v in self.data.values())

    def save(self):
        with self.lock, open(self.path + ".tmp", "w") as f:
            json.dump(self.data, f)
        os.replace(self.path + ".tmp", self.path)


class Run:
    """Everything one iteration's workers share."""

    def __init__(self, journal, failures, iteration, port):
        self.journal, self.failures, self.iteration, self.port = journal, failures, iteration, port
        self.stop, self.acks, self.lock = threading.Event(), {}, threading.Lock()

    def ack(self, what):
        with self.lock:
            self.acks[what] = self.acks.get(what, 0) + 1

    def fail(self, category, key, message):
        self.failures.add(self.iteration, category, key, message)


class Worker(threading.Thread):
    """One client thread of the workload; owns its services and their environments."""

    def __init__(self, run, index, rng):
        super().__init__(daemon=True)
        self.run_, self.index, self.rng = run, index, rng
        self.j = run.journal

    def call(self, method, path, body=None, ctype=None, expect=(200, 201, 204), **kw):
        """API or host request; a 5xx or an unexpected status is a failure (unless stopping)."""
        headers = dict(kw.pop("headers", {}))
        if ctype:
            headers["Content-Type"] = ctype
        status, h, data = c.request(self.run_.port, method, path, body, headers, **kw)
        if status not in expect and not self.run_.stop.is_set():
            self.run_.fail("workload", f"{method} {path} {status}",
                           f"{method} {path} -> {status} (expected {expect}): {data[:200]!r}")
        return status, h, data

    def run(self):
        ops = [(self.upload, 35), (self.create_asset, 8), (self.build, 12), (self.host_read, 30),
               (self.api_read, 8), (self.delete_asset, 4), (self.create_service, 1),
               (self.create_environment, 2)]
        funcs, weights = zip(*ops)
        try:
            while not self.run_.stop.is_set():
                self.rng.choices(funcs, weights)[0]()
        except Exception as e:  # noqa: BLE001 - a dead connection ends the thread
            if not self.run_.stop.is_set():
                self.run_.fail("workload", f"exception {self.index} {type(e).__name__}",
                               f"thread {self.index}: {e!r} before the kill")

    def create(self, collection, url, body, ctype=None, **entry):
        """POSTs `body` to `url`; on 201 journals the new SID with `entry`, returns the answer."""
        status, _, data = self.call("POST", url, body if ctype else c.form(body), ctype)
        if status != 201:
            return None
        answer = json.loads(data)
        self.j.add(collection, answer["sid"], owner=self.index, iter=self.run_.iteration, **entry)
        self.run_.ack(collection)
        return answer

    def service(self):
        """One of this thread's services, creating the first."""
        mine = self.j.pick("services", owner=self.index)
        return self.rng.choice(mine)[0] if mine else self.create_service()

    def create_service(self):
        if len(self.j.pick("services", owner=self.index)) >= 3:
            return None
        name = f"c{self.run_.iteration}-{self.index}-{self.rng.getrandbits(32):08x}"
        made = self.create("services", "/v1/Services", {"UniqueName": name, "FriendlyName": name},
                           unique_name=name)
        return made and made["sid"]

    def create_asset(self):
        """An asset; its path, kind and visibility are fixed for all its versions."""
        service = self.service()
        kind = self.rng.choice(c.KINDS)
        made = service and self.create(
            "assets", f"/v1/Services/{service}/Assets", {"FriendlyName": kind}, service=service,
            kind=kind, path=f"/{kind}/{self.rng.getrandbits(64):016x}.{kind}",
            visibility=self.rng.choices(["public", "protected", "private"], [8, 1, 1])[0])
        return made and made["sid"]

    def upload(self):
        """A new version of one of this thread's assets, of random size."""
        assets = [a for a in self.j.pick("assets", owner=self.index)
                  if not (a[1].get("deleted") or a[1].get("deleting"))]
        if not assets or self.rng.random() < 0.15:
            sid = self.create_asset()
            assets = [(sid, dict(self.j.data["assets"][sid]))] if sid else []
        if not assets:
            return
        asset, a = self.rng.choice(assets)
        size, seed = c.random_size(self.rng), self.rng.getrandbits(48)
        data = c.content(a["kind"], size, seed)
        self.create("versions", f"/v1/Services/{a['service']}/Assets/{asset}/Versions",
                    c.multipart(a["path"], a["visibility"], data), c.MULTIPART_TYPE,
                    service=a["service"], asset=asset, path=a["path"], visibility=a["visibility"],
                    kind=a["kind"], size=size, seed=seed, sha256=c.sha256(data))

    def build(self):
        """A build of the latest version of 1..8 assets, waited for, then usually deployed."""
        service = self.service()
        latest = {}  # asset -> its last acknowledged version
        for sid, v in self.j.pick("versions", service=service):
            latest[v["asset"]] = sid
        if not latest:
            return
        chosen = self.rng.sample(sorted(latest.values()), self.rng.randint(1, min(8, len(latest))))
        made = self.create("builds", f"/v1/Services/{service}/Builds",
                           [("AssetVersions", v) for v in chosen], service=service,
                           versions=chosen, status=None)
        deadline = time.monotonic() + 15
        while made and time.monotonic() < deadline and not self.run_.stop.is_set():
            build = made["sid"]
            status, _, data = self.call("GET", f"/v1/Services/{service}/Builds/{build}/Status")
            state = json.loads(data)["status"] if status == 200 else f"HTTP {status}"
            if state != "building":
                self.j.data["builds"][build]["status"] = state
                if state != "completed":
                    self.run_.fail("build", build, f"build {build} of acknowledged versions: {state}")
                elif self.rng.random() < 0.8:
                    self.deploy(service, build)
                return
            time.sleep(0.02)

    def create_environment(self, service=None):
        service = service or self.service()
        if not service or len(self.j.pick("environments", service=service)) >= 2:
            return None
        tag = f"{self.rng.getrandbits(24):06x}"
        made = self.create("environments", f"/v1/Services/{service}/Environments",
                           {"UniqueName": f"env-{tag}", "DomainSuffix": f"e{tag}"},
                           service=service, deployed=None, pending=None)
        if made:
            self.j.data["environments"][made["sid"]]["domain"] = made["domain_name"]
        return made and made["sid"]

    def deploy(self, service, build):
        """Deploys `build`; the journal notes it in flight first, then acknowledged."""
        envs = self.j.pick("environments", service=service)
        env = self.rng.choice(envs)[0] if envs else self.create_environment(service)
        if not env:
            return
        e = self.j.data["environments"][env]
        e["pending"] = build
        if self.create("deployments", f"/v1/Services/{service}/Environments/{env}/Deployments",
                       {"BuildSid": build}, service=service, environment=env, build=build):
            e["deployed"], e["pending"] = build, None
            self.host_read(env)  # the very next request must see the new build

    def host_read(self, env=None):
        """One file of a live build of this thread, in a random variant, checked exactly."""
        envs = [e for e in self.j.pick("environments", owner=self.index) if e[1]["deployed"]]
        if env:
            envs = [e for e in envs if e[0] == env]
        if not envs:
            return
        env, e = self.rng.choice(envs)
        files = self.j.data["builds"][e["deployed"]]["versions"]
        version = self.rng.choice(files)
        check_file(self.run_, e["domain"], version, self.j.data["versions"][version],
                   self.rng.choice(["plain", "gzip", "br", "range"]), live=True)

    def api_read(self):
        """A list page and the next one, and a fetch of an acknowledged version."""
        service = self.service()
        if not service:
            return
        status, _, data = self.call("GET", f"/v1/Services/{service}/Assets?PageSize={self.rng.randint(1, 5)}")
        if status == 200 and (nxt := json.loads(data)["meta"].get("next_page_url")):
            url = urllib.parse.urlsplit(nxt)
            self.call("GET", f"{url.path}?{url.query}")
        versions = self.j.pick("versions", service=service)
        if versions:
            sid, v = self.rng.choice(versions)
            self.call("GET", f"/v1/Services/{service}/Assets/{v['asset']}/Versions/{sid}")

    def delete_asset(self):
        """A fresh asset without versions, deleted: the deletion must stick."""
        sid = self.create_asset()
        if not sid:
            return
        with self.j.lock:
            service = self.j.data["assets"][sid]["service"]
            # From here the asset may be gone even if the DELETE is never answered (killed
            # after its commit, before its response): neither outcome is a failure.
            self.j.data["assets"][sid]["deleting"] = True
        status, _, _ = self.call("DELETE", f"/v1/Services/{service}/Assets/{sid}")
        if status == 204:
            self.j.data["assets"][sid]["deleted"] = True
            self.j.add("deleted", sid, service=service, iter=self.run_.iteration)
            self.run_.ack("deleted")


def check_file(run, domain, version_sid, v, variant, live=False):
    """GETs one file from the asset host and compares it with what was uploaded."""
    data = c.content(v["kind"], v["size"], v["seed"])
    headers = {}
    if v["visibility"] == "protected":
        headers["X-Twilio-Signature"] = c.signature(f"http://{domain}{v['path']}")
    if variant == "gzip":
        headers["Accept-Encoding"] = "gzip"
    elif variant == "br":
        headers["Accept-Encoding"] = "br"
    elif variant == "range" and v["size"] > 0:
        a = random.randrange(v["size"])
        b = min(v["size"] - 1, a + random.randrange(1, 5000))
        headers["Range"] = f"bytes={a}-{b}"
        data = data[a:b + 1]
    status, h, body = c.request(run.port, "GET", v["path"], headers=headers, auth=False, host=domain)
    if run.stop.is_set():
        return
    where = f"{domain}{v['path']} ({version_sid}, {variant}, {v['visibility']}, {v['size']} B)"
    want = 404 if v["visibility"] == "private" else (206 if "Range" in headers else 200)
    key = f"{domain}{v['path']} {variant}"
    if status != want:
        run.fail("host", key, f"{where}: status {status}, expected {want}: {body[:120]!r}")
        return
    if want == 404:
        return
    encoding = h.get("content-encoding")
    if encoding == "br":
        if not body or int(h.get("content-length", -1)) != len(body):
            run.fail("host", key, f"{where}: br body {len(body)} B, Content-Length {h.get('content-length')}")
        return
    if encoding == "gzip":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError) as e:
            run.fail("host", key, f"{where}: gzip body does not decompress: {e}")
            return
    if body != data:
        run.fail("host", key, f"{where}: {len(body)} B sha256 {c.sha256(body)[:12]}, expected "
                              f"{len(data)} B sha256 {c.sha256(data)[:12]}{' (live)' if live else ''}")


def check_disk(data_dir, journal, failures, iteration):
    """(b) rows against blob files, and every acknowledged SID in its table, with depot
    stopped. Returns (acknowledged writes checked, leftover files in blobs/tmp)."""
    db = sqlite3.connect(f"file:{os.path.join(data_dir, 'depot.db')}?mode=ro", uri=True)
    blobs = os.path.join(data_dir, "blobs", "sha256")
    fail = lambda cat, key, msg: failures.add(iteration, cat, key, msg)  # noqa: E731

    def blob(name, size):
        """None if the file `name` has `size` bytes, else what is wrong."""
        try:
            got = os.stat(os.path.join(blobs, name[:2], name)).st_size
        except FileNotFoundError:
            return f"file {name} is missing, row says {size} B"
        return None if got == size else f"file {name} is {got} B, row says {size} B"

    versions = {}
    for table in ("asset_versions", "function_versions"):
        for sid, sha, size in db.execute(f"SELECT sid, sha256, size FROM {table}"):
            versions[sid] = (sha, size)
            if problem := blob(sha, size):
                fail("blob", sha, f"{table} {sid}: {problem}")
    for sha, enc, size in db.execute("SELECT sha256, encoding, size FROM encodings"):
        if problem := blob(f"{sha}.{enc}", size):
            fail("encodings", f"{sha}.{enc}", f"encodings row ({sha[:12]}…, {enc}): {problem}")
    for build, version in db.execute("SELECT build_sid, version_sid FROM build_versions"):
        if version not in versions:
            fail("build-version", f"{build} {version}", f"build {build} references missing version {version}")
    present = {name: {r[0] for r in db.execute(f"SELECT sid FROM {name}")}
               for name in ("services", "assets", "builds", "environments", "deployments")}
    builds = {sid: status for sid, status in db.execute("SELECT sid, status FROM builds")}
    db.close()
    checked = 0
    with journal.lock:
        for name in COLLECTIONS:
            for sid, e in journal.data[name].items():
                checked += 1
                if name == "versions":
                    if versions.get(sid) != (e["sha256"], e["size"]):
                        fail("lost", sid, f"acknowledged version {sid} ({e['size']} B {e['sha256'][:12]}): db has {versions.get(sid)}")
                elif name == "deleted":
                    if sid in present["assets"]:
                        fail("lost", sid, f"acknowledged delete of asset {sid} undone")
                elif name == "assets" and (e.get("deleted") or e.get("deleting")):
                    continue
                elif sid not in present[name]:
                    fail("lost", sid, f"acknowledged {name[:-1]} {sid} (iteration {e['iter']}) missing from db")
                elif name == "builds" and e["status"] == "completed" and builds[sid] != "completed":
                    fail("lost", sid, f"build {sid} seen completed is now {builds[sid]}")
                elif name == "builds" and builds[sid] == "failed":
                    fail("build", sid, f"acknowledged build {sid} of acknowledged versions is failed")
    tmp = os.path.join(data_dir, "blobs", "tmp")
    return checked, len(os.listdir(tmp)) if os.path.isdir(tmp) else 0


def check_builds(run, data_dir, deadline):
    """(c) every build left `building` finishes; acknowledged builds complete."""
    db = sqlite3.connect(f"file:{os.path.join(data_dir, 'depot.db')}?mode=ro", uri=True)
    building = db.execute("SELECT service_sid, sid FROM builds WHERE status = 'building'").fetchall()
    db.close()
    for service, build in building:
        while True:
            status, _, data = c.request(run.port, "GET", f"/v1/Services/{service}/Builds/{build}/Status")
            state = json.loads(data).get("status") if status == 200 else f"HTTP {status}"
            if state != "building":
                break
            if time.monotonic() > deadline:
                run.fail("stuck", build, f"build {build} still building 10 s after restart")
                break
            time.sleep(0.05)
        entry = run.journal.data["builds"].get(build)
        if entry is not None:
            entry["status"] = state
            if state != "completed":
                run.fail("build", build, f"acknowledged build {build} ended {state} after restart")
    return len(building)


def check_api(run, sids):
    """(a) acknowledged writes through the API; returns how many were checked."""
    j = run.journal.data
    for name, sid in sids:
        e = j[name][sid]
        svc = e.get("service")
        path, field, want = {
            "services": (f"/v1/Services/{sid}", "unique_name", e.get("unique_name")),
            "assets": (f"/v1/Services/{svc}/Assets/{sid}", "sid", sid),
            "deleted": (f"/v1/Services/{svc}/Assets/{sid}", None, None),
            "versions": (f"/v1/Services/{svc}/Assets/{e.get('asset')}/Versions/{sid}", "path", e.get("path")),
            "builds": (f"/v1/Services/{svc}/Builds/{sid}", "asset_versions", sorted(e.get("versions", []))),
            "environments": (f"/v1/Services/{svc}/Environments/{sid}", "domain_name", e.get("domain")),
            "deployments": (f"/v1/Services/{svc}/Environments/{e.get('environment')}/Deployments/{sid}",
                            "build_sid", e.get("build")),
        }[name]
        if name == "assets" and (e.get("deleted") or e.get("deleting")):
            continue
        status, _, data = c.request(run.port, "GET", path)
        expected = 404 if name == "deleted" else 200
        if status != expected:
            run.fail("api", sid, f"GET {path} -> {status}, expected {expected}")
            continue
        if field:
            got = json.loads(data)[field]
            if name == "builds":
                got = sorted(v["sid"] for v in got)
            if got != want:
                run.fail("api", sid, f"GET {path}: {field} {got!r}, expected {want!r}")
    return len(sids)


def check_hosts(run):
    """(d) every environment with an acknowledged (or in-flight) deployment serves its build."""
    j, files = run.journal.data, 0
    for env, e in list(j["environments"].items()):
        if not e["deployed"] and not e["pending"]:
            continue
        status, _, data = c.request(run.port, "GET", f"/v1/Services/{e['service']}/Environments/{env}")
        live = json.loads(data).get("build_sid") if status == 200 else None
        if live not in (e["deployed"], e["pending"]):
            run.fail("deploy", env, f"environment {env} serves build {live}, acknowledged "
                                    f"{e['deployed']} (in flight: {e['pending']})")
            continue
        e["deployed"], e["pending"] = live, None
        if live is None:
            continue
        if live not in j["builds"]:
            run.fail("deploy", env, f"environment {env} serves unacknowledged build {live}")
            continue
        for version in j["builds"][live]["versions"]:
            for variant in ("plain", "gzip", "br", "range"):
                check_file(run, e["domain"], version, j["versions"][version], variant)
            files += 1
    return files


def iteration_sample(journal, iteration, rng, sample):
    """This iteration's writes plus `sample` older ones (all when sample < 0)."""
    new, old = [], []
    for name in COLLECTIONS:
        for sid, e in journal.data[name].items():
            (new if e["iter"] == iteration else old).append((name, sid))
    if 0 <= sample < len(old):
        old = rng.sample(old, sample)
    return new + old


def iterate(args, i, rng, depot, data_dir, log, journal, failures):
    """One iteration: workload, kill -9, checks on disk, restart, checks through HTTP.
    Returns the restarted depot (the next iteration's server), or None if it cannot go on."""
    t0 = time.monotonic()
    load = Run(journal, failures, i, depot.port)
    workers = [Worker(load, k, random.Random(rng.getrandbits(64))) for k in range(args.threads)]
    for w in workers:
        w.start()
    kill_at = rng.uniform(0.2, 2.5)
    time.sleep(kill_at)
    load.stop.set()
    depot.kill9()
    for w in workers:
        w.join(15)
    journal.save()
    t1 = time.monotonic()
    line = f"iter {i}: kill at {kill_at:.2f}s, acked " + (
        ", ".join(f"{v} {k}" for k, v in sorted(load.acks.items())) or "nothing")
    try:
        checked, leftovers = check_disk(data_dir, journal, failures, i)
        depot = c.Depot(args.binary, data_dir, log, SERVER_ARGS)
        tmp = os.path.join(data_dir, "blobs", "tmp")
        after = len(os.listdir(tmp)) if os.path.isdir(tmp) else 0
        if after:
            failures.add(i, "tmp", "restart", f"{after} upload leftovers still in blobs/tmp after restart")
        run = Run(journal, failures, i, depot.port)
        resumed = check_builds(run, data_dir, time.monotonic() + 10)
        sample = -1 if i == args.iterations else args.sample
        api = check_api(run, iteration_sample(journal, i, rng, sample))
        files = check_hosts(run)
        line += (f"; checked {checked} in db, {api} via api, {files} files via host, "
                 f"{resumed} builds resumed, {leftovers} upload leftovers in blobs/tmp, {after} after restart")
    except (OSError, RuntimeError, sqlite3.Error, ValueError) as e:
        failures.add(i, "checks", "abort", f"checks aborted: {e!r}")
        depot = None if depot.proc.poll() is not None else depot
    journal.save()
    new = failures.take_new()
    print(f"{line}; {len(new)} new failures [{t1 - t0:.1f}s + {time.monotonic() - t1:.1f}s]", flush=True)
    for text in new[:20]:
        print("   ", text, flush=True)
    if len(new) > 20:
        print(f"    ... and {len(new) - 20} more (see work/failures.txt with --keep)", flush=True)
    return depot


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=c.DEFAULT_BINARY)
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--sample", type=int, default=100, help="older writes re-fetched per iteration")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(10**9)
    rng = random.Random(seed)
    random.seed(seed)
    root = tempfile.mkdtemp(prefix="depot-crash.")
    data_dir, work = os.path.join(root, "data"), os.path.join(root, "work")
    os.makedirs(work)
    log = os.path.join(work, "depot.log")
    journal, failures = Journal(os.path.join(work, "journal.json")), Failures()
    print(f"crash: seed {seed}, {args.iterations} iterations, {args.threads} threads, dir {root}\n"
          f"binary: {c.describe(args.binary)}", flush=True)
    started = time.monotonic()
    depot = c.Depot(args.binary, data_dir, log, SERVER_ARGS)
    done = 0
    try:
        while depot and done < args.iterations:
            done += 1
            depot = iterate(args, done, rng, depot, data_dir, log, journal, failures)
    finally:
        code, took = depot.terminate() if depot else (None, 0.0)
    if code != 0:
        failures.add(done, "sigterm", "exit", f"SIGTERM: exit code {code} after {took:.1f}s")
        print("   ", *failures.take_new(), flush=True)
    with open(os.path.join(work, "failures.txt"), "w") as f:
        for (cat, _), (it, msg) in failures.seen.items():
            f.write(f"iter {it} [{cat}] {msg}\n")
    elapsed = time.monotonic() - started
    by_cat = dict(Counter(cat for cat, _ in failures.seen))
    print(f"crash: {done} iterations, {journal.total()} acknowledged writes checked, "
          f"{len(failures.seen)} failures")
    print(f"time: {elapsed:.1f}s total, {elapsed / max(1, done):.1f}s per iteration; seed {seed}"
          + (f"; failures by check: {by_cat}" if by_cat else ""))
    if args.keep:
        print(f"kept {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if failures.seen else 0


if __name__ == "__main__":
    sys.exit(main())
