"""A gateway's health as tack judges it, against real servers: a provider
that refuses tack's credentials holds the gateway (its messages wait, they
do not fail) until a reload with new credentials or an operator's release;
a provider that answers each message's first try with a temporary refusal
(greylisting) is up, and its circuit does not stall the channel."""

import re
import signal
import time
import unittest

import harness
from harness import TackTestCase, event
import test_api
from test_api import ApiTestCase

SMS_ONLY = [{"name": "shipped", "on": "shipped", "template": "shipped", "channels": ["sms"]}]
FAST_RETRY = {"max_attempts": 10, "initial_backoff": "100ms", "max_backoff": "500ms",
              "max_age": "1h"}


def phone(i):
    return "+4670123%04d" % i


class AuthHoldTest(ApiTestCase):
    def start_with(self, sink, password, sms=("sms",), extra_gateways=()):
        gateway = self.http_gateway(sink.url, username="tack", password=password)
        gateways = [gateway, self.file_gateway("mail_file")] + list(extra_gateways)
        self.start_api(gateways=gateways, sms=list(sms), email=["mail_file"], rules=SMS_ONLY,
                       retry=FAST_RETRY)
        return gateway

    def emit_orders(self, first, count):
        self.emit([event("auth-%d" % i, str(i), "shipped", phone=phone(i), email=None)
                   for i in range(first, first + count)])

    def states(self, first, count):
        return [self.messages(str(i), channel="sms")[0]["state"]
                for i in range(first, first + count)]

    def refused(self, sink):
        return [r for r in sink.requests() if r.get("refused")]

    def assert_held(self, sink, first, count, password):
        self.wait_for(lambda: self.refused(sink), "the provider to refuse a request")
        self.wait_for(lambda: re.search(r"^error: .*gateway sms.*credentials", self.tackd.stderr(),
                                        re.M), "an error about the gateway's credentials")
        time.sleep(1.5)  # the dispatcher looks at least once a second
        # Held: no message failed, and the provider is not hammered (only
        # the sends already under way when the first 401 came back).
        for state in self.states(first, count):
            self.assertIn(state, ("queued", "retry_wait"))
        refused = len(self.refused(sink))
        self.assertLessEqual(refused, 8)
        time.sleep(1.0)
        self.assertEqual(len(self.refused(sink)), refused, "a held gateway sends nothing")
        # Logged once per hold, never the secret.
        errors = [l for l in self.tackd.stderr().splitlines()
                  if l.startswith("error: ") and "credentials" in l]
        self.assertEqual(len(errors), 1, errors)
        self.assertNotIn(password, self.tackd.stderr())
        # Readiness says so (200: tack still takes events), and so does a metric.
        ready = self.get("/readyz", user=None)
        self.assertEqual(ready.status, 200, ready)
        self.assertIn("degraded", ready.body.decode())
        self.assertIn("gateway sms held", ready.body.decode())
        metrics = self.get("/metrics", user=None).body.decode()
        self.assertIn('tack_gateway_held{gateway="sms",reason="auth"} 1', metrics)

    def assert_released(self, first, count):
        for i in range(first, first + count):
            self.wait_for_messages(str(i), ("sent",), channel="sms")
        ready = self.get("/readyz", user=None)
        self.assertEqual((ready.status, ready.body.decode()), (200, "ready\n"))
        metrics = self.get("/metrics", user=None).body.decode()
        self.assertIn('tack_gateway_held{gateway="sms",reason="auth"} 0', metrics)

    def test_a_wrong_password_holds_the_gateway_until_a_reload_fixes_it(self):
        sink = self.start_http_sink_with(["--basic-auth", "tack:right-password-1"])
        gateway = self.start_with(sink, "wrong-password-1")
        self.emit_orders(3000, 5)
        self.assert_held(sink, 3000, 5, "wrong-password-1")
        # The operator fixes the password and reloads: the gateway resumes.
        self.write_config(self.make_config([dict(gateway, password="right-password-1"),
                                            self.file_gateway("mail_file")],
                                           sms=["sms"], email=["mail_file"], rules=SMS_ONLY,
                                           retry=FAST_RETRY, http=self.http_settings))
        self.tackd.signal(signal.SIGHUP)
        self.assert_released(3000, 5)
        self.assertIn("gateway sms", self.tackd.stderr())
        for i in range(3000, 3005):
            [m] = self.messages(str(i), channel="sms")
            self.assertEqual(m["attempt_log"][-1]["outcome"], "sent")
            self.assertNotIn("failed", [a["outcome"] for a in m["attempt_log"]])
        self.stop_tackd(self.tackd)

    def test_an_operator_release_resumes_a_gateway_whose_account_was_fixed(self):
        sink = self.start_http_sink_with(["--basic-auth", "tack:another-password"])
        self.start_with(sink, "account-password-2")
        self.emit_orders(3100, 3)
        self.assert_held(sink, 3100, 3, "account-password-2")
        # The provider's side is fixed (same port, the password tack has).
        port = sink.port
        sink.stop()
        fixed = self.start_http_sink_with(["--port", str(port), "--basic-auth",
                                           "tack:account-password-2"], label="http_sink_fixed")
        self.tackd_cli("release", "--gateway", "sms", "--config", self.config_path,
                       check=harness.EXIT_OK)
        self.assert_released(3100, 3)
        self.assertEqual(len(fixed.requests()), 3)
        self.stop_tackd(self.tackd)

    def test_a_held_gateways_messages_go_to_the_channels_next_gateway(self):
        sink = self.start_http_sink_with(["--basic-auth", "tack:right-password-3"])
        backup = self.file_gateway("sms_backup")
        self.start_with(sink, "wrong-password-3", sms=("sms", "sms_backup"),
                        extra_gateways=[backup])
        self.emit_orders(3200, 4)
        for i in range(3200, 3204):
            [m] = self.wait_for_messages(str(i), ("sent",), channel="sms")
            self.assertEqual(m["attempt_log"][-1]["gateway"], "sms_backup")
        self.assertEqual(len(harness.read_json_lines(backup["path"])), 4)
        self.stop_tackd(self.tackd)

    def start_api(self, http=None, **kw):
        # Kept for the reload, which writes the whole config again.
        self.http_settings = {
            "listen": "127.0.0.1:0",
            "events": {"token": test_api.TOKEN, "hmac_secret": test_api.HMAC_SECRET},
            "users": [{"name": "anna", "password_hash": test_api.sha512_crypt(test_api.PASSWORD)}],
            "health_from": ["127.0.0.1"],
        }
        self.http_settings.update(http or {})
        return super().start_api(http=self.http_settings, **kw)


