#!/usr/bin/python3
"""1,000,000 pending scheduled messages (issue 16, item 6): what they cost
tackd, and how fast they go once due (bench/README.md).

Two stores side by side, one empty and one filled with N follow-ups
(`tack_bench_scheduled`: one `delivered` event per order and its SMS
scheduled 3 days ahead, through the Store contract, as intake plans a
delayed rule). For each, the real `tackd run` (http gateway to the bench
sink, sqlite_outbox source, as bench/run.py):

- idle: RSS (VmRSS, RssAnon, RssFile) and CPU after --idle seconds, in
  which the scheduler polled the store every 5 s;
- intake: burn-down of --events `shipped` events (one immediate SMS each)
  committed to the outbox before tackd starts; events/s from the first to
  the last receipt at the sink, CPU per 1,000 events, peak RSS. Runs
  alternate between the two stores --repeat times. Every run is checked:
  N receipts with N distinct keys, N messages sent, the N follow-ups still
  scheduled (none went early).
- fire: tackd on the filled store under Debian's libfaketime with its wall
  clock 3 days and 2 hours ahead (monotonic clock untouched), the gateway
  held, so the scheduler renders and queues every follow-up and nothing is
  sent; messages/s from the first to the last one queued, peak RSS.

    bench/scheduled.py --build-dir DIR [--pending N] [--events N] [--repeat N]
                       [--idle S] [--dir DIR] [--keep]

Prints JSON and a markdown summary; writes them to OUT/scheduled.json.
"""

import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as harness  # noqa: E402  (bench/run.py: Sink, event, /proc readers)
from run import CheckFailed  # noqa: E402

LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"
DAY_MS = 24 * 3600 * 1000


