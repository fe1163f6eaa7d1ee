#!/usr/bin/python3
"""The benchmark harness (bench/README.md): tack, this machine's limits and
the peers a shop would otherwise use, on the same workload in one run.

Workload: N order events, each one SMS-shaped JSON POST (about 200 bytes,
rendered from bench/templates/bench_sms.yaml) to the sink on 127.0.0.1 and
one durable delivery-log row. Every run is checked: exactly N receipts, N
distinct idempotency keys, N log rows; a run that fails a check is reported
as failed, never as a number.

    bench/run.py --build-dir DIR [--events N] [--tack-only] [--quick] [--out DIR]

Prints the table and writes it as OUT/results.md and OUT/results.csv.
"""

import argparse
import csv
import json
import os
import platform
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CLK_TCK = os.sysconf("SC_CLK_TCK")
IN_FLIGHT = 24
# The support storm: clients reading one order's timeline while events flow.
STORM_EVENTS = 20_000
STORM_CLIENTS = 4
SUPPORT_PASSWORD = "bench-support"
# yescrypt (libxcrypt's default cost, what mkpasswd makes) of SUPPORT_PASSWORD,
# hashed once, here: the kind a flood of wrong passwords makes tackd pay for.
SUPPORT_HASH = "$y$j9T$tackbenchtackbenchtacu0$ZebbY8EN267jY6/dMJ.wuZfBwrvVYQopSNV43b8lTLB"
# The sign-in flood: clients sending wrong support passwords while events flow.
FLOOD_CLIENTS = 40


class CheckFailed(Exception):
    pass


# ---- processes -----------------------------------------------------------

def cpu_seconds(pid):
    """utime+stime of a live process and its waited-for children."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / CLK_TCK


def memory_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class Sink:
    """tack_bench_sink on a free port."""

    def __init__(self, build_dir, delay_ms=0):
        self.proc = subprocess.Popen(
            [os.path.join(build_dir, "bench", "tack_bench_sink"), "--delay-ms", str(delay_ms)],
            stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "listening":
            raise RuntimeError("sink did not start")
        self.port = int(line[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def stats(self):
        with urllib.request.urlopen(self.url + "/stats", timeout=10) as r:
            return json.loads(r.read())

    def dump(self):
        with urllib.request.urlopen(self.url + "/dump", timeout=60) as r:
            return [line.split() for line in r.read().decode().splitlines()]

    def reset(self):
        urllib.request.urlopen(urllib.request.Request(self.url + "/reset", method="POST"),
                               timeout=10).read()

    def cpu(self):
        return cpu_seconds(self.proc.pid)

    def wait_for(self, count, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = self.stats()
            if s["requests"] >= count:
                return s
            time.sleep(0.05)
        raise CheckFailed(f"{what}: {self.stats()['requests']} of {count} receipts "
                          f"after {timeout} s")

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)


def check_receipts(stats, n, what):
    if stats["requests"] != n or stats["distinct_keys"] != n:
        raise CheckFailed(f"{what}: {stats['requests']} receipts with {stats['distinct_keys']} "
                          f"distinct idempotency keys, want {n} and {n}")


# ---- tack ----------------------------------------------------------------

def event(i, occurred="2026-11-22T10:15:00Z", order=None, status="shipped"):
    order = order or str(100000 + i)
    return {
        "event_id": f"bench-{order}-{i}" if status != "shipped" else f"bench-{i}",
        "order_id": order,
        "status": status,
        "occurred_at": occurred,
        "customer": {"name": "Anna Svensson", "phone": f"+4670{1000000 + int(i) % 9000000}",
                     "email": "anna@example.se", "locale": "sv-SE"},
        "delivery": {"carrier": "PostNord", "tracking_url": f"https://tracking.example/{order}"},
    }


class Tack:
    """One tackd over a fresh store and outbox in a temporary folder."""

    def __init__(self, build_dir, sink, synchronous, max_in_flight=IN_FLIGHT,
                 poll_interval="200ms", http=False):
        self.tackd = os.path.join(build_dir, "tackd")
        self.dir = tempfile.mkdtemp(prefix="tack-bench-")
        self.config = os.path.join(self.dir, "tack.yaml")
        self.store = os.path.join(self.dir, "tack.db")
        self.outbox = os.path.join(self.dir, "outbox.db")
        with open(self.config, "w") as f:
            f.write(f"""
