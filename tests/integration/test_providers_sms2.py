"""SMSAPI and Sinch (gateway types `smsapi`, `sinch`) end to end against fakes
written from the providers' public documentation.

Each fake is an HTTP server on 127.0.0.1 that asserts the exact request its
provider documents (path, Bearer token, fields, encoding), answers with the
provider's documented bodies (SMSAPI: HTTP 200 with {"error": N} inside;
Sinch: 201 with the batch), and calls tackd's receipt route the way the
provider does (SMSAPI: GET on the notify_url with MsgId/status/...; Sinch:
a JSON POST of a recipient delivery report to the callback_url), with the
Basic credentials the callback URL carries. Neither provider signs its
callbacks, so forged means wrong or missing credentials.

tackd listens on a port chosen before it starts, so that http.public_url
(the base of the callback URLs) can name it."""

import base64
import http.client
import json
import re
import time
import unittest
import urllib.parse

import harness
from harness import event
from test_api import ApiTestCase

SMSAPI_TOKEN = "smsapi-oauth-" + "5e1f" * 6
SINCH_TOKEN = "sinch-api-token-" + "a9c3" * 6
SINCH_PLAN = "f3b1a2c4d5e6"
RECEIPT_TOKEN = "receipt-" + "77ab" * 6
FAST_RETRY = {"max_attempts": 3, "initial_backoff": "100ms", "max_backoff": "300ms",
              "max_age": "1h"}
RULES = [
    {"name": "packed", "on": "packed", "template": "packed", "channels": ["sms"],
     "fallback": "email"},
]


def split_credentials(url):
    """A callback URL with user:password@ -> (URL without them, Basic header)."""
    parts = urllib.parse.urlsplit(url)
    user = urllib.parse.unquote(parts.username or "")
    password = urllib.parse.unquote(parts.password or "")
    netloc = parts.hostname + (":%d" % parts.port if parts.port else "")
    bare = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    header = "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    return bare, header


def call(url, method="GET", body=None, authorization=None, content_type=None):
    """One request to tackd; (status, body text)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    headers = {}
    if authorization:
        headers["Authorization"] = authorization
    if content_type:
        headers["Content-Type"] = content_type
    target = parts.path + ("?" + parts.query if parts.query else "")
    try:
        conn.request(method, target, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read().decode("utf-8", "replace")
    finally:
        conn.close()


class FakeProvider(harness.FakeHttpServer):
    """A provider's API; subclasses answer in handle(request)."""

    def __init__(self):
        self.problems = []  # what the fake found wrong in tack's requests
        self.callbacks = []  # (status, body) tackd answered the fake's own callbacks
        super().__init__()

    def answer(self, request):
        return self.handle(request)

    def problem(self, text):
        with self.lock:
            self.problems.append(text)


