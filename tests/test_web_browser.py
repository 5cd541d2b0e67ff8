"""The real page in headless Chromium: upload a photo, choose a painting, submit, watch the
progress and the live image, get the result; a screenshot is saved for people to look at.

Also: the phone layout (390x844), the banner when the server goes away and its recovery, history
paging and deleting, instant styles and refining them, and the password page.

Needs Debian's ``chromium`` (``apt-get install -y chromium``) and Playwright for Python; the
tests are skipped, saying which is missing, when either is absent, except in CI (``CI=true``),
where that is a failure: CI must run them. Playwright's own browser downloads are never used.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest


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


def _missing(why: str) -> None:
    """Skip on a developer's machine; fail in CI, which must run the browser tests."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{why}: CI must run the browser tests", pytrace=False)
    pytest.skip(why)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright import sync_api
    except ImportError:
        _missing("Playwright for Python is not installed (pip install playwright)")
    if not Path(CHROMIUM).is_file():
        _missing(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def photo_file(tmp_path: Path) -> Path:
    """A small photo on disk, for the file picker."""
    path = tmp_path / "photo.png"
    path.write_bytes(encode(photo((64, 48)), "PNG"))
    return path


def open_page(browser, url: str, width: int = 1100, height: int = 900, **options):
    """A new tab with the page loaded and its gallery built (the server has answered)."""
    page = browser.new_page(viewport={"width": width, "height": height}, **options)
    page.goto(url + "/")
    page.locator("#style-gallery .style-card").first.wait_for()
    return page


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
    # fast, balanced, best, and (the arbitrary-style network being installed) instant for any painting
    assert page.locator("#quality input").count() == 4
    assert page.locator("#quality input[value='instant']").count() == 1

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

    page = open_page(browser, server.url)

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
    page = open_page(browser, server.url)
    page.set_input_files("#content-input", str(photo_file(tmp_path)))
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


# -- the phone -------------------------------------------------------------------------------------
def no_sideways_scroll(page) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide on a 390 px screen"


def test_on_a_phone_nothing_runs_off_the_screen_and_the_job_comes_into_view(browser, server, tmp_path):
    page = open_page(browser, server.url, 390, 844, is_mobile=True, has_touch=True)
    page.locator("#instant-gallery .style-card").first.wait_for()
    no_sideways_scroll(page)
    page.set_input_files("#content-input", str(photo_file(tmp_path)))
    page.check("#quality input[value='fast']")
    # The button at the bottom of the screen, as a thumb reaches it: the job card is out of sight.
    page.evaluate("() => document.getElementById('submit').scrollIntoView({block: 'end'})")
    assert page.evaluate("() => document.getElementById('job').getBoundingClientRect().top") > 800
    page.click("#submit")
    # After "Paint it" the job card scrolls up into view: its status and progress bar on the screen.
    page.wait_for_function("() => ['status', 'progress-bar'].every(id => {"
                           " const r = document.getElementById(id).getBoundingClientRect();"
                           " return r.height > 0 && r.top >= 0 && r.bottom <= innerHeight; })")
    page.locator("#result-image").wait_for(state="visible", timeout=60_000)
    page.wait_for_function("() => document.getElementById('result-image').naturalWidth > 0")
    page.locator("#history li").first.wait_for()
    no_sideways_scroll(page)
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT_DIR / "web_phone.png"), full_page=True)
    page.close()


# -- the connection --------------------------------------------------------------------------------
def test_the_page_says_when_the_server_is_gone_and_recovers(browser, tmp_path):
    cfg = fast_config(tmp_path / "data", devices=())  # the job stays queued: a stable state to show
    with LiveServer(cfg) as first:
        page = open_page(browser, first.url)
        page.set_input_files("#content-input", str(photo_file(tmp_path)))
        page.click("#submit")
        page.locator("#status", has_text="Next in the queue").wait_for()
        assert page.locator("#connection").is_hidden()
        port = first.port
    # The server stopped: the page says the connection is lost and that it is retrying.
    banner = page.locator("#connection")
    banner.wait_for(state="visible", timeout=15_000)
    assert banner.inner_text() == "Lost the connection to the server. Retrying…"
    assert page.locator("#status").inner_text() == "Connection lost: retrying…"
    page.wait_for_timeout(2000)  # a few retries fail: it keeps saying so
    assert banner.is_visible()
    # Back on the same port and data: the page finds it again by itself.
    with LiveServer(cfg, port=port):
        banner.wait_for(state="hidden", timeout=15_000)
        page.locator("#status", has_text="Next in the queue").wait_for()
        assert page.locator("#history li").count() == 1
    page.close()


