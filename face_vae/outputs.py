"""Write a command's pictures into the result folder all at once: JPGs, and GIFs for animations; the `write_pictures`
hook of the core's `infer` (face_vae/core/hooks.py).
"""

import json
import os
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import torch
from filelock import FileLock, Timeout
from tqdm import tqdm

from face_vae import file_guards
from face_vae.core import atomic
from face_vae.core.errors import UserError
from face_vae.core.pictures import jpeg_bytes, to_pil_image

GIF_FRAME_MS = 120
MAX_PENDING = 256  # images decoded but not yet written
LOCK_FILE = ".face_vae.lock"
MANIFEST_FILE = ".face_vae_files.json"  # the files face_vae wrote here: the only ones it replaces or removes
Picture = torch.Tensor | list[torch.Tensor]  # one image (a JPG), or the frames of a GIF


def write_images(
    result_dir: Path,
    images: Mapping[str, Picture] | Iterable[tuple[str, Picture]],
    replaces: Iterable[str] = (),
    total: int | None = None,
) -> list[Path]:
    """Write each image (3, H, W) in [0, 1] as a JPG, and each list of them as an animated GIF,
    into `result_dir` under its name; return the paths in the order given.

    `images` may be a generator of (name, image) pairs, so that thousands of pictures never sit in
    memory together (`total`: how many, for the progress bar). Everything is written in a hidden temporary
    folder inside `result_dir` first (same disk; a read-only parent does not matter). Only files face_vae
    wrote, as its manifest in the folder lists them, are ever replaced or removed: an earlier run's files that
    match a `replaces` pattern go once every new file is complete, and a new file whose name is taken by a
    file of the user's stops the command before anything is moved. An error leaves `result_dir` as it was.
    """
    file_guards.refuse_current_or_above(result_dir, "result_dir")
    pairs = images.items() if isinstance(images, Mapping) else images
    names: list[str] = []
    try:
        result_dir.mkdir(parents=True, exist_ok=True)
        with (
            _only_writer(result_dir),
            tempfile.TemporaryDirectory(dir=result_dir, prefix=".face_vae-tmp-") as tmp,
        ):
            ours = _written_before(result_dir)
            count = total if total is not None else len(images)
            # PIL encodes without the GIL: JPEGs are written on all cores while the next batch is decoded.
            with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
                pending: deque[Future] = deque()
                for name, image in tqdm(pairs, total=count, desc=f"write {result_dir}", disable=count < 100):
                    _refuse_a_users_file(result_dir / name, ours)
                    names.append(name)
                    pending.append(pool.submit(_save, Path(tmp) / name, image))
                    while len(pending) > MAX_PENDING:  # memory stays flat however many images come
                        pending.popleft().result()
                for future in pending:
                    future.result()
            new = set(names)
            stale = {old.name for pattern in replaces for old in result_dir.glob(pattern)} & ours - new
            atomic.write_text(result_dir / MANIFEST_FILE, json.dumps(sorted((ours - stale) | new), indent=0))
            for name in stale:
                (result_dir / name).unlink(missing_ok=True)
            for name in names:
                os.replace(Path(tmp) / name, result_dir / name)
    except OSError as error:
        raise UserError(file_guards.folder_problem(result_dir, error, "result_dir")) from error
    return [result_dir / name for name in names]


def _written_before(result_dir: Path) -> set[str]:
    """The names of the files face_vae wrote in `result_dir` (its manifest; none when there is no manifest)."""
    try:
        return set(json.loads((result_dir / MANIFEST_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return set()


def _refuse_a_users_file(path: Path, ours: set[str]) -> None:
    if (path.exists() or path.is_symlink()) and path.name not in ours:
        raise UserError(
            f"{path} is not a file face_vae wrote, and this run would replace it: move it away or choose another "
            "result_dir (nothing was written)."
        )


@contextmanager
def _only_writer(folder: Path) -> Iterator[None]:
    """Hold a lock on `folder` while writing: a second command writing there at the same time would
    delete this one's files and interleave its own with them, so it stops with one sentence instead."""
    lock = FileLock(folder / LOCK_FILE, timeout=0)
    try:
        lock.acquire()
    except Timeout as error:
        raise UserError(
            f"Another face_vae command is writing to {folder} right now: wait for it to finish or choose "
            "another result_dir."
        ) from error
    try:
        yield
    finally:
        lock.release()


def _save(path: Path, image: Picture) -> None:
    if isinstance(image, list):
        frames = [to_pil_image(frame) for frame in image]
        frames[0].save(path, save_all=True, append_images=frames[1:], duration=GIF_FRAME_MS, loop=0)
    else:
        path.write_bytes(jpeg_bytes(image))