def status_kib(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key = line.split(":", 1)[0]
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
                out[key] = int(line.split()[1])
    return out


def mib(kib):
    return round(kib / 1024, 1)


class Tackd:
    """tackd over one store and outbox in `dir`."""

    def __init__(self, build_dir, dir, sink_url):
        self.tackd = os.path.join(build_dir, "tackd")
        self.dir = dir
        self.config = os.path.join(dir, "tack.yaml")
        self.store = os.path.join(dir, "tack.db")
        self.clock_file = os.path.join(dir, "faketime")
        with open(self.config, "w") as f:
            f.write(f"""
store: {{ path: tack.db, synchronous: full }}
templates: {{ dir: {os.path.join(HERE, "templates")} }}
locale: {{ default: sv-SE, region: SE }}
log: {{ level: info }}
sources:
  - {{ name: outbox, type: sqlite_outbox, path: outbox.db, poll_interval: 200ms,
      batch_size: 500 }}
gateways:
  - name: sink
    type: http
    url: {sink_url}/sms
    max_in_flight: {harness.IN_FLIGHT}
    headers: {{ X-Event-Id: "{{{{event_id}}}}" }}
    json: {{ from: Exempel, to: "{{{{to}}}}", message: "{{{{text}}}}" }}
    message_id_field: /id
channels:
  sms: {{ kind: sms, gateways: [sink], quiet_hours: false }}
rules:
  - {{ name: shipped, on: shipped, template: bench_sms, channels: [sms] }}
  - {{ name: follow_up, on: delivered, after: 3d, unless: [returned, cancelled],
      template: bench_sms, channels: [sms] }}
""")
        subprocess.run([self.tackd, "outbox", "init", "--config", self.config], check=True,
                       stdout=subprocess.DEVNULL)
        self.proc = None
        self.log = None

    def start(self, clock_offset_s=None):
        env = dict(os.environ)
        if clock_offset_s is not None:
            with open(self.clock_file, "w") as f:
                f.write("%+ds\n" % clock_offset_s)
            env.update({"LD_PRELOAD": LIBFAKETIME, "FAKETIME_TIMESTAMP_FILE": self.clock_file,
                        "FAKETIME_CACHE_DURATION": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1"})
        self.log = open(os.path.join(self.dir, "tackd.log"), "a")
        self.proc = subprocess.Popen([self.tackd, "run", "--config", self.config],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc and self.proc.returncode not in (0, -signal.SIGTERM):
            raise CheckFailed(f"tackd exited with {self.proc.returncode} (see {self.dir})")
        self.proc = None
        if self.log:
            self.log.close()
            self.log = None

    def emit(self, events):
        path = os.path.join(self.dir, "events.jsonl")
        with open(path, "w") as f:
            for e in events:
                f.write(json.dumps(e, separators=(",", ":")) + "\n")
        subprocess.run([self.tackd, "emit", "--config", self.config, path], check=True,
                       stdout=subprocess.DEVNULL)
        os.remove(path)

    def hold_gateway(self):
        subprocess.run([self.tackd, "hold", "--config", self.config, "--gateway", "sink"],
                       check=True, stdout=subprocess.DEVNULL)

    def count(self, state):
        db = sqlite3.connect(f"file:{self.store}?mode=ro", uri=True, timeout=60)
        try:
            return db.execute("SELECT COUNT(*) FROM messages WHERE state = ?",
                              (state,)).fetchone()[0]
        finally:
            db.close()

    def cpu(self):
        return harness.cpu_seconds(self.proc.pid)

    def memory(self):
        return status_kib(self.proc.pid)


def wait_started(tack, seconds=1.0):
    """tackd is alive a second after it started (its store open)."""
    time.sleep(seconds)
    if tack.proc.poll() is not None:
        raise CheckFailed(f"tackd exited at start with {tack.proc.returncode}")


def explain(store):
    """EXPLAIN QUERY PLAN of the scheduler's statements (the SQL of
    daemon/store/sqlite/scheduled.cpp and queue.cpp, states expanded as
    sql_state_is does)."""
    queries = {
        "next_scheduled_at": "SELECT MIN(next_attempt_at) FROM messages INDEXED BY "
                             "messages_scheduled WHERE (state = 'scheduled')",
        "claim_scheduled": "SELECT m.id FROM messages m INDEXED BY messages_scheduled "
                           "LEFT JOIN events e ON e.event_id = m.event_id "
                           "LEFT JOIN orders o ON o.order_id = m.order_id "
                           "WHERE (m.state = 'scheduled') AND m.next_attempt_at <= 1 "
                           "AND (m.lease_until IS NULL OR m.lease_until < 1) "
                           "ORDER BY m.next_attempt_at, m.id LIMIT 500",
        # The partial index's own WHERE, word for word: SQLite uses a
        # partial index only for a WHERE it can see implies the index's.
        "expire_overdue": "UPDATE messages INDEXED BY messages_expiry SET state = 'expired' "
                          "WHERE {expiry_where} AND expires_at <= 1",
        "queue_counts": "SELECT state, COUNT(*) FROM messages WHERE (state = 'queued' OR "
                        "state = 'retry_wait' OR state = 'sending' OR state = 'held' OR "
                        "state = 'scheduled' OR state = 'dead') GROUP BY state",
        "once_per_order (apply_event)": "SELECT 1 FROM messages WHERE order_id = 'x' AND "
                                        "channel = 'sms' AND rule = 'follow_up' LIMIT 1",
    }
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=60)
    try:
        index_sql = db.execute("SELECT sql FROM sqlite_master WHERE name = "
                               "'messages_expiry'").fetchone()[0]
        expiry_where = index_sql.split(" WHERE ", 1)[1]
        out = {}
        for name, sql in queries.items():
            sql = sql.replace("{expiry_where}", expiry_where)
            try:
                rows = db.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
                out[name] = [r[-1] for r in rows]
            except sqlite3.Error as e:
                out[name] = [f"error: {e}"]
        return out
    finally:
        db.close()


def idle(tack, seconds):
    tack.start()
    try:
        wait_started(tack)
        cpu0, t0 = tack.cpu(), time.monotonic()
        time.sleep(seconds)
        cpu = tack.cpu() - cpu0
        mem = tack.memory()
        return {"seconds": round(time.monotonic() - t0, 1), "cpu_s": round(cpu, 3),
                "rss_mib": mib(mem["VmRSS"]), "anon_mib": mib(mem["RssAnon"]),
                "file_mib": mib(mem["RssFile"]), "peak_mib": mib(mem["VmHWM"])}
    finally:
        tack.stop()


def burn_down(tack, sink, events, first, pending):
    """`events` shipped events (ids first..first+events-1) in the outbox, then tackd."""
    sink.reset()
    tack.emit(harness.event(i) for i in range(first, first + events))
    sent_before = tack.count("sent")
    sink_cpu0 = sink.cpu()
    tack.start()
    try:
        stats = sink.wait_for(events, timeout=120 + events / 200, what="burn-down")
        # Only now: counting sent messages scans the table (sent is in no
        # partial index), which would weigh on the store with N more rows.
        deadline = time.monotonic() + 60
        while tack.count("sent") < sent_before + events and time.monotonic() < deadline:
            time.sleep(0.2)
        stats = sink.stats()
        harness.check_receipts(stats, events, "burn-down")
        sent = tack.count("sent") - sent_before
        if sent != events:
            raise CheckFailed(f"burn-down: {sent} messages sent, want {events}")
        mem = tack.memory()
        cpu = tack.cpu()
        seconds = (stats["last_ns"] - stats["first_ns"]) / 1e9
        scheduled = tack.count("scheduled")
        if scheduled != pending:
            raise CheckFailed(f"burn-down: {scheduled} follow-ups scheduled, want {pending}")
        return {"events": events, "events_per_s": round(events / seconds),
                "cpu_per_1k": round((cpu + sink.cpu() - sink_cpu0) / events * 1000, 3),
                "cpu_tackd_per_1k": round(cpu / events * 1000, 3),
                "peak_mib": mib(mem["VmHWM"]), "rss_mib": mib(mem["VmRSS"]),
                "anon_mib": mib(mem["RssAnon"]), "file_mib": mib(mem["RssFile"])}
    finally:
        tack.stop()


def fire(tack, pending, sink):
    """The clock moved past every due time, the gateway held: the scheduler
    renders and queues them all; nothing is sent."""
    tack.hold_gateway()
    queued0 = tack.count("queued")
    sink.reset()
    # Due 3 days after now + up to an hour (the fill's spread): 3 d 2 h ahead.
    tack.start(clock_offset_s=3 * 24 * 3600 + 2 * 3600)
    try:
        began = time.monotonic()
        samples = []  # (seconds since start, scheduled left)
        first_change = None
        deadline = began + 120 + pending / 500
        while True:
            left = tack.count("scheduled")
            t = time.monotonic() - began
            samples.append((round(t, 2), left))
            if first_change is None and left < pending:
                first_change = t
            if left == 0:
                break
            if time.monotonic() > deadline:
                raise CheckFailed(f"fire: {left} still scheduled after {t:.0f} s")
            if tack.proc.poll() is not None:
                raise CheckFailed(f"fire: tackd exited with {tack.proc.returncode}")
            # Counting what is left reads an index of up to N entries: not
            # too often, it shares the 2 cores with tackd.
            time.sleep(2.0)
        done = time.monotonic() - began
        mem = tack.memory()
        cpu = tack.cpu()
        queued = tack.count("queued") - queued0
        if queued != pending:
            raise CheckFailed(f"fire: {queued} queued, want {pending} "
                              f"({tack.count('cancelled')} cancelled, "
                              f"{tack.count('failed')} failed)")
        if sink.stats()["requests"] != 0:
            raise CheckFailed("fire: a held gateway was sent to")
        # From the first poll that saw a change (the scheduler's first batch
        # is within a second of start) to the one that saw none left.
        span = done - (first_change or 0)
        db = sqlite3.connect(f"file:{tack.store}?mode=ro", uri=True)
        try:
            sample_text = db.execute("SELECT body FROM messages WHERE rule = 'follow_up' "
                                     "LIMIT 1").fetchone()[0]
        finally:
            db.close()
        return {"messages": pending, "seconds_to_all_queued": round(done, 1),
                "messages_per_s": round(pending / done),
                "messages_per_s_after_first_batch": round(pending / span) if span > 0 else None,
                "cpu_s": round(cpu, 1), "peak_mib": mib(mem["VmHWM"]),
                "rss_mib": mib(mem["VmRSS"]), "anon_mib": mib(mem["RssAnon"]),
                "file_mib": mib(mem["RssFile"]), "text": sample_text,
                "samples": samples[:: max(1, len(samples) // 20)]}
    finally:
        tack.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(os.path.dirname(HERE), "build-bench"))
    ap.add_argument("--pending", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--idle", type=float, default=15.0)
    ap.add_argument("--dir", default=None, help="where the stores go (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the stores")
    ap.add_argument("--no-fire", action="store_true")
    ap.add_argument("--fire-only", action="store_true",
                    help="only fill the store and fire it (no empty store, idle or intake)")
    ap.add_argument("--due-order", choices=("interleaved", "insert"), default="interleaved",
                    help="interleaved: messages due together lie far apart in the store "
                         "(the worst case); insert: due in the order they were made")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    args = ap.parse_args()
    if not args.no_fire and not os.path.exists(LIBFAKETIME):
        sys.exit(f"scheduled: needs {LIBFAKETIME} (apt-get install faketime), or --no-fire")

    root = tempfile.mkdtemp(prefix="tack-bench-scheduled-", dir=args.dir)
    sink = harness.Sink(args.build_dir)
    result = {"machine": harness.machine(), "date": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                   time.gmtime()),
              "load_before": os.getloadavg(), "pending": args.pending, "events": args.events,
              "due_order": args.due_order}
    try:
        due_at_ms = int(time.time() * 1000) + 3 * DAY_MS
        tacks = {}
        for pending in ((args.pending,) if args.fire_only else (0, args.pending)):
            d = os.path.join(root, f"pending-{pending}")
            os.makedirs(d)
            tack = Tackd(args.build_dir, d, sink.url)
            print(f"scheduled: filling {pending:,}...", file=sys.stderr, flush=True)
            out = subprocess.run([os.path.join(args.build_dir, "bench", "tack_bench_scheduled"),
                                  "--store", tack.store, "--messages", str(pending),
                                  "--due-at-ms", str(due_at_ms), "--due-order", args.due_order],
                                 check=True, stdout=subprocess.PIPE, text=True)
            fill = json.loads(out.stdout)
            if fill["scheduled_counted"] != pending:
                raise CheckFailed(f"fill: {fill['scheduled_counted']} scheduled, want {pending}")
            result[f"store_{pending}"] = fill
            if pending:
                result["query_plans"] = explain(tack.store)
            tacks[pending] = tack
        for pending, tack in (() if args.fire_only else tacks.items()):
            print(f"scheduled: idle with {pending:,} pending...", file=sys.stderr, flush=True)
            result[f"idle_{pending}"] = idle(tack, args.idle)
        first = 0
        for rep in range(0 if args.fire_only else args.repeat):
            for pending, tack in tacks.items():
                print(f"scheduled: burn-down {rep + 1} with {pending:,} pending...",
                      file=sys.stderr, flush=True)
                result.setdefault(f"intake_{pending}", []).append(
                    burn_down(tack, sink, args.events, first, pending))
                first += args.events
        result["load_after_intake"] = os.getloadavg()
        if not args.no_fire and args.pending:
            print(f"scheduled: firing {args.pending:,}...", file=sys.stderr, flush=True)
            result["fire"] = fire(tacks[args.pending], args.pending, sink)
        result["load_after"] = os.getloadavg()
    finally:
        sink.close()
        for tack in locals().get("tacks", {}).values():
            tack.stop()
        if args.keep:
            print(f"scheduled: stores kept in {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    os.makedirs(args.out, exist_ok=True)
    name = "scheduled-fire-only.json" if args.fire_only else "scheduled.json"
    with open(os.path.join(args.out, name), "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except CheckFailed as e:
        print(f"scheduled: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
