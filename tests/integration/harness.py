"""harness: runs tackd as a real process against real servers on 127.0.0.1.

Shared by the integration tests (tests/integration/test_*.py). ctest runs
each file as `/usr/bin/python3 -m unittest -v test_x` from this folder with
TACKD (the tackd binary) and TACK_SOURCE_DIR (the repo) in the environment.

What a test gets from TackTestCase:
- a fresh temp dir (self.tmp) per test; tests may run in parallel, so every
  server binds port 0 and every file lives in that dir;
- the fixture servers (tests/fixtures/smtp_sink.py, http_sink.py) started
  with start_smtp_sink / start_http_sink, reporting what they received;
- a config written by write_config from make_config (store and outbox in
  the temp dir, templates from the repo, short retry backoff, a 50 ms
  outbox poll), tackd started with start_tackd, events appended with emit,
  the delivery log read with log / log_text / rejected;
- wait_for, which polls a predicate against a deadline (every wait is
  bounded) and fails with tackd's stderr attached;
- cleanup: every process started is killed, tackd's stderr is printed when
  the test failed, the temp dir is removed (kept when TACK_KEEP_TMP is set);
- output capture for the leak check (leak_check.py): when
  TACK_OUTPUT_CAPTURE_DIR is set (ctest sets it), every tackd process's
  output and every CLI command's output, except the support commands that
  show personal data to an operator (`tackd log`, `tackd export`), is saved
  under it, one folder per test, with the secrets the test's configs hold
  and the phone numbers and addresses of its customers (secrets.json), so
  a last ctest can grep the lot for anything that should not be there.

Standard library only, and /usr/bin/python3 (Debian's aiosmtpd imports only
there).
"""

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.abspath(os.environ.get("TACK_SOURCE_DIR") or os.path.join(HERE, "..", ".."))
TACKD = os.environ.get("TACKD") or os.path.join(SOURCE_DIR, "build", "tackd")
PYTHON = "/usr/bin/python3"
FIXTURES = os.path.join(SOURCE_DIR, "tests", "fixtures")
TEMPLATES = os.path.join(SOURCE_DIR, "templates")

# Upper bound of any single wait in these tests.
WAIT = 15.0
# Upper bound of a CLI call (tackd check, emit, log...).
CLI_TIMEOUT = 30.0

# Where tack's output is saved for the leak check (tests/CMakeLists.txt).
CAPTURE_DIR = os.environ.get("TACK_OUTPUT_CAPTURE_DIR") or None
# CLI commands whose output may show personal data: the support views.
CAPTURE_EXEMPT_COMMANDS = ("log", "export", "optout")

# What no capture may hold: secrets put in configs, customers' phone numbers
# and addresses used in events. Filled as tests make them; per process.
SENSITIVE = {"secrets": set(), "phones": set(), "emails": set()}
# Contact details of the shop itself: printed in messages, not personal.
PUBLIC_CONTACTS = set()

# Config keys whose values are secrets (a plugin's secret keys, http.events).
SECRET_KEYS = {"password", "token", "hmac_secret", "bearer_token", "secret", "api_key",
               "optout_secret"}
CREDENTIAL_WORDS = ("auth", "key", "token", "secret", "password", "signature")


def register_secret(value):
    """Marks a value the leak check must not find in any capture."""
    if isinstance(value, str) and len(value) >= 6:
        SENSITIVE["secrets"].add(value)


def register_config_secrets(config):
    """Registers every secret a config dict holds: secret keys, credential
    headers (and the credential after "Bearer "/"Basic "), a URL's password."""
    import urllib.parse
    if isinstance(config, dict):
        for key, value in config.items():
            if isinstance(value, str) and key in SECRET_KEYS:
                register_secret(value)
            elif key == "headers" and isinstance(value, dict):
                for name, header in value.items():
                    if isinstance(header, str) and any(
                            w in str(name).lower() for w in CREDENTIAL_WORDS):
                        register_secret(header)
                        register_secret(header.rsplit(" ", 1)[-1])
            elif key == "url" and isinstance(value, str):
                parts = urllib.parse.urlsplit(value)
                if parts.password:
                    register_secret(parts.password)
            else:
                register_config_secrets(value)
    elif isinstance(config, list):
        for item in config:
            register_config_secrets(item)


