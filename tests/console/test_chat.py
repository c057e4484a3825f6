"""Scenarios 1-4 of issue 14: streamed answers over the socket and over
SSE, Stop, and a reload in the middle of an answer; and model output that
looks like HTML stays text."""

import os
import threading

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from conftest import (
    http, last_answer, login, network_events, new_conversation, open_console, ready, record_lengths,
    recorded_lengths, register, wait,
)

WORDS = " ".join(f"word{i}" for i in range(60))


def send(driver, text, enter=True):
    box = driver.find_element(By.ID, "input")
    box.send_keys(text)
    if enter:
        box.send_keys(Keys.ENTER)
    else:
        driver.find_element(By.ID, "send").click()


def answer_status(driver):
    el = last_answer(driver)
    return el.get_attribute("data-status") if el else None


def answer_text(driver):
    el = last_answer(driver)
    return el.find_element(By.CSS_SELECTOR, ".body").text if el else ""


def messages(driver):
    return [(li.get_attribute("data-role"), li.find_element(By.CSS_SELECTOR, ".body").text)
            for li in driver.find_elements(By.CSS_SELECTOR, "#messages li.message")]


def chat_and_reload(driver, server, query):
    open_console(driver, server, query)
    register(driver, server)
    conv = new_conversation(driver)
    record_lengths(driver)
    send(driver, WORDS)
    wait(driver, lambda d: answer_status(d) == "complete", what="the answer completes")
    assert answer_text(driver) == WORDS
    lengths = recorded_lengths(driver)
    intermediate = {n for n in lengths if 0 < n < len(WORDS)}
    assert len(intermediate) >= 3, f"the answer did not stream: lengths seen {lengths}"
    assert driver.find_element(By.ID, "input").is_enabled()
    driver.refresh()
    ready(driver)
    wait(driver, lambda d: len(messages(d)) == 2, what="both messages after the reload")
    assert messages(driver) == [("user", WORDS), ("assistant", WORDS)]
    current = driver.find_element(By.CSS_SELECTOR, f'#conversation-list li[data-id="{conv}"] button')
    assert current.get_attribute("aria-current") == "true"
    return network_events(driver)


def sockets(events):
    return [e for e in events if e["method"] == "Network.webSocketCreated"]


def test_a_streamed_answer_over_the_socket_survives_a_reload(browser, server):
    events = chat_and_reload(browser, server, "")
    assert sockets(events), "the page opened no WebSocket"
    # The chat went over the socket: no chat POST was made.
    posts = [e for e in events if e["method"] == "Network.requestWillBeSent"
             and e["params"]["request"]["url"].endswith("/chat")]
    assert posts == []
    if os.environ.get("CONSOLE_SCREENSHOT"):
        browser.save_screenshot(os.environ["CONSOLE_SCREENSHOT"])


def test_a_streamed_answer_over_sse_survives_a_reload(browser, server):
    events = chat_and_reload(browser, server, "?transport=sse")
    assert sockets(events) == [], "?transport=sse opened a WebSocket"
    posts = [e for e in events if e["method"] == "Network.requestWillBeSent"
             and e["params"]["request"]["url"].endswith("/chat")]
    assert len(posts) == 1


def slow_answer(driver, server, text, query=""):
    open_console(driver, server, query)
    register(driver, server)
    new_conversation(driver)
    driver.find_element(By.CSS_SELECTOR, "#provider option[value=slow]").click()
    send(driver, text, enter=False)
    wait(driver, lambda d: len(answer_text(d).split()) >= 3, what="the slow answer starts")


