"""Fallback against real providers: a channel's next gateway takes over
while the first one's circuit is open, and a rule's fallback channel
(SMS -> e-mail) reaches the customer when the SMS fails for good."""

import unittest

from harness import TackTestCase, event

FAST_RETRY = {"max_attempts": 50, "initial_backoff": "50ms", "max_backoff": "100ms",
              "max_age": "1h"}


class GatewayFallbackTest(TackTestCase):
    def test_an_open_circuit_sends_through_the_channels_next_gateway(self):
        primary = self.start_http_sink([{"status": 503}] * 200, label="primary")
        backup = self.start_http_sink(label="backup")
        gateways = [
            self.http_gateway(primary.url, name="sms-primary", max_in_flight=1,
                              circuit_failures=2, circuit_cooldown="60s"),
            self.http_gateway(backup.url, name="sms-backup"),
            self.file_gateway("mail_file"),
        ]
        self.write_config(self.make_config(gateways, sms=["sms-primary", "sms-backup"],
                                           email=["mail_file"], retry=FAST_RETRY))
        tackd = self.start_tackd()
        orders = ["31%02d" % i for i in range(6)]
        self.emit([event("gf-" + o, o, "packed") for o in orders])
        for o in orders:
            [m] = self.wait_for_messages(o, ("sent",), channel="sms")
            self.assertEqual(m["gateway"], "sms-backup")
            self.assertEqual(m["attempt_log"][-1]["gateway"], "sms-backup")
            self.assertEqual(m["attempt_log"][-1]["outcome"], "sent")
            # Every attempt before went to the failing gateway and was a retry.
            for a in m["attempt_log"][:-1]:
                self.assertEqual((a["gateway"], a["outcome"]), ("sms-primary", "retry"))
            # The e-mail standing by for this SMS was not needed.
            [standby] = self.messages(o, channel="email")
            self.assertEqual(standby["state"], "not_needed")
            self.assertEqual(standby["fallback_for"], m["id"])
        # Two failures opened the circuit; it stays open for 60 s, so the
        # primary saw no more than those.
        self.assertEqual(len(primary.requests()), 2)
        self.assertEqual(len(backup.requests()), len(orders))
        # The backup got the same idempotency keys the log holds.
        keys = {r["headers"]["idempotency-key"] for r in backup.requests()}
        self.assertEqual(keys, {self.messages(o, channel="sms")[0]["idempotency_key"]
                                for o in orders})
        self.assertIn("circuit open", tackd.stderr())
        self.stop_tackd(tackd)


class ChannelFallbackTest(TackTestCase):
    def start(self, sms_script, retry=None):
        self.sms = self.start_http_sink(sms_script, label="sms_sink")
        self.mail = self.start_smtp_sink()
        gateways = [self.http_gateway(self.sms.url), self.smtp_gateway(self.mail)]
        self.write_config(self.make_config(gateways, sms=["sms"], email=["mail"],
                                           retry=retry or FAST_RETRY))
        self.tackd = self.start_tackd()

    def test_a_rejected_sms_falls_back_to_email_and_a_sent_one_does_not(self):
        # The provider rejects the first number, then takes everything.
        self.start([{"status": 400, "body": {"error": "invalid destination"}}])
        self.emit([event("cf-1", "3201", "packed", phone="+46701234560")])
        self.wait_for_messages("3201", ("sent",), channel="email")
        messages = self.messages("3201")
        [sms] = [m for m in messages if m["channel"] == "sms"]
        [mail] = [m for m in messages if m["channel"] == "email"]
        self.assertEqual(sms["state"], "failed")
        self.assertIn("invalid destination", sms["last_error"])
        self.assertEqual(mail["fallback_for"], sms["id"])
        self.assertEqual([a["outcome"] for a in mail["attempt_log"]], ["sent"])
        self.assertEqual(len(self.mail.messages()), 1)
        self.assertIn("anna@example.se", self.mail.messages()[0]["rcpt_tos"])

        self.emit([event("cf-2", "3202", "packed")])
        [sms2] = self.wait_for_messages("3202", ("sent",), channel="sms")
        [mail2] = self.wait_for_messages("3202", ("not_needed",), channel="email")
        self.assertEqual(mail2["attempt_log"], [])
        self.assertEqual(len(self.mail.messages()), 1)  # still only the first
        self.stop_tackd(self.tackd)

    def test_an_sms_that_gives_up_falls_back_to_email(self):
        retry = {"max_attempts": 2, "initial_backoff": "50ms", "max_backoff": "100ms",
                 "max_age": "1h"}
        self.start([{"status": 503}] * 2, retry=retry)
        self.emit([event("cf-3", "3203", "packed")])
        self.wait_for_messages("3203", ("sent",), channel="email")
        messages = self.messages("3203")
        [sms] = [m for m in messages if m["channel"] == "sms"]
        self.assertEqual(sms["state"], "dead")
        self.assertEqual([a["outcome"] for a in sms["attempt_log"]], ["retry", "retry"])
        self.assertEqual(len(self.mail.messages()), 1)
        self.stop_tackd(self.tackd)


if __name__ == "__main__":
    unittest.main()
