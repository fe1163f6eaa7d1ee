"""tackd's command line: check, render, help, usage errors, log without a store.

`tackd check` and `tackd render` run on a temp copy of the repo's example
config and templates (config/tack.example.yaml, templates/), so the files
that ship are the ones tested. The template checks (a variable no event
has, a template without text for a locale) are run the three ways a config
is loaded: `tackd check`, `tackd run` and a reload on SIGHUP.
"""

import json
import os
import re
import shutil
import signal
import sqlite3
import unittest

import harness
import test_api
from harness import TackTestCase, event

SUBCOMMANDS = [["run"], ["check"], ["render"], ["emit"], ["outbox"], ["outbox", "init"], ["log"]]
SMS_LINE = re.compile(r"^\s+(\S+)\s+sms\s+(\S+)\s+(\d+) chars, (GSM-7|UCS-2), (\d+) segments?"
                      r"(?:; transliterated: (\d+) chars, (GSM-7|UCS-2), (\d+) segments? "
                      r"\(([^)]*)\))?$")


class ExampleConfigTestCase(TackTestCase):
    def setUp(self):
        super().setUp()
        # The example's layout: config/tack.example.yaml with ../templates.
        os.mkdir(os.path.join(self.tmp, "config"))
        shutil.copy(os.path.join(harness.SOURCE_DIR, "config", "tack.example.yaml"),
                    os.path.join(self.tmp, "config"))
        shutil.copytree(harness.TEMPLATES, os.path.join(self.tmp, "templates"))
        self.example = os.path.join(self.tmp, "config", "tack.example.yaml")


class CheckTest(ExampleConfigTestCase):
    def test_check_on_the_example_config_reports_sms_encodings(self):
        p = self.tackd_cli("check", "--config", self.example, check=harness.EXIT_OK)
        self.assertRegex(p.stdout, r"config .*tack\.example\.yaml: ok \(\d+ rules, \d+ gateways, "
                                   r"\d+ templates\)")
        self.assertNotIn("ERROR", p.stdout)
        sms = [SMS_LINE.match(line) for line in p.stdout.splitlines()]
        sms = [(m.group(1), m.group(2), int(m.group(3)), m.group(4), int(m.group(5)))
               for m in sms if m]
        self.assertTrue(sms, "no SMS lines in:\n" + p.stdout)
        locales = {locale for _, locale, _, _, _ in sms}
        self.assertTrue({"sv", "en", "pl"} <= locales, locales)
        for name, locale, chars, encoding, segments in sms:
            expected = "UCS-2" if locale.startswith("pl") else "GSM-7"
            self.assertEqual(encoding, expected, "%s %s: %s" % (name, locale, p.stdout))
            self.assertGreater(chars, 0)
            self.assertGreaterEqual(segments, 1)
        # The example's sms channel transliterates Polish: each pl line
        # also says what it sends, GSM-7 and never more segments.
        for m in filter(None, (SMS_LINE.match(line) for line in p.stdout.splitlines())):
            if not m.group(2).startswith("pl"):
                self.assertIsNone(m.group(6), m.group(0))
                continue
            self.assertEqual((m.group(7), m.group(9)), ("GSM-7", "channel sms"), m.group(0))
            self.assertLessEqual(int(m.group(8)), int(m.group(5)), m.group(0))
        # Every template the example's rules use, in all three languages.
        for name in ("placed", "packed", "shipped", "out_for_delivery"):
            self.assertEqual({l for n, l, _, _, _ in sms if n == name}, {"sv", "en", "pl"}, name)
        # E-mail lines too, with their subjects.
        self.assertRegex(p.stdout, r"shipped\s+email\s+sv\s+subject \"Din order 1042 är på väg\"")

    def test_check_on_the_example_config_has_no_warnings(self):
        p = self.tackd_cli("check", "--config", self.example, check=harness.EXIT_OK)
        self.assertNotIn("warning", p.stderr.lower())

    def test_check_does_not_touch_the_store_or_outbox(self):
        self.tackd_cli("check", "--config", self.example, check=harness.EXIT_OK)
        for name in ("tack.db", "outbox.db"):
            self.assertFalse(os.path.exists(os.path.join(self.tmp, "config", name)), name)


