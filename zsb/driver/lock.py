"""One driver per run folder: ``run_dir/.lock``, held with an exclusive ``flock`` and holding the holder's pid.

Who holds the folder is decided by the operating system's lock on the file, not by its content: a lock file
appears at its path already locked and complete (written under a temporary name, locked, then hard-linked to
``.lock``, which fails when one exists), so no driver ever sees a half-made lock. The kernel releases the lock when
its process ends, however it ends (``kill -9`` included): a ``.lock`` that nobody has locked is left over, whatever
pid it names (that pid may belong to another process by now), and is taken over. The pid is only for the message
that names the holder."""

from __future__ import annotations

import fcntl
import os
import uuid
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
        fd = _acquire(RunFolder(run_dir).lock_path)
    except OSError as e:
        raise unwritable(run_dir, e) from e
    try:
        yield
    finally:
        RunFolder(run_dir).lock_path.unlink(missing_ok=True)  # ours: nobody removes a lock that is held
        os.close(fd)


def _acquire(lock: Path) -> int:
    """The descriptor of ``lock``, created or taken over and exclusively locked; ZSBError when another process holds
    it. Every lock file at the path was locked before it got there, so a process that locks the file now at the path
    is its only holder."""
    while True:
        fd, made = _new_lock_file(lock)
        try:
            os.link(made, lock)
            return fd
        except OSError as e:
            os.close(fd)
            if not isinstance(e, FileExistsError):
                raise
        finally:
            made.unlink(missing_ok=True)
        try:
            old = os.open(lock, os.O_RDWR)
        except FileNotFoundError:
            continue  # released meanwhile
        try:
            try:
                fcntl.flock(old, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise busy(lock) from None
            if _same_file(old, lock):
                lock.unlink()  # left by a process that has ended: nobody holds it, and nobody else can now
        finally:
            os.close(old)


def _new_lock_file(lock: Path) -> tuple[int, Path]:
    """A new file beside ``lock`` holding this process's pid, exclusively locked: (its descriptor, its path)."""
    path = lock.with_name(f"{lock.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd, path


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open at ``fd``."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def busy(lock: Path) -> ZSBError:
    owner = lock_owner(lock)
    who = f"another zsb process (pid {owner})" if owner is not None else "another zsb process"
    return ZSBError(f"{who} is writing {lock.parent}; wait for it to finish, or give this run another folder with "
                    "--run-id")


def unwritable(run_dir: Path, error: OSError) -> ZSBError:
    return ZSBError(
        f"cannot write the run folder {run_dir}: {error.strerror or error}. The results folder must be a writable "
        "folder: choose another one with --results, or fix its permissions."
    )


def lock_owner(lock: Path) -> int | None:
    """The pid a lock file names (the holder's while it is held), or None."""
    try:
        return int(lock.read_text().strip())
    except (OSError, ValueError):
        return None
