"""Face-like images drawn with numpy: a face, hair, eyes and a mouth on a plain background.

They let the whole pipeline (prepare -> train -> infer) run offline in seconds, in tests and smoke
runs, without a single real photo.
"""

from pathlib import Path

import numpy as np
from PIL import Image

SKIN_TONES = np.array([[0.96, 0.80, 0.69], [0.87, 0.67, 0.52], [0.67, 0.48, 0.34], [0.45, 0.31, 0.21]])
HAIR_COLOURS = np.array([[0.1, 0.07, 0.05], [0.35, 0.22, 0.1], [0.85, 0.7, 0.4], [0.5, 0.5, 0.5]])
# Binary attributes of each drawn face, named like CelebA's where they mean the same. All but
# Coin_Flip can be seen in the image; Coin_Flip is drawn but never painted, so no classifier can
# beat the majority class on it (a check that a classifier's score is not an artefact).
ATTRIBUTES = ("Black_Hair", "Brown_Hair", "Blond_Hair", "Gray_Hair", "Pale_Skin", "Wide_Mouth", "Coin_Flip")


def _ellipse(xx: np.ndarray, yy: np.ndarray, centre: tuple[float, float], radii: tuple[float, float]):
    """Boolean mask of the pixels inside an axis-aligned ellipse (coordinates in [0, 1])."""
    return ((xx - centre[0]) / radii[0]) ** 2 + ((yy - centre[1]) / radii[1]) ** 2 <= 1.0


def make_faces(count: int, size: int, seed: int) -> np.ndarray:
    """Return `count` RGB images of `size` x `size` as uint8 (N, H, W, 3); the same seed, the same faces."""
    return make_labelled_faces(count, size, seed)[0]


def make_labelled_faces(count: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`make_faces` and each face's ATTRIBUTES as booleans (N, len(ATTRIBUTES))."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    faces = np.empty((count, size, size, 3), dtype=np.uint8)
    labels = np.empty((count, len(ATTRIBUTES)), dtype=bool)
    for index in range(count):
        image, labels[index] = _draw_face(rng, xx, yy)
        faces[index] = np.clip(image * 255, 0, 255).astype(np.uint8)
    return faces, labels


def _draw_face(rng: np.random.Generator, xx: np.ndarray, yy: np.ndarray) -> tuple[np.ndarray, list[bool]]:
    """One face as floats (H, W, 3), drawn back to front: background, hair, face, eyes, mouth; and
    its attributes."""
    image = np.empty((*xx.shape, 3))
    image[:] = rng.uniform(0.1, 0.9, 3)
    image += (yy[..., None] - 0.5) * rng.uniform(-0.3, 0.3)  # a soft background gradient
    cx, cy = 0.5 + rng.normal(0, 0.02), 0.55 + rng.normal(0, 0.02)
    rx, ry = rng.uniform(0.24, 0.3), rng.uniform(0.32, 0.38)
    hair, skin = rng.integers(4), rng.integers(4)
    image[_ellipse(xx, yy, (cx, cy - 0.1), (rx * 1.1, ry * 0.9))] = HAIR_COLOURS[hair]
    image[_ellipse(xx, yy, (cx, cy), (rx, ry))] = SKIN_TONES[skin] + rng.normal(0, 0.03, 3)
    for side in (-1, 1):
        eye = (cx + side * rx * 0.42, cy - 0.06)
        image[_ellipse(xx, yy, eye, (0.045, 0.025))] = 0.95
        image[_ellipse(xx, yy, eye, (0.018, 0.018))] = 0.1
    mouth_width = rng.uniform(0.06, 0.11)
    image[_ellipse(xx, yy, (cx, cy + 0.19), (mouth_width, 0.025))] = [0.7, 0.2, 0.25]
    image += rng.normal(0, 0.02, image.shape)  # sensor-like noise, so no two pixels are equal
    labels = [hair == 0, hair == 1, hair == 2, hair == 3, skin == 0, mouth_width > 0.085, rng.random() < 0.5]
    return image, labels


def write_celeba_layout(root: Path, counts: dict[str, int], size: tuple[int, int] = (178, 218)) -> Path:
    """A folder in CelebA's official layout holding drawn faces (no real photo): JPEGs + partition file.
    For tests and benchmarks on a machine without CelebA."""
    images_dir = root / "img_align_celeba"
    images_dir.mkdir(parents=True)
    faces = make_faces(sum(counts.values()), size[0], seed=1)
    rows, index = [], 0
    for code, split in enumerate(("train", "val", "test")):
        for _ in range(counts.get(split, 0)):
            name = f"{index + 1:06d}.jpg"
            Image.fromarray(faces[index]).resize(size).save(images_dir / name, quality=95)
            rows.append(f"{name} {code}\r\n")  # CRLF, as in the official file
            index += 1
    (root / "list_eval_partition.txt").write_text("".join(rows), newline="")
    return root
