"""The HTTP listener against a real tackd over 127.0.0.1 (docs/http-api.md):
event intake with its two kinds of credentials, HTTP Basic for support
staff, the support API (message search and paging, order timelines,
operator verbs), health endpoints, and the limits that keep hostile or
broken clients from hurting the daemon (body and head sizes, request
smuggling, slow clients, too many connections, path traversal, bytes
that are not UTF-8).

ApiTestCase (no tests of its own) is shared with test_metrics.py."""

import hashlib
import hmac
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import unittest
import urllib.parse

import harness
from harness import TackTestCase, event

TOKEN = "events-token-" + "7f3a9c" * 4
HMAC_SECRET = "events-hmac-" + "b41e07" * 4
PASSWORD = "anna-s3cret"
# yescrypt of "olle-pass" (libxcrypt, cost j9T): the slow kind, as mkpasswd makes.
OLLE_YESCRYPT = "$y$j9T$abcdefghijklmnopqrstu0$V0LvotLQ9devhmW4OOlM/05SxS0PdtDq4OhF7DV40KA"
OLLE_PASSWORD = "olle-pass"
PHONE = "+46701234567"
# Sent to tackd in requests; the leak check (leak_check.py) must find them
# nowhere in tack's output. TOKEN and HMAC_SECRET are in the configs.
for _secret in (PASSWORD, OLLE_PASSWORD):
    harness.register_secret(_secret)


def sha512_crypt(password):
    """A $6$ hash as `openssl passwd -6` makes it (fast, for most tests)."""
    return subprocess.run(["openssl", "passwd", "-6", "-salt", "tacktestsalt", password],
                          capture_output=True, text=True, check=True).stdout.strip()


def basic(user, password):
    import base64
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<%d %s>" % (self.status, self.body[:300])


