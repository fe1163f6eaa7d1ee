"""Runs one peer of tack's benchmark (bench/run.py) with /usr/bin/python3.

run_peer(name, mode, n, sink_url, inflight) starts the servers the peer needs
(bench/peers/servers.py), runs bench/peers/<peer>.js under node, and returns
the peer's JSON result line plus CPU figures:

  client_cpu_s       CPU of the node process while it processed the N events
  server_cpu_s       CPU of its servers (PostgreSQL and, for bullmq, Redis) meanwhile
  server_cpu_by      the same per server: {"postgres": s, "redis": s}
  client_cpu_total_s CPU of the node process for the whole run, schema and
                     enqueueing included (getrusage(RUSAGE_CHILDREN) delta)
  config             what the peer is configured as, and why

The process-phase figures are exact because the peer stops at two points
(enqueued, processed) and waits for this module to read the counters before
it goes on (BENCH_HANDSHAKE=1, see common.js).

install() installs what the peers need on Debian 12: postgresql and
redis-server from apt when missing, and the pinned npm packages (npm ci).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servers  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

# name -> modes; the first mode is the default.
PEERS = {
    "plain": ("default",),
    "pgboss": ("default",),
    "graphile": ("defaults", "batched"),
    "bullmq": ("everysec", "always"),
}

CONFIG = {
    ("plain", "default"): (
        "plain Node script, no queue library: events read from a PostgreSQL table in id order by "
        "INFLIGHT async workers, each POSTs and then INSERTs its log row (autocommit, synchronous_commit=on); "
        "no claim, no retry, so nothing is repeated and nothing is recovered after a crash. "
        "The least work any durable setup can do: the floor for the others."
    ),
    ("pgboss", "default"): (
        "pg-boss 10.4.2, work() with batchSize 5000 and pollingIntervalSeconds 0.5 (the minimum pg-boss "
        "allows); each batch is fetched with one SKIP LOCKED query and its handler POSTs the 5000 events "
        "INFLIGHT at a time and INSERTs each log row; the batch is completed with one UPDATE. Batching is "
        "pg-boss's documented way to raise throughput; the price is that a batch succeeds or fails as a "
        "whole (one failed POST retries all 5000). Retries default (retryLimit 2). Pool max INFLIGHT+2."
    ),
    ("graphile", "defaults"): (
        "graphile-worker 0.17.3 with its defaults except concurrency = INFLIGHT and maxPoolSize = "
        "INFLIGHT+2 (the docs' advice: concurrentJobs + 2 or 10, whichever is larger; concurrency 1 "
        "would not be a fair peer): each worker fetches one job per query (SKIP LOCKED) and completes it "
        "with one more; the task POSTs and INSERTs its log row through the worker's pool."
    ),
    ("graphile", "batched"): (
        "graphile-worker 0.17.3 with the batching of its performance docs: preset.worker.localQueue.size "
        "500 (jobs fetched and locked 500 at a time), completeJobBatchDelay 0 and failJobBatchDelay 0 "
        "(completions of one tick are sent as one query), concurrency = INFLIGHT, maxPoolSize = INFLIGHT+2. "
        "The docs suggest starting with a 250 ms delay; 0 keeps the window at one event-loop tick so a job "
        "is not left completed-but-locked longer than needed."
    ),
    ("bullmq", "everysec"): (
        "BullMQ 6.7.0 + ioredis 5.9.3, Worker concurrency = INFLIGHT, default job options (attempts 1, "
        "completed jobs kept); Redis 7 with appendonly yes, appendfsync everysec (Redis's recommended "
        "AOF setting: up to about one second of acknowledged jobs can be lost on a power cut), RDB off; "
        "log row INSERTed into PostgreSQL 15 (synchronous_commit=on) before the job completes."
    ),
    ("bullmq", "always"): (
        "BullMQ 6.7.0 + ioredis 5.9.3, Worker concurrency = INFLIGHT, default job options; Redis 7 with "
        "appendonly yes, appendfsync always (every write fsynced before Redis replies: nothing "
        "acknowledged is lost, as with PostgreSQL), RDB off; log row INSERTed into PostgreSQL 15."
    ),
}


def _node() -> str:
    return shutil.which("node") or "/usr/bin/node"


def run_peer(name: str, mode: str | None, n: int, sink_url: str, inflight: int,
             timeout_s: float = 1800, base_dir: str | None = None) -> dict:
    """Runs one peer; base_dir is where the servers' data directories go
    (default: the system's temporary directory). Raises RuntimeError when the
    peer fails, times out, or does not log exactly n rows."""
    if name not in PEERS:
        raise ValueError(f"unknown peer {name!r}; one of {', '.join(PEERS)}")
    mode = mode or PEERS[name][0]
    if mode not in PEERS[name]:
        raise ValueError(f"peer {name} has modes {', '.join(PEERS[name])}, not {mode!r}")
    with contextlib.ExitStack() as stack:
        pg = stack.enter_context(servers.postgres(base_dir=base_dir))
        env = dict(os.environ, SINK_URL=sink_url, N=str(n), INFLIGHT=str(inflight),
                   PGURL=pg.url, MODE=mode, BENCH_HANDSHAKE="1",
                   PEER_TIMEOUT_S=str(int(timeout_s)))
        server_pids = {"postgres": pg.pid}
        if name == "bullmq":
            rd = stack.enter_context(servers.redis(mode, base_dir=base_dir))
            env["REDIS_URL"] = rd.url
            server_pids["redis"] = rd.pid
        out = _run_node(os.path.join(HERE, f"{name}.js"), env, server_pids, timeout_s)
    out["config"] = CONFIG[(name, mode)]
    return out


def _run_node(script: str, env: dict, server_pids: dict, timeout_s: float) -> dict:
    before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(
        [_node(), script], cwd=HERE, env=env, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    marks: dict[str, tuple[float, dict]] = {}
    stderr_tail: list[str] = []
    stdout_lines: list[str] = []

    def read_stderr():
        for line in proc.stderr:
            if line.startswith("@phase "):
                # The peer waits for our answer: take the counters now.
                phase = line.split()[1]
                marks[phase] = (servers.cpu_seconds(proc.pid),
                                {k: servers.cpu_seconds(p) for k, p in server_pids.items()})
                with contextlib.suppress(BrokenPipeError, ValueError):
                    proc.stdin.write("go\n")
                    proc.stdin.flush()
            else:
                stderr_tail.append(line)
                del stderr_tail[:-40]

    def read_stdout():
        stdout_lines.extend(proc.stdout)

    threads = [threading.Thread(target=read_stderr, daemon=True),
               threading.Thread(target=read_stdout, daemon=True)]
    for t in threads:
        t.start()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"{os.path.basename(script)} did not finish within {timeout_s}s:\n"
                           + "".join(stderr_tail))
    finally:
        for t in threads:
            t.join(timeout=10)
    after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{os.path.basename(script)} exited with {proc.returncode}:\n"
                           + "".join(stderr_tail) + "".join(stdout_lines))
    results = [json.loads(s) for s in stdout_lines if s.startswith("{")]
    if len(results) != 1:
        raise RuntimeError(f"{os.path.basename(script)} printed {len(results)} result lines")
    out = results[0]
    if "enqueued" not in marks or "processed" not in marks:
        raise RuntimeError(f"{os.path.basename(script)} skipped the phase handshake")
    (c0, s0), (c1, s1) = marks["enqueued"], marks["processed"]
    out["client_cpu_s"] = round(c1 - c0, 3)
    out["server_cpu_by"] = {k: round(s1[k] - s0[k], 3) for k in s0}
    out["server_cpu_s"] = round(sum(s1[k] - s0[k] for k in s0), 3)
    out["client_cpu_total_s"] = round(
        (after_children.ru_utime - before_children.ru_utime)
        + (after_children.ru_stime - before_children.ru_stime), 3)
    return out


# --- installation -------------------------------------------------------------------------


def _have_deb(pkg: str) -> bool:
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg],
                       capture_output=True, text=True, timeout=60)
    return r.returncode == 0 and "install ok installed" in r.stdout


def install() -> None:
    """Debian packages postgresql and redis-server when missing, then npm ci in bench/peers."""
    missing = [p for p in ("postgresql", "redis-server") if not _have_deb(p)]
    if missing:
        if os.geteuid() != 0:
            raise RuntimeError(f"missing Debian packages {missing}; install them as root")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update"], check=True, env=env, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *missing],
                       check=True, env=env, timeout=1200)
    stamp = os.path.join(HERE, "node_modules", ".tack-package-lock.json")
    lock = os.path.join(HERE, "package-lock.json")
    with contextlib.suppress(OSError), open(stamp, "rb") as a, open(lock, "rb") as b:
        if a.read() == b.read():
            return  # node_modules already matches the lock file
    cmd = ["npm", "ci", "--prefer-offline", "--no-audit", "--no-fund"]
    if subprocess.run(cmd, cwd=HERE, timeout=1200).returncode != 0:
        # Behind a TLS-intercepting proxy whose CA this machine lacks the
        # registry's certificate cannot be checked; package-lock.json pins
        # every tarball by its sha512 integrity, which npm ci verifies.
        print("peers.py: npm ci failed; retrying without TLS verification "
              "(tarballs are checked against package-lock.json's sha512 integrity)", file=sys.stderr)
        subprocess.run(cmd + ["--strict-ssl=false"], cwd=HERE, check=True, timeout=1200)
    shutil.copyfile(lock, stamp)


if __name__ == "__main__":
    # python3 bench/peers/peers.py install
    # python3 bench/peers/peers.py NAME [--mode M] [--n N] --sink-url URL [--inflight K]
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("name", help="install, or one of " + ", ".join(PEERS))
    ap.add_argument("--mode")
    ap.add_argument("--n", type=int, default=100000)
    ap.add_argument("--sink-url")
    ap.add_argument("--inflight", type=int, default=24)
    a = ap.parse_args()
    if a.name == "install":
        install()
    else:
        if not a.sink_url:
            ap.error("--sink-url is required")
        t = time.monotonic()
        r = run_peer(a.name, a.mode, a.n, a.sink_url, a.inflight)
        r["wall_s"] = round(time.monotonic() - t, 3)
        print(json.dumps(r))
