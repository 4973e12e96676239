"""The stage notebooks as papermill sees them: their parameters cells, and their execution.

A stage notebook's ``parameters`` cell declares ``run_dir``, then one line per RunConfig field that its outputs
depend on (the parameters of its artifacts, :data:`zsb.run.stages.STAGES`, plus the execution-only ones), each
``None`` (inherit) with the field's description as its comment, then the notebook's own parameters (figure sizes
and the like). The RunConfig lines are generated from the declarations in :mod:`zsb.config`:
``python -m zsb.driver.notebooks`` rewrites them, and a test checks that every notebook is up to date.

Kernels start with CurveZMQ transport encryption where the installed packages can provide it
(:func:`quiet_kernel_kwargs`), which is also what silences ipykernel's "Kernel is running over TCP without
encryption" warning in every stage's output. Since ipykernel 7.4 a plain-TCP kernel logs that warning on its
stderr; jupyter_client >= 8.10 can provision CurveZMQ keys for the kernels it starts
(``KernelManager.transport_encryption``): with ``"auto"`` it does so when the kernelspec declares
``"supported_encryption": ["curve"]`` (ipykernel >= 7.4 writes that into the kernelspecs it installs). The kernel
still runs on loopback TCP and executes code exactly as before; no log level is lowered and no output is filtered.
papermill hands unknown keyword arguments to nbclient, whose kernel manager takes them as traitlets ``config``.
"auto", not "required": a kernelspec without Curve support keeps plain TCP (and its warning) rather than failing.

The kernel is shut down without the interrupt (SIGINT) that jupyter_client sends first (:func:`quiet_shutdown_manager`):
the notebook has finished, so there is nothing to interrupt, and a SIGINT that lands while the kernel is still
finishing its last reply made it log "KeyboardInterrupt caught in kernel." in the stage's output.
"""

from __future__ import annotations

import ast
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from zsb.config import (
    DOCS, EXECUTION_ONLY, FIELD_TYPES, parameters_of, parse_string, type_error_message, unknown_name_message,
)
from zsb.errors import ConfigError, ZSBError
from zsb.run.stages import STAGES

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent.parent / "notebooks"
INHERIT_COMMENT = "# None means inherit: the run folder's config.json, else the benchmark's preset in zsb/config.py"
RUN_DIR_LINE = 'run_dir = ""  # run folder; empty means results/<benchmark>/runs/notebook'


class StageFailed(ZSBError):
    """A stage notebook raised; the message names the executed notebook and the failing cell's error."""


def notebook_path(stage: str) -> Path:
    path = NOTEBOOK_DIR / f"{stage}.ipynb"
    if not path.is_file():
        raise ZSBError(f"stage notebook {path} is missing; zsb must be installed from a checkout (pip install -e .)")
    return path


def stage_run_parameters(stage: str) -> tuple[str, ...]:
    """The RunConfig fields stage notebook ``stage`` declares: those its artifacts depend on, then execution."""
    return parameters_of(*STAGES[stage]) + EXECUTION_ONLY


def parameters_cell(stage: str, own_lines: list[str]) -> str:
    """The source of ``stage``'s parameters cell: the generated RunConfig lines, then the notebook's ``own_lines``."""
    lines = [INHERIT_COMMENT, RUN_DIR_LINE]
    lines += [f"{name} = None  # {DOCS[name]}" for name in stage_run_parameters(stage)]
    return "\n".join(lines + own_lines)


def own_parameter_lines(source: str) -> list[str]:
    """The lines of a parameters cell that declare the notebook's own parameters (not run_dir, not RunConfig)."""
    own = []
    for line in source.splitlines():
        name = line.split("=")[0].strip()
        if "=" in line.split("#")[0] and name != "run_dir" and name not in FIELD_TYPES:
            own.append(line)
    return own


@lru_cache(maxsize=None)
def notebook_parameters(stage: str) -> dict[str, dict[str, Any]]:
    """The parameters a stage notebook declares, as papermill's inspection reports them."""
    import papermill

    return dict(papermill.inspect_notebook(str(notebook_path(stage))))


def notebook_only_parameters(overrides: Mapping[str, Any]) -> tuple[dict, dict]:
    """Separate run parameters (RunConfig fields) from the notebooks' own parameters (figures, resume, ...),
    typed like their defaults. An unknown or mistyped name is an error."""
    known: dict[str, dict[str, Any]] = {}
    for stage in STAGES:
        known.update(notebook_parameters(stage))
    known.pop("run_dir", None)
    run_params, notebook_only = {}, {}
    for name, value in overrides.items():
        if name in FIELD_TYPES:
            run_params[name] = value
        elif name in known:
            notebook_only[name] = _coerce_like_default(name, value, known[name]["default"])
        else:
            raise ConfigError(unknown_name_message(name, {**known, **FIELD_TYPES}))
    return run_params, notebook_only


