"""Operator verbs against a running tackd: retry, retry --dead, cancel,
hold and release (a message or a whole gateway). Each change is made with
the CLI while tackd runs, must be picked up by the daemon, and must show
in the delivery log with who did it."""

import time
import unittest

import harness
from harness import TackTestCase, event


class OperatorTest(TackTestCase):
    def start(self, script=None, retry=None):
        self.sink = self.start_http_sink(script)
        gateways = [self.http_gateway(self.sink.url), self.file_gateway("mail_file")]
        self.write_config(self.make_config(gateways, sms=["sms"], email=["mail_file"],
                                           retry=retry))
        self.tackd = self.start_tackd()

    def sms(self, order, states):
        ms = [m for m in self.wait_for_messages(order, states, channel="sms")]
        self.assertEqual(len(ms), 1, harness.summarize(ms))
        return ms[0]

    def cli(self, *args, check=harness.EXIT_OK):
        return self.tackd_cli(*args, "--config", self.config_path, check=check)

    def test_retry_sends_a_failed_message_again_and_records_who(self):
        self.start(script=[{"status": 400, "body": "{\"error\": \"bad sender\"}"}])
        self.emit([event("op-1", "501", "shipped")])
        failed = self.sms("501", ("failed",))
        out = self.cli("retry", failed["id"]).stdout
        self.assertIn("retry done", out)
        sent = self.sms("501", ("sent",))
        self.assertEqual([a["outcome"] for a in sent["attempts"]], ["rejected", "sent"])
        self.assertEqual([a["number"] for a in sent["attempts"]], [1, 2])
        self.assertEqual(len(sent["audit"]), 1)
        self.assertEqual(sent["audit"][0]["action"], "retry")
        self.assertTrue(sent["audit"][0]["actor"].startswith("cli:"))
        self.assertIn("retry by cli:", self.log_text("501"))
        # The same key both times: the provider can tell it is one message.
        keys = {r["headers"]["idempotency-key"] for r in self.sink.requests()}
        self.assertEqual(keys, {sent["idempotency_key"]})
        # Retrying a sent message is refused with the reason.
        refused = self.cli("retry", sent["id"], check=harness.EXIT_DATAERR)
        self.assertIn("is sent", refused.stderr)
        self.stop_tackd(self.tackd)

    def test_retry_dead_requeues_every_dead_message_of_a_gateway(self):
        self.start(script=[{"status": 503}] * 4,
                   retry={"max_attempts": 2, "initial_backoff": "50ms", "max_backoff": "100ms",
                          "max_age": "1h"})
        self.emit([event("dead-1", "601", "shipped"), event("dead-2", "602", "shipped")])
        self.sms("601", ("dead",))
        self.sms("602", ("dead",))
        out = self.cli("retry", "--dead", "--since", "1h", "--gateway", "sms").stdout
        self.assertIn("requeued 2 dead messages", out)
        for order in ("601", "602"):
            m = self.sms(order, ("sent",))
            self.assertEqual([a["outcome"] for a in m["attempts"]], ["retry", "retry", "sent"])
        self.stop_tackd(self.tackd)

    def test_retry_failed_requeues_what_a_gateway_failed_not_what_intake_refused(self):
        self.start(script=[{"status": 400, "body": "{\"error\": \"bad sender\"}"}] * 2)
        self.emit([event("failed-1", "651", "shipped"), event("failed-2", "652", "shipped"),
                   # Refused at intake: no attempt, nothing a retry could fix.
                   event("failed-3", "653", "shipped", phone="12345")])
        self.sms("651", ("failed",))
        self.sms("652", ("failed",))
        refused = self.sms("653", ("failed",))
        self.assertEqual(refused["attempts"], [])
        # Another gateway's failures only: none here.
        self.assertIn("requeued 0 failed messages",
                      self.cli("retry", "--failed", "--gateway", "mail_file").stdout)
        out = self.cli("retry", "--failed", "--since", "1h", "--gateway", "sms").stdout
        self.assertIn("requeued 2 failed messages", out)
        for order in ("651", "652"):
            m = self.sms(order, ("sent",))
            self.assertEqual([a["outcome"] for a in m["attempts"]], ["rejected", "sent"])
            self.assertEqual(m["audit"][0]["action"], "retry")
        time.sleep(0.5)
        again = self.sms("653", ("failed",))
        self.assertEqual(again["attempts"], [])
        self.assertIn("invalid phone number", again["last_error"])
        self.assertEqual(again["audit"], [])
        self.assertEqual(len(self.sink.requests()), 4)
        self.stop_tackd(self.tackd)

    def test_a_held_gateway_sends_nothing_until_released(self):
        self.start()
        self.cli("hold", "--gateway", "sms")
        self.emit([event("hold-1", "701", "shipped")])
        self.sms("701", ("queued",))
        time.sleep(1.5)  # the dispatcher looks at least once a second
        self.assertEqual(self.sink.requests(), [])
        self.cli("release", "--gateway", "sms")
        self.sms("701", ("sent",))
        self.assertEqual(len(self.sink.requests()), 1)
        self.stop_tackd(self.tackd)

    def test_a_cancelled_message_is_never_sent(self):
        self.start()
        self.cli("hold", "--gateway", "sms")
        self.emit([event("cancel-1", "801", "shipped")])
        queued = self.sms("801", ("queued",))
        self.cli("cancel", queued["id"])
        self.cli("release", "--gateway", "sms")
        # A later message for another order proves the gateway is sending again.
        self.emit([event("cancel-2", "802", "shipped")])
        self.sms("802", ("sent",))
        cancelled = self.sms("801", ("cancelled",))
        self.assertIn("cancelled by cli:", cancelled["last_error"])
        self.assertEqual(len(self.sink.requests()), 1)
        self.stop_tackd(self.tackd)

    def test_hold_and_release_one_message(self):
        self.start()
        self.cli("hold", "--gateway", "sms")
        self.emit([event("one-1", "901", "shipped")])
        queued = self.sms("901", ("queued",))
        self.cli("hold", queued["id"])
        self.cli("release", "--gateway", "sms")
        self.sms("901", ("held",))
        time.sleep(1.5)
        self.assertEqual(self.sink.requests(), [])
        self.cli("release", queued["id"])
        self.sms("901", ("sent",))
        self.stop_tackd(self.tackd)

    def test_verbs_need_a_target_and_know_the_gateways(self):
        self.start()
        self.assertEqual(self.cli("retry", check=None).returncode, harness.EXIT_USAGE)
        bad = self.cli("hold", "--gateway", "nope", check=harness.EXIT_USAGE)
        self.assertIn("no gateway named nope", bad.stderr)
        missing = self.cli("cancel", "424242", check=harness.EXIT_DATAERR)
        self.assertIn("no message 424242", missing.stderr)
        self.stop_tackd(self.tackd)


if __name__ == "__main__":
    unittest.main()
