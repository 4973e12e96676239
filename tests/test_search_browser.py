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

import os
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from PIL import Image

import zsb
from benchmarks.notebook_lab import CHROMIUM_FLAGS, draw, jupyter_lab, run_all_cells

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "07_search.ipynb"
ARTIFACTS = Path(os.environ.get("ZSB_TEST_ARTIFACTS", REPO / "test-artifacts")) / "browser"
TOP = 3
TINY = {"max_seen_classes": 3, "max_unseen_classes": 2, "max_per_class": 2, "image_size": 32, "epochs": 1,
        "classes_per_batch": 3, "embed_dim": 16, "progress": False, "device": "cpu", "eval_batch_size": 4,
        "weights": "none"}
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
    env = {k: v for k, v in synthetic_env.items() if k != "MPLBACKEND"}  # the kernel's inline plots
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(zsb.__file__).parents[1]),  # this zsb
                                                      os.environ.get("PYTHONPATH")]))
    try:
        with jupyter_lab(root, tmp_path, env, SERVER_START_S) as address:
            yield address.format(NOTEBOOK.name), root
    except RuntimeError as error:
        pytest.fail(str(error))
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / "jupyter.log", ARTIFACTS / "jupyter.log")  # the server's and kernel's messages


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
