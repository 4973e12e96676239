"""The book's generated sources, laid out in ``docs/_generated/`` before Sphinx reads any page.

Nothing here is copied by hand: every generated page is rebuilt at each build from the files it shows.

* ``notebooks/``: the walkthrough ``00_walkthrough`` and ``07_search``, executed at build time by myst-nb, and the
  stage notebooks ``01_data`` ... ``06_ablation`` as ``zsb reproduce`` executed them in a finished synthetic run
  folder (``$ZSB_BOOK_RUN``, else the run ``results/synthetic/RUN.txt`` names), never executed twice.
* ``results/``: the benchmark tables (:func:`zsb.report.publish.benchmark_markdown`) and figures of every
  published results folder, and the campaign, backbone-ladder and validation-search READMEs with their figures.
* ``api/``: one page per public module of ``zsb``, from its docstrings (autodoc).
* ``cite.md``: README's "Citing, licences and data" section, BibTeX entries made from ``CITATION.cff``, the licence.
* ``static/mathjax/``: MathJax 3.2.2 (the ``sphinx-mathjax-offline`` wheel), its files checked against the digest
  of the release, so that equations render without a network.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import pkgutil
import re
from pathlib import Path

import nbformat
import yaml
from sphinx.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
GENERATED = "_generated"
RUN_ENV = "ZSB_BOOK_RUN"
# The results READMEs the book shows, each with the figures of its folder: (page, folder under results/, title).
RESULT_READMES = (
    ("campaign", "sketchy_mini/campaign", "The paper's claims: the seeds-and-claims campaign"),
    ("backbone_ladder", "sketchy_mini/backbone_ladder", "The backbone ladder"),
    ("validation_search", "sketchy_mini/validation_search", "The validation search"),
)
# MathJax files the pages load: the TeX-to-CommonHTML component, its fonts, and what it loads on demand (TeX
# extensions, the context menu, the assistive MathML). MATHJAX_SHA256 digests them as npm's mathjax 3.2.2 has them.
MATHJAX_DIST = ("sphinx-mathjax-offline", "sphinx-mathjax-offline/static/mathjax")
MATHJAX_FILES = ("tex-chtml.js", "output/chtml/fonts/woff-v2", "input/tex/extensions", "ui", "a11y")
MATHJAX_SHA256 = "3f92e632a2bdd560a04eff10ae0c112491f310e6a2f37aa97965a60e0b068171"
MAKE_A_RUN = ("run `zsb reproduce` (the synthetic benchmark, about 4 minutes on 2 CPU cores), or point "
              f"{RUN_ENV} at the folder of a finished synthetic run (results/synthetic/runs/<run_id>)")


def setup(app):
    app.connect("config-inited", lambda app, config: generate(Path(app.srcdir) / GENERATED))
    app.connect("autodoc-process-docstring", plain_unless_rst)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def plain_unless_rst(app, what, name, obj, options, lines) -> None:
    """Show a docstring as preformatted text where it does not parse as reStructuredText without a warning.

    zsb's docstrings are written to be read in the source and in ``help()``, and use reST inline markup
    (double back-quotes, ``:func:`` roles) without following its block rules; shown as written, they say the same,
    and the API reference cannot fail the ``-W`` build over an indented continuation line."""
    if lines and rst_problems(app, "\n".join(lines)):
        lines[:] = ["::", "", *(f"    {line}" for line in lines), ""]


def rst_problems(app, text: str) -> list[str]:
    """The warnings and errors docutils reports for ``text`` as reST, and undefined substitutions (``|P|``)."""
    from docutils import nodes
    from docutils.frontend import get_default_settings
    from docutils.parsers.rst import Parser
    from docutils.utils import new_document

    settings = get_default_settings(Parser)
    settings.report_level, settings.halt_level, settings.env = 5, 5, app.env
    document = new_document("<docstring>", settings)
    problems: list[str] = []
    document.reporter.attach_observer(lambda message: message["level"] >= 2 and problems.append(message.astext()))
    Parser().parse(text, document)
    problems += [node.astext() for node in document.findall(nodes.substitution_reference)]
    return problems


def generate(out: Path) -> None:
    """Every generated source of the book, under ``out``; files whose content is unchanged keep their time stamp,
    so that an incremental build reads only what changed."""
    from zsb.run.stages import STAGES

    run_dir = stage_run(REPO / "results", STAGES)
    print(f"zsb book: stage notebooks from {run_dir}")
    written = set()
    written |= notebook_pages(out / "notebooks", run_dir, STAGES)
    written |= results_pages(out / "results", REPO / "results")
    written |= api_pages(out / "api")
    written |= cite_page(out)
    written |= first_hour_page(out)
    written |= mathjax(out / "static" / "mathjax")
    for path in sorted(out.rglob("*"), reverse=True):  # what an earlier build generated and this one did not
        if path.is_file() and path not in written:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def write(path: Path, content: str | bytes) -> Path:
    data = content.encode() if isinstance(content, str) else content
    if not path.is_file() or path.read_bytes() != data:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return path


def stage_run(results_root: Path, stages) -> Path:
    """The finished synthetic run whose executed stage notebooks the book shows: ``$ZSB_BOOK_RUN``, else the run
    that ``results/synthetic/RUN.txt`` says the published synthetic results were copied from."""
    from zsb.artifacts import RunFolder

    if os.environ.get(RUN_ENV):
        run_dir, named = Path(os.environ[RUN_ENV]).resolve(), f"{RUN_ENV}={os.environ[RUN_ENV]}"
    else:
        published = results_root / "synthetic"
        line = (published / "RUN.txt").read_text().strip() if (published / "RUN.txt").is_file() else ""
        if not line.startswith("copied from "):
            raise ConfigError(f"the book shows the stage notebooks of a synthetic run, but {published / 'RUN.txt'} "
                              f"names none; {MAKE_A_RUN}")
        run_dir = (published / line.removeprefix("copied from ")).resolve()
        named = f"{published / 'RUN.txt'}"
    folder = RunFolder(run_dir)
    missing = [stage for stage in stages if not (folder.notebook(stage).is_file() and folder.marker(stage).is_file())]
    if missing:
        raise ConfigError(f"the book shows the stage notebooks of a finished synthetic run, but {run_dir} (from "
                          f"{named}) lacks the executed {', '.join(missing)}; {MAKE_A_RUN}")
    return run_dir


def notebook_pages(out: Path, run_dir: Path, stages) -> set[Path]:
    """The executed notebooks and their index page (which names the run the stage notebooks come from)."""
    import json

    written = set()
    walkthrough = nbformat.read(REPO / "notebooks" / "00_walkthrough.ipynb", as_version=4)
    set_parameters(walkthrough, progress=False)  # plain output: no progress bar in a static page
    written.add(write(out / "00_walkthrough.ipynb", executed_at_build(walkthrough)))
    for stage in stages:
        written.add(write(out / f"{stage}.ipynb", (run_dir / "notebooks" / f"{stage}.ipynb").read_bytes()))
    search = nbformat.read(REPO / "notebooks" / "07_search.ipynb", as_version=4)
    set_parameters(search, run_dir=str(run_dir), progress=False)
    for cell in search.cells:  # the drawing pad is live only in Jupyter: a static page shows its code
        if "drawing_pad(" in cell.source:
            cell.metadata.setdefault("tags", []).append("remove-output")
    written.add(write(out / "07_search.ipynb", executed_at_build(search)))

    config = json.loads((run_dir / "config.json").read_text())
    cpu = config.get("machine", {}).get("gpu") or config.get("machine", {}).get("cpu", "an unrecorded machine")
    pages = ["00_walkthrough", *stages, "07_search"]
    written.add(write(out / "index.md", "\n".join([
        "# The notebooks, executed",
        "",
        "`00_walkthrough` and `07_search` are executed while the book is built. The stage notebooks `01_data` to "
        f"`06_ablation` are the copies that `zsb reproduce` executed on the synthetic benchmark in the run folder "
        f"`{run_dir.name}` (code at commit `{(config.get('git_commit') or 'unknown')[:12]}`, on {cpu}); "
        "`07_search` searches with that run's model. The repository keeps the notebooks without outputs; "
        "run them yourself with `zsb reproduce` or papermill.",
        "",
        "```{toctree}",
        ":maxdepth: 1",
        "",
        *pages,
        "```",
        "",
    ])))
    return written


def set_parameters(nb, **values) -> None:
    """Override parameters of a notebook's ``parameters`` cell, as papermill does: assignments after it."""
    (cell,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    cell.source += "\n" + "\n".join(f"{name} = {value!r}  # set by the book's build" for name, value in values.items())


def executed_at_build(nb) -> str:
    """The notebook, marked for myst-nb to execute, its figures inline whatever MPLBACKEND the build has (a hidden
    first cell)."""
    nb.metadata["mystnb"] = {"execution_mode": "force"}
    inline = nbformat.v4.new_code_cell("%matplotlib inline", metadata={"tags": ["remove-cell"]})
    inline.id = "zsb-book-inline"  # fixed: an unchanged notebook is not read, nor executed, again
    nb.cells.insert(0, inline)
    return nbformat.writes(nb)


def results_pages(out: Path, results_root: Path) -> set[Path]:
    """The benchmark tables and figures of every published results folder, and the results READMEs."""
    from zsb.report.publish import benchmark_markdown, published_folders

    written = set()
    lines = ["# Benchmark tables", "",
             "Generated from the published results folders under `results/` (each holds the tables and figures "
             "of one finished run, copied by `zsb reproduce`). The same text is the README's results section.", ""]
    for bench_dir in published_folders(results_root):
        name = bench_dir.relative_to(results_root).as_posix()
        lines += [f"## {name}", "", *benchmark_markdown(bench_dir, results_root), ""]
        for figure in sorted(bench_dir.glob("*.png")):
            target = write(out / "figures" / name / figure.name, figure.read_bytes())
            written.add(target)
            lines += [f"```{{figure}} figures/{name}/{figure.name}", f":alt: {name}: {figure.stem}", "",
                      f"`{name}/{figure.name}`", "```", ""]
    written.add(write(out / "benchmarks.md", "\n".join(lines)))
    for page, folder, title in RESULT_READMES:
        source = results_root / folder
        text = (source / "README.md").read_text()
        body = re.sub(r"\A# [^\n]*\n", "", text)  # the page's own title replaces the README's first heading
        written.add(write(out / page / "index.md", f"# {title}\n\n_Generated from `results/{folder}/README.md`._\n"
                                                     f"\n{body}"))
        for figure in sorted(source.glob("*.png")):
            written.add(write(out / page / figure.name, figure.read_bytes()))
        for other in sorted(set(source.glob("*.md")) - {source / "README.md"}):  # documents its README links to
            if other.read_text().startswith("# "):  # a document with a title (not a bare table)
                written.add(write(out / page / other.name, f"---\norphan: true\n---\n\n{other.read_text()}"))
    toc = ["benchmarks", *(f"{page}/index" for page, _, _ in RESULT_READMES)]
    written.add(write(out / "index.md", "\n".join([
        "# Results", "", "Every page here is generated from the files under `results/` at each build.", "",
        "```{toctree}", ":maxdepth: 1", "", *toc, "```", ""])))
    return written


def public_modules() -> list[str]:
    """Every module of the zsb package whose dotted name has no part starting with an underscore."""
    import zsb

    names = [info.name for info in pkgutil.walk_packages(zsb.__path__, "zsb.")]
    return ["zsb", *sorted(n for n in names if not any(part.startswith("_") for part in n.split(".")))]


def api_pages(out: Path) -> set[Path]:
    written = set()
    modules = public_modules()
    for module in modules:
        written.add(write(out / f"{module}.md", "\n".join([
            f"# `{module}`", "", "```{eval-rst}", f".. automodule:: {module}", "   :members:",
            "   :show-inheritance:", "```", ""])))
    written.add(write(out / "index.md", "\n".join([
        "# API reference", "", "From the docstrings of the package's modules.", "",
        "```{toctree}", ":maxdepth: 1", "", *modules, "```", ""])))
    return written


def readme_section(heading: str) -> str:
    """The text of README.md's section ``## heading`` (to the next section), so that the book says it once."""
    readme = (REPO / "README.md").read_text()
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", readme, flags=re.S | re.M)
    if not match:
        raise ConfigError(f"README.md has no section '## {heading}' for the book")
    return match.group(1).strip()


def first_hour_page(out: Path) -> set[Path]:
    """README's "Your first hour": from a fresh clone to a sketch searching real photos."""
    return {write(out / "first-hour.md", "\n".join([
        "# Your first hour", "", "_From README.md._", "", readme_section("Your first hour"), "",
        "For a class on the synthetic benchmark, without a download: [a classroom hour](../classroom.md).", ""]))}


def cite_page(out: Path) -> set[Path]:
    """README's section on citing, licences and data; BibTeX for the entries of CITATION.cff; the licence."""
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    entries = [bibtex(cff["preferred-citation"]), bibtex(cff, software=True),
               *(bibtex(reference) for reference in cff.get("references", []))]
    return {write(out / "cite.md", "\n".join([
        "# How to cite, licences and data", "", "_From README.md and CITATION.cff._", "",
        readme_section("Citing, licences and data"), "", "## BibTeX", "",
        "The entries of `CITATION.cff`: the paper, zsb itself, and the datasets.", "",
        "```bibtex", "\n\n".join(entries), "```", "", "## Licence", "", "```text",
        (REPO / "LICENSE").read_text().strip(), "```", ""]))}


def bibtex(entry: dict, software: bool = False) -> str:
    """One BibTeX entry for a CITATION.cff entry (the fields it has)."""
    kinds = {"article": "article", "conference-paper": "inproceedings", "software": "software"}
    names = [a.get("name") or f"{a['family-names']}, {a['given-names']}" for a in entry["authors"]]
    first = re.sub(r"\W", "", (entry["authors"][0].get("family-names") or "zsb").lower())
    fields = {"title": entry["title"], "author": " and ".join(names), "journal": entry.get("journal"),
              "booktitle": entry.get("collection-title"), "volume": entry.get("volume"),
              "number": entry.get("issue"), "pages": entry.get("start"), "year": entry.get("year"),
              "version": entry.get("version") if software else None, "doi": entry.get("doi")}
    key = f"{first}{entry.get('year', '')}" if not software else "zsb"
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields.items() if value is not None)
    return f"@{kinds['software' if software else entry['type']]}{{{key},\n{body}\n}}"


