"""Pictures of faces: a grid of them, a JPG of one, and the plain writer of a command's pictures.

Grids and the tensor -> PIL step are written here rather than taken from torchvision: importing
torchvision costs 4-5 s on a 2-core CPU (its detection ops import torch._dynamo), more than `infer`
needs for everything else. Both reproduce torchvision's `make_grid` and `to_pil_image` pixel for pixel.
"""

import io
import math
from collections.abc import Iterable, Iterator
from pathlib import Path

import torch
from PIL import Image

from face_vae.core.progress import progress

JPEG_QUALITY = 95  # PIL's default of 75 leaves visible blocks on smooth skin
GRID_FILE = "grid.jpg"
GRID_FACES = 64  # grid.jpg shows the first ones: a grid of thousands of faces is unreadable (and held in memory)


def image_grid(images: torch.Tensor, nrow: int = 8, padding: int = 2) -> torch.Tensor:
    """Images (N, C, H, W) tiled `nrow` to a row with a `padding`-pixel black border, as torchvision's
    `make_grid` does (one image comes back as it is)."""
    if len(images) == 1:
        return images[0]
    count, channels, height, width = images.shape
    columns = min(nrow, count)
    rows = math.ceil(count / columns)
    cell_height, cell_width = height + padding, width + padding
    grid = images.new_zeros(channels, rows * cell_height + padding, columns * cell_width + padding)
    for index, image in enumerate(images):
        top, left = (index // columns) * cell_height + padding, (index % columns) * cell_width + padding
        grid[:, top : top + height, left : left + width] = image
    return grid


def to_pil_image(image: torch.Tensor) -> Image.Image:
    """An RGB image (3, H, W) of floats in [0, 1] as a PIL image (x 255, truncated, as torchvision does)."""
    return Image.fromarray(image.detach().cpu().mul(255).byte().permute(1, 2, 0).numpy())


def jpeg_bytes(image: torch.Tensor) -> bytes:
    """An RGB image (3, H, W) in [0, 1] as the JPEG bytes written for it."""
    buffer = io.BytesIO()
    to_pil_image(image).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def face_pictures(batches: Iterator[torch.Tensor]) -> Iterator[tuple[str, torch.Tensor]]:
    """face_0001.jpg ... for each face of each batch, then grid.jpg of the first GRID_FACES."""
    shown: list[torch.Tensor] = []
    index = 0
    for faces in batches:
        shown += list(faces[: GRID_FACES - len(shown)])
        for face in faces:
            index += 1
            yield f"face_{index:04d}.jpg", face
    yield GRID_FILE, image_grid(torch.stack(shown), nrow=max(1, round(len(shown) ** 0.5)))


def save_pictures(
    result_dir: Path, pictures: Iterable[tuple[str, torch.Tensor]], replaces: Iterable[str] = (), total: int = 0
) -> list[Path]:
    """Each picture as a JPG in `result_dir`, one after the other. The extras' writer (face_vae/outputs.py) adds what
    a folder shared with the user needs: it never replaces a file that is not face_vae's, writes all or nothing, lets
    one command write a folder at a time, and removes an earlier run's files that match `replaces`."""
    del replaces  # without a record of the files face_vae wrote, an earlier run's cannot be told from the user's
    result_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, image in progress(pictures, total, f"write {result_dir}"):
        paths.append(result_dir / name)
        paths[-1].write_bytes(jpeg_bytes(image))
    return paths
