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

    def test_a_message_tack_refused_cannot_be_retried_and_keeps_its_reason(self):
        self.start()
        # A Stockholm landline: refused at intake, no provider ever sees it.
        self.emit([event("fixed-1", "511", "shipped", phone="08-123 456 78")])
        refused = self.sms("511", ("failed",))
        reason = refused["last_error"]
        self.assertIn("fixed line", reason)
        self.assertEqual(refused["attempts"], [])
        out = self.cli("retry", refused["id"], check=harness.EXIT_DATAERR)
        self.assertIn("refused by tack", out.stderr)
        self.assertIn("fixed line", out.stderr)
        time.sleep(0.5)  # what a wrongly requeued message would need to reach the sink
        again = self.sms("511", ("failed",))
        self.assertEqual(again["last_error"], reason)
        self.assertEqual(again["attempts"], [])
        self.assertEqual(again["audit"], [])
        self.assertEqual(self.sink.requests(), [])
        # Nor is it retried in bulk.
        self.cli("retry", "--dead", "--since", "1h")
        self.assertEqual(self.sms("511", ("failed",))["last_error"], reason)
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
