"""The web admin page over HTTPS, set up as deploy/fleet-init.sh sets it up: the fleet's
server certificate, the admin password it wrote under secrets/ and the Argon2 hash beside
it, port 8443 in pdsync-server.conf. The test runs the server from that config (on a free
port instead of 8443), checks the certificate chain and name against the fleet CA as an
administrator's browser would, and logs in with Chromium pinned to that certificate's key.
"""
import base64
import hashlib
import os
import re
import ssl
import subprocess
import tempfile
import unittest
import warnings

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

import fleet


def spki_sha256(cert_path):
    der = subprocess.run(["openssl", "x509", "-in", cert_path, "-noout", "-pubkey"],
                         capture_output=True, check=True).stdout
    key = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=der,
                         capture_output=True, check=True).stdout
    return base64.b64encode(hashlib.sha256(key).digest()).decode()


class AdminPageOverHttps(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        warnings.simplefilter("ignore", DeprecationWarning)  # offering TLS 1.1 on purpose
        cls.tmp_dir = tempfile.TemporaryDirectory(prefix="pdsync-https-")
        tmp = cls.tmp = cls.tmp_dir.name
        cls.fleet_dir = os.path.join(tmp, "fleet")
        user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
        subprocess.run(["bash", os.path.join(fleet.SOURCE_DIR, "deploy", "fleet-init.sh"), cls.fleet_dir,
                        "--no-tls", "--broker-auth", "passwd", "--port", str(fleet.free_port()),
                        "--run-user", user,
                        "--server-host", "localhost", "--data-dir", os.path.join(tmp, "data")],
                       check=True, capture_output=True, timeout=120,
                       env={**os.environ, "PDSYNC_SERVER_BIN": fleet.SERVER_BIN})
        cls.conf = os.path.join(cls.fleet_dir, "pdsync-server.conf")
        with open(cls.conf) as f:
            cls.conf_text = f.read()
        with open(os.path.join(cls.fleet_dir, "secrets", "web-admin.password")) as f:
            cls.password = f.read().strip()
        cls.broker = fleet.Broker(tmp)
        cls.port = fleet.free_port()
        # The fleet's config as written, with the test's broker, store and port over it.
        cls.process = fleet.Process(
            [fleet.SERVER_BIN, "--config", cls.conf, "--broker", cls.broker.url,
             # The test's broker is anonymous on loopback: no account, so no password to send.
             "--password-file", "", "--password", "",
             "--store", os.path.join(tmp, "server.db"), "--admin-socket", os.path.join(tmp, "server.sock"),
             "--web-listen", f"127.0.0.1:{cls.port}"], os.path.join(tmp, "server.log"))
        fleet.wait_until(lambda: not cls.process.running() or fleet.port_open(cls.port), 20,
                         "the HTTPS page to listen")
        if not cls.process.running():
            raise AssertionError("pdsync-server exited: " + cls.process.text()[-2000:])
        cls.ca = os.path.join(cls.fleet_dir, "tls", "ca.crt")

    @classmethod
    def tearDownClass(cls):
        cls.process.stop()
        cls.broker.stop()
        cls.tmp_dir.cleanup()

    def test_fleet_init_turns_the_page_on_at_8443_with_only_a_hash(self):
        self.assertIn('web-listen = "0.0.0.0:8443"', self.conf_text)
        self.assertIn(f'web-cert-file = "{self.fleet_dir}/tls/server.crt"', self.conf_text)
        hash_file = os.path.join(self.fleet_dir, "secrets", "web-admin.hash")
        self.assertIn(f'web-admin-password-hash-file = "{hash_file}"', self.conf_text)
        self.assertNotIn(self.password, self.conf_text)
        with open(hash_file) as f:
            self.assertTrue(f.read().startswith("$argon2id$"))
        for name in ("web-admin.password", "web-admin.hash"):
            mode = os.stat(os.path.join(self.fleet_dir, "secrets", name)).st_mode & 0o777
            self.assertEqual(mode, 0o600, name)

    def test_certificate_is_the_fleets_and_the_cookie_is_secure(self):
        ctx = ssl.create_default_context(cafile=self.ca)  # chain and host name checked
        w = fleet.Web("localhost", self.port, context=ctx)
        res, _ = w.request("GET", "/login")
        self.assertEqual(res.status, 200)
        with ssl.create_connection(("127.0.0.1", self.port)) as raw, \
                ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            self.assertIn(tls.version(), ("TLSv1.2", "TLSv1.3"))
            self.assertRegex(tls.cipher()[0], r"GCM|CHACHA20")
        # The server refuses TLS 1.1 and a TLS 1.2 cipher without AEAD, from a client that
        # offers them (security level 0, so only the server can say no).
        def offer(max_version, ciphers):
            c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            c.load_verify_locations(self.ca)
            c.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            c.maximum_version = max_version
            c.set_ciphers(ciphers)
            with ssl.create_connection(("127.0.0.1", self.port)) as raw, \
                    c.wrap_socket(raw, server_hostname="localhost") as tls:
                return tls.version()
        self.assertEqual(offer(ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES128-GCM-SHA256:@SECLEVEL=0"), "TLSv1.2")
        with self.assertRaises(ssl.SSLError):
            offer(ssl.TLSVersion.TLSv1_1, "ALL:@SECLEVEL=0")
        with self.assertRaises(ssl.SSLError):
            offer(ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384:@SECLEVEL=0")
        set_cookie = w.login(self.password)
        self.assertTrue(set_cookie.startswith("__Host-pdsync_session="), set_cookie)
        for flag in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/"):
            self.assertIn(flag, set_cookie)
        res, body = w.request("GET", "/api/v1/settings")
        self.assertEqual(res.status, 200, body)
        self.assertTrue(body["web"]["https"])

    def test_log_in_with_chromium_over_https(self):
        pin = spki_sha256(os.path.join(self.fleet_dir, "tls", "server.crt"))
        driver = fleet.chromium(1280, 800, [f"--ignore-certificate-errors-spki-list={pin}"])
        try:
            wait = WebDriverWait(driver, 15)
            driver.get(f"https://localhost:{self.port}/login")
            wait.until(EC.element_to_be_clickable((By.ID, "password"))).send_keys(self.password)
            driver.find_element(By.ID, "login-button").click()
            wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".page-head h1"), "Status"))
            cookie = next(c for c in driver.get_cookies() if c["name"] == "__Host-pdsync_session")
            self.assertTrue(cookie["secure"])
            self.assertTrue(cookie["httpOnly"])
        finally:
            driver.quit()


if __name__ == "__main__":
    unittest.main(verbosity=2)
