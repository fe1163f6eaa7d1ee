"""The README's walkthrough, run as written in a fresh clone.

The checkout's files (what `git clone` of it would hold, with uncommitted
changes to them) are copied to a temp dir; `./scripts/demo.sh`, the
README's first command, is started there the way the README says, except
that it is handed the tackd already built (TACKD: no apt-get, no build)
and a free port (TACK_PORT). Then each shell block of the README marked
with `<!-- readme-test: NAME -->` runs in order in that clone, in bash with
-e and pipefail, after the export lines demo.sh printed, pasted as they
are: each must exit 0 and print what the README says it does. A block
marked `eventually` shows what tackd does within a second or so (a person
reads the sentence before it first); it is run again until its output is
right, within a generous bound. Last, Ctrl-C (SIGINT) stops tackd with 0.

Every marked block must have its check here, in order: a block added to
the README, or one taken out, fails this test until it is told.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from harness import SOURCE_DIR, TACKD

# A command, or tackd's start and stop: generous for sanitizer builds.
STEP = 60.0

MARKER = re.compile(
    r"^<!-- readme-test: (?P<name>[a-z-]+)(?P<eventually> eventually)? -->\n"
    r"```sh\n(?P<body>.*?)^```$", re.M | re.S)


def readme_blocks(text):
    """[(name, eventually, body)] of the marked blocks, in order."""
    return [(m["name"], bool(m["eventually"]), m["body"]) for m in MARKER.finditer(text)]


def json_values(text):
    """Every JSON value in text, one after another (curl prints no newline
    after a body), skipping anything that is not JSON between them."""
    decoder = json.JSONDecoder()
    values, at = [], 0
    while at < len(text):
        if text[at] in "{[":
            try:
                value, end = decoder.raw_decode(text, at)
                values.append(value)
                at = end
                continue
            except json.JSONDecodeError:
                pass
        at += 1
    return values


def copy_checkout(source, dest):
    """Copies what a clone of `source` would hold: git's tracked files and
    the untracked ones it does not ignore (no build/, no demo/), as they
    are in the work tree. Without git, the tree less build folders."""
    try:
        listed = subprocess.run(
            ["git", "-C", source, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            check=True, capture_output=True, timeout=STEP).stdout.decode().split("\0")
    except (OSError, subprocess.SubprocessError):
        shutil.copytree(source, dest, symlinks=True, ignore=shutil.ignore_patterns(
            "build*", "demo", "node_modules", ".git"), dirs_exist_ok=True)
        return
    for rel in filter(None, listed):
        src = os.path.join(source, rel)
        if not os.path.lexists(src):
            continue  # deleted in the work tree
        dst = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if os.path.islink(src):
            os.symlink(os.readlink(src), dst)
        else:
            shutil.copy2(src, dst)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ReadmeTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tack-readme-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.clone = os.path.join(self.tmp, "tack")
        os.mkdir(self.clone)
        copy_checkout(SOURCE_DIR, self.clone)
        # The build the README's commands name: ./build/tackd.
        os.mkdir(os.path.join(self.clone, "build"))
        os.symlink(os.path.abspath(TACKD), os.path.join(self.clone, "build", "tackd"))
        with open(os.path.join(self.clone, "README.md"), encoding="utf-8") as f:
            self.readme = f.read()
        # The environment of a person's shell: nothing of the test's own,
        # and no proxy between curl and 127.0.0.1. A sanitizer build's
        # options pass (scripts/sanitize.sh: where its reports go).
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.tmp,
                    "LANG": "C.UTF-8", "no_proxy": "127.0.0.1,localhost",
                    "NO_PROXY": "127.0.0.1,localhost"}
        self.env.update({k: v for k, v in os.environ.items()
                         if k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS", "LSAN_OPTIONS")})
        self.demo = None
        self.demo_out = os.path.join(self.tmp, "demo.out")
        self.addCleanup(self._stop_demo)

    def _stop_demo(self):
        if self.demo and self.demo.poll() is None:
            os.killpg(self.demo.pid, signal.SIGKILL)
            self.demo.wait()

    def demo_output(self):
        with open(self.demo_out, encoding="utf-8", errors="replace") as f:
            return f.read()

    # -- the README's first command

    def launch_demo(self, command, port):
        """Starts demo.sh on `port`; its output once tackd runs, or None
        when tackd could not listen there (exit 69)."""
        env = dict(self.env, TACKD=os.path.join(self.clone, "build", "tackd"), TACK_PORT=str(port))
        out = open(self.demo_out, "w")
        self.demo = subprocess.Popen([command], cwd=self.clone, env=env, stdout=out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        out.close()
        deadline = time.monotonic() + STEP
        while time.monotonic() < deadline:
            text = self.demo_output()
            if "export TACK_PASSWORD=" in text and re.search(r"tackd \S+ running", text):
                return text
            if self.demo.poll() is not None:
                if self.demo.returncode == 69:
                    return None
                self.fail("demo.sh exited %s:\n%s" % (self.demo.returncode, text))
            time.sleep(0.1)
        self.fail("demo.sh did not start tackd within %.0f s:\n%s" % (STEP, self.demo_output()))

    def start_demo(self):
        two = re.search(r"^## Two commands\n(.*?)^## ", self.readme, re.M | re.S)
        self.assertIsNotNone(two, "the README has no section '## Two commands'")
        commands = [line for line in re.findall(r"```sh\n(.*?)```", two[1], re.S)[0].splitlines()
                    if line and not line.startswith("#")]
        self.assertEqual(commands, ["./scripts/demo.sh", "./scripts/test.sh"],
                         "the two set-up commands changed")
        # The port is free when asked for; another test may take it before
        # tackd binds it (exit 69): then again, with another.
        for attempt in range(3):
            port = free_port()
            text = self.launch_demo(commands[0], port)
            if text is not None:
                break
        else:
            self.fail("tackd could not listen on three free ports:\n" + self.demo_output())
        exports = re.findall(r"^ *(export (\w+)=(\S+))$", text, re.M)
        values = {name: value for _, name, value in exports}
        self.assertEqual(sorted(values), ["TACK_PASSWORD", "TACK_URL", "TOKEN"], text)
        self.assertEqual(values["TACK_URL"], "http://127.0.0.1:%d" % port)
        self.assertRegex(values["TOKEN"], r"^[0-9a-f]{64}$")
        self.assertRegex(values["TACK_PASSWORD"], r"^[A-Za-z0-9]{12,}$")
        # What the demo made for this run stays in demo/, private.
        for name in ("events-token", "demo-password-hash"):
            mode = os.stat(os.path.join(self.clone, "demo", name)).st_mode & 0o777
            self.assertEqual(mode, 0o600, "demo/%s is %o" % (name, mode))
        return [line for line, _, _ in exports], values

    # -- the blocks

    def run_block(self, exports, body):
        script = "\n".join(exports) + "\n" + body
        return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=self.clone,
                              env=self.env, capture_output=True, text=True, timeout=STEP)

    def check_emit(self, out):
        self.assertIn("appended 1 event", out)

    def check_messages(self, out):
        lines = out.splitlines()
        self.assertGreaterEqual(len(lines), 3, out)
        sent = [json.loads(line) for line in lines[:2]]
        self.assertEqual(sorted(m["channel"] for m in sent), ["email", "sms"], out)
        for m in sent:
            self.assertEqual(m["order_id"], "1042")
            self.assertEqual(m["locale"], "sv")
        email = next(m for m in sent if m["channel"] == "email")
        self.assertEqual(email["to"], "anna@example.se")
        self.assertIn("1042", email["subject"])
        sms = next(m for m in sent if m["channel"] == "sms")
        self.assertEqual(sms["to"], "+46701234567")
        # Then tackd log: the order with both messages sent.
        log = "\n".join(lines[2:])
        self.assertIn("1042", log)
        self.assertIn("anna@example.se", log)
        self.assertGreaterEqual(log.count("sent"), 2, log)

    def check_http_event(self, out):
        (answer,) = json_values(out)
        self.assertEqual(answer["results"], [{"index": 0, "event_id": "shop-7f3a9d",
                                              "verdict": "accepted", "messages": 2}])

    def check_support(self, out):
        (order,) = json_values(out)
        self.assertEqual(sorted(e["event_id"] for e in order["events"]),
                         ["shop-7f3a9c", "shop-7f3a9d"])
        # The shipped SMS and e-mail and the delivered e-mail went; the
        # example's events are dated November 2026, so the late-delivery
        # watch and the follow-up they started fell due long ago and, their
        # ttl run out, expired unsent (README says so).
        by_rule = {m["rule"] + "/" + m["channel"]: m for m in order["messages"]}
        self.assertEqual(sorted(by_rule), ["delivered/email", "follow_up/email",
                                           "late_delivery/sms", "shipped/email", "shipped/sms"],
                         out)
        for key in ("delivered/email", "shipped/email", "shipped/sms"):
            self.assertEqual(by_rule[key]["state"], "sent", out)
        self.assertEqual(by_rule["follow_up/email"]["state"], "expired", out)
        self.assertEqual(by_rule["follow_up/email"]["note"],
                         "3d after delivered, at 10:00, unless cancelled, returned or refunded")
        self.assertEqual(by_rule["late_delivery/sms"]["state"], "expired", out)

    def check_health(self, out):
        self.assertRegex(out, r"^ready\b")
        sent = re.findall(r'^tack_messages_total\{[^}]*state="sent"[^}]*\} (\d+)', out, re.M)
        self.assertEqual(sum(int(n) for n in sent), 3, out)

    def check_api(self, out):
        values = json_values(out)
        self.assertEqual(len(values), 3, out)
        again, by_phone, order = values
        self.assertEqual(again["results"][0]["verdict"], "duplicate")
        messages = by_phone["messages"] if isinstance(by_phone, dict) else by_phone
        self.assertTrue(messages, out)
        self.assertTrue(all(m["order_id"] == "1042" for m in messages), out)
        self.assertEqual(len(order["messages"]), 5)  # with the two expired (see check_support)
        self.assertTrue(out.rstrip().endswith("ok"), out)

    def check_verb(self, out):
        (answer,) = json_values(out)
        self.assertIn("error", answer)
        self.assertIn("sent", answer["error"])

    def test_walkthrough_runs_as_written(self):
        blocks = readme_blocks(self.readme)
        self.assertEqual([name for name, _, _ in blocks],
                         ["emit", "messages", "http-event", "support", "health", "api", "verb"],
                         "the README's tested blocks changed: give each a check here")
        exports, values = self.start_demo()
        for name, eventually, body in blocks:
            check = getattr(self, "check_" + name.replace("-", "_"))
            deadline = time.monotonic() + (STEP if eventually else 0)
            while True:
                result = self.run_block(exports, body)
                try:
                    self.assertEqual(result.returncode, 0, "exit %d" % result.returncode)
                    check(result.stdout)
                    break
                except Exception as e:  # a failed check, or output it cannot parse
                    if time.monotonic() >= deadline:
                        self.fail("README block %r:\n%s\n--- it printed:\n%s\n--- stderr:\n%s\n"
                                  "--- check: %s\n--- demo.sh and tackd:\n%s" % (
                                      name, body, result.stdout, result.stderr, e,
                                      self.demo_output()[-4000:]))
                    time.sleep(0.2)
        # Ctrl-C in the first shell.
        self.demo.send_signal(signal.SIGINT)
        try:
            code = self.demo.wait(timeout=STEP)
        except subprocess.TimeoutExpired:
            self.fail("tackd did not stop on Ctrl-C:\n" + self.demo_output())
        self.assertEqual(code, 0, self.demo_output())
        # The token and the password are printed once, for the person, and
        # never in tackd's own log.
        text = self.demo_output()
        log = text.split("Ctrl-C stops tackd.", 1)[1]
        self.assertIn("tackd stopped", log)
        for secret in (values["TOKEN"], values["TACK_PASSWORD"]):
            self.assertEqual(text.count(secret), 1, "printed more than once")
            self.assertNotIn(secret, log)


if __name__ == "__main__":
    unittest.main()
