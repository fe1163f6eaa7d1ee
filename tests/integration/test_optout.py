"""Opt-out end to end (issue 17): a real tackd, its HTTP listener, a file
gateway for SMS and a real SMTP server (aiosmtpd) for e-mail.

- the signed link from an SMS: GET shows a page and changes nothing, POST
  opts out; the next SMS to that number is recorded `suppressed` (never
  sent, never failed), e-mail goes on, and a rule marked ignore_opt_out
  still sends;
- forged, truncated and hostile links: 403/400, counted, nothing changes;
- a marketing e-mail carries List-Unsubscribe and List-Unsubscribe-Post,
  and a mail provider's one-click POST (RFC 8058) opts the address out;
- `tackd optout add|remove|list` beside the running tackd.
"""

import email
import email.policy
import http.client
import json
import os
import re
import unittest

import harness
from harness import TackTestCase, event

SECRET = "optout-secret-for-the-tests-0123456789"
TEMPLATES = os.path.join(harness.FIXTURES, "optout_templates")
PHONE = "+46701234567"
EMAIL = "anna@example.se"

RULES = [
    {"name": "news", "on": "shipped", "template": "news", "channels": ["sms", "email"]},
    # A parcel locker's code: the shop marks it to go out despite an opt-out.
    {"name": "pickup", "on": "ready_for_pickup", "template": "news", "channels": ["sms"],
     "ignore_opt_out": True},
    {"name": "offer", "on": "delivered", "template": "offer", "channels": ["email"],
     "purpose": "marketing"},
]


