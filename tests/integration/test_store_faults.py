"""Store faults on a real tackd: its files stop growing (RLIMIT_FSIZE set on
the running process: writes fail as on a full disk) or another process
locks the store. tackd must not acknowledge or send what it could not
record, say so in its log, stay up, and recover by itself."""

import resource
import sqlite3
import time
import unittest

from harness import TackTestCase, event


class StoreFaultTest(TackTestCase):
    def setUp(self):
        super().setUp()
        self.sink = self.start_http_sink()
        gateways = [self.http_gateway(self.sink.url), self.file_gateway("mail_file")]
        self.write_config(self.make_config(gateways, email=["mail_file"]))
        self.tackd = self.start_tackd(pipe_stderr=True)
        # A first event, so the store's files exist and have their size.
        self.emit([event("sf-0", "4000", "packed")])
        self.wait_for_messages("4000", ("sent",), channel="sms")

    def outbox_unconsumed(self):
        db = sqlite3.connect("file:%s/outbox.db?mode=ro" % self.tmp, uri=True)
        try:
            return db.execute("SELECT COUNT(*) FROM outbox WHERE consumed_at IS NULL"
                              ).fetchone()[0]
        finally:
            db.close()

    def assert_nothing_recorded(self, orders):
        for o in orders:
            self.assertEqual(self.log(order=o)["events"], [], "order %s recorded" % o)

    def test_a_full_disk_stops_intake_and_sending_until_it_clears(self):
        pid = self.tackd.pid
        _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        # No file of tackd's may grow past 1 byte: every store write fails
        # (EFBIG, or a short write that SQLite reports as SQLITE_FULL).
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (1, hard))
        try:
            orders = ["40%02d" % i for i in range(1, 6)]
            self.emit([event("sf-" + o, o, "packed") for o in orders])
            self.wait_for(lambda: "store cannot write" in self.tackd.stderr(),
                          "tackd to log that the store cannot write")
            log = self.tackd.stderr()
            self.assertRegex(log, r"error: store: store cannot write: .*(disk|I/O|full)")
            self.assertIn("accepts no events and sends nothing", log)
            # It keeps trying (the dispatcher every second, the outbox on
            # every poll) and keeps failing, without dying.
            time.sleep(2)
            self.assert_running(self.tackd)
            self.assertEqual(self.outbox_unconsumed(), len(orders))
            self.assert_nothing_recorded(orders)
            self.assertEqual(len(self.sink.requests()), 1)
            # Loud once, not once per batch.
            self.assertLessEqual(self.tackd.stderr().count("accepts no events"), 1)
        finally:
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (hard, hard))
        self.wait_for(lambda: "store: writing again" in self.tackd.stderr(),
                      "tackd to log that the store recovered")
        for o in orders:
            [sms] = self.wait_for_messages(o, ("sent",), channel="sms")
            self.assertEqual([a["outcome"] for a in sms["attempt_log"]], ["sent"])
        self.wait_for(lambda: self.outbox_unconsumed() == 0, "the outbox to be consumed")
        self.assertEqual(len(self.sink.requests()), 1 + len(orders))
        self.stop_tackd(self.tackd)

    def test_a_store_locked_by_another_process_holds_events_back_until_released(self):
        locker = sqlite3.connect("%s/tack.db" % self.tmp, timeout=1, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            self.emit([event("sf-l1", "4101", "packed")])
            # tackd waits out its busy timeout (5 s), then reports the lock.
            self.wait_for(lambda: "store cannot write" in self.tackd.stderr(),
                          "tackd to log that the store is locked", timeout=30)
            self.assertIn("locked", self.tackd.stderr())
            self.assert_running(self.tackd)
            self.assertEqual(self.outbox_unconsumed(), 1)
            self.assertEqual(len(self.sink.requests()), 1)
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        [sms] = self.wait_for_messages("4101", ("sent",), channel="sms", timeout=30)
        self.assertEqual([a["outcome"] for a in sms["attempt_log"]], ["sent"])
        self.wait_for(lambda: "store: writing again" in self.tackd.stderr(),
                      "tackd to log that the store recovered")
        self.stop_tackd(self.tackd)


if __name__ == "__main__":
    unittest.main()
