"""tackd run under a fake service manager: the test binds the datagram
socket systemd would ($NOTIFY_SOCKET), starts the real tackd with it (and a
watchdog through $WATCHDOG_USEC/$WATCHDOG_PID), and reads what tackd tells
it: READY=1, STATUS= with the queue's figures, WATCHDOG=1 from the loop,
RELOADING=1 then READY=1 around SIGHUP, STOPPING=1 on SIGTERM. Each
datagram's sender is checked through SO_PASSCRED: with NotifyAccess=main,
systemd listens to the main process only.
"""

import os
import re
import signal
import socket
import struct
import subprocess
import time
import unittest

from harness import (EXIT_OK, TACKD, WAIT, TackTestCase, Tackd, closed_port, event, tail)

WATCHDOG_USEC = 400000


class NotifiedTackd(Tackd):
    """`tackd run` with the environment systemd gives a Type=notify service.
    Started through sh, whose exec keeps the pid, so WATCHDOG_PID can name
    tackd's own pid before it exists."""

    def __init__(self, config_path, workdir, label, env):
        self.config_path = config_path
        self.stderr_path = os.path.join(workdir, label + ".stderr")
        self._stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(
            ["/bin/sh", "-c", 'WATCHDOG_PID=$$ exec "$0" "$@"', TACKD, "run", "--config",
             config_path],
            env=env, stdout=self._stderr, stderr=self._stderr, stdin=subprocess.DEVNULL,
            cwd=workdir)


