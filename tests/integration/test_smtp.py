"""tackd sends e-mail over SMTP to a real server (aiosmtpd on 127.0.0.1).

Each test starts smtp_sink.py and tackd, emits events into the outbox and
checks both what the server received (parsed with Python's email package)
and what the delivery log says about it.
"""

import email
import email.policy
import email.utils
import unittest

import harness
from harness import TackTestCase, event


def parse(raw):
    return email.message_from_string(raw, policy=email.policy.default)


def normalized(text):
    return text.replace("\r\n", "\n").strip()


class SmtpTestCase(TackTestCase):
    def start(self, replies=(), rcpt_replies=()):
        """smtp_sink for e-mail; SMS goes to a file gateway, out of the way."""
        self.smtp = self.start_smtp_sink(replies=replies, rcpt_replies=rcpt_replies)
        gateways = [self.smtp_gateway(self.smtp, name="mail"), self.file_gateway("sms_file")]
        self.write_config(self.make_config(gateways, sms=["sms_file"], email=["mail"]))
        self.tackd = self.start_tackd()

    def wait_accepted(self, count=1):
        return self.wait_for(lambda: len(self.smtp.accepted()) >= count and self.smtp.accepted(),
                             lambda: "%d accepted message(s) at the SMTP sink; it has %r" % (
                                 count, self.smtp.messages()))

    def email_message(self, order, states):
        messages = self.wait_for_messages(order, states, channel="email")
        email_messages = [m for m in messages if m["channel"] == "email"]
        self.assertEqual(len(email_messages), 1, harness.summarize(messages))
        return email_messages[0]

    def assert_well_formed(self, msg, to, subject, must_mention):
        """The checks every e-mail tackd sends must pass."""
        self.assertEqual(str(msg["Subject"]), subject)
        self.assertEqual([a.addr_spec for a in msg["To"].addresses], [to])
        self.assertEqual([a.addr_spec for a in msg["From"].addresses],
                         ["kundservice@exempelbutiken.se"])
        self.assertTrue(msg["Message-ID"], "Message-ID header")
        self.assertRegex(str(msg["Message-ID"]).strip(), r"^<[^<>@\s]+@[^<>@\s]+>$")
        self.assertTrue(msg["Date"], "Date header")
        self.assertIsNotNone(email.utils.parsedate_to_datetime(str(msg["Date"])))
        self.assertEqual(msg.get_content_type(), "multipart/alternative")
        parts = [p.get_content_type() for p in msg.iter_parts()]
        self.assertEqual(parts, ["text/plain", "text/html"])
        plain = msg.get_body(("plain",))
        html = msg.get_body(("html",))
        self.assertEqual(plain.get_content_charset(), "utf-8")
        for needle in must_mention:
            self.assertIn(needle, plain.get_content())
        return plain.get_content(), html.get_content()

    def assert_sent_in_log(self, order, message):
        """The log (JSON and human text) shows the message sent, with an
        attempt whose outcome is sent."""
        self.assertEqual(message["state"], "sent", harness.summarize([message]))
        self.assertEqual(message["gateway"], "mail")
        self.assertGreaterEqual(len(message["attempt_log"]), 1)
        last = message["attempt_log"][-1]
        self.assertEqual(last["outcome"], "sent")
        self.assertEqual(last["gateway"], "mail")
        text = self.log_text(order)
        self.assertIn("message %d  email to %s  state: sent" % (message["id"], message["to"]),
                      text)
        self.assertRegex(text, r"attempt %d .* via mail  sent " % last["number"])


