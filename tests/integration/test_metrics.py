"""GET /metrics of a real tackd, parsed with the Prometheus project's own
Python client (python3-prometheus-client): the families' names, types,
HELP text, labels and values after real events, real queue states and
real reloads."""

import signal
import unittest

from prometheus_client.parser import text_string_to_metric_families

import harness
from harness import event
from test_api import ApiTestCase


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
