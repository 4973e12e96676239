"""notebooks/07_search.ipynb in a real browser: JupyterLab on 127.0.0.1 with a token, headless Chromium driven by
Playwright runs the notebook, draws strokes on the ipycanvas drawing pad with mouse events, presses *search* and
finds the ranked photos under it. The screenshot is kept as a test artifact (``$ZSB_TEST_ARTIFACTS/browser/``,
default ``test-artifacts/browser/`` in the repository).

Needs Playwright and ipycanvas (both in the ``dev`` extra) and a Chromium: ``$ZSB_CHROMIUM``, ``chromium`` on the
PATH (Debian: ``apt-get install chromium``), or Playwright's own (``playwright install chromium``). Without them
the test is skipped, except where ``ZSB_REQUIRE_BROWSER=1`` (CI sets it): there a missing browser fails it.

Run it alone: ``pytest tests/test_search_browser.py -s`` (80 s on a busy 2-core CPU once the synthetic benchmark is
cached in ``$ZSB_CACHE``; generating it first takes a few minutes more).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from PIL import Image

import zsb

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "07_search.ipynb"
ARTIFACTS = Path(os.environ.get("ZSB_TEST_ARTIFACTS", REPO / "test-artifacts")) / "browser"
TOP = 3
TINY = {"max_seen_classes": 3, "max_unseen_classes": 2, "max_per_class": 2, "image_size": 32, "epochs": 1,
        "classes_per_batch": 3, "embed_dim": 16, "progress": False, "device": "cpu", "eval_batch_size": 4,
        "weights": "none"}
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage"]
SERVER_START_S, CELLS_S, SEARCH_S = 180, 600, 300  # seconds; generous for a busy CI machine
# Strokes in canvas pixels (the pad is 256 x 256): a box with a diagonal, enough to check where the ink lands.
STROKES = [[(60, 60), (196, 60), (196, 196), (60, 196), (60, 60)], [(60, 60), (196, 196)]]
INSTALL = ('pip install -e ".[dev]" (Playwright, ipycanvas) and a Chromium: apt-get install chromium, or '
           "playwright install chromium, or set ZSB_CHROMIUM")


def missing(reason: str):
    """Skip, or fail where the browser test is required (ZSB_REQUIRE_BROWSER=1, as in CI)."""
    if os.environ.get("ZSB_REQUIRE_BROWSER") == "1":
        pytest.fail(f"ZSB_REQUIRE_BROWSER=1 but {reason}; install: {INSTALL}", pytrace=False)
    pytest.skip(f"{reason}; install: {INSTALL}")


def chromium_path() -> str | None:
    """$ZSB_CHROMIUM when set, else a chromium on the PATH or Debian's /usr/bin/chromium; None: none of them."""
    if os.environ.get("ZSB_CHROMIUM"):
        return os.environ["ZSB_CHROMIUM"]
    for candidate in (shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium under Playwright (sync API), closed afterwards."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("Playwright is not installed")
    try:
        import ipycanvas  # noqa: F401  (the drawing pad; its JupyterLab extension ships in its wheel)
    except ImportError:
        missing("ipycanvas is not installed")
    executable = chromium_path()
    if executable and not os.access(executable, os.X_OK):
        missing(f"no Chromium at ZSB_CHROMIUM={executable}")
    with sync_playwright() as playwright:
        if executable is None and not Path(playwright.chromium.executable_path).exists():
            missing("no Chromium found (chromium, /usr/bin/chromium or Playwright's own)")
        try:  # Playwright gives the browser a fresh profile (--user-data-dir) of its own
            browser = playwright.chromium.launch(executable_path=executable, headless=True, timeout=60_000,
                                                 args=CHROMIUM_FLAGS)
        except PlaywrightError as error:  # a browser that does not start is what the policy is about
            missing(f"Chromium ({executable or 'Playwright'}) did not start: {str(error).splitlines()[0]}")
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def trained_run(browser, tmp_path_factory, synthetic_env) -> Path:
    """A tiny run on the synthetic benchmark, trained for one epoch: the notebook's model and gallery (after the
    browser, so that a test without one is skipped before any training)."""
    os.environ["ZSB_CACHE"] = synthetic_env["ZSB_CACHE"]
    from zsb.config import resolve
    from zsb.run import stages
    from zsb.run.context import Run

    run = Run(tmp_path_factory.mktemp("browser") / "run", resolve(TINY))
    run.folder.write_config(run.cfg)
    stages.train(run)
    return run.dir


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path, trained_run, synthetic_env):
    """JupyterLab serving a copy of 07_search (its parameters set to the tiny run, top TOP) from a temporary root,
    on 127.0.0.1 with a random token and its own settings; shut down afterwards. Yields (url, root)."""
    root = tmp_path / "root"
    root.mkdir()
    nb = nbformat.read(NOTEBOOK, as_version=4)
    (cell,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    cell.source += (f"\nrun_dir = {str(trained_run)!r}  # the test's tiny run\ntop = {TOP}  # the test's\n"
                    "progress = False  # the test's")
    nbformat.write(nb, root / NOTEBOOK.name)
    settings = tmp_path / "lab-settings"
    for name, values in {
        "notebook-extension/tracker": {"windowingMode": "none",  # every cell in the DOM
                                       "autoStartDefaultKernel": True},  # no kernel dialog
        "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},  # offline
    }.items():
        (settings / "@jupyterlab" / f"{name}.jupyterlab-settings").parent.mkdir(parents=True, exist_ok=True)
        (settings / "@jupyterlab" / f"{name}.jupyterlab-settings").write_text(json.dumps(values))
    env = {k: v for k, v in synthetic_env.items() if k != "MPLBACKEND"}  # the kernel's inline plots
    env.update(JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "lab-workspaces"),
               JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(Path(zsb.__file__).parents[1]),  # this zsb
                                                        os.environ.get("PYTHONPATH")])))
    port, token = free_port(), secrets.token_hex(16)
    log = (tmp_path / "jupyter.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={root}", "--LabApp.news_url=", "--ServerApp.allow_root=True"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if server.poll() is not None:
                log.flush()
                output = (tmp_path / "jupyter.log").read_text()[-3000:]
                pytest.fail(f"jupyter lab exited ({server.returncode}): {output}")
            try:
                with direct.open(f"{base}/api/status?token={token}", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"jupyter lab did not answer within {SERVER_START_S} s")
            time.sleep(0.5)
        yield f"{base}/lab/tree/{NOTEBOOK.name}?token={token}", root
    finally:
        server.terminate()  # the server shuts its kernels down
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / "jupyter.log", ARTIFACTS / "jupyter.log")  # the server's and kernel's messages


