"""The workbench in a real browser: `shoekit workbench` serves it, headless Chromium visits every page.

Needs Debian's Chromium at /usr/bin/chromium and the `playwright` Python package (no
`playwright install`: the test drives the system browser). Without them the test FAILS and says
how to install them. Screenshots go to the test's tmp folder and to benchmarks/out/screenshots/;
the How-it-works handout and the Compare page's comparison sheet are downloaded and read as PDFs.
`SHOEKIT_BROWSER_RUNS=demo/runs pytest tests/test_workbench_browser.py` visits the pages with another
runs folder (the demo's, for the README's screenshots) instead of the tiny test run.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.workbench_fixtures import frame_png, masked_runs_root  # noqa: F401

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
                 "--no-first-run", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = REPO / "benchmarks" / "out" / "screenshots"
START_TIMEOUT_S = 120
PAGE_TIMEOUT_MS = 180_000
# url path -> (title, text that shows the page's content arrived)
PAGES = {
    "": ("Match & explain", "Why they match"),
    "compare": ("Compare runs", "Rank-1/5/10 and mAP (%)"),
    "gallery": ("Ranked gallery", "first correct match"),
    "data": ("Data & CCTV simulation", "Shoe type"),
    "how-it-works": ("How it works", "7. Why they match: the heatmaps"),
    "attention": ("Attention explorer", "The gate of every bottleneck"),
    "investigate": ("Investigate", "Upload a CCTV frame or a video to begin."),  # last: investigate() goes on here
}
ERROR_SELECTORS = ('[data-testid="stException"]', '[data-testid="stAlertContentError"]')


def require_browser():
    """playwright's sync API, or a failure saying how to install what is missing."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} not found: the browser test needs Debian's Chromium; install it with "
                    "`sudo apt-get install -y chromium` (no `playwright install` needed)")
    try:
        from playwright import sync_api
    except ImportError:
        pytest.fail("the browser test needs the playwright Python package: `pip install playwright` "
                    "(it drives /usr/bin/chromium, so skip `playwright install`)")
    return sync_api


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_healthy(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"shoekit workbench exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"the workbench did not answer at {url} within {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def served_app(masked_runs_root, tmp_path):  # noqa: F811
    """`shoekit workbench --runs ROOT --port N` running as from a script: standard input closed, no
    display, no terminal (it must not wait on Streamlit's first-run prompt); its URL. ROOT holds
    the tiny run, its dataset with shoe masks (or $SHOEKIT_BROWSER_RUNS)."""
    runs_root = Path(os.environ.get("SHOEKIT_BROWSER_RUNS") or masked_runs_root).resolve()
    port = free_port()
    url = f"http://localhost:{port}"
    log = tmp_path / "workbench.log"
    with log.open("w") as output:
        env = {key: value for key, value in os.environ.items() if key not in ("DISPLAY", "WAYLAND_DISPLAY")}
        process = subprocess.Popen([sys.executable, "-m", "shoekit", "workbench", "--runs", str(runs_root),
                                    "--port", str(port)], cwd=REPO, stdin=subprocess.DEVNULL, stdout=output,
                                   stderr=subprocess.STDOUT, env={**env, "HOME": str(tmp_path / "home")},
                                   start_new_session=True)
    try:
        wait_until_healthy(url, process, log)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def settle(page) -> None:
    """Wait until the app has finished its script run: no status widget ("Stop") and no spinner,
    three times in a row half a second apart (the widget appears a moment after a run starts)."""
    busy = "() => document.querySelector('[data-testid=stStatusWidget], [data-testid=stSpinner]') !== null"
    deadline = time.monotonic() + PAGE_TIMEOUT_MS / 1000
    quiet = 0
    while quiet < 3:
        assert time.monotonic() < deadline, "the app kept running for more than PAGE_TIMEOUT_MS"
        page.wait_for_timeout(500)
        quiet = 0 if page.evaluate(busy) else quiet + 1


def screenshot(page, path: Path) -> None:
    """The whole page (Streamlit scrolls inside its main block, so grow the viewport to fit)."""
    width = page.viewport_size["width"]
    height = page.evaluate("() => Math.max(...[...document.querySelectorAll('[data-testid=stMain], "
                           "[data-testid=stAppViewContainer]')].map(e => e.scrollHeight), 800)")
    page.set_viewport_size({"width": width, "height": min(int(height) + 40, 8000)})
    page.wait_for_function("() => [...document.images].every(image => image.complete && image.naturalWidth > 0)",
                           timeout=PAGE_TIMEOUT_MS)
    page.wait_for_timeout(300)
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": width, "height": 1000})
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SCREENSHOTS / path.name)


def assert_no_errors(page, where: str) -> None:
    for selector in ERROR_SELECTORS:
        shown = page.locator(selector)
        assert shown.count() == 0, f"{where}: {shown.all_inner_texts()}"
    assert page.get_by_text("Page not found").count() == 0, where


def test_every_page_in_chromium(served_app, tmp_path):
    sync_api = require_browser()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 1000})
        page = browser.new_page()
        try:
            for path, (title, content) in PAGES.items():
                page.goto(f"{served_app}/{path}")
                page.get_by_role("heading", name=title).wait_for(timeout=PAGE_TIMEOUT_MS)
                page.get_by_text(content).filter(visible=True).first.wait_for(timeout=PAGE_TIMEOUT_MS)
                settle(page)
                if path == "compare":
                    page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for(timeout=PAGE_TIMEOUT_MS)
                assert page.locator('[data-testid="stImage"]').count() >= (7 if path in ("", "gallery") else 0)
                assert_no_errors(page, title)
                if path == "":  # the heatmaps are measured against the shoe's mask, and outlined with it
                    assert page.get_by_text("heatmap energy on the shoe").count() >= 1
                if path == "how-it-works":  # every step drawn, the heatmaps' trust measured on the masks
                    assert page.locator('[data-testid="stImage"]').count() >= 20
                    assert page.get_by_text("the heat a uniform map would").count() == 1
                    pages, text = downloaded_pdf(page, "Download this walk-through as a PDF handout", tmp_path)
                    assert pages == 8 and "1. The CCTV crop" in text and "7. Why they match" in text
                if path == "compare":
                    pages, text = downloaded_pdf(page, "Comparison sheet (PDF)", tmp_path)
                    assert pages == 1 and "paper †" in text and "Run settings" in text
                if path == "attention":  # one gate chart per stage
                    page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for(timeout=PAGE_TIMEOUT_MS)
                    assert page.locator('[data-testid="stPlotlyChart"]').count() >= 4
                screenshot(page, tmp_path / f"workbench-{path or 'match'}.png")
                if path == "data":
                    simulation(page, tmp_path)
            investigate(page, tmp_path)
        finally:
            browser.close()


