"""Real fleet parts for the browser tests: a mosquitto on a free port, pdsync-server with its
web page, pdsync-client devices, and a headless Chromium driven by chromium-driver. Each part
is a real process started here and stopped by its PID; every wait has a deadline.

Paths come from the environment ctest sets (tests/browser/CMakeLists.txt): PDSYNC_SERVER_BIN,
PDSYNC_CLIENT_BIN, PDSYNC_MOSQUITTO_BIN, PDSYNC_CHROMEDRIVER, PDSYNC_SOURCE_DIR,
PDSYNC_BROWSER_OUT (where screenshots go).
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

SERVER_BIN = os.environ["PDSYNC_SERVER_BIN"]
CLIENT_BIN = os.environ["PDSYNC_CLIENT_BIN"]
MOSQUITTO_BIN = os.environ.get("PDSYNC_MOSQUITTO_BIN", "/usr/sbin/mosquitto")
CHROMEDRIVER = os.environ.get("PDSYNC_CHROMEDRIVER", "/usr/bin/chromedriver")
SOURCE_DIR = os.environ.get("PDSYNC_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
OUT_DIR = os.environ.get("PDSYNC_BROWSER_OUT", tempfile.gettempdir())


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout=10.0, what="a condition"):
    """Polls `predicate` until it returns a true value, or fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # a part still starting up: try again until the deadline
            last_error = e
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}" +
                         (f" (last error: {last_error})" if last_error else ""))


def port_open(port):
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def control_call(path, request, timeout=10.0):
    """One JSON-lines request on a pdsync control socket; progress lines are skipped."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall((json.dumps(request) + "\n").encode())
        buf = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                raise AssertionError(f"{path} closed without an answer to {request}")
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                answer = json.loads(line)
                if "progress" not in answer:
                    return answer


class Process:
    """A child process with its log in a file; stop() signals it by PID and waits."""

    def __init__(self, args, log_path, env=None):
        self.args = args
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})})

    def running(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.log.close()
        return self.proc.returncode

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")


class Broker:
    def __init__(self, tmp):
        self.port = free_port()
        conf = os.path.join(tmp, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write(f"user root\nlistener {self.port} 127.0.0.1\nset_tcp_nodelay true\n"
                    "max_inflight_messages 20\nmax_queued_messages 100000\n"
                    "allow_anonymous true\npersistence false\n")
        self.process = Process([MOSQUITTO_BIN, "-c", conf], os.path.join(tmp, "mosquitto.log"))
        wait_until(lambda: port_open(self.port), 10, "mosquitto to listen")

    @property
    def url(self):
        return f"mqtt://127.0.0.1:{self.port}"

    def stop(self):
        self.process.stop()


def hash_password(password):
    out = subprocess.run([SERVER_BIN, "--web-hash-password"], input=password.encode(),
                         capture_output=True, timeout=60, check=True)
    return out.stdout.decode().strip()


class Server:
    """pdsync-server with its web page on a free loopback port (plain HTTP, as tests may)."""

    def __init__(self, tmp, broker, password, extra=(), web_listen=None, name="server"):
        self.tmp = tmp
        self.socket = os.path.join(tmp, f"{name}.sock")
        self.web_port = free_port()
        self.hash_file = os.path.join(tmp, f"{name}-web-admin.hash")
        with open(self.hash_file, "w") as f:
            f.write(hash_password(password) + "\n")
        os.chmod(self.hash_file, 0o600)
        self.backup_dir = os.path.join(tmp, f"{name}-backups")
        os.makedirs(self.backup_dir, exist_ok=True)
        self.args = [SERVER_BIN, "--broker", broker.url, "--store", os.path.join(tmp, f"{name}.db"),
                     "--server-id", name, "--admin-socket", self.socket, "--log-level", "debug",
                     "--backup-dir", self.backup_dir,
                     "--web-listen", web_listen or f"127.0.0.1:{self.web_port}",
                     "--web-admin-password-hash-file", self.hash_file, *extra]
        self.process = Process(self.args, os.path.join(tmp, f"{name}.log"))
        wait_until(lambda: not self.running() or (port_open(self.web_port) and
                   self.admin({"cmd": "status"}, 1).get("ok")), 20, "pdsync-server to answer")
        if not self.running():
            raise AssertionError("pdsync-server exited: " + self.process.text()[-2000:])

    def running(self):
        return self.process.running()

    def admin(self, request, timeout=10.0):
        return control_call(self.socket, request, timeout)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.web_port}"

    def stop(self):
        return self.process.stop()


class Device:
    """pdsync-client on the test broker; stop() and start() keep its store."""

    def __init__(self, tmp, broker, device_id, extra=()):
        self.id = device_id
        self.socket = os.path.join(tmp, f"{device_id}.sock")
        self.args = [CLIENT_BIN, "--broker", broker.url, "--device-id", device_id,
                     "--store", os.path.join(tmp, f"{device_id}.db"), "--socket", self.socket,
                     "--log-level", "debug", *extra]
        self.log = os.path.join(tmp, f"{device_id}.log")
        self.process = None
        self.start()

    def start(self):
        if os.path.exists(self.socket):
            os.remove(self.socket)
        self.process = Process(self.args, self.log)
        wait_until(lambda: self.call({"cmd": "status"}, 1).get("ok") is not None, 15,
                   f"pdsync-client {self.id} to answer")

    def call(self, request, timeout=15.0):
        return control_call(self.socket, request, timeout)

    def status(self):
        return self.call({"cmd": "status"})

    def stop(self):
        if self.process:
            self.process.stop()


class Web:
    """A plain HTTP(S) client of the web page, holding the session cookie and CSRF token."""

    def __init__(self, host, port, context=None):
        self.host, self.port, self.context = host, port, context
        self.cookie = ""
        self.csrf = ""

    def request(self, method, path, body=None, headers=None, cookie=True):
        conn = (http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=30)
                if self.context else http.client.HTTPConnection(self.host, self.port, timeout=30))
        h = {"Host": f"{self.host}:{self.port}", **(headers or {})}
        if cookie and self.cookie:
            h["Cookie"] = self.cookie
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=h)
        res = conn.getresponse()
        raw = res.read()
        conn.close()
        try:
            payload = json.loads(raw) if raw else {}
        except ValueError:
            payload = {"_text": raw.decode(errors="replace")}
        return res, payload

    def login(self, password, timeout=30.0):
        """Logs in, waiting out the failed-login delay if an earlier test caused one."""
        deadline = time.monotonic() + timeout
        while True:
            res, body = self.request("POST", "/api/v1/login", {"password": password}, cookie=False)
            if res.status == 429 and time.monotonic() < deadline:
                time.sleep(min(body.get("retry_after_ms", 1000), 5000) / 1000.0)
                continue
            if res.status != 200:
                raise AssertionError(f"login failed: {res.status} {body}")
            set_cookie = res.getheader("Set-Cookie")
            self.cookie = set_cookie.split(";", 1)[0]
            self.csrf = body["csrf"]
            return set_cookie


def chromium(width=1280, height=800, extra_args=()):
    """A headless Chromium through chromium-driver, with a viewport of width x height."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--no-first-run", "--disable-extensions", "--password-store=basic",
              f"--window-size={width},{height}", *extra_args):
        opts.add_argument(a)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    set_viewport(driver, width, height)
    return driver


def set_viewport(driver, width, height, mobile=False):
    # The viewport exactly, whatever the window's frame takes (a phone is 390 x 844).
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})