class ApiTestCase(TackTestCase):
    """Starts tackd with an http section and talks to it."""

    def start_api(self, http=None, gateways=None, sms=None, email=None, retry=None, rules=None,
                  public_url=False, **top):
        """public_url: tackd listens on a port chosen before it starts and
        http.public_url names it (self.base), as callback URLs need."""
        settings = {
            "listen": "127.0.0.1:0",
            "events": {"token": TOKEN, "hmac_secret": HMAC_SECRET},
            "users": [{"name": "anna", "password_hash": sha512_crypt(PASSWORD)},
                      {"name": "olle", "password_hash": OLLE_YESCRYPT}],
            # This host's monitoring reads health and metrics without a password.
            "health_from": ["127.0.0.1"],
        }
        settings.update(http or {})
        gateways = gateways or [self.file_gateway()]

        def write(port=None):
            if port is not None:
                self.base = "http://127.0.0.1:%d" % port
                settings.update(listen="127.0.0.1:%d" % port, public_url=self.base)
            return self.write_config(self.make_config(gateways, sms=sms, email=email, retry=retry,
                                                      rules=rules, http=settings, **top))
        if public_url:
            self.tackd, _ = self.start_tackd_on_chosen_port(write)
        else:
            write()
            self.tackd = self.start_tackd()
        self.port = self.http_port(self.tackd)
        return self.tackd

    def http_port(self, tackd):
        found = self.wait_for(lambda: re.search(r"http: listening on 127\.0\.0\.1:(\d+)",
                                                tackd.stderr()),
                              "tackd to log the port it listens on")
        port = int(found.group(1))
        self.assertNotEqual(port, 0)
        return port

    def connect(self, timeout=10):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, user="anna", password=PASSWORD,
                conn=None):
        headers = dict(headers or {})
        if user is not None and "Authorization" not in headers:
            headers["Authorization"] = basic(user, password)
        # A deliberate API client says so (the CSRF proof); None leaves it out.
        if method == "POST" and path.startswith(("/v1/messages/", "/v1/orders/")):
            headers.setdefault("X-Tack-Request", "test")
            if headers["X-Tack-Request"] is None:
                del headers["X-Tack-Request"]
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        own = conn is None
        conn = conn or self.connect()
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
        finally:
            if own:
                conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post_events(self, body, token=TOKEN, headers=None, conn=None):
        h = {"Content-Type": "application/json"}
        if token is not None:
            h["Authorization"] = "Bearer " + token
        h.update(headers or {})
        return self.request("POST", "/v1/events", body=body, headers=h, user=None, conn=conn)

    def raw(self, data, timeout=5.0, read_for=None):
        """Sends raw bytes on a fresh connection; returns all it reads until
        the server closes (or `timeout`, or `read_for` seconds)."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        try:
            s.sendall(data)
            out = b""
            deadline = time.monotonic() + (read_for or timeout)
            while time.monotonic() < deadline:
                s.settimeout(max(0.05, deadline - time.monotonic()))
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    break
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                out += chunk
            return out
        finally:
            s.close()

    def assert_hardened(self, reply):
        h = reply.headers
        self.assertEqual(h.get("cache-control"), "no-store")
        self.assertEqual(h.get("content-security-policy"),
                         "default-src 'self'; form-action 'self'; base-uri 'none'; "
                         "frame-ancestors 'none'")
        self.assertEqual(h.get("x-content-type-options"), "nosniff")
        self.assertEqual(h.get("referrer-policy"), "no-referrer")
        self.assertEqual(h.get("x-frame-options"), "DENY")


def statuses(raw_reply):
    return re.findall(rb"HTTP/1\.1 (\d{3})", raw_reply)


class EventIntakeTest(ApiTestCase):
    def test_events_need_the_token_or_a_signature(self):
        self.start_api()
        doc = event("auth-1", "1001", "shipped")
        none = self.post_events(doc, token=None)
        self.assertEqual(none.status, 401, none)
        self.assertIn("Bearer", none.headers["www-authenticate"])
        self.assertIn("error", none.json())
        wrong = self.post_events(doc, token=TOKEN[:-1] + "x")
        self.assertEqual(wrong.status, 401, wrong)
        # A support user's Basic credentials do not open the intake.
        self.assertEqual(self.post_events(doc, token=None,
                                          headers={"Authorization": basic("anna", PASSWORD)}
                                          ).status, 401)

        right = self.post_events(doc)
        self.assertEqual(right.status, 200, right)
        self.assertEqual(right.json(), {"results": [
            {"index": 0, "event_id": "auth-1", "verdict": "accepted", "messages": 2}]})
        self.assert_hardened(right)

        # Signed: the HMAC of "<timestamp>.<body>" (test_replay.py tries the
        # timestamp's limits).
        body = json.dumps(event("auth-2", "1002", "shipped")).encode()
        ts = str(int(time.time()))

        def sign(secret, data):
            return {"X-Tack-Timestamp": ts, "X-Tack-Signature": "sha256=" + hmac.new(
                secret, ts.encode() + b"." + data, hashlib.sha256).hexdigest()}
        good = sign(HMAC_SECRET.encode(), body)
        signed = self.post_events(body, token=None, headers=good)
        self.assertEqual(signed.status, 200, signed)
        self.assertEqual(self.post_events(body, token=None,
                                          headers=sign(b"not the secret", body)).status, 401)
        # The signature covers the body: the same one on another body fails.
        other = json.dumps(event("auth-3", "1003", "shipped")).encode()
        self.assertEqual(self.post_events(other, token=None, headers=good).status, 401)

        # Committed before the answer: the log has both, sent from "http".
        self.assertEqual(self.log(order="1001")["events"][0]["source"], "http")
        self.assertEqual(self.log(order="1002")["events"][0]["event_id"], "auth-2")
        self.assertEqual(self.log(order="1003")["events"], [])
        self.assertNotIn(TOKEN, self.tackd.stderr())
        self.stop_tackd(self.tackd)

    def test_a_mixed_batch_commits_the_good_events_and_says_why_not_the_others(self):
        self.start_api()
        good = event("mix-1", "2001", "shipped")
        batch = [good, good, {"event_id": "mix-3", "status": "shipped",
                              "occurred_at": "2026-11-22T10:15:00Z"},
                 event("mix-4", "2001", "placed"),  # backwards for order 2001
                 event("mix-5", "2002", "shiped")]
        reply = self.post_events(batch)
        self.assertEqual(reply.status, 400, reply)
        results = reply.json()["results"]
        self.assertEqual([r["index"] for r in results], [0, 1, 2, 3, 4])
        self.assertEqual([r["verdict"] for r in results],
                         ["accepted", "duplicate", "rejected", "stale", "rejected"])
        self.assertEqual(results[0]["messages"], 2)
        self.assertEqual(results[2]["reason"], "missing order_id")
        self.assertIn("already shipped", results[3]["reason"])
        self.assertIn("unknown status", results[4]["reason"])
        self.assertEqual(results[2]["event_id"], "mix-3")
        self.wait_for_messages("2001", ("sent",), count=2)
        # Sending it all again is harmless: duplicates create nothing.
        again = self.post_events(batch[:1])
        self.assertEqual(again.status, 200)
        self.assertEqual(again.json()["results"][0]["verdict"], "duplicate")
        self.assertEqual(len(self.messages("2001")), 2)
        rejected = {e["event_id"] for e in self.rejected()}
        self.assertTrue({"mix-3", "mix-5"} <= rejected, rejected)
        self.stop_tackd(self.tackd)

    def test_a_body_that_is_not_json_is_rejected_with_its_reason(self):
        self.start_api()
        for body in (b"{not json", b"[{\"event_id\": \"x\"", "[\"\xff\"]".encode("latin-1"),
                     b"[" * 100 + b"]" * 100):
            reply = self.post_events(body)
            self.assertEqual(reply.status, 400, (body[:20], reply))
            results = reply.json()["results"]
            self.assertEqual(len(results), 1)
            self.assertEqual(results[0]["verdict"], "rejected")
            self.assertTrue(results[0]["reason"], results)
        self.assertIn("not JSON", self.post_events(b"{not json").json()["results"][0]["reason"])
        self.assertIn("deeper", self.post_events(b"[" * 100 + b"]" * 100
                                                 ).json()["results"][0]["reason"])
        for body in (b"", b"  \n", b"[]"):
            reply = self.post_events(body)
            self.assertEqual(reply.status, 400, reply)
            self.assertIn("error", reply.json())
        self.assert_running(self.tackd)
        self.stop_tackd(self.tackd)

    def test_a_body_above_the_limit_is_refused_before_it_is_read(self):
        self.start_api(http={"max_body_bytes": 4096})
        big = [event("big-%d" % i, "3001", "shipped") for i in range(20)]
        self.assertGreater(len(json.dumps(big)), 4096)
        reply = self.post_events(big)
        self.assertEqual(reply.status, 413, reply)
        self.assertIn("4096", reply.json()["error"])
        # A huge Content-Length and no body: answered at once, nothing read.
        started = time.monotonic()
        out = self.raw(("POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                        "Content-Length: 99999999999999\r\n\r\n" % TOKEN).encode(), timeout=5)
        self.assertEqual(statuses(out), [b"413"], out)
        self.assertLess(time.monotonic() - started, 4)
        # Chunked, so no Content-Length to go by: cut off while reading.
        chunk = b"x" * 3000
        body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(3)) + b"0\r\n\r\n"
        out = self.raw(("POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n" % TOKEN).encode() + body)
        self.assertEqual(statuses(out), [b"413"], out)
        # Without credentials the body is never read: 401 whatever its size.
        out = self.raw(b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 99999999\r\n\r\n")
        self.assertEqual(statuses(out), [b"401"], out)
        self.assertEqual(self.log(order="3001")["events"], [])
        self.assertEqual(self.post_events(big[:1]).status, 200)
        self.stop_tackd(self.tackd)


class SupportApiTest(ApiTestCase):
    def test_basic_auth_for_support_users(self):
        self.start_api()
        self.post_events(event("ba-1", "4001", "shipped"))
        none = self.get("/v1/orders/4001", user=None)
        self.assertEqual(none.status, 401)
        self.assertTrue(none.headers["www-authenticate"].startswith('Basic realm="tack"'))
        self.assertEqual(self.get("/v1/orders/4001", password="wrong").status, 401)
        self.assertEqual(self.get("/v1/orders/4001", user="nobody").status, 401)
        self.assertEqual(self.get("/v1/orders/4001", headers={"Authorization": "Basic %%%"},
                                  user=None).status, 401)
        self.assertEqual(self.get("/v1/orders/4001", headers={"Authorization": "Bearer " + TOKEN},
                                  user=None).status, 401)
        self.assertEqual(self.get("/v1/orders/4001").status, 200)
        # yescrypt ($y$), checked off the event loop, then remembered.
        self.assertEqual(self.get("/v1/orders/4001", user="olle", password=OLLE_PASSWORD).status,
                         200)
        self.assertEqual(self.get("/v1/orders/4001", user="olle", password="olle-wrong").status,
                         401)
        started = time.monotonic()
        for _ in range(5):
            self.assertEqual(self.get("/livez", user="olle", password=OLLE_PASSWORD).status, 200)
            self.assertEqual(self.get("/v1/orders/4001", user="olle",
                                      password=OLLE_PASSWORD).status, 200)
        self.assertLess(time.monotonic() - started, 2.0, "every request paid for yescrypt")
        self.assertNotIn(PASSWORD, self.tackd.stderr())
        self.stop_tackd(self.tackd)

    def test_messages_page_by_page_newest_first_with_filters(self):
        self.start_api()
        for i in range(4):
            self.post_events(event("page-%d" % i, "50%02d" % i, "shipped"))
        self.post_events(event("page-other", "5099", "shipped", phone="+46709876543",
                               email="other@example.se"))
        for i in range(4):
            self.wait_for_messages("50%02d" % i, ("sent",), count=2)
        self.wait_for_messages("5099", ("sent",), count=2)

        query = urllib.parse.urlencode({"to": "070-123 45 67", "limit": 3})
        first = self.get("/v1/messages?" + query)
        self.assertEqual(first.status, 200, first)
        page = first.json()
        self.assertEqual(len(page["messages"]), 3)
        ids = [m["id"] for m in page["messages"]]
        self.assertEqual(ids, sorted(ids, reverse=True))
        for m in page["messages"]:
            self.assertEqual(m["to"], PHONE)
            self.assertEqual(m["channel"], "sms")
            self.assertNotIn("html", m)
            self.assertEqual(m["receipts"], [])
            self.assertRegex(m["created_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            self.assertEqual(m["attempt_log"][0]["outcome"], "sent")
            self.assertIsNone(m["next_attempt_at"])
        self.assertIn("before=%d" % ids[-1], page["next"])
        second = self.get(page["next"]).json()
        self.assertEqual([m["order_id"] for m in second["messages"]], ["5000"])
        self.assertIsNone(second["next"])
        self.assertTrue(second["messages"][0]["id"] < ids[-1])

        every = self.get("/v1/messages?limit=500").json()
        self.assertEqual(len(every["messages"]), 10)
        self.assertIsNone(every["next"])
        by_order = self.get("/v1/messages?order_id=5002").json()["messages"]
        self.assertEqual({m["channel"] for m in by_order}, {"sms", "email"})
        by_email = self.get("/v1/messages?to=other%40example.se").json()["messages"]
        self.assertEqual([m["order_id"] for m in by_email], ["5099"])
        self.assertEqual(len(self.get("/v1/messages?status=sent&since=1h").json()["messages"]),
                         10)
        self.assertEqual(self.get("/v1/messages?status=dead").json()["messages"], [])
        future = "2999-01-01T00:00:00Z"
        self.assertEqual(self.get("/v1/messages?since=" + future).json()["messages"], [])
        self.assertEqual(len(self.get("/v1/messages?until=" + future).json()["messages"]), 10)
        self.assertEqual(self.get("/v1/messages?until=2000-01-01T00:00:00Z").json()["messages"],
                         [])
        # since as a duration pages with absolute times, so pages do not drift.
        relative = self.get("/v1/messages?since=1h&limit=4").json()
        self.assertRegex(relative["next"], r"since=\d{4}-\d\d-\d\dT")
        for bad in ("limit=0", "limit=501", "limit=x", "before=-1", "since=yesterday",
                    "status=Sent", "sort=id", "limit=1&limit=2"):
            reply = self.get("/v1/messages?" + bad)
            self.assertEqual(reply.status, 400, (bad, reply))
            self.assertIn("error", reply.json())
        self.stop_tackd(self.tackd)

    def test_an_order_timeline_with_events_messages_audit_and_next_contact(self):
        self.start_api()
        self.tackd_cli("hold", "--gateway", "file", "--config", self.config_path,
                       check=harness.EXIT_OK)
        self.post_events([event("tl-1", "6001", "placed"), event("tl-2", "6001", "shipped"),
                          event("tl-3", "6001", "packed")])
        reply = self.get("/v1/orders/6001")
        self.assertEqual(reply.status, 200, reply)
        t = reply.json()
        self.assertEqual(t["order_id"], "6001")
        self.assertEqual(t["status"], "shipped")
        self.assertEqual([(e["event_id"], e["verdict"]) for e in t["events"]],
                         [("tl-1", "accepted"), ("tl-2", "accepted"), ("tl-3", "stale")])
        self.assertEqual(t["events"][0]["occurred_at"], "2026-11-22T10:15:00.000Z")
        self.assertEqual(t["events"][0]["source"], "http")
        ids = [m["id"] for m in t["messages"]]
        self.assertEqual(ids, sorted(ids))
        self.assertEqual(len(ids), 4)
        self.assertTrue(all("html" in m for m in t["messages"]))
        self.assertEqual({m["state"] for m in t["messages"]}, {"queued"})
        self.assertEqual(t["next_contact"]["message_id"], ids[0])
        self.assertRegex(t["next_contact"]["due_at"], r"Z$")
        self.assertIsNotNone(t["messages"][0]["next_attempt_at"])
        self.assertEqual(t["audit"], [])

        # What a form on another site can send (CSRF) is refused and
        # changes nothing: no X-Tack-Request, a text/plain body, Origin.
        for headers, body in (({"X-Tack-Request": None}, None),
                              ({"X-Tack-Request": None, "Content-Type": "text/plain",
                                "Origin": "http://evil.example"}, b"a=b"),
                              ({"Sec-Fetch-Site": "cross-site"}, None)):
            forged = self.request("POST", "/v1/messages/%d/hold" % ids[0], body=body,
                                  headers=headers)
            self.assertEqual(forged.status, 403, forged)
            self.assertIn("X-Tack-Request", forged.json()["error"])
        self.assertEqual(self.get("/v1/messages/%d" % ids[0]).json()["state"], "queued")

        held = self.request("POST", "/v1/messages/%d/hold" % ids[0])
        self.assertEqual(held.status, 200, held)
        t = self.get("/v1/orders/6001").json()
        self.assertEqual(t["audit"][0]["actor"], "http:anna")
        self.assertEqual(t["audit"][0]["action"], "hold")
        self.assertEqual(t["audit"][0]["target"], "message %d" % ids[0])
        self.assertEqual(t["next_contact"]["message_id"], ids[1])

        self.tackd_cli("release", "--gateway", "file", "--config", self.config_path,
                       check=harness.EXIT_OK)
        self.wait_for_messages("6001", ("sent",), count=3)
        t = self.get("/v1/orders/6001").json()
        self.assertIsNone(t["next_contact"])  # the held one waits, but is not due to go
        missing = self.get("/v1/orders/no-such-order")
        self.assertEqual(missing.status, 404)
        self.assertIn("error", missing.json())
        self.assertEqual(self.get("/v1/orders/" + urllib.parse.quote("a/b", safe="")).status, 404)
        self.stop_tackd(self.tackd)

    def test_a_message_tack_refused_offers_no_retry_and_refuses_one(self):
        sink = self.start_http_sink()
        self.start_api(gateways=[self.http_gateway(sink.url), self.file_gateway("mail")],
                       sms=["sms"], email=["mail"])
        self.post_events(event("fixed-1", "7101", "shipped", phone="08-123 456 78"))
        refused = self.wait_for_messages("7101", ("failed",), channel="sms")[0]
        found = self.get("/v1/messages/%d" % refused["id"]).json()
        message = found.get("message", found)
        self.assertTrue(message["refused_by_tack"])
        self.assertNotIn("retry", message["actions"])
        answer = self.request("POST", "/v1/messages/%d/retry" % refused["id"])
        self.assertEqual(answer.status, 409, answer)
        self.assertIn("refused by tack", answer.json()["error"])
        self.assertEqual(sink.requests(), [])
        after = self.wait_for_messages("7101", ("failed",), channel="sms")[0]
        self.assertEqual(after["last_error"], refused["last_error"])
        self.stop_tackd(self.tackd)

    def test_operator_verbs_change_the_delivery_log_and_wake_the_dispatcher(self):
        sink = self.start_http_sink([{"status": 400, "body": {"error": "bad sender"}}])
        self.start_api(gateways=[self.http_gateway(sink.url), self.file_gateway("mail")],
                       sms=["sms"], email=["mail"])
        self.post_events(event("op-1", "7001", "shipped"))
        failed = self.wait_for_messages("7001", ("failed",), channel="sms")[0]
        self.assertEqual(self.request("POST", "/v1/messages/%d/retry" % failed["id"],
                                      user=None).status, 401)
        self.assertEqual(self.request("DELETE", "/v1/messages/%d" % failed["id"]).status, 405)
        retried = self.request("POST", "/v1/messages/%d/retry" % failed["id"])
        self.assertEqual(retried.status, 200, retried)
        body = retried.json()
        self.assertEqual(body["changed"], 1)
        self.assertEqual(body["message"]["id"], failed["id"])
        self.assertIn(body["message"]["state"], ("queued", "sending", "sent"))
        self.assertIn("html", body["message"])
        # The dispatcher is woken: the retry goes out at once, not at its
        # next look around.
        sent = self.wait_for_messages("7001", ("sent",), channel="sms", timeout=3)[0]
        self.assertEqual([a["outcome"] for a in sent["attempt_log"]], ["rejected", "sent"])
        self.assertEqual([(a["actor"], a["action"]) for a in self.audit_of("7001", sent["id"])],
                         [("http:anna", "retry")])
        # A sent message cannot be retried, cancelled or held.
        for verb in ("retry", "cancel", "hold", "release"):
            conflict = self.request("POST", "/v1/messages/%d/%s" % (sent["id"], verb))
            self.assertEqual(conflict.status, 409, (verb, conflict))
            self.assertIn("is sent", conflict.json()["error"])
        self.assertEqual(self.request("POST", "/v1/messages/999999/retry").status, 404)
        self.assertEqual(self.get("/v1/messages/999999").status, 404)
        self.assertEqual(self.request("POST", "/v1/messages/x/retry").status, 404)
        self.assertEqual(self.request("POST", "/v1/messages/1/explode").status, 404)
        self.assertEqual(self.get("/v1/messages/%d/retry" % sent["id"]).status, 405)
        one = self.get("/v1/messages/%d" % sent["id"])
        self.assertEqual(one.json()["state"], "sent")

        # hold, release and cancel on messages that wait behind a held gateway
        self.tackd_cli("hold", "--gateway", "sms", "--config", self.config_path,
                       check=harness.EXIT_OK)
        self.post_events([event("op-2", "7002", "shipped"), event("op-3", "7003", "shipped")])
        m2 = self.wait_for_messages("7002", ("queued",), channel="sms")[0]
        m3 = self.wait_for_messages("7003", ("queued",), channel="sms")[0]
        held = self.request("POST", "/v1/messages/%d/hold" % m2["id"], user="olle",
                            password=OLLE_PASSWORD)
        self.assertEqual(held.json()["message"]["state"], "held")
        self.assertEqual(self.request("POST", "/v1/messages/%d/hold" % m2["id"]).status, 409)
        cancelled = self.request("POST", "/v1/messages/%d/cancel" % m3["id"])
        self.assertEqual(cancelled.json()["message"]["state"], "cancelled")
        released = self.request("POST", "/v1/messages/%d/release" % m2["id"])
        self.assertEqual(released.json()["message"]["state"], "queued")
        log2 = self.log(message=m2["id"])
        self.assertEqual([(a["actor"], a["action"]) for a in self.audit_of(log2["order_id"],
                                                                            m2["id"])],
                         [("http:olle", "hold"), ("http:anna", "release")])
        self.assertEqual(self.log(message=m3["id"])["state"], "cancelled")
        self.tackd_cli("release", "--gateway", "sms", "--config", self.config_path,
                       check=harness.EXIT_OK)
        self.wait_for_messages("7002", ("sent",), channel="sms")
        self.assertEqual(self.log(message=m3["id"])["state"], "cancelled")
        self.stop_tackd(self.tackd)

    def test_send_now_makes_a_scheduled_follow_up_go_and_refuses_the_rest(self):
        # A follow-up three days after delivery: scheduled, written when due.
        rules = [{"name": "follow_up", "on": "delivered", "after": "3d", "unless": ["returned"],
                  "template": "delivered", "channels": ["email"]}]
        self.start_api(gateways=[self.file_gateway("mail")], sms=["mail"], email=["mail"],
                       rules=rules)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.post_events(event("sn-1", "7101", "delivered", occurred_at=now))
        scheduled = self.wait_for_messages("7101", ("scheduled",), channel="email")[0]
        self.assertIn("send-now", scheduled["actions"])
        self.assertNotIn("hold", scheduled["actions"])
        path = "/v1/messages/%d/send-now" % scheduled["id"]
        # Like the other verbs: the CSRF header, no body, POST only, a user.
        self.assertEqual(self.request("POST", path, headers={"X-Tack-Request": None}).status, 403)
        self.assertEqual(self.request("POST", path, user=None).status, 401)
        self.assertEqual(self.get(path).status, 405)
        self.assertEqual(self.request("POST", path, body=b"{}",
                                      headers={"Content-Type": "application/json"}).status, 415)
        self.assertEqual(self.log(message=scheduled["id"])["state"], "scheduled")

        went = self.request("POST", path)
        self.assertEqual(went.status, 200, went)
        body = went.json()
        self.assertEqual(body["changed"], 1)
        self.assertEqual(body["message"]["id"], scheduled["id"])
        # Due now: the scheduler writes and queues it at its next look.
        self.assertEqual(body["message"]["state"], "scheduled")
        self.assertEqual(body["message"]["note"], "sent now by http:anna")
        sent = self.wait_for_messages("7101", ("sent",), channel="email")[0]
        self.assertNotEqual(sent["text"], "")  # written when it went
        self.assertEqual([(a["actor"], a["action"]) for a in self.audit_of("7101", sent["id"])],
                         [("http:anna", "send-now")])
        written = harness.read_json_lines(os.path.join(self.tmp, "mail.jsonl"))
        self.assertEqual([w["to"] for w in written], ["anna@example.se"], written)

        # Sent: send-now no longer applies; unknown ids and junk are 404.
        conflict = self.request("POST", path)
        self.assertEqual(conflict.status, 409, conflict)
        self.assertIn("is sent", conflict.json()["error"])
        self.assertEqual(self.request("POST", "/v1/messages/999999/send-now").status, 404)
        self.assertEqual(self.request("POST", "/v1/messages/x/send-now").status, 404)
        for junk in ("send_now", "send-now-", "SEND-NOW", "send%2Dnow-x", "send-now%00"):
            self.assertEqual(self.request("POST", "/v1/messages/%d/%s" % (sent["id"], junk)).status,
                             404 if "%00" not in junk else 400, junk)
        self.assertEqual(len(harness.read_json_lines(os.path.join(self.tmp, "mail.jsonl"))), 1)
        self.stop_tackd(self.tackd)


NEW_PHONE = "+46707654321"
harness.register_customer(NEW_PHONE, "anna.s@example.se")


class SupportActionsTest(ApiTestCase):
    """What support does (issue 15): resend a sent message, correct an
    order's address and re-send what failed, note something on an order."""

    def start_with_sink(self, script=None):
        self.sink = self.start_http_sink(script)
        self.start_api(gateways=[self.http_gateway(self.sink.url), self.file_gateway("mail")],
                       sms=["sms"], email=["mail"])

    def action(self, path, body, **kw):
        headers = {"Content-Type": "application/json"}
        headers.update(kw.pop("headers", {}))
        return self.request("POST", path, body=body, headers=headers, **kw)

    def order(self, order_id):
        reply = self.get("/v1/orders/" + order_id)
        self.assertEqual(reply.status, 200, reply)
        return reply.json()

    def wait_for_sms(self, order_id, predicate, what):
        """The order's SMS messages once predicate(messages) holds."""
        def check():
            ms = [m for m in self.order(order_id)["messages"] if m["channel"] == "sms"]
            return ms if predicate(ms) else None
        return self.wait_for(check, what)

    def sink_sends(self):
        """(to, idempotency key, text) of every request the SMS provider got."""
        out = []
        for r in self.sink.requests():
            form = urllib.parse.parse_qs(r["body"])
            out.append((form["to"][0], r["headers"].get("idempotency-key"), form["message"][0]))
        return out

    def test_a_sent_sms_is_resent_as_a_new_message_with_a_new_key(self):
        self.start_with_sink()
        self.post_events(event("rs-1", "8101", "shipped"))
        sent = self.wait_for_sms("8101", lambda ms: ms and ms[0]["state"] == "sent",
                                 "the SMS to be sent")[0]
        path = "/v1/messages/%d/resend" % sent["id"]
        answer = self.action(path, {"reason": "kunden fick inget SMS"})
        self.assertEqual(answer.status, 201, answer)
        body = answer.json()
        self.assertEqual(body["resent_from"], sent["id"])
        copy = body["message"]
        self.assertNotEqual(copy["id"], sent["id"])
        self.assertEqual(copy["resent_from"], sent["id"])
        self.assertNotEqual(copy["idempotency_key"], sent["idempotency_key"])
        for same in ("order_id", "channel", "to", "text", "subject"):
            self.assertEqual(copy[same], sent[same], same)
        self.assertIn(copy["state"], ("queued", "sending", "sent"))
        # The provider gets it a second time, under another key.
        sends = self.wait_for(lambda: len(self.sink_sends()) == 2 and self.sink_sends(),
                              "the provider to get the SMS twice")
        self.assertEqual([s[0] for s in sends], [PHONE, PHONE])
        self.assertEqual(sends[0][2], sends[1][2])
        self.assertEqual([s[1] for s in sends],
                         [sent["idempotency_key"], copy["idempotency_key"]])
        ms = self.wait_for_sms("8101", lambda ms: len(ms) == 2 and ms[1]["state"] == "sent",
                               "the copy to be sent")
        self.assertEqual(ms[0]["state"], "sent")
        audit = [(a["target"], a["actor"], a["action"], a["detail"])
                 for a in self.order("8101")["audit"]]
        self.assertIn(("message %d" % sent["id"], "http:anna", "resend",
                       "resent as message %d by http:anna: kunden fick inget SMS" % copy["id"]),
                      audit)
        self.assertIn(("message %d" % copy["id"], "http:anna", "resend",
                       "resend of message %d by http:anna: kunden fick inget SMS" % sent["id"]),
                      audit)
        self.stop_tackd(self.tackd)

    def test_resend_refuses_what_it_cannot_do_with_the_reason(self):
        self.start_with_sink([{"status": 400, "body": {"error": "bad number"}}])
        self.post_events(event("rs-2", "8102", "shipped"))
        failed = self.wait_for_sms("8102", lambda ms: ms and ms[0]["state"] == "failed",
                                   "the SMS to fail")[0]
        path = "/v1/messages/%d/resend" % failed["id"]
        good = {"reason": "x"}
        conflict = self.action(path, good)
        self.assertEqual(conflict.status, 409, conflict)
        self.assertIn("is failed", conflict.json()["error"])
        self.assertEqual(self.action("/v1/messages/999999/resend", good).status, 404)
        self.assertEqual(self.action("/v1/messages/abc/resend", good).status, 404)
        bad_bodies = [
            (b"", "JSON object"), (b"not json", "JSON object"), (b"[1]", "JSON object"),
            (b'"reason"', "JSON object"), (b"{}", "reason is missing"),
            (b'{"reason": ""}', "must not be empty"), (b'{"reason": "   "}', "must not be empty"),
            (b'{"reason": 5}', "must be a string"), (b'{"reason": null}', "reason is missing"),
            (json.dumps({"reason": "a" * 501}).encode(), "at most 500"),
            (json.dumps({"reason": "line\nbreak"}).encode(), "one line"),
            (json.dumps({"reason": "x", "force": True}).encode(), "unknown field"),
            (b'{"reason": "\xff\xfe"}', "JSON object"),
            (b"[" * 1500 + b"]" * 1500, "JSON object"),
        ]
        for raw, why in bad_bodies:
            reply = self.action(path, raw)
            self.assertEqual(reply.status, 400, (raw[:40], reply))
            self.assertIn(why, reply.json()["error"], raw[:40])
        # 500 characters of Swedish (1,000 bytes) are fine: characters count.
        self.assertEqual(self.action(path, {"reason": "å" * 500}).status, 409)
        self.assertEqual(self.action(path, b"x" * 5000).status, 413)
        self.assertEqual(self.request("POST", path, body=json.dumps(good).encode()).status, 415)
        self.assertEqual(self.action(path, good, headers={"Content-Type": "text/plain"}).status,
                         415)
        self.assertEqual(self.action(path, good, headers={"X-Tack-Request": None}).status, 403)
        self.assertEqual(self.action(path, good, headers={"Origin": "https://evil.example"})
                         .status, 403)
        self.assertEqual(self.action(path, good, user=None).status, 401)
        self.assertEqual(self.get(path).status, 405)
        # Nothing was created by any of it.
        self.assertEqual(len(self.order("8102")["messages"]), 2)
        self.assertEqual(self.order("8102")["audit"], [])
        self.stop_tackd(self.tackd)

    def test_a_failed_sms_goes_to_the_corrected_number_and_so_do_later_events(self):
        # The provider refuses the first number, takes everything after.
        self.start_with_sink([{"status": 400, "body": {"error": "invalid number"}}])
        self.post_events(event("ct-1", "8201", "shipped"))
        failed = self.wait_for_sms("8201", lambda ms: ms and ms[0]["state"] == "failed",
                                   "the SMS to fail")[0]
        path = "/v1/orders/8201/contact"
        for body, status, why in [
                ({"phone": "12", "reason": "r"}, 400, "invalid phone number"),
                ({"phone": "08-123 456 78", "reason": "r"}, 400, "fixed line"),
                ({"email": "anna@", "reason": "r"}, 400, "e-mail address"),
                ({"email": "a b@example.se", "reason": "r"}, 400, "e-mail address"),
                ({"reason": "r"}, 400, "give phone or email"),
                ({"phone": "070-765 43 21"}, 400, "reason is missing"),
                ({"phone": ["070"], "reason": "r"}, 400, "must be a string"),
                ({"phone": "070-765 43 21", "reason": "r", "name": "x"}, 400, "unknown field"),
                ({"phone": "070-765 43 21", "reason": "r" * 501}, 400, "at most 500")]:
            reply = self.action(path, body)
            self.assertEqual(reply.status, status, (body, reply))
            self.assertIn(why, reply.json()["error"], body)
        self.assertEqual(self.action("/v1/orders/no-such/contact",
                                     {"phone": "070-765 43 21", "reason": "r"}).status, 404)
        self.assertEqual(len(self.sink.requests()), 1)  # none of that sent anything

        answer = self.action(path, {"phone": "070-765 43 21", "reason": "siffror omkastade"})
        self.assertEqual(answer.status, 200, answer)
        body = answer.json()
        self.assertEqual(len(body["resent"]), 1)
        self.assertEqual(body["updated"], [])
        self.assertEqual(body["order"]["order_id"], "8201")
        self.assertEqual(body["order"]["corrected_contact"], {"phone": NEW_PHONE, "email": None})
        copy_id = body["resent"][0]
        self.assertIn(("order 8201", "http:anna", "contact",
                       "phone corrected from %s to %s by http:anna: siffror omkastade"
                       % (PHONE, NEW_PHONE)),
                      [(a["target"], a["actor"], a["action"], a["detail"])
                       for a in body["order"]["audit"]])
        ms = self.wait_for_sms("8201", lambda ms: len(ms) == 2 and ms[1]["state"] == "sent",
                               "the copy to the corrected number to be sent")
        self.assertEqual(ms[1]["id"], copy_id)
        self.assertEqual(ms[1]["resent_from"], failed["id"])
        self.assertEqual(ms[1]["to"], NEW_PHONE)
        self.assertEqual(ms[0]["state"], "failed")
        sends = self.sink_sends()
        self.assertEqual([s[0] for s in sends], [PHONE, NEW_PHONE])
        self.assertNotEqual(sends[0][1], sends[1][1])
        self.assertEqual(sends[0][2], sends[1][2])

        # The shop still has the old number: the order's next event goes to
        # the corrected one all the same.
        self.post_events(event("ct-2", "8201", "out_for_delivery"))
        ms = self.wait_for_sms("8201", lambda ms: len(ms) == 3 and ms[2]["state"] == "sent",
                               "the next event's SMS to be sent")
        self.assertEqual(ms[2]["to"], NEW_PHONE)
        self.assertEqual(self.sink_sends()[-1][0], NEW_PHONE)
        self.stop_tackd(self.tackd)

    def test_a_corrected_address_reaches_what_waits_and_what_intake_refused(self):
        # The gateway is held: the order's SMS waits, queued.
        self.start_with_sink()
        self.tackd_cli("hold", "--gateway", "sms", "--config", self.config_path,
                       check=harness.EXIT_OK)
        self.post_events(event("ct-3", "8301", "shipped"))
        waiting = self.wait_for_sms("8301", lambda ms: ms and ms[0]["state"] == "queued",
                                    "the SMS to wait")[0]
        # A number tack refuses itself, in another order.
        self.post_events(event("ct-4", "8302", "shipped", phone="12"))
        refused = self.wait_for_sms("8302", lambda ms: ms and ms[0]["state"] == "failed",
                                    "the SMS to be refused")[0]
        self.assertTrue(refused["refused_by_tack"])
        first = self.action("/v1/orders/8301/contact",
                            {"phone": NEW_PHONE, "email": "anna.s@example.se", "reason": "ny"})
        self.assertEqual(first.status, 200, first)
        self.assertEqual(first.json()["resent"], [])
        updated = first.json()["updated"]
        self.assertIn(waiting["id"], updated)
        second = self.action("/v1/orders/8302/contact",
                             {"phone": "0707654321", "reason": "kunden ringde"})
        self.assertEqual(second.status, 200, second)
        self.assertEqual(len(second.json()["resent"]), 1)
        self.tackd_cli("release", "--gateway", "sms", "--config", self.config_path,
                       check=harness.EXIT_OK)
        for order_id in ("8301", "8302"):
            self.wait_for_sms(order_id, lambda ms: any(m["state"] == "sent" for m in ms),
                              "order %s's SMS to be sent" % order_id)
        self.assertEqual(sorted(s[0] for s in self.sink_sends()), [NEW_PHONE, NEW_PHONE])
        self.assertEqual(first.json()["order"]["corrected_contact"],
                         {"phone": NEW_PHONE, "email": "anna.s@example.se"})
        self.stop_tackd(self.tackd)

    def test_a_note_is_kept_and_shown_in_the_order_timeline(self):
        self.start_with_sink()
        self.post_events(event("nt-1", "8401", "shipped"))
        self.wait_for_sms("8401", lambda ms: bool(ms), "the order to be known")
        text = "Kunden ringde.\nPaketet är hos grannen."
        answer = self.action("/v1/orders/8401/notes", {"text": text})
        self.assertEqual(answer.status, 201, answer)
        note = answer.json()["note"]
        self.assertEqual((note["actor"], note["action"], note["target"], note["detail"]),
                         ("http:anna", "note", "order 8401", text))
        self.assertTrue(note["at"].endswith("Z"))
        audit = self.order("8401")["audit"]
        self.assertEqual([(a["action"], a["detail"]) for a in audit], [("note", text)])
        for body, why in [({"text": ""}, "must not be empty"), ({}, "text is missing"),
                          ({"text": "x" * 2001}, "at most 2000"),
                          ({"text": "bell\x07"}, "control characters"),
                          ({"text": "esc\x1b[31m"}, "control characters"),
                          ({"text": 1}, "must be a string"),
                          ({"text": "x", "reason": "y"}, "unknown field")]:
            reply = self.action("/v1/orders/8401/notes", body)
            self.assertEqual(reply.status, 400, (body, reply))
            self.assertIn(why, reply.json()["error"])
        # 2,000 characters of Swedish as a browser sends them (UTF-8, not
        # \u-escaped) fit in the 4 KiB body.
        longest = json.dumps({"text": "å" * 2000}, ensure_ascii=False).encode()
        self.assertLessEqual(len(longest), 4096)
        self.assertEqual(self.action("/v1/orders/8401/notes", longest).status, 201)
        self.assertEqual(self.action("/v1/orders/no-such/notes", {"text": "x"}).status, 404)
        self.assertEqual(self.action("/v1/orders/8401/notes", {"text": "x"},
                                     headers={"X-Tack-Request": None}).status, 403)
        self.assertEqual(self.action("/v1/orders/8401/notes", {"text": "x"}, user=None).status,
                         401)
        self.assertEqual(len(self.order("8401")["audit"]), 2)
        self.stop_tackd(self.tackd)

    def test_the_actions_answer_503_while_the_store_cannot_write(self):
        import resource
        self.start_with_sink()
        self.post_events(event("sf-1", "8501", "shipped"))
        sent = self.wait_for_sms("8501", lambda ms: ms and ms[0]["state"] == "sent",
                                 "the SMS to be sent")[0]
        pid = self.tackd.pid
        _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        # No file of tackd's may grow: every store write fails, as on a full disk.
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (1, hard))
        try:
            for path, body in [("/v1/messages/%d/resend" % sent["id"], {"reason": "r"}),
                               ("/v1/orders/8501/contact", {"phone": NEW_PHONE, "reason": "r"}),
                               ("/v1/orders/8501/notes", {"text": "t"})]:
                reply = self.action(path, body)
                self.assertEqual(reply.status, 503, (path, reply))
                self.assertEqual(reply.headers.get("retry-after"), "5")
                self.assertIn("nothing was committed", reply.json()["error"])
        finally:
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (hard, hard))
        self.wait_for(lambda: self.action("/v1/orders/8501/notes", {"text": "t"}).status == 201,
                      "the store to take writes again")
        order = self.order("8501")
        self.assertEqual([a["action"] for a in order["audit"]], ["note"])
        self.assertIsNone(order["corrected_contact"])
        self.assertEqual(len(order["messages"]), 2)
        self.stop_tackd(self.tackd)


