"""The core's `infer` with no extra plugged in: what a person who copies face_vae/core/ alone runs."""

import sys

from face_vae.core import hooks, infer
from face_vae.core.config import compose
from face_vae.core.models.model_file import save_model
from face_vae.core.models.nets.resnet import VAE
from face_vae.core.models.priors import StandardNormal
from face_vae.core.pictures import jpeg_bytes


def test_infer_draws_and_writes_the_faces_with_no_extra_hooked_in(tmp_path, monkeypatch):
    """The faces of the seed's stream, a grid, the core's plain writer; nothing of the extras or MLflow loaded."""
    for name in ("inference", "write_pictures"):
        monkeypatch.setitem(hooks.HOOKS, name, [])
    vae = VAE(16, [8, 16], 4).eval()
    vae.prior = StandardNormal(4)
    save_model(vae, tmp_path / "vae.pt")
    cfg = compose("infer", [f"model_file={tmp_path / 'vae.pt'}", f"result_dir={tmp_path / 'result'}", "n=3"])
    modules_before = set(sys.modules)

    infer.run(cfg)

    written = sorted(path.name for path in (tmp_path / "result").iterdir())
    assert written == ["face_0001.jpg", "face_0002.jpg", "face_0003.jpg", "grid.jpg"]
    first_face = vae.decode(StandardNormal(4).sample(1, seed=0))[0]
    assert (tmp_path / "result" / "face_0001.jpg").read_bytes() == jpeg_bytes(first_face.detach())
    assert not {name for name in set(sys.modules) - modules_before if name.startswith(("face_vae.stages", "mlflow"))}
