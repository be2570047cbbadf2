"""The web admin page in a real browser (headless Chromium through chromium-driver), over a
real fleet: mosquitto, pdsync-server with --web-listen on loopback, pdsync-client devices.
One server and one browser for the whole class, to keep the tier's wall time small; each
test makes its own machines and users, so none depends on another's order.
"""
import os
import signal
import subprocess
import tempfile
import time
import unittest

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

import fleet

PASSWORD = "correct horse battery staple"
PAGES = ["status", "machines", "users", "backups", "settings"]


class AdminPage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp_dir = tempfile.TemporaryDirectory(prefix="pdsync-browser-")
        cls.tmp = cls.tmp_dir.name
        cls.broker = fleet.Broker(cls.tmp)
        cls.server = fleet.Server(cls.tmp, cls.broker, PASSWORD)
        cls.devices = []
        cls.driver = fleet.chromium(1280, 800)
        # The page redraws its tables every poll: an element found just before a redraw is
        # stale when read, and the wait looks again rather than failing.
        cls.wait = WebDriverWait(cls.driver, 15, poll_frequency=0.05,
                                 ignored_exceptions=(StaleElementReferenceException,))

    @classmethod
    def tearDownClass(cls):
        cls.driver.quit()
        for d in cls.devices:
            d.stop()
        code = cls.server.stop()
        cls.broker.stop()
        if code not in (0, None):
            print(cls.server.process.text()[-3000:])
        cls.tmp_dir.cleanup()

    # ---- helpers --------------------------------------------------------------------------
    def device(self, device_id):
        d = fleet.Device(self.tmp, self.broker, device_id)
        self.devices.append(d)
        fleet.wait_until(lambda: d.status().get("joined"), 15, f"{device_id} to join")
        return d

    def web(self):
        w = fleet.Web("127.0.0.1", self.server.web_port)
        w.login(PASSWORD)
        return w

    def open_page(self, name):
        if "/login" in self.driver.current_url or not self.driver.current_url.startswith(self.server.url):
            self.browser_login()
        self.driver.get(f"{self.server.url}/#/{name}")
        self.wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-page") == name)
        self.wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".page-head h1")))

    def browser_login(self, password=PASSWORD):
        deadline = time.monotonic() + 30
        while True:
            self.driver.get(f"{self.server.url}/login")
            box = self.wait.until(EC.element_to_be_clickable((By.ID, "password")))
            box.clear()
            box.send_keys(password)
            self.driver.find_element(By.ID, "login-button").click()
            # One script reads the page's state: it may be navigating away meanwhile.
            self.wait.until(lambda d: d.execute_script(
                "const e = document.getElementById('login-error');"
                "return location.pathname !== '/login' || (e !== null && !e.hidden);"))
            if "/login" not in self.driver.current_url:
                self.wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".page-head h1")))
                return
            text = self.driver.find_element(By.ID, "login-error").text
            if "Wait" not in text or time.monotonic() > deadline:
                raise AssertionError(f"login refused: {text}")
            time.sleep(1)  # an earlier test's failed logins: the server asks us to wait

    def confirm(self):
        ok = self.wait.until(EC.element_to_be_clickable((By.ID, "confirm-ok")))
        ok.click()

    def seed_users(self, names, category="addressbook"):
        docs = [{"schema": "pds.doc/1", "user": n, "category": category, "version": 1,
                 "entries": [{"id": "e1", "rev": 1, "fields": {"name": f"{n}'s friend"}}]}
                for n in names]
        r = self.server.admin({"cmd": "import", "documents": docs}, 60)
        self.assertTrue(r.get("ok"), r)

    # ---- tests ----------------------------------------------------------------------------
    def test_wrong_password_is_refused_and_the_next_attempt_must_wait(self):
        self.driver.delete_all_cookies()
        self.driver.get(f"{self.server.url}/login")
        box = self.wait.until(EC.element_to_be_clickable((By.ID, "password")))
        box.send_keys("not the password")
        self.driver.find_element(By.ID, "login-button").click()
        err = self.wait.until(EC.visibility_of_element_located((By.ID, "login-error")))
        self.wait.until(lambda d: "not right" in err.text)
        self.assertIn("/login", self.driver.current_url)
        self.assertNotIn("pdsync_session", [c["name"] for c in self.driver.get_cookies()])
        self.assertIn("failed admin login from '127.0.0.1'", self.server.process.text())
        # Right after a failure, even the right password waits: 429, not checked at all.
        w = fleet.Web("127.0.0.1", self.server.web_port)
        res, body = w.request("POST", "/api/v1/login", {"password": PASSWORD}, cookie=False)
        self.assertEqual((res.status, body.get("error")), (429, "rate_limited"), body)
        self.assertEqual(res.getheader("Retry-After"), "1")
        # Once the wait is over, a second failure makes the next wait longer (2 s), and the
        # page says so.
        fleet.wait_until(lambda: w.request("POST", "/api/v1/login", {"password": "wrong again"},
                                           cookie=False)[0].status == 401, 5, "the 1 s wait to end")
        res, body = w.request("POST", "/api/v1/login", {"password": PASSWORD}, cookie=False)
        self.assertEqual(res.status, 429)
        self.assertGreater(body["retry_after_ms"], 1000, "the second wait is longer than the first")
        box.clear()
        box.send_keys(PASSWORD)
        self.driver.find_element(By.ID, "login-button").click()
        self.wait.until(lambda d: "Too many failed attempts" in err.text)

    def test_without_a_session_the_api_answers_401_and_pages_lead_to_login(self):
        w = fleet.Web("127.0.0.1", self.server.web_port)
        for path in ("/api/v1/status", "/api/v1/users", "/api/v1/session", "/api/v1/nothing"):
            res, body = w.request("GET", path)
            self.assertEqual(res.status, 401, path)
            self.assertEqual(body.get("error"), "unauthenticated")
        res, _ = w.request("POST", "/api/v1/machines/remove", {"device_id": "x"})
        self.assertEqual(res.status, 401)
        for path in ("/", "/anything/else"):
            res, _ = w.request("GET", path)
            self.assertEqual(res.status, 302, path)
            self.assertEqual(res.getheader("Location"), "/login")
        res, _ = w.request("GET", "/api/v1/status", headers={"Cookie": "pdsync_session=" + "0" * 64})
        self.assertEqual(res.status, 401)

    def test_login_shows_the_status_page_and_the_cookie_is_locked_down(self):
        self.driver.delete_all_cookies()
        self.browser_login()
        self.assertEqual(self.driver.find_element(By.CSS_SELECTOR, ".page-head h1").text, "Status")
        cookie = next(c for c in self.driver.get_cookies() if c["name"] == "pdsync_session")
        self.assertTrue(cookie["httpOnly"])
        self.assertEqual(cookie["sameSite"], "Strict")
        # Scripts on the page cannot read it.
        self.assertNotIn("pdsync_session", self.driver.execute_script("return document.cookie"))
        set_cookie = fleet.Web("127.0.0.1", self.server.web_port).login(PASSWORD)
        self.assertIn("HttpOnly", set_cookie)
        self.assertIn("SameSite=Strict", set_cookie)

    def test_a_device_going_online_and_syncing_shows_without_a_reload(self):
        self.open_page("status")
        self.driver.execute_script("window.__sameDocument = 'yes'")
        dev = self.device("mfp-lobby")
        row = '[data-device="mfp-lobby"]'
        self.wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, row), "online"))
        before = int(self.driver.find_element(By.CSS_SELECTOR, f"{row} .last-sync").get_attribute("data-at"))
        r = dev.call({"cmd": "login", "user": "erin", "wait_ms": 10000}, 20)
        self.assertTrue(r.get("ok"), r)
        r = dev.call({"cmd": "edit", "category": "addressbook", "wait_ms": 10000,
                      "ops": [{"op": "add", "id": "frank", "fields": {"name": "Frank"}}]}, 20)
        self.assertTrue(r.get("ok"), r)
        self.wait.until(lambda d: int(d.find_element(By.CSS_SELECTOR, f"{row} .last-sync")
                                      .get_attribute("data-at")) > before)
        self.assertEqual(self.driver.execute_script("return window.__sameDocument"), "yes")
        # Going offline shows too.
        dev.stop()
        self.wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, row), "offline"))
        self.assertEqual(self.driver.execute_script("return window.__sameDocument"), "yes")

    def test_a_removed_machine_is_refused_on_the_device(self):
        dev = self.device("mfp-3f")
        self.open_page("machines")
        row = '#machines-table [data-device="mfp-3f"]'
        self.wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, row), "online"))
        self.driver.find_element(By.CSS_SELECTOR, f"{row} button.remove").click()
        self.confirm()
        self.wait.until(EC.invisibility_of_element_located((By.CSS_SELECTOR, row)))
        machines = self.server.admin({"cmd": "status"})["machines"]
        self.assertNotIn("mfp-3f", [m["device_id"] for m in machines])
        # The device learns it when it next asks: it comes back and is refused, with why.
        dev.stop()
        dev.start()
        st = fleet.wait_until(lambda: (s := dev.status()).get("state") == "refused" and s, 20,
                              "the removed device to be refused")
        self.assertFalse(st["joined"])
        self.assertIn("removed", st["last_error"])
        # ... and the page lists it among the refused machines, with the reason.
        self.wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, '[data-refused="mfp-3f"]'), "removed"))

    def test_delete_a_user_from_the_users_page(self):
        self.seed_users(["gina", "gus", "gwen"])
        self.open_page("users")
        search = self.wait.until(EC.element_to_be_clickable((By.ID, "user-search")))
        search.send_keys("gu")
        # Read in one script: the table is redrawn as the search narrows.
        self.wait.until(lambda d: d.execute_script(
            "return [...document.querySelectorAll('#users-table tbody tr')].map(r => r.dataset.user)") == ["gus"])
        self.driver.find_element(By.CSS_SELECTOR, '[data-user="gus"] a.user-link').click()
        panel = self.wait.until(EC.visibility_of_element_located((By.ID, "user-panel")))
        self.assertIn("gus's friend", panel.text)
        self.driver.find_element(By.ID, "delete-user").click()
        self.confirm()
        self.wait.until(EC.invisibility_of_element_located((By.CSS_SELECTOR, '[data-user="gus"]')))
        r = self.server.admin({"cmd": "users-show", "user": "gus"})
        self.assertEqual(r.get("error"), "not_found", r)
        self.assertTrue(self.server.admin({"cmd": "users-show", "user": "gina"}).get("ok"))

    def test_users_page_pages_through_the_users(self):
        self.seed_users([f"page-{i:03d}" for i in range(120)])
        self.open_page("users")
        search = self.wait.until(EC.element_to_be_clickable((By.ID, "user-search")))
        search.send_keys("page-")
        self.wait.until(EC.text_to_be_present_in_element((By.ID, "users-range"), "1–50 of 120"))
        self.driver.find_element(By.ID, "users-next").click()
        self.wait.until(EC.text_to_be_present_in_element((By.ID, "users-range"), "51–100 of 120"))
        first = self.driver.find_element(By.CSS_SELECTOR, "#users-table tbody tr").get_attribute("data-user")
        self.assertEqual(first, "page-050")
        self.driver.find_element(By.ID, "users-next").click()
        self.wait.until(EC.text_to_be_present_in_element((By.ID, "users-range"), "101–120 of 120"))
        self.assertFalse(self.driver.find_element(By.ID, "users-next").is_enabled())

    def test_back_up_now_and_see_it_listed(self):
        before = len(self.server.admin({"cmd": "backup-list"}, 30)["backups"])
        self.open_page("backups")
        self.wait.until(EC.element_to_be_clickable((By.ID, "backup-label"))).send_keys("from-the-browser")
        self.driver.find_element(By.ID, "backup-now").click()
        self.wait.until(EC.text_to_be_present_in_element((By.ID, "backup-state"), "Done"))
        row = self.wait.until(EC.visibility_of_element_located(
            (By.XPATH, "//table[@id='backups-table']//tr[td[contains(., 'from-the-browser')]]")))
        listed = self.server.admin({"cmd": "backup-list"}, 30)["backups"]
        self.assertEqual(len(listed), before + 1)
        self.assertEqual(listed[-1]["label"], "from-the-browser")
        self.assertEqual(row.get_attribute("data-backup"), listed[-1]["id"])

    def test_a_post_without_the_csrf_token_is_refused(self):
        self.seed_users(["hank"])
        # From the logged-in page itself: fetch() with the session cookie but no token.
        self.open_page("status")
        status = self.driver.execute_async_script("""
            const done = arguments[arguments.length - 1];
            fetch('/api/v1/users/delete', {method: 'POST', credentials: 'same-origin',
                  headers: {'Content-Type': 'application/json'}, body: JSON.stringify({user: 'hank'})})
              .then(r => done(r.status), e => done(String(e)));""")
        self.assertEqual(status, 403)
        # A plain HTTP client with a valid session: no token, a wrong token, another origin.
        w = self.web()
        res, body = w.request("POST", "/api/v1/users/delete", {"user": "hank"})
        self.assertEqual((res.status, body.get("error")), (403, "forbidden"))
        res, _ = w.request("POST", "/api/v1/users/delete", {"user": "hank"},
                           headers={"X-CSRF-Token": "0" * 64})
        self.assertEqual(res.status, 403)
        res, _ = w.request("POST", "/api/v1/users/delete", {"user": "hank"},
                           headers={"X-CSRF-Token": w.csrf, "Origin": "http://evil.example"})
        self.assertEqual(res.status, 403)
        res, _ = w.request("POST", "/api/v1/logout", {})
        self.assertEqual(res.status, 403)
        self.assertTrue(self.server.admin({"cmd": "users-show", "user": "hank"}).get("ok"),
                        "a refused request must not have deleted anything")
        # The same request with the token goes through.
        res, body = w.request("POST", "/api/v1/users/delete", {"user": "hank"},
                              headers={"X-CSRF-Token": w.csrf})
        self.assertEqual(res.status, 200, body)
        self.assertIn("refused: missing or wrong CSRF token", self.server.process.text())

    def test_sign_out_ends_the_session(self):
        w = self.web()
        res, _ = w.request("GET", "/api/v1/status")
        self.assertEqual(res.status, 200)
        res, _ = w.request("POST", "/api/v1/logout", {}, headers={"X-CSRF-Token": w.csrf})
        self.assertEqual(res.status, 200)
        res, _ = w.request("GET", "/api/v1/status")
        self.assertEqual(res.status, 401)
        self.open_page("settings")
        self.driver.find_element(By.ID, "logout").click()
        self.wait.until(EC.url_contains("/login"))
        self.driver.get(f"{self.server.url}/")
        self.wait.until(EC.url_contains("/login"))

    def test_settings_page_shows_the_limits_and_the_broker(self):
        self.open_page("settings")
        text = self.wait.until(EC.visibility_of_element_located((By.ID, "view"))).text
        self.wait.until(lambda d: "Machine limit" in d.find_element(By.ID, "view").text)
        text = self.driver.find_element(By.ID, "view").text
        self.assertIn(self.broker.url, text)
        self.assertIn("addressbook", text)
        self.assertIn("1,000", text)

    def test_pages_fit_a_desktop_and_a_phone_without_sideways_scrolling(self):
        dev = self.device("mfp-2f-east-finance-corridor")
        self.seed_users(["ivy"])
        dev.call({"cmd": "login", "user": "ivy", "wait_ms": 10000}, 20)
        try:
            for width, height, mobile in ((1280, 800, False), (390, 844, True)):
                fleet.set_viewport(self.driver, width, height, mobile)
                for name in PAGES:
                    self.open_page(name)
                    if name == "users":
                        self.wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#users-table")))
                    if name in ("status", "machines"):
                        self.wait.until(EC.text_to_be_present_in_element(
                            (By.CSS_SELECTOR, '[data-device="mfp-2f-east-finance-corridor"]'), "online"))
                    overflow = self.driver.execute_script(
                        "return document.documentElement.scrollWidth - window.innerWidth")
                    self.assertLessEqual(overflow, 0, f"{name} at {width}px overflows by {overflow}px")
                    heading = self.driver.find_element(By.CSS_SELECTOR, ".page-head h1")
                    self.assertTrue(heading.is_displayed())
                    self.assertGreaterEqual(heading.size["width"], 40)
                    # docs/admin-status.png is the 1280 px status page from here.
                    path = os.path.join(fleet.OUT_DIR, f"admin-{name}-{width}.png")
                    self.driver.save_screenshot(path)
                    self.assertGreater(os.path.getsize(path), 10000)
        finally:
            fleet.set_viewport(self.driver, 1280, 800)


class PlainHttpOnlyOnLoopback(unittest.TestCase):
    def test_plain_http_on_an_outside_address_is_refused_at_start(self):
        with tempfile.TemporaryDirectory(prefix="pdsync-browser-") as tmp:
            hash_file = os.path.join(tmp, "hash")
            with open(hash_file, "w") as f:
                f.write(fleet.hash_password("pw") + "\n")
            os.chmod(hash_file, 0o600)
            out = subprocess.run([fleet.SERVER_BIN, "--broker", "mqtt://127.0.0.1:1", "--store",
                                  os.path.join(tmp, "s.db"), "--admin-socket", os.path.join(tmp, "s.sock"),
                                  "--web-listen", f"0.0.0.0:{fleet.free_port()}",
                                  "--web-admin-password-hash-file", hash_file],
                                 capture_output=True, timeout=60)
            self.assertEqual(out.returncode, 2, out.stderr.decode()[-2000:])
            self.assertIn("not a loopback address", (out.stdout + out.stderr).decode())


if __name__ == "__main__":
    unittest.main(verbosity=2)
