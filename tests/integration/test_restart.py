"""Nothing is lost when tackd stops mid-batch (DESIGN.md "Guarantees").

A batch of SMS events goes to an http_sink that answers slowly. tackd is
stopped once some but not all requests arrived, then started again on the
same store and outbox. Every event's message must end sent. After SIGKILL a
request in flight may reach the provider twice, but only with the same
idempotency key and only for a message whose log shows the interrupted
attempt as "unknown"; after SIGTERM nothing is sent twice.
"""

import collections
import signal
import time
import unittest

import harness
from harness import TackTestCase, event

EVENTS = 300
# Four customers, so `tackd log --to` stays under its 200-message page.
PHONES = ["+4670123456%d" % i for i in range(4)]
DELAY = 0.05  # seconds the provider takes per request
MAX_IN_FLIGHT = 4


class RestartTest(TackTestCase):
    def start(self):
        # Slow answers for the first requests, plenty for retries too.
        script = [{"delay_seconds": DELAY, "body": {"id": "prov-%d" % n}}
                  for n in range(1, 2 * EVENTS + 1)]
        self.sink = self.start_http_sink(script)
        gateways = [self.http_gateway(self.sink.url, max_in_flight=MAX_IN_FLIGHT),
                    self.file_gateway("mail_file")]
        rules = [{"name": "placed", "on": "placed", "template": "placed", "channels": ["sms"]}]
        self.write_config(self.make_config(gateways, sms=["sms"], email=["mail_file"],
                                           rules=rules))
        self.events = [event("ev-%03d" % i, "order-%03d" % i, "placed", locale="sv-SE",
                             phone=PHONES[i % len(PHONES)], email=None)
                       for i in range(EVENTS)]
        self.emit(self.events)
        return self.start_tackd()

    def stop_mid_batch(self, d, signum):
        """Waits until some but not all requests arrived, then signals."""
        low, high = EVENTS // 6, EVENTS // 2
        self.wait_for(lambda: len(self.sink.requests()) >= low,
                      lambda: "%d requests at the sink; it has %d" % (
                          low, len(self.sink.requests())), interval=0.01)
        d.signal(signum)
        seen = len(self.sink.requests())
        self.assertLess(seen, high, "the batch went too fast to stop it mid-way")
        return seen

    def all_messages(self):
        messages = []
        for phone in PHONES:
            messages.extend(self.log(to=phone)["messages"])
        return messages

    def wait_all_sent(self):
        last = []

        def done():
            last[:] = self.all_messages()
            return len(last) >= EVENTS and all(m["state"] == "sent" for m in last) and last

        def what():
            states = collections.Counter(m["state"] for m in last)
            return "all %d messages sent; log has %d: %s" % (EVENTS, len(last), dict(states))
        return self.wait_for(done, what, timeout=30)

    def check_nothing_lost(self, messages):
        self.assertEqual(len(messages), EVENTS)
        self.assertEqual(sorted(m["event_id"] for m in messages),
                         sorted(e["event_id"] for e in self.events))
        self.assertEqual(len({m["idempotency_key"] for m in messages}), EVENTS)
        keys_seen = collections.Counter(r["headers"].get("idempotency-key")
                                        for r in self.sink.requests())
        for m in messages:
            self.assertGreaterEqual(keys_seen[m["idempotency_key"]], 1,
                                    "message %d never reached the provider" % m["id"])
            self.assertEqual(m["attempt_log"][-1]["outcome"], "sent")
            self.assertTrue(m["provider_id"].startswith("prov-") or
                            m["provider_id"].startswith("msg-"), m["provider_id"])
        self.assertEqual(set(keys_seen) - {m["idempotency_key"] for m in messages}, set(),
                         "the provider saw keys of no message")
        return keys_seen

    def test_sigkill_mid_batch_then_restart_loses_nothing(self):
        first = self.start()
        self.stop_mid_batch(first, signal.SIGKILL)
        self.assertEqual(first.wait(harness.WAIT), -signal.SIGKILL)

        second = self.start_tackd()
        messages = self.wait_all_sent()
        keys_seen = self.check_nothing_lost(messages)

        by_key = {m["idempotency_key"]: m for m in messages}
        unknown = [m for m in messages if any(a["outcome"] == "unknown" for a in m["attempt_log"])]
        self.assertTrue(unknown, "SIGKILL mid-batch left no attempt in flight?")
        self.assertIn("in flight when tackd stopped", second.stderr())
        for key, count in keys_seen.items():
            if count > 1:
                m = by_key[key]
                self.assertIn("unknown", [a["outcome"] for a in m["attempt_log"]],
                              "key %s sent %d times without an interrupted attempt: %s" % (
                                  key, count, harness.summarize([m])))
        for m in unknown:
            outcomes = [a["outcome"] for a in m["attempt_log"]]
            self.assertEqual(outcomes[-1], "sent")
            self.assertLess(outcomes.index("unknown"), len(outcomes) - 1)
        self.assertLessEqual(sum(keys_seen.values()), EVENTS + len(unknown))
        self.stop_tackd(second)

    def test_sigterm_mid_batch_then_restart_sends_each_once(self):
        first = self.start()
        self.stop_mid_batch(first, signal.SIGTERM)
        started = time.monotonic()
        rc = first.wait(harness.WAIT)
        self.assertEqual(rc, harness.EXIT_OK, first.stderr())
        # In-flight sends finish (each takes DELAY), nothing waits for the batch.
        self.assertLess(time.monotonic() - started, 5.0)
        at_stop = len(self.sink.requests())
        self.assertLess(at_stop, EVENTS, "stopped after the whole batch was sent")
        stopped = self.all_messages()
        self.assertEqual(len(stopped), EVENTS, "every event was taken in before the stop")
        self.assertFalse([m for m in stopped if m["state"] == "sending"],
                         "a clean stop leaves nothing in flight")

        second = self.start_tackd()
        messages = self.wait_all_sent()
        keys_seen = self.check_nothing_lost(messages)
        self.assertEqual([k for k, n in keys_seen.items() if n > 1], [], "sent twice")
        self.assertEqual(len(self.sink.requests()), EVENTS)
        for m in messages:
            self.assertEqual([a["outcome"] for a in m["attempt_log"]], ["sent"],
                             harness.summarize([m]))
        self.assertNotIn("in flight when tackd stopped", second.stderr())
        self.stop_tackd(second)


if __name__ == "__main__":
    unittest.main()