class FakeSmsapi(FakeProvider):
    """SMSAPI's POST /sms.do (legacy endpoint, format=json)."""

    def __init__(self):
        super().__init__()
        self.ids = {}  # number (without +) -> MsgId given
        self.errors = {}  # number -> (error code, message): answered with HTTP 200
        self.callback_first = set()  # numbers whose report goes out before the answer
        self.next_id = 7074294081650020000

    def handle(self, request):
        h = request["headers"]
        if request["path"] != "/sms.do":
            self.problem("path %r" % request["path"])
        if h.get("authorization") != "Bearer " + SMSAPI_TOKEN:
            self.problem("authorization %r" % h.get("authorization"))
            return 200, {}, {"error": 101, "message": "Authorization failed"}
        if h.get("content-type") != "application/x-www-form-urlencoded":
            self.problem("content-type %r" % h.get("content-type"))
        text = request["body"].decode("ascii")  # a form is ASCII: UTF-8 is %-encoded
        form = dict(urllib.parse.parse_qsl(text, keep_blank_values=True, strict_parsing=True,
                                           encoding="utf-8", errors="strict"))
        for key, want in (("format", "json"), ("encoding", "utf-8"), ("from", "Sklep"),
                          ("check_idx", "1")):
            if form.get(key) != want:
                self.problem("%s=%r" % (key, form.get(key)))
        if not re.fullmatch(r"[0-9]{8,15}", form.get("to", "")):
            self.problem("to=%r (SMSAPI takes digits, no +)" % form.get("to"))
        if not form.get("idx", "").startswith("tack-"):
            self.problem("idx=%r" % form.get("idx"))
        number = form.get("to", "")
        with self.lock:
            self.last_form = form
        if number in self.errors:
            code, message = self.errors[number]
            return 200, {"Content-Type": "application/json"}, {
                "invalid_numbers": [{"number": number, "submitted_number": number,
                                     "message": "Invalid phone number"}],
                "error": code, "message": message}
        with self.lock:
            self.next_id += 1
            msg_id = str(self.next_id)
            self.ids[number] = msg_id
        if number in self.callback_first:
            # The report outruns the answer: SMSAPI calls the notify_url, and
            # only then does the answer to the send reach tack.
            url, auth = split_credentials(form["notify_url"])
            query = urllib.parse.urlencode({
                "MsgId": msg_id, "status": "404", "status_name": "DELIVERED",
                "idx": form["idx"], "donedate": "1796464934", "to": number,
                "from": "Sklep", "username": "shop", "points": "0.16"})
            self.callbacks.append(call(url + "?" + query, authorization=auth))
            time.sleep(0.3)
        return 200, {"Content-Type": "application/json"}, {
            "count": 1,
            "list": [{"id": msg_id, "points": 0.16, "number": number,
                      "date_sent": 1796464930, "submitted_number": number,
                      "status": "QUEUE", "idx": form.get("idx")}]}


class FakeSinch(FakeProvider):
    """Sinch's POST /xms/v1/{service_plan_id}/batches."""

    def __init__(self):
        super().__init__()
        self.ids = {}
        self.callback_first = set()
        self.n = 0

    def handle(self, request):
        h = request["headers"]
        if request["path"] != "/xms/v1/%s/batches" % SINCH_PLAN:
            self.problem("path %r" % request["path"])
        if h.get("authorization") != "Bearer " + SINCH_TOKEN:
            self.problem("authorization %r" % h.get("authorization"))
            return 401, {"Content-Type": "application/json"}, {"code": "unauthorized",
                                                                "text": "bad token"}
        if h.get("content-type") != "application/json":
            self.problem("content-type %r" % h.get("content-type"))
        try:
            batch = json.loads(request["body"].decode("utf-8"))
        except ValueError as e:
            self.problem("body is not JSON: %s" % e)
            return 400, {}, {"code": "syntax_invalid_json", "text": str(e)}
        for key, want in (("from", "Butiken"), ("delivery_report", "per_recipient")):
            if batch.get(key) != want:
                self.problem("%s=%r" % (key, batch.get(key)))
        if not (isinstance(batch.get("to"), list) and len(batch["to"]) == 1):
            self.problem("to=%r" % batch.get("to"))
            return 400, {}, {"code": "syntax_constraint_violation", "text": "to"}
        if not str(batch.get("client_reference", "")).startswith("tack-"):
            self.problem("client_reference=%r" % batch.get("client_reference"))
        number = batch["to"][0]
        with self.lock:
            self.last_batch = batch
            self.n += 1
            batch_id = "01FC66621XXXXX119Z8PMV%04d" % self.n
            self.ids[number] = batch_id
        if number in self.callback_first:
            url, auth = split_credentials(batch["callback_url"])
            report = {"at": "2026-12-05T10:02:14.318Z", "batch_id": batch_id, "code": 0,
                      "recipient": number.lstrip("+"), "status": "Delivered",
                      "type": "recipient_delivery_report_sms",
                      "operator_status_at": "2026-12-05T10:02:11Z"}
            self.callbacks.append(call(url, "POST", json.dumps(report).encode(), auth,
                                       "application/json"))
            time.sleep(0.3)
        return 201, {"Content-Type": "application/json"}, {
            "id": batch_id, "to": [number.lstrip("+")], "from": batch.get("from"),
            "canceled": False, "body": batch.get("body"), "type": "mt_text",
            "created_at": "2026-12-05T10:02:10.000Z", "modified_at": "2026-12-05T10:02:10.000Z",
            "delivery_report": batch.get("delivery_report"),
            "expire_at": "2026-12-08T10:02:10.000Z", "flash_message": False}