def register_customer(phone=None, email=None):
    if isinstance(phone, str) and phone:
        SENSITIVE["phones"].add(phone)
    if isinstance(email, str) and "@" in email:
        SENSITIVE["emails"].add(email)

# sysexits codes tackd uses (daemon/app.hpp).
EXIT_OK = 0
EXIT_USAGE = 64
EXIT_DATAERR = 65
EXIT_NOINPUT = 66
EXIT_CONFIG = 78

SHOP = {
    "name": "Exempelbutiken",
    "url": "https://exempelbutiken.se",
    "support_email": "kundservice@exempelbutiken.se",
    "phone": "+46 8 123 456 78",
    "returns_days": "30",
}

SHOP_FROM = "Exempelbutiken <kundservice@exempelbutiken.se>"
PUBLIC_CONTACTS.update({SHOP["support_email"], SHOP["phone"]})

# The example config's rules: each status to its same-named template.
DEFAULT_RULES = [
    {"name": "placed", "on": "placed", "template": "placed", "channels": ["sms", "email"]},
    {"name": "packed", "on": "packed", "template": "packed", "channels": ["sms"],
     "fallback": "email"},
    {"name": "shipped", "on": "shipped", "template": "shipped", "channels": ["sms", "email"]},
    {"name": "out_for_delivery", "on": "out_for_delivery", "template": "out_for_delivery",
     "channels": ["sms"], "fallback": "email"},
    {"name": "delivered", "on": "delivered", "template": "delivered", "channels": ["email"]},
]


# ---- small pieces ----------------------------------------------------------

