"""Draw the README's query sketch by hand, in the notebook: mouse strokes on 07_search's drawing pad.

Starts JupyterLab on 127.0.0.1 (random token) over a copy of notebooks/07_search.ipynb whose parameters name the
model, opens it in headless Chromium driven by Playwright, runs every cell, draws STROKES on the canvas with mouse
events (press, move through the points, release), presses *search*, waits for the ranked photos, and copies the
drawing the pad saved (black ink on white, 256 x 256) to SKETCH, with a screenshot if asked. The strokes were written
once, as a person would draw a teapot, and not tuned to the results.

    python results/sketchy_mini/search/draw_sketch.py results/sketchy_mini/model results/sketchy_mini/search/teapot_drawn.png
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat
from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))  # the checkout's benchmarks package, run as a script from anywhere
from benchmarks.notebook_lab import CHROMIUM_FLAGS, draw, jupyter_lab, run_all_cells  # noqa: E402


def arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float, points: int = 24) -> list:
    """Points along an elliptic arc, angles in degrees (0: right, 90: down, as on the canvas)."""
    return [(cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
            for a in (start + (end - start) * i / points for i in range(points + 1))]


# A teapot on the 256 x 256 pad: round body, lid with a knob, spout on the left, handle on the right.
STROKES = [
    arc(128, 160, 62, 46, -90, 270, 40),           # body, one stroke round
    arc(128, 114, 30, 18, 180, 360, 16),           # lid, a dome on the body
    arc(128, 90, 6, 6, 90, 450, 12),               # knob
    [(70, 176), (50, 165), (36, 140), (28, 104)],  # spout, outer edge
    [(72, 142), (56, 134), (46, 120), (42, 106)],  # spout, inner edge
    [(28, 104), (42, 106)],                        # spout, opening
    arc(176, 158, 32, 26, -90, 90, 16),            # handle
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a finished run folder or a zsb export folder")
    parser.add_argument("sketch", type=Path, help="where to save the drawing (PNG)")
    parser.add_argument("--screenshot", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root = tmp / "root"
        root.mkdir()
        nb = nbformat.read(REPO / "notebooks" / "07_search.ipynb", as_version=4)
        (cell,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        cell.source += f"\nrun_dir = {str(args.run_dir.resolve())!r}  # the model searched with\nprogress = False  # plain"
        nbformat.write(nb, root / "07_search.ipynb")
        env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
        with jupyter_lab(root, tmp, env, start_s=180) as address, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                                 args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1600})
            page.goto(address.format("07_search.ipynb"), timeout=120_000)
            pad = run_all_cells(page, timeout_s=1800)  # indexing the gallery first
            canvas = pad.locator("canvas")
            canvas.scroll_into_view_if_needed()
            draw(page, canvas, STROKES, steps=4)
            page.wait_for_timeout(2000)
            pad.locator("button.jupyter-button", has_text="search").click()
            pad.locator(".widget-output table tbody tr").first.wait_for(timeout=600_000)
            pad.locator(".widget-output img").scroll_into_view_if_needed()
            if args.screenshot:
                page.screenshot(path=str(args.screenshot))
            print(pad.locator(".widget-output table").inner_text())
            browser.close()
        args.sketch.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / "search_out" / "drawn_sketch.png", args.sketch)
        print(f"drawing: {args.sketch}")


if __name__ == "__main__":
    main()
