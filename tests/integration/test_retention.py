"""Retention and erasure against a running tackd (issue 6): old messages in a
final state lose their personal data (or are deleted) while pending ones
stay; `tackd log export` writes CSV a spreadsheet can open safely; `tackd
forget --to` erases one person from the whole store file while tackd runs,
and its audit entry names nobody."""

import csv
import io
import os
import sqlite3
import unittest

import harness
from harness import TackTestCase, event

ANNA_PHONE = "+46701234567"
ANNA_EMAIL = "anna@example.se"
BO_PHONE = "+46709876543"
BO_EMAIL = "bo@example.se"


def rows(path, sql, args=()):
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


class RetentionTest(TackTestCase):
    def start(self, retention=None):
        gateways = [self.file_gateway("sms_file"), self.file_gateway("mail_file")]
        top = {}
        if retention is not None:
            top["retention"] = retention
        self.write_config(self.make_config(gateways, sms=["sms_file"], email=["mail_file"],
                                           **top))
        self.store = os.path.join(self.tmp, "tack.db")
        self.tackd = self.start_tackd()

    def cli(self, *args, check=harness.EXIT_OK):
        return self.tackd_cli(*args, "--config", self.config_path, check=check)

    def anna(self, event_id, order, status="shipped", **kw):
        return event(event_id, order, status, phone="070-123 45 67", email=ANNA_EMAIL,
                     name="Anna Svensson", **kw)

    def bo(self, event_id, order, status="shipped"):
        return event(event_id, order, status, phone=BO_PHONE, email=BO_EMAIL, name="Bo Ek")

    def hold_sms_then_emit(self, events):
        """Emits with the sms gateway held: those messages stay queued."""
        self.cli("hold", "--gateway", "sms_file")
        self.emit(events)

    def store_bytes(self):
        data = b""
        for name in ("tack.db", "tack.db-wal"):
            path = os.path.join(self.tmp, name)
            if os.path.exists(path):
                with open(path, "rb") as f:
                    data += f.read()
        return data

    # -- retention

    def test_old_final_messages_are_anonymised_and_pending_ones_kept(self):
        self.start({"keep": "2s", "action": "anonymise", "interval": "200ms"})
        self.emit([self.anna("r-1", "1001")])
        self.wait_for_messages("1001", "sent", count=2)
        self.hold_sms_then_emit([self.bo("r-2", "1002")])
        self.wait_for_messages("1002", "queued", channel="sms")

        def erased():
            mail = [m for m in self.messages("1002") if m["channel"] == "email"]
            return (all(m["to"] == "[erased]" for m in self.messages("1001")) and
                    mail[0]["to"] == "[erased]")
        self.wait_for(erased, "the sent messages to be anonymised", timeout=10)
        for m in self.messages("1001"):
            self.assertEqual(m["state"], "sent")  # states, times and outcomes stay
            self.assertEqual(m["text"], "[erased]")
            self.assertEqual(m["attempt_log"][0]["outcome"], "sent")
            self.assertRegex(m["created_at"], r"^\d{4}-\d\d-\d\dT")
        self.assertEqual(rows(self.store, "SELECT payload FROM events WHERE order_id = '1001'"),
                         [("[erased]",)])
        # Bo's SMS is still queued: it and its order's event keep their data,
        # however old.
        sms = [m for m in self.messages("1002") if m["channel"] == "sms"]
        self.assertEqual(sms[0]["state"], "queued")
        self.assertEqual(sms[0]["to"], BO_PHONE)
        payload = rows(self.store, "SELECT payload FROM events WHERE order_id = '1002'")[0][0]
        self.assertIn("Bo Ek", payload)
        # Released, it is sent as if nothing happened.
        self.cli("release", "--gateway", "sms_file")
        self.wait_for_messages("1002", "sent", channel="sms")
        self.wait_for(lambda: "retention: anonymised" in self.tackd.stderr(),
                      "the retention log line")
        line = [l for l in self.tackd.stderr().splitlines() if "retention:" in l][0]
        self.assertNotIn("701234567", line)
        self.stop_tackd(self.tackd)

    def test_delete_removes_old_final_messages_and_events(self):
        self.start({"keep": "1s", "action": "delete", "interval": "200ms"})
        self.emit([self.anna("d-1", "2001")])
        self.wait_for_messages("2001", "sent", count=2)
        self.wait_for(lambda: not self.log(order="2001")["messages"] and
                      not self.log(order="2001")["events"],
                      "order 2001 to be deleted", timeout=10)
        self.assertEqual(rows(self.store, "SELECT COUNT(*) FROM attempts"), [(0,)])
        out = self.cli("prune", "--dry-run").stdout
        self.assertIn("would delete 0 message(s)", out)
        self.stop_tackd(self.tackd)

    # -- export

    def test_export_is_rfc4180_csv_a_spreadsheet_cannot_run(self):
        self.start()
        tricky = self.anna("x-1", "=2+5", carrier='Post, "Nord"\nExpress')
        self.emit([tricky, self.bo("x-2", "3002")])
        self.wait_for_messages("=2+5", "sent", count=2)
        self.wait_for_messages("3002", "sent", count=2)
        p = self.cli("log", "export", "--since", "1d", "--csv")
        parsed = list(csv.reader(io.StringIO(p.stdout, newline="")))
        header, body = parsed[0], parsed[1:]
        self.assertEqual(header[:3], ["message_id", "order_id", "event_id"])
        self.assertEqual(len(body), 4)  # four messages, one attempt each
        self.assertTrue(all(len(r) == len(header) for r in body))
        col = {name: i for i, name in enumerate(header)}
        for r in body:
            for cell in r:
                self.assertFalse(cell[:1] in ("=", "+", "-", "@"), "formula cell %r" % cell)
        orders = sorted(r[col["order_id"]] for r in body)
        self.assertEqual(orders, ["'=2+5", "'=2+5", "3002", "3002"])
        sms = [r for r in body if r[col["order_id"]] == "'=2+5" and r[col["kind"]] == "sms"][0]
        self.assertEqual(sms[col["recipient"]], "'" + ANNA_PHONE)
        self.assertIn('Post, "Nord"\nExpress', sms[col["text"]])
        self.assertEqual(sms[col["attempt_outcome"]], "sent")
        self.assertRegex(sms[col["created_at"]], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        # A range with nothing in it is a header alone; JSON lines work too.
        empty = self.cli("log", "export", "--since", "2020-01-01", "--until", "2020-01-02")
        self.assertEqual(len(list(csv.reader(io.StringIO(empty.stdout, newline="")))), 1)
        lines = self.cli("log", "export", "--json").stdout.splitlines()
        self.assertEqual(len(lines), 4)
        # Malformed ranges are usage errors.
        for bad in (["--since", "yesterday"], ["--until", "2026-13-45"],
                    ["--since", "2026-11-02", "--until", "2026-11-01"]):
            r = self.cli("log", "export", *bad, check=harness.EXIT_USAGE)
            self.assertIn("tackd log export: --", r.stderr)
        self.cli("log", "export", "--csv", "--json", check=harness.EXIT_USAGE)
        self.stop_tackd(self.tackd)

    # -- forget

    def test_forget_erases_a_person_from_the_whole_file_while_tackd_runs(self):
        self.start()
        self.emit([self.anna("f-1", "4001"), self.bo("f-2", "4002"),
                   self.anna("f-3", "4003", status="placed")])
        for order in ("4001", "4002", "4003"):
            self.wait_for_messages(order, "sent", count=2)
        # A rejected event with Anna's address, and a pending SMS to her.
        bad = self.anna("f-4", "4004")
        del bad["occurred_at"]
        self.emit([bad])
        self.wait_for(lambda: self.rejected(), "the rejected event")
        self.hold_sms_then_emit([self.anna("f-5", "4005")])
        self.wait_for_messages("4005", "queued", channel="sms")

        # The files hold her data now, so the byte search below can fail.
        self.assertIn(ANNA_EMAIL.encode(), self.store_bytes())
        dry = self.cli("forget", "--to", "070-123 45 67", "--dry-run").stdout
        self.assertIn("would erase 3 messages", dry)
        self.assertEqual(len(self.log(to=ANNA_PHONE)["messages"]), 3)
        out = self.cli("forget", "--to", "070-123 45 67").stdout
        self.assertIn("erased 3 messages", out)
        self.assertIn("cancelled 1 pending message", out)
        out = self.cli("forget", "--to", "Anna@Example.se").stdout
        self.assertIn("erased 3 messages", out)

        self.assertEqual(self.log(to=ANNA_PHONE)["messages"], [])
        self.assertEqual(self.log(to=ANNA_EMAIL)["messages"], [])
        self.assertEqual(len(self.log(to=BO_PHONE)["messages"]), 1)
        self.assertEqual(self.messages("4005", "sms")[0]["state"], "cancelled")
        # tackd goes on sending after it: Bo's next message still goes out.
        self.cli("release", "--gateway", "sms_file")
        self.emit([self.bo("f-6", "4006")])
        self.wait_for_messages("4006", "sent", count=2)
        self.assert_running(self.tackd)

        # Every text column of every table, then the file's bytes.
        db = sqlite3.connect("file:%s?mode=ro" % self.store, uri=True, timeout=10)
        dump = "\n".join(db.iterdump())
        audit = db.execute("SELECT actor, detail FROM audit WHERE action = 'forget'").fetchall()
        db.close()
        for secret in (ANNA_PHONE, "701234567", "123 45 67", "anna@example.se",
                       "Anna Svensson", "Anna"):
            self.assertNotIn(secret, dump)
        self.assertIn(BO_PHONE, dump)
        self.assertIn("Bo Ek", dump)
        self.assertEqual(len(audit), 2)
        for actor, detail in audit:
            self.assertTrue(actor.startswith("cli:"))
            self.assertIn("of one recipient", detail)
            self.assertNotIn("anna", detail.lower())
            self.assertNotIn("4567", detail)
        self.stop_tackd(self.tackd)
        for name in ("tack.db", "tack.db-wal"):
            path = os.path.join(self.tmp, name)
            if not os.path.exists(path):
                continue
            with open(path, "rb") as f:
                data = f.read()
            for secret in (ANNA_PHONE, "anna@example.se", "Anna Svensson", "070-123 45 67"):
                self.assertNotIn(secret.encode(), data, "%s in %s" % (secret, name))
            if name == "tack.db":
                self.assertIn(BO_PHONE.encode(), data)

    def test_forget_refuses_what_is_not_a_phone_or_an_address(self):
        self.start()
        for bad in ("12", "a@b@c", "anna @example.se", "not a number"):
            r = self.cli("forget", "--to", bad, check=harness.EXIT_DATAERR)
            self.assertIn("tackd forget: --to", r.stderr)
        self.tackd_cli("forget", "--config", self.config_path, check=harness.EXIT_USAGE)
        self.stop_tackd(self.tackd)


if __name__ == "__main__":
    unittest.main()
