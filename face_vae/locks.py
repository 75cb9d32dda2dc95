"""Locks a run holds on the paths it writes (its checkpoints folder, its model file) while it runs.

A lock is a `filelock` lock on a file in a per-user folder, named by the path it guards (on Linux and macOS an
flock, which the kernel releases when the process ends, however it ends: a crashed run never leaves a stale lock).
A file beside it names its holder, so the run that is refused can say which run holds the path.
"""

import hashlib
import json
import os
import shlex
import stat
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from face_vae.core.errors import UserError
from face_vae.credentials import mask_text

_HELD: dict[str, FileLock] = {}  # the locks this process holds, by the path they guard


def lock_dir() -> Path:
    """$XDG_CACHE_HOME/face_vae/locks (~/.cache/...): outside the project, so no DVC-tracked folder holds it. Where
    that cannot be written (a read-only or missing home), a per-user folder in the system's temporary folder."""
    folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "face_vae" / "locks"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK):
            return folder
    except OSError:
        pass
    fallback = Path(tempfile.gettempdir()) / f"face_vae-locks-{os.getuid()}"
    try:
        fallback.mkdir(mode=0o700)
    except FileExistsError:
        pass
    # Anyone may create that name first in a shared temporary folder, and plant links in it that the lock files
    # would be written through: only a folder of this user's own, which nobody else may write, is used.
    found = os.lstat(fallback)
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid() or found.st_mode & 0o022:
        raise UserError(
            f"{fallback}, where runs keep their locks when ~/.cache cannot be written, is not a folder of this user's "
            "that only this user may write: set XDG_CACHE_HOME to a writable folder of your own."
        )
    return fallback


@contextmanager
def holding(paths: dict[str, Path]) -> Iterator[None]:
    """Lock each path (named by its config key) for the duration of the block; a UserError naming the run
    that holds one when another process does."""
    taken = []
    try:
        for key, path in paths.items():
            taken.append(_hold(Path(path), key))
        yield
    finally:
        for target in taken:
            if target:
                _HELD.pop(target).release()


@contextmanager
def waiting(path: Path) -> Iterator[None]:
    """Hold `path`'s lock for the block, waiting while another process holds it (one-time set-up steps)."""
    with FileLock(_lock_file(path)):
        yield


def _lock_file(path: Path) -> Path:
    return lock_dir() / f"{hashlib.sha1(str(Path(path).resolve()).encode()).hexdigest()[:16]}.lock"


def _hold(path: Path, key: str) -> str:
    """Lock `path`; the key of the lock taken ('' when this process holds it already)."""
    target = str(path.resolve())
    if target in _HELD:
        return ""
    lock = FileLock(_lock_file(path), timeout=0)
    try:
        lock.acquire()
    except Timeout as error:
        try:
            holder = _holder(_holder_file(path).read_text(encoding="utf-8"))
        except OSError:
            holder = _holder("")
        raise UserError(
            f"{key}={path} is in use by another face_vae run ({holder}): wait for it to end, or give this run "
            f"another {key}."
        ) from error
    _holder_file(path).write_text(
        json.dumps(
            {
                "path": target,
                "pid": os.getpid(),
                "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                "command": mask_text(shlex.join(sys.argv[1:]))[:300],  # a password in a URI stays out of it
            }
        ),
        encoding="utf-8",
    )
    _HELD[target] = lock
    return target


def _holder_file(path: Path) -> Path:
    return _lock_file(path).with_suffix(".json")


def _holder(text: str) -> str:
    try:
        holder = json.loads(text)
        return f"process {holder['pid']}, started {holder['started']}: {holder['command'] or 'python'}"
    except (ValueError, KeyError, TypeError):
        return "a process that did not say which"