class ProviderTestCase(ApiTestCase):
    def start_provider(self, fake, gateway):
        """Starts tackd with `gateway` (its url the fake's) for SMS and a file
        gateway for e-mail, listening where http.public_url says."""
        self.fake = fake
        self.addCleanup(fake.stop)
        # The callback password must never show in what tack prints.
        harness.register_secret(RECEIPT_TOKEN)
        self.mail_path = self.tmp + "/mail.jsonl"
        gateway.update({"url": fake.url, "receipt_token": RECEIPT_TOKEN, "receipt_wait": "1m",
                        "connect_timeout": "2s", "timeout": "5s"})
        gateways = [gateway, {"name": "mail", "type": "file", "path": self.mail_path}]
        self.start_api(public_url=True, gateways=gateways, sms=[gateway["name"]], email=["mail"],
                       retry=FAST_RETRY, rules=RULES)

    def metric(self, gateway, result):
        text = self.get("/metrics", user=None).body.decode()
        m = re.search(r'^tack_receipts_total\{gateway="%s",result="%s"\} (\d+)' % (
            gateway, result), text, re.M)
        return int(m.group(1)) if m else 0

    def assertNoProblems(self):
        self.assertEqual(self.fake.problems, [], "the fake found tack's request wrong")

    def sms_of(self, order, states):
        [m] = self.wait_for_messages(order, states, channel="sms")
        return m


