"""What the benchmark scripts share: where the faces come from, and a timer."""

import tempfile
import time
from pathlib import Path

from face_vae.config import compose
from face_vae.stages.prepare import ensure_prepared

SHARED_SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "celeba_sample"


def celeba_source(count: int = 2000) -> Path:
    """The CelebA sample beside the project, or (without it) `count` synthetic JPEGs in CelebA's layout."""
    if SHARED_SAMPLE.is_dir():
        return SHARED_SAMPLE
    from tests.conftest import write_fake_celeba  # pylint: disable=import-outside-toplevel

    root = Path(tempfile.mkdtemp(prefix="face_vae-bench-"))
    return write_fake_celeba(root / "celeba", {"train": count})


def prepared(source: Path, image_size: int, prepared_dir: Path) -> Path:
    """The project's prepared form of `source` (built once)."""
    overrides = [f"data.source_dir={source}", f"data.image_size={image_size}", f"data.prepared_dir={prepared_dir}"]
    return ensure_prepared(compose("prepare", overrides))


class Timer:
    """`with Timer() as t: ...; t.seconds`"""

    def __init__(self) -> None:
        self.start = 0.0
        self.seconds = 0.0

    def __enter__(self) -> "Timer":
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start
