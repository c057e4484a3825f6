"""Scenario 6 of issue 14: the admin page is for admin roles only."""

import pytest
from selenium.webdriver.common.by import By

from conftest import PASSWORD, http, login, open_console, register, wait


def test_a_plain_user_sees_no_admin_page(browser, server):
    open_console(browser, server)
    register(browser, server)
    assert not browser.find_element(By.ID, "nav-admin").is_displayed()
    # Even asked for by hand, the page stays on the chat view.
    browser.execute_script("document.getElementById('nav-admin').click()")
    assert not browser.find_element(By.ID, "admin-view").is_displayed()
    assert browser.find_element(By.ID, "chat-view").is_displayed()


def admin_page(browser, server):
    open_console(browser, server)
    login(browser, "root@example.com", PASSWORD)
    nav = browser.find_element(By.ID, "nav-admin")
    assert nav.is_displayed()
    nav.click()
    wait(browser, lambda d: d.find_element(By.ID, "admin-view").is_displayed())


def test_an_admin_sees_the_users_and_changes_an_allowance(browser, server):
    target = server.account("limited")
    admin_page(browser, server)
    row = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, f'#users tr[data-id="{target["user"]["id"]}"]'))
    allowance = row.find_element(By.CSS_SELECTOR, "input[type=number]")
    allowance.clear()
    allowance.send_keys("1234")
    row.find_element(By.XPATH, ".//button[text()='Save']").click()
    wait(browser, lambda d: "saved" in d.find_element(By.ID, "status").text)
    _, user = http("GET", f"{server.api}/admin/users/{target['user']['id']}", None, server.admin["access_token"])
    assert user["monthly_token_allowance"] == 1234
    row.find_element(By.XPATH, ".//button[text()='Deactivate']").click()
    wait(browser, lambda d: http("GET", f"{server.api}/admin/users/{target['user']['id']}", None,
                                 server.admin["access_token"])[1]["is_active"] is False)


def test_an_admin_sees_the_dashboard_stats(browser, server):
    status, _ = http("GET", f"{server.api}/admin/dashboard/stats", None, server.admin["access_token"])
    if status == 404:
        pytest.xfail("GET /admin/dashboard/stats comes with issue 13; this test runs once it is merged")
    admin_page(browser, server)
    stats = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#stats .stat"))
    headings = [h.text.lower() for h in browser.find_elements(By.CSS_SELECTOR, "#stats .stat h3")]
    for part in ("users", "jobs", "conversations", "connections"):
        assert part in headings, headings
    assert stats.find_element(By.TAG_NAME, "dd").text.isdigit()


def audit(server, action):
    _, page = http("GET", f"{server.api}/admin/audit-logs?action={action}&limit=100", None,
                   server.admin["access_token"])
    return page["items"]


def test_an_admin_views_the_console_as_a_user_under_a_banner_and_stops(browser, server):
    ada = server.account("ada")
    token = ada["access_token"]
    status, mine = http("POST", f"{server.api}/conversations", {"title": "Ada's own chat"}, token)
    assert status == 201, mine
    admin_page(browser, server)
    assert not browser.find_element(By.ID, "impersonation").is_displayed()
    row = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, f'#users tr[data-id="{ada["user"]["id"]}"]'))
    view_as = row.find_element(By.XPATH, ".//button[text()='View as']")
    view_as.click()
    wait(browser, lambda d: "reason" in d.find_element(By.ID, "status").text, what="a reason is asked for")
    browser.find_element(By.ID, "impersonate-reason").send_keys("ticket 42: cannot see her chats")
    view_as.click()

    banner = wait(browser, lambda d: d.find_element(By.ID, "impersonation"))
    wait(browser, lambda d: banner.is_displayed(), what="the impersonation banner")
    assert "root" in banner.text and "ada" in banner.text, banner.text
    wait(browser, lambda d: d.find_element(By.ID, "whoami").text == "ada")
    assert not browser.find_element(By.ID, "nav-admin").is_displayed(), "ada has no admin page"
    wait(browser, lambda d: "Ada's own chat" in d.find_element(By.ID, "conversation-list").text,
         what="ada's conversations")
    started = audit(server, "impersonation.started")
    assert [r["resource_id"] for r in started] == [ada["user"]["id"]], started
    # Requests made in the view are audited with both ids.
    requests = wait(browser, lambda d: audit(server, "impersonation.request"), what="audited requests")
    assert all(r["details"]["impersonated_user_id"] == ada["user"]["id"] for r in requests), requests

    browser.find_element(By.ID, "impersonation-stop").click()
    wait(browser, lambda d: not d.find_element(By.ID, "impersonation").is_displayed(), what="the banner goes")
    wait(browser, lambda d: d.find_element(By.ID, "whoami").text == "root")
    assert browser.find_element(By.ID, "nav-admin").is_displayed()
    wait(browser, lambda d: "Ada's own chat" not in d.find_element(By.ID, "conversation-list").text)
    assert len(audit(server, "impersonation.stopped")) == 1
