"""face_vae/core/ lifted out on its own, as the README's "Changing it" says (the core alone): the folder, the package's
`__init__.py` and its configs (no extras listed, the callbacks that are Lightning's own), nothing else of face_vae.
It prepares CelebA-layout files, trains, saves, reloads and draws faces, and never imports another part of
face_vae, MLflow or DVC."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from tests.conftest import subprocess_env

PACKAGE = Path(__file__).resolve().parents[2] / "face_vae"
pytestmark = pytest.mark.slow
SCRIPT = """
import json, sys
import face_vae
from face_vae.core import infer, train
from face_vae.core.config import compose
train_words, infer_words = json.loads(sys.argv[1])
train.run(compose("train", train_words))
infer.run(compose("infer", infer_words))
others = sorted(name for name in sys.modules if name.startswith(("face_vae.", "mlflow", "dvc"))
                and not name.startswith("face_vae.core"))
print(json.dumps({"package": face_vae.__file__, "others": others}))
"""


def _core_copy(root: Path) -> Path:
    """The package's core and configs copied alone; the extras and face_vae's own callbacks left out."""
    copy = root / "face_vae"
    shutil.copytree(PACKAGE / "core", copy / "core", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(PACKAGE / "configs", copy / "configs")
    shutil.copy(PACKAGE / "__init__.py", copy)
    (copy / "configs" / "extras.yaml").write_text("[]\n", encoding="utf-8")
    callbacks = copy / "configs" / "callbacks" / "default.yaml"
    lightning_only = {
        name: node
        for name, node in yaml.safe_load(callbacks.read_text(encoding="utf-8")).items()
        if not node["_target_"].startswith("face_vae.")
    }
    callbacks.write_text(yaml.safe_dump(lightning_only), encoding="utf-8")
    return root


def _celeba_layout(folder: Path) -> Path:
    """Noise pictures of CelebA's aligned size (178x218) and an official-format partition file: 24 train, 8 val,
    8 test."""
    images = folder / "img_align_celeba"
    images.mkdir(parents=True)
    rng = np.random.default_rng(0)
    lines = []
    for index in range(40):
        name = f"{index + 1:06d}.jpg"
        Image.fromarray(rng.integers(0, 256, (218, 178, 3), dtype=np.uint8)).save(images / name)
        lines.append(f"{name} {0 if index < 24 else 1 if index < 32 else 2}")
    (folder / "list_eval_partition.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_the_core_alone_prepares_trains_and_draws_faces(tmp_path):
    root = _core_copy(tmp_path / "copy")
    work = tmp_path / "work"
    work.mkdir()
    source = _celeba_layout(tmp_path / "celeba")
    train_words = [f"data.source_dir={source}", "data.image_size=32", "data.batch_size=8", "data.prepare_workers=1",
                   "model.net.channels=[8,16]", "model.net.latent_dim=4", "model.prior.components=2",
                   "trainer.max_epochs=1", "model_file=models/vae.pt"]  # fmt: skip
    infer_words = ["model_file=models/vae.pt", "n=3", "result_dir=result"]
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps([train_words, infer_words])],
        cwd=work,
        env=subprocess_env(root),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ran = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(ran["package"]).is_relative_to(root), "the copy ran, not the project's package"
    assert ran["others"] == [], "only the core was imported"
    assert (work / "models" / "vae.pt").is_file() and (work / "checkpoints" / "best.ckpt").is_file()
    assert sorted(path.name for path in (work / "result").iterdir()) == [
        "face_0001.jpg", "face_0002.jpg", "face_0003.jpg", "grid.jpg"
    ]  # fmt: skip
