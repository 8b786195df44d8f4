"""Drive the running UI in headless chromium (selenium): shared by the browser test and bench/bench_ui.py.

Nothing here downloads a browser: chromium and chromedriver come from apt.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--window-size=1400,1000", "--disable-dev-shm-usage"]


def browser_missing() -> str | None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        return f"needs {' and '.join(missing)} (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "needs selenium (pip install 'l2v-search[dev]')"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_ui(db: Path, port: int, log: Path, root: Path | None = None) -> subprocess.Popen:
    """``l2v ui DB --port PORT [--root ROOT]`` in its own process group; waits for Streamlit's health check."""
    return start_l2v(["ui", str(db), "--port", str(port), *(["--root", str(root)] if root else [])], port, log)


def start_l2v(args: list[str], port: int, log: Path, timeout: float = 60) -> subprocess.Popen:
    """``l2v ARGS`` (a command that ends by serving the UI on ``port``) in its own process group;
    returns once Streamlit's health check answers 200, or raises with the command's log."""
    out = open(log, "wb")
    proc = subprocess.Popen([sys.executable, "-c", "from search_ui.l2v import main; main()", *args],
                            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"})
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"l2v {args[0]} exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    stop_ui(proc)
    raise RuntimeError(f"l2v {args[0]} did not answer on port {port} within {timeout:g} s: {log.read_text()[-2000:]}")


def stop_ui(proc: subprocess.Popen) -> None:
    """SIGTERM to `l2v ui`, which forwards it to streamlit; the group is killed if anything lingers."""
    import signal

    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def make_driver(profile: str | None = None):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile or tempfile.mkdtemp(prefix='l2v-chromium-')}")
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


WATCH = """
const want = arguments[0];
window.__l2v = {t0: null, t1: null};
document.addEventListener('keydown', e => {
  if (e.key === 'Enter' && window.__l2v.t0 === null) window.__l2v.t0 = performance.now(); }, {capture: true});
const done = () => [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
                     .some(c => c.innerText.includes(want))
                   && document.querySelectorAll('.l2v-hit').length > 0;
const obs = new MutationObserver(() => { if (window.__l2v.t0 !== null && window.__l2v.t1 === null && done()) {
  window.__l2v.t1 = performance.now(); obs.disconnect(); } });
obs.observe(document.body, {subtree: true, childList: true, characterData: true});
"""


def search(driver, query: str, timeout: float = 60.0) -> float:
    """Type ``query`` into the Search page, press Enter; ms from the keypress to hits rendered (browser clock)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    marker = f"for “{query}” in"
    box = WebDriverWait(driver, timeout, poll_frequency=0.05).until(
        lambda d: d.find_element(By.CSS_SELECTOR, 'input[aria-label="Query"]'))
    driver.execute_script(WATCH, marker)
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(query + Keys.ENTER)
    WebDriverWait(driver, timeout, poll_frequency=0.02).until(
        lambda d: d.execute_script("return window.__l2v.t1 !== null"))
    return float(driver.execute_script("return window.__l2v.t1 - window.__l2v.t0"))


def server_ms(driver, query: str) -> float:
    """The server-side time the Search page prints under its hits ("... for “q” in N ms")."""
    import re

    body = driver.find_element("tag name", "body").text
    match = re.search(re.escape(f"for “{query}” in ") + r"(\d+) ms", body)
    return float(match.group(1)) if match else float("nan")


def wait_for(driver, condition, what: str, timeout: float = 60.0):
    """``condition(driver)`` once truthy; else an AssertionError naming ``what`` with the page's last text.

    A bare selenium TimeoutException says nothing; the page text tells a CI log whether the app was still
    computing, showed an error, or rendered something other than expected.
    """
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.1,
                             ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(condition)
    except TimeoutException:
        body = driver.find_element("tag name", "body").text
        raise AssertionError(f"after {timeout:.0f} s still waiting for {what}; the page shows: ...{body[-1500:]!r}") from None


def wait_text(driver, text: str, timeout: float = 60.0) -> None:
    wait_for(driver, lambda d: text in d.find_element("tag name", "body").text, repr(text), timeout)


def navigate(driver, label: str) -> None:
    """Click a page in the sidebar navigation (a radio)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 30).until(lambda d: d.find_element(
        By.XPATH, f"//label[@data-testid='stRadioOption'][.//p[normalize-space()='{label}']]")).click()


def open_page(driver, port: int, page: str, ready_text: str, timeout: float = 60.0) -> None:
    driver.get(f"http://127.0.0.1:{port}/?page={page}")
    wait_text(driver, ready_text, timeout)
