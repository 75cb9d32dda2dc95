"""Build the prepared form of a data source (face_vae/data/sources/): uint8 crops on disk in the format of
data.face_crops, one folder per recipe, and the helpers sources write them with.

Decoding and cropping JPEGs happens once here, so a training epoch only copies bytes, read with
positioned reads (no memory map). How the source gets onto the disk (DVC, a download) is the caller's:
it passes `fetch_source`.
"""

import hashlib
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from filelock import FileLock
from PIL import Image, UnidentifiedImageError

from face_vae import atomic
from face_vae.data.celeba import FolderImages, TooLarge, ZipImages, check_pixels
from face_vae.data.face_crops import META_FILE, damage, fingerprint, read_meta
from face_vae.data.sources import Source
from face_vae.progress import progress

LOCK_FILE = ".prepare.lock"

log = logging.getLogger(__name__)
BAD_IMAGES_REPORT = "bad_images.txt"


def prepared_folder(source: Source, prepared_dir: Path) -> Path:
    """Where `source`'s crops are inside `prepared_dir`: one subfolder per recipe (a hash of everything that
    decides the bytes), so that two recipes never share, or overwrite, each other's files."""
    recipe = json.dumps(source.recipe(), sort_keys=True).encode()
    return Path(prepared_dir) / hashlib.sha1(recipe).hexdigest()[:10]


def ensure_prepared(
    source: Source,
    prepared_dir: Path,
    fetch_source: Callable[[Path], None],
    force: bool = False,
) -> Path:
    """Return the prepared folder of `source` in `prepared_dir`, building it first when missing, stale or
    damaged; `fetch_source(wanted_file)` is called first when the source lacks a file it needs."""
    folder = prepared_folder(source, prepared_dir)
    recipe = source.recipe()
    if not force and _ready(folder, recipe):
        log.info("Prepared data is up to date in %s.", folder)
        return folder
    _check_writable(folder)
    # One writer at a time: the ranks of a DDP job started together (torchrun) wait for the first one here,
    # then find the data up to date. The lock goes with the process that holds it, however it ends.
    with FileLock(folder / LOCK_FILE):
        if not force and _ready(folder, recipe):
            log.info("Prepared data is up to date in %s (prepared by another process).", folder)
            return folder
        _remove_files_of_dead_writers(folder)
        (folder / META_FILE).unlink(missing_ok=True)  # the folder is incomplete until it is rewritten
        missing = source.missing_file()
        if missing is not None:
            fetch_source(missing)
        counts = source.write(folder)
        files = {split: fingerprint(folder / f"{split}.u8") for split in counts}
        meta = {"recipe": recipe, "image_size": source.image_size, "counts": counts, "files": files}
        atomic.write_text(folder / META_FILE, json.dumps(meta, indent=2))
    log.info("Prepared %s in %s.", ", ".join(f"{n} {s}" for s, n in counts.items()), folder)
    return folder


def _ready(folder: Path, recipe: dict) -> bool:
    """Whether `folder` holds `recipe`'s crops, complete and intact (a damaged file is said, then rebuilt)."""
    meta = read_meta(folder)
    if meta.get("recipe") != recipe:
        return False
    problem = damage(folder, meta)
    if problem:
        log.warning("%s: preparing it again.", problem)
    return not problem


def _remove_files_of_dead_writers(folder: Path) -> None:
    """Temporary files (`.NAME.tmpPID`, face_vae.atomic) of a writer that died without cleaning up (SIGKILL)."""
    for path in folder.glob(".*.tmp*"):
        pid = path.name.rsplit(".tmp", 1)[1]
        if pid.isdigit() and not _alive(int(pid)):
            log.info("Removing %s, left by a stopped run (process %s).", path, pid)
            path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def die_with_parent() -> None:
    """In each decoding process: end when the parent ends, however it ends (Linux's parent-death signal),
    and take SIGTERM as a plain stop (the parent's handler turns it into an exception the pool would catch)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def write_arrays(prepared_dir: Path, split: str, names: list[str], images: np.ndarray) -> int:
    """Write a split held in memory: `images` (N, H, W, 3) uint8 and their `names`, in order; return N."""
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3 or len(images) != len(names):
        raise ValueError(f"a split is N images (N, H, W, 3) of uint8 and N names, not {images.shape} and {len(names)}")
    atomic.write_bytes(Path(prepared_dir) / f"{split}.u8", images.tobytes())
    atomic.write_text(Path(prepared_dir) / f"{split}.txt", "".join(f"{name}\n" for name in names))
    return len(names)


def write_split(
    crops: Iterable[tuple[np.ndarray | None, str]], names: list[str], path: Path
) -> tuple[list[str], list[str]]:
    """Append the good crops to `path` in order; return (names kept, 'name<TAB>why' of those skipped)."""
    kept, skipped = [], []
    with atomic.atomic_path(path) as tmp_path, open(tmp_path, "wb") as out:
        for name, (image, problem) in progress(zip(names, crops), len(names), f"prepare {path.stem}"):
            if problem:
                skipped.append(f"{name}\t{problem}")
            else:
                out.write(image.tobytes())
                kept.append(name)
    return kept, skipped


def load_crop(
    name: str, images: FolderImages | ZipImages, crop: tuple[int, int, int], image_size: int
) -> tuple[np.ndarray | None, str]:
    """Decode, crop and resize one image; return (pixels, '') or (None, why it was skipped)."""
    left, top, size = crop
    try:
        with images.open(name) as file, Image.open(file) as image:
            check_pixels(image)
            image.load()
            if image.mode != "RGB":
                return None, f"not RGB (mode {image.mode})"
            if image.width < left + size or image.height < top + size:
                return None, f"too small ({image.width}x{image.height}) for the crop box"
            face = image.crop((left, top, left + size, top + size))
    except FileNotFoundError:
        return None, "missing"
    except (TooLarge, Image.DecompressionBombError) as error:  # PIL's own limit is checked as it opens: 179 MP
        return None, str(error) if isinstance(error, TooLarge) else f"too large ({error})"
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        return None, f"unreadable ({error})"
    if image_size != size:
        face = face.resize((image_size, image_size), Image.Resampling.BICUBIC)
    return np.asarray(face, dtype=np.uint8), ""


def check_bad_images(bad: list[str], total: int, max_fraction: float, prepared_dir: Path) -> None:
    """Write the report of skipped images; stop when they are more than `max_fraction` of all."""
    report = prepared_dir / BAD_IMAGES_REPORT
    if not bad:
        report.unlink(missing_ok=True)
        return
    atomic.write_text(report, "".join(f"{line}\n" for line in bad))
    log.warning("Skipped %d of %d images (missing, corrupt or not RGB); see %s.", len(bad), total, report)
    if len(bad) > max_fraction * total:
        raise TooManyBadImages(
            f"{len(bad)} of {total} images are missing, corrupt or not RGB (more than a fraction of "
            f"{max_fraction}); see {report}, fix the dataset, or raise the limit"
        )


class TooManyBadImages(ValueError):
    """More images are missing or corrupt than the source allows (the stage names the config key)."""


class FolderNotWritable(ValueError):
    """The prepared folder cannot be created or written to (the stage names the config key)."""


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write_test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise FolderNotWritable(f"Cannot write to {folder} ({error.strerror})") from error
