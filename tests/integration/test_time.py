"""Time (issue 16): follow-ups, promise watches and quiet hours, end to end.

tackd runs under Debian's libfaketime with only its wall clock moved (an
offset in a file it re-reads every second; the monotonic clock is left
alone, as an NTP step leaves it), against a real SMTP server and a real
HTTP SMS provider on 127.0.0.1. The clock is jumped forward days at a time
instead of waiting, and back, as a badly set clock or NTP would.
"""

import calendar
import datetime
import os
import time
import unittest

import harness
from harness import TackTestCase, event

LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"


def epoch(text):
    """'2026-12-05 10:00' (UTC) -> Unix seconds."""
    return calendar.timegm(datetime.datetime.strptime(text, "%Y-%m-%d %H:%M").timetuple())


def iso(seconds):
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


@unittest.skipUnless(os.path.exists(LIBFAKETIME), "needs Debian's faketime package")
class TimeTest(TackTestCase):
    # The follow-up: three days after delivery at 10:00 in the customer's
    # zone; the watch: not shipped 48 h after paid, an apology to the
    # customer and an alert to ops; a marketing follow-up needs consent.
    RULES = [
        {"name": "shipped", "on": "shipped", "template": "shipped", "channels": ["sms"]},
        {"name": "follow_up", "on": "delivered", "after": "3d", "at": "10:00",
         "unless": ["returned", "cancelled"], "template": "delivered", "channels": ["email"]},
        {"name": "offer", "on": "delivered", "after": "3d", "at": "10:00",
         "unless": ["returned", "cancelled"], "purpose": "marketing",
         "template": "delivered", "channels": ["sms"]},
        {"name": "not_shipped", "on": "paid", "after": "48h", "unless": ["shipped", "cancelled"],
         "template": "packed", "channels": ["sms"]},
        {"name": "not_shipped_ops", "on": "paid", "after": "48h",
         "unless": ["shipped", "cancelled"], "template": "packed", "channels": ["email"],
         "to": "ops@exempelbutiken.se"},
        {"name": "delivery_alert", "on": "out_for_delivery", "template": "out_for_delivery",
         "channels": ["sms"], "urgent": True},
        # The bundled journey's pickup reminder and late-delivery apology.
        {"name": "ready_for_pickup", "on": "ready_for_pickup", "template": "ready_for_pickup",
         "channels": ["email"]},
        {"name": "pickup_reminder", "on": "ready_for_pickup", "after": "24h",
         "unless": ["delivered", "picked_up", "cancelled", "returned"],
         "template": "pickup_reminder", "channels": ["sms"]},
        {"name": "late_delivery", "on": "shipped", "from": "delivery.window_end", "after": "2h",
         "unless": ["delivery_failed", "ready_for_pickup", "delivered", "cancelled"],
         "template": "late_delivery", "channels": ["sms"]},
    ]

    def setUp(self):
        super().setUp()
        self.smtp = self.start_smtp_sink()
        self.sms = self.start_http_sink()
        self.clock_file = os.path.join(self.tmp, "faketime")
        gateways = [self.http_gateway(self.sms.url), self.smtp_gateway(self.smtp)]
        config = self.make_config(gateways, sms=["sms"], email=["mail"], rules=self.RULES)
        # Real quiet hours: SMS 08:00-21:00 in the customer's zone.
        config["quiet_hours"] = {"allowed": "08:00-21:00"}
        harness.PUBLIC_CONTACTS.add("ops@exempelbutiken.se")
        self.write_config(config)

    def set_clock(self, when):
        """tackd's wall clock reads `when` (UTC 'YYYY-MM-DD HH:MM') from now on;
        None: the real time."""
        offset = 0 if when is None else int(epoch(when) - time.time())
        with open(self.clock_file + ".new", "w") as f:
            f.write("%+ds\n" % offset)
        os.replace(self.clock_file + ".new", self.clock_file)

    def start(self, when):
        self.set_clock(when)
        env = dict(os.environ)
        env.update({"LD_PRELOAD": LIBFAKETIME, "FAKETIME_TIMESTAMP_FILE": self.clock_file,
                    "FAKETIME_CACHE_DURATION": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1"})
        return self.start_tackd(env=env)

    # Scheduler naps are at most 5 s, the clock file is re-read every second.
    JUMP_WAIT = 30

    def test_a_follow_up_goes_at_its_time_after_the_clock_jumps_and_not_before(self):
        tackd = self.start("2026-12-05 10:00")
        delivered = event("fu-1", "5001", "delivered", occurred_at="2026-12-05T09:55:00Z")
        delivered["customer"]["consent"] = {"sms": True}
        no_consent = event("fu-2", "5002", "delivered", occurred_at="2026-12-05T09:55:00Z",
                           phone="+46701234568", email="bo@example.se")
        self.emit([delivered, no_consent])
        ms = self.wait_for_messages("5001", ("scheduled",), count=2)
        follow_up = [m for m in ms if m["rule"] == "follow_up"][0]
        # 2026-12-08 10:00 in Stockholm is 09:00 UTC.
        self.assertEqual(follow_up["next_attempt_at"], "2026-12-08T09:00:00.000Z")
        self.assertEqual(follow_up["note"], "3d after delivered, at 10:00, unless returned or "
                                            "cancelled")
        self.assertEqual(follow_up["text"], "")  # written when it goes
        [offer] = [m for m in self.messages("5002") if m["rule"] == "offer"]
        self.assertEqual(offer["state"], "skipped")
        self.assertEqual(offer["note"], "skipped: no marketing consent for sms")
        text = self.log_text("5001")
        self.assertIn("why: 3d after delivered, at 10:00, unless returned or cancelled", text)
        self.assertIn("due: ", text)

        # A day later: nothing is due, nothing goes.
        self.set_clock("2026-12-06 10:00")
        time.sleep(7)
        self.assertEqual(self.smtp.messages(), [])
        self.assertEqual(self.sms.requests(), [])

        # Past its time: it is written and sent, once per customer.
        self.set_clock("2026-12-08 09:00")
        self.wait_for_messages("5001", ("sent",), channel="email", timeout=self.JUMP_WAIT)
        self.wait_for_messages("5001", ("sent",), channel="sms", timeout=self.JUMP_WAIT)
        self.wait_for_messages("5002", ("sent",), channel="email", timeout=self.JUMP_WAIT)
        self.wait_for(lambda: len(self.smtp.messages()) == 2, "two follow-up e-mails")
        self.assertEqual(sorted(r for m in self.smtp.messages() for r in m["rcpt_tos"]),
                         ["anna@example.se", "bo@example.se"])
        self.assertEqual(len(self.sms.requests()), 1)  # only the customer who consented

        # The clock steps back two days: nothing fires again, nothing stalls:
        # a new follow-up counts from the clock as it now reads.
        self.set_clock("2026-12-06 09:00")
        time.sleep(3)
        self.emit([event("fu-3", "5003", "delivered", occurred_at="2026-12-06T08:55:00Z",
                         phone="+46701234569", email="cecilia@example.se")])
        [m3] = [m for m in self.wait_for_messages("5003", ("scheduled",)) if m["channel"] == "email"]
        self.assertEqual(m3["next_attempt_at"], "2026-12-09T09:00:00.000Z")
        time.sleep(6)
        self.assertEqual(len(self.smtp.messages()), 2)
        self.set_clock("2026-12-09 09:01")
        self.wait_for_messages("5003", ("sent",), channel="email", timeout=self.JUMP_WAIT)
        self.assertEqual(len(self.smtp.messages()), 3)
        self.stop_tackd(tackd)

    def test_a_watch_fires_when_the_promise_slips_and_is_cancelled_when_it_is_kept(self):
        tackd = self.start("2026-12-05 10:00")
        self.emit([event("w-1", "6001", "paid", occurred_at="2026-12-05T09:59:00Z"),
                   event("w-2", "6002", "paid", occurred_at="2026-12-05T09:59:00Z",
                         phone="+46701234568", email="bo@example.se")])
        self.wait_for_messages("6001", ("scheduled",), count=2)
        self.wait_for_messages("6002", ("scheduled",), count=2)
        # Order 6002 ships the next day: its watch is no longer wanted.
        self.set_clock("2026-12-06 10:00")
        time.sleep(2)
        self.emit([event("w-3", "6002", "shipped", occurred_at="2026-12-06T09:59:00Z",
                         phone="+46701234568", email="bo@example.se")])
        ms = self.wait_for_messages("6002", ("cancelled",), count=2)
        for m in ms:
            if m["rule"].startswith("not_shipped"):
                self.assertEqual(m["state"], "cancelled")
                self.assertEqual(m["note"], "cancelled: order shipped (event w-3)")
        # 48 h after paid, 6001 has not shipped: the customer gets the apology
        # and ops the alert.
        self.set_clock("2026-12-07 10:00")
        ms = self.wait_for_messages("6001", ("sent",), count=2, timeout=self.JUMP_WAIT)
        ops = [m for m in ms if m["rule"] == "not_shipped_ops"][0]
        self.assertEqual(ops["to"], "ops@exempelbutiken.se")
        self.wait_for(lambda: any("ops@exempelbutiken.se" in r for m in self.smtp.messages()
                                  for r in m["rcpt_tos"]), "the ops alert at the SMTP server")
        # Order 6002's watch never fired.
        self.assertEqual([m["state"] for m in self.messages("6002")
                          if m["rule"].startswith("not_shipped")], ["cancelled", "cancelled"])
        self.stop_tackd(tackd)

    def test_a_parcel_waiting_in_a_locker_gets_a_reminder_and_a_late_one_an_apology(self):
        tackd = self.start("2026-12-05 10:00")
        locker = {"carrier": "PostNord", "tracking_url": "https://tracking.example/L1",
                  "pickup_point": "ICA Nära Gamla stan", "pickup_code": "4711",
                  "pickup_deadline": "2026-12-07T17:00:00+01:00"}
        waiting = event("p-1", "6101", "ready_for_pickup", occurred_at="2026-12-05T09:59:00Z")
        waiting["delivery"] = dict(locker)
        fetched = event("p-2", "6102", "ready_for_pickup", occurred_at="2026-12-05T09:59:00Z",
                        phone="+46701234568", email="bo@example.se")
        fetched["delivery"] = dict(locker)
        # Promised today 12-14; order 6104 arrives in time, 6103 does not.
        late = event("l-1", "6103", "shipped", occurred_at="2026-12-05T09:59:00Z",
                     phone="+46701234569", email="cecilia@example.se")
        on_time = event("l-2", "6104", "shipped", occurred_at="2026-12-05T09:59:00Z",
                        phone="+46701234560", email="dan@example.se")
        for e in (late, on_time):
            e["delivery"]["window_start"] = "2026-12-05T12:00:00+01:00"
            e["delivery"]["window_end"] = "2026-12-05T14:00:00+01:00"
        self.emit([waiting, fetched, late, on_time])
        [ready] = self.wait_for_messages("6101", ("sent",), channel="email")
        self.assertIn("Hämta senast: måndag 7 december kl. 17:00", ready["text"])
        self.emit([event("p-3", "6102", "picked_up", occurred_at="2026-12-05T15:00:00Z",
                         phone="+46701234568", email="bo@example.se"),
                   event("l-3", "6104", "delivered", occurred_at="2026-12-05T12:30:00Z",
                         phone="+46701234560", email="dan@example.se")])
        [reminder] = self.wait_for_messages("6102", ("cancelled",), channel="sms")
        self.assertEqual(reminder["note"], "cancelled: order picked_up (event p-3)")
        self.wait_for_messages("6104", ("cancelled",), channel="sms")
        [apology] = [m for m in self.messages("6104") if m["rule"] == "late_delivery"]
        self.assertEqual(apology["state"], "cancelled")
        self.assertEqual(apology["note"], "cancelled: order delivered (event l-3)")
        [pending] = [m for m in self.messages("6103") if m["rule"] == "late_delivery"]
        self.assertEqual(pending["state"], "scheduled")
        self.assertEqual(pending["next_attempt_at"], "2026-12-05T15:00:00.000Z")
        # 16:00 Stockholm: two hours past 6103's window.
        self.set_clock("2026-12-05 15:00")
        self.wait_for_messages("6103", ("sent",), channel="sms", count=2, timeout=self.JUMP_WAIT)
        [sorry] = [m for m in self.messages("6103") if m["rule"] == "late_delivery"]
        self.assertNotEqual(sorry["text"], "")
        # The next day: the parcel still waits.
        self.set_clock("2026-12-06 10:00")
        [nudge] = self.wait_for_messages("6101", ("sent",), channel="sms", timeout=self.JUMP_WAIT)
        self.assertIn("ICA Nära Gamla stan", nudge["text"])
        # The two shipped updates, the apology and the reminder.
        self.assertEqual(len(self.sms.requests()), 4)
        self.stop_tackd(tackd)

    def test_quiet_hours_hold_an_sms_until_morning_and_let_an_urgent_one_through(self):
        # 03:00 in Stockholm.
        tackd = self.start("2026-12-05 02:00")
        shipped = event("q-1", "7001", "shipped", occurred_at="2026-12-05T01:59:00Z")
        del shipped["delivery"]["window_start"], shipped["delivery"]["window_end"]  # no watch
        self.emit([shipped,
                   event("q-2", "7002", "out_for_delivery", occurred_at="2026-12-05T01:59:00Z",
                         phone="+46701234568", email="bo@example.se")])
        [held] = self.wait_for_messages("7001", ("scheduled",))
        self.assertEqual(held["note"], "held: quiet hours until 08:00 Europe/Stockholm")
        self.assertEqual(held["next_attempt_at"], "2026-12-05T07:00:00.000Z")
        self.assertNotEqual(held["text"], "")  # written now, held as it is
        self.wait_for_messages("7002", ("sent",))  # urgent
        time.sleep(6)
        self.assertEqual(len(self.sms.requests()), 1)
        self.set_clock("2026-12-05 07:00")
        self.wait_for_messages("7001", ("sent",), timeout=self.JUMP_WAIT)
        self.assertEqual(len(self.sms.requests()), 2)
        self.stop_tackd(tackd)

    def test_scheduled_messages_survive_a_restart_and_go_once(self):
        tackd = self.start("2026-12-05 10:00")
        self.emit([event("r-1", "8001", "delivered", occurred_at="2026-12-05T09:55:00Z"),
                   event("r-2", "8002", "paid", occurred_at="2026-12-05T09:55:00Z",
                         phone="+46701234568", email="bo@example.se")])
        self.wait_for_messages("8001", ("scheduled",), count=1)
        self.wait_for_messages("8002", ("scheduled",), count=2)
        self.stop_tackd(tackd)
        # tackd was down while they fell due: they go at once when it is back.
        tackd = self.start("2026-12-09 12:00")
        self.wait_for_messages("8001", ("sent",), channel="email", timeout=self.JUMP_WAIT)
        self.wait_for_messages("8002", ("sent",), count=2, timeout=self.JUMP_WAIT)
        self.stop_tackd(tackd)
        tackd = self.start("2026-12-10 12:00")
        time.sleep(6)
        self.assertEqual(len(self.smtp.messages()), 2)  # the follow-up and the ops alert
        self.assertEqual(len(self.sms.requests()), 1)   # the apology
        self.stop_tackd(tackd)

    def test_an_operator_sends_a_scheduled_message_now_or_cancels_it(self):
        # The real time: the CLI beside tackd stamps "now" with its own clock.
        tackd = self.start(None)
        now = iso(time.time())
        self.emit([event("o-1", "9001", "delivered", occurred_at=now),
                   event("o-2", "9002", "delivered", occurred_at=now,
                         phone="+46701234568", email="bo@example.se")])
        [m1] = [m for m in self.wait_for_messages("9001", ("scheduled",))
                if m["channel"] == "email"]
        [m2] = [m for m in self.wait_for_messages("9002", ("scheduled",))
                if m["channel"] == "email"]
        self.assertIn("send-now", m1["actions"])
        self.tackd_cli("send-now", "--config", self.config_path, m1["id"], check=harness.EXIT_OK)
        self.tackd_cli("cancel", "--config", self.config_path, m2["id"], check=harness.EXIT_OK)
        self.wait_for_messages("9001", ("sent",), channel="email", timeout=self.JUMP_WAIT)
        self.assertEqual(self.messages("9002", channel="email")[0]["state"], "cancelled")
        self.assertEqual(len(self.smtp.messages()), 1)
        self.stop_tackd(tackd)


if __name__ == "__main__":
    unittest.main()
