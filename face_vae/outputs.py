"""Write a command's pictures into the result folder all at once: JPGs, and GIFs for animations."""

import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from torchvision.transforms.functional import to_pil_image
from tqdm import tqdm

from face_vae.errors import UserError

JPEG_QUALITY = 95  # PIL's default of 75 leaves visible blocks on smooth skin
GIF_FRAME_MS = 120
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
    memory together (`total`: how many, for the progress bar). Everything is written in a temporary
    folder first: files in `result_dir` that match a `replaces` pattern (an earlier run's) are
    removed only once every new file is complete; an error on the way leaves `result_dir` as it was.
    """
    pairs = images.items() if isinstance(images, Mapping) else images
    names = []
    try:
        result_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=result_dir.parent, prefix=f".{result_dir.name}-") as tmp:
            count = total if total is not None else len(images)
            for name, image in tqdm(pairs, total=count, desc=f"write {result_dir}", disable=count < 100):
                names.append(name)
                if isinstance(image, list):
                    frames = [to_pil_image(frame) for frame in image]
                    frames[0].save(
                        Path(tmp) / name, save_all=True, append_images=frames[1:], duration=GIF_FRAME_MS, loop=0
                    )
                else:
                    to_pil_image(image).save(Path(tmp) / name, quality=JPEG_QUALITY)
            for pattern in replaces:
                for old in result_dir.glob(pattern):
                    old.unlink()
            for name in names:
                shutil.move(Path(tmp) / name, result_dir / name)
    except OSError as error:
        raise UserError(
            f"Cannot write the pictures to {result_dir} ({error.strerror or error}): free some disk space or "
            "set result_dir to a writable folder."
        ) from error
    return [result_dir / name for name in names]
