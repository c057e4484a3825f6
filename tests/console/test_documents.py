"""Scenario 5 of issue 14: upload a markdown file, watch its ingestion
job's progress bar reach done, find a word from it; attach it to a
conversation."""

from selenium.webdriver.common.by import By

from conftest import new_conversation, open_console, register, wait


def test_an_uploaded_markdown_file_is_ingested_and_found(browser, server, tmp_path):
    open_console(browser, server)
    register(browser, server)
    new_conversation(browser)
    # Large enough for several chunks, so ingestion reports progress.
    paragraphs = [f"Paragraph {i} talks about the harbour of Zanzibarquux and its ships." * 8 for i in range(40)]
    doc = tmp_path / "harbour-notes.md"
    doc.write_text("# Harbour notes\n\n" + "\n\n".join(paragraphs), encoding="utf-8")
    browser.find_element(By.ID, "nav-documents").click()
    browser.execute_script("""
        window.__progress = [];
        new MutationObserver(() => {
          const bar = document.querySelector('#uploads progress');
          if (bar && window.__progress[window.__progress.length - 1] !== bar.value) window.__progress.push(bar.value);
        }).observe(document.getElementById('uploads'), {subtree: true, childList: true, attributes: true});
    """)
    browser.find_element(By.ID, "upload-file").send_keys(str(doc))
    browser.find_element(By.ID, "upload").click()
    row = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#uploads li"))
    wait(browser, lambda d: row.get_attribute("data-status") == "completed", timeout=60, what="the ingestion job completes")
    bar = row.find_element(By.TAG_NAME, "progress")
    assert float(bar.get_attribute("value")) == 100
    assert row.find_element(By.CSS_SELECTOR, ".job-status").text == "completed"
    assert browser.execute_script("return window.__progress").count(100) >= 1
    # The document list shows it ready; ticking it attaches it to the conversation.
    item = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#doc-list li[data-status=ready]"))
    box = item.find_element(By.CSS_SELECTOR, "input[type=checkbox]")
    box.click()
    wait(browser, lambda d: "document(s) used" in d.find_element(By.ID, "status").text)
    browser.find_element(By.ID, "doc-search").send_keys("zanzibarquux")
    browser.find_element(By.CSS_SELECTOR, "#doc-search-form button").click()
    hit = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#doc-results li[data-document-id]"))
    assert "Zanzibarquux" in hit.text
    # Reopened, the page shows the attachment (it was saved on the conversation).
    browser.refresh()
    wait(browser, lambda d: d.execute_script("return document.body.dataset.ready === 'true'"))
    browser.find_element(By.ID, "nav-documents").click()
    box = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#doc-list li input[type=checkbox]"))
    wait(browser, lambda d: box.is_selected(), what="the attachment survives a reload")
