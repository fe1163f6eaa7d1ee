"""leak_check: greps what tack printed during the integration tests for
secrets and personal data (DESIGN.md: "No secrets or full PII in logs").

tests/integration/harness.py saves, per test, every tackd process's output
and every CLI command's output except the support views (`tackd log`,
`tackd export`, which show personal data to an operator by design), plus
secrets.json: the secrets the test's configs held and the phone numbers and
e-mail addresses of its customers. This script reads a capture folder and
fails (exit 1) when any capture holds:

- a registered secret, verbatim;
- a registered customer's phone number in any common notation: +46701234567,
  0046701234567, 46701234567, 070-123 45 67, 0701234567 (digits with spaces,
  dashes, dots or parentheses between them), or any E.164-looking "+" and
  8 to 15 digits;
- an e-mail address, other than the shop's own contact address.

The masked forms tack prints (+46*****4567, a***@example.se) match none of
these. ctest runs it last (FIXTURES_CLEANUP of the integration tests):

    /usr/bin/python3 leak_check.py CAPTURE_DIR

Standard library only.
"""

import json
import os
import re
import sys

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
E164 = re.compile(r"(?<![\w*])\+\d{8,15}(?!\d)")
# Digits with the separators people write phone numbers with.
DIGIT_RUN = re.compile(r"\+?\d[\d \-.()/]*\d")


def national_digits(phone):
    """The digits that identify a Swedish-style test number whatever its
    notation: +46701234567 / 0046... / 070-123 45 67 -> "701234567"."""
    digits = re.sub(r"\D", "", phone)
    if phone.strip().startswith("+"):
        digits = digits[2:] if digits.startswith("46") else digits[1:]
    elif digits.startswith("00"):
        digits = digits[4:]
    elif digits.startswith("0"):
        digits = digits[1:]
    return digits


def find_leaks(text, secrets=(), phones=(), emails=(), public=()):
    """[(kind, what)] for each thing in text that must not be there."""
    leaks = []
    for secret in secrets:
        if secret and secret in text:
            leaks.append(("secret", secret))
    wanted = {national_digits(p) for p in phones}
    wanted = {d for d in wanted if len(d) >= 7}
    public_digits = {re.sub(r"\D", "", p) for p in public}
    for match in DIGIT_RUN.finditer(text):
        digits = re.sub(r"\D", "", match.group(0))
        if len(digits) < 7 or digits in public_digits:
            continue
        for d in wanted:
            if d in digits:
                leaks.append(("phone", match.group(0)))
                break
    for match in E164.finditer(text):
        leaks.append(("phone", match.group(0)))
    public_lower = {p.lower() for p in public}
    lowered_emails = {e.lower() for e in emails}
    for match in EMAIL.finditer(text):
        address = match.group(0).lower()
        if address in public_lower:
            continue
        leaks.append(("e-mail" if address in lowered_emails else "e-mail (unregistered)",
                      match.group(0)))
    # One report per distinct thing.
    seen = set()
    unique = []
    for leak in leaks:
        if leak not in seen:
            seen.add(leak)
            unique.append(leak)
    return unique


def check_folder(capture_dir):
    """[(file, line number, kind, what)] over every capture in the folder."""
    found = []
    for test in sorted(os.listdir(capture_dir)):
        folder = os.path.join(capture_dir, test)
        if not os.path.isdir(folder):
            continue
        try:
            with open(os.path.join(folder, "secrets.json"), encoding="utf-8") as f:
                known = json.load(f)
        except (OSError, ValueError):
            known = {}
        for name in sorted(os.listdir(folder)):
            if name == "secrets.json":
                continue
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8", errors="replace") as f:
                for number, line in enumerate(f, 1):
                    for kind, what in find_leaks(line, known.get("secrets", ()),
                                                 known.get("phones", ()),
                                                 known.get("emails", ()),
                                                 known.get("public", ())):
                        found.append((os.path.join(test, name), number, kind, what))
    return found


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: leak_check.py CAPTURE_DIR\n")
        return 64
    capture_dir = argv[1]
    if not os.path.isdir(capture_dir) or not os.listdir(capture_dir):
        sys.stderr.write("leak_check: %s holds no captures: did the integration tests run "
                         "with TACK_OUTPUT_CAPTURE_DIR set?\n" % capture_dir)
        return 1
    tests = [t for t in os.listdir(capture_dir) if os.path.isdir(os.path.join(capture_dir, t))]
    leaks = check_folder(capture_dir)
    for where, number, kind, what in leaks:
        # The finding names what leaked: this output stays in the build dir.
        print("%s:%d: %s: %s" % (where, number, kind, what))
    print("leak_check: %d test(s) captured, %d finding(s)" % (len(tests), len(leaks)))
    return 1 if leaks else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
