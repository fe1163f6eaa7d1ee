"""Bad input never stops tackd (DESIGN.md "Guarantees").

Malformed, duplicate and stale events, invalid phone numbers, a bad config
at start and on reload: each is recorded or reported clearly, and the good
events around them are still delivered by a daemon that keeps running.
SMS go to http_sink.py, e-mail to smtp_sink.py.
"""

import json
import os
import re
import signal
import unittest
import urllib.parse

import harness
from harness import TackTestCase, event


def sms_recipients(sink):
    return [urllib.parse.parse_qs(r["body"])["to"][0] for r in sink.requests()]


def sms_texts(sink):
    return [urllib.parse.parse_qs(r["body"])["message"][0] for r in sink.requests()]


class BadInputTestCase(TackTestCase):
    def start(self, rules=None, **top):
        self.http = self.start_http_sink()
        self.smtp = self.start_smtp_sink()
        self.config = self.make_config(
            [self.http_gateway(self.http.url), self.smtp_gateway(self.smtp, name="mail")],
            sms=["sms"], email=["mail"], rules=rules, **top)
        self.write_config(self.config)
        self.tackd = self.start_tackd()

    def emails_to(self, address):
        return [m for m in self.smtp.accepted() if m["rcpt_tos"] == [address]]


class MalformedEventsTest(BadInputTestCase):
    def test_malformed_events_are_rejected_with_reasons_and_good_ones_delivered(self):
        self.start()
        oversize = event("bad-5", "905", "shipped", data={"pad": "x" * (70 * 1024)})
        no_recipient = event("bad-6", "906", "shipped", phone=None, email=None)
        batch = [
            event("good-1", "101", "placed", locale="sv-SE", phone="+46701234561",
                  email="good1@example.se"),
            '{"event_id": "bad-1", "order_id": "901", this is not json',
            {k: v for k, v in event("bad-2", "902", "shipped").items() if k != "order_id"},
            event("bad-3", "903", "teleported"),
            event("good-2", "102", "shipped", locale="en", phone="+46701234562",
                  email="good2@example.se"),
            event("bad-4", "904", "shipped", occurred_at="yesterday at noon"),
            oversize,
            no_recipient,
            event("good-3", "103", "delivered", locale="pl", phone=None,
                  email="good3@example.se"),
        ]
        emitted = self.emit(batch)
        self.assertIn("will be rejected", emitted.stderr)

        expected = [  # (claimed event_id, reason pattern)
            ("", r"^not JSON"),
            ("bad-2", r"^missing order_id$"),
            ("bad-3", r'^unknown status "teleported"$'),
            ("bad-4", r"occurred_at.*yesterday at noon.*RFC 3339"),
            ("", r"^event is \d+ bytes, over the limit of 65536$"),
            ("bad-6", r"^no recipient"),
        ]

        def all_rejected():
            got = self.rejected()
            return len(got) >= len(expected) and got
        rejected = self.wait_for(all_rejected, lambda: "%d rejected events; have %s" % (
            len(expected), json.dumps(self.rejected(), indent=1)))
        self.assertEqual(len(rejected), len(expected), json.dumps(rejected, indent=1))
        for event_id, pattern in expected:
            matches = [r for r in rejected if r["event_id"] == event_id and
                       re.search(pattern, r["reason"])]
            self.assertEqual(len(matches), 1, "rejected %r /%s/ in %s" % (
                event_id, pattern, json.dumps(rejected, indent=1)))
            self.assertEqual(matches[0]["source"], "outbox")
        self.assertEqual([r["order_id"] for r in rejected if r["event_id"] == "bad-6"], ["906"])

        # The good ones are delivered, on every channel their rules name.
        self.wait_for_messages("101", "sent", count=2)
        self.wait_for_messages("102", "sent", count=2)
        self.wait_for_messages("103", "sent", count=1)
        self.assertEqual(sorted(sms_recipients(self.http)), ["+46701234561", "+46701234562"])
        for address in ("good1@example.se", "good2@example.se", "good3@example.se"):
            self.assertEqual(len(self.emails_to(address)), 1, address)

        # The human view lists them too.
        text = self.tackd_cli("log", "--config", self.config_path, "--rejected",
                              check=harness.EXIT_OK).stdout
        self.assertIn("bad-3", text)
        self.assertIn('unknown status "teleported"', text)

        # Still running, and still taking events.
        self.assert_running(self.tackd)
        self.emit([event("good-4", "104", "delivered", phone=None, email="good4@example.se")])
        self.wait_for_messages("104", "sent")
        self.stop_tackd(self.tackd)

    def test_invalid_phone_number_fails_that_message_only(self):
        self.start()
        self.emit([event("ev-phone", "401", "shipped", locale="sv-SE", phone="12345",
                         email="anna@example.se")])
        messages = self.wait_for_messages("401", ("sent", "failed"), count=2)
        by_channel = {m["channel"]: m for m in messages}
        self.assertEqual(by_channel["sms"]["state"], "failed", harness.summarize(messages))
        self.assertIn("invalid phone number", by_channel["sms"]["last_error"])
        self.assertEqual(by_channel["sms"]["attempt_log"], [], "never handed to a gateway")
        self.assertEqual(by_channel["email"]["state"], "sent")
        self.assertEqual(self.log(order="401")["events"][0]["verdict"], "accepted")
        self.assertIn("invalid phone number", self.log_text("401"))
        self.assertEqual(self.http.requests(), [])
        self.assertEqual(len(self.emails_to("anna@example.se")), 1)
        # The daemon is fine: the next event goes through.
        self.emit([event("ev-phone-ok", "402", "shipped", phone="070-123 45 67", email=None)])
        self.wait_for_messages("402", "sent", channel="sms")
        self.assertEqual(sms_recipients(self.http), ["+46701234567"])
        self.stop_tackd(self.tackd)


