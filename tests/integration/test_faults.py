"""Fault suite: gateways failing the ways networks fail, against real servers.

Each test starts a real server that misbehaves in one way (http_sink.py or
smtp_sink.py, or no server at all), lets tackd send one message through it,
and checks both what the server saw and what the delivery log says: the
outcome of every attempt ("retry", "unknown", "rejected", "sent"), its
detail, when the next attempt came, and that a retry carries the same
idempotency key. Scenarios already covered elsewhere are not repeated here:
500 then 200 and 400 (test_http), 451 at end of DATA and 550 5.1.1
(test_smtp), an open circuit (test_flow), one SIGKILL (test_restart).
"""

import datetime
import socket
import unittest

import harness
from harness import TackTestCase, event

PHONE = "+46701234567"

# Short, so the timeout tests stay quick; the timeout is the gateway's
# `timeout` key (config/tack.example.yaml: the whole request).
GATEWAY_TIMEOUT_S = 1.5


def unix_ms(rfc3339):
    """An attempt's started_at (RFC 3339 UTC with milliseconds) in Unix ms."""
    at = datetime.datetime.strptime(rfc3339, "%Y-%m-%dT%H:%M:%S.%fZ")
    return round(at.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)


def gap_seconds(earlier, later):
    """Seconds from the end of one attempt to the start of the next."""
    return (unix_ms(later["started_at"]) -
            (unix_ms(earlier["started_at"]) + earlier["duration_ms"])) / 1000.0


class FaultTestCase(TackTestCase):
    def start_http(self, script=None, url=None, retry=None, **gateway_extra):
        """tackd with the SMS channel on an http gateway (to http_sink, or to
        `url`); e-mail goes to a file gateway, out of the way."""
        if url is None:
            self.sink = self.start_http_sink(script)
            url = self.sink.url
        gateways = [self.http_gateway(url, **gateway_extra), self.file_gateway("mail_file")]
        self.write_config(self.make_config(gateways, sms=["sms"], email=["mail_file"],
                                           retry=retry))
        self.tackd = self.start_tackd()

    def start_smtp(self, extra_args):
        """tackd with the e-mail channel on SMTP to smtp_sink; SMS to a file."""
        self.smtp = self.start_smtp_sink_with(extra_args)
        gateways = [self.smtp_gateway(self.smtp, name="mail"), self.file_gateway("sms_file")]
        self.write_config(self.make_config(gateways, sms=["sms_file"], email=["mail"]))
        self.tackd = self.start_tackd()

    def one_message(self, order, channel, states):
        messages = [m for m in self.wait_for_messages(order, states, channel=channel)
                    if m["channel"] == channel]
        self.assertEqual(len(messages), 1, harness.summarize(messages))
        return messages[0]

    def assert_outcomes(self, message, outcomes):
        self.assertEqual([a["outcome"] for a in message["attempt_log"]], outcomes,
                         harness.summarize([message]))
        self.assertEqual([a["number"] for a in message["attempt_log"]],
                         list(range(1, len(outcomes) + 1)))

    def assert_same_key_at_sink(self, message, count):
        """The sink got `count` requests, each with the message's key."""
        requests = self.sink.requests()
        self.assertEqual(len(requests), count, requests)
        self.assertTrue(message["idempotency_key"])
        self.assertEqual([r["headers"].get("idempotency-key") for r in requests],
                         [message["idempotency_key"]] * count)
        return requests


