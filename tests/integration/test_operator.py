"""Operator verbs against a running tackd: retry, retry --dead, cancel,
hold and release (a message or a whole gateway). Each change is made with
the CLI while tackd runs, must be picked up by the daemon, and must show
in the delivery log with who did it."""

import json
import os
import re
import time
import unittest

import harness
from harness import TackTestCase, event


class OperatorTest(TackTestCase):
    def start(self, script=None, retry=None):
        self.sink = self.start_http_sink(script)
        gateways = [self.http_gateway(self.sink.url), self.file_gateway("mail_file")]
        self.write_config(self.make_config(gateways, sms=["sms"], email=["mail_file"],
                                           retry=retry))
        self.tackd = self.start_tackd()

    def sms(self, order, states):
        ms = [m for m in self.wait_for_messages(order, states, channel="sms")]
        self.assertEqual(len(ms), 1, harness.summarize(ms))
        return ms[0]

    def cli(self, *args, check=harness.EXIT_OK):
        return self.tackd_cli(*args, "--config", self.config_path, check=check)

    def test_retry_sends_a_failed_message_again_and_records_who(self):
        self.start(script=[{"status": 400, "body": "{\"error\": \"bad sender\"}"}])
        self.emit([event("op-1", "501", "shipped")])
        failed = self.sms("501", ("failed",))
        out = self.cli("retry", failed["id"]).stdout
        self.assertIn("retry done", out)
        sent = self.sms("501", ("sent",))
        self.assertEqual([a["outcome"] for a in sent["attempt_log"]], ["rejected", "sent"])
        self.assertEqual([a["number"] for a in sent["attempt_log"]], [1, 2])
        audit = self.audit_of("501", sent["id"])
        self.assertEqual(len(audit), 1)
        self.assertEqual(audit[0]["action"], "retry")
        self.assertTrue(audit[0]["actor"].startswith("cli:"))
        self.assertIn("retry by cli:", self.log_text("501"))
        # The same key both times: the provider can tell it is one message.
        keys = {r["headers"]["idempotency-key"] for r in self.sink.requests()}
        self.assertEqual(keys, {sent["idempotency_key"]})
        # Retrying a sent message is refused with the reason.
        refused = self.cli("retry", sent["id"], check=harness.EXIT_DATAERR)
        self.assertIn("is sent", refused.stderr)
        self.stop_tackd(self.tackd)

    def test_a_message_tack_refused_cannot_be_retried_and_keeps_its_reason(self):
        self.start()
        # A Stockholm landline: refused at intake, no provider ever sees it.
        self.emit([event("fixed-1", "511", "shipped", phone="08-123 456 78")])
        refused = self.sms("511", ("failed",))
        reason = refused["last_error"]
        self.assertIn("fixed line", reason)
        self.assertEqual(refused["attempt_log"], [])
        out = self.cli("retry", refused["id"], check=harness.EXIT_DATAERR)
        self.assertIn("refused by tack", out.stderr)
        self.assertIn("fixed line", out.stderr)
        time.sleep(0.5)  # what a wrongly requeued message would need to reach the sink
        again = self.sms("511", ("failed",))
        self.assertEqual(again["last_error"], reason)
        self.assertEqual(again["attempt_log"], [])
        self.assertEqual(self.audit_of("511", again["id"]), [])
        self.assertEqual(self.sink.requests(), [])
        # Nor is it retried in bulk.
        self.cli("retry", "--dead", "--since", "1h")
        self.assertEqual(self.sms("511", ("failed",))["last_error"], reason)
        self.stop_tackd(self.tackd)

    def test_retry_dead_requeues_every_dead_message_of_a_gateway(self):
        self.start(script=[{"status": 503}] * 4,
                   retry={"max_attempts": 2, "initial_backoff": "50ms", "max_backoff": "100ms",
                          "max_age": "1h"})
        self.emit([event("dead-1", "601", "shipped"), event("dead-2", "602", "shipped")])
        self.sms("601", ("dead",))
        self.sms("602", ("dead",))
        out = self.cli("retry", "--dead", "--since", "1h", "--gateway", "sms").stdout
        self.assertIn("requeued 2 dead messages", out)
        for order in ("601", "602"):
            m = self.sms(order, ("sent",))
            self.assertEqual([a["outcome"] for a in m["attempt_log"]], ["retry", "retry", "sent"])
        self.stop_tackd(self.tackd)

    def test_retry_failed_requeues_what_a_gateway_failed_not_what_intake_refused(self):
        self.start(script=[{"status": 400, "body": "{\"error\": \"bad sender\"}"}] * 2)
        self.emit([event("failed-1", "651", "shipped"), event("failed-2", "652", "shipped"),
                   # Refused at intake: no attempt, nothing a retry could fix.
                   event("failed-3", "653", "shipped", phone="12345")])
        self.sms("651", ("failed",))
        self.sms("652", ("failed",))
        refused = self.sms("653", ("failed",))
        self.assertEqual(refused["attempt_log"], [])
        # Another gateway's failures only: none here.
        self.assertIn("requeued 0 failed messages",
                      self.cli("retry", "--failed", "--gateway", "mail_file").stdout)
        out = self.cli("retry", "--failed", "--since", "1h", "--gateway", "sms").stdout
        self.assertIn("requeued 2 failed messages", out)
        for order in ("651", "652"):
            m = self.sms(order, ("sent",))
            self.assertEqual([a["outcome"] for a in m["attempt_log"]], ["rejected", "sent"])
            self.assertEqual(self.audit_of(order, m["id"])[0]["action"], "retry")
        time.sleep(0.5)
        again = self.sms("653", ("failed",))
        self.assertEqual(again["attempt_log"], [])
        self.assertIn("invalid phone number", again["last_error"])
        self.assertEqual(self.audit_of("653", again["id"]), [])
        self.assertEqual(len(self.sink.requests()), 4)
        self.stop_tackd(self.tackd)

    def test_a_held_gateway_sends_nothing_until_released(self):
        self.start()
        self.cli("hold", "--gateway", "sms")
        self.emit([event("hold-1", "701", "shipped")])
        self.sms("701", ("queued",))
        time.sleep(1.5)  # the dispatcher looks at least once a second
        self.assertEqual(self.sink.requests(), [])
        self.cli("release", "--gateway", "sms")
        self.sms("701", ("sent",))
        self.assertEqual(len(self.sink.requests()), 1)
        self.stop_tackd(self.tackd)

    def test_a_cancelled_message_is_never_sent(self):
        self.start()
        self.cli("hold", "--gateway", "sms")
        self.emit([event("cancel-1", "801", "shipped")])
        queued = self.sms("801", ("queued",))
        self.cli("cancel", queued["id"])
        self.cli("release", "--gateway", "sms")
        # A later message for another order proves the gateway is sending again.
        self.emit([event("cancel-2", "802", "shipped")])
        self.sms("802", ("sent",))
        cancelled = self.sms("801", ("cancelled",))
        self.assertIn("cancelled by cli:", cancelled["last_error"])
        self.assertEqual(len(self.sink.requests()), 1)
        self.stop_tackd(self.tackd)

    def test_hold_and_release_one_message(self):
        self.start()
        self.cli("hold", "--gateway", "sms")
        self.emit([event("one-1", "901", "shipped")])
        queued = self.sms("901", ("queued",))
        self.cli("hold", queued["id"])
        self.cli("release", "--gateway", "sms")
        self.sms("901", ("held",))
        time.sleep(1.5)
        self.assertEqual(self.sink.requests(), [])
        self.cli("release", queued["id"])
        self.sms("901", ("sent",))
        self.stop_tackd(self.tackd)

    def test_resend_and_note_from_the_shell_are_audited(self):
        # The original and its resend go through; the next order's SMS is refused.
        self.start(script=[{"status": 200, "body": {"id": "p-1"}},
                           {"status": 200, "body": {"id": "p-2"}},
                           {"status": 400, "body": {"error": "bad number"}}])
        self.emit([event("rs-1", "701", "shipped")])
        sent = self.sms("701", ("sent",))
        out = self.cli("resend", sent["id"], "--reason", "customer never got it").stdout
        copy_id = int(re.search(r"message %d resent as message (\d+)" % sent["id"], out).group(1))
        self.assertIn("recorded as cli:", out)
        # The provider gets the text a second time, under a new key.
        requests = self.wait_for(lambda: len(self.sink.requests()) == 2 and self.sink.requests(),
                                 "the resent SMS at the provider")
        keys = [r["headers"]["idempotency-key"] for r in requests]
        self.assertEqual(keys[0], sent["idempotency_key"])
        self.assertNotEqual(keys[1], keys[0])
        self.assertEqual(requests[0]["body"], requests[1]["body"])
        # Only a message a provider accepted; the answer says why not.
        self.emit([event("rs-2", "702", "shipped")])
        self.wait_for(lambda: len(self.sink.requests()) == 3, "the second order's SMS")
        failed = self.sms("702", ("failed",))
        refused = self.cli("resend", failed["id"], "--reason", "x", check=harness.EXIT_DATAERR)
        self.assertIn("is failed", refused.stderr)
        self.assertIn("--reason", self.cli("resend", sent["id"], "--reason", " ",
                                           check=harness.EXIT_USAGE).stderr)
        self.assertIn("no message",
                      self.cli("resend", "99999", "--reason", "x", check=harness.EXIT_DATAERR)
                      .stderr)
        # A note on an order, kept in its audit.
        noted = self.cli("note", "701", "Kunden ringde.\nSkickat igen.").stdout
        self.assertIn("noted on order 701", noted)
        self.assertIn("tack knows nothing of order 799",
                      self.cli("note", "799", "x", check=harness.EXIT_DATAERR).stderr)
        self.assertIn("control characters",
                      self.cli("note", "701", "bell\x07", check=harness.EXIT_USAGE).stderr)
        import sqlite3
        db = sqlite3.connect("file:%s/tack.db?mode=ro" % self.tmp, uri=True)
        try:
            audit = db.execute("SELECT actor, action, target, detail FROM audit ORDER BY id"
                               ).fetchall()
        finally:
            db.close()
        self.assertEqual([(a[1], a[2]) for a in audit],
                         [("resend", "message %d" % sent["id"]),
                          ("resend", "message %d" % copy_id),
                          ("note", "order 701")])
        self.assertTrue(all(a[0].startswith("cli:") for a in audit))
        self.assertIn(": customer never got it", audit[0][3])
        self.assertEqual(audit[2][3], "Kunden ringde.\nSkickat igen.")
        # tackd log shows the order's own lines too: the note, every line of it.
        shown = self.cli("log", "--order", "701").stdout
        self.assertRegex(shown, r"(?m)^note by cli:\S+ .*\n  Kunden ringde\.\n  Skickat igen\.$")
        self.stop_tackd(self.tackd)

    def test_verbs_need_a_target_and_know_the_gateways(self):
        self.start()
        self.assertEqual(self.cli("retry", check=None).returncode, harness.EXIT_USAGE)
        bad = self.cli("hold", "--gateway", "nope", check=harness.EXIT_USAGE)
        self.assertIn("no gateway named nope", bad.stderr)
        missing = self.cli("cancel", "424242", check=harness.EXIT_DATAERR)
        self.assertIn("no message 424242", missing.stderr)
        self.stop_tackd(self.tackd)


