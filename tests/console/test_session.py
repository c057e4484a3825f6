"""Sessions in the page: the access token is refreshed before it expires
(here it lives 4 s), so the page keeps working long past its first token;
logging out ends the session for good."""

import shutil

import pytest
from selenium.webdriver.common.by import By

from conftest import ChorusProcess, Server, new_conversation, network_events, open_console, register, wait


@pytest.fixture(scope="module")
def server():
    chorus = ChorusProcess({"CHORUS__AUTH__ACCESS_TTL_S": "4"}, prefix="chorus-console-session-")
    server = Server(chorus.url)
    server.admin = server.account("root")
    yield server
    chorus.stop()
    shutil.rmtree(chorus.data_dir, ignore_errors=True)


def refreshes(events):
    return [e for e in events if e["method"] == "Network.requestWillBeSent"
            and e["params"]["request"]["url"].endswith("/auth/refresh")]


def test_the_page_refreshes_its_session_before_the_token_expires(browser, server):
    open_console(browser, server)
    register(browser, server)
    new_conversation(browser)
    seen = []

    def three_refreshes(d):
        seen.extend(refreshes(network_events(d)))
        return len(seen) >= 3

    # Three refreshes: the first access token expired twice over meanwhile.
    wait(browser, three_refreshes, timeout=30, what="three refreshes")
    box = browser.find_element(By.ID, "input")
    box.send_keys("still signed in\n")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#messages li[data-role=assistant][data-status=complete]"))
    assert browser.find_element(By.ID, "auth-view").is_displayed() is False


def test_logging_out_ends_the_session(browser, server):
    open_console(browser, server)
    register(browser, server)
    browser.find_element(By.ID, "logout").click()
    wait(browser, lambda d: d.find_element(By.ID, "auth-view").is_displayed())
    browser.refresh()
    wait(browser, lambda d: d.execute_script("return document.body.dataset.ready === 'true'"))
    assert browser.find_element(By.ID, "auth-view").is_displayed()
    assert not browser.find_element(By.ID, "nav").is_displayed()