class OptOutTest(TackTestCase):
    def start(self):
        self.smtp = self.start_smtp_sink()
        gateways = [self.smtp_gateway(self.smtp, name="mail"), self.file_gateway("sms_file")]
        harness.register_secret(SECRET)
        secret_file = os.path.join(self.tmp, "optout-secret")
        with open(secret_file, "w", encoding="utf-8") as f:
            f.write(SECRET + "\n")
        os.chmod(secret_file, 0o600)
        config = self.make_config(
            gateways, sms=["sms_file"], email=["mail"], rules=RULES,
            http={"listen": "127.0.0.1:0", "health_from": ["127.0.0.1"],
                  "public_url": "https://tack.exempelbutiken.se",
                  "optout_secret_file": secret_file})
        config["templates"] = {"dir": TEMPLATES}
        self.write_config(config)
        self.tackd = self.start_tackd()
        found = self.wait_for(lambda: re.search(r"http: listening on 127\.0\.0\.1:(\d+)",
                                                self.tackd.stderr()),
                              "tackd to log the port it listens on")
        self.port = int(found.group(1))

    # -- helpers

    def cli(self, *args, check=harness.EXIT_OK):
        return self.tackd_cli(*args, "--config", self.config_path, check=check)

    def sms_sent(self):
        return harness.read_json_lines(os.path.join(self.tmp, "sms_file.jsonl"))

    def request(self, method, target, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, target, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read().decode(
                "utf-8", "replace")
        finally:
            conn.close()

    def link_in(self, text):
        """The opt-out link a text carries, as the path and query to ask
        tackd's listener (the public URL is the shop's proxy)."""
        found = re.search(r"https://tack\.exempelbutiken\.se(/v1/optout\?t=[A-Za-z0-9_.-]+)", text)
        self.assertIsNotNone(found, "no opt-out link in %r" % text)
        return found.group(1)

    def optouts(self):
        out = self.cli("optout", "list", "--json").stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def metrics(self):
        status, _, body = self.request("GET", "/metrics")
        self.assertEqual(status, 200)
        return body

    def one(self, order, channel, states):
        ms = [m for m in self.wait_for_messages(order, states, channel=channel)
              if m["channel"] == channel]
        self.assertEqual(len(ms), 1, harness.summarize(ms))
        return ms[0]

    # -- the link

    def test_link_page_then_post_suppresses_the_next_sms_but_not_email(self):
        self.start()
        self.emit([event("o-1", "101", "shipped")])
        self.wait_for(lambda: len(self.sms_sent()) == 1, "the first SMS")
        link = self.link_in(self.sms_sent()[0]["text"])

        # GET: a page in the customer's locale with one button; nothing changes.
        status, headers, page = self.request("GET", link)
        self.assertEqual(status, 200, page)
        self.assertTrue(headers["Content-Type"].startswith("text/html"))
        self.assertIn("Avsluta utskick", page)
        self.assertIn("+46", page)
        self.assertNotIn(PHONE, page)  # masked
        self.assertIn('<form method="post" action="%s">' % link.replace("&", "&amp;"), page)
        self.assertNotIn("<script", page)
        self.assertNotIn("style", page)
        self.assertIn("default-src 'self'", headers["Content-Security-Policy"])
        self.assertEqual(self.optouts(), [])

        # POST (the page's button): opted out.
        status, _, page = self.request("POST", link, body="",
                                       headers={"Content-Type":
                                                "application/x-www-form-urlencoded"})
        self.assertEqual(status, 200, page)
        self.assertIn("Klart", page)
        listed = self.optouts()
        self.assertEqual([(o["kind"], o["address"], o["source"]) for o in listed],
                         [("sms", PHONE, "link")])
        # Clicking twice is harmless.
        self.assertEqual(self.request("POST", link, body="")[0], 200)
        self.assertEqual(len(self.optouts()), 1)

        # The next order's SMS is suppressed, not sent and not failed; its
        # e-mail goes out.
        self.emit([event("o-2", "102", "shipped")])
        suppressed = self.one("102", "sms", ("suppressed",))
        self.assertIn("opted out of sms since", suppressed["note"])
        self.assertIn("(link)", suppressed["note"])
        self.assertEqual(suppressed["attempt_log"], [])
        self.one("102", "email", ("sent",))
        self.assertIn("suppressed", self.log_text("102"))
        self.assertEqual(len(self.sms_sent()), 1)

        # A rule the shop marked ignore_opt_out still sends.
        self.emit([event("o-3", "103", "ready_for_pickup")])
        self.one("103", "sms", ("sent",))
        self.wait_for(lambda: len(self.sms_sent()) == 2, "the pickup SMS")
        self.assertIn('tack_optouts_total{result="suppressed",via="link"} 1', self.metrics())
        self.assert_running(self.tackd)

    def test_forged_truncated_and_hostile_links_change_nothing(self):
        self.start()
        self.emit([event("f-1", "201", "shipped")])
        self.wait_for(lambda: len(self.sms_sent()) == 1, "the first SMS")
        link = self.link_in(self.sms_sent()[0]["text"])
        token = link.split("t=", 1)[1]
        payload, mac = token.split(".")
        other = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB")
        forged = [
            "/v1/optout?t=%s.%s" % (payload, mac[:-1] + ("0" if mac[-1] != "0" else "1")),
            "/v1/optout?t=%s.%s" % (other, mac),
        ]
        malformed = [
            "/v1/optout",
            "/v1/optout?t=",
            "/v1/optout?t=" + token[:-5],
            "/v1/optout?t=" + payload,
            "/v1/optout?t=" + "A" * 4000,
            "/v1/optout?t=%ff%fe." + "a" * 64,
            "/v1/optout?t=%3Cscript%3E",
            "/v1/optout?t=a.b.c",
        ]
        for target in forged:
            for method in ("GET", "POST"):
                status, _, body = self.request(method, target, body="" if method == "POST" else None)
                self.assertEqual(status, 403, "%s %s: %s" % (method, target, body))
                self.assertNotIn("<script", body)
        for target in malformed:
            for method in ("GET", "POST"):
                status, _, body = self.request(method, target, body="" if method == "POST" else None)
                self.assertEqual(status, 400, "%s %s: %s" % (method, target, body))
        # A body that is not RFC 8058's one-click, or too large.
        status, _, _ = self.request("POST", link, body="List-Unsubscribe=Maybe")
        self.assertEqual(status, 400)
        status, _, _ = self.request("POST", link, body="x=" + "y" * 5000)
        self.assertEqual(status, 413)
        self.assertEqual(self.optouts(), [])
        metrics = self.metrics()
        self.assertIn('tack_optouts_total{result="forged",via="link"} 4', metrics)
        self.assertRegex(metrics, r'tack_optouts_total\{result="refused",via="link"\} \d+')
        # Still sending.
        self.emit([event("f-2", "202", "shipped")])
        self.one("202", "sms", ("sent",))
        self.assert_running(self.tackd)

    # -- e-mail: RFC 8058

    def test_marketing_email_carries_list_unsubscribe_and_one_click_opts_out(self):
        self.start()
        offer = event("m-1", "301", "delivered")
        offer["customer"]["consent"] = {"email": True}
        self.emit([offer])
        received = self.wait_for(lambda: self.smtp.accepted(), "the marketing e-mail")
        msg = email.message_from_string(received[0]["data"], policy=email.policy.default)
        self.assertEqual(str(msg["List-Unsubscribe-Post"]), "List-Unsubscribe=One-Click")
        header = str(msg["List-Unsubscribe"])
        found = re.fullmatch(r"<(https://tack\.exempelbutiken\.se(/v1/optout\?t=[A-Za-z0-9_.-]+))>",
                             header)
        self.assertIsNotNone(found, header)
        # The same link the text carries.
        self.assertIn(found.group(1), msg.get_body(("plain",)).get_content())

        # A transactional e-mail has no List-Unsubscribe.
        self.emit([event("m-2", "302", "shipped")])
        self.wait_for(lambda: len(self.smtp.accepted()) == 2, "the order news e-mail")
        news = email.message_from_string(self.smtp.accepted()[1]["data"],
                                         policy=email.policy.default)
        self.assertIsNone(news["List-Unsubscribe"])

        # The mail provider's one-click POST, as RFC 8058 says it.
        status, _, page = self.request(
            "POST", found.group(2), body="List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(status, 200, page)
        self.assertEqual([(o["kind"], o["address"], o["source"]) for o in self.optouts()],
                         [("email", EMAIL, "one-click link")])

        # E-mail stops; SMS goes on.
        self.emit([event("m-3", "303", "shipped")])
        self.one("303", "email", ("suppressed",))
        self.one("303", "sms", ("sent",))
        self.assertEqual(len(self.smtp.accepted()), 2)

    # -- the CLI

    def test_cli_add_list_remove(self):
        self.start()
        out = self.cli("optout", "add", "070-123 45 67", "--reason", "asked on the phone").stdout
        self.assertIn(PHONE + " opted out of sms", out)
        listed = self.optouts()
        self.assertEqual(len(listed), 1)
        self.assertEqual(listed[0]["address"], PHONE)
        self.assertTrue(listed[0]["source"].startswith("operator cli:"), listed[0])
        self.assertTrue(listed[0]["source"].endswith(": asked on the phone"), listed[0])
        text = self.cli("optout", "list").stdout
        self.assertIn(PHONE, text)
        self.assertEqual(self.cli("optout", "list", "--kind", "email").stdout.strip(),
                         "no opt-outs")

        self.emit([event("c-1", "401", "shipped")])
        self.assertIn("operator cli:", self.one("401", "sms", ("suppressed",))["note"])
        self.one("401", "email", ("sent",))

        self.assertIn("may get sms again", self.cli("optout", "remove", PHONE).stdout)
        self.assertEqual(self.optouts(), [])
        self.emit([event("c-2", "402", "shipped")])
        self.one("402", "sms", ("sent",))

        # Mistakes are told, and change nothing.
        err = self.cli("optout", "remove", PHONE, check=harness.EXIT_DATAERR).stderr
        self.assertIn("is not on the sms suppression list", err)
        self.cli("optout", "add", "not a number", check=harness.EXIT_DATAERR)
        self.cli("optout", "list", "--kind", "fax", check=harness.EXIT_USAGE)
        self.cli("optout", "add", EMAIL, "--reason", "x" * 600, check=harness.EXIT_USAGE)
        self.assertEqual(self.optouts(), [])
        self.assert_running(self.tackd)


if __name__ == "__main__":
    unittest.main()
