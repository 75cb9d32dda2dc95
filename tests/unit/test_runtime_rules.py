"""The runtime's rules on machines this one is not: precision by GPU capability, threads per DDP rank."""

from types import SimpleNamespace

import pytest

from face_vae.hardware import Machine, cuda_native_bf16, resolve_precision, resolve_threads

CPU = Machine("cpu", "test CPU", "AVX2", False, 8)


@pytest.mark.parametrize(
    "gpu, capability, precision",
    [("V100", (7, 0), "16-mixed"), ("T4", (7, 5), "16-mixed"), ("A100", (8, 0), "bf16-mixed"),
     ("RTX 4090", (8, 9), "bf16-mixed"), ("H100", (9, 0), "bf16-mixed")],
)  # fmt: skip
def test_bfloat16_only_where_the_gpu_has_it_in_hardware(monkeypatch, gpu, capability, precision):
    import torch  # pylint: disable=import-outside-toplevel  # the rest of this file runs without torch

    monkeypatch.setattr(torch.version, "hip", None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda _device: SimpleNamespace(major=capability[0]))
    machine = Machine("cuda", gpu, "AVX2", cuda_native_bf16(), 8)
    assert resolve_precision("auto", machine) == precision
    assert resolve_precision("32-true", machine) == "32-true", "an explicit value wins"


def test_auto_threads_share_the_cores_among_the_ranks_of_one_machine(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert resolve_threads("auto", CPU) == 8
    assert resolve_threads("auto", CPU, processes=2) == 4
    assert resolve_threads("auto", CPU, processes=16) == 1, "never below one thread"
    assert resolve_threads(3, CPU, processes=2) == 3, "an explicit value wins"


def test_omp_num_threads_set_by_the_user_or_torchrun_is_respected(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert resolve_threads("auto", CPU, processes=1) == 2
