"""Control characters from events and providers' answers never reach
tackd's log raw (issue 14, finding 6).

journald ends an entry at a newline or a NUL, and the "<N>" at the start
of the next one sets its priority: an event whose field held "\\0<0>..."
could forge an entry at emergency priority. ESC drives the terminal of
whoever reads the log. tackd's log escapes every byte below 0x20, 0x7f and
invalid UTF-8 (\\x00, \\n, \\x1b): one event, one line.
"""

import os
import re
import unittest

from harness import TackTestCase, event

# NUL, a forged priority, a newline with another, ESC (a colour), DEL.
EVIL = "x\u0000<0>forged\n<0>line\u001b[31mred\u007f"
ESCAPED = "x\\x00<0>forged\\n<0>line\\x1b[31mred\\x7f"


class LogControlCharactersTest(TackTestCase):
    def test_control_characters_from_events_and_answers_are_escaped_in_the_log(self):
        # The SMS provider's answer carries them; so does a rejected event.
        sms = self.start_http_sink([{"status": 400, "body": "bad " + EVIL}])
        self.write_config(self.make_config(
            [self.http_gateway(sms.url), self.file_gateway("mail")], sms=["sms"],
            email=["mail"], retry={"max_attempts": 1, "initial_backoff": "100ms",
                                   "max_backoff": "500ms", "max_age": "1h"}))
        # stderr is the journal here (JOURNAL_STREAM names it, as systemd
        # sets it), so lines carry "<N>": the priority a forged one would set.
        stderr_path = os.path.join(self.tmp, "tackd-journal.stderr")
        with open(stderr_path, "ab"):
            pass
        st = os.stat(stderr_path)
        tackd = self.start_tackd(label="tackd-journal", env=dict(
            os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino)))
        self.emit([event("cc-1", "7001", "placed"),
                   event("cc-2", "7002", "placed", occurred_at="2026" + EVIL)])
        self.wait_for_messages("7001", ("failed", "dead"), channel="sms")
        self.wait_for(lambda: any(r["event_id"] == "cc-2" for r in self.rejected()),
                      "event cc-2 to be rejected")
        self.wait_for(lambda: "outbox row 2 rejected" in tackd.stderr(),
                      "tackd to log the rejected row")
        self.stop_tackd(tackd)
        with open(tackd.stderr_path, "rb") as f:
            raw = f.read()
        # No control byte but the newline that ends each line, no DEL.
        self.assertIsNone(re.search(rb"[\x00-\x09\x0b-\x1f\x7f]", raw), raw)
        log = raw.decode("utf-8")
        # Every line is one whole entry with tackd's own priority.
        for line in log.splitlines():
            self.assertRegex(line, r"^<[3-7]>", "a line tackd did not start:\n" + log)
        # Both texts are there, escaped.
        self.assertIn('rejected: bad occurred_at "2026%s"' % ESCAPED, log)
        self.assertIn("the provider refused it: HTTP 400: bad " + ESCAPED, log)
        # The delivery log, behind auth, keeps the provider's answer as it came.
        sms_message = self.messages("7001", channel="sms")[0]
        self.assertIn(EVIL, sms_message["attempt_log"][0]["detail"])


if __name__ == "__main__":
    unittest.main()
