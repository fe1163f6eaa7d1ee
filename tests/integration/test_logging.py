"""tackd's own log (what journald keeps) never holds a full phone number,
e-mail address or secret, even when a provider's answer echoes them; the
delivery log, behind auth, keeps them in full for support."""

import os
import re
import time
import unittest

import harness
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


class LogFormTest(TackTestCase):
    """Logs that help at 3 a.m. (issue 15, item 9): plain levels in a file or
    a terminal, journald's "<N>" only when stderr is the journal; what went
    wrong with a message in a sentence, at the level it deserves."""

    def run_one_order(self, env=None, label=None, sms_script=None):
        sms = self.start_http_sink(sms_script or [])
        mail = self.start_smtp_sink(rcpt_replies=["550 5.1.1 <anna@example.se>: user unknown"])
        if self.config_path is None:
            self.write_config(self.make_config(
                [self.http_gateway(sms.url), self.smtp_gateway(mail)], sms=["sms"],
                email=["mail"]))
        tackd = self.start_tackd(label=label, env=env)
        return tackd

    def test_a_file_gets_plain_levels_and_sentences(self):
        tackd = self.run_one_order()
        self.emit([event("lf-1", "6001", "placed")])
        messages = self.wait_for_messages("6001", ("sent", "failed"), count=2)
        self.stop_tackd(tackd)
        log = tackd.stderr()
        # No syslog priority prefix in a file: a person reads it.
        self.assertIsNone(re.search(r"(?m)^<\d>", log), log)
        self.assertRegex(log, r"(?m)^info: tackd .* running: store ")
        by_kind = {m["kind"]: m for m in messages}
        sms, mail = by_kind["sms"], by_kind["email"]
        # A sent message is news at info; a refused one a warning, in words.
        self.assertRegex(log, r"(?m)^info: message %d \(sms to \+46\*{5}4567, order 6001, via "
                              r"sms\): sent; the provider's id is msg-1$" % sms["id"])
        self.assertRegex(log, r"(?m)^warning: message %d \(email to a\*{3}@example\.se, order "
                              r"6001, via mail\): the mail server refused it: .*5\.1\.1.*; "
                              r"failed for good$" % mail["id"])
        # No state machine arrows for people to decode.
        self.assertNotIn(" -> ", log)

    def test_the_journal_gets_priority_prefixes_only_when_stderr_is_it(self):
        # JOURNAL_STREAM naming this very file (its device and inode), as
        # systemd sets it when stderr is connected to journald.
        label = "tackd-journal"
        path = os.path.join(self.tmp, label + ".stderr")
        with open(path, "ab"):
            pass
        st = os.stat(path)
        env = dict(os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
        tackd = self.run_one_order(env=env, label=label)
        self.stop_tackd(tackd)
        self.assertRegex(tackd.stderr(), r"(?m)^<6>tackd .* running: store ")
        self.assertIsNone(re.search(r"(?m)^info: ", tackd.stderr()))
        # Inherited from a shell started under systemd: names another stream.
        env = dict(os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino + 1))
        tackd = self.run_one_order(env=env, label="tackd-inherited")
        self.stop_tackd(tackd)
        self.assertRegex(tackd.stderr(), r"(?m)^info: tackd .* running: store ")
        for n, junk in enumerate(("", "garbage", "12:", ":34", "1:2:3",
                                  "99999999999999999999999:1")):
            env = dict(os.environ, JOURNAL_STREAM=junk)
            tackd = self.run_one_order(env=env, label="tackd-junk-%d" % n)
            self.stop_tackd(tackd)
            self.assertRegex(tackd.stderr(), r"(?m)^info: tackd .* running: store ", junk)

    def test_a_provider_refusing_the_credentials_is_an_error(self):
        tackd = self.run_one_order(sms_script=[{"status": 401, "body": {"error": "bad key"}}])
        self.emit([event("lf-2", "6002", "placed")])
        self.wait_for(lambda: re.search(r"(?m)^error: gateway sms: the provider refused tack's "
                                        r"credentials", tackd.stderr()),
                      "an error line for the refused credentials")
        self.stop_tackd(tackd)

    def test_a_missing_outbox_table_is_said_once_then_once_when_it_appears(self):
        self.write_config(self.make_config([self.file_gateway()]))
        tackd = self.start_tackd(wait_ready=False)
        self.wait_for(lambda: "does not exist" in tackd.stderr(), "the missing table said")
        # tackd looks for the table every second; it says so once, not
        # every time it looks.
        time.sleep(4)
        self.assert_running(tackd)
        log = tackd.stderr()
        self.assertEqual(log.count("does not exist"), 1, log)
        self.assertLessEqual(log.count("source outbox: reading"), 1, log)
        self.tackd_cli("outbox", "init", "--config", self.config_path, check=harness.EXIT_OK)
        self.wait_for(lambda: re.search(r"(?m)^info: source outbox: table outbox is there now",
                                        tackd.stderr()), "the table's arrival said")
        self.emit([event("lf-3", "6003", "placed")])
        self.wait_for_messages("6003", ("sent",), count=2)
        time.sleep(1.5)
        self.stop_tackd(tackd)
        log = tackd.stderr()
        self.assertEqual(log.count("does not exist"), 1, log)
        self.assertEqual(log.count("is there now"), 1, log)


if __name__ == "__main__":
    unittest.main()
