"""The limits: section and secrets hygiene against a real tackd.

Hostile input through each door (the outbox via `tackd emit`, POST
/v1/events, the HTTP request head) is refused by the configured limits
with a clear reason, while the good events around it are delivered by a
daemon that keeps running. A rendering over limits.max_message_bytes fails
that message only. A provider that echoes the gateway's credentials has
them masked in the delivery log and tackd's log. A secret in a file others
can read is warned about, or refused with secrets.on_readable: refuse.
"""

import json
import os
import re
import signal
import unittest

import harness
from harness import TackTestCase, event
from test_api import TOKEN, ApiTestCase, statuses

LIMITS = {"max_event_bytes": 1048576, "max_json_depth": 16, "max_json_values": 2000,
          "max_string_bytes": 4096, "max_events_per_request": 5,
          "max_request_head_bytes": 2048, "max_message_bytes": 2000}


class HostileEventsTest(ApiTestCase):
    def start_limited(self, gateways=None, rules=None, sms=None, email=None, **top):
        settings = {"listen": "127.0.0.1:0", "events": {"token": TOKEN}}
        gateways = gateways or [self.file_gateway()]
        self.write_config(self.make_config(gateways, rules=rules, sms=sms, email=email,
                                           http=settings, limits=dict(LIMITS), **top))
        self.tackd = self.start_tackd()
        self.port = self.http_port(self.tackd)

    def test_hostile_events_through_the_outbox_are_rejected_with_reasons(self):
        self.start_limited()
        base = event("x", "7001", "delivered", phone=None, email="good@example.se")
        prefix = json.dumps({k: v for k, v in base.items() if k != "data"})[:-1]

        def with_data(event_id, data):
            return prefix.replace('"event_id": "x"', '"event_id": "%s"' % event_id) + \
                ', "data": ' + data + "}"

        path = os.path.join(self.tmp, "hostile.jsonl")
        lines = [
            with_data("deep", "[" * 100000 + "]" * 100000).encode(),
            with_data("wide", "[" + ",".join(["1"] * 5000) + "]").encode(),
            with_data("long", json.dumps({"note": "x" * 5000})).encode(),
            with_data("nul", '{"note": "a\x00b"}').encode(),
            with_data("utf8", '{"note": "@"}').encode().replace(b"@", b"\xc0\xaf\xff"),
            with_data("number", "1" + "0" * 400 + "e999999").encode(),
            json.dumps(event("good-1", "7002", "delivered", phone=None,
                             email="good1@example.se")).encode(),
        ]
        with open(path, "wb") as f:
            f.write(b"\n".join(lines) + b"\n")
        emitted = self.tackd_cli("emit", "--config", self.config_path, path, check=0)
        self.assertIn("will be rejected", emitted.stderr)

        expected = [
            r"^JSON nested deeper than 16 levels \(limits\.max_json_depth\)$",
            r"^JSON holds more than 2000 values \(limits\.max_json_values\)$",
            r"^a JSON string is longer than 4096 bytes \(limits\.max_string_bytes\)$",
            r"^not JSON: .*control character.* at line 1, column \d+$",
            r"^not JSON: .*UTF-8.* at line 1, column \d+$",
            r"^not JSON: number overflow",
        ]
        rejected = self.wait_for(lambda: len(self.rejected()) >= len(expected) and self.rejected(),
                                 lambda: json.dumps(self.rejected(), indent=1))
        reasons = [r["reason"] for r in rejected]
        self.assertEqual(len(reasons), len(expected), reasons)
        for pattern in expected:
            self.assertEqual(len([r for r in reasons if re.search(pattern, r)]), 1,
                             "/%s/ in %s" % (pattern, reasons))
        # No reason quotes the input it refused.
        for r in reasons:
            self.assertNotIn("good@example.se", r)
            self.assertNotIn("last read", r)
        self.wait_for_messages("7002", "sent")
        self.assert_running(self.tackd)
        self.stop_tackd(self.tackd)

    def test_hostile_bodies_and_heads_over_http_get_json_errors(self):
        self.start_limited()
        # 100000 brackets: one event, rejected with the parser's reason.
        reply = self.post_events(("[" * 100000 + "]" * 100000).encode())
        self.assertEqual(reply.status, 400, reply)
        body = reply.json()
        self.assertEqual(body["results"][0]["verdict"], "rejected", body)
        self.assertIn("limits.max_json_depth", body["results"][0]["reason"])
        # More events than limits.max_events_per_request: 413, JSON error.
        six = [event("many-%d" % i, "7100", "delivered", phone=None) for i in range(6)]
        reply = self.post_events(six)
        self.assertEqual(reply.status, 413, reply)
        self.assertEqual(reply.json()["error"],
                         "at most 5 events per request (limits.max_events_per_request)")
        # A head over limits.max_request_head_bytes: 431, JSON error.
        out = self.raw(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 3000 + b"\r\n\r\n")
        self.assertEqual(statuses(out), [b"431"], out[:300])
        self.assertIn(b'"error":"the request head is larger than 2048 bytes '
                      b'(limits.max_request_head_bytes)"', out.replace(b" \"", b"\""))
        # Bytes that are not UTF-8 in an event: rejected, not a crash.
        reply = self.post_events(b'{"event_id": "bad\xff", "order_id": "1"}')
        self.assertEqual(reply.status, 400, reply)
        self.assertIn("UTF-8", reply.json()["results"][0]["reason"])
        # Still taking good events.
        reply = self.post_events([event("fine-1", "7101", "delivered", phone=None)])
        self.assertEqual(reply.status, 200, reply)
        self.wait_for_messages("7101", "sent")
        self.assert_running(self.tackd)
        self.stop_tackd(self.tackd)

    def test_a_rendering_over_max_message_bytes_fails_that_message_only(self):
        templates = os.path.join(self.tmp, "templates")
        os.mkdir(templates)
        with open(os.path.join(templates, "note.yaml"), "w", encoding="utf-8") as f:
            f.write('sms:\n  en: "Order {{order_id}}: {{data.note}}"\n'
                    'email:\n  en:\n    subject: "Order {{order_id}}"\n'
                    '    text: "Order {{order_id}} is on its way."\n')
        sms = self.start_http_sink()
        rules = [{"name": "note", "on": "shipped", "template": "note",
                  "channels": ["sms", "email"]}]
        self.start_limited(gateways=[self.http_gateway(sms.url), self.file_gateway("mail")],
                           sms=["sms"], email=["mail"], rules=rules,
                           templates={"dir": templates})
        # 3000 bytes: within max_string_bytes (4096), over max_message_bytes (2000).
        self.emit([event("big-msg", "7200", "shipped", locale="en",
                         data={"note": "x" * 3000})])
        messages = self.wait_for_messages("7200", ("sent", "failed"), count=2)
        by_channel = {m["channel"]: m for m in messages}
        self.assertEqual(by_channel["sms"]["state"], "failed", harness.summarize(messages))
        self.assertRegex(by_channel["sms"]["last_error"],
                         r"template note, sms \(en\): output is over 2000 bytes "
                         r"\(limits\.max_message_bytes\)$")
        self.assertEqual(by_channel["sms"]["attempt_log"], [], "never handed to a gateway")
        self.assertEqual(by_channel["email"]["state"], "sent")
        self.assertEqual(sms.requests(), [])
        # The next event is sent as usual.
        self.emit([event("small-msg", "7201", "shipped", locale="en", data={"note": "hi"})])
        self.wait_for_messages("7201", "sent", channel="sms")
        self.assert_running(self.tackd)
        self.stop_tackd(self.tackd)


