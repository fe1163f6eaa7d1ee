"""Throw-away database servers for the peer benchmarks (run by /usr/bin/python3).

postgres() starts a PostgreSQL 15 cluster and redis(fsync) a Redis server,
each in a fresh temporary directory (under base_dir when given; the user
below must be able to reach it), as the unprivileged user `tackbench`
(created when missing and running as root; otherwise as the current user),
listening on 127.0.0.1 on a free port. Both are durable as configured:
PostgreSQL with fsync=on and synchronous_commit=on (its defaults, set
explicitly), Redis with appendonly yes and appendfsync everysec or always.

Each is a context manager yielding a Server(url, pid, dir); leaving the block
stops the server (fast shutdown, then SIGKILL to its process group) and
removes the directory, also when the block raised.

cpu_seconds(pid) is the CPU time in seconds (user + system) that the process
and all its descendants have used: its own utime+stime, the cutime+cstime of
children it has waited for, and the same, recursively, for its live children.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

BENCH_USER = "tackbench"
PG_BIN = "/usr/lib/postgresql/15/bin"
_TICK = os.sysconf("SC_CLK_TCK")


@dataclasses.dataclass
class Server:
    url: str
    pid: int
    dir: str


# --- CPU accounting -------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode("ascii", "replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm (field 2) may contain spaces or parentheses: split after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def _children(pid: int) -> list[int]:
    """Live children of pid, from every thread's children list."""
    kids: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return kids
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids.extend(int(x) for x in f.read().split())
        except FileNotFoundError:
            continue
    return kids


def cpu_seconds(pid: int) -> float:
    """CPU seconds used by pid and its whole process tree (0.0 once it is gone)."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    # After the comm field: state=0, ..., utime=11, stime=12, cutime=13, cstime=14.
    ticks = sum(int(fields[k]) for k in (11, 12, 13, 14))
    total = ticks / _TICK
    for kid in _children(pid):
        total += cpu_seconds(kid)
    return total


# --- helpers -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_user() -> tuple[int, int] | None:
    """(uid, gid) to run servers as, or None to run as ourselves (not root)."""
    if os.geteuid() != 0:
        return None
    try:
        pw = pwd.getpwnam(BENCH_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home",
             "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", BENCH_USER],
            check=True, timeout=60,
        )
        pw = pwd.getpwnam(BENCH_USER)
    return pw.pw_uid, pw.pw_gid


def _tempdir(owner: tuple[int, int] | None, prefix: str, base_dir: str | None) -> str:
    d = tempfile.mkdtemp(prefix=prefix, dir=base_dir)
    if owner is not None:
        os.chown(d, *owner)
    return d


def _run_as(owner):
    if owner is None:
        return {}
    return {"user": owner[0], "group": owner[1], "extra_groups": []}


def _stop(proc: subprocess.Popen, sig: int, grace_s: float) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
    # Whatever is left of its session (the server was started in a new one).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def _wait_port(proc: subprocess.Popen, port: int, what: str, log: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} while starting:\n{_tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout_s}s:\n{_tail(log)}")


def _tail(path: str, n: int = 20) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return "(no log)"


# --- PostgreSQL -------------------------------------------------------------------------


@contextlib.contextmanager
def postgres(extra_settings: dict[str, str] | None = None, base_dir: str | None = None):
    """A durable PostgreSQL 15 cluster; yields Server(url=postgres://bench@127.0.0.1:PORT/postgres).

    base_dir: where to make its directory (default: the system's temporary
    directory); put it on the same file system as what it is compared with.
    """
    owner = ensure_user()
    root = _tempdir(owner, "tack-bench-pg-", base_dir)
    proc = None
    try:
        data = os.path.join(root, "data")
        log = os.path.join(root, "server.log")
        subprocess.run(
            [f"{PG_BIN}/initdb", "-D", data, "-U", "bench", "--auth=trust",
             "-E", "UTF8", "--locale=C", "--no-instructions",
             # Throw-away cluster: skip syncing initdb's files; fsync=on while it runs.
             "--no-sync"],
            check=True, timeout=120, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            **_run_as(owner),
        )
        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": root,
            "fsync": "on",
            "synchronous_commit": "on",
            "full_page_writes": "on",
            "max_connections": "200",
            "logging_collector": "off",
        }
        settings.update(extra_settings or {})
        for attempt in range(5):
            port = free_port()
            args = [f"{PG_BIN}/postgres", "-D", data, "-p", str(port)]
            for k, v in settings.items():
                args += ["-c", f"{k}={v}"]
            logf = open(log, "ab")
            proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                start_new_session=True, **_run_as(owner),
            )
            logf.close()
            try:
                _wait_port(proc, port, "postgres", log)
                break
            except RuntimeError:
                if proc.poll() is None or attempt == 4:
                    raise
                proc = None  # the port was taken meanwhile: try another
        # Listening is not yet accepting queries: wait for a real one.
        _wait_query(port, root)
        yield Server(url=f"postgres://bench@127.0.0.1:{port}/postgres", pid=proc.pid, dir=root)
    finally:
        if proc is not None:
            _stop(proc, signal.SIGINT, 60)  # SIGINT = fast shutdown
        shutil.rmtree(root, ignore_errors=True)


def _wait_query(port: int, sockdir: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        r = subprocess.run(
            [f"{PG_BIN}/pg_isready", "-q", "-h", "127.0.0.1", "-p", str(port), "-U", "bench", "-d", "postgres"],
            timeout=30,
        )
        if r.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"postgres on port {port} not ready within {timeout_s}s")
        time.sleep(0.1)


# --- Redis ----------------------------------------------------------------------------------


@contextlib.contextmanager
def redis(appendfsync: str = "everysec", base_dir: str | None = None):
    """A Redis server with AOF on; yields Server(url=redis://127.0.0.1:PORT); base_dir as for postgres()."""
    if appendfsync not in ("everysec", "always"):
        raise ValueError(f"appendfsync must be everysec or always, not {appendfsync!r}")
    owner = ensure_user()
    root = _tempdir(owner, "tack-bench-redis-", base_dir)
    proc = None
    try:
        log = os.path.join(root, "server.log")
        for attempt in range(5):
            port = free_port()
            args = [
                shutil.which("redis-server") or "/usr/bin/redis-server",
                "--port", str(port), "--bind", "127.0.0.1", "--dir", root,
                "--daemonize", "no", "--logfile", log,
                "--appendonly", "yes", "--appendfsync", appendfsync,
                # The AOF is the durability; no RDB snapshots forking mid-run.
                "--save", "",
            ]
            proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True, **_run_as(owner),
            )
            try:
                _wait_port(proc, port, "redis-server", log)
                break
            except RuntimeError:
                if proc.poll() is None or attempt == 4:
                    raise
                proc = None
        _wait_ping(port)
        yield Server(url=f"redis://127.0.0.1:{port}", pid=proc.pid, dir=root)
    finally:
        if proc is not None:
            _stop(proc, signal.SIGTERM, 60)
        shutil.rmtree(root, ignore_errors=True)


def _wait_ping(port: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"PING\r\n")
            if s.recv(64).startswith(b"+PONG"):
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"redis on port {port} does not answer PING")
        time.sleep(0.05)
