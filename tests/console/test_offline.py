"""The page needs nothing but its own server: every request a fresh
profile makes while using it is same-origin, with the network cut off from
any other host; first paint needs no API answer; usable at 360 px."""

from selenium.webdriver.common.by import By

from conftest import network_events, new_conversation, open_console, register, start_browser, wait


def test_the_page_requests_nothing_from_another_origin(request, tmp_path, server):
    browser = start_browser(request, tmp_path, offline=True)
    # What the browser's own start-up page loaded is not the console's.
    browser.get("about:blank")
    network_events(browser)
    open_console(browser, server)
    register(browser, server)
    new_conversation(browser)
    box = browser.find_element(By.ID, "input")
    box.send_keys("offline works\n")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#messages li[data-role=assistant][data-status=complete]"))
    for view in ("nav-documents", "nav-usage", "nav-chat"):
        browser.find_element(By.ID, view).click()
    wait(browser, lambda d: "tokens used" in d.execute_script("return document.getElementById('usage').textContent"))
    events = network_events(browser)
    urls = [e["params"]["request"]["url"] for e in events if e["method"] == "Network.requestWillBeSent"]
    urls += [e["params"]["url"] for e in events if e["method"] == "Network.webSocketCreated"]
    assert len(urls) >= 5, urls
    origin = server.url.split("//", 1)[1]
    foreign = [u for u in urls if not u.startswith("data:") and u.split("//", 1)[1].split("/", 1)[0] != origin]
    assert foreign == [], foreign
    failed = [e for e in events if e["method"] == "Network.loadingFailed" and not e["params"].get("canceled")]
    assert failed == [], failed
    # No policy violation either (an inline script or a foreign load would log one).
    logs = [e["message"] for e in browser.get_log("browser") if "Content Security Policy" in e["message"]]
    assert logs == [], logs


def test_the_sign_in_screen_paints_without_any_api_answer(request, tmp_path, server):
    browser = start_browser(request, tmp_path)
    # Every API call hangs: the page must still show its forms.
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/api/*"]})
    browser.get(server.url + "/")
    wait(browser, lambda d: d.find_element(By.ID, "login-form").is_displayed())
    assert browser.find_element(By.ID, "register-form").is_displayed()


def test_the_console_is_usable_at_360_px(request, tmp_path, server):
    browser = start_browser(request, tmp_path, width=360, height=780)
    open_console(browser, server)
    register(browser, server)
    new_conversation(browser)
    browser.find_element(By.ID, "input").send_keys("narrow screen\n")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#messages li[data-role=assistant][data-status=complete]"))
    width = browser.execute_script("return window.innerWidth")
    scroll = browser.execute_script("return document.documentElement.scrollWidth")
    assert scroll <= width, f"the page scrolls sideways: {scroll} > {width}"
    for el in ("send", "input", "new-conversation"):
        rect = browser.find_element(By.ID, el).rect
        assert rect["x"] >= 0 and rect["x"] + rect["width"] <= width, (el, rect)
