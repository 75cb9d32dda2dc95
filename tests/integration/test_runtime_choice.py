"""Precision, layout and threads resolved from what the machine can do; start-up that imports only what is used."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.transforms.functional import to_pil_image as torchvision_to_pil_image
from torchvision.utils import make_grid

from face_vae.core.config import compose
from face_vae.core.pictures import image_grid, to_pil_image
from face_vae.hardware import Machine, resolve, resolve_channels_last, resolve_precision, resolve_threads
from tests.conftest import FAST_TRAIN, subprocess_env

ROOT = Path(__file__).resolve().parents[2]
AVX2_CPU = Machine("cpu", "AMD EPYC", "AVX2", native_bf16=False, cores=2)
AMX_CPU = Machine("cpu", "Intel Xeon", "AVX512", native_bf16=True, cores=8)
AMPERE_GPU = Machine("cuda", "NVIDIA A100", "AVX2", native_bf16=True, cores=16)
TURING_GPU = Machine("cuda", "Tesla T4", "AVX2", native_bf16=False, cores=4)


@pytest.mark.parametrize(
    "machine, precision",
    [(AVX2_CPU, "32-true"), (AMX_CPU, "bf16-mixed"), (AMPERE_GPU, "bf16-mixed"), (TURING_GPU, "16-mixed")],
)
def test_auto_precision_is_the_fastest_one_the_hardware_runs_natively(machine, precision):
    assert resolve_precision("auto", machine) == precision


@pytest.mark.parametrize("machine", [AVX2_CPU, AMX_CPU, AMPERE_GPU, TURING_GPU])
def test_an_explicit_precision_layout_or_thread_count_wins_on_every_machine(machine):
    assert resolve_precision("bf16-mixed", machine) == "bf16-mixed"
    assert resolve_precision("32-true", machine) == "32-true"
    assert resolve_channels_last(False, "16-mixed", machine) is False
    assert resolve_channels_last(True, "32-true", machine) is True
    assert resolve_threads(3, machine) == 3


def test_auto_layout_is_channels_last_on_cpus_and_on_gpus_only_with_mixed_precision():
    assert resolve_channels_last("auto", "32-true", AVX2_CPU) is True
    assert resolve_channels_last("auto", "bf16-mixed", AMX_CPU) is True
    assert resolve_channels_last("auto", "16-mixed", TURING_GPU) is True
    assert resolve_channels_last("auto", "32-true", AMPERE_GPU) is False


def test_auto_threads_are_every_core_the_process_may_use():
    assert resolve_threads("auto", AMX_CPU) == 8


def test_train_config_resolves_to_fp32_on_a_cpu_without_native_bfloat16_and_an_explicit_value_wins():
    cfg = compose("train", [])
    assert cfg.runtime.precision == "auto" and cfg.runtime.channels_last == "auto", "auto is the default"
    runtime = resolve(cfg.runtime.precision, cfg.runtime.channels_last, cfg.runtime.threads, machine=AVX2_CPU)
    assert (runtime.precision, runtime.channels_last, runtime.threads) == ("32-true", True, 2)
    assert runtime.params()["resolved.cpu_capability"] == "AVX2"

    explicit = compose("train", ["runtime.precision=bf16-mixed", "runtime.channels_last=false"])
    runtime = resolve(explicit.runtime.precision, explicit.runtime.channels_last, "auto", machine=AVX2_CPU)
    assert (runtime.precision, runtime.channels_last) == ("bf16-mixed", False)


def test_runtime_threads_overrides_the_thread_count_and_the_trainer_has_no_such_key():
    cfg = compose("train", ["runtime.threads=1"])
    before = torch.get_num_threads()
    try:
        runtime = resolve(cfg.runtime.precision, cfg.runtime.channels_last, cfg.runtime.threads, machine=AMX_CPU)
        assert runtime.threads == 1 == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    assert "threads" not in cfg.trainer and "precision" not in cfg.trainer, "runtime is their one place"


def test_train_prints_one_plain_line_per_epoch_when_its_output_goes_to_a_file(tmp_path):
    log_file = tmp_path / "train.log"
    with open(log_file, "w", encoding="utf-8") as log:
        subprocess.run(
            [sys.executable, str(ROOT / "commands.py"), "train", *FAST_TRAIN, "trainer.max_epochs=2",
             "tracking.enabled=false", "storage.pull=false"],
            cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, env=subprocess_env(ROOT), check=True, timeout=300,
        )  # fmt: skip
    lines = [line for line in log_file.read_text().splitlines() if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"], log_file.read_text()[-2000:]
    assert all("images/s" in line and "train loss" in line and "val loss" in line for line in lines)
    assert "precision 32-true" in log_file.read_text() or "precision bf16-mixed" in log_file.read_text()


def test_a_config_error_is_answered_before_torch_lightning_or_mlflow_are_imported():
    script = (
        "import sys\nfrom face_vae import cli\n"
        "try:\n    cli.run('infer', ['n=-1'])\nexcept SystemExit as exit:\n    code = exit.code\n"
        "print(code, sorted(m for m in ('torch', 'lightning', 'mlflow', 'dvc') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, env=subprocess_env(ROOT), check=True
    )
    assert result.stdout.strip() == "1 []"
    assert result.stderr.strip() == "error: n must be a positive number of faces, not -1."


def test_infer_without_tracking_imports_neither_lightning_nor_mlflow_nor_torchvision(tmp_path):
    script = (
        "import sys\nfrom face_vae import cli\n"
        f"cli.run('infer', ['n=2', 'tracking.enabled=false', 'model_file={tmp_path}/m.pt', 'storage.pull=false'])\n"
    )
    tiny = (
        "from pathlib import Path\nfrom face_vae.core.models.nets.resnet import VAE\n"
        "from face_vae.core.models.model_file import save_model\n"
        f"save_model(VAE(32, [8, 16], 4), Path('{tmp_path}/m.pt'))\n"
    )
    subprocess.run([sys.executable, "-c", tiny], cwd=tmp_path, env=subprocess_env(ROOT), check=True)
    check = "\nprint(sorted(m for m in ('lightning', 'mlflow', 'torchvision', 'sklearn') if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", script + check], cwd=tmp_path, capture_output=True, text=True,
        env=subprocess_env(ROOT), check=True,
    )  # fmt: skip
    assert result.stdout.strip().splitlines()[-1] == "[]"
    assert len(list((tmp_path / "result").glob("face_*.jpg"))) == 2


@pytest.mark.parametrize("count, nrow", [(1, 4), (5, 2), (16, 4), (7, 3)])
def test_image_grid_and_to_pil_image_give_torchvisions_pixels(count, nrow):
    images = torch.rand(count, 3, 10, 12, generator=torch.Generator().manual_seed(count))
    grid = image_grid(images, nrow)
    assert torch.equal(grid, make_grid(images, nrow=nrow))
    assert np.array_equal(np.asarray(to_pil_image(grid)), np.asarray(torchvision_to_pil_image(grid)))
