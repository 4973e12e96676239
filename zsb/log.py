"""Operational messages: one channel, the ``zsb`` logger, printed as plain lines on standard output.

Every module logs through ``get_logger(__name__)``: the driver's stage lines, cache reuse, the JSON line of each
training epoch. Progress bars stay tqdm (standard error). Library functions that find something wrong with the data
warn with :mod:`warnings`, so that a caller can filter or test them; the command line shows those warnings on the
same channel (:func:`capture_warnings`). Errors are never logged: they are raised, and the command line prints them.
"""

from __future__ import annotations

import logging
import sys

ROOT = "zsb"


class _CurrentStdout(logging.Handler):
    """A handler that writes to whatever ``sys.stdout`` is when a record is emitted (a notebook kernel, a test's
    captured output, a redirected terminal), flushing every line."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record) + "\n")
            sys.stdout.flush()
        except Exception:
            self.handleError(record)


def get_logger(name: str) -> logging.Logger:
    """The logger of zsb module ``name``; the ``zsb`` channel is set up on first use."""
    root = logging.getLogger(ROOT)
    if not any(isinstance(h, _CurrentStdout) for h in root.handlers):
        handler = _CurrentStdout()
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
    return logging.getLogger(name if name.startswith(ROOT) else f"{ROOT}.{name}")


def capture_warnings() -> None:
    """Show Python warnings raised in this process as ``warning: <message>`` lines on the zsb channel."""
    logging.captureWarnings(True)
    channel = get_logger("zsb.warnings")
    py_warnings = logging.getLogger("py.warnings")

    class _ToChannel(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            first_line = (record.getMessage().strip().splitlines() or [""])[0]  # "file:line: Category: text"
            channel.warning("warning: %s", first_line.split("Warning: ", 1)[-1])

    if not any(type(h).__name__ == "_ToChannel" for h in py_warnings.handlers):
        py_warnings.addHandler(_ToChannel())
        py_warnings.propagate = False
