"""Slow clients against a real tackd (issue 14, finding 3): a few hundred
sockets from one address that trickle their request heads must not keep
anyone else out. The flood comes from 127.0.0.2 (Linux routes all of
127/8 to lo), the legitimate requests from 127.0.0.1; tackd runs with the
default limits (256 connections, 32 per client address)."""

import http.client
import socket
import threading
import time
import unittest

from harness import event
from test_api import ApiTestCase

FLOOD = 300
# Far from the 30 s the old listener kept them waiting, and generous for a
# loaded CI machine: this is not a benchmark.
PROMPT = 2.0


class Trickle:
    """FLOOD connections from 127.0.0.2, each sending one more header byte
    every half second, never finishing its head."""

    def __init__(self, port):
        self.sockets = []
        for _ in range(FLOOD):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.2", 0))
            s.settimeout(2)
            s.connect(("127.0.0.1", port))
            try:
                s.sendall(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            except OSError:
                pass  # already refused
            self.sockets.append(s)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopping.wait(0.5):
            for s in self.sockets:
                try:
                    s.send(b"z")
                except OSError:
                    pass  # refused or cut off: tackd's choice

    def stop(self):
        self.stopping.set()
        self.thread.join(5)
        for s in self.sockets:
            s.close()


class SlowClientsTest(ApiTestCase):
    def timed(self, call):
        """call(conn) on a fresh connection with its own timeout, well above
        PROMPT, so a stalled listener fails the assertion rather than
        hanging the test; returns the reply and the seconds it took."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=PROMPT + 3)
        started = time.monotonic()
        try:
            return call(conn), time.monotonic() - started
        finally:
            conn.close()

    def test_a_trickling_flood_from_one_address_keeps_no_one_else_out(self):
        self.start_api()
        flood = Trickle(self.port)
        try:
            time.sleep(0.5)  # every flood socket is accepted or refused by now
            for n in range(3):
                live, took = self.timed(
                    lambda conn: self.request("GET", "/livez", user=None, conn=conn))
                self.assertEqual(live.status, 200, live)
                self.assertLess(took, PROMPT, "GET /livez #%d took %.1f s" % (n, took))
                posted, took = self.timed(lambda conn: self.post_events(
                    event("slow-flood-%d" % n, "710%d" % n, "shipped"), conn=conn))
                self.assertEqual(posted.status, 200, posted)
                self.assertLess(took, PROMPT, "POST /v1/events #%d took %.1f s" % (n, took))
                time.sleep(0.5)
        finally:
            flood.stop()
        # The flood was refused above its address's share, and said so.
        self.assertIn("http.max_connections_per_client", self.tackd.stderr())
        self.assertEqual(self.log(order="7102")["events"][0]["event_id"], "slow-flood-2")
        self.assert_running(self.tackd)
        self.stop_tackd(self.tackd)


if __name__ == "__main__":
    unittest.main()
