"""tackd's own log (what journald keeps) never holds a full phone number,
e-mail address or secret, even when a provider's answer echoes them; the
delivery log, behind auth, keeps them in full for support."""

import re
import unittest

from harness import TackTestCase, event

PHONE = "+46701234567"
EMAIL = "anna@example.se"
TOKEN = "sk-live-0123456789abcdef"


class LogMaskingTest(TackTestCase):
    def test_the_daemon_log_masks_recipients_and_never_shows_secrets(self):
        # The SMS provider rejects with the number in its answer; the mail
        # server rejects the address in its answer, as real ones do.
        sms = self.start_http_sink([{"status": 400, "body": {
            "error": "invalid destination 46701234567 (" + PHONE + ")"}}])
        mail = self.start_smtp_sink(rcpt_replies=["550 5.1.1 <Anna@Example.se>: user unknown"])
        gateways = [self.http_gateway(sms.url, headers={"Authorization": "Bearer " + TOKEN}),
                    self.smtp_gateway(mail, username="shop", password=TOKEN)]
        self.write_config(self.make_config(gateways, sms=["sms"], email=["mail"]))
        tackd = self.start_tackd()
        self.emit([event("lm-1", "5001", "placed")])
        self.wait_for_messages("5001", ("failed",), count=2)
        self.stop_tackd(tackd)
        log = tackd.stderr()
        # It did log both failures, with the providers' answers...
        self.assertIn("invalid destination", log)
        self.assertIn("5.1.1", log)
        # ...masked.
        self.assertIn("+46*****4567", log)
        self.assertIn("a***@example.se", log)
        for secret in (PHONE, "46701234567", EMAIL, TOKEN):
            self.assertNotIn(secret.lower(), log.lower())
        self.assertIsNone(re.search(r"\d{9,}", log.replace("+46*****4567", "")),
                          "a long digit run in the log may be a phone number")
        # The delivery log keeps them for support.
        messages = self.messages("5001")
        self.assertEqual({m["to"] for m in messages}, {PHONE, EMAIL})
        self.assertTrue(any("46701234567" in m["last_error"] for m in messages))


if __name__ == "__main__":
    unittest.main()