class DuplicateAndStaleTest(BadInputTestCase):
    def test_duplicate_event_sends_one_message(self):
        self.start()
        dup = event("dup-1", "201", "delivered", locale="en", phone=None,
                    email="dup@example.se")
        self.emit([dup, dup])  # twice in one batch
        self.wait_for_messages("201", "sent")
        self.emit([dup])  # and again later
        self.emit([json.dumps(dup, indent=None, separators=(",", ":"))])  # same id, other bytes

        def duplicates():
            events = self.log(order="201")["events"]
            return len(events) == 1 and events[0]["duplicates"] >= 3 and events
        events = self.wait_for(duplicates, lambda: "duplicates counted: %s" % json.dumps(
            self.log(order="201")["events"]))
        self.assertEqual(events[0]["verdict"], "accepted")
        self.assertEqual(events[0]["duplicates"], 3)
        harness.poll(lambda: False, timeout=0.5)  # give a wrong second send time to show
        messages = self.messages("201")
        self.assertEqual(len(messages), 1, harness.summarize(messages))
        self.assertEqual(messages[0]["state"], "sent")
        self.assertEqual(len(self.emails_to("dup@example.se")), 1)
        self.assertEqual(len(self.smtp.messages()), 1)
        self.assertIn("received 3 more times", self.log_text("201"))
        self.stop_tackd(self.tackd)

    def test_stale_transition_is_recorded_and_not_sent(self):
        self.start()
        self.emit([event("st-delivered", "301", "delivered", locale="en",
                         email="stale@example.se", occurred_at="2026-11-24T13:00:00Z")])
        self.wait_for_messages("301", "sent")
        # A "shipped" that arrives after "delivered" tells nobody anything.
        self.emit([event("st-shipped", "301", "shipped", locale="en",
                         email="stale@example.se", occurred_at="2026-11-22T10:15:00Z")])
        shipped = self.wait_for_event("301", "st-shipped")
        self.assertEqual(shipped["verdict"], "stale")
        self.assertIn("delivered", shipped["reason"])
        # A later event shows the stale one was fully processed before it.
        self.emit([event("st-next", "302", "delivered", locale="en", email="next@example.se")])
        self.wait_for_messages("302", "sent")
        messages = self.messages("301")
        self.assertEqual([m["template"] for m in messages], ["delivered"],
                         harness.summarize(messages))
        self.assertEqual(self.http.requests(), [], "no shipped SMS")
        self.assertEqual(len(self.emails_to("stale@example.se")), 1)
        self.assertIn("stale", self.log_text("301"))
        self.stop_tackd(self.tackd)


