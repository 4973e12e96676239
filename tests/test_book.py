"""The book (docs/): built with ``sphinx-build -W``, served on 127.0.0.1 and read in headless Chromium. The
walkthrough page and the claims page must show every figure (each ``img`` decoded, natural width above 0), render
every equation (MathJax's output present, no raw ``$...$`` or ``\\(...\\)`` left), request nothing from another
host, and every link of every page must resolve to a file and anchor of the site. Screenshots are kept as test
artifacts (``$ZSB_TEST_ARTIFACTS/book/``, default ``test-artifacts/book/``).

The stage notebooks come from a finished synthetic run: ``$ZSB_BOOK_RUN``, else the run that
``results/synthetic/RUN.txt`` names when it is on disk, else a tiny ``zsb reproduce`` made here (a few minutes).
``$ZSB_BOOK_HTML`` names an existing build to check instead of building (the site of
``sphinx-build -W -b html docs docs/_build/html``). Browser and skip policy as in ``test_search_browser.py``.

Run it alone: ``pytest tests/test_book.py -s``.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import subprocess
import sys
import threading
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from test_search_browser import browser  # noqa: F401  (the module's Chromium, skipped or failed by its policy)

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("ZSB_TEST_ARTIFACTS", REPO / "test-artifacts")) / "book"
sys.path.insert(0, str(REPO / "docs" / "_ext"))
import zsb_book  # noqa: E402

WALKTHROUGH = "_generated/notebooks/00_walkthrough.html"
CLAIMS = "_generated/results/campaign/index.html"
TINY = {"max_seen_classes": 4, "max_unseen_classes": 3, "max_per_class": 6, "epochs": 1, "image_size": 48,
        "classes_per_batch": 4, "samples_per_domain": 1, "ablation_variants": "full,no_knowledge,frozen"}
BUILD_S = 900  # seconds; the target is 300 on 2 cores, this bound is for a busy CI machine
RAW_MATH = re.compile(r"\$[^$\s][^$\n]*\$|\\\(|\\\[")


def finished_run() -> bool:
    """Whether the build finds a finished synthetic run by itself ($ZSB_BOOK_RUN, or results/synthetic/RUN.txt's)."""
    from sphinx.errors import ConfigError

    from zsb.run.stages import STAGES

    try:
        zsb_book.stage_run(REPO / "results", STAGES)
    except ConfigError:
        return False
    return True


@pytest.fixture(scope="module")
def site(browser, tmp_path_factory, synthetic_env) -> Path:  # noqa: F811
    """The built site: $ZSB_BOOK_HTML, or a fresh ``sphinx-build -W`` (timed) from a finished synthetic run. After
    the browser, so that without one the test is skipped before anything is built."""
    if os.environ.get("ZSB_BOOK_HTML"):
        site = Path(os.environ["ZSB_BOOK_HTML"])
        assert (site / "index.html").is_file(), f"ZSB_BOOK_HTML={site} holds no built site (no index.html)"
        return site
    env = dict(synthetic_env)
    if not finished_run():
        results = tmp_path_factory.mktemp("book-results")
        overrides = [f"--set={name}={value}" for name, value in TINY.items()]
        subprocess.run([sys.executable, "-m", "zsb", "reproduce", "--results", str(results), "--run-id", "book",
                        "--no-progress", *overrides], cwd=REPO, env=env, check=True, timeout=BUILD_S)
        env["ZSB_BOOK_RUN"] = str(results / "synthetic" / "runs" / "book")
    out = tmp_path_factory.mktemp("book") / "html"
    started = time.perf_counter()
    build = subprocess.run([sys.executable, "-m", "sphinx", "-W", "-b", "html", "-q", "docs", str(out)],
                           cwd=REPO, env=env, capture_output=True, text=True, timeout=BUILD_S)
    assert build.returncode == 0, f"sphinx-build -W failed:\n{build.stdout[-4000:]}\n{build.stderr[-6000:]}"
    print(f"\nbook built in {time.perf_counter() - started:.0f} s: {len(list(out.rglob('*.html')))} pages")
    return out


@pytest.fixture(scope="module")
def served(site):
    """The site on 127.0.0.1 (a port of its own), for the module; its base URL."""
    handler = functools.partial(QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class Links(HTMLParser):
    """Every URL a page links to or loads (href, src), and every id it defines."""

    def __init__(self):
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name == "id" and value:
                self.ids.add(value)
            elif name in ("href", "src") and value:
                self.urls.append((tag, name, value))


@functools.cache
def parsed(path: Path) -> Links:
    links = Links()
    links.feed(path.read_text(encoding="utf-8"))
    return links


def test_every_link_of_every_page_resolves_and_nothing_loads_from_another_host(site):
    pages = sorted(p for p in site.rglob("*.html") if p.relative_to(site).parts[0] != "_static")  # theme templates
    assert len(pages) > 20  # the hand-written pages, 8 notebooks, the results and one page per module
    broken, remote = [], []
    for page in pages:
        for tag, attribute, url in parsed(page).urls:
            parts = urlsplit(url)
            if parts.scheme in ("http", "https") or url.startswith("//"):
                if tag != "a":  # a link to the web is fine; loading from it is not
                    remote.append(f"{page.relative_to(site)}: <{tag} {attribute}={url}>")
                continue
            if parts.scheme:  # mailto:, data:
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append(f"{page.relative_to(site)}: {url} (no file)")
            elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in parsed(target).ids:
                broken.append(f"{page.relative_to(site)}: {url} (no id {parts.fragment!r})")
    assert not remote, "pages load from other hosts:\n" + "\n".join(remote[:20])
    assert not broken, f"{len(broken)} links do not resolve:\n" + "\n".join(broken[:30])


def open_page(browser, base: str, path: str):
    """Open ``path`` of the served site, every request from another host recorded and refused; MathJax done."""
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    requests, elsewhere = [], []

    def route(r):
        requests.append(r.request.url)
        if r.request.url.startswith(base) or r.request.url.startswith(("data:", "blob:")):
            r.continue_()
        else:
            elsewhere.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto(base + path, wait_until="load", timeout=120_000)
    if page.locator("script[src*='mathjax']").count():  # Sphinx loads MathJax on the pages that hold math
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=60_000)
        page.evaluate("() => MathJax.startup.promise")
    page.wait_for_load_state("networkidle", timeout=60_000)
    return page, requests, elsewhere


def images_not_shown(page) -> list[str]:
    """The ``img`` elements that do not decode to a picture (natural width 0), after each was loaded eagerly."""
    return page.evaluate("""async () => {
        const images = Array.from(document.images);
        for (const img of images) { img.loading = 'eager'; try { await img.decode(); } catch (e) {} }
        return images.filter(img => !(img.complete && img.naturalWidth > 0)).map(img => img.src);
    }""")


def raw_math(page) -> list[str]:
    """Text of the article, code and preformatted blocks left out, that still reads as TeX source."""
    text = page.evaluate("""() => {
        const article = document.querySelector('article').cloneNode(true);
        article.querySelectorAll('pre, code, script, mjx-container, .output').forEach(e => e.remove());
        return article.innerText;
    }""")
    return RAW_MATH.findall(text)


def check_page(browser, served, path: str, shot: str, scroll_to: str, equations: bool) -> int:
    """Open, check figures, equations (rendered where ``equations``, none left raw) and requests, screenshot (a
    view and the full page); the number of images."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page, requests, elsewhere = open_page(browser, served, path)
    try:
        images = page.locator("article img").count()
        assert images > 0
        assert images_not_shown(page) == []
        assert (page.locator("article mjx-container").count() > 0) == equations
        assert raw_math(page) == []
        assert page.locator("mjx-merror").count() == 0, "MathJax could not parse an equation"
        page.locator(scroll_to).first.evaluate("e => e.scrollIntoView({block: 'start'})")
        page.screenshot(path=str(ARTIFACTS / f"{shot}.png"))
        page.screenshot(path=str(ARTIFACTS / f"{shot}-full.png"), full_page=True)
        print(f"\nscreenshots: {ARTIFACTS / shot}.png, {ARTIFACTS / shot}-full.png ({len(requests)} requests)")
    except Exception:
        page.screenshot(path=str(ARTIFACTS / f"{shot}-failed.png"), full_page=True)
        raise
    finally:
        page.close()
    assert elsewhere == [], f"requests that left the machine: {elsewhere}"
    assert all(url.startswith(served) or url.startswith(("data:", "blob:")) for url in requests)
    return images


def test_walkthrough_page_shows_its_figures_and_equations(browser, served):
    images = check_page(browser, served, WALKTHROUGH, "walkthrough", "#the-domain-balanced-quadruplet",
                        equations=True)
    assert images >= 5  # the walkthrough draws at least five figures


def test_claims_page_shows_the_gains_figure(browser, served):
    page = browser.new_page()
    try:
        page.goto(served + CLAIMS)
        assert page.locator("article img[src$='gains.png']").count() == 1
    finally:
        page.close()
    check_page(browser, served, CLAIMS, "claims", "img[src$='gains.png']", equations=False)


def test_stage_notebooks_name_the_run_they_come_from_and_show_its_figures(site):
    index = (site / "_generated/notebooks/index.html").read_text()
    (run_id,) = re.findall(r"run folder\s*<code[^>]*><span[^>]*>([^<]+)</span>", index)
    for stage in ("01_data", "02_knowledge", "03_train", "04_evaluate", "05_tsne", "06_ablation", "07_search"):
        page = (site / f"_generated/notebooks/{stage}.html").read_text()
        assert f"/{run_id}" in page  # the run_dir its parameters cell was given
        assert "<img" in page, f"{stage} shows no figure"  # each draws at least one, kept in the executed copy


# The build's own checks, without a browser or a build.

def test_without_a_finished_run_the_build_says_how_to_make_one(tmp_path, monkeypatch):
    from sphinx.errors import ConfigError

    from zsb.run.stages import STAGES

    monkeypatch.delenv("ZSB_BOOK_RUN", raising=False)
    with pytest.raises(ConfigError, match=r"names none; run `zsb reproduce`"):
        zsb_book.stage_run(tmp_path, STAGES)
    run = tmp_path / "synthetic" / "runs" / "r1"
    (run / "notebooks").mkdir(parents=True)
    (run / "stages").mkdir()
    for stage in list(STAGES)[:-1]:  # the last stage never finished
        (run / "notebooks" / f"{stage}.ipynb").write_text("{}")
        (run / "stages" / f"{stage}.json").write_text("{}")
    (tmp_path / "synthetic" / "RUN.txt").write_text("copied from runs/r1\n")
    with pytest.raises(ConfigError, match=rf"lacks the executed {list(STAGES)[-1]}; run `zsb reproduce`"):
        zsb_book.stage_run(tmp_path, STAGES)
    (run / "notebooks" / f"{list(STAGES)[-1]}.ipynb").write_text("{}")
    (run / "stages" / f"{list(STAGES)[-1]}.json").write_text("{}")
    assert zsb_book.stage_run(tmp_path, STAGES) == run.resolve()
    monkeypatch.setenv("ZSB_BOOK_RUN", str(tmp_path / "elsewhere"))
    with pytest.raises(ConfigError, match="ZSB_BOOK_RUN="):
        zsb_book.stage_run(tmp_path, STAGES)


def test_mathjax_is_checked_against_the_release_digest(tmp_path):
    import hashlib
    import importlib.metadata

    dist, folder = zsb_book.MATHJAX_DIST
    root = Path(importlib.metadata.distribution(dist).locate_file(folder))
    files = zsb_book.mathjax_files(root)
    assert "tex-chtml.js" in files and any(f.endswith(".woff") for f in files)
    assert zsb_book.files_digest(root, files) == zsb_book.MATHJAX_SHA256
    copy = tmp_path / "mathjax"
    for name in files:
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_bytes((root / name).read_bytes())
    reference = hashlib.sha256()  # the digest spelt out: path, NUL, SHA-256 of the content, file after file
    for name in sorted(files):
        reference.update(name.encode() + b"\0" + hashlib.sha256((copy / name).read_bytes()).digest())
    assert zsb_book.files_digest(copy, files) == reference.hexdigest() == zsb_book.MATHJAX_SHA256
    (copy / "tex-chtml.js").write_bytes((copy / "tex-chtml.js").read_bytes() + b"\n")
    assert zsb_book.files_digest(copy, files) != zsb_book.MATHJAX_SHA256


def test_bibtex_entries_carry_the_fields_of_citation_cff():
    import yaml

    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    paper = zsb_book.bibtex(cff["preferred-citation"])
    assert paper.startswith("@article{tursun2022,")
    authors = "Tursun, Osman and Denman, Simon and Sridharan, Sridha and Goan, Ethan and Fookes, Clinton"
    assert f"author = {{{authors}}}" in paper
    assert "doi = {10.1016/j.patcog.2022.108528}" in paper and "pages = {108528}" in paper
    software = zsb_book.bibtex(cff, software=True)
    assert software.startswith("@software{zsb,") and f"version = {{{cff['version']}}}" in software
    kinds = [zsb_book.bibtex(r).split("{")[0] for r in cff["references"]]
    assert kinds == ["@" + {"article": "article", "conference-paper": "inproceedings"}[r["type"]]
                     for r in cff["references"]]


def test_a_docstring_that_is_not_clean_rest_is_shown_as_written():
    from types import SimpleNamespace

    app = SimpleNamespace(env=None)  # no Sphinx roles in these docstrings
    clean = ["Rank the gallery.", "", "* ``embeddings`` are unit vectors;", "* ``labels`` are class indices."]
    kept = list(clean)
    zsb_book.plain_unless_rst(app, "function", "f", None, {}, kept)
    assert kept == clean
    messy = ["Rank the gallery.", "  an indented line that reST reads as a block quote", "and |P| pairs."]
    shown = list(messy)
    zsb_book.plain_unless_rst(app, "function", "f", None, {}, shown)
    assert shown == ["::", "", *("    " + line for line in messy), ""]
    assert zsb_book.rst_problems(app, "\n".join(messy))
