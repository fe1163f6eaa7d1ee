"""A rule's ttl: a message not sent in time becomes `expired`, never late.
"An out for delivery SMS that arrives after delivery is worse than none."""

import datetime
import unittest

import harness
from harness import TackTestCase, event


def iso(delta_seconds):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=delta_seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ExpiryTest(TackTestCase):
    def start(self, ttl, script=None):
        self.sink = self.start_http_sink(script)
        rules = [{"name": "out_for_delivery", "on": "out_for_delivery",
                  "template": "out_for_delivery", "channels": ["sms"], "ttl": ttl}]
        gateways = [self.http_gateway(self.sink.url), self.file_gateway("mail_file")]
        retry = {"max_attempts": 100, "initial_backoff": "100ms", "max_backoff": "300ms",
                 "max_age": "1h"}
        self.write_config(self.make_config(gateways, sms=["sms"], email=["mail_file"],
                                           rules=rules, retry=retry))
        self.tackd = self.start_tackd()

    def test_an_event_older_than_the_ttl_sends_nothing(self):
        self.start("1h")
        self.emit([event("old-1", "1301", "out_for_delivery", occurred_at=iso(-3 * 3600)),
                   event("new-1", "1302", "out_for_delivery", occurred_at=iso(0))])
        self.wait_for_messages("1302", ("sent",))
        [old] = self.wait_for_messages("1301", ("expired",))
        self.assertIn("ttl", old["last_error"])
        self.assertEqual(old["attempt_log"], [])
        self.assertEqual(len(self.sink.requests()), 1)
        self.stop_tackd(self.tackd)

    def test_a_message_still_failing_when_its_ttl_runs_out_expires(self):
        self.start("2s", script=[{"status": 503}] * 1000)
        self.emit([event("fail-1", "1401", "out_for_delivery", occurred_at=iso(0))])
        [m] = self.wait_for_messages("1401", ("expired",))
        self.assertGreaterEqual(len(m["attempt_log"]), 1)
        self.assertTrue(all(a["outcome"] == "retry" for a in m["attempt_log"]), m["attempt_log"])
        self.assertIn("503", m["last_error"])
        sent_before = len(self.sink.requests())
        self.assertEqual(self.messages("1401")[0]["state"], "expired")
        self.assertEqual(len(self.sink.requests()), sent_before)
        self.stop_tackd(self.tackd)

    def test_a_bad_ttl_is_a_config_error(self):
        gateways = [self.file_gateway("f")]
        rules = [{"name": "x", "on": "shipped", "template": "shipped", "channels": ["sms"],
                  "ttl": "tomorrow"}]
        path = self.write_config(self.make_config(gateways, rules=rules))
        check = self.tackd_cli("check", "--config", path)
        self.assertEqual(check.returncode, harness.EXIT_CONFIG, check.stderr)
        self.assertIn("ttl expects", check.stderr)


if __name__ == "__main__":
    unittest.main()