class BadConfigTest(TackTestCase):
    def bad_config_text(self):
        """A config with three errors; returns (text, {what: (line, column)})."""
        gateways = [self.file_gateway("file")]
        rules = [dict(r) for r in harness.DEFAULT_RULES]
        rules[0]["priorty"] = "high"                   # unknown key
        rules[4]["template"] = "no_such_template"      # missing template
        config = self.make_config(gateways, rules=rules)
        config["channels"]["email"]["gateways"] = ["nosuch_gateway"]  # undefined gateway
        text = harness.yaml_text(config)
        lines = text.split("\n")
        where = {}
        for what, needle in (("unknown key", "priorty:"), ("missing template", "no_such_template"),
                             ("undefined gateway", "nosuch_gateway")):
            [index] = [i for i, line in enumerate(lines) if needle in line]
            where[what] = (index + 1, lines[index])
        return text, where

    def assert_reports(self, stderr, path, where):
        positions = [(int(m.group(1)), int(m.group(2)), m.group(3)) for m in re.finditer(
            re.escape(path) + r":(\d+):(\d+): (.*)", stderr)]
        self.assertTrue(positions, "no file:line:column in stderr:\n" + stderr)
        for what, (line, text) in where.items():
            on_line = [p for p in positions if p[0] == line]
            self.assertTrue(on_line, "%s: no error at line %d (%r) in:\n%s" % (
                what, line, text, stderr))
            for _, column, _ in on_line:
                self.assertTrue(1 <= column <= len(text), (what, column, text))
        messages = "\n".join(p[2] for p in positions)
        self.assertIn("priorty", messages)
        self.assertIn("no_such_template", messages)
        self.assertIn("nosuch_gateway", messages)
        # Each is pointed at exactly: the key, or the offending value.
        exact = {(p[0], p[1]) for p in positions}
        for what, needle in (("unknown key", "priorty"), ("missing template", '"no_such_template"'),
                             ("undefined gateway", '"nosuch_gateway"')):
            line, text = where[what]
            self.assertIn((line, text.index(needle) + 1), exact, "%s in:\n%s" % (what, stderr))

    def test_bad_config_makes_run_and_check_exit_78_with_positions(self):
        text, where = self.bad_config_text()
        path = self.write_config(text)
        check = self.tackd_cli("check", "--config", path)
        self.assertEqual(check.returncode, harness.EXIT_CONFIG, check.stderr)
        self.assert_reports(check.stderr, path, where)

        d = self.start_tackd(path, wait_ready=False)
        rc = d.wait(harness.WAIT)
        self.assertEqual(rc, harness.EXIT_CONFIG, d.stderr())
        self.assert_reports(d.stderr(), path, where)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "tack.db")),
                         "a bad config must not create the store")

    def test_email_channel_on_an_sms_only_gateway_exits_78(self):
        gateways = [self.http_gateway("http://127.0.0.1:9", name="sms_only")]
        path = self.write_config(self.make_config(gateways))
        check = self.tackd_cli("check", "--config", path)
        self.assertEqual(check.returncode, harness.EXIT_CONFIG, check.stderr)
        self.assertIn("channel email is email but gateway sms_only does not carry email",
                      check.stderr)
        d = self.start_tackd(path, wait_ready=False)
        self.assertEqual(d.wait(harness.WAIT), harness.EXIT_CONFIG, d.stderr())
        self.assertIn("gateway sms_only does not carry email", d.stderr())

    def test_yaml_syntax_error_has_a_position(self):
        path = self.write_config("store:\n  path: tack.db\nrules: [\n  - oops: {\n")
        check = self.tackd_cli("check", "--config", path)
        self.assertEqual(check.returncode, harness.EXIT_CONFIG, check.stderr)
        self.assertRegex(check.stderr, re.escape(path) + r":\d+:\d+: ")
        d = self.start_tackd(path, wait_ready=False)
        self.assertEqual(d.wait(harness.WAIT), harness.EXIT_CONFIG, d.stderr())
        self.assertRegex(d.stderr(), re.escape(path) + r":\d+:\d+: ")


