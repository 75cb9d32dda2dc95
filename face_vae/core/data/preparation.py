"""Build the prepared form of a data source (face_vae/core/data/sources/): uint8 crops on disk in the format of
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
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from filelock import FileLock

from face_vae.core import atomic
from face_vae.core.data.face_crops import META_FILE, damage, fingerprint, read_meta
from face_vae.core.data.sources import Source
from face_vae.core.progress import progress

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
    recipe, contents = source.recipe(), source.contents()
    if not force and _ready(folder, recipe, contents):
        log.info("Prepared data is up to date in %s.", folder)
        return folder
    _check_writable(folder)
    # One writer at a time: the ranks of a DDP job started together (torchrun) wait for the first one here,
    # then find the data up to date. The lock goes with the process that holds it, however it ends.
    with FileLock(folder / LOCK_FILE):
        if not force and _ready(folder, recipe, contents):
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
        meta |= {"contents": contents} if contents else {}
        atomic.write_text(folder / META_FILE, json.dumps(meta, indent=2))
    log.info("Prepared %s in %s.", ", ".join(f"{n} {s}" for s, n in counts.items()), folder)
    return folder


def _ready(folder: Path, recipe: dict, contents: dict) -> bool:
    """Whether `folder` holds `recipe`'s crops of the source's current `contents`, complete and intact (a damaged
    file is said, then rebuilt)."""
    meta = read_meta(folder)
    if meta.get("recipe") != recipe:
        return False
    if meta.get("contents", {}) != contents:
        log.info("The source has changed since %s was prepared: preparing it again.", folder)
        return False
    problem = damage(folder, meta)
    if problem:
        log.warning("%s: preparing it again.", problem)
    return not problem


def _remove_files_of_dead_writers(folder: Path) -> None:
    """Temporary files (`.NAME.tmpPID`, face_vae.core.atomic) of a writer that died without cleaning up (SIGKILL)."""
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


def _die_with_parent() -> None:
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


def decode_splits(
    splits: Mapping[str, list[str]],
    load: Callable[[str], tuple],
    workers: int | str,
    prepared_dir: Path,
    max_bad_fraction: float,
) -> tuple[dict[str, int], int]:
    """Decode each split's images in `workers` processes (auto: one per core) and write them in order. `load(name)`
    returns (pixels, '') or (None, why it was skipped), and may add a flag that is counted (an image scaled up).
    Refuses more bad images than `max_bad_fraction`; returns the count per split (empty ones left out) and the
    number of flagged images."""
    processes = (os.cpu_count() or 1) if workers == "auto" else int(workers)
    log.info("Decoding the images with %d processes.", processes)
    counts, bad, flagged = {}, [], [0]

    def unflagged(results: Iterable[tuple]) -> Iterator[tuple[np.ndarray | None, str]]:
        for image, problem, *flag in results:
            flagged[0] += bool(flag and flag[0])
            yield image, problem

    pool = ProcessPoolExecutor(max_workers=processes, initializer=_die_with_parent)
    try:
        for split, names in splits.items():
            if not names:
                log.warning("There are no %s images; that split is left out.", split)
                continue
            loaded = unflagged(pool.map(load, names, chunksize=64))
            kept, skipped = _write_split(loaded, names, prepared_dir / f"{split}.u8")
            bad += skipped
            atomic.write_text(prepared_dir / f"{split}.txt", "".join(f"{name}\n" for name in kept))
            counts[split] = len(kept)
    finally:  # stopped (SIGTERM, an error): drop the images not started instead of decoding them all first
        pool.shutdown(wait=True, cancel_futures=True)
    _check_bad_images(bad, sum(counts.values()) + len(bad), max_bad_fraction, prepared_dir)
    return counts, flagged[0]


def _write_split(
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


def _check_bad_images(bad: list[str], total: int, max_fraction: float, prepared_dir: Path) -> None:
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