def _coerce_like_default(name: str, value: Any, default_source: str) -> Any:
    """Give a notebook-only parameter the type of its literal default (``"5"`` -> 5 when the default is 4)."""
    default = ast.literal_eval(default_source)
    if default is None:
        return value
    kind = type(default)
    if isinstance(value, str) and kind is not str:
        return parse_string(name, value, kind, example=default)
    if kind is float and type(value) is int:
        return float(value)
    if type(value) is not kind:
        raise ConfigError(type_error_message(name, value, kind, default))
    return value


def _no_kernel_message(kernel: str) -> str:
    from jupyter_client.kernelspec import KernelSpecManager

    try:
        installed = ", ".join(sorted(KernelSpecManager().find_kernel_specs())) or "none"
    except Exception:  # the listing is only a hint
        installed = "see `jupyter kernelspec list`"
    return (
        f"the Jupyter kernel {kernel!r} is not installed (installed kernels: {installed}). Pass --kernel with one of "
        f"them, or install it with `python -m ipykernel install --user --name {kernel}`."
    )


def check_kernel(kernel: str) -> None:
    """ZSBError when papermill could not start the Jupyter kernel ``kernel``."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(kernel)
    except NoSuchKernel:
        raise ZSBError(_no_kernel_message(kernel)) from None


def execute_stage(stage: str, output: Path, parameters: dict[str, Any], kernel: str) -> Path:
    """Execute one stage notebook with papermill into ``output``; raise StageFailed on error."""
    import papermill
    from jupyter_client.kernelspec import NoSuchKernel

    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        papermill.execute_notebook(
            str(notebook_path(stage)),
            str(output),
            parameters=parameters,
            kernel_name=kernel,
            progress_bar=False,
            stdout_file=sys.stdout,
            cwd=str(Path.cwd()),
            extra_arguments=["--matplotlib=inline"],  # figures kept in the executed copy, whatever MPLBACKEND says
            **quiet_kernel_kwargs(),
        )
    except NoSuchKernel:
        raise ZSBError(_no_kernel_message(kernel)) from None
    except papermill.PapermillExecutionError as e:
        raise StageFailed(
            f"stage {stage} failed in cell {e.exec_count} of {output}:\n  {e.ename}: {e.evalue}\n"
            f"Open the executed notebook for the full traceback. Earlier stages' outputs are intact."
        ) from None
    return output


def quiet_kernel_kwargs() -> dict[str, Any]:
    """Keyword arguments for ``papermill.execute_notebook`` that shut the kernel down without interrupting it
    (:func:`quiet_shutdown_manager`) and start it with CurveZMQ transport encryption where pyzmq and jupyter_client can
    encrypt (see the module docstring)."""
    import zmq
    from jupyter_client.manager import KernelManager
    from traitlets.config import Config

    kwargs: dict[str, Any] = {"kernel_manager_class": quiet_shutdown_manager()}
    if zmq.has("curve") and KernelManager.class_traits().get("transport_encryption"):
        kwargs["config"] = Config({"KernelManager": {"transport_encryption": "auto"}})
    return kwargs


@lru_cache(maxsize=None)
def quiet_shutdown_manager() -> type:
    """nbclient's kernel manager, less the interrupt that precedes a shutdown (see the module docstring); an
    interrupt asked for otherwise (a cell's timeout) is sent as before."""
    from jupyter_client.manager import AsyncKernelManager

    class QuietShutdown(AsyncKernelManager):
        async def _async_interrupt_kernel(self) -> None:
            if not getattr(self, "shutting_down", False):
                await super()._async_interrupt_kernel()

    return QuietShutdown


def write_parameters_cells() -> list[Path]:
    """Regenerate the RunConfig lines of every stage notebook's parameters cell; return the notebooks changed."""
    import nbformat

    changed = []
    for stage in STAGES:
        path = notebook_path(stage)
        nb = nbformat.read(path, as_version=4)
        (cell,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        source = parameters_cell(stage, own_parameter_lines(cell.source))
        if source != cell.source:
            cell.source = source
            nbformat.write(nb, path)
            changed.append(path)
    return changed


if __name__ == "__main__":
    for changed_path in write_parameters_cells():
        print(f"rewrote the parameters cell of {changed_path}")
