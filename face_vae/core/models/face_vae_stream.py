"""The random stream every face is drawn from: `infer`, the served model, the exported `sample_faces.py` and the
export's web page (faces.js, the same arithmetic in JavaScript) draw the very same codes for a seed.

Needs only numpy: the export copies this file beside sample_faces.py, which runs without face_vae or torch.
"""

import numpy as np

# SplitMix64 counter outputs as doubles in (0, 1), Box-Muller for the normals. Face i reads numbers i*(1+2d) ...
# so a face depends on its seed and index only (the first 16 faces of a seed are the same whatever --n).
GOLDEN, MIX1, MIX2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def uniforms(seed: int, start: int, count: int) -> np.ndarray:
    """Numbers `start` ... `start+count-1` of `seed`'s stream: SplitMix64, as doubles in (0, 1)."""
    state = np.uint64(seed) + (np.arange(start + 1, start + count + 1, dtype=np.uint64) * GOLDEN)  # wraps at 2**64
    state = (state ^ (state >> np.uint64(30))) * MIX1
    state = (state ^ (state >> np.uint64(27))) * MIX2
    state = state ^ (state >> np.uint64(31))
    return ((state >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53


def face_latents(prior: dict, seed: int, first: int, count: int) -> np.ndarray:
    """The codes (count, latent_dim) of faces `first` ... `first+count-1` of `seed`: a mixture component picked by
    its weight (N(0, I) has one), then its mean plus its Cholesky factor times standard normal noise."""
    dim = int(prior["latent_dim"])
    numbers = uniforms(seed, first * (1 + 2 * dim), count * (1 + 2 * dim)).reshape(count, 1 + 2 * dim)
    noise = np.sqrt(-2.0 * np.log(numbers[:, 1::2])) * np.cos(2.0 * np.pi * numbers[:, 2::2])
    if str(prior["name"]) == "standard_normal":
        return noise.astype(np.float32)
    cumulative = np.cumsum(prior["weights"])
    component = np.minimum(
        np.searchsorted(cumulative, numbers[:, 0] * cumulative[-1], side="right"), len(cumulative) - 1
    )
    latents = prior["means"][component] + np.einsum("nij,nj->ni", prior["cholesky"][component], noise)
    return latents.astype(np.float32)
