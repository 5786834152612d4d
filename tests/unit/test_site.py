"""The static traceability site in a real browser (Debian's chromium, headless)."""

from __future__ import annotations


MODEL = "TINY-MODEL-v0.1.0"


def console_errors(driver):
    return [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def test_site_navigation_search_and_matrix_filter(trained_ws, cli, tmp_path, browser):
    from selenium.webdriver.common.by import By

    req = trained_ws / "requirements/R.yaml"
    req.write_text(req.read_text().replace("title: Tiny shapes data", "title: '<script>alert(1)</script> shapes'"))
    out = tmp_path / "site"
    code, stdout, err = cli("site", "-o", out, "-w", trained_ws)
    assert code == 0, err
    browser.get((out / "index.html").as_uri())
    assert "Traceability overview" in browser.find_element(By.TAG_NAME, "h1").text
    # requirement -> model -> back to the requirement
    browser.find_element(By.LINK_TEXT, "REQ-PERF").click()
    assert browser.find_element(By.ID, "item-id").text == "REQ-PERF"
    browser.find_element(By.CSS_SELECTOR, "#downstream").find_element(By.LINK_TEXT, MODEL).click()
    assert browser.find_element(By.ID, "item-id").text == MODEL
    assert browser.find_elements(By.CSS_SELECTOR, "svg.chart")  # training curves
    browser.find_element(By.CSS_SELECTOR, "#upstream").find_element(By.LINK_TEXT, "REQ-PERF").click()
    assert browser.find_element(By.ID, "item-id").text == "REQ-PERF"
    # search from any page
    box = browser.find_element(By.ID, "search")
    box.send_keys("tiny-data")
    results = browser.find_element(By.ID, "search-results")
    assert results.is_displayed() and "TINY-DATA-v1" in results.text
    results.find_element(By.PARTIAL_LINK_TEXT, "TINY-DATA-v1").click()
    assert browser.find_element(By.ID, "item-id").text == "TINY-DATA-v1"
    # the workspace's script-looking title is text, never run
    browser.get((out / "items" / "REQ-DATA.html").as_uri())
    assert "<script>alert(1)</script>" in browser.find_element(By.CLASS_NAME, "subtitle").text
    # matrix filter
    browser.get((out / "matrix.html").as_uri())
    rows = browser.find_elements(By.CSS_SELECTOR, "#matrix tbody tr")
    assert len(rows) == 2
    browser.find_element(By.ID, "matrix-filter").send_keys("perf")
    visible = [r for r in rows if r.is_displayed()]
    assert len(visible) == 1 and "REQ-PERF" in visible[0].text
    assert "1 of 2" in browser.find_element(By.ID, "matrix-count").text
    assert console_errors(browser) == []


def test_site_sets_a_restrictive_csp_and_bundles_everything(trained_ws, cli, tmp_path):
    out = tmp_path / "site"
    cli("site", "-o", out, "-w", trained_ws)
    for page in [out / "index.html", out / "matrix.html", out / "runs.html", *(out / "items").iterdir()]:
        html = page.read_text()
        assert "Content-Security-Policy" in html and "default-src 'none'" in html
        assert "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "https://" not in html
