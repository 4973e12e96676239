"""The notebook's drawing pad: a canvas whose strokes the kernel keeps and renders (:func:`render_strokes`), and a
button that searches with the drawing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
from PIL import Image, ImageDraw

from zsb.io import atomic_open
from zsb.report.viz.images import plot_search
from zsb.search.index import GalleryIndex
from zsb.search.ranking import search, write_results
from zsb.search.searcher import Searcher

PAD_LINE_WIDTH = 3
"""The drawing pad's pen, in canvas pixels (the pad is 256 x 256, as Sketchy's sketches)."""


def render_strokes(segments: Sequence[tuple[float, float, float, float]], size: int = 256,
                   width: float = 3) -> Image.Image:
    """A drawing as the drawing pad saves it: black ink on white paper, ``size`` x ``size`` pixels, each segment
    ``(x0, y0, x1, y1)`` (canvas pixels) a line ``width`` wide with round ends, anti-aliased as a browser's canvas
    draws it (drawn at 4 times the size, then reduced)."""
    scale = 4
    image = Image.new("L", (size * scale, size * scale), 255)
    draw = ImageDraw.Draw(image)
    r = width * scale / 2
    for segment in segments:
        x0, y0, x1, y1 = (v * scale for v in segment)
        draw.line((x0, y0, x1, y1), fill=0, width=round(width * scale))
        for x, y in ((x0, y0), (x1, y1)):
            draw.ellipse((x - r, y - r, x + r - 1, y + r - 1), fill=0)  # inclusive box, centred as the line
    return image.resize((size, size), Image.Resampling.BOX)


def drawing_pad(searcher: Searcher, gallery: GalleryIndex, top: int = 10, out_dir: str | os.PathLike = "search_out",
                size: int = 256):
    """A canvas to draw a sketch on and a button that searches ``gallery`` with it and shows the ranked photos and
    their table under it (the drawing is saved as ``out_dir/drawn_sketch.png``, the results beside it as
    :func:`write_results` writes them). Needs ipycanvas (in the ``dev`` extra); without it, None and a note.

    The kernel keeps every segment it draws and the sketch is rendered from them (:func:`render_strokes`), not read
    back from the browser's canvas: the mouse events reach the kernel before the button's click, so the search
    sees the whole drawing however fast the button is pressed, whereas the canvas's image reaches the kernel later."""
    try:
        import ipywidgets as widgets
        from ipycanvas import Canvas
    except ImportError:
        print('drawing needs ipycanvas (pip install -e ".[dev]" in the zsb folder, then reload the page); search '
              "with a sketch file instead.")
        return None
    from IPython.display import display

    canvas = Canvas(width=size, height=size,  # shown at its size, not stretched to the page
                    layout={"border": "1px solid gray", "width": f"{size}px", "height": f"{size}px"})
    canvas.line_width, canvas.stroke_style, canvas.line_cap = PAD_LINE_WIDTH, "black", "round"
    last: list[tuple[float, float]] = []
    segments: list[tuple[float, float, float, float]] = []

    def move(x: float, y: float) -> None:
        if last:
            canvas.stroke_line(*last[0], x, y)
            segments.append((*last[0], x, y))
            last[0] = (x, y)

    def clear(_) -> None:
        canvas.clear()
        segments.clear()

    canvas.on_mouse_down(lambda x, y: last.append((x, y)))
    canvas.on_mouse_move(move)
    canvas.on_mouse_up(lambda x, y: last.clear())
    results = widgets.Output()

    def run_search(_) -> None:
        with results:
            results.clear_output()
            if not segments:
                print("draw a sketch on the canvas first (press the mouse button and move).")
                return
            sketch = Path(out_dir) / "drawn_sketch.png"
            with atomic_open(sketch, "wb") as f:
                render_strokes(segments, size, PAD_LINE_WIDTH).save(f, format="PNG")
            found = search(searcher, gallery, [sketch], top)
            write_results(found, out_dir)
            figure = plot_search(sketch, found["path"].tolist(), found["similarity"].tolist())
            display(figure)
            plt.close(figure)
            display(found[["rank", "path", "similarity"]])

    search_button, clear_button = widgets.Button(description="search"), widgets.Button(description="clear")
    search_button.on_click(run_search)
    clear_button.on_click(clear)
    return widgets.VBox([canvas, widgets.HBox([search_button, clear_button]), results])