class SecretsHygieneTest(TackTestCase):
    def config_with_inline_secret(self, sink, **top):
        gateways = [self.http_gateway(sink.url, bearer_token="sk-live-inline-0123456789"),
                    self.file_gateway("mail")]
        return self.write_config(self.make_config(gateways, sms=["sms"], email=["mail"], **top))

    def test_a_readable_config_with_an_inline_secret_is_warned_about(self):
        sink = self.start_http_sink()
        path = self.config_with_inline_secret(sink)
        os.chmod(path, 0o644)
        check = self.tackd_cli("check", "--config", path)
        self.assertEqual(check.returncode, harness.EXIT_OK, check.stderr)
        self.assertIn("warning: secrets: %s holds the secret gateway 'sms' bearer_token and can "
                      "be read by its group and all users (mode 0644); run chmod 600 %s"
                      % (path, path), check.stderr)
        tackd = self.start_tackd(path)
        self.assertIn("mode 0644", tackd.stderr())
        self.stop_tackd(tackd)
        # chmod 600: no warning.
        os.chmod(path, 0o600)
        self.assertNotIn("secrets:", self.tackd_cli("check", "--config", path).stderr)

    def test_refuse_stops_check_start_and_reload(self):
        sink = self.start_http_sink()
        path = self.config_with_inline_secret(sink, secrets={"on_readable": "refuse"})
        os.chmod(path, 0o640)
        check = self.tackd_cli("check", "--config", path)
        self.assertEqual(check.returncode, harness.EXIT_CONFIG, check.stderr)
        self.assertIn("can be read by its group (mode 0640)", check.stderr)
        self.assertIn("(secrets.on_readable: refuse)", check.stderr)
        d = self.start_tackd(path, wait_ready=False)
        self.assertEqual(d.wait(harness.WAIT), harness.EXIT_CONFIG, d.stderr())
        self.assertIn("mode 0640", d.stderr())
        # Running with the config private, a reload after chmod 640 keeps
        # the running config.
        os.chmod(path, 0o600)
        running = self.start_tackd(path)
        os.chmod(path, 0o640)
        running.signal(signal.SIGHUP)
        self.wait_for(lambda: "keeping the running one" in running.stderr(),
                      "the reload to be refused")
        self.assertIn("reload: secrets: %s holds the secret gateway 'sms' bearer_token" % path,
                      running.stderr())
        self.assert_running(running)
        self.stop_tackd(running)
        # A secret *_file readable by others: refused the same way.
        os.chmod(path, 0o600)
        secret = os.path.join(self.tmp, "token")
        with open(secret, "w", encoding="utf-8") as f:
            f.write("sk-live-from-a-file-0123456789\n")
        os.chmod(secret, 0o604)
        harness.register_secret("sk-live-from-a-file-0123456789")
        config = self.make_config([self.http_gateway(sink.url, bearer_token_file=secret),
                                   self.file_gateway("mail")], sms=["sms"], email=["mail"],
                                  secrets={"on_readable": "refuse"})
        path = self.write_config(config, name="file.yaml")
        check = self.tackd_cli("check", "--config", path)
        self.assertEqual(check.returncode, harness.EXIT_CONFIG, check.stderr)
        self.assertIn("%s holds the secret gateway 'sms' bearer_token_file and can be read by "
                      "all users (mode 0604)" % secret, check.stderr)
        self.assertNotIn("sk-live-from-a-file", check.stderr + check.stdout)

    def test_a_provider_echoing_the_credentials_has_them_masked(self):
        token = "sk-live-echoed-0123456789"
        sink = self.start_http_sink([{"status": 401, "body": {
            "error": "invalid token " + token + " for https://u:pw-9876543@api.example/"}}])
        gateways = [self.http_gateway(sink.url, bearer_token=token), self.file_gateway("mail")]
        self.write_config(self.make_config(gateways, sms=["sms"], email=["mail"]))
        os.chmod(self.config_path, 0o600)
        tackd = self.start_tackd()
        self.emit([event("echo-1", "7300", "shipped", email=None)])
        # A 401 holds the gateway (the message waits): the answer shows in
        # the attempt, the message's last error and tackd's error line.
        messages = self.wait_for(
            lambda: [m for m in self.messages("7300", channel="sms") if m["attempt_log"]],
            "the refused attempt in the log")
        self.wait_for(lambda: "refused tack's credentials" in tackd.stderr(), "the hold's error")
        self.stop_tackd(tackd)
        self.assertEqual(messages[0]["state"], "queued")
        self.assertNotIn(token, messages[0]["last_error"])
        detail = messages[0]["attempt_log"][0]["detail"]
        self.assertIn("invalid token *** for https://u:***@api.example/", detail)
        self.assertNotIn(token, detail)
        self.assertNotIn(token, tackd.stderr())
        self.assertEqual(sink.requests()[0]["headers"]["authorization"], "Bearer " + token)