def mathjax(out: Path) -> set[Path]:
    """Copy the MathJax files the pages load, after checking them against the release's digest."""
    dist, folder = MATHJAX_DIST
    try:
        root = Path(importlib.metadata.distribution(dist).locate_file(folder))
    except importlib.metadata.PackageNotFoundError:
        raise ConfigError(f"the book renders equations with a local MathJax from the {dist} package: "
                          'pip install -e ".[dev]"') from None
    files = mathjax_files(root)
    digest = files_digest(root, files)
    if digest != MATHJAX_SHA256:
        raise ConfigError(f"MathJax in {root} is not the release the book expects (SHA-256 {digest}, expected "
                          f"{MATHJAX_SHA256}): reinstall it with pip install --force-reinstall {dist}")
    return {write(out / path, (root / path).read_bytes()) for path in files}


def mathjax_files(root: Path) -> list[str]:
    """The files of MATHJAX_FILES under ``root``, as sorted relative POSIX paths."""
    found = []
    for name in MATHJAX_FILES:
        path = root / name
        found += [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
    return sorted(p.relative_to(root).as_posix() for p in found)


def files_digest(root: Path, files: list[str]) -> str:
    """SHA-256 over each file's relative path and content, in order."""
    sha = hashlib.sha256()
    for name in files:
        sha.update(name.encode() + b"\0" + hashlib.sha256((root / name).read_bytes()).digest())
    return sha.hexdigest()