def downloaded_pdf(page, button: str, tmp_path: Path) -> tuple[int, str]:
    """Click a download button, keep the file it serves; (its PDF pages, their text)."""
    from pypdf import PdfReader

    with page.expect_download(timeout=PAGE_TIMEOUT_MS) as download:
        page.get_by_role("button", name=button).click()
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    reader = PdfReader(path)
    return len(reader.pages), "\n".join(sheet.extract_text() for sheet in reader.pages)


def simulation(page, tmp_path: Path) -> None:
    """The CCTV simulation tab: a procedural shoe as a crop, before and after alignment."""
    page.get_by_role("tab", name="CCTV simulation").click()
    page.get_by_text("After toe–heel alignment").wait_for(timeout=PAGE_TIMEOUT_MS)
    settle(page)
    assert page.get_by_text("Motion blur (px)").is_visible()
    assert_no_errors(page, "CCTV simulation")
    screenshot(page, tmp_path / "workbench-data-simulation.png")


def investigate(page, tmp_path: Path) -> None:
    """Upload a frame, draw a box on it with the mouse, and get ranked crops and exports."""
    frame = tmp_path / "frame.png"
    frame.write_bytes(frame_png(width=320, height=240))
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(frame))
    page.get_by_text("Closest gallery crops").wait_for(timeout=PAGE_TIMEOUT_MS)
    settle(page)
    width_field = page.get_by_label("Box width (px)")
    assert width_field.input_value() == "96"  # the centred default box
    chart = page.locator('[data-testid="stPlotlyChart"] .nsewdrag').first
    chart.wait_for(timeout=PAGE_TIMEOUT_MS)
    box = chart.bounding_box()
    page.mouse.move(box["x"] + 0.3 * box["width"], box["y"] + 0.3 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + 0.5 * box["width"], box["y"] + 0.6 * box["height"], steps=8)
    page.mouse.up()
    page.wait_for_function("() => document.querySelector('input[aria-label=\"Box width (px)\"]').value !== '96'",
                           timeout=PAGE_TIMEOUT_MS)
    settle(page)
    assert page.get_by_text("Export ranked result (CSV)").count() == 1
    assert page.get_by_text("Export result sheet (PNG)").count() == 1
    assert_no_errors(page, "Investigate")
    screenshot(page, tmp_path / "workbench-investigate-search.png")