class NotifySocket:
    """The service manager's end: every datagram with its sender's pid."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(path)
        self.path = path
        self.received = []  # (pid, text), in arrival order

    def collect(self, timeout):
        """Reads what arrives within `timeout` seconds (at least one wait)."""
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data, ancdata, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            return
        pid = None
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid, _, _ = struct.unpack("iII", payload[:12])
        self.received.append((pid, data.decode("utf-8")))

    def texts(self):
        return [text for _, text in self.received]

    def close(self):
        self.sock.close()


class SystemdNotifyTest(TackTestCase):

    def start_notified(self, config_path, watchdog_usec=WATCHDOG_USEC):
        """tackd with $NOTIFY_SOCKET, and a watchdog unless watchdog_usec is None."""
        notify = NotifySocket(os.path.join(self.tmp, "notify"))
        self.addCleanup(notify.close)
        env = {k: v for k, v in os.environ.items()
               if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
        env["NOTIFY_SOCKET"] = notify.path
        if watchdog_usec is not None:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        self.tackd_cli("outbox", "init", "--config", config_path, check=EXIT_OK)
        d = NotifiedTackd(config_path, self.tmp, "tackd-notified", env)
        self._daemons.append(d)
        return d, notify

    def collect_for(self, notify, seconds):
        """Everything that arrives within the next `seconds`."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            notify.collect(deadline - time.monotonic())

    def wait_for_datagram(self, d, notify, predicate, what, timeout=WAIT):
        """Reads datagrams until predicate(texts) holds; returns the texts."""
        deadline = time.monotonic() + timeout
        while not predicate(notify.texts()):
            left = deadline - time.monotonic()
            if left <= 0:
                self.fail("timed out after %.0f s waiting for %s; received %r\n%s" % (
                    timeout, what, notify.texts(), tail(d.stderr(), 80)))
            notify.collect(min(left, 0.2))
        return notify.texts()

    def test_ready_status_watchdog_reload_and_stop(self):
        # A gateway nobody answers, one attempt each: the shipped event's
        # two messages end up dead, which STATUS= then shows.
        gateway = self.http_gateway("http://127.0.0.1:%d" % closed_port(), kinds=["sms", "email"],
                                    connect_timeout="1s")
        config = self.make_config(
            [gateway],
            retry={"max_attempts": 1, "initial_backoff": "100ms", "max_backoff": "100ms",
                   "max_age": "1h"},
            http={"listen": "127.0.0.1:0"})
        path = self.write_config(config)
        d, notify = self.start_notified(path)

        texts = self.wait_for_datagram(d, notify, lambda t: "READY=1" in t, "READY=1")
        self.assertEqual(texts[0], "READY=1", "READY=1 comes first")
        # READY=1 only once the store is open and the listener bound: the
        # port is logged and takes connections by now.
        log = d.stderr()
        self.assertIn("running", log)
        port = re.search(r"http: listening on 127\.0\.0\.1:(\d+)", log)
        self.assertIsNotNone(port, log)
        socket.create_connection(("127.0.0.1", int(port.group(1))), timeout=5).close()

        # The watchdog: one ping at READY, then one every half WATCHDOG_USEC
        # (200 ms): about 7 in 1.2 s, neither missing nor a flood.
        self.collect_for(notify, 1.2)
        pings = notify.texts().count("WATCHDOG=1")
        self.assertGreaterEqual(pings, 3, notify.texts())
        self.assertLessEqual(pings, 10, notify.texts())

        # STATUS= with the queue's figures, the first one at once.
        self.wait_for_datagram(d, notify, lambda t: any(x.startswith("STATUS=") for x in t),
                               "the first STATUS=")
        first = [x for x in notify.texts() if x.startswith("STATUS=")][0]
        self.assertRegex(first, r"^STATUS=queued \d+, retry_wait \d+, sending \d+, dead \d+; "
                                r"store ok$")

        self.emit([event("evt-1", "1042", "shipped")])
        self.wait_for_messages("1042", "dead", count=2)
        self.wait_for_datagram(
            d, notify,
            lambda t: "STATUS=queued 0, retry_wait 0, sending 0, dead 2; store ok" in t,
            "STATUS= showing the two dead messages", timeout=WAIT)

        # SIGHUP: RELOADING=1 with the monotonic clock, then READY=1.
        before = len(notify.received)
        now_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        d.signal(signal.SIGHUP)
        self.wait_for_datagram(d, notify, lambda t: reload_sequence(t[before:]),
                               "RELOADING=1 then READY=1")
        reloading = next(x for x in notify.texts()[before:] if x.startswith("RELOADING=1"))
        lines = reloading.split("\n")
        self.assertEqual(lines[0], "RELOADING=1")
        self.assertTrue(lines[1].startswith("MONOTONIC_USEC="), reloading)
        usec = int(lines[1][len("MONOTONIC_USEC="):])
        self.assertGreaterEqual(usec, now_usec)
        self.assertLess(usec, now_usec + WAIT * 1e6)

        # A broken config on reload: rejected, the running one kept, and the
        # service manager still hears READY=1 after RELOADING=1.
        with open(path, "a", encoding="utf-8") as f:
            f.write("no_such_section: 1\n")
        before = len(notify.received)
        d.signal(signal.SIGHUP)
        self.wait_for_datagram(d, notify, lambda t: reload_sequence(t[before:]),
                               "RELOADING=1 then READY=1 after a bad reload")
        self.assertIn("keeping the running one", d.stderr())
        self.assert_running(d)

        # SIGTERM: STOPPING=1, then a clean exit.
        before = len(notify.received)
        d.signal(signal.SIGTERM)
        self.wait_for_datagram(d, notify, lambda t: "STOPPING=1" in t[before:], "STOPPING=1")
        self.assertEqual(d.wait(WAIT), EXIT_OK, tail(d.stderr(), 80))

        # With NotifyAccess=main systemd hears only the main pid.
        senders = {pid for pid, _ in notify.received}
        self.assertEqual(senders, {d.pid}, "every datagram comes from tackd's own pid")

    def test_no_watchdog_pings_without_watchdog_usec(self):
        path = self.write_config(self.make_config([self.file_gateway()]))
        d, notify = self.start_notified(path, watchdog_usec=None)
        self.wait_for_datagram(d, notify, lambda t: any(x.startswith("STATUS=") for x in t),
                               "READY=1 and the first STATUS=")
        # Five would-be ping intervals of the other test pass without one.
        self.collect_for(notify, 1.0)
        self.assertIn("READY=1", notify.texts())
        self.assertNotIn("WATCHDOG=1", notify.texts())
        d.signal(signal.SIGTERM)
        self.wait_for_datagram(d, notify, lambda t: "STOPPING=1" in t, "STOPPING=1")
        self.assertEqual(d.wait(WAIT), EXIT_OK, tail(d.stderr(), 80))


def reload_sequence(texts):
    """Whether RELOADING=1 came, and READY=1 after it."""
    states = [x.split("\n")[0] for x in texts if x.startswith(("RELOADING=1", "READY=1"))]
    return states[:2] == ["RELOADING=1", "READY=1"]


if __name__ == "__main__":
    unittest.main()