def to_yaml(value, indent=0):
    """Block-style YAML for dicts and lists; scalars as JSON (valid YAML)."""
    pad = "  " * indent
    lines = []

    def inline(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return str(v)
        if isinstance(v, (dict, list)):
            return json.dumps(v, ensure_ascii=False)  # flow style, only when empty or scalars
        return json.dumps(str(v), ensure_ascii=False)

    def is_block(v):
        if isinstance(v, dict):
            return bool(v)
        if isinstance(v, list):
            return any(isinstance(i, (dict, list)) for i in v)
        return False

    if isinstance(value, dict):
        for k, v in value.items():
            if is_block(v):
                lines.append("%s%s:" % (pad, k))
                lines.extend(to_yaml(v, indent + 1))
            else:
                lines.append("%s%s: %s" % (pad, k, inline(v)))
    elif isinstance(value, list):
        for item in value:
            if is_block(item):
                sub = to_yaml(item, indent + 1)
                lines.append("%s- %s" % (pad, sub[0].lstrip()))
                lines.extend(sub[1:])
            else:
                lines.append("%s- %s" % (pad, inline(item)))
    else:
        lines.append(pad + inline(value))
    return lines


def yaml_text(config):
    return "\n".join(to_yaml(config)) + "\n"


def poll(predicate, timeout=WAIT, interval=0.05):
    """Calls predicate until it returns something truthy or the deadline
    passes; returns the last value (falsy on timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def read_json_lines(path):
    """Complete JSON lines of a file another process appends to."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return []
    out = []
    for line in text.split("\n")[:-1]:  # a last line without "\n" is still being written
        if line.strip():
            out.append(json.loads(line))
    return out


def closed_port():
    """A port on 127.0.0.1 nobody listens on (bound, then closed)."""
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def event(event_id, order_id, status, locale="sv-SE", phone="+46701234567",
          email="anna@example.se", name="Anna Svensson", occurred_at="2026-11-22T10:15:00Z",
          carrier="PostNord", **extra):
    """A canonical event (DESIGN.md "The event"); phone/email None to omit."""
    customer = {"name": name, "locale": locale, "timezone": "Europe/Stockholm"}
    register_customer(phone, email)
    if phone is not None:
        customer["phone"] = phone
    if email is not None:
        customer["email"] = email
    doc = {
        "event_id": event_id,
        "order_id": order_id,
        "status": status,
        "occurred_at": occurred_at,
        "customer": customer,
        "delivery": {
            "carrier": carrier,
            "tracking_url": "https://tracking.example/" + order_id,
            "window_start": "2026-11-24T12:00:00+01:00",
            "window_end": "2026-11-24T14:00:00+01:00",
        },
        "data": {"total": "1499.00", "currency": "SEK", "items": []},
    }
    doc.update(extra)
    return doc


# ---- processes ---------------------------------------------------------------

class Fixture:
    """A fixture server (tests/fixtures/*.py) that prints "PORT n" first."""

    def __init__(self, script, args, workdir, label):
        self.label = label
        self.stderr_path = os.path.join(workdir, label + ".stderr")
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [PYTHON, os.path.join(FIXTURES, script)] + list(args),
            stdout=subprocess.PIPE, stderr=self._stderr, stdin=subprocess.DEVNULL, cwd=workdir)
        self.port = self._read_port()

    def _read_port(self):
        deadline = time.monotonic() + WAIT
        buf = b""
        fd = self.proc.stdout.fileno()
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                self.stop()
                raise AssertionError("%s did not print its port within %.0f s: %r\n%s" % (
                    self.label, WAIT, buf, self.stderr()))
            ready, _, _ = select.select([fd], [], [], min(left, 0.2))
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    continue
                buf += chunk
        line = buf.split(b"\n", 1)[0].decode()
        if not line.startswith("PORT "):
            self.stop()
            raise AssertionError("%s printed %r instead of PORT n" % (self.label, line))
        return int(line.split()[1])

    def stderr(self):
        try:
            with open(self.stderr_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout:
            self.proc.stdout.close()
        self._stderr.close()


class HttpSink(Fixture):
    """http_sink.py: records every request; answers from a script."""

    def __init__(self, workdir, script=None, label="http_sink", extra_args=()):
        self.out = os.path.join(workdir, label + ".jsonl")
        args = ["--out", self.out]
        if script is not None:
            path = os.path.join(workdir, label + ".script.json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump(script, f)
            args += ["--script-file", path]
        args += list(extra_args)
        super().__init__("http_sink.py", args, workdir, label)
        self.url = "http://127.0.0.1:%d" % self.port

    def requests(self):
        return read_json_lines(self.out)


class FakeHttpServer:
    """A fake provider's API in this process: an HTTP server on 127.0.0.1:0
    in a thread, for tests that assert tackd's exact request as it comes.
    Each POST is recorded in `requests` as {"method", "path", "headers"
    (names lower-cased), "body" (bytes), "form" (name-value pairs for a
    form body, else None)} and answered by answer(request) -> (status,
    headers, body): a subclass's method, or the function given. A body may
    be bytes, str, or anything JSON takes (sent as application/json). An
    exception in answer() (a failed assertion about tackd's request) is
    kept in `failures` and answered 500."""

    def __init__(self, answer=None):
        import http.server
        import urllib.parse
        if answer is not None:
            self.answer = answer
        self.requests = []
        self.failures = []
        self.lock = threading.Lock()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                request = {"method": "POST", "path": self.path,
                           "headers": {k.lower(): v for k, v in self.headers.items()},
                           "body": body, "form": None}
                if "x-www-form-urlencoded" in request["headers"].get("content-type", ""):
                    request["form"] = urllib.parse.parse_qsl(body.decode("utf-8"),
                                                             keep_blank_values=True,
                                                             strict_parsing=True)
                with fake.lock:
                    fake.requests.append(request)
                try:
                    status, headers, payload = fake.answer(request)
                except Exception as e:  # the test's assertion about the request
                    with fake.lock:
                        fake.failures.append(e)
                    status, headers, payload = 500, {}, b"fake provider: %r" % e
                headers = dict(headers)
                if not isinstance(payload, (bytes, str)):
                    payload = json.dumps(payload)
                    if not any(k.lower() == "content-type" for k in headers):
                        headers["Content-Type"] = "application/json"
                data = payload.encode() if isinstance(payload, str) else payload
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, request):
        return 500, {}, b"no answer scripted"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class SmtpSink(Fixture):
    """smtp_sink.py (aiosmtpd): records every message that reaches DATA."""

    def __init__(self, workdir, replies=(), rcpt_replies=(), label="smtp_sink", extra_args=()):
        self.out = os.path.join(workdir, label + ".jsonl")
        args = ["--out", self.out]
        for r in replies:
            args += ["--reply", r]
        for r in rcpt_replies:
            args += ["--rcpt-reply", r]
        args += list(extra_args)
        super().__init__("smtp_sink.py", args, workdir, label)
        self.url = "smtp://127.0.0.1:%d" % self.port

    def messages(self):
        return read_json_lines(self.out)

    def accepted(self):
        return [m for m in self.messages() if m.get("accepted")]


class Tackd:
    """One `tackd run` process; stderr goes to a file in the temp dir."""

    def __init__(self, config_path, workdir, label="tackd", pipe_stderr=False, env=None):
        """pipe_stderr: tackd writes its log to a pipe that a thread copies
        to the file (as journald takes it), so a limit on tackd's file
        sizes does not also silence its log."""
        self.config_path = config_path
        self.stderr_path = os.path.join(workdir, label + ".stderr")
        self._stderr = open(self.stderr_path, "ab")
        out = subprocess.PIPE if pipe_stderr else self._stderr
        self.proc = subprocess.Popen(
            [TACKD, "run", "--config", config_path],
            stdout=out, stderr=subprocess.STDOUT if pipe_stderr else out,
            stdin=subprocess.DEVNULL, cwd=workdir, env=env)
        if pipe_stderr:
            def copy(src=self.proc.stdout, dst=self._stderr):
                for line in iter(src.readline, b""):
                    dst.write(line)
                    dst.flush()
            threading.Thread(target=copy, daemon=True).start()

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc.poll() is None

    def stderr(self):
        try:
            with open(self.stderr_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def signal(self, signum):
        self.proc.send_signal(signum)

    def wait(self, timeout=WAIT):
        """Exit code, or None if it did not exit in time."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._stderr.close()


# ---- the test case -------------------------------------------------------

class TackTestCase(unittest.TestCase):
    """Base class: temp dir, fixtures, config, tackd, and the CLI helpers."""

    maxDiff = None

    def setUp(self):
        if not os.path.isfile(TACKD) or not os.access(TACKD, os.X_OK):
            self.fail("TACKD=%s is not an executable tackd" % TACKD)
        self.tmp = tempfile.mkdtemp(prefix="tack-it-%s-" % self._testMethodName)
        self._fixtures = []
        self._daemons = []
        self.config_path = None
        self._cli_outputs = []  # (command line, stdout, stderr) for the capture
        self.addCleanup(self._clean_up)

    # -- cleanup and diagnostics

    def _failed(self):
        outcome = getattr(self, "_outcome", None)
        if outcome is None:
            return False
        # Python 3.11+: errors go straight to the result.
        result = getattr(outcome, "result", None)
        if result is not None:
            for test, _ in list(result.errors) + list(result.failures):
                if test is self:
                    return True
        errors = getattr(outcome, "errors", None)  # Python <= 3.10
        if errors:
            return any(exc is not None for _, exc in errors)
        return not getattr(outcome, "success", True)

    def _capture_outputs(self):
        """Saves what tack printed in this test for the leak check."""
        if not CAPTURE_DIR:
            return
        folder = os.path.join(CAPTURE_DIR, self.id())
        os.makedirs(folder, exist_ok=True)
        for d in self._daemons:
            target = os.path.join(folder, os.path.basename(d.stderr_path))
            try:
                shutil.copyfile(d.stderr_path, target)
            except OSError:
                pass
        with open(os.path.join(folder, "cli.txt"), "w", encoding="utf-8",
                  errors="replace") as f:
            for command, out, err in self._cli_outputs:
                f.write("$ %s\n%s%s\n" % (command, out or "", err or ""))
        with open(os.path.join(folder, "secrets.json"), "w", encoding="utf-8") as f:
            json.dump({"secrets": sorted(SENSITIVE["secrets"]),
                       "phones": sorted(SENSITIVE["phones"]),
                       "emails": sorted(SENSITIVE["emails"]),
                       "public": sorted(PUBLIC_CONTACTS)}, f, ensure_ascii=False, indent=1)

    def _clean_up(self):
        failed = self._failed()
        still_running = []
        for d in self._daemons:
            still_running.append(d.running())
            d.kill()
        self._capture_outputs()
        for d, was_running in zip(self._daemons, still_running):
            if failed or was_running:
                sys.stderr.write("\n---- %s stderr (%s)%s ----\n%s\n" % (
                    os.path.basename(d.stderr_path), self.id(),
                    " (still running at cleanup, killed)" if was_running else "",
                    tail(d.stderr(), 150)))
        for f in self._fixtures:
            f.stop()
            if failed and f.stderr().strip():
                sys.stderr.write("\n---- %s stderr ----\n%s\n" % (f.label, tail(f.stderr(), 60)))
        if os.environ.get("TACK_KEEP_TMP"):
            sys.stderr.write("(temp dir %s kept)\n" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def daemon_stderr(self):
        return "\n".join("---- %s ----\n%s" % (os.path.basename(d.stderr_path), tail(d.stderr(), 80))
                         for d in self._daemons)

    # -- waiting

    def wait_for(self, predicate, what, timeout=WAIT, interval=0.05):
        """Polls predicate until truthy; fails after `timeout` seconds with
        `what` (a string or a callable giving one) and tackd's stderr."""
        value = poll(predicate, timeout, interval)
        if not value:
            detail = what() if callable(what) else what
            self.fail("timed out after %.0f s waiting for %s\n%s" % (
                timeout, detail, self.daemon_stderr()))
        return value

    # -- fixtures

    def start_http_sink(self, script=None, label="http_sink"):
        sink = HttpSink(self.tmp, script, label)
        self._fixtures.append(sink)
        return sink

    def start_smtp_sink(self, replies=(), rcpt_replies=(), label="smtp_sink"):
        sink = SmtpSink(self.tmp, replies, rcpt_replies, label)
        self._fixtures.append(sink)
        return sink

    def start_http_sink_with(self, extra_args, script=None, label="http_sink"):
        """http_sink.py with any of its options, e.g. ["--port", "8080"]."""
        sink = HttpSink(self.tmp, script, label, extra_args=extra_args)
        self._fixtures.append(sink)
        return sink

    def start_smtp_sink_with(self, extra_args, label="smtp_sink"):
        """smtp_sink.py with any of its options, e.g. ["--mail-reply", "421 ...",
        "--greeting-reply", "421 ..."]."""
        sink = SmtpSink(self.tmp, label=label, extra_args=extra_args)
        self._fixtures.append(sink)
        return sink

    # -- config

    @staticmethod
    def smtp_gateway(sink, name="mail", **extra):
        g = {"name": name, "type": "smtp", "url": sink.url, "from": SHOP_FROM, "tls": "none",
             "connect_timeout": "2s", "timeout": "5s"}
        g.update(extra)
        return g

    @staticmethod
    def http_gateway(base_url, name="sms", path="/a1/sms", **extra):
        """An SMS provider in the style of 46elks: form POST, id in /id."""
        g = {"name": name, "type": "http", "url": base_url + path,
             "form": {"from": "Exempel", "to": "{{to}}", "message": "{{text}}"},
             "idempotency_header": "Idempotency-Key", "message_id_field": "/id",
             "connect_timeout": "2s", "timeout": "5s"}
        g.update(extra)
        return g

    def file_gateway(self, name="file", path=None):
        return {"name": name, "type": "file", "path": path or os.path.join(self.tmp, name + ".jsonl")}

    def make_config(self, gateways, sms=None, email=None, rules=None, retry=None, **top):
        """A config dict. sms/email: the gateway names of those channels
        (default: the first gateway of the list)."""
        first = gateways[0]["name"]
        config = {
            "store": {"path": os.path.join(self.tmp, "tack.db")},
            "templates": {"dir": TEMPLATES},
            "locale": {"default": "en", "region": "SE", "timezone": "Europe/Stockholm"},
            "log": {"level": "info"},
            "shop": dict(SHOP),
            "retry": retry or {"max_attempts": 10, "initial_backoff": "100ms",
                               "max_backoff": "500ms", "max_age": "1h"},
            "sources": [{"name": "outbox", "type": "sqlite_outbox",
                         "path": os.path.join(self.tmp, "outbox.db"), "poll_interval": "50ms"}],
            "gateways": gateways,
            "channels": {
                "sms": {"kind": "sms", "gateways": sms or [first]},
                "email": {"kind": "email", "gateways": email or [first]},
            },
            "rules": rules or DEFAULT_RULES,
            # Messages go at any hour: a test's outcome must not depend on the
            # time of day it runs (test_time.py tests quiet hours themselves).
            "quiet_hours": {"allowed": "00:00-24:00"},
        }
        config.update(top)
        return config

    def write_config(self, config, name="tack.yaml"):
        path = os.path.join(self.tmp, name)
        if not isinstance(config, str):
            register_config_secrets(config)
        text = config if isinstance(config, str) else yaml_text(config)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        if self.config_path is None:
            self.config_path = path
        return path

    # -- tackd

    def start_tackd(self, config_path=None, label=None, wait_ready=True, pipe_stderr=False,
                    env=None, may_exit=False):
        """Starts `tackd run` and, with wait_ready, waits for its running
        line; a tackd that exits first fails the test, unless may_exit
        (the caller then looks at the dead tackd itself)."""
        config_path = config_path or self.config_path
        label = label or "tackd-%d" % (len(self._daemons) + 1)
        if wait_ready:
            # As a shop would before its first event; tackd polls for the
            # table otherwise, which costs a test up to a second.
            self.tackd_cli("outbox", "init", "--config", config_path, check=EXIT_OK)
        d = Tackd(config_path, self.tmp, label, pipe_stderr=pipe_stderr, env=env)
        self._daemons.append(d)
        if wait_ready:
            # tackd's own line ("tackd 0.1.0 running: store ..."): a warning
            # before it may name a temp dir that holds the test's name.
            self.wait_for(lambda: " running: store " in d.stderr() or not d.running(),
                          "tackd to log that it is running")
            if not d.running() and not may_exit:
                self.fail("tackd exited with %s at start:\n%s" % (d.proc.returncode, d.stderr()))
        return d

    def start_tackd_on_chosen_port(self, write_config, attempts=5):
        """For a config that must name tackd's port before tackd starts
        (http.public_url, the base of callback URLs): chooses a free port,
        writes the config with write_config(port), which returns its path,
        and starts tackd. Another process may take the port between its
        choosing and tackd's bind (tests run in parallel); tackd then exits
        saying it cannot listen, and a new port is chosen. Returns (tackd,
        port)."""
        for _ in range(attempts):
            port = closed_port()
            d = self.start_tackd(write_config(port), may_exit=True)
            if d.running():
                return d, port
            if "cannot listen on" not in d.stderr():
                self.fail("tackd exited with %s at start:\n%s" % (d.proc.returncode, d.stderr()))
        self.fail("tackd found no free port in %d attempts:\n%s" % (attempts, d.stderr()))

    def stop_tackd(self, d, signum=signal.SIGTERM, expect=EXIT_OK):
        """Sends SIGTERM (or signum) and asserts the exit code."""
        d.signal(signum)
        rc = d.wait(WAIT)
        if rc is None:
            d.kill()
            self.fail("tackd did not exit within %.0f s of signal %d\n%s" % (
                WAIT, signum, tail(d.stderr(), 80)))
        self.assertEqual(rc, expect, "tackd exit code after signal %d\n%s" % (
            signum, tail(d.stderr(), 80)))
        return rc

    def tackd_cli(self, *args, input=None, check=None, timeout=CLI_TIMEOUT):
        """Runs `tackd ARGS`; returns the CompletedProcess (text).
        check=N asserts the exit code N."""
        p = subprocess.run([TACKD] + [str(a) for a in args], input=input, capture_output=True,
                           text=True, timeout=timeout, cwd=self.tmp)
        if args and str(args[0]) not in CAPTURE_EXEMPT_COMMANDS:
            # The command line is the test's input, not tack's output: the
            # recipient an operator names (`forget --to`) is not recorded.
            shown = [str(a) for a in args]
            shown = ["<recipient>" if i > 0 and shown[i - 1] == "--to" else a
                     for i, a in enumerate(shown)]
            self._cli_outputs.append((" ".join(["tackd"] + shown), p.stdout, p.stderr))
        if check is not None:
            self.assertEqual(p.returncode, check, "tackd %s exited %d\nstdout:\n%s\nstderr:\n%s" % (
                " ".join(str(a) for a in args), p.returncode, p.stdout, p.stderr))
        return p

    def emit(self, events, config_path=None):
        """Appends events to the outbox with `tackd emit`, as JSON lines.
        Each item is a dict (serialised) or a raw string (sent as given)."""
        lines = []
        for e in events:
            line = e if isinstance(e, str) else json.dumps(e, ensure_ascii=False)
            self.assertNotIn("\n", line, "one event per line")
            lines.append(line)
        return self.tackd_cli("emit", "--config", config_path or self.config_path, "-",
                              input="\n".join(lines) + "\n", check=EXIT_OK)

    def log(self, order=None, to=None, message=None, config_path=None):
        """`tackd log --json` for an order, a recipient or a message id: the
        HTTP API's order object, message list or message object
        (docs/http-api.md). An order tack knows nothing of yet (exit 66)
        reads as one with no events and no messages, so a test can poll."""
        args = ["log", "--config", config_path or self.config_path, "--json"]
        if order is not None:
            args += ["--order", order]
        if to is not None:
            args += ["--to", to]
        if message is not None:
            args += ["--message", message]
        p = self.tackd_cli(*args)
        if order is not None and p.returncode == EXIT_NOINPUT and "no order" in p.stderr:
            return {"order_id": order, "events": [], "messages": [], "audit": []}
        self.assertEqual(p.returncode, EXIT_OK, "tackd log exited %d\n%s" % (p.returncode,
                                                                             p.stderr))
        return json.loads(p.stdout)

    def audit_of(self, order, message_id):
        """The operator actions on one message of an order, oldest first."""
        target = "message %d" % message_id
        return [a for a in self.log(order=order)["audit"] if a["target"] == target]

    def log_text(self, order, config_path=None):
        return self.tackd_cli("log", "--config", config_path or self.config_path, "--order", order,
                              check=EXIT_OK).stdout

    def rejected(self, config_path=None):
        p = self.tackd_cli("log", "--config", config_path or self.config_path, "--rejected",
                           "--json", check=EXIT_OK)
        return json.loads(p.stdout)

    def messages(self, order, channel=None):
        ms = self.log(order=order)["messages"]
        return [m for m in ms if channel is None or m["channel"] == channel]

    def wait_for_messages(self, order, states, channel=None, count=1, timeout=WAIT):
        """Waits until `count` messages of the order (and channel) are in
        one of `states`; returns the order's messages."""
        if isinstance(states, str):
            states = (states,)
        last = []

        def check():
            last[:] = self.messages(order, channel)
            return len([m for m in last if m["state"] in states]) >= count and last

        return self.wait_for(check, lambda: "%d message(s) of order %s%s in %s; log has:\n%s" % (
            count, order, "" if channel is None else " on " + channel, "/".join(states),
            json.dumps(summarize(last), indent=1, ensure_ascii=False)), timeout)

    def wait_for_event(self, order, event_id, timeout=WAIT):
        """Waits until intake recorded the event; returns its log entry."""
        def check():
            for e in self.log(order=order)["events"]:
                if e["event_id"] == event_id:
                    return e
            return None
        return self.wait_for(check, "event %s of order %s in the log" % (event_id, order),
                             timeout)

    def assert_running(self, d):
        self.assertTrue(d.running(), "tackd exited (code %s):\n%s" % (
            d.proc.returncode, tail(d.stderr(), 80)))


def summarize(messages):
    """The parts of log messages worth printing in a failure."""
    return [{k: m.get(k) for k in ("id", "channel", "state", "to", "last_error")} |
            {"attempts": [(a["outcome"], a["detail"][:120]) for a in m.get("attempt_log", [])]}
            for m in messages]


def tail(text, lines):
    parts = text.splitlines()
    if len(parts) <= lines:
        return text
    return "[... %d lines ...]\n" % (len(parts) - lines) + "\n".join(parts[-lines:])
