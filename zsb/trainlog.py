"""The training log: ``train_log.jsonl`` in a run folder, one JSON object per epoch.

:func:`zsb.engine.train` appends one record per finished epoch and rewrites the whole file atomically, so a crash
never leaves a half-written line. A record holds::

    {"epoch": 3, "loss/quadruplet": ..., "loss/classification": ..., "loss/knowledge": ..., "loss/total": ...,
     "lr_backbone": ..., "seconds": ..., "images_per_second": ..., "failed_images": 0}

(the ``loss/...`` terms present depend on the loss weights). This module is the one place that reads and writes
that file: :func:`read_log` / :func:`write_log` for the training loop and its resumption, :func:`log_frame` for
figures and tables, :func:`lr_columns` for the learning-rate key(s).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from zsb.errors import DataError
from zsb.io import atomic_write_text

if TYPE_CHECKING:
    import pandas as pd

LOG_NAME = "train_log.jsonl"
"""File name of the training log inside a run folder."""

LOSS_PREFIX = "loss/"
"""Prefix of the loss keys of a record (``loss/total``, ``loss/quadruplet``, ...)."""

_LR_KEY = re.compile(r"^lr($|[_/])")


def read_log(path: str | os.PathLike) -> list[dict]:
    """The records of the training log at ``path``, in file order; ``[]`` when the file does not exist.

    Blank lines are skipped. A line that is not a JSON object raises :class:`~zsb.errors.DataError` naming the
    line (the log is written atomically, so such a line means the file was edited or damaged by hand).
    """
    path = Path(path)
    if not path.exists():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"training log {path} cannot be read ({e}); pass the {LOG_NAME} file of a run.") from e
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(
                f"training log {path}, line {number}, is not valid JSON ({e.msg}); "
                "fix or delete that line (an interrupted write can leave one)."
            ) from e
        if not isinstance(record, dict):
            raise DataError(
                f"training log {path}, line {number}, is a JSON {type(record).__name__}, not an object with "
                "'epoch' and 'loss/...' keys; fix or delete that line."
            )
        records.append(record)
    return records


def write_log(path: str | os.PathLike, records: Iterable[Mapping[str, Any]]) -> None:
    """Write ``records`` as the training log at ``path`` (one JSON object per line), atomically: a crash leaves
    the previous version of the file intact."""
    atomic_write_text(path, "".join(json.dumps(dict(r)) + "\n" for r in records))


def log_frame(log: str | os.PathLike | Sequence[Mapping[str, Any]]) -> "pd.DataFrame":
    """The epoch records of a training log as a table, one row per epoch, sorted by epoch.

    Args:
        log: the path of a log file (``train_log.jsonl``), or its records (a list of dicts).

    A repeated epoch (a resumed run that logged it again) keeps its last record. Raises
    :class:`~zsb.errors.DataError` when the file does not exist or has a bad line, when there are no records,
    when a record is not a dict or lacks ``epoch``, and when no record has a ``loss/...`` key.
    """
    import pandas as pd

    if isinstance(log, (str, os.PathLike)):
        log_path = Path(log)
        if not log_path.is_file():
            raise DataError(f"training log {log_path} does not exist; pass the metrics .jsonl file of a run.")
        records: list = read_log(log_path)
        source = str(log_path)
    else:
        records, source = list(log), "the training log"
    if not records or not all(isinstance(r, Mapping) for r in records):
        raise DataError(f"{source} must hold at least one record, each a dict with 'epoch' and 'loss/...' keys.")
    table = pd.DataFrame.from_records(records)
    if "epoch" not in table.columns or table["epoch"].isna().any():
        raise DataError(f"every record of {source} needs an 'epoch' key; found columns {list(table.columns)}.")
    if not any(str(c).startswith(LOSS_PREFIX) for c in table.columns):
        raise DataError(f"{source} has no 'loss/...' keys (columns: {list(table.columns)}); nothing to plot.")
    return table.drop_duplicates("epoch", keep="last").sort_values("epoch").reset_index(drop=True)


def lr_columns(table: "pd.DataFrame") -> list[str]:
    """The learning-rate columns of a :func:`log_frame` table that hold at least one number, in column order:
    ``lr`` itself and any ``lr_<group>`` / ``lr/<group>`` (the training loop logs ``lr_backbone``)."""
    import pandas as pd

    found = []
    for column in table.columns:
        if isinstance(column, str) and _LR_KEY.match(column):
            values = pd.to_numeric(table[column], errors="coerce")
            if values.notna().any():
                found.append(column)
    return found
