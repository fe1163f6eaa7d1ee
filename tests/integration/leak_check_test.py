"""leak_check.py finds what it must and passes what tack prints: planted
leaks in a capture folder fail the check; masked forms and the shop's own
contact details do not."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import leak_check

HERE = os.path.dirname(os.path.abspath(__file__))
KNOWN = {"secrets": ["events-token-7f3a9c7f3a9c"], "phones": ["+46701234567", "070-765 43 21"],
         "emails": ["anna@example.se"], "public": ["kundservice@exempelbutiken.se",
                                                   "+46 8 123 456 78"]}
CLEAN = ("<6>message 17 order 1042 sms to +46*****4567 via sms: sending -> sent\n"
         "<6>message 18 order 1042 email to a***@example.se via mail: sending -> sent\n"
         "<6>http: listening on 127.0.0.1:41234\n"
         "Frågor? Mejla kundservice@exempelbutiken.se eller ring +46 8 123 456 78\n"
         "<6>tackd 0.1.0 running at 2026-11-22 10:15:00.123\n")


class FindLeaksTest(unittest.TestCase):
    def leaks(self, text):
        return leak_check.find_leaks(text, KNOWN["secrets"], KNOWN["phones"], KNOWN["emails"],
                                     KNOWN["public"])

    def test_masked_forms_and_shop_contacts_pass(self):
        self.assertEqual(self.leaks(CLEAN), [])

    def test_a_secret_is_found(self):
        self.assertEqual(self.leaks("auth failed for Bearer events-token-7f3a9c7f3a9c\n"),
                         [("secret", "events-token-7f3a9c7f3a9c")])

    def test_a_phone_number_is_found_in_any_notation(self):
        for text in ("+46701234567", "0046701234567", "46701234567", "070-123 45 67",
                     "0701234567", "(070) 123-45-67", "+46 70 765 43 21", "070.765.43.21"):
            found = self.leaks("invalid destination %s\n" % text)
            self.assertTrue(found and found[0][0] == "phone", (text, found))

    def test_any_e164_number_is_found(self):
        self.assertEqual(self.leaks("to +4915112345678\n"), [("phone", "+4915112345678")])

    def test_an_email_address_is_found_registered_or_not(self):
        self.assertEqual(self.leaks("550 5.1.1 <Anna@Example.se>: user unknown\n"),
                         [("e-mail", "Anna@Example.se")])
        self.assertEqual(self.leaks("from olle.berg@mail.example.com\n"),
                         [("e-mail (unregistered)", "olle.berg@mail.example.com")])


class FolderTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="leak-check-test-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def capture(self, test, files):
        folder = os.path.join(self.dir, test)
        os.makedirs(folder)
        with open(os.path.join(folder, "secrets.json"), "w", encoding="utf-8") as f:
            json.dump(KNOWN, f)
        for name, text in files.items():
            with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
                f.write(text)

    def run_check(self):
        return subprocess.run([sys.executable, os.path.join(HERE, "leak_check.py"), self.dir],
                              capture_output=True, text=True, timeout=60)

    def test_a_clean_capture_passes(self):
        self.capture("test_x.A.test_one", {"tackd-1.stderr": CLEAN, "cli.txt": "$ tackd check\n"})
        p = self.run_check()
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("1 test(s) captured, 0 finding(s)", p.stdout)

    def test_a_planted_leak_fails_with_file_and_line(self):
        self.capture("test_x.A.test_one", {"tackd-1.stderr": CLEAN})
        self.capture("test_x.A.test_two", {
            "tackd-1.stderr": CLEAN + "<3>outbox row 3 rejected: customer 070-123 45 67\n",
            "cli.txt": "$ tackd check\nwarning: token events-token-7f3a9c7f3a9c\n"})
        p = self.run_check()
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("test_x.A.test_two/tackd-1.stderr:6: phone: 070-123 45 67", p.stdout)
        self.assertIn("test_x.A.test_two/cli.txt:2: secret: events-token-7f3a9c7f3a9c", p.stdout)
        self.assertIn("2 test(s) captured, 2 finding(s)", p.stdout)

    def test_an_empty_capture_folder_fails(self):
        p = self.run_check()
        self.assertEqual(p.returncode, 1)
        self.assertIn("holds no captures", p.stderr)


if __name__ == "__main__":
    unittest.main()