def draw(page, canvas, strokes) -> None:
    """Each stroke as a person draws it: press, move through its points, release (canvas pixels, scaled to the
    canvas as shown)."""
    box = canvas.bounding_box()
    scale = box["width"] / int(canvas.get_attribute("width"))
    for stroke in strokes:
        page.mouse.move(box["x"] + stroke[0][0] * scale, box["y"] + stroke[0][1] * scale)
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x * scale, box["y"] + y * scale, steps=12)
        page.mouse.up()


def run_all_cells(page, timeout_s: float):
    """From the opened notebook to the drawing pad: wait for the kernel (status bar: "<kernel> | Idle"), Run > Run All Cells,
    then wait for the drawing pad (its canvas, buttons and output area); the pad's locator."""
    page.locator(".jp-Notebook").wait_for(timeout=120_000)
    kernel = page.locator(".jp-StatusBar-TextItem", has_text="| Idle").filter(has_not_text="No Kernel")
    kernel.first.wait_for(timeout=120_000)
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel").get_by_text("Run All Cells", exact=True).click()
    pad = page.locator(".jp-OutputArea-output .widget-vbox").filter(has=page.locator("canvas")).last
    deadline = time.monotonic() + timeout_s
    while not pad.locator("canvas").is_visible():
        dialog = page.locator(".jp-Dialog .jp-mod-accept")
        if dialog.is_visible():  # a kernel choice asked for all the same: the notebook's own (python3)
            dialog.click()
        assert time.monotonic() < deadline, f"the drawing pad did not appear within {timeout_s} s"
        page.wait_for_timeout(500)
    return pad


def test_drawing_in_the_search_notebook_ranks_photos_in_a_real_browser(browser, lab):
    url, root = lab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "07_search.png"
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    try:
        page.goto(url, timeout=120_000)
        pad = run_all_cells(page, CELLS_S)
        canvas = pad.locator("canvas")
        canvas.scroll_into_view_if_needed()
        draw(page, canvas, STROKES)  # and press search at once: the kernel must see the whole drawing
        pad.locator("button.jupyter-button", has_text="search").click()

        ranked = pad.locator(".widget-output table tbody tr")
        ranked.first.wait_for(timeout=SEARCH_S * 1000)
        figure = pad.locator(".widget-output img")
        figure.wait_for(timeout=30_000)
        figure.scroll_into_view_if_needed()
        page.screenshot(path=str(shot))
        print(f"\nscreenshot: {shot}")

        assert ranked.count() == TOP
        assert figure.evaluate("img => img.complete && img.naturalWidth > 0")
        found = pd.read_csv(root / "search_out" / "drawn_sketch_ranked.csv")
        assert found["rank"].tolist() == list(range(1, TOP + 1))
        assert found["similarity"].is_monotonic_decreasing
        shown = [row.locator("td").all_inner_texts() for row in ranked.all()]  # rank, path, similarity
        assert [int(cells[0]) for cells in shown] == found["rank"].tolist()
        assert [float(cells[2]) for cells in shown] == pytest.approx(found["similarity"].tolist(), abs=1e-5)
        # The drawing the kernel saved (black ink on white) has ink along every stroke and nowhere else.
        drawn = Image.open(root / "search_out" / "drawn_sketch.png").convert("L")
        assert drawn.size == (256, 256)
        assert all(drawn.getpixel(point) < 128 for point in [(128, 60), (196, 128), (128, 196), (60, 128), (128, 128)])
        assert all(drawn.getpixel(point) == 255 for point in [(128, 100), (100, 150), (20, 230), (230, 20)])
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "07_search-failed.png"))
        print(f"\nscreenshot of the failure: {ARTIFACTS / '07_search-failed.png'}")
        raise
    finally:
        page.close()