class SmsapiTest(ProviderTestCase):
    def setUp(self):
        super().setUp()
        self.start_provider(FakeSmsapi(), {"name": "smsapi", "type": "smsapi",
                                           "token": SMSAPI_TOKEN, "from": "Sklep"})

    def report(self, msg_id, status, name, auth=("tack", RECEIPT_TOKEN)):
        query = urllib.parse.urlencode({"MsgId": msg_id, "status": status, "status_name": name,
                                        "idx": "x", "donedate": "1796464934",
                                        "username": "shop", "points": "0.16"})
        header = None
        if auth is not None:
            header = "Basic " + base64.b64encode(("%s:%s" % auth).encode()).decode()
        return call(self.base + "/v1/receipts/smsapi?" + query, authorization=header)

    def test_sent_then_delivered_and_forged_or_unknown_reports_refused(self):
        self.emit([event("sa-1", "4101", "packed", locale="pl-PL", phone="+48500600701")])
        sms = self.sms_of("4101", ("sent",))
        self.assertNoProblems()
        form = self.fake.last_form
        # The Polish text arrived whole, as UTF-8 (ó, ż), and the number without +.
        self.assertEqual(form["to"], "48500600701")
        self.assertIn("Zamówienie nr 4101 jest już spakowane", form["message"])
        self.assertEqual(form["idx"], sms["idempotency_key"])
        self.assertEqual(form["notify_url"], "http://tack:%s@127.0.0.1:%s/v1/receipts/smsapi" % (
            RECEIPT_TOKEN, self.base.rsplit(":", 1)[1]))
        msg_id = self.fake.ids["48500600701"]
        self.assertEqual(sms["provider_id"], msg_id)

        # Forged (wrong password), unsigned (none) and unknown reports change nothing.
        self.assertEqual(self.report(msg_id, "404", "DELIVERED", ("tack", "guess"))[0], 403)
        self.assertEqual(self.report(msg_id, "404", "DELIVERED", None)[0], 401)
        self.assertEqual(self.report("999999", "404", "DELIVERED")[0], 404)
        self.assertEqual(self.report(msg_id, "not-a-status", "DELIVERED")[0], 400)
        self.assertEqual(self.sms_of("4101", ("sent",))["state"], "sent")

        # SMSAPI's own report: "OK" back, and the message is delivered.
        self.assertEqual(self.report(msg_id, "403", "SENT"), (200, "OK"))
        self.assertEqual(self.report(msg_id, "404", "DELIVERED"), (200, "OK"))
        self.sms_of("4101", ("delivered",))
        # SMSAPI repeats a report it thinks went unanswered: still OK, nothing changes.
        self.assertEqual(self.report(msg_id, "404", "DELIVERED"), (200, "OK"))
        delivered = self.sms_of("4101", ("delivered",))
        # The timeline: the progress report, then the delivery, each once.
        self.assertEqual([r["kind"] for r in delivered["receipts"]], ["progress", "delivered"])
        self.assertTrue(all(r["gateway"] == "smsapi" for r in delivered["receipts"]))

        self.assertGreaterEqual(self.metric("smsapi", "refused"), 3)
        self.assertGreaterEqual(self.metric("smsapi", "unknown"), 1)
        self.assertGreaterEqual(self.metric("smsapi", "applied"), 1)
        self.assertGreaterEqual(self.metric("smsapi", "repeated"), 1)

    def test_undelivered_releases_the_fallback_email(self):
        self.emit([event("sa-2", "4102", "packed", locale="pl-PL", phone="+48500600702")])
        sms = self.sms_of("4102", ("sent",))
        # The e-mail stands by while the receipt may still come (receipt_wait).
        [standby] = self.messages("4102", channel="email")
        self.assertNotIn(standby["state"], ("sent", "not_needed"))
        self.assertEqual(self.report(sms["provider_id"], "405", "UNDELIVERED"), (200, "OK"))
        self.sms_of("4102", ("undelivered",))
        [mail] = self.wait_for_messages("4102", ("sent",), channel="email")
        self.assertEqual(mail["fallback_for"], sms["id"])

    def test_a_report_before_the_answer_ends_delivered(self):
        self.fake.callback_first.add("48500600703")
        self.emit([event("sa-3", "4103", "packed", locale="pl-PL", phone="+48500600703")])
        self.sms_of("4103", ("delivered",))
        self.assertEqual(self.fake.callbacks, [(200, "OK")])
        self.assertNoProblems()

    def test_an_error_inside_a_200_is_classified_by_its_code(self):
        self.fake.errors["48500600704"] = (13, "No correct phone numbers")
        self.emit([event("sa-4", "4104", "packed", locale="pl-PL", phone="+48500600704")])
        sms = self.sms_of("4104", ("failed",))
        self.assertIn("No correct phone numbers", sms["last_error"])
        self.assertEqual([a["outcome"] for a in sms["attempt_log"]], ["rejected"])
        # A rejected SMS brings the rule's e-mail.
        self.wait_for_messages("4104", ("sent",), channel="email")

    def test_a_reply_is_taken_on_the_inbound_route(self):
        form = urllib.parse.urlencode({"sms_to": "48500000000", "sms_from": "48500600705",
                                       "sms_text": "Dziękuję", "sms_date": "1796464934",
                                       "username": "shop", "MsgId": "1"})
        auth = "Basic " + base64.b64encode(("tack:" + RECEIPT_TOKEN).encode()).decode()
        self.assertEqual(call(self.base + "/v1/inbound/smsapi", "POST", form.encode(), auth,
                              "application/x-www-form-urlencoded"), (200, "OK"))
        self.assertEqual(call(self.base + "/v1/inbound/smsapi", "POST", form.encode(), None,
                              "application/x-www-form-urlencoded")[0], 401)


