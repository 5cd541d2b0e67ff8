"""The real page in headless Chromium: upload a photo, choose a painting, submit, watch the
progress and the live image, get the result; a screenshot is saved for people to look at.

Needs Debian's ``chromium`` (``apt-get install -y chromium``) and Playwright for Python; the
test is skipped, saying which is missing, when either is absent. Playwright's own browser
downloads are never used.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from .web_helpers import LiveServer, encode, fast_config, photo  # noqa: E402

CHROMIUM = os.environ.get("IMPASTO_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
# out/ is git-ignored; CI can point this elsewhere to keep the picture as an artifact.
SCREENSHOT_DIR = Path(os.environ.get("IMPASTO_SCREENSHOTS", Path(__file__).resolve().parents[1] / "out" / "screenshots"))


# Records every progress line and live image the page shows, however briefly it shows them.
WATCH_PROGRESS = """() => {
  window.seen = {text: [], live: []};
  const text = document.getElementById("progress-text"), live = document.getElementById("live-image");
  new MutationObserver(() => window.seen.text.push(text.textContent))
    .observe(text, {childList: true, characterData: true, subtree: true});
  new MutationObserver(() => window.seen.live.push(live.src.slice(0, 40)))
    .observe(live, {attributes: true, attributeFilter: ["src"]});
}"""


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed "
                                                                "(pip install playwright)")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def server(tmp_path):
    # Enough steps to watch the painting form, on an image small enough to stay quick.
    cfg = fast_config(tmp_path / "data", quality_iterations={"fast": 10, "balanced": 3, "best": 4},
                      default_size=32, max_size=64, preview_interval=0.0, min_step_seconds=0.1)
    with LiveServer(cfg) as s:
        yield s


def test_paint_a_photo_in_the_browser(browser, server, tmp_path):
    photo_path = tmp_path / "my holiday.jpg"
    photo_path.write_bytes(encode(photo((64, 48)), "JPEG"))
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(server.url) or r.url.startswith(("data:", "blob:"))
            else outside.append(r.url))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url + "/")

    # The gallery of bundled paintings, with credits, and the controls built from the server's limits.
    cards = page.locator("#style-gallery .style-card[data-id]:not([data-id=''])")
    cards.first.wait_for()
    assert cards.count() == 3
    assert "Public domain" in page.locator("#credits").inner_text()
    assert page.locator("#size option").all_inner_texts() == ["32 px"]
    assert page.locator("#quality input").count() == 3

    # Submitting without a photo explains what is missing.
    page.click("#submit")
    assert page.locator("#form-error").inner_text() == "Choose a photo first."

    page.set_input_files("#content-input", str(photo_path))
    page.wait_for_function("() => document.getElementById('content-thumb').naturalWidth > 0")
    page.click("#style-gallery .style-card[data-id='the_scream']")
    assert page.get_attribute("#style-gallery .style-card[data-id='the_scream']", "aria-checked") == "true"
    page.check("#quality input[value='fast']")
    page.fill("#strength", "30")
    page.dispatch_event("#strength", "input")
    assert page.locator("#strength-out").inner_text() != "×1"
    page.evaluate(WATCH_PROGRESS)
    page.click("#submit")

    # Progress: a step counter and a live intermediate image, then the result beside its inputs.
    page.locator("#result-image").wait_for(state="visible", timeout=60_000)
    seen = page.evaluate("() => window.seen")
    assert any(re.fullmatch(r"step \d+ of 10( · about \d+ (s|min) left)?", t) for t in seen["text"]), seen
    assert any(s.startswith("data:image/jpeg;base64,") for s in seen["live"]), seen["text"]
    page.locator("#result-image").wait_for(state="visible", timeout=60_000)
    page.wait_for_function("() => document.getElementById('result-image').naturalWidth > 0")
    assert page.locator("#status").inner_text() == "Done"
    assert page.get_attribute("#progress-bar", "aria-valuenow") == "100"
    for img in ("#result-content", "#result-style"):
        page.wait_for_function(f"() => document.querySelector('{img}').naturalWidth > 0")
    assert page.locator("#result-style-caption").inner_text() == "The Scream"
    href = page.get_attribute("#download", "href")
    assert re.fullmatch(r"/api/jobs/[A-Za-z0-9_-]+/result\?download=true", href)
    with page.expect_download() as info:
        page.click("#download")
    assert info.value.suggested_filename.startswith("impasto-")

    # The job is in the history, which is read back from the server.
    page.locator("#history li:first-child .badge", has_text="done").wait_for()
    assert page.locator("#history .badge").first.inner_text() == "done"

    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOT_DIR / "web_page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert not outside, f"the page fetched from elsewhere: {outside}"
    assert not errors, errors
    page.close()


DROP_FILE = """([selector, name, type, b64]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const data = new DataTransfer();
  data.items.add(new File([bytes], name, {type}));
  const target = document.querySelector(selector);
  for (const kind of ["dragenter", "dragover", "drop"]) {
    target.dispatchEvent(new DragEvent(kind, {dataTransfer: data, bubbles: true, cancelable: true}));
  }
}"""


def test_drag_and_drop_an_own_style_and_see_server_errors(browser, server, tmp_path):
    import base64

    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.goto(server.url + "/")
    page.locator("#style-gallery .style-card").first.wait_for()

    # A file that is not an image, dropped as the photo: the server's one-line refusal is shown.
    page.evaluate(DROP_FILE, ["#content-drop", "notes.png", "image/png", base64.b64encode(b"not a picture").decode()])
    assert page.locator("#content-drop .drop-text").inner_text().startswith("notes.png")
    page.click("#submit")
    page.locator("#form-error").wait_for(state="visible")
    assert page.locator("#form-error").inner_text() == "the content file is not an image (use PNG, JPEG or WebP)"

    # A real photo dropped, and an own style chosen with the file picker.
    photo_b64 = base64.b64encode(encode(photo((64, 48)), "PNG")).decode()
    page.evaluate(DROP_FILE, ["#content-drop", "photo.png", "image/png", photo_b64])
    style_path = tmp_path / "my style.png"
    style_path.write_bytes(encode(photo((40, 40)).rotate(90), "PNG"))
    page.set_input_files("#style-input", str(style_path))
    assert page.get_attribute("#style-upload-card", "aria-checked") == "true"
    assert page.get_attribute("#style-gallery .style-card[data-id='starry_night']", "aria-checked") == "false"
    page.check("#quality input[value='balanced']")
    page.check("#preserve-color")
    page.click("#submit")
    page.locator("#result-image").wait_for(state="visible", timeout=60_000)
    assert page.locator("#form-error").is_hidden()
    assert page.locator("#result-style-caption").inner_text() == "your style image"

    # The history survives a reload of the page (it lives on the server).
    page.reload()
    page.locator("#history li").first.wait_for()
    assert page.locator("#history li").count() == 1
    page.locator("#result-image").wait_for(state="visible")  # the last job is shown again
    page.close()


def test_queue_position_and_cancel(browser, server, tmp_path):
    photo_path = tmp_path / "photo.png"
    photo_path.write_bytes(encode(photo((64, 48)), "PNG"))
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.goto(server.url + "/")
    page.locator("#style-gallery .style-card").first.wait_for()
    page.set_input_files("#content-input", str(photo_path))
    page.check("#quality input[value='fast']")  # 10 paced steps: the first job holds the worker
    page.click("#submit")
    page.locator("#status[data-state='running'], #status[data-state='queued']").wait_for()
    page.click("#submit")  # the page now follows the second job, which must wait
    # (the first job may itself be shown as queued for a moment, so wait for the second's words)
    page.locator("#status", has_text="Waiting in the queue: 1 job ahead of yours").wait_for()
    assert page.locator("#cancel").is_visible()
    page.click("#cancel")
    page.locator("#status[data-state='cancelled']").wait_for()
    assert page.locator("#status").inner_text() == "Cancelled"
    assert page.locator("#cancel").is_hidden() and page.locator("#download").is_hidden()
    page.locator("#history li:nth-child(2)").wait_for()
    # the history list refreshes on its own timer: wait for it to show the cancellation
    page.locator("#history li:first-child .badge", has_text="cancelled").wait_for()
    assert page.locator("#history .badge").first.inner_text() == "cancelled"
    page.close()