class HttpUnknownOutcomeTest(FaultTestCase):
    """The request left tackd and no answer came back in time: the provider
    may have sent the SMS. The attempt is logged "unknown" and the message is
    retried with the same idempotency key, so a provider that deduplicates
    drops the repeat."""

    def check_unknown_then_sent(self, order):
        message = self.one_message(order, "sms", ("sent",))
        self.assert_outcomes(message, ["unknown", "sent"])
        first = message["attempt_log"][0]
        self.assertIn("after the request was sent", first["detail"])
        self.assertIn("timed out", first["detail"])
        # The gateway's timeout ended it, not something else sooner or later.
        self.assertGreaterEqual(first["duration_ms"], GATEWAY_TIMEOUT_S * 1000 - 100, first)
        self.assertLess(first["duration_ms"], GATEWAY_TIMEOUT_S * 1000 + 3000, first)
        self.assertEqual(message["provider_id"], "msg-2")
        text = self.log_text(order)
        self.assertRegex(text, r"attempt 1 .* via sms  unknown ")
        self.assertIn("state: sent", text)
        return message

    def test_an_answer_trickling_past_the_timeout_is_unknown_and_retried_with_the_same_key(self):
        # Status line and headers at once, then one byte a second: the
        # transfer is still running when the 1.5 s timeout fires.
        self.start_http(script=[{"status": 200, "body": {"id": "trickled-1", "pad": "x" * 40},
                                 "trickle_seconds": 1.0}],
                        timeout="%dms" % (GATEWAY_TIMEOUT_S * 1000), connect_timeout="1s")
        self.emit([event("ev-trickle", "5101", "shipped", locale="en", phone=PHONE)])
        message = self.check_unknown_then_sent("5101")
        # The trickled 200 never counted: its id is nowhere.
        self.assertNotIn("trickled-1", self.log_text("5101"))
        requests = self.assert_same_key_at_sink(message, 2)
        self.assertEqual(requests[0]["body"], requests[1]["body"])
        self.stop_tackd(self.tackd)

    def test_a_connection_accepted_and_never_read_is_unknown_and_retried_with_the_same_key(self):
        # TCP-level silence: the sink accepts the connection and never reads
        # a byte; the request sits in the kernel's buffers.
        self.start_http(script=[{"mute": True}],
                        timeout="%dms" % (GATEWAY_TIMEOUT_S * 1000), connect_timeout="1s")
        self.emit([event("ev-mute", "5102", "shipped", locale="en", phone=PHONE)])
        message = self.check_unknown_then_sent("5102")
        muted, answered = self.sink.requests()
        self.assertTrue(muted.get("muted"), muted)
        self.assertNotIn("muted", answered)
        # The key, peeked from the unread request, is the one retried.
        self.assertEqual(muted["headers"].get("idempotency-key"), message["idempotency_key"])
        self.assertEqual(answered["headers"].get("idempotency-key"), message["idempotency_key"])
        self.stop_tackd(self.tackd)

    def test_a_reset_after_the_request_is_unknown_and_retried_with_the_same_key(self):
        # The sink reads the whole request, then answers with a TCP RST: the
        # provider has the request, so tackd cannot know whether it acted.
        self.start_http(script=[{"reset": True}])
        self.emit([event("ev-reset", "5103", "shipped", locale="en", phone=PHONE)])
        message = self.one_message("5103", "sms", ("sent",))
        self.assert_outcomes(message, ["unknown", "sent"])
        self.assertRegex(message["attempt_log"][0]["detail"], r"(?i)reset")
        self.assertIn("after the request was sent", message["attempt_log"][0]["detail"])
        self.assert_same_key_at_sink(message, 2)
        self.stop_tackd(self.tackd)


