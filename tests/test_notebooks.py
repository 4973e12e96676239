"""Notebook hygiene: committed without outputs, one literal-only parameters cell, kernel python3, and every
parameter name known to the run configuration or used by the notebook itself."""

import ast
from pathlib import Path

import nbformat
import pytest

from zsb.config import FIELD_TYPES

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_every_stage_has_a_notebook():
    from zsb.run.stages import STAGES

    names = {p.stem for p in NOTEBOOKS}
    assert set(STAGES) | {"00_walkthrough"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_clean(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} has outputs"
            assert cell.execution_count is None, f"{path.name} has execution counts"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: {len(tagged)} parameters cells"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_are_literals_with_comments(path):
    nb = nbformat.read(path, as_version=4)
    (cell,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    tree = ast.parse(cell.source)
    for node in tree.body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, f"{path.name}: only `name = literal` lines"
        ast.literal_eval(node.value)  # raises for anything derived
    for line in cell.source.splitlines():
        if "=" in line.split("#")[0]:
            assert "#" in line, f"{path.name}: parameter line without a comment: {line!r}"


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.stem != "00_walkthrough"], ids=lambda p: p.stem)
def test_papermill_sees_every_parameter(path):
    """papermill's inspection must parse every line (a comment it cannot parse hides the parameter)."""
    import papermill

    nb = nbformat.read(path, as_version=4)
    (cell,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    declared = {node.targets[0].id for node in ast.parse(cell.source).body}
    inspected = set(papermill.inspect_notebook(str(path)))
    assert inspected == declared
    run_fields = {n for n in declared if n in FIELD_TYPES}
    assert "run_dir" in declared and "benchmark" in run_fields


def test_walkthrough_runs_under_papermill(tmp_path, synthetic_env):
    """The teaching notebook imports zsb's internals: executing it catches any change that breaks it."""
    import subprocess
    import sys

    output = tmp_path / "00_walkthrough.ipynb"
    done = subprocess.run(
        [sys.executable, "-m", "papermill", str(NOTEBOOKS[0]), str(output), "-p", "progress", "False"],
        cwd=tmp_path, env=synthetic_env, capture_output=True, text=True, timeout=600,
    )
    assert NOTEBOOKS[0].stem == "00_walkthrough"
    assert done.returncode == 0, done.stderr[-3000:]
    executed = nbformat.read(output, as_version=4)
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    assert any("DomainBalancedQuadrupletLoss" in "".join(o.get("text", "")) for c in executed.cells
               if c.cell_type == "code" for o in c.outputs)


def test_stage_kernels_are_shut_down_without_an_interrupt():
    """The kernel manager that runs the stages asks the kernel to shut down without first sending it SIGINT (which
    made an idle kernel log "KeyboardInterrupt caught in kernel." when it landed during its last reply); an
    interrupt asked for explicitly is still sent."""
    import asyncio
    import signal

    from zsb.driver.notebooks import quiet_kernel_kwargs

    manager = quiet_kernel_kwargs()["kernel_manager_class"](kernel_name="python3")
    sent = []
    signal_kernel = manager._async_signal_kernel

    async def record(signum):
        sent.append(signum)
        await signal_kernel(signum)

    manager._async_signal_kernel = record

    async def start_interrupt_and_shut_down():
        await manager.start_kernel()
        await manager._async_interrupt_kernel()
        assert sent == [signal.SIGINT]
        await manager.shutdown_kernel()

    asyncio.run(start_interrupt_and_shut_down())
    assert sent == [signal.SIGINT] and not manager.has_kernel