# -- history ---------------------------------------------------------------------------------------
def test_history_pages_and_deletes(browser, tmp_path):
    import httpx

    cfg = fast_config(tmp_path / "data", devices=(), max_waiting_per_client=100)
    with LiveServer(cfg) as server:
        page = open_page(browser, server.url, 1280, 1000)
        assert page.locator("#history-empty").is_visible()
        # 30 jobs made by this browser (its cookie), 5 of them cancelled.
        cookies = {c["name"]: c["value"] for c in page.context.cookies()}
        png = encode(photo((40, 30)))
        with httpx.Client(base_url=server.url, cookies=cookies) as c:
            ids = [c.post("/api/jobs", files={"content": ("p.png", png, "image/png")},
                          data={"style_id": "shipwreck"}).json()["id"] for _ in range(30)]
            for job_id in ids[:5]:
                c.post(f"/api/jobs/{job_id}/cancel")
        page.reload()
        page.locator("#history li").first.wait_for()
        assert page.locator("#history li").count() == 24
        assert page.locator("#history-count").inner_text() == "· 30"
        page.click("#history-more")
        page.locator("#history li:nth-child(30)").wait_for()
        assert page.locator("#history-more").is_hidden()

        # Delete one (the newest), then every finished one.
        newest = page.locator("#history li").first
        assert newest.get_attribute("data-id") == ids[-1]
        newest.locator("button.delete").click()
        page.locator("#history-count", has_text="· 29").wait_for()
        assert ids[-1] not in [li.get_attribute("data-id") for li in page.locator("#history li").all()]
        page.click("#history-clear")
        page.locator("#history-count", has_text="· 24").wait_for()
        assert "cancelled" not in page.locator("#history").inner_text()
        with httpx.Client(base_url=server.url, cookies=cookies) as c:
            assert c.get("/api/jobs").json()["total"] == 24
    page.close()


# -- instant styles --------------------------------------------------------------------------------
def test_an_instant_style_then_refining_it(browser, server, tmp_path):
    page = open_page(browser, server.url, 1280, 1000)
    cards = page.locator("#instant-gallery .style-card")
    cards.first.wait_for()
    assert sorted(cards.evaluate_all("cs => cs.map(c => c.dataset.id)")) == ["candy", "mosaic", "starry_night",
                                                                              "the_scream"]
    page.wait_for_function("() => [...document.querySelectorAll('#instant-gallery img')]"
                           ".every(i => i.complete && i.naturalWidth > 0)")  # every preview shows
    page.set_input_files("#content-input", str(photo_file(tmp_path)))
    page.click("#instant-gallery .style-card[data-id='starry_night']")
    assert page.get_attribute("#instant-gallery .style-card[data-id='starry_night']", "aria-checked") == "true"
    assert page.get_attribute("#style-gallery .style-card[data-id='starry_night']", "aria-checked") == "false"
    assert page.locator("#strength").is_disabled() and page.locator("#instant-note").is_visible()
    page.click("#submit")
    page.locator("#result-image").wait_for(state="visible", timeout=60_000)
    assert re.fullmatch(r"painted in \d+(\.\d)? s", page.locator("#progress-text").inner_text())
    assert page.locator("#result-style-caption").inner_text() == "The Starry Night (instant)"

    # Refine it with the optimisation (the quality chosen in the form: fast, 10 steps here).
    page.check("#quality input[value='fast']")
    assert page.locator("#refine").is_visible()
    page.click("#refine")
    page.locator("#status[data-state='running']").wait_for(timeout=60_000)
    page.locator("#progress-text", has_text="of 10").wait_for(timeout=60_000)
    page.locator("#status", has_text="Done").wait_for(timeout=60_000)
    assert page.locator("#result-style-caption").inner_text() == "The Starry Night"
    assert page.locator("#refine").is_hidden()
    assert page.locator("#history li").count() == 2

    # Candy's painting does not ship: it paints, but offers no refining.
    page.click("#instant-gallery .style-card[data-id='candy']")
    page.click("#submit")
    page.locator("#result-style-caption", has_text="Candy (instant)").wait_for(timeout=60_000)
    assert page.locator("#refine").is_hidden()
    page.click("#style-gallery .style-card[data-id='shipwreck']")
    assert not page.locator("#strength").is_disabled()
    page.close()


