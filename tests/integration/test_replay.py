"""Signed event requests replayed against a running tackd (issue 14, finding
6; docs/http-api.md, "Authentication"). A request signed with the events
secret carries X-Tack-Timestamp, and the signature covers
"<timestamp>.<body>": a copy of it is refused once five minutes have
passed, and until then it can only repeat an event tack has seen. Once
retention deleted that event or a forget request erased it, the event id
stays taken (the store keeps a SHA-256 of it), so the copy is a duplicate
and no customer hears the news twice."""

import hashlib
import hmac
import json
import os
import time
import unittest

from harness import event
from test_api import ApiTestCase, HMAC_SECRET, PHONE


def signed(body, timestamp=None, secret=HMAC_SECRET):
    """The headers a shop sends with `body` signed at `timestamp`."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    mac = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-Tack-Timestamp": ts, "X-Tack-Signature": "sha256=" + mac}


class SignedReplayTest(ApiTestCase):
    def sent(self, order):
        """The messages of `order` the file gateway wrote."""
        path = os.path.join(self.tmp, "file.jsonl")
        if not os.path.exists(path):
            return []
        with open(path, encoding="utf-8") as f:
            return [m for m in (json.loads(line) for line in f if line.strip())
                    if m["order_id"] == order]

    def verdict(self, reply):
        self.assertEqual(reply.status, 200, reply)
        result = reply.json()["results"][0]
        return result["verdict"], result.get("messages")

    def test_a_signed_request_replayed_after_retention_deleted_its_event_sends_nothing(self):
        self.start_api(retention={"keep": "1s", "action": "delete", "interval": "200ms"})
        body = json.dumps(event("replay-1", "5001", "shipped")).encode()
        headers = signed(body)
        self.assertEqual(self.verdict(self.post_events(body, token=None, headers=headers)),
                         ("accepted", 2))
        self.wait_for_messages("5001", "sent", count=2)
        self.wait_for(lambda: not self.log(order="5001")["events"] and
                      not self.log(order="5001")["messages"],
                      "retention to delete order 5001", timeout=10)
        self.assertEqual(len(self.sent("5001")), 2)

        # The same bytes again, within the five minutes the timestamp allows.
        self.assertEqual(self.verdict(self.post_events(body, token=None, headers=headers)),
                         ("duplicate", 0))
        time.sleep(0.5)  # what a second message would need to be sent
        self.assertEqual(self.log(order="5001")["messages"], [])
        self.assertEqual(len(self.sent("5001")), 2)
        self.stop_tackd(self.tackd)

    def test_an_event_sent_again_after_retention_deleted_it_is_a_duplicate(self):
        # With the token too: a shop that sends its history again (an outbox
        # restored from a backup) does not notify anyone twice.
        self.start_api(retention={"keep": "1s", "action": "delete", "interval": "200ms"})
        doc = event("replay-2", "5002", "shipped")
        self.assertEqual(self.verdict(self.post_events(doc)), ("accepted", 2))
        self.wait_for_messages("5002", "sent", count=2)
        self.wait_for(lambda: not self.log(order="5002")["events"],
                      "retention to delete order 5002", timeout=10)
        self.assertEqual(self.verdict(self.post_events(doc)), ("duplicate", 0))
        self.emit([doc])  # and through the outbox
        time.sleep(0.5)
        self.assertEqual(self.log(order="5002")["messages"], [])
        self.assertEqual(len(self.sent("5002")), 2)
        self.stop_tackd(self.tackd)

    def test_a_signed_request_replayed_after_forget_sends_nothing(self):
        self.start_api()
        body = json.dumps(event("replay-3", "5003", "shipped")).encode()
        headers = signed(body)
        self.assertEqual(self.verdict(self.post_events(body, token=None, headers=headers)),
                         ("accepted", 2))
        self.wait_for_messages("5003", "sent", count=2)
        out = self.tackd_cli("forget", "--to", PHONE, "--config", self.config_path,
                             check=0).stdout
        self.assertIn("erased 1 message", out)  # the SMS: the e-mail went to her address

        self.assertEqual(self.verdict(self.post_events(body, token=None, headers=headers)),
                         ("duplicate", 0))
        time.sleep(0.5)
        self.assertEqual(len(self.log(order="5003")["messages"]), 2)
        self.assertEqual(len(self.sent("5003")), 2)
        self.stop_tackd(self.tackd)

    def test_a_signature_without_a_fresh_timestamp_is_refused_with_the_reason(self):
        self.start_api()
        body = json.dumps(event("replay-4", "5004", "shipped")).encode()
        # The old form: the body alone signed, no timestamp.
        old = {"X-Tack-Signature": "sha256=" + hmac.new(HMAC_SECRET.encode(), body,
                                                         hashlib.sha256).hexdigest()}
        refused = self.post_events(body, token=None, headers=old)
        self.assertEqual(refused.status, 401, refused)
        self.assertIn("X-Tack-Timestamp is required", refused.json()["error"])
        # Signed six minutes ago, or six minutes ahead.
        for offset, word in ((-360, "behind"), (360, "ahead of")):
            reply = self.post_events(body, token=None,
                                     headers=signed(body, int(time.time()) + offset))
            self.assertEqual(reply.status, 401, reply)
            self.assertIn("s %s tackd's clock" % word, reply.json()["error"])
        # A timestamp that is not Unix seconds.
        reply = self.post_events(body, token=None, headers=signed(body, "2026-11-22T10:15:00Z"))
        self.assertEqual(reply.status, 401, reply)
        self.assertIn("whole Unix seconds", reply.json()["error"])
        # A fresh one is taken; none of the refused reached the log.
        self.assertEqual(self.verdict(self.post_events(body, token=None, headers=signed(body))),
                         ("accepted", 2))
        self.assertEqual(len(self.log(order="5004")["events"]), 1)
        self.assertEqual(self.rejected(), [])
        # Each refusal is a warning in tackd's log (rate-limited), with why.
        self.wait_for(lambda: "X-Tack-Timestamp is required" in self.tackd.stderr(),
                      "the refusal in tackd's log")
        self.assertIn("behind tackd's clock", self.tackd.stderr())
        self.stop_tackd(self.tackd)


if __name__ == "__main__":
    unittest.main()