def position_of(path, needle, after=None):
    """(line, column), 1-based, of the first `needle` in a file (after the
    first `after`, if given)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    start = text.index(after) if after else 0
    at = text.index(needle, start)
    line = text.count("\n", 0, at) + 1
    return line, at - (text.rfind("\n", 0, at) + 1) + 1


def replace_in(path, old, new, count=1):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if old not in text:
        raise AssertionError("%r not in %s" % (old, path))
    with open(path + ".new", "w", encoding="utf-8") as f:
        f.write(text.replace(old, new, count))
    os.replace(path + ".new", path)


class TemplateCheckTest(ExampleConfigTestCase):
    """Templates that would fail or send nonsense stop check and run."""

    def setUp(self):
        super().setUp()
        self.packed = os.path.join(self.tmp, "templates", "packed.yaml")

    def assert_refused(self, stderr, stdout, where, *words):
        path, (line, column) = where
        self.assertIn("%s:%d:%d: " % (path, line, column), stderr)
        for word in words:
            self.assertIn(word, stderr)
        self.assertNotRegex(stdout, r"(?m): ok\b", "no ok line when check fails")

    def test_a_variable_no_event_has_is_an_error_with_its_position(self):
        # The Swedish SMS of packed, as a shop might mistype it.
        sv = '  sv: "Hej{{#customer.first_name}} {{customer.first_name}}'
        replace_in(self.packed, sv, sv.replace("{{customer.first_name}}",
                                               "{{customer.frist_name}}"))
        where = (self.packed, position_of(self.packed, "{{customer.frist_name}}"))
        p = self.tackd_cli("check", "--config", self.example)
        self.assertEqual(p.returncode, harness.EXIT_CONFIG, p.stdout + p.stderr)
        self.assert_refused(p.stderr, p.stdout, where, "customer.frist_name",
                            "customer.first_name")
        d = self.start_tackd(self.example, wait_ready=False)
        self.assertEqual(d.wait(harness.WAIT), harness.EXIT_CONFIG, d.stderr())
        self.assert_refused(d.stderr(), "", where, "customer.frist_name")

    def test_a_template_without_text_for_the_default_locale_is_an_error(self):
        # The example's default locale is sv-SE; packed loses its Swedish SMS.
        with open(self.packed, encoding="utf-8") as f:
            lines = f.read().split("\n")
        lines = [l for l in lines if not l.startswith('  sv: "')]
        with open(self.packed, "w", encoding="utf-8") as f:
            f.write("\n".join(lines))
        where = (self.packed, position_of(self.packed, "sms:"))
        p = self.tackd_cli("check", "--config", self.example)
        self.assertEqual(p.returncode, harness.EXIT_CONFIG, p.stdout + p.stderr)
        self.assert_refused(p.stderr, p.stdout, where, "sv-SE")
        d = self.start_tackd(self.example, wait_ready=False)
        self.assertEqual(d.wait(harness.WAIT), harness.EXIT_CONFIG, d.stderr())
        self.assert_refused(d.stderr(), "", where, "sv-SE")

    def test_a_variable_in_a_list_section_resolves_against_its_items(self):
        # placed lists data.items as {{name}}; the example declares its fields.
        placed = os.path.join(self.tmp, "templates", "placed.yaml")
        replace_in(placed, "{{name}}{{/data.items}}", "{{nmae}}{{/data.items}}")
        where = (placed, position_of(placed, "{{nmae}}"))
        p = self.tackd_cli("check", "--config", self.example)
        self.assertEqual(p.returncode, harness.EXIT_CONFIG, p.stdout + p.stderr)
        self.assert_refused(p.stderr, p.stdout, where, "nmae", "data.items")

    def test_sighup_with_a_template_error_keeps_the_loaded_templates(self):
        templates = os.path.join(self.tmp, "templates")
        path = self.write_config(self.make_config([self.file_gateway("file")],
                                                  templates={"dir": templates}))
        d = self.start_tackd(path)
        packed_en = '  en: "Good news{{#customer.first_name}}, {{customer.first_name}}'
        replace_in(self.packed, packed_en, packed_en.replace("{{customer.first_name}}",
                                                             "{{customer.frist_name}}"))
        where = position_of(self.packed, "{{customer.frist_name}}")
        d.signal(signal.SIGHUP)
        self.wait_for(lambda: "keeping the running one" in d.stderr(),
                      "tackd to reject the new templates")
        self.assertIn("%s:%d:%d: " % ((self.packed,) + where), d.stderr())
        self.assert_running(d)
        self.emit([event("tc-1", "8101", "packed", locale="en", email=None)])
        self.wait_for_messages("8101", "sent", channel="sms")
        [sms] = [m for m in harness.read_json_lines(os.path.join(self.tmp, "file.jsonl"))
                 if m.get("order_id") == "8101"]
        self.assertIn("Good news, Anna!", sms["text"])
        self.stop_tackd(d)


class RenderTest(ExampleConfigTestCase):
    def test_render_out_for_delivery_sms_in_swedish(self):
        sample = os.path.join(harness.SOURCE_DIR, "examples", "shipped.json")
        p = self.tackd_cli("render", "--config", self.example, "--template", "out_for_delivery",
                           "--locale", "sv", "--event", sample, "--channel", "sms",
                           check=harness.EXIT_OK)
        self.assertIn("tisdag 24 november mellan 12 och 14", p.stdout)
        self.assertRegex(p.stdout, r"--- sms \(sv[^,]*, \d+ chars, GSM-7, \d segments?\)")
        self.assertIn("Din order 1042", p.stdout)
        self.assertNotIn("--- email", p.stdout)

    def test_render_reads_the_event_from_stdin_and_uses_its_locale(self):
        with open(os.path.join(harness.SOURCE_DIR, "examples", "shipped.json"),
                  encoding="utf-8") as f:
            doc = json.load(f)
        doc["customer"]["locale"] = "pl-PL"
        p = self.tackd_cli("render", "--config", self.example, "--template", "out_for_delivery",
                           "--event", "-", "--channel", "sms", input=json.dumps(doc),
                           check=harness.EXIT_OK)
        self.assertRegex(p.stdout, r"--- sms \(pl[^,]*, \d+ chars, UCS-2")
        self.assertIn("1042", p.stdout)

    def test_render_both_channels_by_default(self):
        sample = os.path.join(harness.SOURCE_DIR, "examples", "shipped.json")
        p = self.tackd_cli("render", "--config", self.example, "--template", "shipped",
                           "--event", sample, check=harness.EXIT_OK)
        self.assertIn("--- sms (sv", p.stdout)
        self.assertIn("--- email (sv", p.stdout)
        self.assertIn("Subject: Din order 1042 är på väg", p.stdout)
        self.assertIn("--- email html", p.stdout)

    def test_render_errors_are_clear(self):
        sample = os.path.join(harness.SOURCE_DIR, "examples", "shipped.json")
        p = self.tackd_cli("render", "--config", self.example, "--template", "no_such",
                           "--event", sample)
        self.assertEqual(p.returncode, harness.EXIT_USAGE, p.stderr)
        self.assertIn("no_such", p.stderr)
        p = self.tackd_cli("render", "--config", self.example, "--template", "shipped",
                           "--event", os.path.join(self.tmp, "missing.json"))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("missing.json", p.stderr)
        p = self.tackd_cli("render", "--config", self.example, "--template", "shipped",
                           "--event", "-", input='{"event_id": "x"}')
        self.assertEqual(p.returncode, 65, p.stderr)
        self.assertIn("bad event", p.stderr)


class UsageTest(TackTestCase):
    def test_help_exits_0_for_tackd_and_every_subcommand(self):
        p = self.tackd_cli("--help", check=harness.EXIT_OK)
        for sub in ("run", "check", "render", "emit", "outbox", "log"):
            self.assertRegex(p.stdout, r"\b%s\b" % sub)
        for sub in SUBCOMMANDS:
            p = self.tackd_cli(*(sub + ["--help"]))
            self.assertEqual(p.returncode, 0, "tackd %s --help: %s" % (" ".join(sub), p.stderr))
            self.assertIn("--help", p.stdout, sub)
            if sub not in (["outbox"],):
                self.assertIn("--config", p.stdout, sub)

    def test_version(self):
        p = self.tackd_cli("--version", check=harness.EXIT_OK)
        self.assertRegex(p.stdout.strip(), r"^tackd \d+\.\d+\.\d+")

    def test_unknown_subcommand_exits_64(self):
        p = self.tackd_cli("frobnicate")
        self.assertEqual(p.returncode, harness.EXIT_USAGE, p.stderr)
        self.assertTrue(p.stderr.strip(), "says what is wrong")

    def test_no_subcommand_exits_64(self):
        p = self.tackd_cli()
        self.assertEqual(p.returncode, harness.EXIT_USAGE, p.stderr)

    def test_unknown_option_exits_64(self):
        p = self.tackd_cli("check", "--frobnicate")
        self.assertEqual(p.returncode, harness.EXIT_USAGE, p.stderr)


class LogCliTest(TackTestCase):
    def config(self):
        return self.write_config(self.make_config([self.file_gateway("file")]))

    def test_log_on_a_missing_store_is_a_clear_error(self):
        path = self.config()
        store = os.path.join(self.tmp, "tack.db")
        p = self.tackd_cli("log", "--config", path, "--order", "1042")
        self.assertNotEqual(p.returncode, 0)
        self.assertEqual(p.stdout, "")
        self.assertIn("tackd log", p.stderr)
        self.assertIn(store, p.stderr, "names the store it looked for")
        self.assertFalse(os.path.exists(store), "tackd log must not create a store")
        p = self.tackd_cli("log", "--config", path, "--rejected", "--json")
        self.assertNotEqual(p.returncode, 0)

    def test_log_needs_a_selector(self):
        path = self.config()
        p = self.tackd_cli("log", "--config", path)
        self.assertEqual(p.returncode, harness.EXIT_USAGE, p.stderr)
        self.assertIn("--order", p.stderr)

    def test_log_selectors_exclude_each_other(self):
        path = self.config()
        p = self.tackd_cli("log", "--config", path, "--order", "1", "--rejected")
        self.assertEqual(p.returncode, harness.EXIT_USAGE, p.stderr)

    def test_log_on_a_store_with_nothing_yet(self):
        path = self.config()
        d = self.start_tackd(path)
        self.stop_tackd(d)
        # An order tack knows nothing of is an error a script can see
        # (EX_NOINPUT), said on stderr, in text and JSON alike.
        for extra in ([], ["--json"]):
            p = self.tackd_cli("log", "--config", path, "--order", "1042", *extra)
            self.assertEqual(p.returncode, harness.EXIT_NOINPUT, p.stdout + p.stderr)
            self.assertEqual(p.stdout, "")
            self.assertIn("tackd log: no order 1042", p.stderr)
        p = self.tackd_cli("log", "--config", path, "--message", "77")
        self.assertEqual(p.returncode, harness.EXIT_NOINPUT, p.stdout + p.stderr)
        self.assertIn("tackd log: no message 77", p.stderr)
        # A search by recipient that finds nothing is an answer, not an error.
        p = self.tackd_cli("log", "--config", path, "--to", "+46701234567", check=harness.EXIT_OK)
        self.assertIn("no messages found", p.stdout)
        self.assertEqual(self.rejected(), [])


STOCKHOLM_TIME = re.compile(r"\b\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (CET|CEST)\b")


def stockholm(rfc3339):
    """The wall-clock time in Stockholm, as `tackd log` prints it."""
    from datetime import datetime
    from zoneinfo import ZoneInfo
    at = datetime.strptime(rfc3339, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo("Europe/Stockholm"))
    return at.strftime("%Y-%m-%d %H:%M:%S ") + at.tzname()


class LogForPeopleTest(test_api.ApiTestCase):
    """`tackd log` as support reads it (issue 15, item 7): a sent SMS and an
    e-mail the mail server refused, in the shop's time zone, newest first;
    --json is the HTTP API's order object."""

    def setUp(self):
        super().setUp()
        sms = self.start_http_sink()  # 200 {"id": "msg-1"}
        mail = self.start_smtp_sink(rcpt_replies=["550 5.1.1 <anna@example.se>: user unknown"])
        self.start_api(gateways=[self.http_gateway(sms.url), self.smtp_gateway(mail)],
                       sms=["sms"], email=["mail"])
        self.emit([event("pp-1", "1001", "placed")])
        self.wait_for_messages("1001", ("sent", "failed"), count=2)

    def text(self, *extra):
        return self.tackd_cli("log", "--config", self.config_path, *extra,
                              check=harness.EXIT_OK).stdout

    def test_the_text_view_summarises_first_in_local_time_newest_first(self):
        out = self.text("--order", "1001")
        self.assertEqual(out.splitlines()[0],
                         "order 1001: 2 messages: 1 SMS sent, 1 e-mail failed; nothing waiting",
                         out)
        messages = {m["kind"]: m for m in self.messages("1001")}
        sms, mail = messages["sms"], messages["email"]
        # Times in the shop's zone (locale.timezone), with the zone's name.
        self.assertNotIn("UTC", out)
        self.assertRegex(out, STOCKHOLM_TIME)
        self.assertIn(stockholm(sms["created_at"]), out)
        self.assertIn(stockholm(sms["attempt_log"][0]["started_at"]), out)
        # The provider's id once, the channel once when it is its kind's name.
        self.assertEqual(out.count("msg-1"), 1, out)
        self.assertNotIn("sms (sms)", out)
        self.assertNotIn("email (email)", out)
        # Newest first, as on the support page; --oldest-first turns it round.
        newer, older = max(sms["id"], mail["id"]), min(sms["id"], mail["id"])
        self.assertLess(out.index("message %d " % newer), out.index("message %d " % older), out)
        oldest_first = self.text("--order", "1001", "--oldest-first")
        self.assertLess(oldest_first.index("message %d " % older),
                        oldest_first.index("message %d " % newer), oldest_first)
        self.assertEqual(oldest_first.splitlines()[0], out.splitlines()[0])
        # By recipient and by id the same words.
        by_to = self.text("--to", "070-123 45 67")
        self.assertIn("message %d " % sms["id"], by_to)
        self.assertNotIn("sms (sms)", by_to)
        self.assertEqual(by_to.count("msg-1"), 1, by_to)

    def test_not_tried_yet_only_when_an_attempt_will_come(self):
        # A Stockholm landline: tack refuses it itself, no attempt will come.
        self.emit([event("pp-2", "1002", "placed", phone="08-123 456 78")])
        self.wait_for_messages("1002", ("failed",), channel="sms")
        out = self.text("--order", "1002")
        self.assertNotIn("not tried yet", out)
        self.assertNotIn("no attempts yet", out)
        self.assertIn("tack refused it", out)
        self.assertIn("1 SMS failed", out.splitlines()[0])

    def test_json_is_the_http_api_order_object(self):
        p = self.tackd_cli("log", "--config", self.config_path, "--order", "1001", "--json",
                           check=harness.EXIT_OK)
        api = self.get("/v1/orders/1001")
        self.assertEqual(api.status, 200, api)
        self.assertEqual(json.loads(p.stdout), api.json())
        one = json.loads(p.stdout)["messages"][0]
        self.assertRegex(one["created_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        # A message by id is the API's message object.
        p = self.tackd_cli("log", "--config", self.config_path, "--message", one["id"], "--json",
                           check=harness.EXIT_OK)
        api = self.get("/v1/messages/%d" % one["id"])
        self.assertEqual(json.loads(p.stdout), api.json())
        # A search by recipient: the API's list, without its paging link.
        p = self.tackd_cli("log", "--config", self.config_path, "--to", "+46701234567", "--json",
                           check=harness.EXIT_OK)
        api = self.get("/v1/messages?to=%2B46701234567")
        self.assertEqual(json.loads(p.stdout)["messages"], api.json()["messages"])


class LogExportDelimiterTest(TackTestCase):
    """`tackd log export --delimiter ';'` for a Swedish or Polish Excel, and
    --bom so Excel reads the text as UTF-8."""

    def setUp(self):
        super().setUp()
        self.path = self.write_config(self.make_config([self.file_gateway("file")]))
        d = self.start_tackd(self.path)
        # A name with the delimiter in it: the SMS greets "Łucja;Åberg".
        self.emit([event("ex-1", "2001", "placed", name="Łucja;Åberg")])
        self.wait_for_messages("2001", ("sent",), count=2)
        self.stop_tackd(d)

    def export(self, *extra, check=harness.EXIT_OK):
        return self.tackd_cli("log", "export", "--config", self.path, *extra, check=check)

    def test_semicolon_delimited_rows_read_back_with_the_same_cells(self):
        import csv
        import io
        plain = list(csv.reader(io.StringIO(self.export().stdout, newline="")))
        out = self.export("--delimiter", ";").stdout
        self.assertTrue(out.startswith("message_id;order_id;event_id;"), out[:80])
        rows = list(csv.reader(io.StringIO(out, newline=""), delimiter=";"))
        self.assertEqual(rows, plain)
        self.assertEqual(len(rows), 3)
        self.assertTrue(any("Łucja" in cell for row in rows for cell in row))
        tabbed = self.export("--delimiter", "tab").stdout
        self.assertEqual(list(csv.reader(io.StringIO(tabbed, newline=""), delimiter="\t")), plain)

    def test_a_cell_holding_the_delimiter_is_quoted(self):
        import csv
        import io
        out = self.export("--delimiter", ";").stdout
        texts = [r[16] for r in csv.reader(io.StringIO(out, newline=""), delimiter=";")][1:]
        self.assertTrue(all(t for t in texts))
        self.assertTrue(any("Łucja;Åberg" in t for t in texts), texts)
        self.assertIn('"', out, "the cells holding ';' are quoted")
        # The header row and every record end in CRLF; each row has 24 cells.
        for row in csv.reader(io.StringIO(out, newline=""), delimiter=";"):
            self.assertEqual(len(row), 24, row)

    def test_bom_puts_a_utf8_byte_order_mark_first(self):
        p = subprocess_bytes([harness.TACKD, "log", "export", "--config", self.path, "--bom",
                              "--delimiter", ";"], cwd=self.tmp)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.startswith(b"\xef\xbb\xbfmessage_id;"), p.stdout[:40])
        self.assertEqual(p.stdout.count(b"\xef\xbb\xbf"), 1)
        plain = subprocess_bytes([harness.TACKD, "log", "export", "--config", self.path],
                                 cwd=self.tmp)
        self.assertFalse(plain.stdout.startswith(b"\xef\xbb\xbf"))

    def test_a_delimiter_that_cannot_work_is_a_usage_error(self):
        for bad in ("", ";;", '"', "\n", "\r", "a", "7", "'", "=", "\u00e5"):
            p = self.export("--delimiter", bad, check=None)
            self.assertEqual(p.returncode, harness.EXIT_USAGE, (bad, p.stdout, p.stderr))
            self.assertEqual(p.stdout, "", bad)
            self.assertIn("--delimiter", p.stderr)
        p = self.export("--json", "--delimiter", ";", check=None)
        self.assertEqual(p.returncode, harness.EXIT_USAGE, p.stderr)


def subprocess_bytes(args, cwd):
    import subprocess
    return subprocess.run(args, capture_output=True, cwd=cwd, timeout=harness.CLI_TIMEOUT)


class EmitCliTest(TackTestCase):
    def test_outbox_init_and_emit(self):
        path = self.write_config(self.make_config([self.file_gateway("file")]))
        outbox = os.path.join(self.tmp, "outbox.db")
        self.tackd_cli("outbox", "init", "--config", path, check=harness.EXIT_OK)
        with sqlite3.connect(outbox) as db:
            self.assertEqual(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0], 0)
        # A JSON array, JSON lines and a pretty-printed object all work.
        events = [harness.event("e-%d" % i, "o-%d" % i, "placed") for i in range(3)]
        self.tackd_cli("emit", "--config", path, "-", input=json.dumps(events),
                       check=harness.EXIT_OK)
        self.tackd_cli("emit", "--config", path, "-",
                       input="\n".join(json.dumps(e) for e in events) + "\n",
                       check=harness.EXIT_OK)
        p = self.tackd_cli("emit", "--config", path, "-", input=json.dumps(events[0], indent=2),
                           check=harness.EXIT_OK)
        self.assertIn("appended 1 event", p.stdout)
        with sqlite3.connect(outbox) as db:
            payloads = [json.loads(r[0]) for r in db.execute("SELECT payload FROM outbox")]
        self.assertEqual(len(payloads), 7)
        self.assertEqual(payloads[0]["event_id"], "e-0")
        # Nothing to emit is an error; a malformed event is appended with a warning.
        p = self.tackd_cli("emit", "--config", path, "-", input="\n \n")
        self.assertEqual(p.returncode, 65, p.stderr)
        p = self.tackd_cli("emit", "--config", path, "-", input="not json\n",
                           check=harness.EXIT_OK)
        self.assertIn("will be rejected", p.stderr)


if __name__ == "__main__":
    unittest.main()
