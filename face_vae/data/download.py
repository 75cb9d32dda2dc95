"""Fetch a published file over HTTP(S) or from Google Drive with gdown, resumable, checked by its MD5.

gdown handles Drive's confirmation pages and resumes a partial download with a Range request; the file
gets its real name only once its MD5 matches, so a half, an HTML page or a wrong file never sits under it.
"""

import contextlib
import io
import logging
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from face_vae.core.errors import UserError, first_line
from face_vae.core.rules import AT_LEAST_0, SECONDS, setting
from face_vae.credentials import mask_text
from face_vae.file_guards import file_md5

log = logging.getLogger(__name__)
HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<!--")


@dataclass
class OfficialFile:
    """One of CelebA's official files: its name, Google Drive id and published MD5."""

    name: str = setting("")
    id: str = setting("")
    md5: str = setting("")


@dataclass
class OfficialFiles:
    """CelebA's official Google Drive files and their MD5s (the list torchvision's CelebA uses)."""

    images: OfficialFile = setting(
        OfficialFile("img_align_celeba.zip", "0B7EVK8r0v71pZjFTYXZWM3FlRnM", "00d2c5bc6d35e252742224ab0c1e8fcb"),
        "1.4 GB: the 202,599 aligned JPEGs; prepare reads the zip as it is",
    )
    partition: OfficialFile = setting(
        OfficialFile("list_eval_partition.txt", "0B7EVK8r0v71pY0NSMzRuSXJEVkk", "d32c9cbf5e040fd4025c592c306e6668")
    )
    attributes: OfficialFile = setting(
        OfficialFile("list_attr_celeba.txt", "0B7EVK8r0v71pblRyaVFSWGxPY0U", "75e246fa4810816ffd6ee81facbd244c")
    )


@dataclass
class DownloadSettings:
    """Where CelebA's official files come from and how they are fetched."""

    drive_url: str = setting("https://drive.google.com/uc?id=", "+ each file's id")
    mirror: Optional[str] = setting(
        None, "a team's own copy, e.g. download.mirror=https://files.example.org/celeba/ : mirror + each file's name"
    )
    files: OfficialFiles = setting(OfficialFiles())
    timeout_s: float = setting(60.0, "seconds without an answer before a connection is given up", SECONDS)
    retries: int = setting(3, "a dropped connection is resumed this many times before the command stops", AT_LEAST_0)
    manual_page: str = setting("https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html")


@dataclass(frozen=True)
class FileSource:
    """Where one file comes from and the MD5 it must have."""

    name: str
    url: str
    md5: str


# pylint: disable-next=too-many-arguments  # the file, where it goes, how hard to try, where a person gets them
def fetch(
    source: FileSource, target_dir: Path, timeout_s: float, retries: int, manual_page: str, every_file: list[str]
) -> Path:
    """`target_dir/source.name`, downloaded unless it is already there with the right MD5; a failure's
    sentence names `every_file` that a person fetching CelebA by hand needs."""
    target = target_dir / source.name
    by_hand = f"or download {', '.join(every_file)} by hand from {manual_page} and put them in {target_dir}"
    if target.is_file():
        if file_md5(target) == source.md5:
            log.info("%s is already there (MD5 checked).", target)
            return target
        raise UserError(
            f"{target} is there but its MD5 is not the published {source.md5}: delete it and run download again, "
            f"{by_hand}."
        )
    staging = target.with_name(f"{target.name}.download")  # gdown keeps its partial file beside this name
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(
            f"Cannot create {target_dir} ({error.strerror}): set data.source_dir to a writable folder."
        ) from error
    _download(source, staging, timeout_s, retries, by_hand)
    _check(source, staging, by_hand)
    staging.replace(target)
    log.info("Downloaded %s (MD5 checked).", target)
    return target


def _download(source: FileSource, staging: Path, timeout_s: float, retries: int, by_hand: str) -> None:
    import gdown
    from gdown.exceptions import DownloadError, FileURLRetrievalError
    from requests.exceptions import RequestException

    shown = mask_text(source.url)  # a mirror's URL may hold a password: messages show it masked
    log.info("Downloading %s from %s.", source.name, shown)
    try:
        with contextlib.redirect_stderr(_Masked(sys.stderr)):  # gdown prints the URL above its progress bar
            gdown.download(
                source.url, str(staging), quiet=not sys.stderr.isatty(), resume=True, timeout=timeout_s, retries=retries
            )
    except FileURLRetrievalError as error:
        raise UserError(
            f"Google Drive would not hand out {source.name} (its download quota for the day is used up, or the "
            f"file is no longer shared: {first_line(error)}): try again later, {by_hand}."
        ) from error
    except (DownloadError, RequestException, OSError) as error:
        if _no_network(error):
            raise UserError(
                f"There is no network: the host of {shown} cannot be found ({mask_text(first_line(error))}); "
                f"connect and run `python commands.py download` again, {by_hand}."
            ) from error
        raise UserError(
            f"The download of {source.name} from {shown} stopped ({mask_text(first_line(error))}): run "
            f"`python commands.py download` again to resume it, {by_hand}."
        ) from error


class _Masked(io.TextIOBase):
    """A stream that writes to `stream` with every URL's credentials masked."""

    def __init__(self, stream: io.TextIOBase) -> None:
        super().__init__()
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(mask_text(text))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()


def _check(source: FileSource, staging: Path, by_hand: str) -> None:
    """Refuse (and delete) an HTML page or a file with another MD5: neither is worth resuming."""
    with open(staging, "rb") as file:
        start = file.read(512).lstrip().lower()
    if start.startswith(HTML_STARTS):
        staging.unlink()
        raise UserError(
            f"{mask_text(source.url)} sent a web page instead of {source.name} (Google Drive does that when its "
            f"download quota is used up or the file needs a sign-in): try again later, {by_hand}."
        )
    found = file_md5(staging)
    if found != source.md5:
        size = staging.stat().st_size
        staging.unlink()
        raise UserError(
            f"{source.name} came with MD5 {found} ({size:,} bytes), not the published {source.md5}: it was "
            f"truncated or is another file, and was deleted; run download again, {by_hand}."
        )


def _no_network(error: BaseException) -> bool:
    """Whether the failure is a name that does not resolve (no network, no DNS), not a transfer that stopped."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, socket.gaierror) or "NameResolutionError" in type(seen).__name__:
            return True
        if "Failed to resolve" in str(seen) or "Name or service not known" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
