"""face_vae: a VAE that learns and generates CelebA faces, as a command-line pipeline."""

import os

# Idle OpenMP threads sleep instead of spin-waiting (set before torch loads its OpenMP runtime): two
# commands side by side on a 2-core machine otherwise slowed each other ~10x, not 2x
# (benchmarks/side_by_side.py). An OMP_WAIT_POLICY set by the user wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