class ReloadTest(BadInputTestCase):
    def start(self, rules=None, **top):
        super().start(rules=rules, **top)
        # tackd reloads its own file; the CLI (emit, log) keeps a good copy.
        self.daemon_config = self.config_path
        self.config_path = self.write_config(self.config, name="cli.yaml")

    def replace_config(self, text):
        """Writes tackd's config atomically, as an editor or a deploy would."""
        staging = self.daemon_config + ".new"
        with open(staging, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(staging, self.daemon_config)

    def reloads(self, pattern):
        return len(re.findall(pattern, self.tackd.stderr()))

    def test_sighup_with_a_broken_config_keeps_the_running_one(self):
        rules = [r for r in harness.DEFAULT_RULES if r["name"] != "packed"]
        self.start(rules=rules)
        self.replace_config(harness.yaml_text(self.config).replace("rules:", "rulez:", 1))
        self.tackd.signal(signal.SIGHUP)
        self.wait_for(lambda: self.reloads(r"keeping the running one"),
                      "tackd to reject the broken config")
        self.assertRegex(self.tackd.stderr(),
                         re.escape(self.daemon_config) + r":\d+:\d+: .*rulez")
        self.assert_running(self.tackd)
        # The old config still works.
        self.emit([event("hup-1", "501", "shipped", locale="sv-SE", email=None)])
        self.wait_for_messages("501", "sent", channel="sms")
        self.assertEqual(len(self.http.requests()), 1)
        self.assertIn("/Exempelbutiken", sms_texts(self.http)[0])

        # A valid changed config takes effect: a new rule and a new shop name.
        changed = dict(self.config)
        changed["shop"] = dict(changed["shop"], name="Nya Butiken")
        changed["rules"] = harness.DEFAULT_RULES
        self.replace_config(harness.yaml_text(changed))
        self.tackd.signal(signal.SIGHUP)
        self.wait_for(lambda: self.reloads(r"reload: config and templates reloaded"),
                      "tackd to reload the changed config")
        self.emit([event("hup-2", "502", "packed", locale="en", email=None)])
        self.wait_for_messages("502", "sent", channel="sms")
        self.emit([event("hup-3", "503", "shipped", locale="sv-SE", email=None)])
        self.wait_for_messages("503", "sent", channel="sms")
        texts = sms_texts(self.http)
        self.assertEqual(len(texts), 3, texts)
        self.assertIn("501", texts[0])
        self.assertIn("Order 502 is packed", texts[1])
        self.assertIn("Nya Butiken", texts[2])
        self.assertNotIn("Exempelbutiken", texts[2])
        self.assert_running(self.tackd)
        self.stop_tackd(self.tackd)

    def test_packed_event_before_reload_sends_nothing(self):
        rules = [r for r in harness.DEFAULT_RULES if r["name"] != "packed"]
        self.start(rules=rules)
        self.emit([event("pk-1", "601", "packed", locale="en")])
        e = self.wait_for_event("601", "pk-1")
        self.assertEqual(e["verdict"], "accepted")
        self.emit([event("pk-next", "602", "delivered", locale="en", phone=None)])
        self.wait_for_messages("602", "sent")
        self.assertEqual(self.messages("601"), [], "no rule for packed, no message")
        self.stop_tackd(self.tackd)


if __name__ == "__main__":
    unittest.main()
