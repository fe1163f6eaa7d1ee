"""SIGHUP against a real tackd, one config section at a time (issue 12,
defect 2): the daemon survives every reload and says in its log what it
applied and what waits for a restart. The crash this guards against: a new
config that added a gateway and a channel using it freed the new config
while reading it (a general protection fault, nothing logged).
"""

import os
import shutil
import signal
import unittest

from harness import TEMPLATES, TackTestCase, event, read_json_lines, tail, yaml_text


class ReloadTest(TackTestCase):
    def setUp(self):
        super().setUp()
        self.templates = os.path.join(self.tmp, "templates")
        shutil.copytree(TEMPLATES, self.templates)
        self.config = self.make_config(
            [self.file_gateway("sms_file"), self.file_gateway("mail_file")],
            sms=["sms_file"], email=["mail_file"],
            http={"listen": "127.0.0.1:0", "events": {"token": "t" * 32}})
        self.config["templates"] = {"dir": self.templates}
        self.path = self.write_config(self.config)
        self.tackd = self.start_tackd()
        self.reloads = 0

    def reload(self, change, expect_lines, rejected=False):
        """Applies change(config), sends SIGHUP, waits for the reload's last
        line and checks that every expected line is in the log."""
        change(self.config)
        with open(self.path, "w", encoding="utf-8") as f:
            f.write(yaml_text(self.config))
        before = len(self.tackd.stderr())
        self.tackd.signal(signal.SIGHUP)
        done = "keeping the running one" if rejected else "config and templates reloaded"
        log = self.wait_for(lambda: done in self.tackd.stderr()[before:] and
                            self.tackd.stderr()[before:],
                            "the reload's closing line (%s)" % done)
        self.assertTrue(self.tackd.running(), tail(self.tackd.stderr(), 40))
        for line in expect_lines:
            self.assertIn(line, log)
        return log

    def send_shipped(self, order):
        self.emit([event("e-" + order, order, "shipped")])
        return self.wait_for_messages(order, ["sent"], channel="sms")

    def test_a_new_gateway_and_a_channel_using_it_is_refused_with_the_restart_it_needs(self):
        def add(config):
            config["gateways"].append(self.file_gateway("sms2"))
            config["channels"]["sms"]["gateways"] = ["sms2", "sms_file"]
        log = self.reload(add, ["channel sms uses gateway sms2, which is not running",
                                "restart tackd"], rejected=True)
        self.assertNotIn("config and templates reloaded", log)
        # Still sending through the running config.
        self.send_shipped("2001")

    def test_every_section_says_what_it_did(self):
        def gateway_added(c):
            c["gateways"].append(self.file_gateway("spare"))
        self.reload(gateway_added, ["gateways: spare added; gateways start with tackd, "
                                    "so this takes effect at the next restart"])

        def source_changed(c):
            c["sources"][0]["poll_interval"] = "100ms"
        self.reload(source_changed, ["sources: outbox changed; sources start with tackd"])

        def channel_changed(c):
            c["channels"]["sms"]["gateways"] = ["sms_file", "mail_file"]
        self.reload(channel_changed, ["channels applied: sms changed"])

        def rule_added(c):
            c["rules"].append({"name": "paid", "on": "paid", "template": "placed",
                               "channels": ["sms"]})
        self.reload(rule_added, ["rules applied: paid added"])
        self.emit([event("e-paid", "2002", "paid")])
        self.wait_for_messages("2002", ["sent"], channel="sms")

        # Templates: a changed text is used for the next message.
        path = os.path.join(self.templates, "shipped.yaml")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        self.assertIn("Nu är din order", text)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text.replace("Nu är din order", "Omladdad: din order"))
        self.reload(lambda c: None, ["templates applied: reloaded from " + self.templates])
        self.send_shipped("2004")
        sent = read_json_lines(os.path.join(self.tmp, "sms_file.jsonl"))
        self.assertIn("Omladdad: din order 2004", sent[-1]["text"])

        def http_changed(c):
            c["http"]["max_body_bytes"] = 8192
        self.reload(http_changed, ["http applied: users, tokens, limits and timeouts"])

        def http_moved(c):
            c["http"]["listen"] = "127.0.0.1:1"
        self.reload(http_moved, ["http: the new listen address takes effect at the next restart"])

        def retention_changed(c):
            c["retention"] = {"keep": "30d", "action": "delete"}
        self.reload(retention_changed, ["retention applied"])

        def limits_changed(c):
            c["limits"] = {"max_event_bytes": 32768}
        self.reload(limits_changed, ["limits applied"])

        def retry_changed(c):
            c["retry"] = dict(c["retry"], max_attempts=12)
        self.reload(retry_changed, ["retry applied"])

        def store_moved(c):
            c["store"] = {"path": os.path.join(self.tmp, "other.db")}
        self.reload(store_moved, ["store: a new path or synchronous setting takes effect at the "
                                  "next restart"])

        # Back to the store it runs on, so that `tackd log` reads that one.
        def store_back(c):
            c["store"] = {"path": os.path.join(self.tmp, "tack.db")}
        self.reload(store_back, [])

        def log_level(c):
            c["log"] = {"level": "debug"}
        self.reload(log_level, ["log applied: level debug"])

        # After all of it, the daemon still takes and sends events on the
        # store it started with.
        self.send_shipped("2003")
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "other.db")))


if __name__ == "__main__":
    unittest.main()
