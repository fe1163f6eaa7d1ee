"""The support page in a real browser against a running tackd.

tackd runs with its HTTP listener (one support user, HTTP Basic) and a real
HTTP server as the SMS provider (http_sink.py) that answers the first SMS
with 503: with `retry.max_attempts: 1` that SMS is dead at once. A second
order's customer has markup for a name. Then tests/browser/support_page.js
drives Debian's headless Chromium through playwright-core (installed by
`npm ci` in tests/browser, which scripts/test.sh runs): search the order,
read its timeline, search by phone, check the markup stays text, retry the
dead SMS through the confirmation dialog, see a stale window get tackd's
409, and check a 375 px screen. Last, when the script asks on stdout,
this side gives anna a new password (config reload, SIGHUP) and the page
must tell her to log in again. This side then holds tackd to what the page
showed: `tackd log --json` must have the retry, by http:anna, and the SMS
sent; the 409 text must be the API's own. Screenshots at 1280 and 375 px
stay in the temp dir with TACK_KEEP_TMP=1.
"""

import base64
import datetime
import http.server
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
import zoneinfo

import harness
from harness import TackTestCase, event


def artefacts_dir(test):
    """Where the browser test's screenshots stay after the run (walk-*.png
    at 1280 and 375 px, failed-N.png of a failed check): beside the tackd
    under test, build/artefacts/browser/TEST/, or TACK_ARTEFACTS_DIR/TEST."""
    root = os.environ.get("TACK_ARTEFACTS_DIR") or os.path.join(
        os.path.dirname(os.path.abspath(harness.TACKD)), "artefacts", "browser")
    path = os.path.join(root, test)
    # Emptied first: a screenshot left by an earlier run proves nothing.
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path

BROWSER_DIR = os.path.join(harness.SOURCE_DIR, "tests", "browser")
SCRIPT = os.path.join(BROWSER_DIR, "support_page.js")
CHROMIUM = "/usr/bin/chromium"
NODE_TIMEOUT = 240

USER = "anna"
PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a new password for anna"
# The leak check (leak_check.py) must find these nowhere in tack's output.
harness.register_secret(PASSWORD)
harness.register_secret(NEW_PASSWORD)
PHONE_AS_TYPED = "070-123 45 67"
PHONE_E164 = "+46701234567"
FIXED_LINE = "+4681234567"  # a Stockholm landline: tack refuses to SMS it
XSS_NAME = "<img src=x onerror=alert(1)>"
# What the SMS provider answers the first SMS: markup the page must show as text.
PROVIDER_503 = "<b>Service Unavailable</b> <img src=x onerror=alert(2)>"
# Order 1042's tracking URL. (A javascript: one no longer gets in: intake
# rejects the event, tests/event_test.cpp; the page's own filter of such
# links in an e-mail's HTML stays as a second line.)
TRACKING_URL = "https://tracking.example/1042?lang=sv"


def password_hash(password):
    """A crypt(3) SHA-512 hash, as `openssl passwd -6` makes for http.users."""
    p = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password + "\n",
                       capture_output=True, text=True, check=True, timeout=30)
    return p.stdout.strip()


def start_other_site(action):
    """A web server on another origin (127.0.0.2) whose page posts a
    text/plain form to `action` as soon as it loads: the cross-site request
    forgery a support person's browser may be led to. Returns (url, server)."""
    page = ('<!doctype html><form method="POST" enctype="text/plain" action="%s">'
            '<input name="a" value="b"></form><script>document.forms[0].submit()</script>'
            % action).encode()

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.2", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return "http://127.0.0.2:%d/" % server.server_address[1], server


def listening_port(stderr):
    """The port tackd logged for its HTTP listener (http.listen port 0)."""
    match = re.search(r"http\S*:? listening on (?:\S*?):(\d+)", stderr)
    return int(match.group(1)) if match else None