class RefusedRequestTraceTest(ApiTestCase):
    """Issue 12, defect 8: a request to /v1/events that is refused after its
    credentials were checked (a body over http.max_body_bytes, by its
    Content-Length or while reading chunks, a malformed chunked body, a body
    that does not arrive within http.request_timeout) leaves a row in
    `tackd log --rejected` with its size and source but never its body, and
    a warning in tackd's log. Without credentials it leaves only a log line,
    and no more than a few of those a minute: a flood cannot fill the store
    or the journal."""

    BODY_MARK = "do-not-keep-this-body"

    def test_refused_bodies_leave_a_trace_without_the_body(self):
        self.start_api(http={"max_body_bytes": 4096, "request_timeout": "1s"})
        big = [event("big-%d" % i, "3101", "shipped", data={"note": self.BODY_MARK})
               for i in range(20)]
        size = len(json.dumps(big))
        self.assertGreater(size, 4096)
        # By its Content-Length: 413 before the body is read.
        self.assertEqual(self.post_events(big).status, 413)
        auth = ("Authorization: Bearer %s\r\n" % TOKEN).encode()
        # Chunked: cut off once the chunks pass the limit.
        chunk = self.BODY_MARK.encode() * 150
        body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(3)) + b"0\r\n\r\n"
        out = self.raw(b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth +
                       b"Transfer-Encoding: chunked\r\n\r\n" + body)
        self.assertEqual(statuses(out), [b"413"], out)
        # Chunked framing that is not hex: 400.
        out = self.raw(b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth +
                       b"Transfer-Encoding: chunked\r\n\r\nzz\r\n" +
                       self.BODY_MARK.encode() + b"\r\n0\r\n\r\n")
        self.assertEqual(statuses(out), [b"400"], out)
        # A body that stops half-way: cut off at http.request_timeout.
        self.raw(b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth +
                 b"Content-Length: 1000\r\n\r\n" + self.BODY_MARK.encode(), timeout=4)

        rows = self.wait_for(lambda: len(self.rejected()) >= 4 and self.rejected(),
                             lambda: json.dumps(self.rejected(), indent=1))
        self.assertEqual(len(rows), 4, json.dumps(rows, indent=1))
        for row in rows:
            self.assertEqual(row["source"], "http", row)
            self.assertIn("127.0.0.1", row["reason"])
            self.assertNotIn(self.BODY_MARK, json.dumps(row))
        reasons = sorted(r["reason"] for r in rows)
        joined = "\n".join(reasons)
        self.assertIn("%d bytes" % size, joined)                  # the size it declared
        self.assertIn("http.max_body_bytes 4096", joined)
        self.assertRegex(joined, r"chunked body .*more than 4096 bytes")
        self.assertRegex(joined, r"malformed body")
        self.assertRegex(joined, r"\d+ of 1000 bytes .*http\.request_timeout")
        # The same, in tackd's log, at warning level.
        warnings = [l for l in self.tackd.stderr().splitlines()
                    if l.startswith("warning: ") and "/v1/events" in l]
        self.assertEqual(len(warnings), 4, self.tackd.stderr())
        self.assertFalse(any(self.BODY_MARK in l for l in warnings), warnings)

        # Without credentials: 401, nothing in the store, a few log lines.
        for _ in range(30):
            out = self.raw(b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           b"Content-Length: 99999999\r\n\r\n")
            self.assertEqual(statuses(out), [b"401"], out)
        self.assertEqual(len(self.rejected()), 4)
        unauthenticated = self.wait_for(
            lambda: [l for l in self.tackd.stderr().splitlines()
                     if l.startswith("warning: ") and "without valid credentials" in l],
            "a warning about requests without credentials")
        self.assertLessEqual(len(unauthenticated), 10, unauthenticated)
        self.assertEqual(self.post_events([event("fine-1", "3102", "delivered")]).status, 200)
        self.stop_tackd(self.tackd)


if __name__ == "__main__":
    unittest.main()
