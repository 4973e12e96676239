"""One driver per run folder: ``run_dir/.lock`` holds the pid of the process writing it."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from zsb.errors import ZSBError
from zsb.artifacts import RunFolder


@contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold ``run_dir/.lock`` for the duration; a second driver aimed at the same folder is refused."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise unwritable(run_dir, e) from e
    lock = RunFolder(run_dir).lock_path
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            owner = _lock_owner(lock)
            if owner is not None and _process_alive(owner):
                raise ZSBError(
                    f"another zsb process (pid {owner}) is writing {run_dir}; wait for it to finish, or give this "
                    "run another folder with --run-id"
                ) from None
            lock.unlink(missing_ok=True)  # left behind by a process that no longer exists
        except OSError as e:
            raise unwritable(run_dir, e) from e
    else:
        raise ZSBError(f"could not take the lock {lock}; remove it if no zsb process is running")
    try:
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        yield
    finally:
        lock.unlink(missing_ok=True)


def unwritable(run_dir: Path, error: OSError) -> ZSBError:
    return ZSBError(
        f"cannot write the run folder {run_dir}: {error.strerror or error}. The results folder must be a writable "
        "folder: choose another one with --results, or fix its permissions."
    )


def _lock_owner(lock: Path) -> int | None:
    try:
        return int(lock.read_text().strip())
    except (OSError, ValueError):
        return None


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