class SupportPageTest(TackTestCase):
    def setUp(self):
        super().setUp()
        node = shutil.which("node")
        if node is None:
            self.fail("node is missing: scripts/install-deps.sh --test installs nodejs")
        if not os.access(CHROMIUM, os.X_OK):
            self.fail("%s is missing: scripts/install-deps.sh --test installs chromium" % CHROMIUM)
        if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")):
            self.fail("tests/browser/node_modules has no playwright-core: run `npm ci` there "
                      "(scripts/test.sh does)")
        self.node = node

    def api(self, method, path, password):
        """(status, JSON body) of one support API call as the support user."""
        request = urllib.request.Request(self.base_url + path, method=method)
        token = base64.b64encode(("%s:%s" % (USER, password)).encode()).decode()
        request.add_header("Authorization", "Basic " + token)
        request.add_header("X-Tack-Request", "test")
        try:
            with urllib.request.urlopen(request, timeout=harness.WAIT) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    def config(self, sink, password):
        gateways = [self.http_gateway(sink.url), self.file_gateway("mail_file")]
        return self.make_config(
            gateways, sms=["sms"], email=["mail_file"],
            retry={"max_attempts": 1, "initial_backoff": "100ms", "max_backoff": "500ms",
                   "max_age": "1h"},
            http={"listen": "127.0.0.1:0",
                  "users": [{"name": USER, "password_hash": password_hash(password)}]})

    def run_browser(self, plan_path, tackd, sink):
        """Runs support_page.js; when it asks, gives anna a new password by
        reloading tackd's config. Returns (exit code, stdout lines, report)."""
        stderr_path = os.path.join(self.tmp, "node.stderr")
        with open(stderr_path, "wb") as stderr:
            proc = subprocess.Popen([self.node, SCRIPT, plan_path], stdout=subprocess.PIPE,
                                    stderr=stderr, stdin=subprocess.DEVNULL, text=True,
                                    cwd=BROWSER_DIR)
        lines = []
        incoming = queue.Queue()

        def read():
            for line in proc.stdout:
                incoming.put(line.rstrip("\n"))
            incoming.put(None)

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + NODE_TIMEOUT
        try:
            while True:
                try:
                    line = incoming.get(timeout=max(0.1, deadline - time.monotonic()))
                except queue.Empty:
                    self.fail("support_page.js did not finish within %d s:\n%s" % (
                        NODE_TIMEOUT, "\n".join(lines)))
                if line is None:
                    break
                lines.append(line)
                if line in ("# waiting for the new password", "# waiting for no users"):
                    reloads = tackd.stderr().count("reload: config and templates reloaded")
                    self.write_config(getattr(self, "next_config", None) or
                                      self.config(sink, NEW_PASSWORD))
                    tackd.signal(signal.SIGHUP)
                    self.wait_for(lambda: tackd.stderr().count(
                        "reload: config and templates reloaded") > reloads, "tackd to reload")
                    with open(self.reload_flag, "w", encoding="utf-8"):
                        pass
            code = proc.wait(timeout=harness.WAIT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        with open(stderr_path, encoding="utf-8", errors="replace") as f:
            node_stderr = f.read()
        report = "node support_page.js exited %d\nstdout:\n%s\nstderr:\n%s" % (
            code, "\n".join(lines), harness.tail(node_stderr, 60))
        return code, lines, report

    def test_support_finds_the_order_reads_what_the_provider_said_and_retries(self):
        sink = self.start_http_sink([{"status": 503, "body": PROVIDER_503}])
        self.write_config(self.config(sink, PASSWORD))
        tackd = self.start_tackd()
        port = self.wait_for(lambda: listening_port(tackd.stderr()),
                             "tackd to log the port of its HTTP listener")
        self.base_url = "http://127.0.0.1:%d" % port

        # Order 1042: the SMS dies on the provider's 503, the e-mail goes out.
        shipped_event = event("evt-1042-shipped", "1042", "shipped", phone=PHONE_AS_TYPED,
                              occurred_at="2026-11-22T10:15:00Z")
        shipped_event["delivery"]["tracking_url"] = TRACKING_URL
        self.emit([shipped_event])
        self.wait_for_messages("1042", ("dead",), channel="sms")
        self.wait_for_messages("1042", ("sent",), channel="email")
        shipped = {m["channel"]: m for m in self.messages("1042")}
        sms, mail = shipped["sms"], shipped["email"]
        self.assertEqual(sms["attempt_log"][0]["detail"], "HTTP 503: " + PROVIDER_503)

        # Order 1043, later, to the same phone: a customer name with markup.
        xss_event = event("evt-1043-placed", "1043", "placed", phone=PHONE_E164,
                          name=XSS_NAME + " Svensson", occurred_at="2026-11-22T11:00:00Z")
        xss_event["customer"]["first_name"] = XSS_NAME
        self.emit([xss_event])
        xss_messages = self.wait_for_messages("1043", ("sent",), count=2)
        self.assertTrue(any(XSS_NAME in m["text"] for m in xss_messages),
                        harness.summarize(xss_messages))

        other_site, other_server = start_other_site(
            "%s/v1/messages/%d/retry" % (self.base_url, sms["id"]))
        self.addCleanup(other_server.shutdown)
        plan = {
            "base_url": self.base_url,
            "csrf_page_url": other_site,
            "user": USER,
            "password": PASSWORD,
            "chromium": CHROMIUM,
            "out_dir": artefacts_dir("page"),
            "wait_ms": int(harness.WAIT * 1000),
            # The browser is elsewhere: the page shows the shop's zone.
            "timezone": "America/New_York",
            "phone_query": PHONE_AS_TYPED,
            "order": {
                "id": "1042",
                "phone": PHONE_E164,
                "dead_message_id": sms["id"],
                "sms_text": sms["text"],
                "sms_gateway": "sms",
                "dead_label": "Gave up after 1 attempt",
                "happened_local": "22 Nov 2026, 11:15:00 CET",  # 10:15:00Z in Stockholm
                "customer_name": "Anna Svensson",
                "email": "anna@example.se",
                "dead_answer": sms["attempt_log"][0]["detail"],
                "email_message_id": mail["id"],
                "email_subject": mail["subject"],
                "email_text": mail["text"],
                "tracking_url": TRACKING_URL,
                "tracking_words": "Följ ditt paket",  # the link's words, Swedish
                "shop_url": harness.SHOP["url"],
            },
            "xss": {"order_id": "1043", "payload": XSS_NAME},
            "reload_flag": os.path.join(self.tmp, "password-changed"),
        }
        self.reload_flag = plan["reload_flag"]
        plan_path = os.path.join(self.tmp, "plan.json")
        with open(plan_path, "w", encoding="utf-8") as f:
            json.dump(plan, f, ensure_ascii=False)

        code, lines, report = self.run_browser(plan_path, tackd, sink)
        self.assertEqual(code, 0, report)
        self.assertIn("13 passed, 0 failed", lines, report)
        self.assertFalse([line for line in lines if line.startswith("not ok")], report)
        for name in ("search 1042: the timeline shows the exact SMS text",
                     'search "070-123 45 67": the orders to that phone',
                     "a customer name with markup is shown as text, never run",
                     "a form on another site cannot make tackd act for the signed-in person",
                     "Retry through the dialog: the dead SMS becomes sent",
                     "the stale window shows tackd's refusal (409) in the dialog",
                     "a phone-width screen (375 px) scrolls only vertically",
                     "a http://user:password@host/ address opens the page and the order",
                     "a password changed meanwhile: the page says to log in again"):
            self.assertTrue(any(line.startswith("ok - " + name) for line in lines),
                            "%r did not pass\n%s" % (name, report))

        # What the page showed is what tackd did: the retry is in the
        # delivery log, by the page's user, and the SMS went out on it.
        after = self.wait_for_messages("1042", ("sent",), channel="sms")[0]
        self.assertEqual(after["id"], sms["id"])
        self.assertEqual([a["outcome"] for a in after["attempt_log"]], ["retry", "sent"])
        self.assertEqual([(a["action"], a["actor"]) for a in self.audit_of("1042", after["id"])],
                         [("retry", "http:" + USER)])
        requests = sink.requests()
        self.assertEqual(len(requests), 3, requests)  # 1042 (503), 1043, 1042 again
        self.assertEqual(requests[0]["headers"]["idempotency-key"],
                         requests[2]["headers"]["idempotency-key"])

        # The stale window's dialog showed the API's own 409 answer.
        shown = [json.loads(line[len("# 409 text: "):]) for line in lines
                 if line.startswith("# 409 text: ")]
        status, body = self.api("POST", "/v1/messages/%d/retry" % sms["id"], NEW_PASSWORD)
        self.assertEqual(status, 409, body)
        self.assertEqual(shown, [body["error"]])

        for shot in ("order-1280.png", "orders-1280.png", "order-375.png", "orders-375.png"):
            with open(os.path.join(plan["out_dir"], shot), "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n", shot)
        self.stop_tackd(tackd)

    # ---- the walk: every state in English and Swedish ------------------------

    def order_api(self, order_id):
        status, body = self.api("GET", "/v1/orders/" + order_id, PASSWORD)
        return body if status == 200 else None

    def wait_order(self, order_id, predicate, what):
        """Waits until the API's order answer satisfies predicate(messages
        by (rule, channel)); returns that map."""
        seen = {}

        def check():
            order = self.order_api(order_id)
            if not order:
                return None
            seen.clear()
            seen.update({(m["rule"], m["channel"]): m for m in order["messages"]})
            return dict(seen) if predicate(seen) else None

        return self.wait_for(check, lambda: "%s; the order has %s" % (
            what, {k: v["state"] for k, v in seen.items()}))

    def test_a_support_agent_reads_every_state_in_english_and_swedish(self):
        # The provider takes the first SMS, refuses the second for good
        # (400), and answers the third "later" (503): that one waits an hour
        # for its retry, and support holds it.
        sink = self.start_http_sink([{"status": 200}, {"status": 400, "body": "invalid destination"},
                                     {"status": 503, "body": "busy"}])
        rules = [
            {"name": "placed", "on": "placed", "template": "placed", "channels": ["sms"],
             "fallback": "email"},
            {"name": "packed", "on": "packed", "template": "packed", "channels": ["sms"],
             "fallback": "email"},
            {"name": "shipped", "on": "shipped", "template": "shipped", "channels": ["sms", "email"]},
            {"name": "out_for_delivery", "on": "out_for_delivery", "template": "out_for_delivery",
             "channels": ["sms"], "fallback": "email"},
        ]
        retry = {"max_attempts": 5, "initial_backoff": "1h", "max_backoff": "1h", "max_age": "3h"}

        def config(users):
            return self.make_config(
                [self.http_gateway(sink.url), self.file_gateway("mail_file")], sms=["sms"],
                email=["mail_file"], rules=rules, retry=retry,
                http={"listen": "127.0.0.1:0", "users": users})

        users = [{"name": USER, "password_hash": password_hash(PASSWORD)}]
        self.write_config(config(users))
        tackd = self.start_tackd()
        port = self.wait_for(lambda: listening_port(tackd.stderr()),
                             "tackd to log the port of its HTTP listener")
        self.base_url = "http://127.0.0.1:%d" % port
        order_id = "3001"
        key = lambda rule, channel: (rule, channel)  # noqa: E731

        # placed: the SMS goes out, so its e-mail fallback is not needed.
        self.emit([event("evt-3001-placed", order_id, "placed", locale="en-GB",
                         occurred_at="2026-11-22T09:00:00Z")])
        self.wait_order(order_id, lambda m: m.get(key("placed", "sms"), {}).get("state") == "sent" and
                        m.get(key("placed", "email"), {}).get("state") == "not_needed",
                        "the placed SMS sent, its fallback not needed")
        # packed: the provider refuses the SMS, the e-mail fallback goes.
        self.emit([event("evt-3001-packed", order_id, "packed", locale="en-GB",
                         occurred_at="2026-11-22T09:30:00Z")])
        self.wait_order(order_id, lambda m: m.get(key("packed", "sms"), {}).get("state") == "failed" and
                        m.get(key("packed", "email"), {}).get("state") == "sent",
                        "the packed SMS refused by the provider, its fallback sent")
        # shipped, to a fixed line: tack refuses the SMS itself.
        self.emit([event("evt-3001-shipped", order_id, "shipped", locale="en-GB", phone=FIXED_LINE,
                         occurred_at="2026-11-22T10:15:00Z")])
        found = self.wait_order(
            order_id, lambda m: m.get(key("shipped", "sms"), {}).get("state") == "failed" and
            m.get(key("shipped", "email"), {}).get("state") == "sent",
            "the shipped SMS refused by tack, the e-mail sent")
        refused = found[key("shipped", "sms")]
        self.assertEqual(refused["attempt_log"], [])
        self.assertTrue(refused["refused_by_tack"], refused)
        # out for delivery: the SMS waits for a retry; support holds it, and
        # its e-mail fallback stands by.
        self.emit([event("evt-3001-ofd", order_id, "out_for_delivery", locale="en-GB",
                         occurred_at="2026-11-22T11:00:00Z")])
        found = self.wait_order(order_id, lambda m: m.get(key("out_for_delivery", "sms"), {}).get(
            "state") == "retry_wait", "the out-for-delivery SMS waiting for a retry")
        held_id = found[key("out_for_delivery", "sms")]["id"]
        status, body = self.api("POST", "/v1/messages/%d/hold" % held_id, PASSWORD)
        self.assertEqual(status, 200, body)
        # A second parcel of the same order, reported late.
        second = event("evt-3001-shipped-b", order_id, "shipped", locale="en-GB", phone=FIXED_LINE,
                       occurred_at="2026-11-22T10:20:00Z")
        second["delivery"]["tracking_url"] = "https://tracking.example/3001-B"
        self.emit([second])
        self.wait_for_event(order_id, "evt-3001-shipped-b")
        found = self.wait_order(
            order_id, lambda m: m.get(key("out_for_delivery", "sms"), {}).get("state") == "held" and
            m.get(key("out_for_delivery", "email"), {}).get("state") == "standby",
            "the SMS held, its fallback standing by")
        ids = {name: found[k]["id"] for name, k in (
            ("sent_sms", key("placed", "sms")), ("not_needed_email", key("placed", "email")),
            ("failed_sms", key("packed", "sms")), ("fallback_email", key("packed", "email")),
            ("refused_sms", key("shipped", "sms")), ("shipped_email", key("shipped", "email")),
            ("held_sms", key("out_for_delivery", "sms")),
            ("standby_email", key("out_for_delivery", "email")))}

        plan = {
            "mode": "walk",
            "base_url": self.base_url,
            "user": USER,
            "password": PASSWORD,
            "chromium": CHROMIUM,
            "out_dir": artefacts_dir("walk"),
            "wait_ms": int(harness.WAIT * 1000),
            "timezone": "America/New_York",
            "dejavu": dejavu_ranges(),
            "order": {"id": order_id, "messages": ids, "customer_name": "Anna Svensson",
                      "phone": PHONE_E164, "email": "anna@example.se",
                      "refused_reason": refused["last_error"],
                      # 10:15:00Z in Stockholm, whatever the browser's zone
                      "shipped_local": "22 Nov 2026, 11:15:00 CET"},
            "reload_flag": os.path.join(self.tmp, "users-removed"),
        }
        self.reload_flag = plan["reload_flag"]
        plan_path = os.path.join(self.tmp, "walk.json")
        with open(plan_path, "w", encoding="utf-8") as f:
            json.dump(plan, f, ensure_ascii=False)
        # Last, the script asks for a tackd without support users.
        self.next_config = config([])
        code, lines, report = self.run_browser(plan_path, tackd, sink)
        self.assertEqual(code, 0, report)
        self.assertFalse([line for line in lines if line.startswith("not ok")], report)
        self.assertIn("12 passed, 0 failed", lines, report)
        for name in ("English: every message says what happened",
                     "English: the order head sums up",
                     "English: the actions offered are those that can succeed",
                     "English: name, times in the shop's zone",
                     "the page's words use only characters Debian's default font draws",
                     "Svenska: the switch turns the page Swedish",
                     "a Swedish browser opens in Swedish, a Polish one in Polish",
                     "the support actions: a note, a resend and a contact correction",
                     "no support users configured: the page says so"):
            self.assertTrue(any(line.startswith("ok - " + name) for line in lines),
                            "%r did not pass\n%s" % (name, report))
        for shot in ("walk-en-1280.png", "walk-sv-1280.png", "walk-en-375.png", "walk-sv-375.png"):
            with open(os.path.join(plan["out_dir"], shot), "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n", shot)

        # Without users, tackd says so in its 401 (the page words it).
        status, body = self.api("GET", "/v1/orders/" + order_id, PASSWORD)
        self.assertEqual(status, 401, body)
        self.assertEqual(body["code"], "no_users", body)
        self.stop_tackd(tackd)

    # ---- time: planned, skipped and cancelled messages (issue 16) -----------

    def test_support_sees_when_a_planned_message_goes_and_why_and_sends_it_now(self):
        sink = self.start_http_sink()
        rules = [
            # A promise watch: not shipped 48 h after paid. The order ships.
            {"name": "not_shipped", "on": "paid", "after": "48h", "unless": ["shipped"],
             "template": "packed", "channels": ["sms"]},
            # The follow-up: three days after delivery, at 10:00.
            {"name": "follow_up", "on": "delivered", "after": "3d", "at": "10:00",
             "unless": ["returned"], "template": "delivered", "channels": ["email"]},
            # An offer at once, but the customer gave no marketing consent.
            {"name": "offer", "on": "delivered", "purpose": "marketing", "template": "delivered",
             "channels": ["sms"]},
            # At once, but SMS wait for the end of quiet hours.
            {"name": "out_for_delivery", "on": "out_for_delivery", "template": "out_for_delivery",
             "channels": ["sms"]},
        ]
        users = [{"name": USER, "password_hash": password_hash(PASSWORD)}]
        mail_path = os.path.join(self.tmp, "mail_file.jsonl")
        config = self.make_config(
            [self.http_gateway(sink.url), self.file_gateway("mail_file", mail_path)],
            sms=["sms"], email=["mail_file"], rules=rules,
            http={"listen": "127.0.0.1:0", "users": users})
        # SMS may go only in an hour starting two hours from now (Stockholm).
        stockholm = zoneinfo.ZoneInfo("Europe/Stockholm")
        opens = datetime.datetime.now(stockholm) + datetime.timedelta(hours=2)
        window = "%s-%s" % (opens.strftime("%H:%M"),
                            (opens + datetime.timedelta(hours=1)).strftime("%H:%M"))
        config["quiet_hours"] = {"allowed": window, "countries": {"SE": window}}
        self.write_config(config)
        tackd = self.start_tackd()
        port = self.wait_for(lambda: listening_port(tackd.stderr()),
                             "tackd to log the port of its HTTP listener")
        self.base_url = "http://127.0.0.1:%d" % port
        order_id = "4001"
        now = time.time()

        def at(seconds_ago):
            return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - seconds_ago))

        self.emit([event("evt-4001-paid", order_id, "paid", locale="en-GB", occurred_at=at(7200))])
        self.wait_order(order_id, lambda m: m.get(("not_shipped", "sms"), {}).get("state") == "scheduled",
                        "the promise watch scheduled")
        self.emit([event("evt-4001-shipped", order_id, "shipped", locale="en-GB",
                         occurred_at=at(3600))])
        self.emit([event("evt-4001-delivered", order_id, "delivered", locale="en-GB",
                         occurred_at=at(60))])
        found = self.wait_order(
            order_id, lambda m: m.get(("not_shipped", "sms"), {}).get("state") == "cancelled" and
            m.get(("follow_up", "email"), {}).get("state") == "scheduled" and
            m.get(("offer", "sms"), {}).get("state") == "skipped",
            "the watch cancelled, the follow-up scheduled, the offer skipped")
        follow_up = found[("follow_up", "email")]
        skipped = found[("offer", "sms")]
        cancelled = found[("not_shipped", "sms")]
        self.assertEqual(follow_up["text"], "")
        self.assertEqual(cancelled["note"], "cancelled: order shipped (event evt-4001-shipped)")
        self.assertEqual(skipped["note"], "skipped: no marketing consent for sms")

        def local_short(iso_time):
            """When it goes, as the shop's clock in Stockholm reads it, and
            as the page writes it: "Tue 8 Dec 10:00 CET"."""
            due = datetime.datetime.fromisoformat(iso_time.replace("Z", "+00:00"))
            local = due.astimezone(stockholm)
            this_year = datetime.datetime.now(stockholm).year
            return local, "%s %d %s%s %s %s" % (
                local.strftime("%a"), local.day, local.strftime("%b"),
                "" if local.year == this_year else " %d" % local.year,
                local.strftime("%H:%M"), local.tzname())

        local, due_local = local_short(follow_up["next_attempt_at"])
        self.assertEqual((local.hour, local.minute), (10, 0), follow_up)

        # Order 4002: its SMS is written now and held for quiet hours.
        self.emit([event("evt-4002-ofd", "4002", "out_for_delivery", locale="en-GB",
                         phone="+46701234568", email="bo@example.se", occurred_at=at(30))])
        [held] = self.wait_for_messages("4002", ("scheduled",), channel="sms")
        self.assertTrue(held["note"].startswith("held: quiet hours until " + window[:5]), held)
        self.assertNotEqual(held["text"], "")
        held_local, held_due_local = local_short(held["next_attempt_at"])
        self.assertEqual(held_local.strftime("%H:%M"), window[:5])

        plan = {
            "mode": "time",
            "base_url": self.base_url,
            "user": USER,
            "password": PASSWORD,
            "chromium": CHROMIUM,
            "out_dir": artefacts_dir("time"),
            "wait_ms": int(harness.WAIT * 1000),
            "timezone": "America/New_York",
            "dejavu": dejavu_ranges(),
            "order": {"id": order_id, "email": "anna@example.se",
                      "messages": {"follow_up": follow_up["id"], "skipped": skipped["id"],
                                   "cancelled": cancelled["id"]},
                      "due_local": due_local, "due_hhmm": "10:00",
                      "follow_up_note": follow_up["note"], "skipped_note": skipped["note"],
                      "cancelled_note": cancelled["note"]},
            "quiet": {"id": "4002", "message": held["id"], "note": held["note"], "text": held["text"],
                      "due_local": held_due_local},
        }
        plan_path = os.path.join(self.tmp, "time.json")
        with open(plan_path, "w", encoding="utf-8") as f:
            json.dump(plan, f, ensure_ascii=False)
        code, lines, report = self.run_browser(plan_path, tackd, sink)
        self.assertEqual(code, 0, report)
        self.assertFalse([line for line in lines if line.startswith("not ok")], report)
        self.assertIn("10 passed, 0 failed", lines, report)
        for name in ("a planned follow-up says when it goes out, why, and that it is written then",
                     "the order head names the planned follow-up and its time",
                     'a skipped marketing SMS: its own neutral colour, "Skipped" and the reason',
                     "a cancelled promise watch says why it was cancelled",
                     "Swedish and Polish: the same times and reasons in their words",
                     "Send now through the dialog: the follow-up is written and goes out",
                     "an SMS held for quiet hours: written, with when it goes and why"):
            self.assertTrue(any(line.startswith("ok - " + name) for line in lines),
                            "%r did not pass\n%s" % (name, report))
        for shot in ("time-en-1280.png", "time-sv-1280.png", "time-en-375.png"):
            with open(os.path.join(plan["out_dir"], shot), "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n", shot)

        # What the page showed is what tackd did: the follow-up went out
        # once, through the file gateway, on anna's word; nothing else went.
        sent = self.wait_for_messages(order_id, ("sent",), channel="email")[0]
        self.assertEqual(sent["id"], follow_up["id"])
        self.assertEqual([(a["action"], a["actor"]) for a in self.audit_of(order_id, sent["id"])],
                         [("send-now", "http:" + USER)])
        written = harness.read_json_lines(mail_path)
        self.assertEqual([w["to"] for w in written], ["anna@example.se"], written)
        # The page showed the subject as written when it went.
        shown = [json.loads(line[len("# sent subject: "):]) for line in lines
                 if line.startswith("# sent subject: ")]
        self.assertEqual(shown, [written[0]["subject"]], report)
        self.assertNotEqual(written[0]["text"], "")
        self.assertEqual(sink.requests(), [])  # skipped, cancelled, held
        self.assertEqual(self.messages("4002")[0]["state"], "scheduled")
        self.assertEqual({m["rule"]: m["state"] for m in self.messages(order_id)},
                         {"not_shipped": "cancelled", "follow_up": "sent", "offer": "skipped"})
        self.stop_tackd(tackd)

    # ---- delivery receipts (issue 17) ----------------------------------------

    def test_support_reads_what_the_provider_reported_after_the_send(self):
        # A 46elks gateway against a fake (the sink answers {"id": "msg-N"}):
        # the placed SMS is delivered, the packed one undelivered, and the
        # packed rule's e-mail fallback goes instead.
        sink = self.start_http_sink()
        token = "receipt-token-for-the-page-test"
        harness.register_secret(token)
        elks = {"name": "sms", "type": "46elks", "url": sink.url + "/a1", "username": "u0123",
                "password": "elks-password-0123", "from": "Exempel", "receipt_token": token,
                "connect_timeout": "2s", "timeout": "5s"}
        harness.register_secret("elks-password-0123")
        rules = [
            {"name": "placed", "on": "placed", "template": "placed", "channels": ["sms"]},
            {"name": "packed", "on": "packed", "template": "packed", "channels": ["sms"],
             "fallback": "email"},
        ]
        users = [{"name": USER, "password_hash": password_hash(PASSWORD)}]

        def write(port):
            self.base_url = "http://127.0.0.1:%d" % port
            return self.write_config(self.make_config(
                [elks, self.file_gateway("mail_file")], sms=["sms"], email=["mail_file"],
                rules=rules, http={"listen": "127.0.0.1:%d" % port, "public_url": self.base_url,
                                   "users": users}))
        tackd, _ = self.start_tackd_on_chosen_port(write)
        config_path = tackd.config_path
        order_id = "5001"
        self.emit([event("evt-5001-placed", order_id, "placed", locale="en-GB")])
        found = self.wait_order(order_id, lambda m: m.get(("placed", "sms"), {}).get("state") ==
                                "sent", "the placed SMS sent")
        delivered_id = found[("placed", "sms")]["id"]
        self.emit([event("evt-5001-packed", order_id, "packed", locale="en-GB")])
        found = self.wait_order(order_id, lambda m: m.get(("packed", "sms"), {}).get("state") ==
                                "sent", "the packed SMS sent")
        undelivered_id = found[("packed", "sms")]["id"]
        provider = {m["id"]: m["provider_id"] for m in found.values() if m["channel"] == "sms"}

        def receipt(message_id, fields):
            body = urllib.parse.urlencode(dict(fields, id=provider[message_id])).encode()
            request = urllib.request.Request(self.base_url + "/v1/receipts/sms", data=body,
                                             method="POST")
            request.add_header("Authorization", "Basic " + base64.b64encode(
                ("tack:" + token).encode()).decode())
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
            with urllib.request.urlopen(request, timeout=harness.WAIT) as response:
                return response.status

        self.assertEqual(receipt(delivered_id, {"status": "sent"}), 200)
        self.assertEqual(receipt(delivered_id, {"status": "delivered",
                                                "delivered": "2026-12-05T09:02:14.000000"}), 200)
        self.assertEqual(receipt(undelivered_id, {"status": "failed"}), 200)
        found = self.wait_order(
            order_id, lambda m: m.get(("placed", "sms"), {}).get("state") == "delivered" and
            m.get(("packed", "sms"), {}).get("state") == "undelivered" and
            m.get(("packed", "email"), {}).get("state") == "sent",
            "one SMS delivered, one undelivered and its fallback e-mail sent")

        # tackd log prints the same timeline.
        log = self.tackd_cli("log", "--config", config_path, "--order", order_id, check=0).stdout
        self.assertRegex(log, r"delivery: accepted by sms [^\n]* → on its way \(sent\) [^\n]* → "
                              r"delivered to the phone 2026-12-05 10:02:14 CET")
        self.assertRegex(log, r"delivery: accepted by sms [^\n]* → not delivered [^\n]*\(failed\)")

        plan = {
            "mode": "receipts",
            "base_url": self.base_url,
            "user": USER,
            "password": PASSWORD,
            "chromium": CHROMIUM,
            "out_dir": artefacts_dir("receipts"),
            "wait_ms": int(harness.WAIT * 1000),
            "timezone": "Europe/Stockholm",
            "dejavu": dejavu_ranges(),
            "order": {"id": order_id,
                      "messages": {"delivered": delivered_id, "undelivered": undelivered_id,
                                   "fallback": found[("packed", "email")]["id"]}},
        }
        plan_path = os.path.join(self.tmp, "receipts.json")
        with open(plan_path, "w", encoding="utf-8") as f:
            json.dump(plan, f, ensure_ascii=False)
        code, lines, report = self.run_browser(plan_path, tackd, sink)
        self.assertEqual(code, 0, report)
        self.assertFalse([line for line in lines if line.startswith("not ok")], report)
        self.assertIn("4 passed, 0 failed", lines, report)
        self.stop_tackd(tackd)


def dejavu_ranges():
    """The code points DejaVu Sans (Debian's fonts-dejavu) can draw, as
    [first, last] pairs, from fontconfig."""
    p = subprocess.run(["fc-list", "--format", "%{charset}\n", "DejaVu Sans:style=Book"],
                       capture_output=True, text=True, check=True, timeout=30)
    line = p.stdout.strip().splitlines()[0]
    ranges = []
    for part in line.split():
        first, _, last = part.partition("-")
        ranges.append([int(first, 16), int(last or first, 16)])
    return ranges


if __name__ == "__main__":
    unittest.main()
