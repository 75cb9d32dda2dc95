"""Real photos given on the command line, cropped and resized as the training faces were."""

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torchvision.transforms.functional import pil_to_tensor

from face_vae.core.data.celeba import TooLarge, check_pixels
from face_vae.core.errors import UserError

log = logging.getLogger(__name__)
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
ALIGNED_SIZE = (178, 218)  # CelebA's aligned images (width, height): they get the training crop box
# The pictures of many faces (or pairs) that face_vae writes beside single faces: not photos to read back.
OWN_PICTURES = {"grid.jpg", "attribute_grid.jpg", "reconstructions.jpg", "interpolation.jpg"}
OWN_PAIRS = "_reconstruction.jpg"
MANIFEST_FILE = ".face_vae_files.json"  # face_vae.outputs: the files face_vae wrote in a result folder


def photo_paths(inputs: str | Sequence[str] | None, key: str = "input") -> list[Path]:
    """The photo files named by `inputs`: a file, a folder (its photos, sorted), or a list of either."""
    if inputs is None or not inputs:  # None, "" or an empty list (a config ListConfig too)
        raise UserError(f"Say which photos: {key}=FOLDER, {key}=photo.jpg or {key}=[a.jpg,b.jpg].")
    paths = []
    for item in [inputs] if isinstance(inputs, str) else inputs:
        path = Path(str(item))
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file())
            found = _without_own_pictures(path, found)
            if not found:
                raise UserError(f"The folder {path} has no photos ({', '.join(sorted(PHOTO_SUFFIXES))}).")
            paths += found
        elif path.is_file():
            paths.append(path)
        else:
            raise UserError(f"{path} does not exist: give {key} an existing photo or folder.")
    return paths


def _without_own_pictures(folder: Path, found: list[Path]) -> list[Path]:
    """`found` less the grids, strips and pairs face_vae wrote in `folder` (its manifest lists them)."""
    try:
        written = set(json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8")))  # the names, a list
    except (OSError, ValueError, TypeError):
        return found
    own = {p for p in found if p.name in written and (p.name in OWN_PICTURES or p.name.endswith(OWN_PAIRS))}
    if own:
        log.info(
            "Leaving out %d picture(s) face_vae wrote in %s that are not single faces (grids, pairs).", len(own), folder
        )
    return [path for path in found if path not in own]


def load_photos(paths: list[Path], crop: str | Mapping[str, int], image_size: int) -> tuple[torch.Tensor, list[Path]]:
    """The photos as (N, 3, image_size, image_size) floats in [0, 1], and the paths that could be read.

    Turned upright (EXIF) as a folder's training images are; with a crop box (`data.crop` of CelebA) a photo of
    CelebA's aligned size gets that box, any other photo its largest centred square (`crop=center`: every photo).
    Either is then resized to `image_size`. Unreadable files are skipped with a warning (none readable: an empty
    batch).
    """
    faces, kept = [], []
    for path in paths:
        try:
            with Image.open(path) as image:
                check_pixels(image)
                faces.append(pil_to_tensor(face_crop(rgb(ImageOps.exif_transpose(image)), crop, image_size)))
                kept.append(path)
        except TooLarge as error:
            log.warning("Skipped %s: %s.", path, error)
        except Image.DecompressionBombError as error:  # PIL's own limit, checked as it opens: beyond 179 MP
            log.warning("Skipped %s: too large (%s).", path, error)
        except (UnidentifiedImageError, OSError, SyntaxError) as error:
            log.warning("Skipped %s: not a readable image (%s).", path, error)
    if not faces:
        return torch.empty(0, 3, image_size, image_size), kept
    return torch.stack(faces).float().div_(255), kept


def rgb(image: Image.Image) -> Image.Image:
    """`image` as 8-bit RGB. PIL converts a 16-bit or 32-bit grey image by clipping at 255 (nearly all white): its
    values are scaled to 0-255 instead. Every other mode (CMYK, palette, grey + alpha, float, ...) converts as PIL does.
    """
    if image.mode.startswith("I"):  # I;16, I;16B, I;16L, I: grey in 16 (or 32) bits
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max() <= 65535 else float(values.max())
        return Image.fromarray((values * (255.0 / top)).round().clip(0, 255).astype(np.uint8)).convert("RGB")
    return image.convert("RGB")


def face_crop(image: Image.Image, crop: str | Mapping[str, int], image_size: int) -> Image.Image:
    """The face square of `image`, resized to `image_size` x `image_size`."""
    if crop != "center" and image.size == ALIGNED_SIZE:
        left, top, size = crop["left"], crop["top"], crop["size"]
        box = (left, top, left + size, top + size)
    else:
        side = min(image.size)
        left, top = (image.width - side) // 2, (image.height - side) // 2
        box = (left, top, left + side, top + side)
    face = image.crop(box)
    if face.size != (image_size, image_size):
        face = face.resize((image_size, image_size), Image.Resampling.BICUBIC)
    return face
