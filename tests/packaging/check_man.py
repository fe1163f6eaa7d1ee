"""check_man.py SOURCE_DIR TACKD: the man pages render without a groff
warning and do not drift from what they document.

- `man --warnings -l PAGE` prints nothing on stderr, for both pages;
- tackd(8) has the usual sections and names every subcommand and every
  option that `tackd SUBCOMMAND --help` lists;
- tack.yaml(5) names every section of the config and every key that
  config/tack.example.yaml shows (set or commented out), and every key of
  the `http:` section in docs/http-api.md.

Standard library only; /usr/bin/python3.
"""

import os
import re
import subprocess
import sys


def render(page):
    """The page as text, and groff's warnings."""
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8", MAN_KEEP_FORMATTING="")
    p = subprocess.run(["man", "--warnings", "-l", page], capture_output=True, text=True,
                       env=env, timeout=60)
    if p.returncode != 0:
        raise SystemExit("man -l %s exited %d:\n%s" % (page, p.returncode, p.stderr))
    # man may emit overstrike or ANSI sequences for bold when not a tty.
    text = re.sub(r".\x08", "", p.stdout)
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    # Undo hyphenation at line ends ("con-\n  figuration").
    text = re.sub(r"(\w)[\u2010-]\n\s+(\w)", r"\1\2", text)
    return text, p.stderr


def words(text):
    """Every token a reader could search for: keys, options, subcommands."""
    return set(re.findall(r"[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)*", text.replace("\u2010", "-")))


def help_of(tackd, *args):
    p = subprocess.run([tackd, *args, "--help"], capture_output=True, text=True, timeout=30)
    return p.stdout


def subcommands(help_text):
    """CLI11 lists subcommands after a "Subcommands:" line."""
    out = []
    section = False
    for line in help_text.splitlines():
        if line.startswith("Subcommands:"):
            section = True
            continue
        if section:
            m = re.match(r"^\s+([a-z][a-z0-9_-]*)\s", line + " ")
            if m:
                out.append(m.group(1))
            elif line.strip() and not line.startswith(" "):
                section = False
    return out


def options(help_text):
    return set(re.findall(r"(?<![\w-])(--?[a-z][a-z0-9-]*)", help_text))


def example_keys(path):
    """Keys of a YAML example, from set and commented-out lines alike."""
    keys = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^\s*(?:#\s*)*(?:-\s+)?([a-z_][a-z0-9_]*):(\s|$)", line)
            if m:
                keys.add(m.group(1))
    return keys


def http_keys(doc):
    """Keys of the yaml block under "## Configuration" in docs/http-api.md."""
    with open(doc, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"## Configuration\s+```yaml\n(.*?)```", text, re.S)
    if not m:
        raise SystemExit("%s: no ```yaml block under ## Configuration" % doc)
    keys = set()
    for line in m.group(1).splitlines():
        k = re.match(r"^\s*(?:-\s+)?([a-z_][a-z0-9_]*):(\s|$)", line)
        if k:
            keys.add(k.group(1))
    return keys


def main():
    source_dir, tackd = sys.argv[1], sys.argv[2]
    problems = []
    pages = {name: os.path.join(source_dir, "man", name) for name in ("tackd.8", "tack.yaml.5")}
    rendered = {}
    for name, path in pages.items():
        text, warnings = render(path)
        if warnings.strip():
            problems.append("%s: groff warnings:\n%s" % (name, warnings))
        rendered[name] = text

    # tackd(8)
    text = rendered["tackd.8"]
    have = words(text)
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS", "SIGNALS",
                    "SYSTEMD", "EXIT STATUS", "ENVIRONMENT", "FILES", "SEE ALSO"):
        if not re.search(r"^%s$" % section, text, re.M):
            problems.append("tackd.8: no %s section" % section)
    for var in ("CREDENTIALS_DIRECTORY", "NOTIFY_SOCKET", "WATCHDOG_USEC"):
        if var not in have:
            problems.append("tackd.8: ENVIRONMENT does not name %s" % var)
    top = help_of(tackd)
    subs = subcommands(top)
    if len(subs) < 5:
        problems.append("could not read the subcommands from `tackd --help`:\n" + top)
    for opt in options(top):
        if opt not in have:
            problems.append("tackd.8: option %s of tackd is not documented" % opt)
    for sub in subs:
        if sub not in have:
            problems.append("tackd.8: subcommand %s is not documented" % sub)
        sub_help = help_of(tackd, sub)
        nested = subcommands(sub_help)
        helps = [sub_help] + [help_of(tackd, sub, n) for n in nested]
        for n in nested:
            if n not in have:
                problems.append("tackd.8: subcommand %s %s is not documented" % (sub, n))
        for h in helps:
            for opt in options(h):
                if opt not in have:
                    problems.append("tackd.8: option %s of tackd %s is not documented" % (opt, sub))

    # tack.yaml(5)
    text = rendered["tack.yaml.5"]
    have = words(text)
    example = os.path.join(source_dir, "config", "tack.example.yaml")
    for key in sorted(example_keys(example) | http_keys(os.path.join(source_dir, "docs",
                                                                     "http-api.md"))):
        if key not in have:
            problems.append("tack.yaml.5: key %s (%s or docs/http-api.md) is not documented" %
                            (key, os.path.relpath(example, source_dir)))
    for section in ("store", "templates", "locale", "log", "shop", "statuses", "retry", "limits",
                    "sources", "gateways", "channels", "rules", "http", "secrets"):
        if not re.search(r"^   %s$" % section, text, re.M):
            problems.append("tack.yaml.5: no subsection for %s" % section)

    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    print("man pages: %s ok" % ", ".join(sorted(pages)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
