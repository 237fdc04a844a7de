"""llama.cpp's own web UI, built from the pinned tree, served from the zip, driven by headless Chromium."""

import os
import shutil

import pytest

from conftest import REPO
from integration.conftest import SERVER, free_port, run_scons
from integration.test_packaging import start, stop, wait_health

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ARTIFACTS = os.path.join(REPO, "build", "test-artifacts")


@pytest.fixture(scope="session")
def chromium_and_driver():
    """Checked before anything is built, so a machine without them learns it in a second."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(path)]
    if missing:
        pytest.fail(f"the browser test needs Debian's chromium and chromium-driver; missing: {', '.join(missing)}.\n"
                    "  fix: sudo apt-get install chromium chromium-driver (./test installs them), "
                    "or skip this test: python3 -m pytest tests -m 'not slow'", pytrace=False)


@pytest.fixture(scope="module")
def packaged_with_upstream_ui(tiny_model, tmp_path_factory):
    try:
        out = run_scons(f"model={tiny_model}", "ui=upstream").stdout
        assert "ZIP  build/llama-server-one" in out
        exe = tmp_path_factory.mktemp("ui-packaged") / "llama-server-one"
        shutil.copy(SERVER, exe)
    finally:
        run_scons()
    return exe


def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--window-size=1280,900",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.mark.slow
def test_chat_in_the_embedded_upstream_ui(chromium_and_driver, packaged_with_upstream_ui, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    exe = packaged_with_upstream_ui
    import zipfile
    with zipfile.ZipFile(exe) as zf:
        ui_files = [n for n in zf.namelist() if n.startswith("ui/")]
    assert "ui/index.html" in ui_files and len(ui_files) > 20

    port = free_port()
    proc = start(exe, adjacent=f"--port {port}\n")
    driver = None
    try:
        wait_health(proc, port)
        driver = browser(tmp_path)
        driver.get(f"http://127.0.0.1:{port}/")
        wait = WebDriverWait(driver, 60)
        box = wait.until(lambda d: next((t for t in d.find_elements(By.TAG_NAME, "textarea") if t.is_displayed()),
                                        None))
        box.send_keys("Hello from the browser test")
        box.send_keys(Keys.ENTER)
        answer = wait.until(lambda d: next((m.text for m in d.find_elements(By.CSS_SELECTOR, ".chat-message-assistant")
                                            if m.text.strip()), None))
        assert answer.strip()
        assert "Hello from the browser test" in driver.page_source
    finally:
        if driver is not None:
            os.makedirs(ARTIFACTS, exist_ok=True)
            driver.save_screenshot(os.path.join(ARTIFACTS, "ui-chat.png"))
            driver.quit()
        stop(proc)