class RoutesAndHealthTest(ApiTestCase):
    def test_methods_paths_and_the_support_page(self):
        self.start_api()
        self.assertEqual(self.get("/v1/events").status, 405)
        self.assertEqual(self.get("/v1/events").headers["allow"], "POST")
        self.assertEqual(self.request("POST", "/livez").status, 405)
        self.assertEqual(self.request("DELETE", "/v1/orders/1").status, 405)
        self.assertEqual(self.request("PUT", "/v1/messages").status, 405)
        for path in ("/v1/nope", "/v1", "/v1/orders", "/v1/messages/1/2/3"):
            reply = self.get(path)
            self.assertEqual(reply.status, 404, (path, reply))
            self.assertIn("error", reply.json())
        # The page and its files: behind Basic auth, never cached or framed.
        page = self.get("/", user=None)
        self.assertEqual(page.status, 401)
        self.assertIn("Basic", page.headers["www-authenticate"])
        page = self.get("/")
        self.assertEqual(page.status, 200, page)
        self.assertTrue(page.headers["content-type"].startswith("text/html"), page.headers)
        self.assert_hardened(page)
        self.assertEqual(self.get("/no-such-file.js").status, 404)
        self.assertEqual(self.get("/no-such-file.js", user=None).status, 401)
        self.stop_tackd(self.tackd)

    def test_livez_and_readyz_and_keep_alive(self):
        self.start_api()
        conn = self.connect()
        for _ in range(3):  # one connection, many requests
            live = self.request("GET", "/livez", user=None, conn=conn)
            self.assertEqual((live.status, live.body), (200, b"ok\n"))
            ready = self.request("GET", "/readyz", user=None, conn=conn)
            self.assertEqual((ready.status, ready.body), (200, b"ready\n"))
        conn.close()
        self.stop_tackd(self.tackd)

    def test_health_needs_auth_when_not_open(self):
        self.start_api(http={"health_from": []})
        for path in ("/livez", "/readyz", "/metrics"):
            self.assertEqual(self.get(path, user=None).status, 401, path)
            self.assertEqual(self.get(path).status, 200, path)
        self.stop_tackd(self.tackd)

    def test_draining_is_reported_and_new_connections_are_refused(self):
        sink = self.start_http_sink([{"delay_seconds": 3}])
        self.start_api(gateways=[self.http_gateway(sink.url), self.file_gateway("mail")],
                       sms=["sms"], email=["mail"])
        health = self.connect()
        intake = self.connect()
        intake.connect()  # open before the drain begins, used after
        self.assertEqual(self.request("GET", "/readyz", user=None, conn=health).status, 200)
        self.post_events(event("drain-1", "8001", "shipped"))
        self.wait_for(lambda: sink.requests(), "the slow send to start")
        self.tackd.signal(signal.SIGTERM)

        def draining():
            reply = self.request("GET", "/readyz", user=None, conn=health)
            return reply if reply.status == 503 else None
        reply = self.wait_for(draining, "/readyz to say draining", timeout=3)
        self.assertEqual(reply.body, b"draining\n")
        refused = self.post_events(event("drain-2", "8002", "shipped"), conn=intake)
        self.assertEqual(refused.status, 503, refused)
        with self.assertRaises(OSError):
            self.get("/livez", user=None)
        self.assertEqual(self.tackd.wait(harness.WAIT), harness.EXIT_OK)
        # The send in flight finished before tackd exited.
        self.assertEqual([m["state"] for m in self.messages("8001", channel="sms")], ["sent"])
        self.assertEqual(self.log(order="8002")["events"], [])

    def test_a_port_in_use_stops_the_start(self):
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        self.addCleanup(busy.close)
        self.write_config(self.make_config([self.file_gateway()], http={
            "listen": "127.0.0.1:%d" % busy.getsockname()[1]}))
        d = self.start_tackd(wait_ready=False)
        self.assertEqual(d.wait(harness.WAIT), 69, d.stderr())
        self.assertIn("http: cannot listen on 127.0.0.1:%d" % busy.getsockname()[1], d.stderr())

    def test_a_port_taken_before_tackd_binds_it_is_chosen_again(self):
        # The harness's start for a config naming its own port (callback
        # URLs): here another process takes the first port chosen, as a
        # parallel test may; tackd exits on it and starts on the next.
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        self.addCleanup(busy.close)
        taken = busy.getsockname()[1]
        tried = []

        def write(port):
            tried.append(taken if not tried else port)
            return self.write_config(self.make_config([self.file_gateway()], http={
                "listen": "127.0.0.1:%d" % tried[-1], "health_from": ["127.0.0.1"]}))
        tackd, port = self.start_tackd_on_chosen_port(write)
        self.assertEqual(len(tried), 2, tried)
        self.assertEqual(port, tried[1])
        self.assertIn("cannot listen on 127.0.0.1:%d" % taken, self.daemon_stderr())
        self.assertIn("http: listening on 127.0.0.1:%d" % port, tackd.stderr())
        self.stop_tackd(tackd)