class HttpRetryStatusTest(FaultTestCase):
    # Backoff alone would retry within 100 ms; max_backoff leaves room for
    # the Retry-After the tests send.
    RETRY = {"max_attempts": 10, "initial_backoff": "100ms", "max_backoff": "10s",
             "max_age": "1h"}

    def test_429_with_retry_after_in_seconds_waits_that_long(self):
        self.start_http(script=[{"status": 429, "headers": {"Retry-After": "2"},
                                 "body": {"error": "too many requests"}}], retry=self.RETRY)
        self.emit([event("ev-429s", "5201", "shipped", locale="en", phone=PHONE)])
        message = self.one_message("5201", "sms", ("sent",))
        self.assert_outcomes(message, ["retry", "sent"])
        first, second = message["attempt_log"]
        self.assertIn("HTTP 429", first["detail"])
        self.assertIn("too many requests", first["detail"])
        gap = gap_seconds(first, second)
        self.assertGreaterEqual(gap, 1.9, harness.summarize([message]))
        self.assertLess(gap, 4.5, harness.summarize([message]))
        self.assert_same_key_at_sink(message, 2)
        self.stop_tackd(self.tackd)

    def test_429_with_retry_after_as_an_http_date_waits_until_then(self):
        # The sink writes "Retry-After: <now + 3 s, rounded up to a second>"
        # as the answer goes out, so tackd must wait at least about 3 s.
        self.start_http(script=[{"status": 429, "retry_after_date": 3, "body": "slow down"}],
                        retry=self.RETRY)
        self.emit([event("ev-429d", "5202", "shipped", locale="en", phone=PHONE)])
        message = self.one_message("5202", "sms", ("sent",))
        self.assert_outcomes(message, ["retry", "sent"])
        first, second = message["attempt_log"]
        self.assertIn("HTTP 429", first["detail"])
        self.assertIn("slow down", first["detail"])
        gap = gap_seconds(first, second)
        self.assertGreaterEqual(gap, 2.7, harness.summarize([message]))
        self.assertLess(gap, 6.5, harness.summarize([message]))
        self.assert_same_key_at_sink(message, 2)
        self.stop_tackd(self.tackd)

    def test_a_retry_after_longer_than_max_backoff_is_clamped(self):
        retry = dict(self.RETRY, max_backoff="1s")
        self.start_http(script=[{"status": 429, "headers": {"Retry-After": "3600"}}],
                        retry=retry)
        self.emit([event("ev-429c", "5203", "shipped", locale="en", phone=PHONE)])
        message = self.one_message("5203", "sms", ("sent",))
        self.assert_outcomes(message, ["retry", "sent"])
        self.assertIn("HTTP 429", message["attempt_log"][0]["detail"])
        self.assertLess(gap_seconds(*message["attempt_log"]), 3.0, harness.summarize([message]))
        self.stop_tackd(self.tackd)

    def test_408_is_retried(self):
        self.start_http(script=[{"status": 408, "body": "request timeout"}], retry=self.RETRY)
        self.emit([event("ev-408", "5204", "shipped", locale="en", phone=PHONE)])
        message = self.one_message("5204", "sms", ("sent",))
        self.assert_outcomes(message, ["retry", "sent"])
        self.assertIn("HTTP 408", message["attempt_log"][0]["detail"])
        self.assertIn("request timeout", message["attempt_log"][0]["detail"])
        # No Retry-After: the backoff's first step (up to 100 ms), not more.
        self.assertLess(gap_seconds(*message["attempt_log"]), 2.0, harness.summarize([message]))
        self.assert_same_key_at_sink(message, 2)
        self.stop_tackd(self.tackd)


