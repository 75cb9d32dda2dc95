"""data=synthetic: face-like images drawn by face_vae/data/synthetic.py, for offline runs and tests."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from face_vae.core.data.preparation import write_arrays
from face_vae.core.data.sources import Source
from face_vae.data.attributes import write_attributes
from face_vae.data.synthetic import ATTRIBUTES, make_labelled_faces


@dataclass
class SyntheticSource(Source):
    """Face-like images drawn by data.synthetic, `num_images` per split; their attributes go to
    `attributes_file`, in CelebA's format."""

    KIND = "synthetic"

    num_images: dict[str, int]
    image_size: int
    attributes_file: str
    seed: int

    @classmethod
    def from_settings(cls, data: Mapping[str, Any]) -> "SyntheticSource":
        return cls(dict(data["num_images"]), data["image_size"], data["attributes_file"], data["seed"])

    def recipe(self) -> dict:
        return {
            "kind": self.KIND,
            "image_size": self.image_size,
            "num_images": dict(self.num_images),
            "seed": self.seed,
            "attributes": True,
        }

    def missing_file(self) -> Path | None:
        """Nothing to fetch: the faces are drawn."""
        return None

    def write(self, prepared_dir: Path) -> dict[str, int]:
        """Draw each split's faces; return the number of images per split."""
        counts, attributes = {}, {}
        for offset, (split, count) in enumerate(self.num_images.items()):
            faces, labels = make_labelled_faces(count, self.image_size, seed=self.seed + offset)
            names = [f"{split}_{index:06d}" for index in range(count)]
            counts[split] = write_arrays(prepared_dir, split, names, faces)
            attributes.update(zip(names, labels))
        write_attributes(Path(self.attributes_file), list(ATTRIBUTES), attributes)
        return counts
