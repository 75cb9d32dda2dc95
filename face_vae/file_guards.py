"""Files that are not face_vae's: refused before a command would replace them; folders written whole and checked for
room before work; a file's md5. (Writing a file atomically is the core's: face_vae/core/atomic.py.)"""

import errno
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from face_vae.core.errors import UserError, listed


def foreign_file(path: Path, key: str, what: str, ours: Callable[[Path], bool]) -> str | None:
    """Why a command may not write its single-file output `path` (the config's `key`): the file there is not `what`
    face_vae wrote (a user's notes, another kind of face_vae file); None when nothing is there or it is ours."""
    path = Path(path)
    if not path.exists() or (path.is_file() and ours(path)):
        return None
    return (
        f"{key}={path} holds a file that is not {what} written by face_vae, and this command would replace it: "
        f"choose another {key}, or move the file away. Nothing was written."
    )


def refuse_foreign_file(path: Path, key: str, what: str, ours: Callable[[Path], bool]) -> None:
    """`foreign_file`'s sentence as a UserError (for a command with one such output)."""
    problem = foreign_file(path, key, what, ours)
    if problem:
        raise UserError(problem)


def json_file(path: Path) -> object:
    """A JSON file's contents; None when it is not readable as JSON (what `foreign_file`'s tests read)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None


def file_md5(path: Path) -> str:
    """The md5 of a file's bytes, read in blocks: as DVC records it, as CelebA's sums are published, and as a
    classifier records the model whose codes it reads."""
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "md5").hexdigest()


def check_room(folder: Path, needed_bytes: int, key: str) -> None:
    """Stop before any work when `folder` (the config's `key`) cannot be created or written, or lacks
    `needed_bytes` of free space: a full disk found after an hour of training loses that hour."""
    folder = Path(folder)
    probe = folder / f".write_test{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        free = shutil.disk_usage(folder).free
    except OSError as error:
        raise UserError(folder_problem(folder, error, key)) from error
    finally:
        try:
            probe.unlink(missing_ok=True)
        except OSError:
            pass
    if free < needed_bytes:
        raise UserError(
            f"{key}: the disk holding {folder} has {free / 2**20:.1f} MB free and the run writes about "
            f"{needed_bytes / 2**20:.1f} MB there: free some space or choose another {key}."
        )


def folder_problem(folder: Path, error: OSError, key: str) -> str:
    """One sentence saying why `folder` (the config's `key`) could not be written, by the real cause."""
    fix = f"choose another {key}"
    if folder.exists() and not folder.is_dir():
        return f"{key} {folder} is a file, not a folder: move it away or {fix}."
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"The disk holding {folder} is full ({error.strerror}): free some space or {fix}."
    if error.errno == errno.EROFS:
        return f"{folder} is on a read-only file system: {fix}."
    if error.errno in (errno.EACCES, errno.EPERM):
        return f"No permission to write in {folder}: {fix}, or change its permissions."
    if error.errno in (errno.ENOENT, errno.ENOTDIR):
        return f"The folder {folder} cannot be created ({error.strerror}: {error.filename}): {fix}."
    return f"Cannot write to {folder} ({error.strerror or error}): {fix}."


@contextmanager
def new_folder(folder: Path, manifest: str, key: str) -> Iterator[Path]:
    """Yield an empty temporary folder beside `folder`; on success it takes `folder`'s place whole, so a reader
    never sees old and new files side by side. `folder` must be absent, empty, or an earlier result that holds
    only the files its `manifest` (a JSON file of {"files": {name: ...}}) lists: anything else is the user's,
    and is refused before any work (the config's `key` named)."""
    refuse_foreign_folder(Path(folder), manifest, key)
    folder = Path(os.path.abspath(folder))  # `.` has a name this way; a link was refused above
    parent = folder.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=parent))
        tmp.chmod(_new_folder_mode())  # mkdtemp's 0700 would hide a page from the web server meant to host it
    except OSError as error:
        raise UserError(folder_problem(parent, error, key)) from error
    try:
        yield tmp
        old = parent / f".{folder.name}.old-{tmp.name.rsplit('-', 1)[-1]}"
        if folder.is_dir():
            folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as error:
        raise UserError(folder_problem(folder, error, key)) from error
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _new_folder_mode() -> int:
    """The mode `mkdir` gives a new folder here: 0777 less the process's umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o777 & ~umask


def refuse_foreign_folder(folder: Path, manifest: str, key: str) -> None:
    """A UserError when `folder` holds anything but the files its `manifest` lists (see `new_folder`)."""
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise UserError(
            f"{key}={folder} is {'a link' if folder.is_symlink() else 'a file'}, not a folder face_vae "
            f"wrote: choose another {key}."
        )
    refuse_current_or_above(folder, key)
    if not folder.is_dir():
        return
    present = {path.name for path in folder.iterdir()}
    try:
        recorded = set(json.loads((folder / manifest).read_text(encoding="utf-8"))["files"]) | {manifest}
    except (OSError, ValueError, KeyError, TypeError):
        recorded = set()
    foreign = sorted(present - recorded) if recorded else sorted(present)
    if foreign:
        raise UserError(
            f"{key}={folder} holds files face_vae did not write there ({listed(foreign)}), and the run would replace "
            f"the folder: choose another {key} or move them away. Nothing was written."
        )


def refuse_current_or_above(folder: Path, key: str) -> None:
    """A UserError when `folder` is the current folder or one above it (`.`, `..`, `/`): a command's outputs there
    would land among the project's or the system's own files, and setting such a folder aside would move them."""
    here = Path.cwd()
    if Path(os.path.abspath(folder)) in (here, *here.parents):
        raise UserError(f"{key}={folder} is the current folder or holds it: choose a folder of its own for {key}.")
