"""End to end in a real headless chromium: `l2v ui` on a free port, search, Compare, Clusters, screenshots.

Screenshots land in test-artifacts/ui/ (gitignored) for CI to keep. Skips when chromium,
chromedriver or selenium are missing (apt-get install chromium chromium-driver).
"""
from __future__ import annotations

import re
import tempfile
import urllib.request
from pathlib import Path

import pytest

from search_ui import testing as ui
from search_ui.highlight import SEMANTIC_BUDGET
from ui_helpers import ui_db  # noqa: F401

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "ui"


@pytest.fixture(scope="module")
def server(ui_db, tmp_path_factory):
    reason = ui.browser_missing()
    if reason:
        pytest.skip(f"browser test {reason}")
    port = ui.free_port()
    proc = ui.start_ui(ui_db, port, tmp_path_factory.mktemp("ui-log") / "l2v-ui.log")
    try:
        yield port
    finally:
        ui.stop_ui(proc)
    assert proc.returncode is not None
    with pytest.raises(OSError):    # `l2v ui` forwarded the SIGTERM: the streamlit child is gone too
        urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)


@pytest.fixture(scope="module")
def driver(server):
    d = ui.make_driver(tempfile.mkdtemp(prefix="l2v-chromium-"))
    try:
        yield d
    finally:
        d.quit()


def test_search_compare_clusters_in_a_browser(server, driver):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    ui.open_page(driver, server, "search", "Type a query")
    assert "127.0.0.1" in driver.current_url
    ms = ui.search(driver, "walrus operator")
    assert 0 < ms < 60000
    ui.wait_for(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".l2v-hit")) >= 7, "the 7 hits")
    cards = driver.find_elements(By.CSS_SELECTOR, ".l2v-hit")
    assert len(cards) == 7                              # by document: each of the corpus' 7 documents once
    # every hit sharing a query word is highlighted for free; the encoder picks a passage in up to
    # SEMANTIC_BUDGET // 2 of the others (all 7 on the PEP corpus, 1 + 3 on the generated one)
    texts = [c.find_element(By.CSS_SELECTOR, ".l2v-text").text for c in cards]
    lexical = sum(bool(re.search(r"\b(walrus|operator)\b", t, re.IGNORECASE)) for t in texts)
    expected = min(len(cards), lexical + SEMANTIC_BUDGET // 2)
    ui.wait_for(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".l2v-hit mark.l2v-passage")) >= expected,
                f"highlighted passages in {expected} of the 7 hits ({lexical} sharing a query word)")
    assert len(driver.find_elements(By.CSS_SELECTOR, ".l2v-hit mark.l2v-passage")) == expected
    first = driver.find_element(By.CSS_SELECTOR, ".l2v-hit .l2v-text")
    mark = first.find_element(By.CSS_SELECTOR, "mark.l2v-passage")
    assert mark.location["y"] - first.location["y"] < first.size["height"]   # the match is visible in its card
    assert "q=walrus" in driver.current_url                                   # the search is a link
    driver.save_screenshot(str(ARTIFACTS / "search.png"))
    ui.search(driver, "generators")
    assert "q=generators" in driver.current_url
    driver.back()                                                             # Back returns to the last search
    ui.wait_text(driver, "for “walrus operator” in")
    assert "q=walrus" in driver.current_url

    ui.navigate(driver, "Compare")   # the sidebar navigation
    ui.wait_text(driver, "Type a query and press Enter to see")

    box = ui.wait_for(driver, lambda d: d.find_element(By.CSS_SELECTOR, 'input[aria-label="Query for all encoders"]'),
                      "the Compare query box", timeout=30)
    box.send_keys("walrus operator" + Keys.ENTER)
    ui.wait_for(driver, lambda d: d.find_element(By.TAG_NAME, "body").text.count(" ms · 10 hits") == 2,
                "both Compare columns' '... ms · 10 hits' captions", timeout=120)
    ui.wait_text(driver, "Agreement")
    assert "page=compare" in driver.current_url
    # Streamlit streams the two columns' cards in after their headers: wait for them rather than
    # counting at one instant (CI once counted 19 of 20 mid-render).
    ui.wait_for(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".l2v-hit")) >= 20, "20 Compare cards")
    assert len(driver.find_elements(By.CSS_SELECTOR, ".l2v-hit")) == 20
    driver.save_screenshot(str(ARTIFACTS / "compare.png"))

    ui.navigate(driver, "Clusters")
    ui.wait_text(driver, "chunks in 8 clusters")
    ui.wait_text(driver, "Most distinctive terms")
    ui.wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".vega-embed canvas, .vega-embed svg"),
                "the cluster map", timeout=30)
    driver.save_screenshot(str(ARTIFACTS / "clusters.png"))

    ui.navigate(driver, "Index")
    ui.wait_text(driver, "Skipped files (1)")
    ui.wait_text(driver, "Documents")
    driver.save_screenshot(str(ARTIFACTS / "index.png"))
    for name in ("search", "compare", "clusters", "index"):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000
