"""The package's import graph reads one way: no module of ``zsb/`` reaches itself through imports (those inside
functions and under ``TYPE_CHECKING`` count), and the method's modules import nothing of the pipeline above them."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
METHOD = ("losses", "metrics", "model", "backbones", "knowledge", "binary", "stats")
PIPELINE = ("artifacts", "config", "run", "driver", "distributed")


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted((ROOT / "zsb").rglob("*.py"))}


def imported(path: Path, modules: dict[str, Path], root: Path = ROOT) -> set[str]:
    """The modules of ``zsb`` (under ``root``) that the file at ``path`` imports anywhere in its text: ``from a import
    b`` names the module ``a.b`` where that is a module, else ``a``."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {name for name in found if name in modules}


def import_graph() -> dict[str, set[str]]:
    modules = package_modules()
    return {name: imported(path, modules) - {name} for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of its modules (the first repeated at the end), or None: a plain depth-first
    search that keeps the path it is on."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return path[path.index(node):] + [node]
        if node in done:
            return None
        for target in sorted(graph[node]):
            cycle = visit(target, path + [node])
            if cycle:
                return cycle
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = visit(start, [])
        if cycle:
            return cycle
    return None


def test_the_cycle_search_finds_a_planted_cycle_and_passes_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_import_reader_sees_imports_inside_functions_and_under_type_checking(tmp_path):
    source = tmp_path / "zsb" / "m.py"
    source.parent.mkdir()
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from zsb.a import X\n"
                      "def f():\n    from zsb import b\n    import zsb.c\n")
    modules = {"zsb.a": None, "zsb.b": None, "zsb.c": None, "zsb": None}
    assert imported(source, modules, tmp_path) == {"zsb.a", "zsb.b", "zsb.c"}


def test_no_module_of_zsb_reaches_itself_through_imports():
    assert find_cycle(import_graph()) is None


@pytest.mark.parametrize("method", METHOD)
def test_the_method_modules_import_nothing_of_the_pipeline(method):
    above = {name for name in import_graph()[f"zsb.{method}"]
             if name.split(".")[1] in PIPELINE}
    assert not above, f"zsb.{method} imports {sorted(above)}"


def test_no_module_of_zsb_is_over_500_lines():
    lengths = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in package_modules().items()}
    assert not {name: n for name, n in lengths.items() if n > 500}