class SinchTest(ProviderTestCase):
    def setUp(self):
        super().setUp()
        self.start_provider(FakeSinch(), {"name": "sinch", "type": "sinch",
                                          "service_plan_id": SINCH_PLAN, "token": SINCH_TOKEN,
                                          "from": "Butiken"})

    def report(self, batch_id, status, code=0, auth=("tack", RECEIPT_TOKEN), body=None):
        report = {"at": "2026-12-05T10:02:14.318Z", "batch_id": batch_id, "code": code,
                  "recipient": "46701234567", "status": status,
                  "type": "recipient_delivery_report_sms",
                  "operator_status_at": "2026-12-05T10:02:11Z"}
        header = None
        if auth is not None:
            header = "Basic " + base64.b64encode(("%s:%s" % auth).encode()).decode()
        data = body if body is not None else json.dumps(report).encode()
        return call(self.base + "/v1/receipts/sinch", "POST", data, header, "application/json")

    def test_sent_then_delivered_and_forged_or_unknown_reports_refused(self):
        self.emit([event("si-1", "4201", "packed", phone="+46701234561")])
        sms = self.sms_of("4201", ("sent",))
        self.assertNoProblems()
        batch = self.fake.last_batch
        self.assertEqual(batch["to"], ["+46701234561"])
        self.assertIn("Nu är din order 4201 packad", batch["body"])
        self.assertEqual(batch["client_reference"], sms["idempotency_key"])
        self.assertEqual(batch["callback_url"],
                         "http://tack:%s@127.0.0.1:%s/v1/receipts/sinch" % (
                             RECEIPT_TOKEN, self.base.rsplit(":", 1)[1]))
        batch_id = self.fake.ids["+46701234561"]
        self.assertEqual(sms["provider_id"], batch_id)

        self.assertEqual(self.report(batch_id, "Delivered", auth=("tack", "guess"))[0], 403)
        self.assertEqual(self.report(batch_id, "Delivered", auth=None)[0], 401)
        self.assertEqual(self.report("01NOSUCHBATCH", "Delivered")[0], 404)
        self.assertEqual(self.report(batch_id, "Delivered", body=b"{not json")[0], 400)
        self.assertEqual(self.sms_of("4201", ("sent",))["state"], "sent")

        self.assertEqual(self.report(batch_id, "Dispatched", 401)[0], 200)
        self.assertEqual(self.report(batch_id, "Delivered")[0], 200)
        self.sms_of("4201", ("delivered",))
        self.assertEqual(self.report(batch_id, "Delivered")[0], 200)  # Sinch retries
        delivered = self.sms_of("4201", ("delivered",))
        self.assertEqual([r["kind"] for r in delivered["receipts"]], ["progress", "delivered"])

        self.assertGreaterEqual(self.metric("sinch", "refused"), 3)
        self.assertGreaterEqual(self.metric("sinch", "unknown"), 1)
        self.assertGreaterEqual(self.metric("sinch", "applied"), 1)
        self.assertGreaterEqual(self.metric("sinch", "repeated"), 1)

    def test_undelivered_releases_the_fallback_email(self):
        self.emit([event("si-2", "4202", "packed", phone="+46701234562")])
        sms = self.sms_of("4202", ("sent",))
        self.assertEqual(self.report(sms["provider_id"], "Failed", 402)[0], 200)
        self.sms_of("4202", ("undelivered",))
        [mail] = self.wait_for_messages("4202", ("sent",), channel="email")
        self.assertEqual(mail["fallback_for"], sms["id"])

    def test_a_report_before_the_answer_ends_delivered(self):
        self.fake.callback_first.add("+46701234563")
        self.emit([event("si-3", "4203", "packed", phone="+46701234563")])
        self.sms_of("4203", ("delivered",))
        self.assertEqual([c[0] for c in self.fake.callbacks], [200])
        self.assertNoProblems()

    def test_a_reply_is_taken_on_the_inbound_route(self):
        mo = {"type": "mo_text", "id": "01FC6", "from": "46701234565", "to": "46700000000",
              "body": "Tack!", "received_at": "2026-12-05T10:02:14.000Z"}
        auth = "Basic " + base64.b64encode(("tack:" + RECEIPT_TOKEN).encode()).decode()
        self.assertEqual(call(self.base + "/v1/inbound/sinch", "POST", json.dumps(mo).encode(),
                              auth, "application/json")[0], 200)
        self.assertEqual(call(self.base + "/v1/inbound/sinch", "POST", json.dumps(mo).encode(),
                              None, "application/json")[0], 401)


if __name__ == "__main__":
    unittest.main()