class WithoutGatewaySecretsTest(TackTestCase):
    """Issue 12, defect 9: the commands that only read or change the store
    (or the outbox) work from a root shell that has none of the daemon's
    gateway secrets (systemd's LoadCredential=, ${ENV} set only for the
    service) and beside an unrelated broken section; `run` and `check`
    still refuse that config, clearly."""

    UNSET = "TACK_TEST_NEVER_SET_ELKS_API_USER"
    start = OperatorTest.start
    sms = OperatorTest.sms

    def shell_config(self):
        """The daemon's config as a root shell sees it: the same store and
        outbox, a gateway whose user is an unset ${ENV} and whose password
        is a credential file that is not there, and a template folder that
        is gone."""
        self.assertNotIn(self.UNSET, os.environ)
        gateways = [self.http_gateway(self.sink.url, username="${%s}" % self.UNSET,
                                      password_file=os.path.join(self.tmp, "creds", "elks")),
                    self.file_gateway("mail_file")]
        config = self.make_config(gateways, sms=["sms"], email=["mail_file"],
                                  templates={"dir": os.path.join(self.tmp, "no-templates")},
                                  retention={"keep": "30d", "action": "delete"})
        return self.write_config(config, name="root-shell.yaml")

    def test_store_commands_need_no_gateway_secret(self):
        self.start(script=[{"status": 400, "body": "{\"error\": \"bad sender\"}"}])
        self.emit([event("shell-1", "951", "shipped")])
        failed = self.sms("951", ("failed",))
        shell = self.shell_config()

        def cli(*args, check=harness.EXIT_OK):
            return self.tackd_cli(*args, "--config", shell, check=check)

        # The daemon's own commands still refuse it, naming each problem.
        for verb in ("check", "run"):
            refused = cli(verb, check=harness.EXIT_CONFIG)
            self.assertIn("environment variable %s is not set" % self.UNSET, refused.stderr)
            self.assertIn("cannot read password_file", refused.stderr)

        found = json.loads(cli("log", "--order", "951", "--json").stdout)
        self.assertIn(failed["id"], [m["id"] for m in found["messages"]])
        self.assertIn("message %d" % failed["id"], cli("log", "--to", "070-123 45 67").stdout)
        cli("log", "--rejected")
        self.assertIn("retry done", cli("retry", failed["id"]).stdout)
        self.sms("951", ("sent",))
        self.assertIn("requeued 0 dead messages", cli("retry", "--dead").stdout)
        self.assertIn("gateway sms held", cli("hold", "--gateway", "sms").stdout)
        cli("release", "--gateway", "sms")
        bad = cli("hold", "--gateway", "nope", check=harness.EXIT_USAGE)
        self.assertIn("no gateway named nope", bad.stderr)
        self.assertIn("ready in", cli("outbox", "init").stdout)
        export = cli("log", "export")
        self.assertRegex(export.stderr, r"tackd log export: 2 messages from")
        # prune reads the retention policy of this config (30 days, delete).
        self.assertIn("would delete 0 message(s)", cli("prune", "--dry-run").stdout)
        self.assertIn("would erase 1 message", cli("forget", "--to", "+46701234567",
                                                   "--dry-run").stdout)
        self.stop_tackd(self.tackd)

    def test_store_commands_take_the_store_without_a_config(self):
        self.start(script=[{"status": 400, "body": "{\"error\": \"bad sender\"}"}])
        self.emit([event("store-1", "952", "shipped")])
        failed = self.sms("952", ("failed",))
        store = os.path.join(self.tmp, "tack.db")
        nowhere = os.path.join(self.tmp, "no-such-config.yaml")
        found = json.loads(self.tackd_cli("log", "--store", store, "--order", "952", "--json",
                                          check=harness.EXIT_OK).stdout)
        self.assertIn(failed["id"], [m["id"] for m in found["messages"]])
        self.tackd_cli("log", "--store", store, "--to", "+46701234567", check=harness.EXIT_OK)
        self.tackd_cli("retry", "--store", store, failed["id"], check=harness.EXIT_OK)
        self.sms("952", ("sent",))
        self.tackd_cli("log", "export", "--store", store, check=harness.EXIT_OK)
        self.tackd_cli("hold", "--store", store, "--gateway", "sms", check=harness.EXIT_OK)
        self.tackd_cli("release", "--store", store, "--gateway", "sms", check=harness.EXIT_OK)
        # --store and --config are one or the other.
        both = self.tackd_cli("log", "--store", store, "--config", nowhere, "--order", "952")
        self.assertEqual(both.returncode, harness.EXIT_USAGE, both.stderr)
        # A national number, with no shop region known, is looked up in
        # every country where it is valid: the Swedish message is found.
        national = json.loads(self.tackd_cli("log", "--store", store, "--to", "070-123 45 67",
                                             "--json", check=harness.EXIT_OK).stdout)
        self.assertIn("+46701234567", {m["to"] for m in national["messages"]})
        self.stop_tackd(self.tackd)


if __name__ == "__main__":
    unittest.main()
