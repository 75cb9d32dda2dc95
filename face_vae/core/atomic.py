"""Files on disk written under a temporary name and renamed, so that a crash never leaves a truncated file."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from face_vae.core.errors import UserError


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is renamed to `path`, on error removed.

    A full disk or a read-only folder becomes a UserError naming the file.
    """
    path = Path(path)
    tmp_path = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp_path
        os.replace(tmp_path, path)
    except OSError as error:
        raise UserError(
            f"Cannot write {path} ({error.strerror or error}): free some disk space or choose "
            "a writable output folder."
        ) from error
    finally:
        try:
            tmp_path.unlink(missing_ok=True)
        except OSError:  # e.g. a read-only folder: the first error is the one to tell
            pass


def write_bytes(path: Path, content: bytes) -> None:
    """Write `content` to `path` atomically."""
    with atomic_path(path) as tmp_path:
        tmp_path.write_bytes(content)


def write_text(path: Path, text: str) -> None:
    """Write `text` to `path` atomically."""
    write_bytes(path, text.encode())