class GreylistTest(TackTestCase):
    def test_a_greylisting_server_gets_every_message_through(self):
        # Each recipient's first try is refused with 451 4.7.1, as a
        # greylisting server does; the next one is accepted. The server is
        # up and answering: the circuit must not stall the channel.
        smtp = self.start_smtp_sink_with(["--greylist"])
        gateways = [self.smtp_gateway(smtp, circuit_cooldown="1s"), self.file_gateway("sms_file")]
        retry = {"max_attempts": 10, "initial_backoff": "1s", "max_backoff": "5m",
                 "max_age": "24h"}
        rules = [{"name": "delivered", "on": "delivered", "template": "delivered",
                  "channels": ["email"]}]
        self.write_config(self.make_config(gateways, sms=["sms_file"], email=["mail"],
                                           retry=retry, rules=rules))
        tackd = self.start_tackd()
        started = time.monotonic()
        self.emit([event("gl-%d" % i, "70%02d" % i, "delivered", locale="en", phone=None,
                         email="kund%d@example.se" % i) for i in range(30)])
        self.wait_for(lambda: len(smtp.accepted()) >= 30,
                      lambda: "30 accepted messages; the server has %d" % len(smtp.accepted()),
                      timeout=60)
        elapsed = time.monotonic() - started
        for i in range(30):
            [m] = self.wait_for_messages("70%02d" % i, ("sent",), channel="email")
            outcomes = [a["outcome"] for a in m["attempt_log"]]
            self.assertEqual(outcomes, ["retry", "sent"], harness.summarize([m]))
            self.assertIn("451", m["attempt_log"][0]["detail"])
        self.assertNotIn("circuit open", tackd.stderr())
        print("greylisting: 30 messages sent in %.1f s" % elapsed)
        self.stop_tackd(tackd)


if __name__ == "__main__":
    unittest.main()