store: {{ path: tack.db, synchronous: {synchronous} }}
templates: {{ dir: {os.path.join(HERE, "templates")} }}
locale: {{ default: sv-SE, region: SE }}
log: {{ level: info }}
sources:
  - {{ name: outbox, type: sqlite_outbox, path: outbox.db, poll_interval: {poll_interval},
      batch_size: 500 }}
gateways:
  - name: sink
    type: http
    url: {sink.url}/sms
    max_in_flight: {max_in_flight}
    headers: {{ X-Event-Id: "{{{{event_id}}}}" }}
    json: {{ from: Exempel, to: "{{{{to}}}}", message: "{{{{text}}}}" }}
    message_id_field: /id
channels:
  sms: {{ kind: sms, gateways: [sink] }}
rules:
  - {{ name: shipped, on: shipped, template: bench_sms, channels: [sms] }}
""")
            if http:
                # The support API, for the support storm: one user.
                f.write(f"""
http:
  listen: 127.0.0.1:0
  users: [{{ name: support, password_hash: "{SUPPORT_HASH}" }}]
""")
        subprocess.run([self.tackd, "outbox", "init", "--config", self.config], check=True,
                       stdout=subprocess.DEVNULL)
        self.proc = None
        self.log = open(os.path.join(self.dir, "tackd.log"), "w")

    def emit(self, events):
        path = os.path.join(self.dir, "events.jsonl")
        with open(path, "w") as f:
            for e in events:
                f.write(json.dumps(e, separators=(",", ":")) + "\n")
        subprocess.run([self.tackd, "emit", "--config", self.config, path], check=True,
                       stdout=subprocess.DEVNULL)

    def hold_gateway(self):
        subprocess.run([self.tackd, "hold", "--config", self.config, "--gateway", "sink"],
                       check=True, stdout=subprocess.DEVNULL)

    def start(self):
        self.proc = subprocess.Popen([self.tackd, "run", "--config", self.config],
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def http_port(self):
        """The port tackd logged it listens on."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with open(os.path.join(self.dir, "tackd.log")) as f:
                for line in f:
                    if "http: listening on 127.0.0.1:" in line:
                        return int(line.rsplit(":", 1)[1].split()[0])
            time.sleep(0.05)
        raise CheckFailed("tackd did not say which port it listens on")

    def cpu(self):
        return cpu_seconds(self.proc.pid)

    def rss_peak_mib(self):
        return memory_kib(self.proc.pid, "VmHWM") / 1024

    def rss_mib(self):
        return memory_kib(self.proc.pid, "VmRSS") / 1024

    def query(self, sql):
        db = sqlite3.connect(f"file:{self.store}?mode=ro", uri=True, timeout=30)
        try:
            return db.execute(sql).fetchone()[0]
        finally:
            db.close()

    def wait_logged(self, n, timeout, what):
        """Every message sent and its attempt on disk."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sent = self.query("SELECT COUNT(*) FROM messages WHERE state = 'sent'")
            if sent >= n:
                break
            time.sleep(0.1)
        sent = self.query("SELECT COUNT(*) FROM messages WHERE state = 'sent'")
        attempts = self.query("SELECT COUNT(*) FROM attempts WHERE outcome = 'sent'")
        if sent != n or attempts != n:
            raise CheckFailed(f"{what}: {sent} messages sent and {attempts} attempts logged, "
                              f"want {n}")

    def outbox_pending(self):
        db = sqlite3.connect(self.outbox, timeout=30)
        try:
            return db.execute("SELECT COUNT(*) FROM outbox WHERE consumed_at IS NULL").fetchone()[0]
        finally:
            db.close()

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def tack_burn_down(build_dir, n, synchronous, delay_ms=0, max_in_flight=IN_FLIGHT):
    """All N events in the outbox before tackd starts; events/s first to last receipt."""
    sink = Sink(build_dir, delay_ms)
    tack = Tack(build_dir, sink, synchronous, max_in_flight)
    try:
        tack.emit(event(i) for i in range(n))
        sink_cpu0 = sink.cpu()
        tack.start()
        stats = sink.wait_for(n, timeout=60 + n / 200, what="tack")
        tack.wait_logged(n, timeout=60, what="tack")
        check_receipts(sink.stats(), n, "tack")
        seconds = (stats["last_ns"] - stats["first_ns"]) / 1e9
        return {
            "events_per_s": n / seconds if seconds > 0 else float("nan"),
            "cpu_tack": tack.cpu(), "cpu_sink": sink.cpu() - sink_cpu0, "cpu_db": 0.0,
            "rss_peak_mib": tack.rss_peak_mib(),
            # The sink counts requests it holds, which only a delayed answer does.
            "max_in_flight": stats["max_in_flight"] if delay_ms else None,
        }
    finally:
        tack.close()
        sink.close()


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


def support_storm(port, order, clients, stop):
    """`clients` support staff reloading one order's page (GET /v1/orders/ID)
    until `stop` is set; returns how many answers they got."""
    import base64
    import http.client
    import threading
    auth = "Basic " + base64.b64encode(f"support:{SUPPORT_PASSWORD}".encode()).decode()
    answers = []

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        got = 0
        while not stop.is_set():
            conn.request("GET", f"/v1/orders/{order}", headers={"Authorization": auth})
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise CheckFailed(f"support storm: HTTP {response.status}")
            got += 1
        answers.append(got)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    return threads, answers


def sign_in_flood(port, clients, stop):
    """`clients` threads sending wrong support passwords from another
    address (127.0.0.2; Linux routes all of 127/8 to lo) as fast as tackd
    answers, until `stop` is set; returns the threads and a list of the
    statuses they got."""
    import base64
    import http.client
    import threading
    statuses = []

    def client(k):
        auth = "Basic " + base64.b64encode(f"support:wrong-{k}".encode()).decode()
        while not stop.is_set():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60,
                                              source_address=("127.0.0.2", 0))
            try:
                conn.request("GET", "/v1/messages?limit=1", headers={"Authorization": auth})
                response = conn.getresponse()
                response.read()
                statuses.append(response.status)
            except OSError:
                statuses.append(0)
            finally:
                conn.close()
            # A real flood comes from other machines; here its clients share
            # tackd's two cores, so each takes a breath between requests
            # (still about 4,000 attempts a second from the 40).
            time.sleep(0.01)

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    return threads, statuses


def tack_open_loop(build_dir, rate, seconds, synchronous, storm=0, storm_events=STORM_EVENTS,
                   flood=0):
    """Events committed to the outbox on a fixed schedule while tackd runs.

    Latency is measured from each event's *scheduled* commit time, not from
    when the generator got to it, so a stalled generator or a slow commit
    counts against tack instead of hiding (no coordinated omission). Each
    tick commits every event whose time has come in one transaction, as a
    shop's busy outbox would.

    storm > 0: that many support clients read the timeline of one order
    with `storm_events` events the whole time. flood > 0: that many
    clients send wrong support passwords the whole time."""
    import threading
    sink = Sink(build_dir)
    tack = Tack(build_dir, sink, synchronous, http=storm > 0 or flood > 0)
    n = int(rate * seconds)
    stop = threading.Event()
    storm_threads, storm_answers = [], []
    try:
        if storm:
            # No rule is on `placed`: the events are the order's timeline
            # and make no message (which would go out one after another).
            tack.emit(event(i, order="storm-order", status="placed")
                      for i in range(storm_events))
        tack.start()
        time.sleep(1.0)  # store open, outbox watched
        if storm:
            deadline = time.monotonic() + 120
            while tack.query("SELECT COUNT(*) FROM events WHERE order_id = 'storm-order'") \
                    < storm_events:
                if time.monotonic() > deadline:
                    raise CheckFailed("support storm: the order's events were not taken in")
                time.sleep(0.1)
            storm_threads, storm_answers = support_storm(tack.http_port(), "storm-order",
                                                         storm, stop)
        flood_threads, flood_statuses = [], []
        if flood:
            flood_threads, flood_statuses = sign_in_flood(tack.http_port(), flood, stop)
            time.sleep(0.5)  # in full swing before the first event
        db = sqlite3.connect(tack.outbox, timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        scheduled = {}
        start = time.time() + 0.05
        i = 0
        while i < n:
            now = time.time()
            due = min(n, int((now - start) * rate) + 1) if now >= start else 0
            if due > i:
                db.execute("BEGIN")
                for j in range(i, due):
                    scheduled[f"bench-{j}"] = start + j / rate
                    db.execute("INSERT INTO outbox (payload) VALUES (?)",
                               (json.dumps(event(j), separators=(",", ":")),))
                db.execute("COMMIT")
                i = due
            next_at = start + i / rate
            delay = next_at - time.time()
            if delay > 0:
                time.sleep(min(delay, 0.001))
        db.close()
        sink.wait_for(n, timeout=60, what=f"tack at {rate}/s")
        tack.wait_logged(n, timeout=60, what=f"tack at {rate}/s")
        check_receipts(sink.stats(), n, f"tack at {rate}/s")
        stop.set()
        for t in storm_threads:
            t.join(120)
        for t in flood_threads:
            t.join(120)
        if storm and sum(storm_answers) == 0:
            raise CheckFailed("support storm: no timeline was answered")
        if flood and 200 in flood_statuses:
            raise CheckFailed("sign-in flood: a wrong password was let in")
        latencies = sorted((int(ns) / 1e9 - scheduled[ev]) * 1000 for _, ev, ns in sink.dump())
        result = {"p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
                  "max_ms": latencies[-1], "events": n, "timelines": sum(storm_answers)}
        if flood:
            result["wrong_passwords_checked"] = flood_statuses.count(401)
            result["sign_ins_paused"] = flood_statuses.count(429)
        return result
    finally:
        stop.set()
        tack.close()
        sink.close()


def tack_pending_memory(build_dir, n, synchronous):
    """RSS of tackd holding N pending messages (the gateway held: they wait)."""
    sink = Sink(build_dir)
    tack = Tack(build_dir, sink, synchronous)
    try:
        # The store exists once tackd has started; a held gateway is seen
        # within a second, before any event is in the outbox.
        tack.start()
        time.sleep(1.0)
        tack.hold_gateway()
        time.sleep(1.5)
        tack.emit(event(i) for i in range(n))
        deadline = time.monotonic() + 120 + n / 2000
        while tack.outbox_pending() > 0:
            if time.monotonic() > deadline:
                raise CheckFailed("pending: intake did not finish")
            time.sleep(0.5)
        time.sleep(2)
        pending = tack.query("SELECT COUNT(*) FROM messages WHERE state = 'queued'")
        if pending != n:
            raise CheckFailed(f"pending: {pending} queued messages, want {n}")
        if sink.stats()["requests"] != 0:
            raise CheckFailed("pending: a held gateway was sent to")
        return {"rss_mib": tack.rss_mib(), "rss_peak_mib": tack.rss_peak_mib(), "pending": n}
    finally:
        tack.close()
        sink.close()


# ---- limits --------------------------------------------------------------

def curl_limit(build_dir, n, in_flight=IN_FLIGHT):
    sink = Sink(build_dir)
    try:
        cpu0 = sink.cpu()
        out = subprocess.run([os.path.join(build_dir, "bench", "tack_bench_curl_loop"),
                              "--url", sink.url + "/sms", "--count", str(n),
                              "--in-flight", str(in_flight)],
                             check=True, capture_output=True, text=True)
        result = json.loads(out.stdout)
        stats = sink.stats()
        check_receipts(stats, n, "curl loop")
        seconds = (stats["last_ns"] - stats["first_ns"]) / 1e9
        result["events_per_s"] = n / seconds
        result["cpu_sink"] = sink.cpu() - cpu0
        return result
    finally:
        sink.close()


def store_limit(build_dir, n, synchronous):
    with tempfile.TemporaryDirectory(prefix="tack-bench-store-") as d:
        out = subprocess.run([os.path.join(build_dir, "bench", "tack_bench_store"),
                              "--count", str(n), "--dir", d, "--synchronous", synchronous],
                             check=True, capture_output=True, text=True)
        return json.loads(out.stdout)


# ---- the run -------------------------------------------------------------

def machine():
    model = "unknown cpu"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = memory_kib("self", "VmRSS")  # noqa: F841 (only to prove /proc works)
    with open("/proc/meminfo") as f:
        total = int(f.readline().split()[1]) // 1024 // 1024
    return f"{os.cpu_count()} cores, {model}, {total} GiB, {platform.platform()}"


def fmt(value, digits=0):
    if value is None or value != value:
        return "-"
    if isinstance(value, str):
        return value
    return f"{value:,.{digits}f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build-bench"))
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--tack-only", action="store_true", help="no peers")
    ap.add_argument("--quick", action="store_true",
                    help="small open-loop and memory runs (CI keeps the harness working)")
    ap.add_argument("--pending", type=int, default=1_000_000,
                    help="pending messages for the memory row")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    args = ap.parse_args()
    n = args.events
    rows = []  # (what, durability, figures dict, note)
    failures = []
    configs = []  # (peer, how it was configured and why)

    def attempt(what, durability, fn, note=""):
        print(f"bench: {what} ({durability})...", file=sys.stderr, flush=True)
        try:
            figures = fn()
        except (CheckFailed, subprocess.CalledProcessError, RuntimeError) as e:
            failures.append(f"{what} ({durability}): {e}")
            print(f"bench: FAILED {what}: {e}", file=sys.stderr, flush=True)
            figures = {}
        rows.append((what, durability, figures, note))
        return figures

    curl = attempt("limit: libcurl multi loop, no store", "none",
                   lambda: curl_limit(args.build_dir, n), f"{IN_FLIGHT} in flight")
    attempt("limit: libcurl multi loop, 256 in flight (sink ceiling)", "none",
            lambda: curl_limit(args.build_dir, n, 256))
    store = {}
    for sync in ("full", "normal"):
        store[sync] = attempt("limit: tack's store, group commit, no network", sync,
                              lambda: store_limit(args.build_dir, n, sync))
    burn = {}
    for sync in ("full", "normal"):
        burn[sync] = attempt("tack: burn-down", sync,
                             lambda: tack_burn_down(args.build_dir, n, sync))
    open_seconds = 2 if args.quick else 20
    for rate in (1000, 5000):
        attempt(f"tack: open loop {rate}/s", "full",
                lambda: tack_open_loop(args.build_dir, rate, open_seconds, "full"),
                f"{int(rate * open_seconds)} events")
    storm_events = 2000 if args.quick else STORM_EVENTS
    attempt(f"tack: open loop 1000/s, {STORM_CLIENTS} support clients on one "
            f"{storm_events:,}-event order", "full",
            lambda: tack_open_loop(args.build_dir, 1000, open_seconds, "full",
                                   storm=STORM_CLIENTS, storm_events=storm_events),
            f"{int(1000 * open_seconds)} events")
    attempt(f"tack: open loop 1000/s, {FLOOD_CLIENTS} clients flooding wrong support "
            "passwords", "full",
            lambda: tack_open_loop(args.build_dir, 1000, open_seconds, "full",
                                   flood=FLOOD_CLIENTS),
            f"{int(1000 * open_seconds)} events")
    slow_n = min(n, 2000 if args.quick else 50_000)
    attempt("tack: slow gateway (50 ms), 500 in flight", "full",
            lambda: tack_burn_down(args.build_dir, slow_n, "full", delay_ms=50,
                                   max_in_flight=500), f"{slow_n} events")
    pending = 5000 if args.quick else args.pending
    attempt(f"tack: {pending:,} pending messages", "full",
            lambda: tack_pending_memory(args.build_dir, pending, "full"))

    if not args.tack_only:
        sys.path.insert(0, os.path.join(HERE, "peers"))
        import peers  # bench/peers/peers.py
        peers.install()
        for name, modes in peers.PEERS.items():
            for mode in modes:
                sink = Sink(args.build_dir)
                try:
                    def run_one():
                        cpu0 = sink.cpu()
                        result = peers.run_peer(name, mode, n, sink.url + "/sms", IN_FLIGHT)
                        stats = sink.stats()
                        check_receipts(stats, n, name)
                        if result.get("log_rows") != n:
                            raise CheckFailed(f"{name}: {result.get('log_rows')} log rows, "
                                              f"want {n}")
                        seconds = (stats["last_ns"] - stats["first_ns"]) / 1e9
                        result["events_per_s"] = n / seconds
                        result["cpu_client"] = result.get("client_cpu_s", 0.0)
                        result["cpu_db"] = result.get("server_cpu_s", 0.0)
                        result["cpu_sink"] = sink.cpu() - cpu0
                        return result
                    durability = ("PostgreSQL, synchronous_commit on" if name != "bullmq"
                                  else f"Redis appendfsync {mode}")
                    label = f"peer: {name}" + ("" if mode == "default" else f" ({mode})")
                    r = attempt(label, durability, run_one)
                    if r:
                        rows[-1] = (rows[-1][0], rows[-1][1], r, "")
                        configs.append((label, r.get("config", "")))
                finally:
                    sink.close()

    write_results(args, n, rows, failures, curl, store, burn, configs)
    if failures:
        print("bench: FAILED checks:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


COLUMNS = ["what", "durability", "events/s", "CPU s per 1k events", "p50 ms", "p99 ms",
           "max ms", "peak RSS MiB", "RSS MiB", "in flight", "note"]


def row_cells(what, durability, f, n, note):
    if not f:
        return [what, durability, "FAILED", "", "", "", "", "", "", "", note]
    rate = f.get("events_per_s", f.get("per_second"))
    cpu = sum(f.get(k, 0.0) for k in ("cpu_tack", "cpu_sink", "cpu_db", "cpu_client"))
    events = f.get("events", n)
    cpu_per_k = cpu / events * 1000 if cpu else None
    if f.get("timelines"):
        note = f"{note}; {f['timelines']:,} timelines answered"
    if "wrong_passwords_checked" in f:
        note = (f"{note}; {f['wrong_passwords_checked']:,} wrong passwords checked, "
                f"{f['sign_ins_paused']:,} sign-ins paused (429)")
    return [what, durability, fmt(rate), fmt(cpu_per_k, 3), fmt(f.get("p50_ms"), 1),
            fmt(f.get("p99_ms"), 1), fmt(f.get("max_ms"), 1), fmt(f.get("rss_peak_mib"), 1),
            fmt(f.get("rss_mib"), 1), fmt(f.get("max_in_flight")), note]


def write_results(args, n, rows, failures, curl, store, burn, configs):
    os.makedirs(args.out, exist_ok=True)
    table = [row_cells(what, d, f, n, note) for what, d, f, note in rows]
    lines = [f"Machine: {machine()}", f"Events per burn-down run: {n:,}; {IN_FLIGHT} requests "
             f"in flight unless noted.", ""]
    lower = None
    if curl and store.get("full"):
        lower = min(curl.get("events_per_s", 0), store["full"].get("per_second", 0))
    if lower and burn.get("full"):
        lines.append(f"tack (synchronous full) burn-down is "
                     f"{burn['full']['events_per_s'] / lower:.0%} of the lower limit "
                     f"({lower:,.0f}/s).")
        lines.append("")
    lines.append("| " + " | ".join(COLUMNS) + " |")
    lines.append("|" + "---|" * len(COLUMNS))
    for cells in table:
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    peer_rates = [f.get("events_per_s", 0) for what, _, f, _ in rows
                  if what.startswith("peer:") and f]
    if peer_rates and burn.get("full"):
        lines += ["", f"tack (synchronous full) burn-down is "
                  f"{burn['full']['events_per_s'] / max(peer_rates):.1f}x the fastest peer "
                  f"({max(peer_rates):,.0f}/s)."]
    if configs:
        lines += ["", "How each peer was configured:"] + [f"- {p}: {c}" for p, c in configs]
    if failures:
        lines += ["", "Failed checks:"] + [f"- {x}" for x in failures]
    text = "\n".join(lines) + "\n"
    # Sections written by hand below the table ("## ...": the figures of
    # other benchmarks, such as bench/scheduled.py's) stay across runs.
    kept = ""
    try:
        with open(os.path.join(args.out, "results.md")) as f:
            old = f.read()
        if "\n## " in old:
            kept = old[old.index("\n## "):]
    except FileNotFoundError:
        pass
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(text + kept)
    with open(os.path.join(args.out, "results.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        w.writerows(table)
    print(text)


if __name__ == "__main__":
    sys.exit(main())
