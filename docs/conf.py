"""Sphinx configuration of the zsb book: ``sphinx-build -W -b html docs docs/_build/html`` (see docs/README.md).

Tools: Sphinx with myst-nb and sphinx-book-theme rather than Jupyter Book. Jupyter Book 2 builds with the
Node.js MyST engine, which CI and the developers' machines would have to install beside pip; Sphinx and myst-nb
install from PyPI with the project's dev extra, autodoc reads the API reference from the package itself, ``-W``
turns every warning into an error, and the book theme gives the same reading layout as Jupyter Book 1 (which is
itself this stack). The generated pages (notebooks, results, API, citing) are laid out by ``_ext/zsb_book.py``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "zsb"
author = "the zsb contributors"
copyright = "the zsb contributors (MIT licence)"
html_title = "zsb: zero-shot sketch-based image retrieval, reproducibly"

extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.mathjax", "zsb_book"]
exclude_patterns = ["_build", "README.md", "_ext", "_generated/static", "**.ipynb_checkpoints"]
root_doc = "index"

# MyST: $...$ and $$...$$ as in the notebooks; headings get anchors for links within a page.
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]  # results READMEs may skip a heading level; that changes no content

# myst-nb: only the notebooks whose metadata asks for it (the walkthrough, the search) run at build time; the stage
# notebooks are shown as zsb reproduce executed them. Any error in a cell fails the build.
nb_execution_mode = "off"
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_execution_in_temp = True  # files a notebook writes (07_search's results) land outside the sources
nb_merge_streams = True
nb_ipywidgets_js = {}  # no widget scripts from a CDN: the pages hold no live widgets

# Offline: MathJax 3 from _static (copied and checked by zsb_book), the theme's own fonts and icons, no launch
# buttons, no analytics, no version switcher.
mathjax_path = "mathjax/tex-chtml.js"
html_static_path = ["_static", "_generated/static"]
html_css_files = ["book.css"]
html_theme = "sphinx_book_theme"
html_theme_options = {
    "use_download_button": True,
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "launch_buttons": {},
    "show_toc_level": 2,
}
html_show_sourcelink = False
html_last_updated_fmt = None

autodoc_member_order = "bysource"
autodoc_typehints = "none"  # signatures as written; type hints of private helpers need not resolve