class HostileClientTest(ApiTestCase):
    def test_a_head_too_large_is_refused(self):
        self.start_api()
        out = self.raw(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
        self.assertEqual(statuses(out), [b"431"], out[:200])
        out = self.raw(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                       b"".join(b"X-%d: y\r\n" % i for i in range(3000)) + b"\r\n")
        self.assertEqual(statuses(out), [b"431"], out[:200])
        self.assertEqual(self.get("/livez", user=None).status, 200)
        self.stop_tackd(self.tackd)

    def test_request_smuggling_is_refused_and_the_connection_closed(self):
        self.start_api()
        auth = ("Authorization: Bearer %s\r\n" % TOKEN).encode()
        smuggled = b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        attempts = [
            # both framings, either order
            b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth +
            b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
            b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth +
            b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + smuggled,
            # a coding after chunked, an unknown coding, chunked twice
            b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth +
            b"Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" + smuggled,
            b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth +
            b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" + smuggled,
            b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth +
            b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
            # two different lengths
            b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth +
            b"Content-Length: 0\r\nContent-Length: 40\r\n\r\n" + smuggled,
            # bad chunked encoding
            b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth +
            b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n" + smuggled,
            b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth +
            b"Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n" + smuggled,
            # a malformed request line
            b"GET /livez HTTP/1.1 extra\r\nHost: 127.0.0.1\r\n\r\n" + smuggled,
        ]
        for data in attempts:
            out = self.raw(data)
            self.assertEqual(statuses(out), [b"400"], (data[:120], out[:300]))
        # Nothing was taken; the two bodies refused after the token was
        # checked leave a trace (issue 12), the others end at the head.
        rejected = self.rejected()
        self.assertEqual(len(rejected), 2, rejected)
        for r in rejected:
            self.assertRegex(r["reason"], r"^malformed body: .*\(400\); not kept; from 127\.0\.0\.1:")
        self.assertEqual(self.get("/livez", user=None).status, 200)
        self.stop_tackd(self.tackd)

    def test_no_path_leads_out_of_the_support_page(self):
        self.start_api()
        for path in ("/../../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd",
                     "/..%2f..%2fetc%2fpasswd", "/a/../../daemon/admin.cpp", "//etc/passwd",
                     "/./index.html", "/%2fetc%2fpasswd", "/web/..", "/index.html%00.js"):
            reply = self.get(path)
            self.assertIn(reply.status, (400, 404), (path, reply))
            self.assertNotIn(b"root:", reply.body)
            self.assertIn("error", reply.json())
            self.assertEqual(self.get(path, user=None).status, 401 if reply.status == 404 else 400)
        self.stop_tackd(self.tackd)

    def test_bytes_that_are_not_utf8_are_refused(self):
        self.start_api()
        for target in (b"/v1/messages?to=%FF%FE", b"/v1/messages?order_id=%C3%28",
                       b"/v1/messages?order_id=a%00b", b"/v1/orders/%FF", b"/v1/messages?to=%G1",
                       b"/v1/messages?to=\xff\xfe"):
            out = self.raw(b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: " +
                           basic("anna", PASSWORD).encode() + b"\r\nConnection: close\r\n\r\n")
            self.assertEqual(statuses(out), [b"400"], (target, out[:300]))
        self.assertEqual(self.get("/v1/messages?order_id=%C3%A5").status, 200)
        self.stop_tackd(self.tackd)

    def test_a_slow_client_is_cut_off(self):
        self.start_api(http={"header_timeout": "1s", "idle_timeout": "1s"})
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        started = time.monotonic()
        closed_after = None
        try:
            for byte in b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"z" * 40:
                s.sendall(bytes([byte]))
                time.sleep(0.1)
        except OSError:
            closed_after = time.monotonic() - started
        if closed_after is None:
            s.settimeout(3)
            try:
                self.assertEqual(s.recv(100), b"")
            except ConnectionResetError:
                pass
            closed_after = time.monotonic() - started
        s.close()
        self.assertLess(closed_after, 4.0)
        # An idle keep-alive connection is closed too.
        conn = self.connect()
        self.assertEqual(self.request("GET", "/livez", user=None, conn=conn).status, 200)
        time.sleep(1.5)
        with self.assertRaises((http.client.HTTPException, OSError)):
            self.request("GET", "/livez", user=None, conn=conn)
        self.assertEqual(self.get("/livez", user=None).status, 200)
        self.stop_tackd(self.tackd)

    def test_at_the_cap_idle_connections_make_room_and_busy_ones_do_not(self):
        self.start_api(http={"max_connections": 4})
        # Four connections that have sent nothing: idle, so the oldest is
        # closed for a newcomer rather than keep it out.
        idle = [socket.create_connection(("127.0.0.1", self.port), timeout=5) for _ in range(4)]
        time.sleep(0.2)
        self.assertEqual(self.get("/livez", user=None).status, 200)
        self.assertEqual(idle[0].recv(100), b"")
        for s in idle:
            s.close()
        # Four in the middle of a request head: busy, so a newcomer waits
        # for one of them to end.
        busy = [socket.create_connection(("127.0.0.1", self.port), timeout=5) for _ in range(4)]
        for s in busy:
            s.sendall(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        time.sleep(0.2)
        waiting = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        waiting.sendall(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        waiting.settimeout(0.7)
        with self.assertRaises(socket.timeout):
            waiting.recv(100)
        busy.pop().close()
        waiting.settimeout(5)
        self.assertIn(b"200 OK", waiting.recv(1000))
        waiting.close()
        for s in busy:
            s.close()
        self.assertIn("http.max_connections", self.tackd.stderr())
        self.stop_tackd(self.tackd)

    def test_many_connections_at_once(self):
        # All from 127.0.0.1: the per-client cap is raised out of the way
        # to see the global one queue them.
        self.start_api(http={"max_connections": 64, "max_connections_per_client": 200})
        failures = []

        def client(n):
            try:
                conn = self.connect()
                for _ in range(3):
                    reply = self.request("GET", "/livez", user=None, conn=conn)
                    if reply.status != 200:
                        failures.append((n, reply.status))
                conn.close()
            except Exception as e:  # noqa: BLE001 - reported below
                failures.append((n, repr(e)))
        threads = [threading.Thread(target=client, args=(n,)) for n in range(150)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(harness.WAIT)
        self.assertEqual(failures, [])
        self.assertEqual(self.post_events(event("many-1", "9001", "shipped")).status, 200)
        self.assert_running(self.tackd)
        self.stop_tackd(self.tackd)


if __name__ == "__main__":
    unittest.main()
