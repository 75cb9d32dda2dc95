"""Benchmarks that cannot rot: each script's smallest run, on this machine at its own precision."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import subprocess_env

ROOT = Path(__file__).resolve().parents[2]
# The smallest arguments of each script that still runs its whole path (the project's precision included:
# bf16 on a CPU with native bfloat16, fp32 elsewhere, so a dtype mismatch fails here on either machine).
TINY_RUNS = {
    "infer.py": ["--n", "8", "--image-size", "64", "--batch-size", "4"],
    "startup.py": ["--repeat", "1"],
}


@pytest.mark.parametrize("script", sorted(TINY_RUNS))
def test_the_benchmark_runs_to_its_table(script):
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *TINY_RUNS[script]],
        cwd=ROOT, capture_output=True, text=True, env=subprocess_env(ROOT), check=False, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| ---" in result.stdout and "machine:" in result.stdout + result.stderr
