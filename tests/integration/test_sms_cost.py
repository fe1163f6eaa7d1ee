"""SMS cost control (issue 17, point 6) with a real tackd: a channel with
`transliterate: [pl]` sends Polish SMS to the provider (http_sink.py, a
46elks-style form POST) in GSM-7; an SMS over the channel's max_segments
is refused with the reason before any provider sees it; `tackd check`
shows each SMS template's segments with and without transliteration."""

import re
import unittest
import urllib.parse

import harness
from harness import TackTestCase, event

POLISH_PHONE = "+48601234567"

# GSM 03.38: the basic set and the extension table.
GSM7 = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
           "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
           "\f^{}\\[~]|€")


def form(request):
    return {k: v[0] for k, v in urllib.parse.parse_qs(request["body"], keep_blank_values=True,
                                                        strict_parsing=True).items()}


def outside_gsm7(text):
    return sorted(set(c for c in text if c not in GSM7))


class SmsCostTest(TackTestCase):
    def config(self, sms_channel):
        self.sink = self.start_http_sink()
        config = self.make_config([self.http_gateway(self.sink.url), self.file_gateway("mail")],
                                  sms=["sms"], email=["mail"])
        config["channels"]["sms"].update(sms_channel)
        return self.write_config(config)

    def test_a_polish_customer_gets_gsm7_on_a_channel_that_transliterates_pl(self):
        self.config({"transliterate": ["pl"]})
        self.start_tackd()
        self.emit([event("ev-pl", "2001", "shipped", locale="pl-PL", phone=POLISH_PHONE,
                         email="jan@example.pl"),
                   event("ev-sv", "2002", "shipped", locale="sv-SE")])
        [polish] = [m for m in self.wait_for_messages("2001", "sent", channel="sms")
                    if m["channel"] == "sms"]
        [swedish] = [m for m in self.wait_for_messages("2002", "sent", channel="sms")
                     if m["channel"] == "sms"]
        by_phone = {form(r)["to"]: form(r)["message"] for r in self.sink.requests()}
        sent = by_phone[POLISH_PHONE]
        # What the provider got is what the log shows: the Polish text, its
        # letters outside GSM-7 transliterated.
        self.assertEqual(sent, polish["text"])
        self.assertEqual(outside_gsm7(sent), [], sent)
        self.assertIn("Zamowienie nr 2001 jest juz w drodze (PostNord).", sent)
        self.assertIn("Sledz przesylke: https://tracking.example/2001", sent)
        # Swedish on the same channel is not touched (å ä ö are GSM-7).
        self.assertIn("Nu är din order 2002 skickad med PostNord!", by_phone["+46701234567"])
        self.assertEqual(by_phone["+46701234567"], swedish["text"])
        # The e-mail keeps its Polish letters.
        mails = [m for m in self.wait_for_messages("2001", "sent", channel="email")
                 if m["channel"] == "email"]
        self.assertTrue(any("Zamówienie" in (m["subject"] + m["text"]) for m in mails), mails)
        self.stop_tackd(self._daemons[0])

    def test_an_sms_over_max_segments_is_refused_with_the_reason(self):
        self.config({"max_segments": 1})
        self.start_tackd()
        self.emit([event("ev-long", "2003", "shipped", locale="pl-PL", phone=POLISH_PHONE,
                         email="jan@example.pl")])
        messages = self.wait_for_messages("2003", "failed", channel="sms")
        [sms] = [m for m in messages if m["channel"] == "sms"]
        self.assertRegex(sms["last_error"], r"^SMS needs [2-9] segments \(UCS-2, \d+ characters\); "
                                            r"channel sms allows 1$")
        # Kept, with its text, for support; no provider saw it.
        self.assertIn("Zamówienie nr 2003", sms["text"])
        self.wait_for_messages("2003", "sent", channel="email")
        self.assertEqual([r for r in self.sink.requests()
                          if form(r).get("to") == POLISH_PHONE], [])
        # Nothing else stopped: the next customer's fits and goes.
        self.emit([event("ev-short", "2004", "packed", locale="en", phone="+46701234567")])
        self.wait_for_messages("2004", "sent", channel="sms")
        self.stop_tackd(self._daemons[0])

    def test_check_shows_segments_with_and_without_transliteration(self):
        path = self.config({"max_segments": 1})
        p = self.tackd_cli("check", "--config", path, check=harness.EXIT_OK)
        rows = re.findall(r"(?m)^\s+shipped\s+sms\s+pl\s+(\d+) chars, UCS-2, (\d+) segments; "
                          r"transliterated: (\d+) chars, GSM-7, (\d+) segments? "
                          r"\(no channel has transliterate: \[pl\]\)$", p.stdout)
        self.assertEqual(len(rows), 1, p.stdout)
        chars, segments, gsm_chars, gsm_segments = map(int, rows[0])
        self.assertEqual(chars, gsm_chars)
        self.assertLess(gsm_segments, segments)
        # Swedish needs no transliteration: no second figure.
        self.assertRegex(p.stdout, r"(?m)^\s+shipped\s+sms\s+sv\s+\d+ chars, GSM-7, \d+ segments?$")
        # Over the budget: a warning at the template, with what
        # transliteration would make of it; --strict fails on it.
        self.assertIn('template "shipped" (pl) needs %d SMS segments with the sample event '
                      '(UCS-2, %d characters); channel "sms" allows 1 (max_segments); tack '
                      'refuses such a message; transliterated (transliterate: [pl] on the '
                      'channel) it would need %d (GSM-7)' % (segments, chars, gsm_segments),
                      p.stderr)
        self.tackd_cli("check", "--strict", "--config", path, check=harness.EXIT_CONFIG)

        # With the one line, the listing names the channel and, when the
        # transliterated text fits, the warning for pl is gone.
        path = self.config({"max_segments": max(gsm_segments, 1), "transliterate": ["pl"]})
        p = self.tackd_cli("check", "--config", path, check=harness.EXIT_OK)
        self.assertRegex(p.stdout, r"(?m)^\s+shipped\s+sms\s+pl\s+\d+ chars, UCS-2, \d+ segments; "
                                   r"transliterated: \d+ chars, GSM-7, \d+ segments? "
                                   r"\(channel sms\)$")
        self.assertNotIn('template "shipped" (pl)', p.stderr)

    def test_a_bad_transliterate_line_is_an_error_at_its_position(self):
        path = self.config({"transliterate": ["pl", "klingon"]})
        p = self.tackd_cli("check", "--config", path, check=harness.EXIT_CONFIG)
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        line = [i + 1 for i, text in enumerate(lines) if "klingon" in text][0]
        self.assertRegex(p.stderr, re.escape(path) + r":%d:\d+: channel 'sms' transliterate "
                         r"expects languages such as pl or cs" % line)
        self.assertIn("found 'klingon'", p.stderr)


if __name__ == "__main__":
    unittest.main()