class SmtpDeliveryTest(SmtpTestCase):
    def test_swedish_shipped_email_reaches_the_server_well_formed(self):
        self.start()
        self.emit([event("ev-sv-1", "1042", "shipped", locale="sv-SE", name="Åsa Öström",
                         email="asa@example.se", carrier="PostNord")])
        received = self.wait_accepted()
        self.assertEqual(len(received), 1)
        self.assertEqual(received[0]["rcpt_tos"], ["asa@example.se"])
        self.assertEqual(received[0]["mail_from"], "kundservice@exempelbutiken.se")
        # 7-bit on the wire: å/ä/ö travel encoded (RFC 2047 subject, encoded body).
        self.assertTrue(received[0]["data"].isascii(), "raw message is not 7-bit")
        self.assertNotIn("är på väg", received[0]["data"])
        msg = parse(received[0]["data"])

        plain, html = self.assert_well_formed(msg, "asa@example.se", "Din order 1042 är på väg",
                                              ["1042", "PostNord", "Hej Åsa!",
                                               "https://tracking.example/1042"])
        self.assertIn("lämnat vårt lager", plain)
        self.assertIn("Vänliga hälsningar", plain)
        self.assertIn("<strong>1042</strong>", html)
        self.assertIn('lang="sv', html)

        message = self.email_message("1042", ("sent",))
        self.assert_sent_in_log("1042", message)
        self.assertEqual(message["to"], "asa@example.se")
        self.assertEqual(message["subject"], "Din order 1042 är på väg")
        self.assertTrue(message["locale"].startswith("sv"), message["locale"])
        self.assertEqual(normalized(message["text"]), normalized(plain))
        self.assertEqual(len(message["attempt_log"]), 1)
        # Support can find the very e-mail: its Message-ID is the provider id.
        self.assertEqual(message["provider_id"], str(msg["Message-ID"]).strip())
        self.assertEqual(self.log(order="1042")["events"][0]["verdict"], "accepted")
        self.assert_running(self.tackd)
        self.stop_tackd(self.tackd)

    def test_polish_placed_email_reaches_the_server_well_formed(self):
        self.start()
        self.emit([event("ev-pl-1", "2001", "placed", locale="pl-PL", name="Zofia Wąsowska",
                         email="zofia@example.pl", carrier="InPost",
                         data={"total": "249.00", "currency": "PLN",
                               "items": [{"name": "Łódka z drewna", "quantity": 2}]})])
        msg = parse(self.wait_accepted()[0]["data"])
        plain, html = self.assert_well_formed(msg, "zofia@example.pl",
                                              "Dziękujemy za zamówienie nr 2001",
                                              ["2001", "Łódka z drewna, 2 szt.", "249.00 PLN",
                                               "Pozdrawiamy serdecznie"])
        self.assertIn("Zamówienie nr 2001", html)
        message = self.email_message("2001", ("sent",))
        self.assert_sent_in_log("2001", message)
        self.assertTrue(message["locale"].startswith("pl"), message["locale"])
        self.assertEqual(normalized(message["text"]), normalized(plain))
        self.stop_tackd(self.tackd)

    def test_english_delivered_email_reaches_the_server_well_formed(self):
        self.start()
        self.emit([event("ev-en-1", "3001", "delivered", locale="en-GB", name="John Smith",
                         email="john@example.co.uk", phone=None)])
        msg = parse(self.wait_accepted()[0]["data"])
        message = self.email_message("3001", ("sent",))
        # The subject is the template's; what reached the server is what the
        # log holds, and it names the order.
        self.assertIn("3001", message["subject"])
        plain, _ = self.assert_well_formed(msg, "john@example.co.uk", message["subject"],
                                           ["3001", "John"])
        self.assertIn("Kind regards", plain)
        self.assert_sent_in_log("3001", message)
        self.assertTrue(message["locale"].startswith("en"), message["locale"])
        self.assertEqual(normalized(message["text"]), normalized(plain))
        self.stop_tackd(self.tackd)


class SmtpFailureTest(SmtpTestCase):
    def test_451_once_is_retried_and_then_sent(self):
        self.start(replies=["451 4.3.0 try again later"])
        self.emit([event("ev-451", "4001", "delivered", locale="en", phone=None)])
        self.wait_accepted()
        message = self.email_message("4001", ("sent",))
        self.assertEqual(message["state"], "sent")
        outcomes = [a["outcome"] for a in message["attempt_log"]]
        self.assertEqual(outcomes, ["retry", "sent"], harness.summarize([message]))
        self.assertIn("451", message["attempt_log"][0]["detail"])
        self.assertEqual([a["number"] for a in message["attempt_log"]], [1, 2])
        # The server saw the message twice: refused once, then accepted.
        seen = self.smtp.messages()
        self.assertEqual([m["accepted"] for m in seen], [False, True])
        self.assertEqual(parse(seen[0]["data"])["Message-ID"], parse(seen[1]["data"])["Message-ID"],
                         "a retry resends the same message (same Message-ID)")
        self.assert_sent_in_log("4001", message)
        self.stop_tackd(self.tackd)

    def test_550_unknown_recipient_fails_without_retry(self):
        self.start(rcpt_replies=["550 5.1.1 user unknown"])
        self.emit([event("ev-550", "5001", "delivered", locale="en", phone=None,
                         email="nobody@example.se")])
        message = self.email_message("5001", ("failed", "dead"))
        self.assertEqual(message["state"], "failed", harness.summarize([message]))
        self.assertEqual(len(message["attempt_log"]), 1, harness.summarize([message]))
        attempt = message["attempt_log"][0]
        self.assertEqual(attempt["outcome"], "rejected")
        self.assertIn("5.1.1", attempt["detail"])
        self.assertIn("5.1.1", message["last_error"])
        text = self.log_text("5001")
        self.assertIn("state: failed", text)
        self.assertIn("5.1.1", text)
        # Not retried: after several backoff periods nothing more arrived.
        harness.poll(lambda: False, timeout=1.0)
        self.assertEqual(self.smtp.messages(), [])
        self.assertEqual(len(self.email_message("5001", ("failed",))["attempt_log"]), 1)
        self.assert_running(self.tackd)
        self.stop_tackd(self.tackd)

    def test_550_at_end_of_data_fails_without_retry(self):
        self.start(replies=["550 5.1.1 mailbox unavailable"])
        self.emit([event("ev-550d", "5002", "delivered", locale="en", phone=None)])
        message = self.email_message("5002", ("failed", "dead"))
        self.assertEqual(message["state"], "failed", harness.summarize([message]))
        self.assertEqual([a["outcome"] for a in message["attempt_log"]], ["rejected"])
        self.assertIn("5.1.1", message["attempt_log"][0]["detail"])
        self.assertIn("5.1.1", message["last_error"])
        harness.poll(lambda: False, timeout=1.0)
        self.assertEqual([m["accepted"] for m in self.smtp.messages()], [False])
        self.stop_tackd(self.tackd)


if __name__ == "__main__":
    unittest.main()