# -- the password ----------------------------------------------------------------------------------
def test_a_server_with_a_password_asks_for_it(browser, tmp_path):
    cfg = fast_config(tmp_path / "data", devices=(), password="open sesame")
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    with LiveServer(cfg) as server:
        page.goto(server.url + "/")
        page.locator("#login").wait_for(state="visible")
        assert page.locator("#main").is_hidden()
        page.fill("#password", "guess")
        page.click("#login-submit")
        page.locator("#login-error", has_text="That is not the password.").wait_for()
        page.fill("#password", "open sesame")
        page.click("#login-submit")
        page.locator("#style-gallery .style-card").first.wait_for()
        assert page.locator("#login").is_hidden()
        page.reload()  # remembered (a cookie)
        page.locator("#style-gallery .style-card").first.wait_for()
        assert page.locator("#login").is_hidden()
    page.close()


# -- a job deleted elsewhere -----------------------------------------------------------------------
def test_a_job_deleted_in_another_tab_is_said_to_be_deleted(browser, tmp_path):
    cfg = fast_config(tmp_path / "data", devices=())  # the job stays queued while it is followed
    with LiveServer(cfg) as server:
        context = browser.new_context(viewport={"width": 1100, "height": 900})
        first = context.new_page()
        first.goto(server.url + "/")
        first.locator("#style-gallery .style-card").first.wait_for()
        first.set_input_files("#content-input", str(photo_file(tmp_path)))
        first.click("#submit")
        first.locator("#status", has_text="Next in the queue").wait_for()
        # The same browser (its cookies) in another tab deletes the job.
        other = context.new_page()
        other.goto(server.url + "/")
        other.locator("#history li").first.wait_for()
        other.locator("#history li button.delete").first.click()
        other.locator("#history-empty").wait_for(state="visible")
        first.locator("#status", has_text="This painting was deleted").wait_for(timeout=10_000)
        assert first.locator("#connection").is_hidden()
        assert first.locator("#cancel").is_hidden()
        first.wait_for_timeout(1500)  # and it stays said: no reconnecting, no "connection lost"
        assert first.locator("#status").inner_text() == "This painting was deleted (in another tab or window)."
        assert first.locator("#connection").is_hidden()
    context.close()


# -- the history's pictures and the desktop layout -------------------------------------------------
def test_the_history_shows_small_thumbnails_and_the_desktop_uses_both_columns(browser, server, tmp_path):
    page = open_page(browser, server.url, 1024, 800)
    # The quality levels (instant, fast, balanced, best) sit on one row, however long their labels.
    tops = page.evaluate("() => [...document.querySelectorAll('#quality label')]"
                         ".map(l => Math.round(l.getBoundingClientRect().top))")
    assert len(tops) == 4 and len(set(tops)) == 1, tops
    # The history is in the right column, under the job, not below the whole form.
    box = page.evaluate("() => ['job-form', 'job'].map(id => document.getElementById(id).getBoundingClientRect())"
                        ".concat([document.querySelector('.history').getBoundingClientRect()])"
                        ".map(r => ({left: r.left, top: r.top, bottom: r.bottom}))")
    form, job, history = box
    assert history["left"] == job["left"] > form["left"] and history["top"] < form["bottom"]
    assert job["bottom"] - job["top"] < 400  # as tall as what it shows

    page.set_input_files("#content-input", str(photo_file(tmp_path)))
    page.check("#quality input[value='fast']")
    page.click("#submit")
    page.locator("#history li:first-child .badge", has_text="done").wait_for(timeout=60_000)
    page.wait_for_function("() => { const i = document.querySelector('#history li img');"
                           " return i && i.complete && i.naturalWidth > 0 && i.src.includes('done'); }")
    shown = page.get_attribute("#history li img", "src")
    assert "/thumbnail?" in shown  # not the full-size result
    page.close()


def test_any_painting_instantly_then_refined(browser, server, tmp_path):
    """A bundled painting with quality "instant": the arbitrary-style network paints it in one
    pass, and "refine" optimises from that picture with the same painting."""
    page = open_page(browser, server.url, 1280, 1000)
    page.locator("#style-gallery .style-card[data-id='shipwreck']").wait_for()
    page.set_input_files("#content-input", str(photo_file(tmp_path)))
    page.click("#style-gallery .style-card[data-id='shipwreck']")
    page.check("#quality input[value='instant']")
    page.click("#submit")
    page.locator("#result-image").wait_for(state="visible", timeout=60_000)
    assert page.locator("#result-style-caption").inner_text() == "The Shipwreck (instant)"
    assert page.locator("#refine").is_visible()
    page.click("#refine")  # the quality chosen was instant: refining takes balanced
    page.wait_for_function("() => document.getElementById('result-style-caption').textContent === 'The Shipwreck'",
                           timeout=60_000)
    page.locator("#status", has_text="Done").wait_for(timeout=60_000)
    assert page.locator("#history li").count() == 2
    page.close()
