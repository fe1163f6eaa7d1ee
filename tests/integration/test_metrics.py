"""GET /metrics of a real tackd, parsed with the Prometheus project's own
Python client (python3-prometheus-client): the families' names, types,
HELP text, labels and values after real events, real queue states and
real reloads; every series at 0 before anything happened."""

import os
import re
import signal
import time
import unittest

from prometheus_client.parser import text_string_to_metric_families

import harness
from harness import event
from test_api import ApiTestCase


def lifecycle_states():
    """Every state name daemon/store/lifecycle.cpp's to_string(MessageState)
    gives, read from the source: a state added there is expected here."""
    with open(os.path.join(harness.SOURCE_DIR, "daemon", "store", "lifecycle.cpp"),
              encoding="utf-8") as f:
        text = f.read()
    body = text[text.index("std::string_view to_string(MessageState state) {"):]
    body = body[:body.index("\n}\n")]
    states = re.findall(r'case S::\w+: return "(\w+)";', body)
    assert len(states) >= 15, states
    return states


class MetricsTest(ApiTestCase):
    def scrape(self):
        reply = self.get("/metrics", user=None)
        self.assertEqual(reply.status, 200, reply)
        self.assertEqual(reply.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8")
        text = reply.body.decode("utf-8")
        families = {f.name: f for f in text_string_to_metric_families(text)}
        return text, families

    def sample(self, families, family, name=None, **labels):
        """The value of one sample, or None when there is none."""
        for s in families[family].samples:
            if s.name == (name or family) and s.labels == labels:
                return s.value
        return None

    def two_gateways(self, sink, **top):
        """An SMS provider over HTTP (gateway "sms"), e-mail to a file
        (gateway "mail"); events from HTTP and from the outbox."""
        self.start_api(gateways=[self.http_gateway(sink.url), self.file_gateway("mail")],
                       sms=["sms"], email=["mail"], **top)

    def test_every_series_is_there_at_zero_before_any_event(self):
        sink = self.start_http_sink()
        self.two_gateways(sink)
        started = time.time()
        text, families = self.scrape()

        messages = "tack_messages"
        series = {(s.labels["channel"], s.labels["gateway"], s.labels["state"]): s.value
                  for s in families[messages].samples if s.name == messages + "_total"}
        for state in lifecycle_states():
            self.assertEqual(series.get(("sms", "sms", state)), 0, state)
            self.assertEqual(series.get(("email", "mail", state)), 0, state)
        # One vocabulary: no state label the lifecycle does not have.
        self.assertEqual({state for _, _, state in series}, set(lifecycle_states()))
        created = "tack_messages_created"
        for channel in ("sms", "email"):
            self.assertEqual(self.sample(families, created, created + "_total", channel=channel), 0)

        for source in ("http", "outbox"):
            for verdict in ("accepted", "duplicate", "stale", "rejected"):
                self.assertEqual(self.sample(families, "tack_events", "tack_events_total",
                                             source=source, verdict=verdict), 0,
                                 (source, verdict))
        for table in ("messages", "attempts", "events"):
            for action in ("anonymise", "delete"):
                self.assertEqual(self.sample(families, "tack_retention_pruned",
                                             "tack_retention_pruned_total",
                                             table=table, action=action), 0, (table, action))
        for gateway in ("sms", "mail"):
            for outcome in ("sent", "retry", "rejected", "unknown"):
                self.assertEqual(self.sample(families, "tack_attempts", "tack_attempts_total",
                                             gateway=gateway, outcome=outcome), 0)
            self.assertEqual(self.sample(families, "tack_attempt_duration_seconds",
                                         "tack_attempt_duration_seconds_count",
                                         gateway=gateway), 0)
            for state, value in (("closed", 1), ("open", 0), ("half_open", 0)):
                self.assertEqual(self.sample(families, "tack_gateway_circuit", gateway=gateway,
                                             state=state), value, (gateway, state))
            for reason in ("auth", "operator"):
                self.assertEqual(self.sample(families, "tack_gateway_held", gateway=gateway,
                                             reason=reason), 0)
        for reason in ("password", "throttled"):
            self.assertEqual(self.sample(families, "tack_http_signin_refusals",
                                         "tack_http_signin_refusals_total", reason=reason), 0)
        self.assertEqual(self.sample(families, "tack_store_errors", "tack_store_errors_total"), 0)

        # The process collector of the Prometheus client libraries.
        process = {name: families[name].samples[0].value for name in (
            "process_resident_memory_bytes", "process_virtual_memory_bytes",
            "process_open_fds", "process_max_fds", "process_start_time_seconds")}
        self.assertGreater(process["process_resident_memory_bytes"], 1 << 20)
        self.assertGreater(process["process_virtual_memory_bytes"],
                           process["process_resident_memory_bytes"])
        self.assertGreater(process["process_open_fds"], 3)
        self.assertGreaterEqual(process["process_max_fds"], process["process_open_fds"])
        self.assertLess(abs(process["process_start_time_seconds"] - started), 120)
        cpu = families["process_cpu_seconds"]
        self.assertEqual(cpu.type, "counter")
        self.assertGreaterEqual(cpu.samples[0].value, 0)

        # Every family says what it is and what it means.
        for name in re.findall(r"(?m)^([a-z_]+)(?:\{| )", text):
            base = re.sub(r"_(bucket|count|sum)$", "", name)
            if not re.search(r"(?m)^# HELP %s \S" % re.escape(name), text):
                self.assertRegex(text, r"(?m)^# HELP %s \S" % re.escape(base))
            if not re.search(r"(?m)^# TYPE %s \w+$" % re.escape(name), text):
                self.assertRegex(text, r"(?m)^# TYPE %s \w+$" % re.escape(base))
        self.stop_tackd(self.tackd)

    def test_refused_superseded_not_needed_cancelled_and_created_are_counted(self):
        # The provider's first answer is a 503: that SMS waits for a retry
        # (30 s away) and a newer status supersedes it.
        sink = self.start_http_sink([{"status": 503}])
        self.two_gateways(sink, retry={"max_attempts": 10, "initial_backoff": "30s",
                                       "max_backoff": "30s", "max_age": "1h"})
        self.post_events(event("c-1", "500", "shipped"))
        self.wait_for_messages("500", ("retry_wait",), channel="sms")
        # out_for_delivery: a new SMS (the older one is superseded) and its
        # e-mail standby, not needed once the SMS is sent.
        self.post_events(event("c-2", "500", "out_for_delivery"))
        self.wait_for_messages("500", ("superseded",), channel="sms")
        self.wait_for_messages("500", ("sent",), channel="sms")
        self.wait_for_messages("500", ("not_needed",), channel="email")
        # A fixed-line number: tack refuses the SMS itself; the e-mail goes.
        self.post_events(event("c-3", "501", "shipped", phone="08-123 456 78"))
        self.wait_for_messages("501", ("failed",), channel="sms")
        self.wait_for_messages("501", ("sent",), channel="email")
        # An e-mail waiting behind a held gateway, cancelled by support.
        self.tackd_cli("hold", "--gateway", "mail", "--config", self.config_path,
                       check=harness.EXIT_OK)
        self.post_events(event("c-4", "502", "delivered"))
        waiting = self.wait_for_messages("502", ("queued",), channel="email")[0]
        self.assertEqual(self.request("POST", "/v1/messages/%d/cancel" % waiting["id"]).status,
                         200)
        self.wait_for_messages("502", ("cancelled",), channel="email")

        messages, created = "tack_messages", "tack_messages_created"

        def counted(channel, gateway, state):
            return self.sample(families, messages, messages + "_total", channel=channel,
                               gateway=gateway, state=state)

        def settled():
            nonlocal families
            _, families = self.scrape()
            return counted("email", "mail", "cancelled") == 1
        families = None
        self.wait_for(settled, "the cancel to be counted")
        self.assertEqual(counted("sms", "sms", "superseded"), 1)
        self.assertEqual(counted("email", "mail", "not_needed"), 1)
        self.assertEqual(counted("sms", "sms", "failed"), 1)
        self.assertEqual(counted("sms", "sms", "retry_wait"), 1)
        self.assertEqual(counted("sms", "sms", "sent"), 1)
        self.assertEqual(counted("email", "mail", "sent"), 2)
        self.assertEqual(counted("email", "mail", "standby"), 1)
        self.assertEqual(counted("sms", "sms", "expired"), 0)
        # SMS: c-1, c-2 and c-3's refused one; e-mail: c-1, c-2's standby,
        # c-3, c-4.
        self.assertEqual(self.sample(families, created, created + "_total", channel="sms"), 3)
        self.assertEqual(self.sample(families, created, created + "_total", channel="email"), 4)
        self.assertEqual(self.sample(families, "tack_attempts", "tack_attempts_total",
                                     gateway="sms", outcome="retry"), 1)
        self.assertEqual(self.sample(families, "tack_gateway_held", gateway="mail",
                                     reason="operator"), 1)
        self.stop_tackd(self.tackd)

    def test_events_build_info_and_help_lines(self):
        self.start_api()
        self.assertEqual(self.post_events([event("m-1", "100", "shipped"),
                                           event("m-2", "101", "shipped")]).status, 200)
        self.post_events([event("m-1", "100", "shipped"), {"event_id": "m-bad"}])
        text, families = self.scrape()

        events = families["tack_events"]  # the parser drops a counter's _total
        self.assertEqual(events.type, "counter")
        self.assertEqual(self.sample(families, "tack_events", "tack_events_total",
                                     source="http", verdict="accepted"), 2)
        self.assertEqual(self.sample(families, "tack_events", "tack_events_total",
                                     source="http", verdict="duplicate"), 1)
        self.assertEqual(self.sample(families, "tack_events", "tack_events_total",
                                     source="http", verdict="rejected"), 1)

        info = families["tack_build_info"]
        self.assertEqual(info.type, "gauge")
        self.assertEqual(len(info.samples), 1)
        self.assertRegex(info.samples[0].labels["version"], r"^\d+\.\d+\.\d+")
        self.assertEqual(info.samples[0].value, 1)

        self.assertEqual(families["tack_store_healthy"].samples[0].value, 1)
        self.assertEqual(families["tack_store_errors"].type, "counter")
        self.assertEqual(families["tack_config_last_reload_success"].samples[0].value, 1)

        for name, kind in (("tack_events_total", "counter"), ("tack_build_info", "gauge"),
                           ("tack_queue_messages", "gauge"),
                           ("tack_queue_oldest_due_age_seconds", "gauge"),
                           ("tack_store_healthy", "gauge"),
                           ("tack_config_reloads_total", "counter")):
            self.assertRegex(text, r"(?m)^# HELP %s \S.*$" % name)
            self.assertRegex(text, r"(?m)^# TYPE %s %s$" % (name, kind))
        # Labels are bounded sets: never an order, a phone or an address.
        for needle in ("100", "+4670", "anna@"):
            self.assertNotIn('"%s' % needle, text)
        self.stop_tackd(self.tackd)

    def test_queue_gauges_follow_the_store(self):
        self.start_api()
        self.tackd_cli("hold", "--gateway", "file", "--config", self.config_path,
                       check=harness.EXIT_OK)
        self.post_events([event("q-1", "200", "shipped"), event("q-2", "201", "shipped")])
        ids = [m["id"] for m in self.messages("200")]
        self.assertEqual(self.request("POST", "/v1/messages/%d/hold" % ids[0]).status, 200)
        _, families = self.scrape()
        queue = families["tack_queue_messages"]
        self.assertEqual(queue.type, "gauge")
        self.assertEqual({s.labels["state"] for s in queue.samples},
                         {"queued", "retry_wait", "sending", "held", "scheduled"})
        self.assertEqual(self.sample(families, "tack_queue_messages", state="queued"), 3)
        self.assertEqual(self.sample(families, "tack_queue_messages", state="held"), 1)
        self.assertEqual(self.sample(families, "tack_queue_messages", state="retry_wait"), 0)
        self.assertGreater(families["tack_queue_oldest_due_age_seconds"].samples[0].value, 0)

        self.tackd_cli("release", "--gateway", "file", "--config", self.config_path,
                       check=harness.EXIT_OK)
        self.wait_for_messages("201", ("sent",), count=2)
        self.wait_for_messages("200", ("sent",), count=1)

        def drained():
            _, f = self.scrape()
            return self.sample(f, "tack_queue_messages", state="queued") == 0 and f
        families = self.wait_for(drained, "the queued gauge to reach 0")
        self.assertEqual(families["tack_queue_oldest_due_age_seconds"].samples[0].value, 0)
        self.assertEqual(self.sample(families, "tack_queue_messages", state="held"), 1)
        self.stop_tackd(self.tackd)

    def test_reloads_are_counted_by_result(self):
        self.start_api()
        with open(self.config_path, encoding="utf-8") as f:
            good = f.read()
        self.tackd.signal(signal.SIGHUP)
        self.wait_for(lambda: "reload: config and templates reloaded" in self.tackd.stderr(),
                      "the reload")
        _, families = self.scrape()
        reloads = "tack_config_reloads"
        self.assertEqual(self.sample(families, reloads, reloads + "_total", result="success"), 1)
        self.assertEqual(self.sample(families, reloads, reloads + "_total", result="failure"), 0)
        before = families["tack_config_last_reload_timestamp_seconds"].samples[0].value

        with open(self.config_path, "w", encoding="utf-8") as f:
            f.write(good + "bogus_section: 1\n")
        self.tackd.signal(signal.SIGHUP)
        self.wait_for(lambda: "new config rejected" in self.tackd.stderr(), "the rejection")
        _, families = self.scrape()
        self.assertEqual(self.sample(families, reloads, reloads + "_total", result="failure"), 1)
        self.assertEqual(families["tack_config_last_reload_success"].samples[0].value, 0)
        self.assertGreaterEqual(
            families["tack_config_last_reload_timestamp_seconds"].samples[0].value, before)
        # The running config, http section included, still answers.
        self.assertEqual(self.post_events(event("r-1", "300", "shipped")).status, 200)
        self.stop_tackd(self.tackd)


if __name__ == "__main__":
    unittest.main()
