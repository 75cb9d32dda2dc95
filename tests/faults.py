"""Fault injection for tests: a read-only folder, a full disk, a server that stops answering.

Tests run as root on some machines, where chmod does not stop a write, and mounting a read-only or a tiny
file system needs privileges CI may not have; so the faults are injected where Python writes: `os.open`
and `open` (`builtins.open`, `io.open`, which `Path.write_bytes` uses), `os.mkdir`, `os.replace`, `os.rename` and
`os.unlink`, for paths inside the given folder only.
"""

import builtins
import errno
import io
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _failing_writes(  # pylint: disable=too-many-locals  # one guard per function that writes
    monkeypatch: pytest.MonkeyPatch, folder: Path, code: int, also_delete: bool, writable: Path | None = None
) -> None:
    folder = Path(folder).absolute()
    spared = Path(writable).absolute() if writable is not None else None

    def _inside(path) -> bool:
        try:
            target = Path(os.fspath(path)).absolute()
        except TypeError:  # a file descriptor
            return False
        return target.is_relative_to(folder) and not (spared is not None and target.is_relative_to(spared))

    error = OSError(code, os.strerror(code))
    real_open, real_mkdir, real_replace, real_rename, real_unlink = os.open, os.mkdir, os.replace, os.rename, os.unlink

    def fail(path):
        raise OSError(code, os.strerror(code), os.fspath(path)) from error

    def guarded_open(path, flags, *args, **kwargs):
        if flags & WRITE_FLAGS and _inside(path):
            fail(path)
        return real_open(path, flags, *args, **kwargs)

    real_io_open = io.open

    def guarded_io_open(file, *args, **kwargs):  # builtins.open and pathlib's Path.open
        mode = args[0] if args else kwargs.get("mode", "r")
        if any(flag in mode for flag in "wax+") and _inside(file):
            fail(file)
        return real_io_open(file, *args, **kwargs)

    def guarded_mkdir(path, *args, **kwargs):
        if _inside(path) and not Path(path).exists():
            fail(path)
        return real_mkdir(path, *args, **kwargs)

    def guarded_move(real):
        def move(source, target, *args, **kwargs):
            if _inside(target) or _inside(source):
                fail(target)
            return real(source, target, *args, **kwargs)

        return move

    def guarded_unlink(path, *args, **kwargs):
        if also_delete and _inside(path):
            fail(path)
        return real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded_open)
    monkeypatch.setattr(io, "open", guarded_io_open)
    monkeypatch.setattr(builtins, "open", guarded_io_open)
    monkeypatch.setattr(os, "mkdir", guarded_mkdir)
    monkeypatch.setattr(os, "replace", guarded_move(real_replace))
    monkeypatch.setattr(os, "rename", guarded_move(real_rename))
    monkeypatch.setattr(os, "unlink", guarded_unlink)


def read_only(monkeypatch: pytest.MonkeyPatch, folder: Path, writable: Path | None = None) -> None:
    """Every write, rename and delete inside `folder` fails with EROFS, as on a read-only mount (except inside
    `writable`: a writable mount within it)."""
    _failing_writes(monkeypatch, folder, errno.EROFS, also_delete=True, writable=writable)


def disk_full(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Every write inside `folder` fails with ENOSPC, as on a full disk (deleting still works, as it does there)."""
    _failing_writes(monkeypatch, folder, errno.ENOSPC, also_delete=False)


@contextmanager
def silent_server() -> Iterator[str]:
    """A server on a loopback port that accepts connections and never answers: a stopped (SIGSTOP) server as a
    client sees it. Yields its http:// URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])  # kept open, never read or answered
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=2)
        for connection in held:
            connection.close()
        listener.close()
