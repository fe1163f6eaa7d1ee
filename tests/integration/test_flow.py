"""Flow control against a real HTTP provider: a circuit breaker that stops
hammering a failing gateway and probes it, and a rate limit that queues
messages instead of failing them."""

import time
import unittest

import harness
from harness import TackTestCase, event


class FlowTest(TackTestCase):
    def start(self, script=None, **gateway_extra):
        self.sink = self.start_http_sink(script)
        gateways = [self.http_gateway(self.sink.url, **gateway_extra),
                    self.file_gateway("mail_file")]
        retry = {"max_attempts": 50, "initial_backoff": "50ms", "max_backoff": "100ms",
                 "max_age": "1h"}
        self.write_config(self.make_config(gateways, sms=["sms"], email=["mail_file"],
                                           retry=retry))
        self.tackd = self.start_tackd()

    def test_an_open_circuit_stops_requests_then_a_probe_closes_it(self):
        # Three failures open the circuit for 3 s; the sink then recovers.
        self.start(script=[{"status": 503}] * 3, max_in_flight=1, circuit_failures=3,
                   circuit_cooldown="3s")
        self.emit([event("cb-1", "1101", "shipped")])
        self.wait_for(lambda: len(self.sink.requests()) >= 3, "three failed requests")
        opened = time.monotonic()
        self.wait_for(lambda: "circuit open" in self.tackd.stderr(), "circuit open in the log")
        # Backoff alone would retry within 100 ms; the open circuit holds.
        time.sleep(1.0)
        self.assertEqual(len(self.sink.requests()), 3)
        messages = [m for m in self.wait_for_messages("1101", ("sent",), channel="sms")]
        waited = time.monotonic() - opened
        self.assertGreaterEqual(waited, 2.5)
        self.assertEqual(len(self.sink.requests()), 4)
        self.assertEqual([a["outcome"] for a in messages[0]["attempt_log"]],
                         ["retry", "retry", "retry", "sent"])
        self.assertIn("circuit closed", self.tackd.stderr())
        self.stop_tackd(self.tackd)

    def test_a_rate_limit_queues_messages_instead_of_failing_them(self):
        self.start(max_per_second=5, burst=1)
        events = [event("rl-%d" % i, "12%02d" % i, "shipped") for i in range(6)]
        started = time.monotonic()
        self.emit(events)
        for i in range(6):
            self.wait_for_messages("12%02d" % i, ("sent",), channel="sms")
        elapsed = time.monotonic() - started
        # 6 sends at 5 per second with a burst of 1 take at least a second.
        self.assertGreaterEqual(elapsed, 0.9)
        self.assertEqual(len(self.sink.requests()), 6)
        for i in range(6):
            [m] = self.messages("12%02d" % i, channel="sms")
            self.assertEqual([a["outcome"] for a in m["attempt_log"]], ["sent"])
        self.stop_tackd(self.tackd)

    def test_flow_keys_are_checked(self):
        gateways = [self.http_gateway("http://127.0.0.1:9", max_per_second=-1,
                                      circuit_cooldown="soon")]
        path = self.write_config(self.make_config(gateways))
        check = self.tackd_cli("check", "--config", path)
        self.assertEqual(check.returncode, harness.EXIT_CONFIG, check.stderr)
        self.assertIn("max_per_second must be between 0 and 100000", check.stderr)
        self.assertIn("circuit_cooldown expects", check.stderr)


if __name__ == "__main__":
    unittest.main()
