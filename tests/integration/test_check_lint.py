"""`tackd check` as a linter for providers (daemon/lint.hpp): a real tackd
checks a config with each provider mistake and says each as a warning at
the file:line:column of the key that makes it, exits 0 (78 with
--strict), and says nothing of the kind about a sound config."""

import json
import os
import re
import unittest

import harness
from harness import TEMPLATES, TackTestCase

# Line numbers below are this text's: keep them in step.
BAD = """\
store:
  path: {tmp}/tack.db
templates:
  dir: {templates}
shop: {shop}
gateways:
  - name: elks
    type: http
    url: {url}
    form:
      from: {sender}
      to: "{{{{to}}}}"
      message: "{message}"
    username: u123
    password: {password}
  - name: mail
    type: file
    path: {tmp}/mail.jsonl
channels:
  sms:
    kind: sms
    gateways: [elks]
    max_segments: {segments}
  email:
    kind: email
    gateways: [mail]
rules:
  - name: shipped
    on: shipped
    template: shipped
    channels: [sms, email]
data: [total, currency, items.name, items.quantity, items.price, vat, payment, invoice_number, invoice_due, payment_reference, invoice_url, discount_code, refund_amount]
"""

PASSWORD = "lint-test-password-7731"


class CheckLintTest(TackTestCase):
    def write(self, url="http://api.46elks.example/a1/sms", sender="Exempelbutiken",
              message="Order {{order_id}}", segments=1):
        harness.register_secret(PASSWORD)
        path = self.write_config(BAD.format(
            tmp=self.tmp, templates=TEMPLATES,
            # Every optional shop key the bundled templates use: a section
            # over an unset one is a warning, and --strict refuses warnings.
            shop=json.dumps(dict(harness.SHOP, returns_url="https://exempelbutiken.se/returer",
                                 returns_days="30", dispatch_days="1-2", delivery_days="2-4",
                                 bank_account="bankgiro 123-4567",
                                 unsubscribe_url="https://exempelbutiken.se/avregistrera")),
            url=url,
            sender=sender, message=message, segments=segments, password=PASSWORD))
        os.chmod(path, 0o600)  # the password is written in it
        return path

    def warnings(self, stderr):
        return [line[len("warning: "):] for line in stderr.splitlines()
                if line.startswith("warning: ")]

    def test_each_provider_mistake_is_a_warning_at_its_key(self):
        path = self.write()
        p = self.tackd_cli("check", "--config", path, check=harness.EXIT_OK)
        self.assertIn("config %s: ok" % path, p.stdout)
        warnings = self.warnings(p.stderr)
        self.assertIn(path + ":10:5: gateway \"elks\" never sends the message's text: its url, "
                      "headers and form do not use {{text}}", warnings)
        self.assertIn(path + ":11:7: gateway \"elks\": SMS sender \"Exempelbutiken\" has 14 "
                      "characters; an alphanumeric sender has at most 11 (providers cut it or "
                      "refuse the message)", warnings)
        self.assertIn(path + ":9:5: gateway \"elks\" sends Basic auth (username and password) "
                      "unencrypted over http:// to api.46elks.example; use https://", warnings)
        self.assertNotIn(PASSWORD, p.stdout + p.stderr)

        # The segment budget: every SMS text of the rule's template that the
        # listing shows over 1 segment is warned about at its sms: key.
        template = os.path.join(TEMPLATES, "shipped.yaml")
        with open(template, encoding="utf-8") as f:
            sms_line = [i + 1 for i, line in enumerate(f) if line.startswith("sms:")][0]
        listed = re.findall(r"(?m)^\s+shipped\s+sms\s+(\S+)\s+(\d+) chars, (\S+), (\d+) segments?"
                            r"(?:; transliterated: .*)?$", p.stdout)
        self.assertTrue(listed, p.stdout)
        over = [row for row in listed if int(row[3]) > 1]
        self.assertTrue(over, "the sample renderings fit one segment: %s" % listed)
        for locale, chars, encoding, segments in over:
            prefix = ("%s:%d:1: template \"shipped\" (%s) needs %s SMS segments with the "
                      "sample event (%s, %s characters); channel \"sms\" allows 1 "
                      "(max_segments); tack refuses such a message" % (
                          template, sms_line, locale, segments, encoding, chars))
            self.assertTrue([w for w in warnings if w.startswith(prefix)], (prefix, warnings))
        self.assertEqual(len([w for w in warnings if "SMS segments" in w]), len(over))

    def test_strict_makes_the_warnings_fail(self):
        path = self.write()
        p = self.tackd_cli("check", "--strict", "--config", path, check=harness.EXIT_CONFIG)
        self.assertRegex(p.stderr, r"--strict: \d+ warning\(s\) count as problems")
        self.assertNotIn(": ok", p.stdout)

    def test_a_sound_provider_config_has_none_of_these_warnings(self):
        path = self.write(url="https://api.46elks.example/a1/sms", sender="Exempel",
                          message="{{text}}", segments=3)
        for args in (("check", "--config", path), ("check", "--strict", "--config", path)):
            p = self.tackd_cli(*args)
            self.assertEqual(p.returncode, harness.EXIT_OK, p.stderr)
            self.assertEqual([w for w in self.warnings(p.stderr)
                              if "gateway" in w or "segments" in w], [], p.stderr)

    def test_max_segments_out_of_range_is_an_error_with_its_position(self):
        path = self.write(segments=0)
        p = self.tackd_cli("check", "--config", path, check=harness.EXIT_CONFIG)
        self.assertIn(path + ":23:19:", p.stderr)
        self.assertIn("max_segments", p.stderr)


if __name__ == "__main__":
    unittest.main()
