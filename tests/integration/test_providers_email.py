"""The e-mail providers (sendgrid, mailgun, postmark) end to end against fakes.

Each fake is an HTTP server on 127.0.0.1 (port 0, in a thread of this test)
written from the provider's public documentation: it asserts the exact
request tackd makes (path, auth, fields, encoding), answers with the
documented success or error body, and then posts the provider's documented
receipt callback to tackd's receipt route, signed as the provider signs it:
SendGrid's Signed Event Webhook (ECDSA P-256 over timestamp + body, signed
here with a key made by Python's cryptography), Mailgun's HMAC-SHA256 over
timestamp + token, Postmark's Basic credentials in the webhook URL.
Forged, replayed and unknown-id receipts are refused and counted on
/metrics; a receipt that comes before the send's answer ends delivered.
"""

import base64
import hashlib
import hmac
import http.client
import json
import re
import secrets
import time
import unittest
import urllib.parse

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

import harness
from harness import TackTestCase, event

EMAIL = "anna@example.se"
SHOP_FROM = harness.SHOP_FROM


class EmailProviderTestCase(TackTestCase):
    def start_fake(self, answer):
        fake = harness.FakeHttpServer(answer)
        self.addCleanup(fake.stop)
        return fake

    def start_with(self, gateway):
        """tackd with `gateway` as the e-mail channel and a listener for receipts."""
        for key in ("api_key", "server_token", "webhook_signing_key", "receipt_token"):
            if key in gateway:
                harness.register_secret(gateway[key])
        gateway.setdefault("connect_timeout", "2s")
        gateway.setdefault("timeout", "5s")
        config = self.make_config([gateway, self.file_gateway("sms_file")], sms=["sms_file"],
                                  email=[gateway["name"]],
                                  http={"listen": "127.0.0.1:0", "health_from": ["127.0.0.1"]})
        self.write_config(config)
        self.tackd = self.start_tackd()
        found = self.wait_for(lambda: re.search(r"http: listening on 127\.0\.0\.1:(\d+)",
                                                self.tackd.stderr()),
                              "tackd to log the port it listens on")
        self.port = int(found.group(1))

    def post(self, path, body, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            h = {"Content-Type": "application/json"}
            h.update(headers or {})
            conn.request("POST", path, body=body if isinstance(body, bytes) else body.encode(),
                         headers=h)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def receipts_counted(self, gateway):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", "/metrics")
            text = conn.getresponse().read().decode()
        finally:
            conn.close()
        counts = {}
        for line in text.splitlines():
            m = re.match(r'tack_receipts_total\{(.*)\} (\S+)$', line)
            if m and 'gateway="%s"' % gateway in m.group(1):
                result = re.search(r'result="([^"]+)"', m.group(1)).group(1)
                counts[result] = float(m.group(2))
        return counts

    def email_of(self, order, states):
        [m] = self.wait_for_messages(order, states, channel="email")
        return m

    def emit_order(self, order, email=EMAIL):
        # Polish: the subject and text carry ó, ł, ę (UTF-8 on the wire).
        self.emit([event("ev-" + order, order, "delivered", locale="pl-PL", phone=None,
                         email=email)])

    def assert_raw_utf8(self, message, body):
        """The provider got the Polish subject as UTF-8 bytes, not escapes."""
        self.assertIn("ł", message["subject"])
        self.assertIn(message["subject"].encode("utf-8"), body)


# ---- SendGrid ----------------------------------------------------------------

class SendgridTest(EmailProviderTestCase):
    def setUp(self):
        super().setUp()
        self.key = ec.generate_private_key(ec.SECP256R1())
        der = self.key.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
        self.verification_key = base64.b64encode(der).decode()

    def signed(self, body, timestamp=None, key=None):
        timestamp = str(int(time.time()) if timestamp is None else timestamp)
        signature = (key or self.key).sign((timestamp + body).encode(),
                                           ec.ECDSA(hashes.SHA256()))
        return {"X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
                "X-Twilio-Email-Event-Webhook-Timestamp": timestamp}

    def events(self, message_id, *names, email=EMAIL):
        now = int(time.time())
        out = []
        for i, name in enumerate(names):
            e = {"email": email, "timestamp": now + i, "event": name,
                 "sg_event_id": secrets.token_urlsafe(16),
                 "sg_message_id": message_id + ".filter0905p1mdw1-4434-59E0C6FF-3.0",
                 "smtp-id": "<%s@ismtpd0001p1lon1.sendgrid.net>" % message_id}
            if name == "bounce":
                e.update({"type": "bounce", "status": "5.1.1",
                          "reason": "550 5.1.1 The email account that you tried to reach does "
                                    "not exist."})
            if name == "delivered":
                e["response"] = "250 OK"
            out.append(e)
        return json.dumps(out)

    def test_sent_delivered_bounced_and_refused_receipts(self):
        ids = iter(["Ua9z9lSTSaqYBWJe_Xfc-Q", "W86EgYT6SQKk0lRflfLRsA"])

        def answer(request):
            return 202, {"X-Message-Id": next(ids)}, b""

        fake = self.start_fake(answer)
        self.start_with({"name": "sendgrid", "type": "sendgrid", "url": fake.url,
                         "api_key": "SG.fake-key.0123456789", "from": SHOP_FROM,
                         "verification_key": self.verification_key})
        self.emit_order("7001")
        message = self.email_of("7001", ("sent",))

        [request] = fake.requests
        self.assertEqual(request["path"], "/v3/mail/send")
        self.assertEqual(request["headers"]["authorization"], "Bearer SG.fake-key.0123456789")
        self.assertTrue(request["headers"]["content-type"].startswith("application/json"))
        body = json.loads(request["body"].decode("utf-8"))
        self.assertEqual(body["personalizations"], [{"to": [{"email": EMAIL}]}])
        self.assertEqual(body["from"], {"email": "kundservice@exempelbutiken.se",
                                        "name": "Exempelbutiken"})
        self.assertEqual(body["subject"], message["subject"])
        self.assertEqual(body["content"][0], {"type": "text/plain", "value": message["text"]})
        self.assertEqual(body["content"][1]["type"], "text/html")
        self.assertIn("<", body["content"][1]["value"])
        self.assertEqual(body["headers"]["X-Tack-Idempotency-Key"], message["idempotency_key"])
        self.assertEqual(body["custom_args"]["tack_idempotency_key"], message["idempotency_key"])
        self.assert_raw_utf8(message, request["body"])
        self.assertEqual(message["provider_id"], "Ua9z9lSTSaqYBWJe_Xfc-Q")

        # SendGrid posts processed and delivered in one batch, signed.
        path = "/v1/receipts/sendgrid"
        batch = self.events("Ua9z9lSTSaqYBWJe_Xfc-Q", "processed", "delivered", "open")
        status, _ = self.post(path, batch, self.signed(batch))
        self.assertEqual(status, 200)
        message = self.email_of("7001", ("delivered",))
        self.assertEqual(message["state"], "delivered")
        # The same batch again (SendGrid retries): taken, nothing changes.
        status, _ = self.post(path, batch, self.signed(batch))
        self.assertEqual(status, 200)
        # The timeline: processed, then delivered, once each; "open" is not a receipt.
        message = self.email_of("7001", ("delivered",))
        self.assertEqual([(r["kind"], r["status"]) for r in message["receipts"]],
                         [("progress", "processed"), ("delivered", "delivered")])

        # Refused: unsigned, forged (another key; a changed body), stale (a replay
        # of an old post), and an id tack never sent.
        self.assertEqual(self.post(path, batch)[0], 401)
        other = ec.generate_private_key(ec.SECP256R1())
        self.assertEqual(self.post(path, batch, self.signed(batch, key=other))[0], 403)
        headers = self.signed(batch)
        self.assertEqual(self.post(path, batch + " ", headers)[0], 403)
        self.assertEqual(self.post(path, batch, self.signed(batch, int(time.time()) - 3600))[0],
                         401)
        unknown = self.events("NeverSentById12345678", "delivered")
        self.assertEqual(self.post(path, unknown, self.signed(unknown))[0], 404)
        self.assertEqual(self.post(path, "[{]", self.signed("[{]"))[0], 400)

        # A hard bounce on the next message.
        self.emit_order("7002", email="bo@example.se")
        second = self.email_of("7002", ("sent",))
        self.assertEqual(second["provider_id"], "W86EgYT6SQKk0lRflfLRsA")
        bounce = self.events("W86EgYT6SQKk0lRflfLRsA", "processed", "bounce",
                             email="bo@example.se")
        self.assertEqual(self.post(path, bounce, self.signed(bounce))[0], 200)
        second = self.email_of("7002", ("bounced",))
        self.assertEqual(second["state"], "bounced")
        self.assertEqual(second["receipts"][-1]["kind"], "bounced")

        counts = self.receipts_counted("sendgrid")
        self.assertGreaterEqual(counts.get("refused", 0), 5, counts)
        self.assertGreaterEqual(counts.get("unknown", 0), 1, counts)
        self.assertGreaterEqual(counts.get("applied", 0), 3, counts)
        self.assert_running(self.tackd)
        self.stop_tackd(self.tackd)

    def test_a_rejected_send_fails_with_sendgrids_reason(self):
        fake = self.start_fake(lambda r: (400, {"Content-Type": "application/json"}, {
            "errors": [{"message": "The from address does not match a verified Sender Identity.",
                        "field": "from", "help": None}]}))
        self.start_with({"name": "sendgrid", "type": "sendgrid", "url": fake.url,
                         "api_key": "SG.fake-key.0123456789", "from": SHOP_FROM})
        self.emit_order("7003")
        message = self.email_of("7003", ("failed",))
        self.assertIn("verified Sender Identity", message["last_error"])
        self.assertEqual(len(fake.requests), 1)
        self.stop_tackd(self.tackd)


# ---- Mailgun -----------------------------------------------------------------

class MailgunTest(EmailProviderTestCase):
    SIGNING_KEY = "mailgun-signing-key-7f3a9c0e"

    def webhook(self, message_id, event_name="delivered", severity=None, timestamp=None,
                token=None, key=None):
        timestamp = str(int(time.time()) if timestamp is None else timestamp)
        token = token or secrets.token_hex(25)  # 50 characters, as Mailgun's
        signature = hmac.new((key or self.SIGNING_KEY).encode(), (timestamp + token).encode(),
                             hashlib.sha256).hexdigest()
        data = {"event": event_name, "timestamp": time.time(), "id": secrets.token_urlsafe(16),
                "recipient": EMAIL, "message": {"headers": {"message-id": message_id}}}
        if event_name == "delivered":
            data["delivery-status"] = {"code": 250, "message": "OK", "description": ""}
        if event_name == "failed":
            data.update({"severity": severity, "reason": "bounce",
                         "delivery-status": {"code": 550, "description": "",
                                             "message": "5.1.1 The email account does not "
                                                        "exist"}})
        return json.dumps({"signature": {"timestamp": timestamp, "token": token,
                                         "signature": signature},
                           "event-data": data})

    def test_sent_delivered_bounced_and_refused_webhooks(self):
        ids = iter(["20261205100214.1.AB12@mg.exempelbutiken.se",
                    "20261205100215.1.CD34@mg.exempelbutiken.se"])

        def answer(request):
            return 200, {"Content-Type": "application/json"}, {
                "id": "<%s>" % next(ids), "message": "Queued. Thank you."}

        fake = self.start_fake(answer)
        self.start_with({"name": "mailgun", "type": "mailgun", "url": fake.url, "region": "eu",
                         "api_key": "key-fake-0123456789", "domain": "mg.exempelbutiken.se",
                         "from": SHOP_FROM, "webhook_signing_key": self.SIGNING_KEY})
        self.emit_order("7101")
        message = self.email_of("7101", ("sent",))

        [request] = fake.requests
        self.assertEqual(request["path"], "/v3/mg.exempelbutiken.se/messages")
        self.assertEqual(request["headers"]["authorization"],
                         "Basic " + base64.b64encode(b"api:key-fake-0123456789").decode())
        self.assertTrue(request["headers"]["content-type"].startswith(
            "application/x-www-form-urlencoded"))
        form = {k: v[0] for k, v in urllib.parse.parse_qs(
            request["body"].decode("ascii"), keep_blank_values=True, strict_parsing=True).items()}
        self.assertEqual(form["from"], '"Exempelbutiken" <kundservice@exempelbutiken.se>')
        self.assertEqual(form["to"], EMAIL)
        self.assertEqual(form["subject"], message["subject"])
        self.assertIn("%C5%82", request["body"].decode("ascii"))  # ł, percent-encoded UTF-8
        self.assertEqual(form["text"], message["text"])
        self.assertIn("<", form["html"])
        self.assertEqual(form["h:X-Tack-Idempotency-Key"], message["idempotency_key"])
        self.assertEqual(form["v:tack-idempotency-key"], message["idempotency_key"])
        self.assertEqual(message["provider_id"], "20261205100214.1.AB12@mg.exempelbutiken.se")

        path = "/v1/receipts/mailgun"
        delivered = self.webhook("20261205100214.1.AB12@mg.exempelbutiken.se")
        self.assertEqual(self.post(path, delivered)[0], 200)
        self.assertEqual(self.email_of("7101", ("delivered",))["state"], "delivered")

        # The same post again: its token was taken (a replay).
        self.assertEqual(self.post(path, delivered)[0], 401)
        # Forged (another key), stale, unsigned, unknown id, malformed.
        self.assertEqual(self.post(path, self.webhook(
            "20261205100214.1.AB12@mg.exempelbutiken.se", key="not-the-key"))[0], 403)
        self.assertEqual(self.post(path, self.webhook(
            "20261205100214.1.AB12@mg.exempelbutiken.se",
            timestamp=int(time.time()) - 7200))[0], 401)
        self.assertEqual(self.post(path, json.dumps({"event-data": {"event": "delivered"}}))[0],
                         401)
        # Mailgun's ids look like addresses but name a message, not a person:
        # tackd logs an unknown one, and the leak check must know it is not one.
        harness.PUBLIC_CONTACTS.add("never-sent@mg.exempelbutiken.se")
        # Answered 406: Mailgun retries anything else but 200 for 8 hours.
        self.assertEqual(self.post(path, self.webhook("never-sent@mg.exempelbutiken.se"))[0], 406)

        # A permanent failure bounces the next message; a temporary one before it does not.
        self.emit_order("7102", email="bo@example.se")
        second_id = "20261205100215.1.CD34@mg.exempelbutiken.se"
        self.email_of("7102", ("sent",))
        self.assertEqual(self.post(path, self.webhook(second_id, "failed", "temporary"))[0], 200)
        self.assertEqual(self.messages("7102", "email")[0]["state"], "sent")
        self.assertEqual(self.post(path, self.webhook(second_id, "failed", "permanent"))[0], 200)
        self.assertEqual(self.email_of("7102", ("bounced",))["state"], "bounced")

        counts = self.receipts_counted("mailgun")
        self.assertGreaterEqual(counts.get("refused", 0), 4, counts)
        self.assertGreaterEqual(counts.get("unknown", 0), 1, counts)
        self.assert_running(self.tackd)
        self.stop_tackd(self.tackd)


# ---- Postmark ----------------------------------------------------------------

class PostmarkTest(EmailProviderTestCase):
    RECEIPT_TOKEN = "pm-receipt-token-0123456789"

    def auth(self, user="tack", password=None):
        raw = "%s:%s" % (user, password or self.RECEIPT_TOKEN)
        return {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}

    def delivery(self, message_id):
        return json.dumps({"RecordType": "Delivery", "ServerID": 23,
                           "MessageStream": "outbound", "MessageID": message_id,
                           "Recipient": EMAIL, "Tag": "", "Metadata": {},
                           "DeliveredAt": "2026-12-05T10:02:14.9070259Z",
                           "Details": "smtp;250 2.0.0 OK"})

    def bounce(self, message_id, kind="HardBounce"):
        return json.dumps({"RecordType": "Bounce", "ID": 4323372036854775807, "Type": kind,
                           "TypeCode": 1, "Name": "Hard bounce", "Tag": "",
                           "MessageID": message_id, "ServerID": 23, "MessageStream": "outbound",
                           "Description": "The server was unable to deliver your message "
                                          "(ex: unknown user, mailbox not found).",
                           "Details": "smtp;550 5.1.1 The email account does not exist.",
                           "Email": "bo@example.se", "From": "kundservice@exempelbutiken.se",
                           "BouncedAt": "2026-12-05T10:02:16Z", "DumpAvailable": True,
                           "Inactive": kind == "HardBounce", "CanActivate": True,
                           "Subject": "x"})

    def gateway(self, fake):
        return {"name": "postmark", "type": "postmark", "url": fake.url,
                "server_token": "pm-server-token-0123456789", "from": SHOP_FROM,
                "receipt_token": self.RECEIPT_TOKEN}

    def test_sent_delivered_bounced_rejected_and_refused_webhooks(self):
        answers = iter([
            (200, {"To": EMAIL, "SubmittedAt": "2026-12-05T10:02:11Z",
                   "MessageID": "b7bc2f4a-e38e-4336-af7d-e6c392c2f817", "ErrorCode": 0,
                   "Message": "OK"}),
            (200, {"To": "bo@example.se", "SubmittedAt": "2026-12-05T10:02:12Z",
                   "MessageID": "0a129aee-e1cd-480d-b08d-4f48548ff48d", "ErrorCode": 0,
                   "Message": "OK"}),
            (422, {"ErrorCode": 406,
                   "Message": "You tried to send to recipient(s) that have been marked as "
                              "inactive."}),
        ])

        def answer(request):
            status, body = next(answers)
            return status, {"Content-Type": "application/json"}, body

        fake = self.start_fake(answer)
        self.start_with(self.gateway(fake))
        self.emit_order("7201")
        message = self.email_of("7201", ("sent",))
        [request] = fake.requests
        self.assertEqual(request["path"], "/email")
        self.assertEqual(request["headers"]["x-postmark-server-token"],
                         "pm-server-token-0123456789")
        self.assertEqual(request["headers"]["accept"], "application/json")
        self.assertNotIn("authorization", request["headers"])
        body = json.loads(request["body"].decode("utf-8"))
        self.assertEqual(body["From"], '"Exempelbutiken" <kundservice@exempelbutiken.se>')
        self.assertEqual(body["To"], EMAIL)
        self.assertEqual(body["Subject"], message["subject"])
        self.assert_raw_utf8(message, request["body"])
        self.assertEqual(body["TextBody"], message["text"])
        self.assertIn("<", body["HtmlBody"])
        self.assertEqual(body["MessageStream"], "outbound")
        self.assertEqual(body["Headers"], [{"Name": "X-Tack-Idempotency-Key",
                                            "Value": message["idempotency_key"]}])
        self.assertEqual(message["provider_id"], "b7bc2f4a-e38e-4336-af7d-e6c392c2f817")

        path = "/v1/receipts/postmark"
        delivery = self.delivery("b7bc2f4a-e38e-4336-af7d-e6c392c2f817")
        self.assertEqual(self.post(path, delivery)[0], 401)
        self.assertEqual(self.post(path, delivery, self.auth(password="wrong-token-0000000"))[0],
                         403)
        self.assertEqual(self.post(path, delivery, self.auth(user="postmark"))[0], 403)
        self.assertEqual(self.messages("7201", "email")[0]["state"], "sent")
        self.assertEqual(self.post(path, delivery, self.auth())[0], 200)
        self.assertEqual(self.email_of("7201", ("delivered",))["state"], "delivered")
        self.assertEqual(self.post(path, delivery, self.auth())[0], 200)  # a retry: taken
        self.assertEqual(self.post(path, self.delivery("00000000-0000-0000-0000-000000000000"),
                                   self.auth())[0], 404)
        self.assertEqual(self.post(path, "{\"RecordType\":", self.auth())[0], 400)

        self.emit_order("7202", email="bo@example.se")
        self.email_of("7202", ("sent",))
        self.assertEqual(self.post(path, self.bounce("0a129aee-e1cd-480d-b08d-4f48548ff48d"),
                                   self.auth())[0], 200)
        self.assertEqual(self.email_of("7202", ("bounced",))["state"], "bounced")

        # 422 ErrorCode 406, an inactive recipient: failed with Postmark's words.
        self.emit_order("7203", email="cy@example.se")
        failed = self.email_of("7203", ("failed",))
        self.assertIn("406", failed["last_error"])
        self.assertIn("inactive", failed["last_error"])

        counts = self.receipts_counted("postmark")
        self.assertGreaterEqual(counts.get("refused", 0), 4, counts)
        self.assertGreaterEqual(counts.get("unknown", 0), 1, counts)
        self.assert_running(self.tackd)
        self.stop_tackd(self.tackd)

    def test_a_receipt_before_the_sends_answer_ends_delivered(self):
        # The fake posts the delivery webhook first, and answers the send only
        # after tackd took it (parked: the answer is not recorded yet).
        webhook_status = []
        message_id = "5f1c7a3e-0d55-4d2b-9b1e-2e9e3c6f0a11"

        def answer(request):
            webhook_status.append(self.post("/v1/receipts/postmark", self.delivery(message_id),
                                            self.auth())[0])
            return 200, {"Content-Type": "application/json"}, {
                "To": EMAIL, "SubmittedAt": "2026-12-05T10:02:11Z", "MessageID": message_id,
                "ErrorCode": 0, "Message": "OK"}

        fake = self.start_fake(answer)
        self.start_with(self.gateway(fake))
        self.emit_order("7204")
        message = self.email_of("7204", ("delivered",))
        self.assertEqual(webhook_status, [200])
        self.assertEqual(message["provider_id"], message_id)
        self.assertEqual(len(fake.requests), 1)
        counts = self.receipts_counted("postmark")
        self.assertEqual(counts.get("parked"), 1.0, counts)
        self.stop_tackd(self.tackd)


if __name__ == "__main__":
    unittest.main()