class HttpUnreachableTest(FaultTestCase):
    RETRY = {"max_attempts": 1000, "initial_backoff": "100ms", "max_backoff": "200ms",
             "max_age": "1h"}

    def wait_retrying(self, order, attempts):
        def retrying():
            ms = self.messages(order, "sms")
            return len(ms) == 1 and len(ms[0]["attempt_log"]) >= attempts and ms[0]
        return self.wait_for(retrying, lambda: "%d failed attempts of the SMS: %s" % (
            attempts, harness.summarize(self.messages(order, "sms"))))

    def test_a_closed_port_is_retried_with_a_connect_error_until_the_provider_is_back(self):
        # A socket bound but not listening holds the port (nobody else gets
        # it) and refuses connections, as a closed port does.
        holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(holder.close)
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        # The circuit opens after 5 failures; a short cooldown lets its probe
        # find the provider back within the test's wait.
        self.start_http(url="http://127.0.0.1:%d" % port, retry=self.RETRY,
                        circuit_cooldown="1s")
        self.emit([event("ev-closed", "5301", "shipped", locale="en", phone=PHONE)])
        message = self.wait_retrying("5301", 3)
        for a in message["attempt_log"]:
            self.assertEqual(a["outcome"], "retry", harness.summarize([message]))
            self.assertIn("connect failed", a["detail"])
            self.assertIn("Connection refused", a["detail"])
            self.assertIn("127.0.0.1 port %d" % port, a["detail"])
        self.assertNotEqual(message["state"], "sent")

        # The provider comes back on that port: the next attempt goes through.
        holder.close()
        self.sink = self.start_http_sink_with(["--port", str(port)], label="back")
        self.assertEqual(self.sink.port, port)
        message = self.one_message("5301", "sms", ("sent",))
        outcomes = [a["outcome"] for a in message["attempt_log"]]
        self.assertEqual(outcomes[-1], "sent")
        self.assertEqual(set(outcomes[:-1]), {"retry"}, harness.summarize([message]))
        self.assert_same_key_at_sink(message, 1)
        self.stop_tackd(self.tackd)

    def test_a_host_that_does_not_resolve_is_retried_with_a_resolve_error(self):
        # .invalid never resolves (RFC 6761); no network is needed.
        self.start_http(url="http://nonexistent.invalid", retry=self.RETRY)
        self.emit([event("ev-dns", "5302", "shipped", locale="en", phone=PHONE)])
        message = self.wait_retrying("5302", 2)
        self.assertIn(message["state"], ("retry_wait", "sending"), harness.summarize([message]))
        for a in message["attempt_log"]:
            self.assertEqual(a["outcome"], "retry", harness.summarize([message]))
            self.assertIn("connect failed", a["detail"])
            # "Could not resolve host: nonexistent.invalid", or "Resolving
            # timed out" where a resolver is configured but unreachable.
            self.assertRegex(a["detail"], r"(?i)resolv")
        self.assertRegex(message["last_error"], r"(?i)resolv")
        self.assert_running(self.tackd)
        self.stop_tackd(self.tackd)


class SmtpFaultTest(FaultTestCase):
    """What test_smtp.py does not cover: 421 (at the greeting and at MAIL
    FROM) and a greylisting 451 at RCPT TO."""

    def check_retried_then_sent(self, order, reply_code, enhanced):
        """One refused attempt (the reply and its enhanced code in the log),
        then the message accepted."""
        message = self.one_message(order, "email", ("sent",))
        self.assert_outcomes(message, ["retry", "sent"])
        detail = message["attempt_log"][0]["detail"]
        self.assertIn(reply_code, detail)
        self.assertIn(enhanced, detail)
        accepted = self.smtp.accepted()
        self.assertEqual(len(accepted), 1, self.smtp.messages())
        self.assertEqual(accepted[0]["rcpt_tos"], [message["to"]])
        self.assertEqual(message["attempt_log"][-1]["gateway"], "mail")
        self.assertIn("state: sent", self.log_text(order))
        return message

    def test_421_at_the_greeting_is_retried(self):
        self.start_smtp(["--greeting-reply", "421 4.3.2 too busy, come back later"])
        self.emit([event("ev-421g", "5401", "delivered", locale="en", phone=None)])
        self.check_retried_then_sent("5401", "421", "4.3.2")
        self.stop_tackd(self.tackd)

    def test_421_at_mail_from_is_retried(self):
        self.start_smtp(["--mail-reply", "421 4.3.2 service shutting down"])
        self.emit([event("ev-421m", "5402", "delivered", locale="en", phone=None)])
        self.check_retried_then_sent("5402", "421", "4.3.2")
        self.stop_tackd(self.tackd)

    def test_451_greylisting_at_rcpt_to_is_retried(self):
        self.start_smtp(["--rcpt-reply", "451 4.7.1 greylisted, try again later"])
        self.emit([event("ev-451r", "5403", "delivered", locale="en", phone=None)])
        message = self.check_retried_then_sent("5403", "451", "4.7.1")
        self.assertIn("greylisted", message["attempt_log"][0]["detail"])
        self.stop_tackd(self.tackd)


if __name__ == "__main__":
    unittest.main()
