"""The delivery log's files hold personal data: tackd creates them 0600
whatever the umask, and warns at start about an existing store that its
group or other users can read (issue 14, finding 5).

Started by hand with umask 022 (no systemd UMask=0077), tack.db, its -wal
and -shm, the outbox that `tackd outbox init` and tackd create and the
file gateway's messages were 0644: names, phone numbers, e-mail addresses
and raw events for every user of the machine.
"""

import os
import re
import stat
import unittest

from harness import TackTestCase, event


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


class StoreModesTest(TackTestCase):
    def setUp(self):
        super().setUp()
        # tackd and its CLI inherit the umask of this process.
        previous = os.umask(0o022)
        self.addCleanup(os.umask, previous)

    def config(self):
        return self.make_config([self.file_gateway("file")])

    def store_files(self):
        db = os.path.join(self.tmp, "tack.db")
        return [db, db + "-wal", db + "-shm"]

    def test_store_outbox_and_messages_are_created_0600_under_umask_022(self):
        self.write_config(self.config())
        tackd = self.start_tackd()  # `tackd outbox init` creates the outbox first
        self.emit([event("fm-1", "6001", "placed")])
        self.wait_for_messages("6001", ("sent",), count=2)
        outbox = os.path.join(self.tmp, "outbox.db")
        files = self.store_files() + [outbox, os.path.join(self.tmp, "file.jsonl")]
        files += [outbox + suffix for suffix in ("-wal", "-shm")
                  if os.path.exists(outbox + suffix)]
        modes = {os.path.basename(f): "%04o" % mode(f) for f in files}
        self.assertEqual(modes, {os.path.basename(f): "0600" for f in files})
        self.stop_tackd(tackd)
        self.assertNotIn("can be read by", tackd.stderr())

    def test_a_store_others_can_read_is_warned_about_at_start(self):
        self.write_config(self.config())
        first = self.start_tackd()
        self.stop_tackd(first)
        db, wal, shm = self.store_files()
        os.chmod(db, 0o644)
        for f in (wal, shm):
            if os.path.exists(f):
                os.chmod(f, 0o640)
        tackd = self.start_tackd()
        self.assertRegex(
            tackd.stderr(),
            r"warning: store: %s holds personal data \(names, phone numbers, e-mail addresses, "
            r"events\) and can be read by its group and all users \(mode 0644\); run chmod 600 %s\n"
            % (re.escape(db), re.escape(db)))
        # SQLite makes -wal and -shm with the mode of tack.db: 0644 here.
        self.assertRegex(tackd.stderr(), r"warning: store: %s holds personal data .* \(mode 06[04]4\); "
                                         r"run chmod 600 %s\n" % (re.escape(wal), re.escape(wal)))
        self.stop_tackd(tackd)


if __name__ == "__main__":
    unittest.main()