def test_stop_cancels_a_slow_answer_and_the_input_is_usable_again(browser, server):
    text = " ".join(f"slow{i}" for i in range(40))
    slow_answer(browser, server, text)
    stop = browser.find_element(By.ID, "stop")
    assert stop.is_displayed() and not browser.find_element(By.ID, "send").is_enabled()
    stop.click()
    wait(browser, lambda d: answer_status(d) == "cancelled", what="the answer is marked cancelled")
    partial = answer_text(browser)
    assert 0 < len(partial.split()) < 40
    assert last_answer(browser).find_element(By.CSS_SELECTOR, ".badge").text == "cancelled"
    assert not stop.is_displayed()
    wait(browser, lambda d: d.find_element(By.ID, "send").is_enabled())
    # Usable again: the next message is answered (by the fast echo model).
    browser.find_element(By.CSS_SELECTOR, "#provider option[value=echo]").click()
    send(browser, "after the stop")
    wait(browser, lambda d: answer_status(d) == "complete" and answer_text(d) == "after the stop")
    browser.refresh()
    ready(browser)
    wait(browser, lambda d: len(messages(d)) == 4)
    assert browser.find_elements(By.CSS_SELECTOR, "#messages li[data-status=cancelled]")


def test_escape_stops_the_answer(browser, server):
    slow_answer(browser, server, " ".join(f"esc{i}" for i in range(40)), "?transport=sse")
    browser.find_element(By.ID, "input").send_keys(Keys.ESCAPE)
    wait(browser, lambda d: answer_status(d) == "cancelled", what="Escape cancelled the answer")


def test_a_reload_mid_answer_shows_the_answer_so_far_and_streams_to_the_end(browser, server):
    text = " ".join(f"resume{i}" for i in range(80))
    slow_answer(browser, server, text)
    before = answer_text(browser)
    browser.refresh()
    ready(browser)
    wait(browser, lambda d: answer_status(d) == "streaming", what="the running answer after the reload")
    shown = answer_text(browser)
    assert shown.startswith(before.strip()), (before, shown)
    assert len(shown.split()) < 80, "the answer should still be running"
    wait(browser, lambda d: answer_status(d) == "complete", timeout=60, what="the answer completes after the reload")
    assert answer_text(browser) == text
    assert [r for r, _ in messages(browser)] == ["user", "assistant"]


def test_html_in_an_answer_is_shown_as_text(browser, server):
    open_console(browser, server)
    register(browser, server)
    new_conversation(browser)
    attack = '<img src=x onerror="document.body.dataset.pwned=1"> <b>bold</b>'
    send(browser, attack)
    wait(browser, lambda d: answer_status(d) == "complete")
    assert answer_text(browser) == attack
    assert browser.find_elements(By.CSS_SELECTOR, "#messages img, #messages b") == []
    assert browser.execute_script("return document.body.dataset.pwned") is None


def signed_in_as(driver, server, name):
    """A user made over HTTP, logged in through the page's form: answers its tokens."""
    tokens = server.account(name)
    open_console(driver, server)
    login(driver, f"{name}@example.com")
    return tokens


def test_a_busy_conversation_is_a_readable_message(browser, server):
    tokens = signed_in_as(browser, server, "busybody")
    conv = new_conversation(browser)
    # Another client starts a slow answer the page does not know about.
    other = threading.Thread(target=http, daemon=True, args=(
        "POST", f"{server.api}/conversations/{conv}/chat",
        {"content": " ".join(["elsewhere"] * 40), "provider": "slow", "stream": False},
        tokens["access_token"]))
    other.start()
    wait(browser, lambda d: http("GET", f"{server.api}/conversations/{conv}/messages", None,
                                 tokens["access_token"])[1]["total"] == 1, what="the other chat started")
    send(browser, "me too")
    wait(browser, lambda d: "still answering" in d.find_element(By.ID, "status").text,
         what="CONVERSATION_BUSY shown as a sentence")
    assert browser.find_element(By.ID, "send").is_enabled()
    http("POST", f"{server.api}/conversations/{conv}/cancel", {}, tokens["access_token"])
    other.join(30)


def test_an_exhausted_allowance_is_a_readable_message(browser, server):
    tokens = signed_in_as(browser, server, "spent")
    me = tokens["user"]["id"]
    status, _ = http("PATCH", f"{server.api}/admin/users/{me}", {"monthly_token_allowance": 0},
                     server.admin["access_token"])
    assert status == 200
    new_conversation(browser)
    send(browser, "anything")
    wait(browser, lambda d: "allowance" in d.find_element(By.ID, "status").text,
         what="QUOTA_EXCEEDED shown as a sentence")
    assert browser.find_element(By.ID, "send").is_enabled()
