"""The web console in a real headless Chromium (Debian's `chromium` and
`chromium-driver`), against a real chorus server (the binary in CHORUS_BIN)
with the echo provider and a slow echo provider named `slow`.

One server per test module; a fresh browser profile per test. A failing
test leaves a screenshot in its temp dir (the path is printed)."""

import json
import os
import shutil
import sys
import urllib.request
import uuid

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from chorus_process import ChorusProcess  # noqa: E402

# Never let selenium-manager look for (or download) a driver or a browser.
os.environ["SE_OFFLINE"] = "true"

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
PASSWORD = "console-password"


def http(method, url, body=None, token=None):
    req = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(), method=method)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


class Server:
    def __init__(self, url):
        self.url = url
        self.api = f"{url}/api/v1"

    def account(self, name):
        """Registers `name` over HTTP and answers its login."""
        email = f"{name}@example.com"
        status, _ = http("POST", f"{self.api}/auth/register", {"username": name, "email": email, "password": PASSWORD})
        assert status in (201, 409), status
        status, login = http("POST", f"{self.api}/auth/login", {"email": email, "password": PASSWORD})
        assert status == 200
        return login


@pytest.fixture(scope="module")
def server():
    # A server already running (a developer's, whose first account is `root`).
    if os.environ.get("CONSOLE_SERVER_URL"):
        server = Server(os.environ["CONSOLE_SERVER_URL"])
        server.admin = server.account("root")
        yield server
        return
    chorus = ChorusProcess({
        "CHORUS__CHAT__DEFAULT_PROVIDER": "echo",
        "CHORUS__PROVIDERS__SLOW__KIND": "echo",
        "CHORUS__PROVIDERS__SLOW__TOKENS_PER_S": "5",
    }, prefix="chorus-console-")
    server = Server(chorus.url)
    # The first account is the superadmin; every later one a plain user.
    server.admin = server.account("root")
    yield server
    chorus.stop()
    shutil.rmtree(chorus.data_dir, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


def chromium_options(width=1280, height=900, offline=False):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-default-apps"):
        options.add_argument(arg)
    if offline:
        # Every host but the server's resolves to nothing: the network is cut off.
        options.add_argument("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    return options


def start_browser(request, tmp_path, **kw):
    profile = tmp_path / "profile"
    options = chromium_options(**kw)
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_script_timeout(30)

    def finish():
        failed = any(getattr(getattr(request.node, f"report_{w}", None), "failed", False) for w in ("setup", "call"))
        if failed:
            shot = tmp_path / "failure.png"
            driver.save_screenshot(str(shot))
            print(f"\nscreenshot of the failure: {shot}")
            for entry in driver.get_log("browser"):
                print("console:", entry.get("message"))
        driver.quit()

    request.addfinalizer(finish)
    return driver


@pytest.fixture
def browser(request, tmp_path):
    return start_browser(request, tmp_path)


def wait(driver, condition, timeout=20, what="condition"):
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda d: condition(d), message=what)


def ready(driver):
    wait(driver, lambda d: d.execute_script("return document.body.dataset.ready === 'true'"), what="the page is ready")


def open_console(driver, server, query=""):
    driver.get(f"{server.url}/{query}")
    ready(driver)


def register(driver, server, name=None):
    """Registers through the page's form (which then logs in); answers the username."""
    name = name or f"u{uuid.uuid4().hex[:10]}"
    driver.find_element(By.ID, "register-username").send_keys(name)
    driver.find_element(By.ID, "register-email").send_keys(f"{name}@example.com")
    driver.find_element(By.ID, "register-password").send_keys(PASSWORD)
    driver.find_element(By.ID, "register").click()
    wait(driver, lambda d: d.find_element(By.ID, "chat-view").is_displayed(), what="the chat view after register")
    wait(driver, lambda d: d.find_element(By.ID, "whoami").text == name)
    return name


def login(driver, email, password=PASSWORD):
    driver.find_element(By.ID, "login-email").send_keys(email)
    driver.find_element(By.ID, "login-password").send_keys(password)
    driver.find_element(By.ID, "login").click()
    wait(driver, lambda d: d.find_element(By.ID, "chat-view").is_displayed(), what="the chat view after login")


def new_conversation(driver):
    before = len(driver.find_elements(By.CSS_SELECTOR, "#conversation-list li"))
    driver.find_element(By.ID, "new-conversation").click()
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#conversation-list li")) == before + 1)
    wait(driver, lambda d: d.find_element(By.ID, "chat-pane").is_displayed())
    return driver.execute_script("return new URLSearchParams(location.hash.slice(1)).get('c')")


def network_events(driver):
    """Every DevTools network event the page caused so far."""
    events = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"].startswith("Network."):
            events.append(msg)
    return events


LAST_ANSWER = "const m = document.querySelectorAll('#messages li[data-role=assistant]'); return m.length ? m[m.length - 1] : null;"


def last_answer(driver):
    return driver.execute_script(LAST_ANSWER)


def record_lengths(driver):
    """From now on, records each distinct length of the last answer's text."""
    driver.execute_script("""
        window.__lengths = [];
        new MutationObserver(() => {
          const m = document.querySelectorAll('#messages li[data-role=assistant]');
          if (!m.length) return;
          const n = m[m.length - 1].querySelector('.body').textContent.length;
          if (window.__lengths[window.__lengths.length - 1] !== n) window.__lengths.push(n);
        }).observe(document.getElementById('messages'), {subtree: true, childList: true, characterData: true});
    """)


def recorded_lengths(driver):
    return driver.execute_script("return window.__lengths")
